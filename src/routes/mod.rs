//! HTTP routes: the JSON API under /api/v1, one module per resource.

pub mod api;
pub mod pages;

use crate::error::AppError;
use actix_files::Files;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    cfg.app_data(api::json_config())
        .app_data(api::query_config())
        .app_data(api::path_config())
        .route("/health", web::get().to(health))
        .route(
            "/.well-known/gs1resolver",
            web::get().to(pages::resolver::well_known),
        )
        .route(
            "/api/v1/lots/{gtin}/{lot}/qr.svg",
            web::get().to(pages::qr::svg),
        )
        .route(
            "/api/v1/lots/{gtin}/{lot}/qr.png",
            web::get().to(pages::qr::png),
        )
        .route(
            "/labels/01/{gtin}/10/{lot}",
            web::get().to(pages::qr::labels),
        )
        .service(api::scope())
        .service(
            web::scope("/static")
                .wrap(DefaultHeaders::new().add(("Cache-Control", "public, max-age=3600")))
                .service(
                    Files::new("", static_dir)
                        .use_etag(true)
                        .use_last_modified(true),
                ),
        )
        .default_service(web::to(fallback));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Digital Link paths (anything holding `/01/`) go to the resolver; the rest is a JSON 404.
async fn fallback(
    req: actix_web::HttpRequest,
    state: web::Data<crate::startup::AppState>,
) -> Result<HttpResponse, AppError> {
    if req.path().split('/').any(|segment| segment == "01") {
        return Ok(pages::resolver::resolve(req, state).await);
    }
    Err(AppError::NotFound(format!(
        "no such resource: {}",
        req.path()
    )))
}
