//! Organizations and their keys.

use super::AdminAuth;
use super::rfc3339;
use crate::accounts::registry;
use crate::accounts::registry::{LocationRequest, MasterDataRequest, NewOrgRequest};
use crate::db::DbPool;
use crate::db::keys;
use crate::db::rows::{KeyRow, LocationRow, OrgRow};
use crate::error::AppError;
use crate::http::page_cache::PageCache;
use crate::http::state::HostedKeys;
use crate::http::state::Site;
use actix_web::{HttpResponse, Scope, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

pub fn scope() -> Scope {
    web::scope("/orgs")
        .route("", web::post().to(create))
        .route("", web::get().to(by_gln))
        .route("/{id}", web::get().to(show))
        .route("/{id}", web::patch().to(set_master_data))
        .route("/{id}/locations", web::put().to(set_locations))
        .route("/{id}/keys", web::post().to(enroll))
        .route("/{id}/keys/{keyid}", web::delete().to(revoke))
        .route("/{id}/hosted-key", web::post().to(enable_hosted_key))
        .route("/{id}/invites", web::post().to(invite))
        .route("/{id}/embed-origins", web::put().to(set_embed_origins))
        .route("/{id}/tokens", web::post().to(create_token))
        .route("/{id}/tokens", web::get().to(list_tokens))
        .route("/{id}/tokens/{token}", web::delete().to(revoke_token))
}

async fn create(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    body: web::Json<NewOrgRequest>,
) -> Result<HttpResponse, AppError> {
    let row = crate::db::run(&pool, move |conn| registry::create_org(conn, &body)).await?;
    Ok(HttpResponse::Created().json(OrgResponse::new(row, Vec::new())))
}

/// Public: an organization, its master data and its keys (with revocation times), so anyone
/// can verify records.
async fn show(pool: web::Data<DbPool>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let org = crate::db::run(&pool, move |conn| {
        let org = registry::find_org(conn, &id)?;
        let keys = keys::of_org(conn, &org.id)?;
        let locations = crate::db::orgs::locations_of(conn, std::slice::from_ref(&org.id))?;
        Ok(OrgResponse::new(org, keys).with_locations(locations))
    })
    .await?;
    Ok(HttpResponse::Ok().json(org))
}

/// Master data: the fields given are replaced (address, phone, the whole list of locations).
async fn set_master_data(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    pages: web::Data<PageCache>,
    id: web::Path<String>,
    body: web::Json<MasterDataRequest>,
) -> Result<HttpResponse, AppError> {
    let org = crate::db::run(&pool, move |conn| {
        let (org, locations) = registry::set_master_data(conn, &id, &body)?;
        let keys = keys::of_org(conn, &org.id)?;
        Ok(OrgResponse::new(org, keys).with_locations(locations))
    })
    .await?;
    // Pages that show where a lot was name these places.
    pages.clear();
    Ok(HttpResponse::Ok().json(org))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationsRequest {
    locations: Vec<LocationRequest>,
}

/// Replaces the organization's locations.
async fn set_locations(
    auth: AdminAuth,
    pool: web::Data<DbPool>,
    pages: web::Data<PageCache>,
    id: web::Path<String>,
    body: web::Json<LocationsRequest>,
) -> Result<HttpResponse, AppError> {
    let request = MasterDataRequest {
        locations: Some(body.into_inner().locations),
        ..MasterDataRequest::default()
    };
    set_master_data(auth, pool, pages, id, web::Json(request)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GlnQuery {
    gln: String,
}

/// Public: the organizations a GLN names, its own or one of its locations' (an EPCIS document
/// names parties and places by GLN).
async fn by_gln(
    pool: web::Data<DbPool>,
    q: web::Query<GlnQuery>,
) -> Result<HttpResponse, AppError> {
    let gln = crate::domain::Gln::parse(q.gln.trim()).map_err(AppError::Malformed)?;
    let found = crate::db::run(&pool, move |conn| {
        let mut ids: Vec<String> = crate::db::orgs::find_by_gln(conn, gln.as_str())?
            .into_iter()
            .map(|o| o.id)
            .collect();
        for location in crate::db::orgs::locations_by_gln(conn, gln.as_str())? {
            if !ids.contains(&location.org_id) {
                ids.push(location.org_id);
            }
        }
        let mut list = Vec::new();
        for id in ids {
            let org = registry::find_org(conn, &id)?;
            let keys = keys::of_org(conn, &org.id)?;
            let locations = crate::db::orgs::locations_of(conn, std::slice::from_ref(&org.id))?;
            list.push(OrgResponse::new(org, keys).with_locations(locations));
        }
        Ok(list)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orgs": found })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    label: String,
}

/// An organization API token as listed (never the token itself, which is shown once).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<crate::db::rows::ApiTokenRow> for TokenResponse {
    fn from(row: crate::db::rows::ApiTokenRow) -> Self {
        Self {
            id: row.id,
            label: row.label,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
        }
    }
}

/// Makes an organization API token; the answer holds the token, this once.
async fn create_token(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let made = crate::db::run(&pool, move |conn| {
        crate::accounts::api_tokens::create(conn, &id, &body.label, None)
    })
    .await?;
    let mut answer =
        serde_json::to_value(TokenResponse::from(made.row)).map_err(AppError::internal)?;
    answer["token"] = serde_json::json!(made.token);
    Ok(HttpResponse::Created().json(answer))
}

async fn list_tokens(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let rows = crate::db::run(&pool, move |conn| {
        crate::accounts::api_tokens::list(conn, &id)
    })
    .await?;
    let tokens: Vec<TokenResponse> = rows.into_iter().map(TokenResponse::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tokens": tokens })))
}

async fn revoke_token(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, token) = path.into_inner();
    let row = crate::db::run(&pool, move |conn| {
        crate::accounts::api_tokens::revoke(conn, &id, &token)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(row)))
}

async fn enroll(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
    body: web::Json<EnrollKeyRequest>,
) -> Result<HttpResponse, AppError> {
    let (row, created) = crate::db::run(&pool, move |conn| {
        registry::enroll_key(
            conn,
            &id,
            &body.public_key,
            registry::KeyHolder::hosted_if(body.hosted),
        )
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
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, keyid) = path.into_inner();
    let row = crate::db::run(&pool, move |conn| registry::revoke_key(conn, &id, &keyid)).await?;
    Ok(HttpResponse::Ok().json(KeyResponse::from(row)))
}

/// Lets the platform hold a signing key for the organization (for pickups handed over in the
/// web UI). Idempotent: answers the key it already holds.
async fn enable_hosted_key(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    hosted: web::Data<HostedKeys>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let sealer = hosted.sealer()?;
    let keyid = crate::db::run(&pool, move |conn| {
        crate::accounts::hosted_keys::enable(conn, &sealer, &id)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({"keyid": keyid, "hosted": true})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    email: String,
    #[serde(default)]
    admin: bool,
}

/// Invites a person to the organization's staff; answers the link to send them.
async fn invite(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    id: web::Path<String>,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, AppError> {
    let public_url = site.public_url.clone();
    let invitation = crate::db::run(&pool, move |conn| {
        crate::accounts::staff::invite(conn, &id, &body.email, body.admin, &public_url)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "email": invitation.email,
        "url": invitation.url,
        "expires_at": super::rfc3339(invitation.expires_at),
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedOriginsRequest {
    origins: Vec<String>,
}

/// Sets the origins allowed to frame the embeds of the organization's products.
async fn set_embed_origins(
    _: AdminAuth,
    pool: web::Data<DbPool>,
    pages: web::Data<PageCache>,
    id: web::Path<String>,
    body: web::Json<EmbedOriginsRequest>,
) -> Result<HttpResponse, AppError> {
    let origins = registry::embed_origins(&body.origins)?;
    let saved = origins.clone();
    crate::db::run(&pool, move |conn| {
        let org = registry::find_org(conn, &id)?;
        crate::db::orgs::set_embed_origins(conn, &org.id, &saved)?;
        Ok(())
    })
    .await?;
    // Cached embed cards carry the old policy.
    pages.clear();
    Ok(HttpResponse::Ok().json(serde_json::json!({"origins": origins})))
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgResponse {
    pub id: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub roles: Vec<String>,
    pub gln: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub locations: Vec<LocationResponse>,
    pub created_at: String,
    pub keys: Vec<KeyResponse>,
}

/// One of an organization's locations, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LocationResponse {
    pub name: String,
    pub gln: Option<String>,
    pub address: Option<String>,
}

impl From<LocationRow> for LocationResponse {
    fn from(row: LocationRow) -> Self {
        Self {
            name: row.name,
            gln: row.gln,
            address: row.address,
        }
    }
}

impl OrgResponse {
    pub fn new(row: OrgRow, keys: Vec<KeyRow>) -> Self {
        Self {
            roles: row.roles.split(',').map(str::to_owned).collect(),
            id: row.id,
            name: row.name,
            name_zh: row.name_zh,
            gln: row.gln,
            address: row.address,
            phone: row.phone,
            locations: Vec::new(),
            created_at: rfc3339(row.created_at),
            keys: keys.into_iter().map(KeyResponse::from).collect(),
        }
    }

    /// The organization with its locations (master data).
    pub fn with_locations(mut self, rows: Vec<LocationRow>) -> Self {
        self.locations = rows.into_iter().map(LocationResponse::from).collect();
        self
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollKeyRequest {
    pub public_key: String,
    /// The platform holds this key for the organization (web UI actions).
    #[serde(default)]
    pub hosted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyResponse {
    pub keyid: String,
    pub org_id: String,
    pub public_key: String,
    pub hosted: bool,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
}

impl From<KeyRow> for KeyResponse {
    fn from(row: KeyRow) -> Self {
        Self {
            public_key: B64.encode(&row.public_key),
            keyid: row.keyid,
            org_id: row.org_id,
            hosted: row.hosted,
            enrolled_at: rfc3339(row.enrolled_at),
            revoked_at: row.revoked_at.map(rfc3339),
        }
    }
}
