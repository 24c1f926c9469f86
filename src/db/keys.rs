//! Signing key queries.

use super::DbConn;
use super::rows::KeyRow;
use super::schema::signing_keys::dsl::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &KeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<KeyRow>> {
    native!(conn, |c| {
        signing_keys
            .find(wanted)
            .select(KeyRow::as_select())
            .get_result(c)
            .optional()
    })
}

pub fn of_org(conn: &mut DbConn, org: &str) -> QueryResult<Vec<KeyRow>> {
    signing_keys
        .filter(org_id.eq(org))
        .order(enrolled_at.asc())
        .select(KeyRow::as_select())
        .load(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<KeyRow>> {
    signing_keys.select(KeyRow::as_select()).load(conn)
}

/// Marks a key revoked at `at`, unless it already is (the first revocation time stays).
pub fn revoke(conn: &mut DbConn, wanted: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(signing_keys.find(wanted).filter(revoked_at.is_null()))
        .set(revoked_at.eq(Some(at)))
        .execute(conn)
        .map(|_| ())
}
