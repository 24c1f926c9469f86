//! Submitting and reading records.

use super::rfc3339;
use crate::db::DbPool;
use crate::db::records;
use crate::db::rows::RecordRow;
use crate::domain::RecordId;
use crate::error::AppError;
use crate::ledger::Ledger;
use crate::ledger::envelope::{EnvelopeJson, PAYLOAD_TYPE, SignatureJson};
use crate::ledger::ingest::MAX_BODY_BYTES;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub fn scope() -> Scope {
    web::scope("/records")
        .route("", web::post().to(submit))
        .route("/{id}", web::get().to(show))
}

/// The log's size: how many records have been accepted (the next log index).
pub async fn log(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let size = crate::db::run(&pool, |conn| Ok(records::count(conn)?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "size": size })))
}

/// Reads the body up to the limit; past it, 413 without reading the rest.
async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, AppError> {
    let too_large = |len: String| {
        AppError::TooLarge(format!(
            "the envelope is {len} bytes; the limit is {MAX_BODY_BYTES} bytes (64 KiB)"
        ))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > MAX_BODY_BYTES) {
        return Err(too_large(len.to_string()));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::Malformed(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(
                "more than".to_owned() + &format!(" {MAX_BODY_BYTES}"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn submit(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let body = read_limited(&req, payload).await?;
    let submitted = ledger.submit(&body).await?;
    let mut response = if submitted.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header(("Location", format!("/api/v1/records/{}", submitted.id)))
        .json(SubmitResponse {
            id: submitted.id,
            log_index: submitted.log_index,
        }))
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
                payload_type: PAYLOAD_TYPE.to_owned(),
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
