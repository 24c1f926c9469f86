//! Queries on the append-only log.

use super::rows::{RecordLotRow, RecordRow};
use super::schema::{record_lots, records};
use super::{DbConn, lots};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};

/// The log indexes of those of `ids` that are stored.
pub fn log_indexes_of(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<(String, i64)>> {
    match conn {
        // One lookup per id: a statement prepared once, where `IN (...)` is prepared anew for
        // every length.
        DbConn::Sqlite(c) => {
            let mut found = Vec::new();
            for id in ids {
                let stored = records::table
                    .filter(records::id.eq(id))
                    .select(records::log_index)
                    .get_result::<i64>(c)
                    .optional()?;
                if let Some(index) = stored {
                    found.push((id.clone(), index));
                }
            }
            Ok(found)
        }
        // `= ANY($1)`: one array parameter, one prepared statement.
        DbConn::Postgres(c) => records::table
            .filter(records::id.eq_any(ids))
            .select((records::id, records::log_index))
            .load(c),
    }
}

pub fn find(conn: &mut DbConn, record_id: &str) -> QueryResult<Option<RecordRow>> {
    records::table
        .filter(records::id.eq(record_id))
        .select(RecordRow::as_select())
        .get_result(conn)
        .optional()
}

/// Inserts records and the lots they name, many rows per statement.
pub fn insert_many(
    conn: &mut DbConn,
    rows: &[RecordRow],
    lots: &[RecordLotRow],
) -> QueryResult<()> {
    insert_rows!(&mut *conn, records::table, rows)?;
    insert_rows!(conn, record_lots::table, lots)
}

/// Takes the ledger's append lock for the rest of the transaction and returns the next log
/// index: a row lock on PostgreSQL (other servers' appends wait here, before they read any head),
/// under the write lock SQLite's `BEGIN IMMEDIATE` already holds.
pub fn lock_log(conn: &mut DbConn) -> QueryResult<i64> {
    native!(conn, |c| {
        use super::schema::ledger_state::dsl::*;
        diesel::update(ledger_state.find(1))
            .set(next_index.eq(next_index))
            .returning(next_index)
            .get_result(c)
    })
}

/// Records the next log index at the end of an append transaction.
pub fn set_next_index(conn: &mut DbConn, next: i64) -> QueryResult<()> {
    native!(conn, |c| {
        use super::schema::ledger_state::dsl::*;
        diesel::update(ledger_state.find(1))
            .set(next_index.eq(next))
            .execute(c)
            .map(|_| ())
    })
}

/// The log index the next accepted record will get: how many records the log says it holds.
pub fn next_index(conn: &mut DbConn) -> QueryResult<i64> {
    use super::schema::ledger_state::dsl::*;
    ledger_state.find(1).select(next_index).get_result(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    records::table.count().get_result(conn)
}

/// A lot a record names (its row of `record_lots`), with the log indexes of the records that
/// name the same lot just before and just after it (`record_lots_by_lot`): what lets `truetrace
/// verify` hold a lot's state only from one record naming it to the next.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = record_lots)]
pub struct NamedLot {
    pub log_index: i64,
    pub position: i32,
    pub gtin: String,
    pub lot: String,
    pub prev: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub named_before: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub named_next: Option<i64>,
}

/// A page of the log in order, with the lots each record names. A lot row whose record is not
/// stored is left out (verify names the missing record).
pub fn page(
    conn: &mut DbConn,
    from: i64,
    limit: i64,
) -> QueryResult<Vec<(RecordRow, Vec<NamedLot>)>> {
    let rows: Vec<RecordRow> = records::table
        .filter(records::log_index.ge(from))
        .order(records::log_index.asc())
        .limit(limit)
        .select(RecordRow::as_select())
        .load(conn)?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let lots = raw_query!(
        conn,
        "SELECT r.log_index, r.position, r.gtin, r.lot, r.prev,
                (SELECT b.log_index FROM record_lots b
                 WHERE b.gtin = r.gtin AND b.lot = r.lot AND b.log_index < r.log_index
                 ORDER BY b.log_index DESC LIMIT 1) AS named_before,
                (SELECT a.log_index FROM record_lots a
                 WHERE a.gtin = r.gtin AND a.lot = r.lot AND a.log_index > r.log_index
                 ORDER BY a.log_index LIMIT 1) AS named_next
         FROM record_lots r WHERE r.log_index BETWEEN $1 AND $2
         ORDER BY r.log_index, r.position",
        NamedLot,
        BigInt => first.log_index,
        BigInt => last.log_index,
    )?;
    let mut lots = lots.into_iter().peekable();
    Ok(rows
        .into_iter()
        .map(|row| {
            while lots.next_if(|l| l.log_index < row.log_index).is_some() {}
            let mut mine = Vec::new();
            while let Some(l) = lots.next_if(|l| l.log_index == row.log_index) {
                mine.push(l);
            }
            (row, mine)
        })
        .collect())
}

/// Every record that names the lot, in log order.
pub fn chain_of(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Vec<RecordRow>> {
    records::table
        .inner_join(record_lots::table)
        .filter(record_lots::gtin.eq(gtin).and(record_lots::lot.eq(lot)))
        .order(records::log_index.asc())
        .select(RecordRow::as_select())
        .load(conn)
}

/// The records at these log indexes, in no particular order; one query per thousand.
pub fn at_indexes(conn: &mut DbConn, indexes: &[i64]) -> QueryResult<Vec<RecordRow>> {
    let mut found = Vec::with_capacity(indexes.len());
    for chunk in indexes.chunks(1000) {
        found.extend(
            records::table
                .filter(records::log_index.eq_any(chunk))
                .select(RecordRow::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}

/// The log index of every record naming any of `keys`, with the lot it names, in log order per
/// lot; one query per `lots::KEYS_PER_QUERY` keys, on `record_lots_by_lot` alone. Payloads stay
/// behind: a pack of a hundred lots is named by each of them, and is read once (`at_indexes`).
pub fn indexes_naming(
    conn: &mut DbConn,
    keys: &[(String, String)],
) -> QueryResult<Vec<((String, String), i64)>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(lots::KEYS_PER_QUERY) {
        let rows: Vec<((String, String), i64)> = match conn {
            DbConn::Sqlite(c) => {
                let (gtins, codes) = lots::columns(chunk);
                let wanted = lots::pairs(chunk);
                let rows: Vec<((String, String), i64)> = record_lots::table
                    .filter(
                        record_lots::gtin
                            .eq_any(gtins)
                            .and(record_lots::lot.eq_any(codes)),
                    )
                    .order(record_lots::log_index.asc())
                    .select((
                        (record_lots::gtin, record_lots::lot),
                        record_lots::log_index,
                    ))
                    .load(c)?;
                rows.into_iter()
                    .filter(|(k, _)| wanted.contains(&(k.0.as_str(), k.1.as_str())))
                    .collect()
            }
            DbConn::Postgres(c) => {
                let (gtins, codes) = lots::unzipped(chunk);
                let rows: Vec<RecordLotRow> = diesel::sql_query(
                    "SELECT r.log_index, r.position, r.gtin, r.lot, r.prev \
                     FROM unnest($1::text[], $2::text[]) AS k(gtin, lot) CROSS JOIN LATERAL \
                     (SELECT * FROM record_lots WHERE gtin = k.gtin AND lot = k.lot) r \
                     ORDER BY r.log_index",
                )
                .bind::<Array<Text>, _>(&gtins)
                .bind::<Array<Text>, _>(&codes)
                .load(c)?;
                rows.into_iter()
                    .map(|r| ((r.gtin, r.lot), r.log_index))
                    .collect()
            }
        };
        found.extend(rows);
    }
    Ok(found)
}

/// When the latest record signed with this key was accepted (`records_by_keyid`).
pub fn last_signed_with(conn: &mut DbConn, key: &str) -> QueryResult<Option<NaiveDateTime>> {
    records::table
        .filter(records::keyid.eq(key))
        .order(records::log_index.desc())
        .select(records::accepted_at)
        .first(conn)
        .optional()
}

/// The lots a record names, in its order.
pub fn lots_of(conn: &mut DbConn, index: i64) -> QueryResult<Vec<RecordLotRow>> {
    record_lots::table
        .filter(record_lots::log_index.eq(index))
        .order(record_lots::position.asc())
        .select(RecordLotRow::as_select())
        .load(conn)
}

/// The log indexes of the records whose event time lies in `[from, until)`, in log order; at
/// most `limit` (`records_by_event_time`).
pub fn indexes_between(
    conn: &mut DbConn,
    from: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    records::table
        .filter(
            records::event_time
                .ge(from)
                .and(records::event_time.lt(until)),
        )
        .order(records::log_index.asc())
        .select(records::log_index)
        .limit(limit)
        .load(conn)
}

/// The log indexes of an organization's records, newest first, at most `limit`
/// (`records_by_actor`).
pub fn recent_indexes_of_actor(
    conn: &mut DbConn,
    actor: &str,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    records::table
        .filter(records::actor.eq(actor))
        .order(records::log_index.desc())
        .select(records::log_index)
        .limit(limit)
        .load(conn)
}
