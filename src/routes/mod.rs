//! HTTP routes: the JSON API under /api/v1, one module per resource.

pub mod api;

use crate::error::AppError;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(api::json_config())
        .route("/health", web::get().to(health))
        .service(api::scope())
        .default_service(web::to(not_found));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "no such resource: {}",
        req.path()
    )))
}
