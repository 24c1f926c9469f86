//! Signing keys the platform holds for organizations, sealed.

use super::DbConn;
use super::rows::HostedKeyRow;
use super::schema::hosted_keys;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &HostedKeyRow) -> QueryResult<()> {
    diesel::insert_into(hosted_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn of_org(conn: &mut DbConn, org: &str) -> QueryResult<Option<HostedKeyRow>> {
    hosted_keys::table
        .find(org)
        .select(HostedKeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// Forgets the sealed seed of an organization (after its key was revoked).
pub fn delete(conn: &mut DbConn, org: &str) -> QueryResult<()> {
    diesel::delete(hosted_keys::table.find(org))
        .execute(conn)
        .map(|_| ())
}
