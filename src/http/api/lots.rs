//! Lots: the chain of one lot, and its upstream DAG.

use super::products::ProductResponse;
use super::records::RecordResponse;
use crate::db::DbPool;
use crate::db::{DbConn, orgs, products};
use crate::domain::digital_link::lot_uri;
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::http::state::Site;
use crate::trace::lineage::{self, LotChain};
use crate::trace::provenance::VerdictCache;
use actix_web::{HttpResponse, Scope, web};
use serde::Serialize;
use std::collections::HashMap;

pub fn scope() -> Scope {
    web::scope("/lots")
        .route("/{gtin}/{lot}", web::get().to(show))
        .route("/{gtin}/{lot}/upstream", web::get().to(upstream))
        .route("/{gtin}/{lot}/provenance", web::get().to(provenance_json))
}

/// Parses the path; a lot code may hold `/`, sent as `%2F`.
fn parse_lot(path: (String, String)) -> Result<(Gtin, LotCode), AppError> {
    let gtin = Gtin::parse(&path.0).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(&path.1).map_err(AppError::Malformed)?;
    Ok((gtin, lot))
}

async fn show(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        let chain = lineage::lot_chain(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let mut names = OrgNames::default();
        lot_response(conn, chain, &mut names, &public_url)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn upstream(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        let dag = lineage::upstream(conn, gtin.as_str(), lot.as_str())?
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

fn org_json(org: &crate::trace::provenance::OrgView) -> serde_json::Value {
    serde_json::json!({"id": org.id, "name": org.name, "name_zh": org.name_zh})
}

/// `GET /api/v1/lots/{gtin}/{lot}/provenance`: the provenance page's content as JSON, for
/// e-commerce pages that render their own (CORS open). Each step says whether its record
/// verified; the records themselves are under `/upstream` for checking without trusting us.
async fn provenance_json(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    verdicts: web::Data<VerdictCache>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let (public_url, verdicts) = (site.public_url.clone(), verdicts.clone());
    let body = crate::db::run(&pool, move |conn| {
        let p = crate::trace::provenance::load(conn, &gtin, &lot, &verdicts)?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let uri = lot_uri(&public_url, &gtin, &lot);
        let encoded = crate::domain::digital_link::path_segment(lot.as_str());
        let product = p.product.clone().map(ProductResponse::from);
        Ok(serde_json::json!({
            "gtin": p.gtin.as_str(),
            "lot": p.lot.as_str(),
            "digital_link": uri,
            "product": product,
            "verified": p.broken == 0,
            "records_checked": p.records_checked,
            "records_failing": p.broken,
            "truncated": p.truncated,
            "origins": p.origins.iter().map(org_json).collect::<Vec<_>>(),
            "stores_in_stock": p.stores.iter().map(org_json).collect::<Vec<_>>(),
            "steps": p.steps.iter().map(|s| serde_json::json!({
                "record_id": s.id,
                "event": s.event,
                "time": s.time_iso,
                "actor": s.actor.as_ref().map(org_json),
                "to": s.to.as_ref().map(org_json),
                "location": s.location,
                "lots": s.lots,
                "new_lots": s.new_lots,
                "quantities": s.quantities,
                "kde": s.kde.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "hosted_key": s.hosted_key,
                "device_key": s.device_key,
                "verified": s.problems.is_empty(),
                "problems": s.problems,
            })).collect::<Vec<_>>(),
            "links": {
                "page": uri,
                "embed": format!("{public_url}/embed{}", crate::domain::digital_link::lot_path(p.gtin.as_str(), p.lot.as_str())),
                "records": format!("{public_url}/api/v1/lots/{}/{encoded}/upstream", p.gtin),
                "epcis": format!("{uri}?linkType=gs1:epcis"),
                "buy_online": p.product.as_ref().and_then(|pr| pr.listing_url.as_ref()).map(|_| format!("{public_url}/go/{}?lot={encoded}&ch=embed", p.gtin)),
                "pickup": format!("{public_url}/shop/{}/pickup?lot={encoded}&ch=embed", p.gtin),
            },
        }))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(body))
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: Option<String>,
    pub name_zh: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LotResponse {
    pub gtin: String,
    pub lot: String,
    pub digital_link: String,
    pub product: Option<ProductResponse>,
    pub custodian: OrgRef,
    pub shipped_to: Option<OrgRef>,
    pub head: String,
    pub chain: Vec<RecordResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageEdge {
    pub gtin: String,
    pub lot: String,
    pub input_gtin: String,
    pub input_lot: String,
    pub record_log_index: i64,
}

/// A lot's upstream DAG: its chain and, through transforms, the chains of every lot it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamResponse {
    pub gtin: String,
    pub lot: String,
    pub lots: Vec<LotResponse>,
    pub edges: Vec<LineageEdge>,
    /// True when the DAG was larger than the response limit and was cut.
    pub truncated: bool,
}
