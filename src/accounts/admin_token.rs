//! The admin bearer token: only its SHA-256 is kept (in memory and in the database), compared in
//! constant time. When none is configured, the first `serve` generates one and prints it once.

use crate::db::{DbConn, kv};
use crate::error::{AppError, AppResult};
use sha2::{Digest, Sha256};
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
    Ok(format!("tt_{}", crate::random::token()?))
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
