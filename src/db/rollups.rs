//! Dashboard roll-ups: each counter added, when counts are flushed, to the dashboards of the
//! organizations that see it (its audience), so that a dashboard reads a few thousand sums however
//! many counters it covers.
//!
//! A counter's audience is the brand of its product, every organization that created its lot or a
//! lot it was made from, and the store it was counted at when that store is a retailer: exactly the
//! organizations whose [`Coverage`](super::activity::Coverage) includes it.
//!
//! - `dashboard_daily`: sums per organization, day, kind and channel (chart, totals, channels);
//! - `dashboard_running`: running totals of a series (a lot and kind, or a store and kind) on
//!   each day it had activity, and `dashboard_series` its total and last day. A window's sum
//!   for a series is its total minus its running total before the window: two index seeks,
//!   whatever the length of the window.

use super::DbConn;
use super::rows::{ActivityRow, OrgRow};
use super::schema::{
    dashboard_daily as daily, dashboard_running as running, dashboard_series as series, products,
};
use super::{kv, orgs};
use crate::domain::Role;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};
use diesel::upsert::excluded;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Sums per day, kind and channel.
#[derive(Debug, Clone, Queryable)]
pub struct DayTotal {
    pub day: NaiveDate,
    pub kind: String,
    pub channel: String,
    pub count: i64,
}

/// The sum of one series over a window: a lot's (`store` empty) or a store's (`gtin` and `lot`
/// empty) counts of one kind.
#[derive(Debug, Clone, QueryableByName)]
pub struct SeriesTotal {
    #[diesel(sql_type = Text)]
    pub gtin: String,
    #[diesel(sql_type = Text)]
    pub lot: String,
    #[diesel(sql_type = Text)]
    pub store: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// One series of one organization's dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    org: String,
    gtin: String,
    lot: String,
    store: String,
    kind: String,
}

/// The series a counter adds to: its lot's, and its store's.
fn series_of(org: &str, row: &ActivityRow) -> Vec<SeriesKey> {
    let key = |gtin: &str, lot: &str, store: &str| SeriesKey {
        org: org.to_owned(),
        gtin: gtin.to_owned(),
        lot: lot.to_owned(),
        store: store.to_owned(),
        kind: row.kind.clone(),
    };
    let mut keys = Vec::new();
    if !row.lot.is_empty() {
        keys.push(key(&row.gtin, &row.lot, ""));
    }
    if !row.store.is_empty() {
        keys.push(key("", "", &row.store));
    }
    keys
}

/// Who sees counters, looked up once per product and lot while adding a batch.
struct Audiences {
    brands: HashMap<String, Option<String>>,
    makers: HashMap<(String, String), Vec<String>>,
    retailers: HashSet<String>,
}

impl Audiences {
    fn new(retailers: &HashSet<String>) -> Self {
        Self {
            brands: HashMap::new(),
            makers: HashMap::new(),
            retailers: retailers.clone(),
        }
    }

    fn of(&mut self, conn: &mut DbConn, row: &ActivityRow) -> QueryResult<Vec<String>> {
        let mut who: Vec<String> = Vec::new();
        if !self.brands.contains_key(&row.gtin) {
            let brand = products::table
                .find(&row.gtin)
                .select(products::brand_org)
                .get_result::<Option<String>>(conn)
                .optional()?
                .flatten();
            self.brands.insert(row.gtin.clone(), brand);
        }
        who.extend(self.brands[&row.gtin].iter().cloned());
        if !row.lot.is_empty() {
            let lot = (row.gtin.clone(), row.lot.clone());
            if !self.makers.contains_key(&lot) {
                let makers = makers(conn, &row.gtin, &row.lot)?;
                self.makers.insert(lot.clone(), makers);
            }
            who.extend(self.makers[&lot].iter().cloned());
        }
        if self.retailers.contains(&row.store) {
            who.push(row.store.clone());
        }
        who.sort();
        who.dedup();
        Ok(who)
    }
}

/// The organizations that created a lot or any lot it was made from.
fn makers(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Maker {
        #[diesel(sql_type = Text)]
        actor: String,
    }
    let sql = "WITH RECURSIVE up(gtin, lot) AS (
            SELECT CAST($1 AS TEXT), CAST($2 AS TEXT)
        UNION
            SELECT i.input_gtin, i.input_lot FROM lot_inputs i
            JOIN up ON i.gtin = up.gtin AND i.lot = up.lot
        )
        SELECT DISTINCT r.actor FROM up
        JOIN lots l ON l.gtin = up.gtin AND l.lot = up.lot
        JOIN records r ON r.log_index = l.created_log_index";
    let found = raw_query!(conn, sql, Maker, Text => gtin, Text => lot)?;
    Ok(found.into_iter().map(|m| m.actor).collect())
}

/// The retailers among these organizations: the stores whose counts reach their own dashboard.
pub fn retailers(orgs: &[OrgRow]) -> HashSet<String> {
    orgs.iter()
        .filter(|o| o.has_role(Role::Retailer))
        .map(|o| o.id.clone())
        .collect()
}

/// Adds counters (already added to `activity_daily`) to the dashboards of their audiences;
/// `retailers` holds at least the retailers among the counters' stores. Call inside the
/// transaction that adds them to `activity_daily`.
pub fn add(
    conn: &mut DbConn,
    rows: &[ActivityRow],
    retailers: &HashSet<String>,
) -> QueryResult<()> {
    // Running totals are read and then written: one flush at a time (SQLite's write transaction
    // already is; on PostgreSQL several servers may flush at once).
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(7261737472616366)").execute(c)?;
    }
    let mut audiences = Audiences::new(retailers);
    let mut by_day: HashMap<(String, NaiveDate, &str, &str), i64> = HashMap::new();
    let mut by_series: HashMap<SeriesKey, BTreeMap<NaiveDate, i64>> = HashMap::new();
    for row in rows {
        for org in audiences.of(conn, row)? {
            for key in series_of(&org, row) {
                *by_series
                    .entry(key)
                    .or_default()
                    .entry(row.day)
                    .or_insert(0) += row.count;
            }
            *by_day
                .entry((org, row.day, &row.kind, &row.channel))
                .or_insert(0) += row.count;
        }
    }
    for ((org, day, kind, channel), n) in by_day {
        native!(conn, |c| {
            diesel::insert_into(daily::table)
                .values((
                    daily::org.eq(&org),
                    daily::day.eq(day),
                    daily::kind.eq(kind),
                    daily::channel.eq(channel),
                    daily::count.eq(n),
                ))
                .on_conflict((daily::org, daily::day, daily::kind, daily::channel))
                .do_update()
                .set(daily::count.eq(daily::count + excluded(daily::count)))
                .execute(c)
        })?;
    }
    for (key, days) in by_series {
        add_to_series(conn, &key, &days)?;
    }
    Ok(())
}

/// A running total, as inserted.
#[derive(Insertable)]
#[diesel(table_name = running)]
struct RunningRow<'a> {
    org: &'a str,
    gtin: &'a str,
    lot: &'a str,
    store: &'a str,
    kind: &'a str,
    day: NaiveDate,
    total: i64,
}

impl SeriesKey {
    fn running(&self, day: NaiveDate, total: i64) -> RunningRow<'_> {
        RunningRow {
            org: &self.org,
            gtin: &self.gtin,
            lot: &self.lot,
            store: &self.store,
            kind: &self.kind,
            day,
            total,
        }
    }
}

macro_rules! of_series {
    ($table:ident, $key:expr) => {
        $table::org
            .eq(&$key.org)
            .and($table::gtin.eq(&$key.gtin))
            .and($table::lot.eq(&$key.lot))
            .and($table::store.eq(&$key.store))
            .and($table::kind.eq(&$key.kind))
    };
}

/// Adds counts per day to a series: its running totals from each of those days on, and its total.
fn add_to_series(
    conn: &mut DbConn,
    key: &SeriesKey,
    days: &BTreeMap<NaiveDate, i64>,
) -> QueryResult<()> {
    let current: Option<(i64, NaiveDate)> = series::table
        .filter(of_series!(series, key))
        .select((series::total, series::last_day))
        .get_result(conn)
        .optional()?;
    let mut total = current.map_or(0, |(t, _)| t);
    let mut last_day = current.map(|(_, d)| d);
    // Days up to the series' last day (today again, or counts flushed after midnight) raise
    // running totals already stored; later days are new rows at its end, written in one go.
    // Within a flush, days come in order.
    let mut new_rows = Vec::new();
    for (&day, &n) in days {
        total += n;
        if last_day == Some(day) {
            // The usual flush: more counts on the series' last day, its last running total.
            diesel::update(
                running::table.filter(of_series!(running, key).and(running::day.eq(day))),
            )
            .set(running::total.eq(running::total + n))
            .execute(conn)?;
        } else if last_day.is_some_and(|last| day < last) {
            raise_from(conn, key, day, n)?;
        } else {
            new_rows.push(key.running(day, total));
        }
    }
    if let Some(newest) = new_rows.last() {
        last_day = Some(newest.day);
    }
    for chunk in new_rows.chunks(500) {
        native!(conn, |c| diesel::insert_into(running::table)
            .values(chunk)
            .execute(c))?;
    }
    let last_day = last_day.expect("a series with counts has a last day");
    if current.is_some() {
        diesel::update(series::table.filter(of_series!(series, key)))
            .set((series::total.eq(total), series::last_day.eq(last_day)))
            .execute(conn)?;
    } else {
        diesel::insert_into(series::table)
            .values((
                series::org.eq(&key.org),
                series::gtin.eq(&key.gtin),
                series::lot.eq(&key.lot),
                series::store.eq(&key.store),
                series::kind.eq(&key.kind),
                series::total.eq(total),
                series::last_day.eq(last_day),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds `n` on `day`, before the series' last day, to the running totals from `day` on.
fn raise_from(conn: &mut DbConn, key: &SeriesKey, day: NaiveDate, n: i64) -> QueryResult<()> {
    let before: Option<(NaiveDate, i64)> = running::table
        .filter(of_series!(running, key).and(running::day.le(day)))
        .order(running::day.desc())
        .select((running::day, running::total))
        .first(conn)
        .optional()?;
    let from = match before {
        Some((d, _)) if d == day => day,
        _ => {
            diesel::insert_into(running::table)
                .values(key.running(day, before.map_or(0, |(_, t)| t) + n))
                .execute(conn)?;
            day + chrono::Duration::days(1)
        }
    };
    diesel::update(running::table.filter(of_series!(running, key).and(running::day.ge(from))))
        .set(running::total.eq(running::total + n))
        .execute(conn)?;
    Ok(())
}

/// An organization's sums per day, kind and channel since `since`.
pub fn daily(conn: &mut DbConn, org: &str, since: NaiveDate) -> QueryResult<Vec<DayTotal>> {
    daily::table
        .filter(daily::org.eq(org).and(daily::day.ge(since)))
        .select((daily::day, daily::kind, daily::channel, daily::count))
        .load(conn)
}

/// An organization's sum of each series with activity since `since`.
pub fn series_since(
    conn: &mut DbConn,
    org: &str,
    since: NaiveDate,
) -> QueryResult<Vec<SeriesTotal>> {
    let sql = "SELECT s.gtin, s.lot, s.store, s.kind, s.total - COALESCE((
            SELECT r.total FROM dashboard_running r
            WHERE r.org = s.org AND r.gtin = s.gtin AND r.lot = s.lot AND r.store = s.store
              AND r.kind = s.kind AND r.day < $2
            ORDER BY r.day DESC LIMIT 1), 0) AS count
        FROM dashboard_series s WHERE s.org = $1 AND s.last_day >= $2";
    raw_query!(conn, sql, SeriesTotal, Text => org, Date => since)
}

/// The settings entry that says the roll-ups hold every counter.
const BUILT: &str = "dashboard_rollups";

/// Has the roll-ups built again from `activity_daily` by the next [`build_if_missing`] (after
/// the stored counters changed).
pub fn mark_stale(conn: &mut DbConn) -> QueryResult<()> {
    kv::delete(conn, BUILT)
}

/// Builds the roll-ups from `activity_daily` if they were never built (the first start after
/// the migration that added them), day by day in one transaction. Returns the counters added.
pub fn build_if_missing(conn: &mut DbConn) -> QueryResult<usize> {
    super::write_transaction(conn, |conn| {
        if kv::get(conn, BUILT)?.is_some() {
            return Ok(0);
        }
        diesel::delete(daily::table).execute(conn)?;
        diesel::delete(running::table).execute(conn)?;
        diesel::delete(series::table).execute(conn)?;
        let retailers = retailers(&orgs::all(conn)?);
        let mut added = 0;
        for day in super::activity::days(conn)? {
            let rows = super::activity::of_day(conn, day)?;
            add(conn, &rows, &retailers)?;
            added += rows.len();
        }
        kv::put(conn, BUILT, "1")?;
        Ok(added)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lot: &str, store: &str) -> ActivityRow {
        ActivityRow {
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            gtin: "04712345000022".into(),
            lot: lot.into(),
            store: store.into(),
            kind: "scan".into(),
            channel: "shelf".into(),
            count: 1,
        }
    }

    #[test]
    fn a_counter_adds_to_its_lot_and_its_store() {
        let both = series_of("o", &row("L1", "s1"));
        assert_eq!(both.len(), 2);
        assert_eq!(
            (both[0].gtin.as_str(), both[0].lot.as_str()),
            ("04712345000022", "L1")
        );
        assert_eq!((both[1].gtin.as_str(), both[1].store.as_str()), ("", "s1"));
        assert_eq!(
            series_of("o", &row("", "")).len(),
            0,
            "a product-level count"
        );
        assert_eq!(series_of("o", &row("L1", "")).len(), 1);
    }

    /// One count at a store: (days back from the newest day, lot, kind, n).
    type Event = (u8, u8, u8, i64);

    fn store_with_counts(
        batches: &[Vec<Event>],
    ) -> (tempfile::TempDir, super::super::DbPool, String, NaiveDate) {
        let dir = tempfile::tempdir().unwrap();
        let url = super::super::DatabaseUrl::parse(&format!(
            "sqlite://{}",
            dir.path().join("t.db").display()
        ))
        .unwrap();
        let pool = super::super::connect(&url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let store = crate::accounts::registry::create_org(
            &mut conn,
            &crate::accounts::registry::NewOrgRequest {
                name: "Store".into(),
                name_zh: None,
                roles: vec!["retailer".into()],
                gln: None,
            },
        )
        .unwrap()
        .id;
        let newest = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        for batch in batches {
            let rows: Vec<ActivityRow> = batch
                .iter()
                .map(|&(back, lot, kind, n)| ActivityRow {
                    day: newest - chrono::Duration::days(i64::from(back)),
                    gtin: "04712345000022".into(),
                    lot: format!("L{lot}"),
                    store: store.clone(),
                    kind: ["scan", "pickup"][usize::from(kind)].into(),
                    channel: "shelf".into(),
                    count: n,
                })
                .collect();
            let retailers = HashSet::from([store.clone()]);
            super::super::write_transaction(&mut conn, |c| add(c, &rows, &retailers)).unwrap();
        }
        drop(conn);
        (dir, pool, store, newest)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever the order in which days are flushed (backdated counts included), the sums
        /// over any window are those of the counts in it.
        #[test]
        fn window_sums_match_the_counts(batches in proptest::collection::vec(
            proptest::collection::vec((0u8..12, 0u8..3, 0u8..2, 1i64..5), 1..12), 1..5)
        ) {
            let (_dir, pool, store, newest) = store_with_counts(&batches);
            let mut conn = pool.get().unwrap();
            let events: Vec<Event> = batches.concat();
            for back in 0..13u8 {
                let since = newest - chrono::Duration::days(i64::from(back));
                let mut expected: BTreeMap<(String, String, String), i64> = BTreeMap::new();
                let mut expected_days: BTreeMap<(NaiveDate, String), i64> = BTreeMap::new();
                for &(b, lot, kind, n) in events.iter().filter(|e| e.0 <= back) {
                    let kind = ["scan", "pickup"][usize::from(kind)].to_owned();
                    *expected.entry((format!("L{lot}"), String::new(), kind.clone())).or_default() += n;
                    *expected.entry((String::new(), store.clone(), kind.clone())).or_default() += n;
                    let day = newest - chrono::Duration::days(i64::from(b));
                    *expected_days.entry((day, kind)).or_default() += n;
                }
                let got: BTreeMap<(String, String, String), i64> = series_since(&mut conn, &store, since)
                    .unwrap()
                    .into_iter()
                    .map(|s| ((s.lot, s.store, s.kind), s.count))
                    .collect();
                proptest::prop_assert_eq!(&got, &expected, "since {}", since);
                let days: BTreeMap<(NaiveDate, String), i64> = daily(&mut conn, &store, since)
                    .unwrap()
                    .into_iter()
                    .map(|d| ((d.day, d.kind), d.count))
                    .collect();
                proptest::prop_assert_eq!(&days, &expected_days, "since {}", since);
            }
        }
    }

    /// A store upgraded from before the roll-ups: its counters are in `activity_daily` only.
    #[test]
    fn roll_ups_are_built_from_earlier_counters_once() {
        let (_dir, pool, store, newest) = store_with_counts(&[]);
        let mut conn = pool.get().unwrap();
        let earlier: Vec<ActivityRow> = (0..3)
            .map(|back| ActivityRow {
                day: newest - chrono::Duration::days(back),
                gtin: "04712345000022".into(),
                lot: "L1".into(),
                store: store.clone(),
                kind: "scan".into(),
                channel: "shelf".into(),
                count: 10 + back,
            })
            .collect();
        super::super::activity::add(&mut conn, &earlier).unwrap();
        diesel::delete(super::super::schema::settings::table.find(BUILT))
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(build_if_missing(&mut conn).unwrap(), 3);
        assert_eq!(build_if_missing(&mut conn).unwrap(), 0, "built once");
        let mut sums = |since| -> Vec<(String, i64)> {
            let mut sums: Vec<(String, i64)> = series_since(&mut conn, &store, since)
                .unwrap()
                .into_iter()
                .map(|s| (format!("{}{}", s.lot, s.store), s.count))
                .collect();
            sums.sort();
            sums
        };
        let all = sums(newest - chrono::Duration::days(2));
        let last_two = sums(newest - chrono::Duration::days(1));
        let expected = |n| {
            let mut e = vec![("L1".to_owned(), n), (store.clone(), n)];
            e.sort();
            e
        };
        assert_eq!(all, expected(33));
        assert_eq!(last_two, expected(21));
    }
}
