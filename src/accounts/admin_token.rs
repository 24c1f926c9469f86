//! The admin bearer token: only its SHA-256 is kept (in memory and in the database), compared in
//! constant time. When none is configured, the first `serve` generates one and prints it once.

use crate::db::{DbConn, kv};
use crate::error::{AppError, AppResult};
use crate::startup::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::future::{Ready, ready};
use subtle::ConstantTimeEq;

const STORED_HASH: &str = "admin_token_sha256";

#[derive(Debug, Clone, Copy)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn matches(&self, presented: &str) -> bool {
        Self::of(presented).0.ct_eq(&self.0).into()
    }
}

/// Where the token in force came from; a generated one is returned once, to be printed.
pub enum TokenSource {
    Configured,
    Stored,
    Generated(String),
}

fn generate() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
    Ok(format!("tt_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The configured token if any, else the stored one, else a new one (stored as a hash).
pub fn resolve(
    configured: Option<&str>,
    conn: &mut DbConn,
) -> AppResult<(AdminToken, TokenSource)> {
    if let Some(token) = configured.filter(|t| !t.is_empty()) {
        return Ok((AdminToken::of(token), TokenSource::Configured));
    }
    if let Some(stored) = kv::get(conn, STORED_HASH)? {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&stored, &mut hash).map_err(|_| {
            AppError::internal(
                "the stored admin token hash is corrupt; run `truetrace admin rotate-token`",
            )
        })?;
        return Ok((AdminToken(hash), TokenSource::Stored));
    }
    let token = rotate(conn)?;
    Ok((AdminToken::of(&token), TokenSource::Generated(token)))
}

/// Replaces the stored token with a new one and returns it (the only time it is visible).
pub fn rotate(conn: &mut DbConn) -> AppResult<String> {
    let token = generate()?;
    kv::put(conn, STORED_HASH, &hex::encode(AdminToken::of(&token).0))?;
    Ok(token)
}

/// Extractor that admits a request only with `Authorization: Bearer <admin token>`.
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(AppError::internal("application state missing")));
        };
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        ready(match presented {
            Some(token) if state.admin_token.matches(token.trim()) => Ok(AdminAuth),
            Some(_) => Err(AppError::Unauthorized(
                "the admin token is not valid".into(),
            )),
            None => Err(AppError::Unauthorized(
                "this call needs the admin token: Authorization: Bearer <token>".into(),
            )),
        })
    }
}
