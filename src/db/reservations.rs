//! In-store pickup reservations.

use super::DbConn;
use super::rows::ReservationRow;
use super::schema::reservations;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use sha2::{Digest, Sha256};

/// States a reservation goes through. `handing_over` is held while the store's `sell` record is
/// being signed and stored, so that two staff confirming at once cannot both sell.
pub const RESERVED: &str = "reserved";
pub const HANDING_OVER: &str = "handing_over";
pub const PICKED_UP: &str = "picked_up";
/// Cancelled by the store's staff: its units are free again.
pub const CANCELLED: &str = "cancelled";

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

/// Whom a limit counts an open reservation for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Phone,
    Browser,
    Address,
}

/// What one holder's open reservations (reserved or being handed over, not expired) hold: how
/// many, and how many units.
pub fn held_by(
    conn: &mut DbConn,
    holder: Holder,
    key: &str,
    now: NaiveDateTime,
) -> QueryResult<(i64, i64)> {
    let open = reservations::status
        .eq_any([RESERVED, HANDING_OVER])
        .and(reservations::expires_at.gt(now));
    let units = reservations::table
        .filter(open)
        .select(reservations::quantity);
    let held: Vec<i64> = match holder {
        Holder::Phone => units
            .filter(reservations::holder_phone.eq(key))
            .load(conn)?,
        Holder::Browser => units
            .filter(reservations::holder_browser.eq(key))
            .load(conn)?,
        Holder::Address => units
            .filter(reservations::holder_address.eq(key))
            .load(conn)?,
    };
    Ok((
        i64::try_from(held.len()).unwrap_or(i64::MAX),
        held.iter().sum(),
    ))
}

/// On PostgreSQL, takes a transaction lock for each of these holder keys (in one order, so that
/// two reservations cannot deadlock), so that two reservations by one holder are judged one
/// after the other even at different stores. SQLite's write transaction already does.
pub fn lock_holders(conn: &mut DbConn, keys: &[&str]) -> QueryResult<()> {
    let DbConn::Postgres(c) = conn else {
        return Ok(());
    };
    let mut ids: Vec<i64> = keys
        .iter()
        .map(|key| {
            let digest = Sha256::digest(format!("truetrace reservation holder\n{key}"));
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            i64::from_be_bytes(first)
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(id)
            .execute(c)?;
    }
    Ok(())
}

/// Cancels a reservation that is still reserved (not being handed over, not picked up); false
/// when it is not.
pub fn cancel(conn: &mut DbConn, code: &str, user: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        reservations::table.filter(
            reservations::code
                .eq(code)
                .and(reservations::status.eq(RESERVED)),
        ),
    )
    .set((
        reservations::status.eq(CANCELLED),
        reservations::updated_at.eq(now),
        reservations::cancelled_by.eq(user),
    ))
    .execute(conn)
    .map(|n| n == 1)
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
