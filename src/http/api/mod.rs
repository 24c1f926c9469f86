//! The v1 JSON API (docs/api.md).

mod lots;
mod orgs;
mod products;
mod records;

use crate::error::AppError;
use actix_web::{Scope, web};

/// JSON bodies: 64 KiB at most; every extractor error answers in the API's error shape.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(crate::ledger::ingest::MAX_BODY_BYTES)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError as E;
            match err {
                E::Overflow { limit } => {
                    AppError::TooLarge(format!("the body is over the {limit}-byte limit"))
                }
                E::OverflowKnownLength { length, limit } => AppError::TooLarge(format!(
                    "the body is {length} bytes, over the {limit}-byte limit"
                )),
                E::ContentType => {
                    AppError::Malformed("send the body as Content-Type: application/json".into())
                }
                other => AppError::Malformed(format!(
                    "the body is not valid JSON of the expected shape: {other}"
                )),
            }
            .into()
        })
}

/// Query strings: a value of the wrong type answers in the API's error shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        AppError::Malformed(format!("the query string is not valid: {err}")).into()
    })
}

/// Path segments that do not fit their type answer in the API's error shape.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        AppError::Malformed(format!("the path is not valid: {err}")).into()
    })
}

pub fn scope() -> Scope {
    web::scope("/api/v1")
        .service(orgs::scope())
        .service(products::scope())
        .service(records::scope())
        .service(lots::scope())
        .route("/log", web::get().to(records::log))
}

/// Runs blocking database work off the async workers, with a pooled connection.
pub async fn with_conn<T, F>(
    state: &web::Data<crate::startup::AppState>,
    f: F,
) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn) -> Result<T, AppError> + Send + 'static,
{
    let pool = state.ledger.pool().clone();
    web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}
