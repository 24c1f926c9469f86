//! The route table: which handler answers which path.

use super::{api, pages};
use crate::error::AppError;
use actix_files::Files;
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    cfg.app_data(api::json_config())
        .app_data(api::query_config())
        .app_data(api::path_config())
        .route("/health", web::get().to(health))
        // A scanned code's path, first: actix tries the routes in order and most patterns are
        // regexes, so the most asked-for page should not wait for all of them to fail (a scope's
        // static prefix is matched without one). Digital Links with a stem before /01/ still
        // reach the resolver through `fallback`.
        .service(web::scope("/01").default_service(web::to(pages::resolver::resolve)))
        .route(
            "/.well-known/gs1resolver",
            web::route().to(pages::resolver::well_known),
        )
        .route(
            "/api/v1/lots/{gtin}/{lot}/qr.svg",
            web::get().to(pages::qr::svg),
        )
        .route(
            "/api/v1/lots/{gtin}/{lot}/qr.png",
            web::get().to(pages::qr::png),
        )
        // The transparency log at the site's root, as C2SP tlog-tiles lays it out.
        .route("/checkpoint", web::get().to(api::log::checkpoint))
        .route("/tile/{path:.*}", web::get().to(api::log::tile))
        // Before the pages: actix tries routes in order, and the pages' patterns are regexes.
        .service(api::scope())
        .route(
            "/labels/01/{gtin}/10/{lot}",
            web::get().to(pages::qr::labels),
        )
        .route("/", web::get().to(pages::home::home))
        .route("/find", web::get().to(pages::home::find))
        .route("/shop", web::get().to(pages::shop::list))
        .route("/shop/{gtin}", web::get().to(pages::shop::product))
        .route("/shop/{gtin}/pickup", web::get().to(pages::pickup::form))
        .route(
            "/shop/{gtin}/pickup",
            web::post().to(pages::pickup::reserve),
        )
        .route("/stores/{id}", web::get().to(pages::shop::store))
        .route("/go/{gtin}", web::get().to(pages::shop::go))
        .route("/pickup/{code}", web::get().to(pages::pickup::reservation))
        .route("/staff/pickups", web::get().to(pages::pickup::counter))
        .route("/staff/pickups/{code}", web::get().to(pages::pickup::show))
        .route(
            "/staff/pickups/{code}/confirm",
            web::post().to(pages::pickup::confirm),
        )
        .route(
            "/staff/pickups/{code}/cancel",
            web::post().to(pages::pickup::cancel),
        )
        .route(
            "/embed/01/{gtin}",
            web::get().to(pages::embed::product_card),
        )
        .route(
            "/embed/01/{gtin}/10/{lot}",
            web::get().to(pages::embed::lot_card),
        )
        .route("/oembed", web::get().to(pages::embed::oembed))
        .route("/login", web::get().to(pages::account::login_form))
        .route("/login", web::post().to(pages::account::login))
        .route("/logout", web::post().to(pages::account::logout))
        .route(
            "/invite/{token}",
            web::get().to(pages::account::invite_form),
        )
        .route(
            "/invite/{token}",
            web::post().to(pages::account::accept_invite),
        )
        .route("/account", web::get().to(pages::account::account))
        .route("/account/invites", web::post().to(pages::account::invite))
        .route(
            "/account/tokens",
            web::post().to(pages::account::create_token),
        )
        .route(
            "/account/tokens/{id}/revoke",
            web::post().to(pages::account::revoke_token),
        )
        .route(
            "/account/devices/{keyid}/approve",
            web::post().to(pages::account::approve_device),
        )
        .route(
            "/account/devices/{keyid}/revoke",
            web::post().to(pages::account::revoke_device),
        )
        .route("/field", web::get().to(pages::field::home))
        .route("/field/", web::get().to(pages::field::home))
        .route("/field/harvest", web::get().to(pages::field::harvest))
        .route("/field/scan", web::get().to(pages::field::scan))
        .route("/field/ship", web::get().to(pages::field::ship))
        .route("/field/sw.js", web::get().to(pages::field::service_worker))
        .route("/field/app.json", web::get().to(pages::field::context))
        .route(
            "/field/devices",
            web::post().to(pages::field::enroll_device),
        )
        .route(
            "/field/devices/{keyid}",
            web::get().to(pages::field::device),
        )
        .route("/field/lots", web::get().to(pages::field::find_lots))
        .route("/field/lots/{gtin}/{lot}", web::get().to(pages::field::lot))
        .route("/field/hosted", web::post().to(pages::field::hosted))
        .route(
            "/trace/01/{gtin}/10/{lot}",
            web::get().to(pages::trace::show),
        )
        .route("/fsma204", web::get().to(pages::fsma::show))
        .route("/fsma204/spreadsheet", web::get().to(pages::fsma::download))
        .route("/dashboard", web::get().to(pages::account::dashboard))
        .route("/recalls", web::get().to(pages::recall::staff_page))
        .route("/recalls", web::post().to(pages::recall::issue))
        .route("/recalls/lift", web::post().to(pages::recall::lift))
        .route("/recalls/draft", web::post().to(pages::recall::draft))
        .route(
            "/dashboard.csv",
            web::get().to(pages::account::dashboard_csv),
        )
        .app_data(web::FormConfig::default().limit(16 * 1024))
        .service(
            web::scope("/static")
                .wrap(DefaultHeaders::new().add(("Cache-Control", "public, max-age=3600")))
                // Gzip for the browsers that ask: the field app's scripts reach phones on weak
                // rural signal (docs/performance.md has the weights).
                .wrap(Compress::default())
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

/// A path of the API with a method it does not take is 405; Digital Link paths (anything
/// outside `/api/` holding `/01/`) go to the resolver; the rest is a JSON 404.
async fn fallback(
    req: actix_web::HttpRequest,
    sources: crate::http::state::PageSources,
) -> Result<HttpResponse, AppError> {
    // A path of the API asked with a method it does not take: 405 with the ones it does.
    if req.path().starts_with("/api/v1/")
        && let Some(allowed) = api::allowed_methods(req.path())
        && !allowed.iter().any(|m| m == req.method().as_str())
    {
        let allow = allowed.join(", ");
        return Ok(HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allow.clone()))
            .json(serde_json::json!({
                "error": "method_not_allowed",
                "message": format!("{} takes {allow}, not {}", req.path(), req.method()),
            })));
    }
    if !req.path().starts_with("/api/") && req.path().split('/').any(|segment| segment == "01") {
        return Ok(pages::resolver::resolve(req, sources).await);
    }
    Err(AppError::NotFound(format!(
        "no such resource: {}",
        req.path()
    )))
}
