//! Counted activity per day: adding to the counters and reading them back for dashboards.

use super::DbConn;
use super::rows::ActivityRow;
use super::schema::activity_daily::dsl::*;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// Adds each row's count to its counter (creating it at that count).
pub fn add(conn: &mut DbConn, rows: &[ActivityRow]) -> QueryResult<()> {
    for row in rows {
        native!(conn, |c| {
            diesel::insert_into(activity_daily)
                .values(row)
                .on_conflict((day, gtin, lot, store, kind, channel))
                .do_update()
                .set(count.eq(count + excluded(count)))
                .execute(c)
        })?;
    }
    Ok(())
}

/// Counters since `since` for any of these products, or held by this store.
pub fn since_for(
    conn: &mut DbConn,
    since: NaiveDate,
    gtins: &[String],
    for_store: Option<&str>,
) -> QueryResult<Vec<ActivityRow>> {
    let by_product = activity_daily
        .filter(day.ge(since).and(gtin.eq_any(gtins)))
        .select(ActivityRow::as_select());
    let mut rows = by_product.load(conn)?;
    if let Some(wanted) = for_store {
        rows.retain(|r| r.store != wanted);
        rows.extend(
            activity_daily
                .filter(day.ge(since).and(store.eq(wanted)))
                .select(ActivityRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}
