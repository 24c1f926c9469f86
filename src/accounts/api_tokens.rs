//! Organization API tokens: what a partner system that cannot sign presents to post EPCIS
//! documents (`POST /api/v1/epcis/capture`); the organization's hosted key signs the records.
//! Made, listed and revoked by the organization's admins (account page) and the operator (admin
//! API). A token is shown once, when made; only its SHA-256 is stored, so a copy of the database
//! holds none.

use crate::db::rows::{ApiTokenRow, OrgRow};
use crate::db::{DbConn, api_tokens, orgs};
use crate::error::{AppError, AppResult};
use chrono::Utc;
use sha2::{Digest as _, Sha256};

/// Every token starts so: a leaked one is easy to recognise (and to search for).
pub const PREFIX: &str = "tt_org_";
/// At most this many live tokens per organization.
pub const MAX_TOKENS: usize = 20;

/// A token just made: the row, and the token itself (shown this once).
pub struct Made {
    pub row: ApiTokenRow,
    pub token: String,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a token for the organization, with a label saying who uses it ("ERP at the packhouse").
pub fn create(
    conn: &mut DbConn,
    org_id: &str,
    label: &str,
    created_by: Option<&str>,
) -> AppResult<Made> {
    let org = crate::accounts::registry::find_org(conn, org_id)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(AppError::InvalidField(
            "label must be 1 to 100 characters: who or what uses the token".into(),
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !crate::domain::text::is_allowed_char(*c) || *c == '\n' || *c == '\t')
    {
        return Err(AppError::InvalidField(format!(
            "label contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    let live = api_tokens::of_org(conn, &org.id)?
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .count();
    if live >= MAX_TOKENS {
        return Err(AppError::Conflict(format!(
            "an organization has at most {MAX_TOKENS} live tokens; revoke one first"
        )));
    }
    let token = format!("{PREFIX}{}", crate::random::token()?);
    let row = ApiTokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org.id,
        label: label.to_owned(),
        token_hash: hash(&token),
        created_at: Utc::now().naive_utc(),
        created_by: created_by.map(str::to_owned),
        last_used_at: None,
        revoked_at: None,
    };
    api_tokens::insert(conn, &row)?;
    Ok(Made { row, token })
}

pub fn list(conn: &mut DbConn, org_id: &str) -> AppResult<Vec<ApiTokenRow>> {
    let org = crate::accounts::registry::find_org(conn, org_id)?;
    Ok(api_tokens::of_org(conn, &org.id)?)
}

/// Revokes one of the organization's tokens: from now on it is refused.
pub fn revoke(conn: &mut DbConn, org_id: &str, token_id: &str) -> AppResult<ApiTokenRow> {
    let org = crate::accounts::registry::find_org(conn, org_id)?;
    let not_found =
        || AppError::NotFound(format!("organization {} has no token {token_id}", org.id));
    let row = api_tokens::find(conn, token_id)?
        .filter(|t| t.org_id == org.id)
        .ok_or_else(not_found)?;
    api_tokens::revoke(conn, &row.id, Utc::now().naive_utc())?;
    api_tokens::find(conn, &row.id)?.ok_or_else(not_found)
}

/// The organization a presented token belongs to, if it is one of ours and not revoked; notes
/// its use.
pub fn authenticate(conn: &mut DbConn, presented: &str) -> AppResult<Option<OrgRow>> {
    if !presented.starts_with(PREFIX) {
        return Ok(None);
    }
    let Some(row) = api_tokens::by_hash(conn, &hash(presented))? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    api_tokens::touch(conn, &row.id, Utc::now().naive_utc())?;
    Ok(orgs::find(conn, &row.org_id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_is_kept() {
        let token = format!("{PREFIX}abc");
        assert_eq!(hash(&token).len(), 64);
        assert!(!hash(&token).contains("abc"));
        assert_ne!(hash(&token), hash(&format!("{PREFIX}abd")));
    }
}
