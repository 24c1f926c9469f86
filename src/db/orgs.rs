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

/// The origins allowed to frame an organization's embeds.
pub fn embed_origins(conn: &mut DbConn, org: &str) -> QueryResult<Vec<String>> {
    use super::schema::embed_origins::dsl as e;
    e::embed_origins
        .filter(e::org_id.eq(org))
        .order(e::origin.asc())
        .select(e::origin)
        .load(conn)
}

pub fn set_embed_origins(conn: &mut DbConn, org: &str, origins: &[String]) -> QueryResult<()> {
    use super::schema::embed_origins::dsl as e;
    diesel::delete(e::embed_origins.filter(e::org_id.eq(org))).execute(conn)?;
    for origin in origins {
        diesel::insert_into(e::embed_origins)
            .values((e::org_id.eq(org), e::origin.eq(origin)))
            .execute(conn)?;
    }
    Ok(())
}
