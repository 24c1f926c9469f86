//! Recalls as JSON: the recalls covering a lot (`GET /api/v1/lots/{gtin}/{lot}/recalls`, the
//! linkset's `gs1:recallStatus`), the recalls in force with the lots they cover
//! (`GET /api/v1/recalls`), and the `recall` member of the lot JSON. A notice itself is submitted
//! like any envelope, to `POST /api/v1/records`.

use super::{OrgRef, parse_lot};
use crate::db::DbPool;
use crate::db::rows::OrgRow;
use crate::error::AppError;
use crate::trace::recall::{self, Covered, Recall};
use actix_web::{HttpResponse, web};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RecallLot {
    pub gtin: String,
    pub lot: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiftResponse {
    pub id: String,
    pub time: String,
}

/// One recall notice as readers see it.
#[derive(Debug, Clone, Serialize)]
pub struct RecallResponse {
    /// The notice's record id (`GET /api/v1/records/{id}` gives the signed envelope).
    pub id: String,
    pub log_index: i64,
    /// `in_force` or `lifted`.
    pub status: &'static str,
    pub class: Option<&'static str>,
    pub reason: Option<String>,
    pub reason_zh: Option<String>,
    pub instructions: Option<String>,
    pub instructions_zh: Option<String>,
    pub contact: Option<String>,
    pub issuer: OrgRef,
    /// The notice's time as signed, with its offset.
    pub time: String,
    /// The lots it names through which it covers what was asked about.
    pub lots: Vec<RecallLot>,
    pub lifted: Option<LiftResponse>,
    /// False when the stored notice does not verify (its problems are listed).
    pub verified: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl From<&Recall> for RecallResponse {
    fn from(r: &Recall) -> Self {
        let n = &r.notice;
        Self {
            id: r.id.clone(),
            log_index: r.log_index,
            status: if r.in_force() { "in_force" } else { "lifted" },
            class: n.class.map(|c| c.as_str()),
            reason: n.reason.clone(),
            reason_zh: n.reason_zh.clone(),
            instructions: n.instructions.clone(),
            instructions_zh: n.instructions_zh.clone(),
            contact: n.contact.clone(),
            issuer: org_ref(&n.actor.to_string(), r.issuer.as_ref()),
            time: n.time.to_rfc3339(),
            lots: r
                .via
                .iter()
                .map(|(gtin, lot)| RecallLot {
                    gtin: gtin.clone(),
                    lot: lot.clone(),
                })
                .collect(),
            lifted: r.lifted.as_ref().map(|l| LiftResponse {
                id: l.id.clone(),
                time: l.time.to_rfc3339(),
            }),
            verified: r.problems.is_empty(),
            problems: r.problems.clone(),
        }
    }
}

fn org_ref(id: &str, row: Option<&OrgRow>) -> OrgRef {
    OrgRef {
        id: id.to_owned(),
        name: row.map(|o| o.name.clone()),
        name_zh: row.and_then(|o| o.name_zh.clone()),
    }
}

/// Every recall covering a lot, in force or lifted, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct LotRecallsResponse {
    pub gtin: String,
    pub lot: String,
    /// True while any recall covering the lot is in force.
    pub recalled: bool,
    pub recalls: Vec<RecallResponse>,
}

/// `GET /api/v1/lots/{gtin}/{lot}/recalls`
pub async fn of_lot(
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let body = crate::db::run(&pool, move |conn| {
        if crate::db::lots::find(conn, gtin.as_str(), lot.as_str())?.is_none() {
            return Err(AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")));
        }
        let key = (gtin.to_string(), lot.to_string());
        let recalls = recall::of_lot(conn, &key)?;
        Ok(LotRecallsResponse {
            gtin: key.0,
            lot: key.1,
            recalled: recalls.iter().any(Recall::in_force),
            recalls: recalls.iter().map(RecallResponse::from).collect(),
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "no-cache"))
        .json(body))
}

/// A recall in force with every lot it covers now (the named lots and all made from them).
#[derive(Debug, Clone, Serialize)]
pub struct InForceResponse {
    #[serde(flatten)]
    pub recall: RecallResponse,
    pub covered: Vec<RecallLot>,
}

/// `GET /api/v1/recalls`: every recall in force.
pub async fn in_force(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let body = crate::db::run(&pool, move |conn| {
        let covered = Covered::load(conn)?;
        let recalls: Vec<InForceResponse> = covered
            .recalls
            .iter()
            .map(|r| {
                let mut lots: Vec<RecallLot> = covered
                    .covered_by(r.log_index)
                    .into_iter()
                    .map(|(gtin, lot)| RecallLot { gtin, lot })
                    .collect();
                lots.sort_by(|a, b| (&a.gtin, &a.lot).cmp(&(&b.gtin, &b.lot)));
                InForceResponse {
                    recall: RecallResponse::from(r),
                    covered: lots,
                }
            })
            .collect();
        Ok(serde_json::json!({ "recalls": recalls }))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "no-cache"))
        .json(body))
}
