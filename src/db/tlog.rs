//! Queries of the transparency log: full tiles (`log_tiles`), the latest signed checkpoint
//! (`log_checkpoint`), and the parts of each record its leaf hash is made of.

use super::DbConn;
use super::schema::{log_checkpoint, log_tiles, records};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = log_tiles)]
pub struct TileRow {
    pub level: i32,
    pub idx: i64,
    /// 256 hashes of 32 bytes.
    pub hashes: Vec<u8>,
    pub root: Vec<u8>,
}

/// Stores full tiles; a tile already stored (the same bytes, since a tile is a function of the
/// log) is left as it is.
pub fn insert_tiles(conn: &mut DbConn, rows: &[TileRow]) -> QueryResult<()> {
    for row in rows {
        native!(&mut *conn, |c| {
            diesel::insert_into(log_tiles::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?
        });
    }
    Ok(())
}

/// The hashes of a full tile.
pub fn tile(conn: &mut DbConn, level: i32, idx: i64) -> QueryResult<Option<Vec<u8>>> {
    log_tiles::table
        .find((level, idx))
        .select(log_tiles::hashes)
        .get_result(conn)
        .optional()
}

/// The roots of the full tiles of `level` from `from` up to (not including) `to`, in order.
pub fn roots(
    conn: &mut DbConn,
    level: i32,
    from: i64,
    to: i64,
) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    log_tiles::table
        .filter(log_tiles::level.eq(level))
        .filter(log_tiles::idx.ge(from).and(log_tiles::idx.lt(to)))
        .order(log_tiles::idx.asc())
        .select((log_tiles::idx, log_tiles::root))
        .load(conn)
}

/// How many full tiles of `level` are stored from 0 on without a gap (the index of the first
/// one missing).
pub fn full_tiles(conn: &mut DbConn, level: i32) -> QueryResult<i64> {
    let count: i64 = log_tiles::table
        .filter(log_tiles::level.eq(level))
        .count()
        .get_result(conn)?;
    Ok(count)
}

/// A record's log index and the parts of its leaf: keyid (hex), signature, payload.
pub type LeafParts = (i64, String, Vec<u8>, Vec<u8>);

/// The parts of a leaf of the records from `from` up to (not including) `to`, in log order.
pub fn leaf_parts(conn: &mut DbConn, from: i64, to: i64) -> QueryResult<Vec<LeafParts>> {
    records::table
        .filter(records::log_index.ge(from).and(records::log_index.lt(to)))
        .order(records::log_index.asc())
        .select((
            records::log_index,
            records::keyid,
            records::sig,
            records::payload,
        ))
        .load(conn)
}

/// The latest signed checkpoint: its tree size and note.
pub fn checkpoint(conn: &mut DbConn) -> QueryResult<Option<(i64, String)>> {
    log_checkpoint::table
        .find(1)
        .select((log_checkpoint::tree_size, log_checkpoint::note))
        .get_result(conn)
        .optional()
}

/// Keeps `note` as the latest checkpoint unless a larger tree's is stored already (another
/// server's); true when it was kept.
pub fn store_checkpoint(
    conn: &mut DbConn,
    size: i64,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let inserted = native!(&mut *conn, |c| {
        diesel::insert_into(log_checkpoint::table)
            .values((
                log_checkpoint::id.eq(1),
                log_checkpoint::tree_size.eq(size),
                log_checkpoint::note.eq(note),
                log_checkpoint::signed_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c)?
    });
    if inserted == 1 {
        return Ok(true);
    }
    let updated = diesel::update(
        log_checkpoint::table
            .find(1)
            .filter(log_checkpoint::tree_size.le(size)),
    )
    .set((
        log_checkpoint::tree_size.eq(size),
        log_checkpoint::note.eq(note),
        log_checkpoint::signed_at.eq(now),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}
