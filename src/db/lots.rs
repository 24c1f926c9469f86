//! Lot state and lineage queries.

use super::DbConn;
use super::rows::{LotInputRow, LotRow};
use super::schema::{lot_inputs, lots};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use std::collections::HashSet;

/// Lots per statement when a query names many: on SQLite `gtin IN (...) AND lot IN (...)` binds
/// at most twice this many values, far below its limit.
pub const KEYS_PER_QUERY: usize = 500;

/// The distinct GTINs and lot codes of `keys`, for SQLite's `gtin IN (...) AND lot IN (...)`
/// (one index probe per pair of values); the exact pairs are kept by `pairs` afterwards.
pub(super) fn columns(keys: &[(String, String)]) -> (Vec<&str>, Vec<&str>) {
    let mut gtins: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let mut codes: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    for v in [&mut gtins, &mut codes] {
        v.sort_unstable();
        v.dedup();
    }
    (gtins, codes)
}

pub(super) fn pairs(keys: &[(String, String)]) -> HashSet<(&str, &str)> {
    keys.iter().map(|k| (k.0.as_str(), k.1.as_str())).collect()
}

/// On PostgreSQL, `keys` as two parallel arrays for `unnest($1::text[], $2::text[]) AS k(gtin,
/// lot)`, each pair probed by a `LATERAL` subquery: written as `= ANY` on both columns, with a
/// million records PostgreSQL 15 chose to scan the table (a trace took 384 ms instead of 30).
pub(super) fn unzipped(keys: &[(String, String)]) -> (Vec<&str>, Vec<&str>) {
    keys.iter().map(|k| (k.0.as_str(), k.1.as_str())).unzip()
}

pub fn find(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Option<LotRow>> {
    native!(conn, |c| {
        lots::table
            .find((gtin, lot))
            .select(LotRow::as_select())
            .get_result(c)
            .optional()
    })
}

/// The stored lots among `names` of one GTIN.
pub fn find_many(conn: &mut DbConn, gtin: &str, names: &[&str]) -> QueryResult<Vec<LotRow>> {
    match conn {
        // One primary-key lookup per name: a statement prepared once, where `IN (...)` is
        // prepared anew for every length.
        DbConn::Sqlite(c) => {
            let mut found = Vec::new();
            for name in names {
                let stored = lots::table
                    .find((gtin, name))
                    .select(LotRow::as_select())
                    .get_result(c)
                    .optional()?;
                found.extend(stored);
            }
            Ok(found)
        }
        // One primary-key probe per name, whatever the statistics say. Written as `gtin = $1
        // AND lot = ANY($2)` (or as a plain join), the query let PostgreSQL, before it had
        // statistics (a new database taking its first records), take the (gtin, head_time)
        // index and filter every lot of the product; the LIMIT keeps the probe a subquery of
        // its own, where the primary key is the only match.
        DbConn::Postgres(c) => diesel::sql_query(
            "SELECT l.gtin, l.lot, l.custodian, l.head, l.head_time, l.shipped_to, \
             l.created_log_index FROM unnest($2::text[]) AS wanted(lot) \
             CROSS JOIN LATERAL (SELECT * FROM lots WHERE gtin = $1 AND lot = wanted.lot \
             LIMIT 1) l",
        )
        .bind::<Text, _>(gtin)
        .bind::<Array<Text>, _>(names)
        .load(c),
    }
}

/// The stored lots among `keys`, in no particular order: one query per `KEYS_PER_QUERY` keys.
pub fn find_keys(conn: &mut DbConn, keys: &[(String, String)]) -> QueryResult<Vec<LotRow>> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        match conn {
            DbConn::Sqlite(c) => {
                let (gtins, codes) = columns(chunk);
                let wanted = pairs(chunk);
                let rows: Vec<LotRow> = lots::table
                    .filter(lots::gtin.eq_any(&gtins).and(lots::lot.eq_any(&codes)))
                    .select(LotRow::as_select())
                    .load(c)?;
                found.extend(
                    rows.into_iter()
                        .filter(|r| wanted.contains(&(r.gtin.as_str(), r.lot.as_str()))),
                );
            }
            DbConn::Postgres(c) => {
                let (gtins, codes) = unzipped(chunk);
                let rows: Vec<LotRow> = diesel::sql_query(
                    "SELECT l.gtin, l.lot, l.custodian, l.head, l.head_time, l.shipped_to, \
                     l.created_log_index FROM unnest($1::text[], $2::text[]) AS k(gtin, lot) \
                     CROSS JOIN LATERAL (SELECT * FROM lots WHERE gtin = k.gtin AND lot = k.lot \
                     LIMIT 1) l",
                )
                .bind::<Array<Text>, _>(&gtins)
                .bind::<Array<Text>, _>(&codes)
                .load(c)?;
                found.extend(rows);
            }
        }
    }
    Ok(found)
}

pub fn insert_many(conn: &mut DbConn, rows: &[LotRow]) -> QueryResult<()> {
    insert_rows!(conn, lots::table, rows)
}

/// Moves a lot to its new state if its head is still `expected_head`; false when it is not (a
/// compare-and-set, so a fork cannot be written even if two appenders raced past the lock).
pub fn advance(conn: &mut DbConn, row: &LotRow, expected_head: &str) -> QueryResult<bool> {
    native!(conn, |c| {
        diesel::update(
            lots::table
                .find((&row.gtin, &row.lot))
                .filter(lots::head.eq(expected_head)),
        )
        .set((
            lots::custodian.eq(&row.custodian),
            lots::head.eq(&row.head),
            lots::head_time.eq(row.head_time),
            lots::shipped_to.eq(&row.shipped_to),
        ))
        .execute(c)
        .map(|changed| changed == 1)
    })
}

pub fn insert_inputs(conn: &mut DbConn, rows: &[LotInputRow]) -> QueryResult<()> {
    insert_rows!(conn, lot_inputs::table, rows)
}

/// The organization whose record created the lot (the actor of its first record).
pub fn creator_of(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Option<String>> {
    use super::schema::records;
    lots::table
        .inner_join(records::table.on(records::log_index.eq(lots::created_log_index)))
        .filter(lots::gtin.eq(gtin).and(lots::lot.eq(lot)))
        .select(records::actor)
        .get_result(conn)
        .optional()
}

/// The lots `gtin`/`lot` was made from.
pub fn inputs_of(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Vec<LotInputRow>> {
    lot_inputs::table
        .filter(lot_inputs::gtin.eq(gtin).and(lot_inputs::lot.eq(lot)))
        .order((lot_inputs::input_gtin.asc(), lot_inputs::input_lot.asc()))
        .select(LotInputRow::as_select())
        .load(conn)
}

/// The lineage edges at `keys`, one query per `KEYS_PER_QUERY` keys: forward, the edges whose
/// input is among them (what was made from them, `lot_inputs_forward`); backward, those whose
/// output is (what they were made from, `lot_inputs_backward`).
pub fn edges_at(
    conn: &mut DbConn,
    keys: &[(String, String)],
    forward: bool,
) -> QueryResult<Vec<LotInputRow>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        match conn {
            DbConn::Sqlite(c) => {
                let (gtins, codes) = columns(chunk);
                let wanted = pairs(chunk);
                let rows: Vec<LotInputRow> = if forward {
                    lot_inputs::table
                        .filter(
                            lot_inputs::input_gtin
                                .eq_any(&gtins)
                                .and(lot_inputs::input_lot.eq_any(&codes)),
                        )
                        .select(LotInputRow::as_select())
                        .load(c)?
                } else {
                    lot_inputs::table
                        .filter(
                            lot_inputs::gtin
                                .eq_any(&gtins)
                                .and(lot_inputs::lot.eq_any(&codes)),
                        )
                        .select(LotInputRow::as_select())
                        .load(c)?
                };
                found.extend(rows.into_iter().filter(|e| {
                    let at = if forward {
                        (e.input_gtin.as_str(), e.input_lot.as_str())
                    } else {
                        (e.gtin.as_str(), e.lot.as_str())
                    };
                    wanted.contains(&at)
                }));
            }
            DbConn::Postgres(c) => {
                let (gtins, codes) = unzipped(chunk);
                let side = if forward { "input_" } else { "" };
                let sql = format!(
                    "SELECT e.gtin, e.lot, e.input_gtin, e.input_lot, e.log_index \
                     FROM unnest($1::text[], $2::text[]) AS k(gtin, lot) CROSS JOIN LATERAL \
                     (SELECT * FROM lot_inputs WHERE {side}gtin = k.gtin AND {side}lot = k.lot) e"
                );
                let rows: Vec<LotInputRow> = diesel::sql_query(sql)
                    .bind::<Array<Text>, _>(&gtins)
                    .bind::<Array<Text>, _>(&codes)
                    .load(c)?;
                found.extend(rows);
            }
        }
    }
    Ok(found)
}

/// The lots of a product with the latest records first.
pub fn recent_of_gtin(conn: &mut DbConn, gtin: &str, limit: i64) -> QueryResult<Vec<LotRow>> {
    lots::table
        .filter(lots::gtin.eq(gtin))
        .order(lots::head_time.desc())
        .limit(limit)
        .select(LotRow::as_select())
        .load(conn)
}

/// The organizations holding at least one lot of a product.
pub fn custodians_of_gtin(conn: &mut DbConn, gtin: &str) -> QueryResult<Vec<String>> {
    lots::table
        .filter(lots::gtin.eq(gtin))
        .select(lots::custodian)
        .distinct()
        .load(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    lots::table.count().get_result(conn)
}

pub fn count_inputs(conn: &mut DbConn) -> QueryResult<i64> {
    lot_inputs::table.count().get_result(conn)
}

/// The stored lots that no record names (`record_lots_by_lot`), for `truetrace verify`.
pub fn named_by_no_record(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    use super::schema::record_lots;
    lots::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            record_lots::table.filter(
                record_lots::gtin
                    .eq(lots::gtin)
                    .and(record_lots::lot.eq(lots::lot)),
            ),
        )))
        .order((lots::gtin.asc(), lots::lot.asc()))
        .select((lots::gtin, lots::lot))
        .load(conn)
}

/// The lineage edges no record implies: none of the record's lots was created (`prev` NULL)
/// as the edge's output while it named the edge's input as an existing lot (by primary key of
/// `record_lots`), for `truetrace verify`.
pub fn inputs_no_record_implies(conn: &mut DbConn) -> QueryResult<Vec<LotInputRow>> {
    raw_query!(
        conn,
        "SELECT e.gtin, e.lot, e.input_gtin, e.input_lot, e.log_index FROM lot_inputs e
         WHERE NOT EXISTS (
             SELECT 1 FROM record_lots o JOIN record_lots i ON i.log_index = o.log_index
             WHERE o.log_index = e.log_index AND o.gtin = e.gtin AND o.lot = e.lot
               AND o.prev IS NULL
               AND i.gtin = e.input_gtin AND i.lot = e.input_lot AND i.prev IS NOT NULL)
         ORDER BY e.gtin, e.lot, e.input_gtin, e.input_lot",
        LotInputRow,
    )
}

/// The lots of a product held by any of these organizations.
pub fn of_gtin_held_by(
    conn: &mut DbConn,
    gtin: &str,
    holders: &[String],
) -> QueryResult<Vec<LotRow>> {
    lots::table
        .filter(lots::gtin.eq(gtin).and(lots::custodian.eq_any(holders)))
        .order(lots::head_time.asc())
        .select(LotRow::as_select())
        .load(conn)
}

/// Every lot one organization holds.
pub fn held_by(conn: &mut DbConn, holder: &str) -> QueryResult<Vec<LotRow>> {
    lots::table
        .filter(lots::custodian.eq(holder))
        .order((lots::gtin.asc(), lots::head_time.asc()))
        .select(LotRow::as_select())
        .load(conn)
}
