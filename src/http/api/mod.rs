//! The v1 JSON API (docs/api.md).

pub mod epcis;
pub mod fsma;
pub mod log;
pub mod lots;
pub mod orgs;
pub mod products;
pub mod recalls;
pub mod records;

use crate::accounts::admin_token::AdminToken;
use crate::error::AppError;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload};
use actix_web::{Scope, web};
use chrono::NaiveDateTime;
use std::future::{Ready, ready};

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
        .service(fsma::scope())
        .service(epcis::scope())
        .route("/log", web::get().to(records::log))
        .route("/log/checkpoint", web::get().to(log::checkpoint))
        .route("/log/key", web::get().to(log::key))
        .route("/log/proof/inclusion", web::get().to(log::inclusion))
        .route("/log/proof/consistency", web::get().to(log::consistency))
        .route("/recalls", web::get().to(recalls::in_force))
        .route("/openapi.json", web::get().to(openapi))
}

/// The OpenAPI 3.1 description of this API, kept by hand beside this module and checked
/// against the routes and the answers by tests/api/openapi.rs.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The methods the API takes on `path` (a request's path under `/api/v1/`), as its OpenAPI
/// description lists them (with HEAD beside GET, and OPTIONS): `None` for a path it does not
/// have. For the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> Option<Vec<String>> {
    static PATHS: std::sync::LazyLock<Vec<(Vec<String>, Vec<String>)>> =
        std::sync::LazyLock::new(|| {
            let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
            doc["paths"]
                .as_object()
                .map(|paths| {
                    paths
                        .iter()
                        .map(|(template, item)| {
                            let segments = template.split('/').map(str::to_owned).collect();
                            let methods = item
                                .as_object()
                                .map(|m| m.keys().map(|k| k.to_ascii_uppercase()).collect())
                                .unwrap_or_default();
                            (segments, methods)
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
    let asked: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (_, methods) = PATHS.iter().find(|(template, _)| {
        template.len() == asked.len()
            && template
                .iter()
                .zip(&asked)
                .all(|(t, a)| t == a || (t.starts_with('{') && t.ends_with('}') && !a.is_empty()))
    })?;
    let mut allowed = methods.clone();
    if allowed.iter().any(|m| m == "GET") {
        allowed.push("HEAD".into());
    }
    allowed.push("OPTIONS".into());
    allowed.sort();
    allowed.dedup();
    Some(allowed)
}

/// `GET /api/v1/openapi.json`, with this server's origin as its server.
async fn openapi(site: web::Data<crate::http::state::Site>) -> Result<HttpResponse, AppError> {
    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI)
        .map_err(|e| AppError::internal(format!("the OpenAPI description is not JSON: {e}")))?;
    doc["servers"] = serde_json::json!([{ "url": site.public_url }]);
    Ok(HttpResponse::Ok().json(doc))
}

/// Extractor that admits a request only with `Authorization: Bearer <admin token>`.
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admin_token = match crate::http::state::shared::<AdminToken>(req) {
            Ok(token) => token,
            Err(e) => return ready(Err(e)),
        };
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        ready(match presented {
            Some(token) if admin_token.matches(token.trim()) => Ok(AdminAuth),
            Some(_) => Err(AppError::Unauthorized(
                "the admin token is not valid".into(),
            )),
            None => Err(AppError::Unauthorized(
                "this call needs the admin token: Authorization: Bearer <token>".into(),
            )),
        })
    }
}

/// Extractor that admits a request with `Authorization: Bearer <organization API token>`: the
/// organization it belongs to (`accounts::api_tokens`).
pub struct OrgToken(pub crate::db::rows::OrgRow);

impl FromRequest for OrgToken {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pool = crate::http::state::shared::<crate::db::DbPool>(req);
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let pool = pool?;
            let Some(token) = presented else {
                return Err(AppError::Unauthorized(
                    "this call needs an organization API token: Authorization: Bearer tt_org_..."
                        .into(),
                ));
            };
            let org = crate::db::run(&pool, move |conn| {
                crate::accounts::api_tokens::authenticate(conn, &token)
            })
            .await?;
            org.map(OrgToken).ok_or_else(|| {
                AppError::Unauthorized(
                    "the organization API token is not valid (unknown or revoked)".into(),
                )
            })
        })
    }
}

/// Extractor that admits who may read the FSMA 204 sheets: the operator (the admin token) or a
/// regulator (an organization API token of an organization holding the `regulator` role).
pub struct Auditor;

impl FromRequest for Auditor {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bearer = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        if !bearer {
            return Box::pin(ready(Err(AppError::Unauthorized(
                "this call needs the admin token or a regulator's organization API token: Authorization: Bearer <token>"
                    .into(),
            ))));
        }
        if AdminAuth::from_request(req, payload).into_inner().is_ok() {
            return Box::pin(ready(Ok(Auditor)));
        }
        let org = OrgToken::from_request(req, payload);
        Box::pin(async move {
            let OrgToken(org) = org.await.map_err(|_| {
                AppError::Unauthorized(
                    "the token is neither the admin token nor a valid organization API token"
                        .into(),
                )
            })?;
            if org.has_role(crate::domain::Role::Regulator) {
                Ok(Auditor)
            } else {
                Err(AppError::Forbidden(format!(
                    "organization {} does not hold the regulator role: only a regulator's token (or the admin token) reads the FSMA 204 sheets",
                    org.id
                )))
            }
        })
    }
}

/// RFC 3339 in UTC, as every time in a response is written.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses a lot's path; a lot code may hold `/`, sent as `%2F`.
pub fn parse_lot(
    path: (String, String),
) -> Result<(crate::domain::Gtin, crate::domain::LotCode), AppError> {
    let gtin = crate::domain::Gtin::parse(&path.0).map_err(AppError::Malformed)?;
    let lot = crate::domain::LotCode::parse(&path.1).map_err(AppError::Malformed)?;
    Ok((gtin, lot))
}

/// An organization as the API's answers name it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: Option<String>,
    pub name_zh: Option<String>,
}
