//! In-store pickup reservations.

use super::DbConn;
use super::rows::ReservationRow;
use super::schema::reservations;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// States a reservation goes through. `handing_over` is held while the store's `sell` record is
/// being signed and stored, so that two staff confirming at once cannot both sell.
pub const RESERVED: &str = "reserved";
pub const HANDING_OVER: &str = "handing_over";
pub const PICKED_UP: &str = "picked_up";

pub fn insert(conn: &mut DbConn, row: &ReservationRow) -> QueryResult<()> {
    diesel::insert_into(reservations::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, code: &str) -> QueryResult<Option<ReservationRow>> {
    reservations::table
        .find(code)
        .select(ReservationRow::as_select())
        .get_result(conn)
        .optional()
}

/// Units of a lot held by unexpired reservations that are not picked up yet.
pub fn held_units(
    conn: &mut DbConn,
    gtin: &str,
    lot: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let held: Vec<i64> = reservations::table
        .filter(
            reservations::gtin
                .eq(gtin)
                .and(reservations::lot.eq(lot))
                .and(reservations::status.eq_any([RESERVED, HANDING_OVER]))
                .and(reservations::expires_at.gt(now)),
        )
        .select(reservations::quantity)
        .load(conn)?;
    Ok(held.iter().sum())
}

/// Moves a reservation from one state to another; false when it was not in `from`.
pub fn transition(
    conn: &mut DbConn,
    code: &str,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        reservations::table.filter(
            reservations::code
                .eq(code)
                .and(reservations::status.eq(from)),
        ),
    )
    .set((
        reservations::status.eq(to),
        reservations::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn mark_picked_up(
    conn: &mut DbConn,
    code: &str,
    user: &str,
    record: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        reservations::table.filter(
            reservations::code
                .eq(code)
                .and(reservations::status.eq(HANDING_OVER)),
        ),
    )
    .set((
        reservations::status.eq(PICKED_UP),
        reservations::updated_at.eq(now),
        reservations::confirmed_by.eq(user),
        reservations::sell_record.eq(record),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// A store's most recent reservations.
pub fn of_store(conn: &mut DbConn, store: &str, limit: i64) -> QueryResult<Vec<ReservationRow>> {
    reservations::table
        .filter(reservations::store_org.eq(store))
        .order(reservations::created_at.desc())
        .limit(limit)
        .select(ReservationRow::as_select())
        .load(conn)
}
