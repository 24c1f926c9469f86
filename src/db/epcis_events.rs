//! The EPCIS events organizations have recorded, by eventID: what makes an import idempotent.

use super::DbConn;
use super::rows::EpcisEventRow;
use super::schema::{epcis_events, records};
use diesel::prelude::*;

pub fn insert_many(conn: &mut DbConn, rows: &[EpcisEventRow]) -> QueryResult<()> {
    insert_rows!(conn, epcis_events::table, rows)
}

/// The record (its id and log index) that is `actor`'s EPCIS event `event_id`, if any.
pub fn find(conn: &mut DbConn, actor: &str, event_id: &str) -> QueryResult<Option<(String, i64)>> {
    native!(conn, |c| {
        epcis_events::table
            .inner_join(records::table)
            .filter(
                epcis_events::actor
                    .eq(actor)
                    .and(epcis_events::event_id.eq(event_id)),
            )
            .select((records::id, records::log_index))
            .get_result(c)
            .optional()
    })
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    epcis_events::table.count().get_result(conn)
}

/// The stored rows among `keys` (actor, eventID): one primary-key lookup each.
pub fn find_keys(conn: &mut DbConn, keys: &[(String, String)]) -> QueryResult<Vec<EpcisEventRow>> {
    let mut found = Vec::new();
    for (actor, event_id) in keys {
        let stored = epcis_events::table
            .find((actor, event_id))
            .select(EpcisEventRow::as_select())
            .get_result(conn)
            .optional()?;
        found.extend(stored);
    }
    Ok(found)
}

/// At most `limit` rows after `after` in (actor, eventID) order, for `truetrace verify`.
pub fn page_after(
    conn: &mut DbConn,
    after: Option<&(String, String)>,
    limit: i64,
) -> QueryResult<Vec<EpcisEventRow>> {
    let mut query = epcis_events::table
        .order((epcis_events::actor.asc(), epcis_events::event_id.asc()))
        .limit(limit)
        .select(EpcisEventRow::as_select())
        .into_boxed();
    if let Some((actor, event_id)) = after {
        query = query.filter(
            epcis_events::actor.gt(actor.clone()).or(epcis_events::actor
                .eq(actor.clone())
                .and(epcis_events::event_id.gt(event_id.clone()))),
        );
    }
    query.load(conn)
}
