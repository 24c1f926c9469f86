//! One error type for the whole application. Each variant has one HTTP status and one stable
//! `error` code; internal causes are logged, never shown to the client.

use crate::ledger::rules::Rejection;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    UnknownKey(String),
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    RevokedKey(String),
    #[error("{0}")]
    ActorMismatch(String),
    #[error("{0}")]
    NotCustodian(String),
    #[error("{0}")]
    RoleNotAllowed(String),
    #[error("{message}")]
    StalePrev { message: String, head: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidRecord(String),
    #[error("{0}")]
    InvalidTime(String),
    #[error("{0}")]
    UnknownProduct(String),
    /// A field of a request that is not a record (an organization, a product, a key).
    #[error("{0}")]
    InvalidField(String),
    /// A request the caller may not make (a forged form, another organization's data).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A request body that did not arrive within the server's time limits.
    #[error("{0}")]
    Timeout(String),
    #[error("the service is busy or its database is unreachable; try again shortly")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature(_) => "bad_signature",
            Self::RevokedKey(_) => "revoked_key",
            Self::ActorMismatch(_) => "actor_mismatch",
            Self::NotCustodian(_) => "not_custodian",
            Self::RoleNotAllowed(_) => "role_not_allowed",
            Self::StalePrev { .. } => "stale_prev",
            Self::TooLarge(_) => "too_large",
            Self::InvalidRecord(_) => "invalid_record",
            Self::InvalidTime(_) => "invalid_time",
            Self::UnknownProduct(_) => "unknown_product",
            Self::InvalidField(_) => "invalid_field",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unauthorized(_) => "unauthorized",
            Self::Timeout(_) => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(m) => Self::InvalidRecord(m),
            Rejection::UnknownProduct(m) => Self::UnknownProduct(m),
            Rejection::StalePrev { lot, head } => Self::StalePrev {
                message: format!(
                    "prev of lot {lot} is not its current head {head}: another record was appended first; \
                     re-read the lot and sign again"
                ),
                head: head.to_hex(),
            },
            Rejection::NotCustodian(m) => Self::NotCustodian(m),
            Rejection::RoleNotAllowed(m) => Self::RoleNotAllowed(m),
            Rejection::InvalidTime(m) => Self::InvalidTime(m),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound("not found".into()),
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(format!("database pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::UnknownKey(_)
            | Self::BadSignature(_)
            | Self::RevokedKey(_)
            | Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::ActorMismatch(_)
            | Self::NotCustodian(_)
            | Self::RoleNotAllowed(_)
            | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::StalePrev { .. } | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidRecord(_)
            | Self::InvalidTime(_)
            | Self::UnknownProduct(_)
            | Self::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) | Self::Unavailable(cause) = self {
            tracing::error!(code = self.code(), %cause, "request failed");
        }
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let Self::StalePrev { head, .. } = self {
            body["head"] = json!(head);
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, Self::Timeout(_)) {
            response.force_close();
        }
        response.json(body)
    }
}

pub type AppResult<T> = Result<T, AppError>;
