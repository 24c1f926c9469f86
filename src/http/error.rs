//! How an application error answers over HTTP: its status, and the JSON body
//! `{"error": CODE, "message": ...}` of the API (pages answer with `pages::PageError`).

use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

/// The API's error body: `{"error": CODE, "message": ...}`, with the lot's current `head` on a
/// `stale_prev`. Every JSON error is this, alone or as one item of a batch's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

impl ErrorBody {
    /// The body that answers `error`; an internal cause is logged here, never shown.
    pub fn of(error: &AppError) -> Self {
        if let Some(cause) = error.internal_cause() {
            tracing::error!(code = error.code(), %cause, "request failed");
        }
        Self {
            error: error.code().to_owned(),
            message: error.to_string(),
            head: match error {
                AppError::StalePrev { head, .. } => Some(head.clone()),
                _ => None,
            },
        }
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
            Self::Unavailable(_) | Self::Pool(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Task(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody::of(self);
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
