//! Organization queries.

use super::DbConn;
use super::rows::OrgRow;
use super::schema::organizations::dsl::*;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &OrgRow) -> QueryResult<()> {
    diesel::insert_into(organizations)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, org_id: &str) -> QueryResult<Option<OrgRow>> {
    organizations
        .find(org_id)
        .select(OrgRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_gln(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<OrgRow>> {
    organizations
        .filter(gln.eq(wanted))
        .select(OrgRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn roles_of(conn: &mut DbConn, org_id: &str) -> QueryResult<Option<String>> {
    native!(conn, |c| {
        organizations
            .find(org_id)
            .select(roles)
            .get_result(c)
            .optional()
    })
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<OrgRow>> {
    organizations
        .order(name.asc())
        .select(OrgRow::as_select())
        .load(conn)
}

/// Names of the given organizations, for rendering chains.
pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<OrgRow>> {
    organizations
        .filter(id.eq_any(ids))
        .select(OrgRow::as_select())
        .load(conn)
}
