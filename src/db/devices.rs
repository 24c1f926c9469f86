//! Device key queries (browsers that sign records for an organization's staff).

use super::DbConn;
use super::rows::DeviceRow;
use super::schema::devices::dsl::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &DeviceRow) -> QueryResult<()> {
    diesel::insert_into(devices)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<DeviceRow>> {
    devices
        .find(wanted)
        .select(DeviceRow::as_select())
        .get_result(conn)
        .optional()
}

/// An organization's devices, oldest first.
pub fn of_org(conn: &mut DbConn, org: &str) -> QueryResult<Vec<DeviceRow>> {
    devices
        .filter(org_id.eq(org))
        .order((created_at.asc(), keyid.asc()))
        .select(DeviceRow::as_select())
        .load(conn)
}

/// Marks a pending device approved; false when it was not pending any more.
pub fn approve(conn: &mut DbConn, wanted: &str, by: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        devices
            .find(wanted)
            .filter(approved_at.is_null())
            .filter(revoked_at.is_null()),
    )
    .set((approved_at.eq(Some(at)), approved_by.eq(Some(by))))
    .execute(conn)
    .map(|n| n == 1)
}

/// Marks a device revoked, unless it already is (the first revocation stays).
pub fn revoke(conn: &mut DbConn, wanted: &str, by: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(devices.find(wanted).filter(revoked_at.is_null()))
        .set((revoked_at.eq(Some(at)), revoked_by.eq(Some(by))))
        .execute(conn)
        .map(|_| ())
}
