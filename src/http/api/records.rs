//! Submitting records, alone or in batches, and reading them.

use super::rfc3339;
use crate::db::DbPool;
use crate::db::records;
use crate::db::rows::RecordRow;
use crate::domain::RecordId;
use crate::error::{AppError, AppResult};
use crate::http::error::ErrorBody;
use crate::ledger::envelope::{EnvelopeJson, PayloadType, SignatureJson};
use crate::ledger::ingest::{MAX_BATCH_BODY_BYTES, MAX_BATCH_ENVELOPES, MAX_BODY_BYTES};
use crate::ledger::{Ledger, Submitted, strict_json};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, Scope, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub fn scope() -> Scope {
    web::scope("/records")
        .route("", web::post().to(submit))
        .route("/batch", web::post().to(submit_batch))
        .route("/{id}", web::get().to(show))
}

/// The log's size: how many records have been accepted (the next log index).
pub async fn log(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let size = crate::db::run(&pool, |conn| Ok(records::count(conn)?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "size": size })))
}

/// A request body's size limit, and how its refusal names the body and the limit.
pub(super) struct Limit {
    bytes: usize,
    body: &'static str,
    spelled: &'static str,
}

const ENVELOPE: Limit = Limit {
    bytes: MAX_BODY_BYTES,
    body: "the envelope",
    spelled: "64 KiB",
};

pub(super) const BATCH: Limit = Limit {
    bytes: MAX_BATCH_BODY_BYTES,
    body: "the batch",
    spelled: "8 MiB",
};

/// Reads the body up to the limit; past it, 413 without reading the rest.
pub(super) async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: &Limit,
) -> Result<web::Bytes, AppError> {
    let too_large = |len: String| {
        AppError::TooLarge(format!(
            "{} is {len} bytes; the limit is {} bytes ({})",
            limit.body, limit.bytes, limit.spelled
        ))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > limit.bytes) {
        return Err(too_large(len.to_string()));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::Malformed(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit.bytes {
            return Err(too_large(format!("more than {}", limit.bytes)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn submit(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let body = read_limited(&req, payload, &ENVELOPE).await?;
    let (status, answer) = answered(ledger.submit(&body).await?);
    Ok(HttpResponse::build(status)
        .insert_header(("Location", format!("/api/v1/records/{}", answer.id)))
        .json(answer))
}

/// `POST /api/v1/records/batch`: each envelope judged as if submitted alone, in the order sent;
/// answered once every accepted one is durable. A body not of the batch's shape stores nothing.
async fn submit_batch(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let body = read_limited(&req, payload, &BATCH).await?;
    let envelopes = batch_envelopes(&body)?;
    let verdicts = ledger.submit_all(envelopes).await?;
    Ok(HttpResponse::Ok().json(BatchResponse {
        results: verdicts.into_iter().map(BatchResult::of).collect(),
    }))
}

/// The envelopes of a batch body, `{"envelopes": [...]}`, each the bytes sent (a slice of
/// `body`, read later as a single submission's body is), or `malformed`.
fn batch_envelopes(body: &web::Bytes) -> Result<Vec<web::Bytes>, AppError> {
    let malformed = |problem: String| {
        AppError::Malformed(format!(
            "{problem}; a batch is {{\"envelopes\": [<envelope>, ...]}} with 1 to {MAX_BATCH_ENVELOPES} envelopes"
        ))
    };
    let members = strict_json::members(body)
        .map_err(|e| malformed(format!("the batch is not a JSON object: {e}")))?;
    let [(name, envelopes)] = members.as_slice() else {
        return Err(malformed(format!(
            "the batch has {} members",
            members.len()
        )));
    };
    if name != "envelopes" {
        return Err(malformed(format!("the batch has a member {name:?}")));
    }
    let envelopes: Vec<&RawValue> = serde_json::from_str(envelopes.get())
        .map_err(|_| malformed("\"envelopes\" is not an array".into()))?;
    if envelopes.is_empty() || envelopes.len() > MAX_BATCH_ENVELOPES {
        return Err(malformed(format!(
            "the batch has {} envelopes",
            envelopes.len()
        )));
    }
    Ok(envelopes
        .into_iter()
        .map(|envelope| body.slice_ref(envelope.get().as_bytes()))
        .collect())
}

/// The status and body that answer a stored record: 201 when this submission stored it, 200
/// when it was stored before.
fn answered(submitted: Submitted) -> (StatusCode, SubmitResponse) {
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = SubmitResponse {
        id: submitted.id,
        log_index: submitted.log_index,
    };
    (status, body)
}

async fn show(pool: web::Data<DbPool>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = RecordId::parse(&id).map_err(AppError::Malformed)?;
    let row = crate::db::run(&pool, move |conn| {
        records::find(conn, &id.to_hex())?
            .ok_or_else(|| AppError::NotFound(format!("no record with id {id}")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(RecordResponse::from(row)))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmitResponse {
    pub id: String,
    pub log_index: i64,
}

/// A batch's answer: one result per envelope, in the order sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// What submitting the envelope alone would have answered: its status, beside its body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchResult {
    pub status: u16,
    #[serde(flatten)]
    pub body: SubmitAnswer,
}

/// The body of a single submission's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SubmitAnswer {
    Stored(SubmitResponse),
    Refused(ErrorBody),
}

impl BatchResult {
    pub fn of(verdict: AppResult<Submitted>) -> Self {
        match verdict {
            Ok(submitted) => {
                let (status, body) = answered(submitted);
                Self {
                    status: status.as_u16(),
                    body: SubmitAnswer::Stored(body),
                }
            }
            Err(e) => Self {
                status: e.status_code().as_u16(),
                body: SubmitAnswer::Refused(ErrorBody::of(&e)),
            },
        }
    }
}

/// A stored record: the envelope as signed, its place in the log and its decoded payload.
#[derive(Debug, Clone, Serialize)]
pub struct RecordResponse {
    pub id: String,
    pub log_index: i64,
    pub accepted_at: String,
    pub envelope: EnvelopeJson,
    pub record: Value,
}

impl From<RecordRow> for RecordResponse {
    fn from(row: RecordRow) -> Self {
        Self {
            record: serde_json::from_slice(&row.payload).unwrap_or(Value::Null),
            envelope: EnvelopeJson {
                payload_type: PayloadType::of_stored_event(&row.event).as_str().to_owned(),
                payload: B64.encode(&row.payload),
                signatures: vec![SignatureJson {
                    keyid: row.keyid,
                    sig: B64.encode(&row.sig),
                }],
            },
            id: row.id,
            log_index: row.log_index,
            accepted_at: rfc3339(row.accepted_at),
        }
    }
}
