//! EPCIS import over HTTP. `POST /api/v1/epcis/capture`: a partner system that cannot sign posts
//! an EPCIS 2.0 document with an organization API token; each event becomes a record of that
//! organization, signed with its hosted key (`exchange::capture`). A document that fails the
//! official schema is 400 with the schema's complaint and stores nothing; otherwise each event
//! gets its own result, as in a batch: an event truetrace cannot express is 422 `invalid_record`
//! naming it and the reason, and an event the organization recorded before (the same eventID) is
//! 200 with the record already stored. `GET /api/v1/epcis/events?org=&event_id=` answers that
//! record, for `truetrace epcis import`, which maps on the client.

use super::OrgToken;
use super::records::{BATCH, BatchResponse, BatchResult, SubmitResponse, read_limited};
use crate::db::DbPool;
use crate::domain::OrgId;
use crate::error::AppError;
use crate::exchange::epcis::Mapped;
use crate::http::state::HostedKeys;
use crate::ledger::Ledger;
use crate::ledger::store::Submitted;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use serde::{Deserialize, Serialize};

pub fn scope() -> Scope {
    web::scope("/epcis")
        .route("/capture", web::post().to(capture))
        .route("/events", web::get().to(event))
}

/// Each event's result, in order: the verdict of each mapped record (`submitted`, in the order
/// they were sent), the record stored before, or the refusal.
pub fn results(
    mapped: &[Mapped],
    submitted: impl IntoIterator<Item = BatchResult>,
) -> Result<Vec<BatchResult>, AppError> {
    let mut submitted = submitted.into_iter();
    mapped
        .iter()
        .map(|outcome| match outcome {
            Mapped::Record(_) => submitted
                .next()
                .ok_or_else(|| AppError::Internal("a verdict is missing".into())),
            Mapped::Recorded(before) => Ok(BatchResult::of(Ok(Submitted {
                id: before.id.to_hex(),
                log_index: before.log_index,
                created: false,
            }))),
            Mapped::Refused(reason) => Ok(BatchResult::of(Err(AppError::InvalidRecord(
                reason.clone(),
            )))),
        })
        .collect()
}

/// The envelopes to send: the mapped records, in order.
pub fn envelopes(mapped: &[Mapped]) -> Vec<Vec<u8>> {
    mapped
        .iter()
        .filter_map(|m| match m {
            Mapped::Record(envelope) => Some(envelope.clone()),
            _ => None,
        })
        .collect()
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
    let envelopes = envelopes(&prepared);
    let verdicts = if envelopes.is_empty() {
        Vec::new()
    } else {
        ledger.submit_all(envelopes).await?
    };
    let results = results(&prepared, verdicts.into_iter().map(BatchResult::of))?;
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    org: String,
    event_id: String,
}

/// The record an organization has of an EPCIS event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventResponse {
    pub org: String,
    pub event_id: String,
    #[serde(flatten)]
    pub record: SubmitResponse,
}

/// `GET /api/v1/epcis/events?org={id}&event_id={eventID}`: public, like the records themselves.
async fn event(
    q: web::Query<EventQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let EventQuery { org, event_id } = q.into_inner();
    let org = OrgId::parse(&org)
        .map_err(|e| AppError::Malformed(format!("org {org:?} is not an organization id: {e}")))?
        .to_string();
    let found = {
        let (org, event_id) = (org.clone(), event_id.clone());
        crate::db::run(&pool, move |conn| {
            Ok(crate::db::epcis_events::find(conn, &org, &event_id)?)
        })
        .await?
    };
    let (id, log_index) = found.ok_or_else(|| {
        AppError::NotFound(format!(
            "organization {org} has recorded no EPCIS event {event_id:?}"
        ))
    })?;
    Ok(HttpResponse::Ok().json(EventResponse {
        org,
        event_id,
        record: SubmitResponse { id, log_index },
    }))
}
