//! `POST /api/v1/epcis/capture`: a partner system that cannot sign posts an EPCIS 2.0 document
//! with an organization API token; each event becomes a record of that organization, signed with
//! its hosted key (`exchange::capture`). A document that fails the official schema is 400 with
//! the schema's complaint and stores nothing; otherwise each event gets its own result, as in a
//! batch, and an event truetrace cannot express is 422 `invalid_record` naming it and the reason.

use super::OrgToken;
use super::records::{BATCH, BatchResponse, BatchResult, read_limited};
use crate::db::DbPool;
use crate::error::AppError;
use crate::http::state::HostedKeys;
use crate::ledger::Ledger;
use actix_web::{HttpRequest, HttpResponse, Scope, web};

pub fn scope() -> Scope {
    web::scope("/epcis").route("/capture", web::post().to(capture))
}

async fn capture(
    token: OrgToken,
    req: HttpRequest,
    payload: web::Payload,
    pool: web::Data<DbPool>,
    ledger: web::Data<Ledger>,
    hosted: web::Data<HostedKeys>,
) -> Result<HttpResponse, AppError> {
    let body = read_limited(&req, payload, &BATCH).await?;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::Malformed(format!("the document is not JSON: {e}")))?;
    let sealer = hosted.sealer()?;
    let org = token.0;
    let prepared = crate::db::run(&pool, move |conn| {
        crate::exchange::capture::prepare(conn, &sealer, &org, &document)
    })
    .await?;
    let envelopes: Vec<Vec<u8>> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut verdicts = if envelopes.is_empty() {
        Vec::new()
    } else {
        ledger.submit_all(envelopes).await?
    }
    .into_iter();
    let results = prepared
        .into_iter()
        .map(|outcome| match outcome {
            Ok(_) => BatchResult::of(
                verdicts
                    .next()
                    .unwrap_or_else(|| Err(AppError::Internal("a verdict is missing".into()))),
            ),
            Err(reason) => BatchResult::of(Err(AppError::InvalidRecord(reason))),
        })
        .collect();
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}
