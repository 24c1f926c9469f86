//! Products.

use super::AdminAuth;
use super::rfc3339;
use crate::accounts::registry;
use crate::accounts::registry::NewProductRequest;
use crate::db::DbPool;
use crate::db::products;
use crate::db::rows::ProductRow;
use crate::domain::Gtin;
use crate::error::AppError;
use actix_web::{HttpResponse, Scope, web};
use serde::Serialize;

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

#[derive(Debug, Clone, Serialize)]
pub struct ProductResponse {
    pub gtin: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub currency: Option<String>,
    pub listing_url: Option<String>,
    pub brand_org: Option<String>,
    pub created_at: String,
}

impl From<ProductRow> for ProductResponse {
    fn from(row: ProductRow) -> Self {
        Self {
            gtin: row.gtin,
            name: row.name,
            name_zh: row.name_zh,
            description: row.description,
            image_url: row.image_url,
            price: row.price,
            currency: row.currency,
            listing_url: row.listing_url,
            brand_org: row.brand_org,
            created_at: rfc3339(row.created_at),
        }
    }
}
