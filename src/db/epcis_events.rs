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

/// Every row, for `truetrace verify`.
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<EpcisEventRow>> {
    epcis_events::table
        .order((epcis_events::actor.asc(), epcis_events::event_id.asc()))
        .select(EpcisEventRow::as_select())
        .load(conn)
}
