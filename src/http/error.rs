//! How an application error answers over HTTP: its status, and the JSON body
//! `{"error": CODE, "message": ...}` of the API (pages answer with `pages::PageError`).

use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

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
        if let Some(cause) = self.internal_cause() {
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
