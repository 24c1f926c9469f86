//! Organization API token queries.

use super::DbConn;
use super::rows::ApiTokenRow;
use super::schema::api_tokens::dsl::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &ApiTokenRow) -> QueryResult<()> {
    diesel::insert_into(api_tokens)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The organization's tokens, newest first.
pub fn of_org(conn: &mut DbConn, org: &str) -> QueryResult<Vec<ApiTokenRow>> {
    api_tokens
        .filter(org_id.eq(org))
        .order(created_at.desc())
        .select(ApiTokenRow::as_select())
        .load(conn)
}

pub fn find(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<ApiTokenRow>> {
    api_tokens
        .find(wanted)
        .select(ApiTokenRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<ApiTokenRow>> {
    api_tokens
        .filter(token_hash.eq(hash))
        .select(ApiTokenRow::as_select())
        .get_result(conn)
        .optional()
}

/// Revokes the token; a second revoke keeps the first time.
pub fn revoke(conn: &mut DbConn, wanted: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(api_tokens.find(wanted).filter(revoked_at.is_null()))
        .set(revoked_at.eq(Some(at)))
        .execute(conn)
        .map(|_| ())
}

pub fn touch(conn: &mut DbConn, wanted: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(api_tokens.find(wanted))
        .set(last_used_at.eq(Some(at)))
        .execute(conn)
        .map(|_| ())
}
