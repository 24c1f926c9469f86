//! Organizations and their keys.

use super::with_conn;
use crate::admin;
use crate::api::{EnrollKeyRequest, KeyResponse, NewOrgRequest, OrgResponse};
use crate::auth::AdminAuth;
use crate::db::keys;
use crate::error::AppError;
use crate::startup::AppState;
use actix_web::{HttpResponse, Scope, web};

pub fn scope() -> Scope {
    web::scope("/orgs")
        .route("", web::post().to(create))
        .route("/{id}", web::get().to(show))
        .route("/{id}/keys", web::post().to(enroll))
        .route("/{id}/keys/{keyid}", web::delete().to(revoke))
}

async fn create(
    _: AdminAuth,
    state: web::Data<AppState>,
    body: web::Json<NewOrgRequest>,
) -> Result<HttpResponse, AppError> {
    let row = with_conn(&state, move |conn| admin::create_org(conn, &body)).await?;
    Ok(HttpResponse::Created().json(OrgResponse::new(row, Vec::new())))
}

/// Public: an organization and its keys (with revocation times), so anyone can verify records.
async fn show(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let org = with_conn(&state, move |conn| {
        let org = admin::find_org(conn, &id)?;
        let keys = keys::of_org(conn, &org.id)?;
        Ok(OrgResponse::new(org, keys))
    })
    .await?;
    Ok(HttpResponse::Ok().json(org))
}

async fn enroll(
    _: AdminAuth,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<EnrollKeyRequest>,
) -> Result<HttpResponse, AppError> {
    let (row, created) = with_conn(&state, move |conn| {
        admin::enroll_key(conn, &id, &body.public_key, body.hosted)
    })
    .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(KeyResponse::from(row)))
}

async fn revoke(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, keyid) = path.into_inner();
    let row = with_conn(&state, move |conn| admin::revoke_key(conn, &id, &keyid)).await?;
    Ok(HttpResponse::Ok().json(KeyResponse::from(row)))
}
