//! Counted activity per day: adding to the counters, and which counters a dashboard covers.

use super::DbConn;
use super::rows::{ActivityRow, LotRow};
use super::schema::activity_daily::{self, dsl as a};
use crate::domain::EventType;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};
use diesel::upsert::excluded;

/// Adds each row's count to its counter (creating it at that count). The rows name distinct
/// counters.
pub fn add(conn: &mut DbConn, rows: &[ActivityRow]) -> QueryResult<()> {
    for chunk in rows.chunks(500) {
        native!(conn, |c| {
            diesel::insert_into(activity_daily::table)
                .values(chunk)
                .on_conflict((a::day, a::gtin, a::lot, a::store, a::kind, a::channel))
                .do_update()
                .set(a::count.eq(a::count + excluded(a::count)))
                .execute(c)
        })?;
    }
    Ok(())
}

/// The days with counters, oldest first.
pub fn days(conn: &mut DbConn) -> QueryResult<Vec<NaiveDate>> {
    activity_daily::table
        .select(a::day)
        .distinct()
        .order(a::day.asc())
        .load(conn)
}

/// Every counter of one day.
pub fn of_day(conn: &mut DbConn, day: NaiveDate) -> QueryResult<Vec<ActivityRow>> {
    activity_daily::table
        .filter(a::day.eq(day))
        .select(ActivityRow::as_select())
        .load(conn)
}

/// Removes every counter of one day (to write them anew).
pub fn delete_day(conn: &mut DbConn, day: NaiveDate) -> QueryResult<usize> {
    diesel::delete(activity_daily::table.filter(a::day.eq(day))).execute(conn)
}

/// Who received these lots of one GTIN: (lot, organization) for each `receive` record naming
/// one of them.
pub fn receivers(
    conn: &mut DbConn,
    gtin: &str,
    lots: &[&str],
) -> QueryResult<Vec<(String, String)>> {
    use super::schema::{record_lots as rl, records as r};
    rl::table
        .inner_join(r::table)
        .filter(
            rl::gtin
                .eq(gtin)
                .and(rl::lot.eq_any(lots))
                .and(r::event.eq(EventType::Receive.as_str())),
        )
        .select((rl::lot, r::actor))
        .distinct()
        .load(conn)
}

/// The organizations among `orgs` that received any lot of a GTIN.
pub fn product_receivers(conn: &mut DbConn, gtin: &str, orgs: &[&str]) -> QueryResult<Vec<String>> {
    use super::schema::{record_lots as rl, records as r};
    r::table
        .inner_join(rl::table)
        .filter(
            r::actor
                .eq_any(orgs)
                .and(r::event.eq(EventType::Receive.as_str()))
                .and(rl::gtin.eq(gtin)),
        )
        .select(r::actor)
        .distinct()
        .load(conn)
}

/// What a dashboard covers, as SQL: the organization's lots (those it created, and through
/// transforms every lot made from them), its brand's products, and its own store.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub org: String,
    /// Its own store (when it is a retailer): everything counted there.
    pub store: Option<String>,
}

/// `made`: the lots the organization `$1` created, and every lot made from them.
const MADE: &str = "WITH RECURSIVE made(gtin, lot) AS (
        SELECT rl.gtin, rl.lot FROM records r
        JOIN record_lots rl ON rl.log_index = r.log_index
        WHERE r.actor = $1 AND rl.prev IS NULL
    UNION
        SELECT i.gtin, i.lot FROM lot_inputs i
        JOIN made m ON i.input_gtin = m.gtin AND i.input_lot = m.lot
    )";

/// The counters of coverage `$1` (organization) and `$3` (store) since day `$2`.
const COVERED: &str = "a.day >= $2 AND (a.store = $3
        OR a.gtin IN (SELECT p.gtin FROM products p WHERE p.brand_org = $1)
        OR (a.gtin, a.lot) IN (SELECT gtin, lot FROM made))";

impl Coverage {
    /// Its counters since `since` one by one, oldest day first (the CSV download).
    pub fn counters(&self, conn: &mut DbConn, since: NaiveDate) -> QueryResult<Vec<ActivityRow>> {
        raw_query!(
            conn,
            &format!(
                "{MADE} SELECT a.* FROM activity_daily a WHERE {COVERED}
                 ORDER BY a.day, a.gtin, a.lot, a.store, a.kind, a.channel"
            ),
            ActivityRow,
            Text => &self.org,
            Date => since,
            Nullable<Text> => self.store.as_deref(),
        )
    }

    /// The first `limit` lots it created or that were made from them (by GTIN and lot code),
    /// with who holds each now.
    pub fn lots(&self, conn: &mut DbConn, limit: i64) -> QueryResult<Vec<LotRow>> {
        let sql = format!(
            "{MADE} SELECT l.* FROM lots l WHERE (l.gtin, l.lot) IN (SELECT gtin, lot FROM made)
             ORDER BY l.gtin, l.lot LIMIT $2"
        );
        raw_query!(conn, &sql, LotRow, Text => &self.org, BigInt => limit)
    }
}
