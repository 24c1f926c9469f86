//! The lots named by recall notices, and the lifts that ended them.

use super::DbConn;
use super::lots::{KEYS_PER_QUERY, columns, pairs};
use super::rows::RecallLotRow;
use super::schema::recall_lots;
use diesel::dsl::exists;
use diesel::prelude::*;

pub fn insert_many(conn: &mut DbConn, rows: &[RecallLotRow]) -> QueryResult<()> {
    insert_rows!(conn, recall_lots::table, rows)
}

/// Ends `actor`'s recalls of a lot that were stored before `before` (the first log index of the
/// batch writing this: the batch's own rows are ended before they are inserted).
pub fn lift(
    conn: &mut DbConn,
    actor: &str,
    (gtin, lot): (&str, &str),
    lift_index: i64,
    before: i64,
) -> QueryResult<usize> {
    diesel::update(
        recall_lots::table.filter(
            recall_lots::actor
                .eq(actor)
                .and(recall_lots::gtin.eq(gtin))
                .and(recall_lots::lot.eq(lot))
                .and(recall_lots::lifted_log_index.is_null())
                .and(recall_lots::log_index.lt(before)),
        ),
    )
    .set(recall_lots::lifted_log_index.eq(Some(lift_index)))
    .execute(conn)
}

/// Whether `actor` has a recall in force naming the lot.
pub fn in_force_by(conn: &mut DbConn, actor: &str, gtin: &str, lot: &str) -> QueryResult<bool> {
    native!(conn, |c| {
        diesel::select(exists(
            recall_lots::table.filter(
                recall_lots::gtin
                    .eq(gtin)
                    .and(recall_lots::lot.eq(lot))
                    .and(recall_lots::actor.eq(actor))
                    .and(recall_lots::lifted_log_index.is_null()),
            ),
        ))
        .get_result(c)
    })
}

/// Every row naming one of `keys`, in force or lifted, oldest notice first.
pub fn naming(conn: &mut DbConn, keys: &[(String, String)]) -> QueryResult<Vec<RecallLotRow>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let (gtins, codes) = columns(chunk);
        let wanted = pairs(chunk);
        let rows: Vec<RecallLotRow> = recall_lots::table
            .filter(
                recall_lots::gtin
                    .eq_any(&gtins)
                    .and(recall_lots::lot.eq_any(&codes)),
            )
            .select(RecallLotRow::as_select())
            .load(conn)?;
        found.extend(
            rows.into_iter()
                .filter(|r| wanted.contains(&(r.gtin.as_str(), r.lot.as_str()))),
        );
    }
    found.sort_by(|a, b| (a.log_index, &a.gtin, &a.lot).cmp(&(b.log_index, &b.gtin, &b.lot)));
    Ok(found)
}

/// Every lot under a recall in force, oldest notice first.
pub fn in_force(conn: &mut DbConn) -> QueryResult<Vec<RecallLotRow>> {
    recall_lots::table
        .filter(recall_lots::lifted_log_index.is_null())
        .order((
            recall_lots::log_index.asc(),
            recall_lots::gtin.asc(),
            recall_lots::lot.asc(),
        ))
        .select(RecallLotRow::as_select())
        .load(conn)
}

/// Every row, for `truetrace verify`.
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<RecallLotRow>> {
    recall_lots::table
        .order((
            recall_lots::log_index.asc(),
            recall_lots::gtin.asc(),
            recall_lots::lot.asc(),
        ))
        .select(RecallLotRow::as_select())
        .load(conn)
}

#[derive(QueryableByName)]
struct NoticeIndex {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log_index: i64,
}

/// The latest recall in force covering a lot: naming it or any lot upstream of it, found by
/// walking the lineage edges up in one recursive query (`lot_inputs_backward`). For one lot
/// where its callers cannot walk the closure themselves (pickups).
pub fn in_force_on(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Option<i64>> {
    use diesel::sql_types::Text;
    let found = raw_query!(
        conn,
        "WITH RECURSIVE up (gtin, lot) AS (
             SELECT CAST($1 AS TEXT), CAST($2 AS TEXT)
             UNION
             SELECT i.input_gtin, i.input_lot FROM lot_inputs i
             JOIN up ON i.gtin = up.gtin AND i.lot = up.lot
         )
         SELECT r.log_index FROM recall_lots r
         JOIN up ON r.gtin = up.gtin AND r.lot = up.lot
         WHERE r.lifted_log_index IS NULL
         ORDER BY r.log_index DESC LIMIT 1",
        NoticeIndex,
        Text => gtin,
        Text => lot,
    )?;
    Ok(found.into_iter().next().map(|n| n.log_index))
}
