//! Products.

use super::AdminAuth;
use crate::accounts::registry;
use crate::accounts::registry::NewProductRequest;
use crate::db::DbPool;
use crate::db::products;
use crate::domain::Gtin;
use crate::error::AppError;
use crate::http::bodies::ProductResponse;
use actix_web::{HttpResponse, Scope, web};

pub fn scope() -> Scope {
    web::scope("/products")
        .route("", web::post().to(register))
        .route("", web::get().to(list))
        .route("/{gtin}", web::get().to(show))
}

async fn register(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    body: web::Json<NewProductRequest>,
) -> Result<HttpResponse, AppError> {
    let row = crate::db::run(&pool, move |conn| registry::register_product(conn, &body)).await?;
    Ok(HttpResponse::Created().json(ProductResponse::from(row)))
}

async fn list(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let rows = crate::db::run(&pool, |conn| Ok(products::all(conn)?)).await?;
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(ProductResponse::from)
            .collect::<Vec<_>>(),
    ))
}

async fn show(pool: web::Data<DbPool>, gtin: web::Path<String>) -> Result<HttpResponse, AppError> {
    let gtin = Gtin::parse(&gtin).map_err(AppError::Malformed)?;
    let row = crate::db::run(&pool, move |conn| {
        products::find(conn, gtin.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no product with GTIN {gtin}")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(ProductResponse::from(row)))
}
