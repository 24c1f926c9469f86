//! Organization queries.

use super::DbConn;
use super::rows::{LocationRow, OrgRow};
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

/// Sets the organization's address and phone (master data); `None` clears.
pub fn set_contact(
    conn: &mut DbConn,
    org: &str,
    new_address: Option<&str>,
    new_phone: Option<&str>,
) -> QueryResult<()> {
    diesel::update(organizations.find(org))
        .set((address.eq(new_address), phone.eq(new_phone)))
        .execute(conn)
        .map(|_| ())
}

/// The locations of the given organizations, by organization and name.
pub fn locations_of(conn: &mut DbConn, orgs: &[String]) -> QueryResult<Vec<LocationRow>> {
    use super::schema::org_locations::dsl as l;
    l::org_locations
        .filter(l::org_id.eq_any(orgs))
        .order((l::org_id.asc(), l::name.asc()))
        .select(LocationRow::as_select())
        .load(conn)
}

/// Replaces an organization's locations with `rows`.
pub fn set_locations(conn: &mut DbConn, org: &str, rows: &[LocationRow]) -> QueryResult<()> {
    use super::schema::org_locations::dsl as l;
    diesel::delete(l::org_locations.filter(l::org_id.eq(org))).execute(conn)?;
    for row in rows {
        diesel::insert_into(l::org_locations)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The locations, of any organization, that a GLN names.
pub fn locations_by_gln(conn: &mut DbConn, wanted: &str) -> QueryResult<Vec<LocationRow>> {
    use super::schema::org_locations::dsl as l;
    l::org_locations
        .filter(l::gln.eq(wanted))
        .order((l::org_id.asc(), l::name.asc()))
        .select(LocationRow::as_select())
        .load(conn)
}
