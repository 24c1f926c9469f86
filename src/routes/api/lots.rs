//! Lots: the chain of one lot, and its upstream DAG.

use super::with_conn;
use crate::api::{
    LineageEdge, LotResponse, OrgRef, ProductResponse, RecordResponse, UpstreamResponse,
};
use crate::db::{DbConn, orgs, products};
use crate::domain::digital_link::lot_uri;
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::startup::AppState;
use crate::trace::{self, LotChain};
use actix_web::{HttpResponse, Scope, web};
use std::collections::HashMap;

pub fn scope() -> Scope {
    web::scope("/lots")
        .route("/{gtin}/{lot}", web::get().to(show))
        .route("/{gtin}/{lot}/upstream", web::get().to(upstream))
}

/// Parses the path; a lot code may hold `/`, sent as `%2F`.
fn lot_path(path: (String, String)) -> Result<(Gtin, LotCode), AppError> {
    let gtin = Gtin::parse(&path.0).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(&path.1).map_err(AppError::Malformed)?;
    Ok((gtin, lot))
}

async fn show(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = lot_path(path.into_inner())?;
    let public_url = state.public_url.clone();
    let body = with_conn(&state, move |conn| {
        let chain = trace::lot_chain(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let mut names = OrgNames::default();
        lot_response(conn, chain, &mut names, &public_url)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn upstream(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = lot_path(path.into_inner())?;
    let public_url = state.public_url.clone();
    let body = with_conn(&state, move |conn| {
        let dag = trace::upstream(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let mut names = OrgNames::default();
        let lots = dag
            .lots
            .into_iter()
            .map(|chain| lot_response(conn, chain, &mut names, &public_url))
            .collect::<Result<Vec<_>, _>>()?;
        let edges = dag
            .edges
            .into_iter()
            .map(|e| LineageEdge {
                gtin: e.gtin,
                lot: e.lot,
                input_gtin: e.input_gtin,
                input_lot: e.input_lot,
                record_log_index: e.log_index,
            })
            .collect();
        Ok(UpstreamResponse {
            gtin: gtin.to_string(),
            lot: lot.to_string(),
            lots,
            edges,
            truncated: dag.truncated,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Organization names looked up once per response.
#[derive(Default)]
struct OrgNames(HashMap<String, OrgRef>);

impl OrgNames {
    fn get(&mut self, conn: &mut DbConn, id: &str) -> Result<OrgRef, AppError> {
        if let Some(found) = self.0.get(id) {
            return Ok(found.clone());
        }
        let org = orgs::find(conn, id)?;
        let reference = OrgRef {
            id: id.to_owned(),
            name: org.as_ref().map(|o| o.name.clone()),
            name_zh: org.and_then(|o| o.name_zh),
        };
        self.0.insert(id.to_owned(), reference.clone());
        Ok(reference)
    }
}

fn lot_response(
    conn: &mut DbConn,
    chain: LotChain,
    names: &mut OrgNames,
    public_url: &str,
) -> Result<LotResponse, AppError> {
    let lot = chain.lot;
    let product = products::find(conn, &lot.gtin)?.map(ProductResponse::from);
    let custodian = names.get(conn, &lot.custodian)?;
    let shipped_to = lot
        .shipped_to
        .as_deref()
        .map(|id| names.get(conn, id))
        .transpose()?;
    let digital_link = match (Gtin::parse(&lot.gtin), LotCode::parse(&lot.lot)) {
        (Ok(gtin), Ok(code)) => lot_uri(public_url, &gtin, &code),
        _ => {
            return Err(AppError::internal(format!(
                "stored lot ({}, {}) is not a valid key",
                lot.gtin, lot.lot
            )));
        }
    };
    Ok(LotResponse {
        digital_link,
        product,
        custodian,
        shipped_to,
        head: lot.head,
        chain: chain
            .records
            .into_iter()
            .map(RecordResponse::from)
            .collect(),
        gtin: lot.gtin,
        lot: lot.lot,
    })
}
