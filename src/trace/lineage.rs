//! Tracing a lot through the ledger: its chain, and upstream through transforms to every lot it
//! was made from. Loaded from the database, shaped by callers (the JSON API, the provenance page).

use crate::db::rows::{LotInputRow, LotRow, RecordRow};
use crate::db::{DbConn, lots, records};
use diesel::QueryResult;
use std::collections::{HashSet, VecDeque};

/// The most lots one upstream answer holds; past it the answer says it was cut.
pub const MAX_UPSTREAM_LOTS: usize = 2000;

#[derive(Debug, Clone)]
pub struct LotChain {
    pub lot: LotRow,
    pub records: Vec<RecordRow>,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    /// The lot asked for first, then its inputs breadth-first.
    pub lots: Vec<LotChain>,
    pub edges: Vec<LotInputRow>,
    pub truncated: bool,
}

pub fn lot_chain(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Option<LotChain>> {
    let Some(row) = lots::find(conn, gtin, lot)? else {
        return Ok(None);
    };
    let records = records::chain_of(conn, gtin, lot)?;
    Ok(Some(LotChain { lot: row, records }))
}

pub fn upstream(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<Option<Upstream>> {
    let Some(root) = lot_chain(conn, gtin, lot)? else {
        return Ok(None);
    };
    let mut seen: HashSet<(String, String)> = HashSet::from([(gtin.to_owned(), lot.to_owned())]);
    let mut queue = VecDeque::from([(gtin.to_owned(), lot.to_owned())]);
    let mut result = Upstream {
        lots: vec![root],
        edges: Vec::new(),
        truncated: false,
    };
    while let Some((g, l)) = queue.pop_front() {
        for edge in lots::inputs_of(conn, &g, &l)? {
            let input = (edge.input_gtin.clone(), edge.input_lot.clone());
            result.edges.push(edge);
            if !seen.insert(input.clone()) {
                continue;
            }
            if result.lots.len() >= MAX_UPSTREAM_LOTS {
                result.truncated = true;
                continue;
            }
            if let Some(chain) = lot_chain(conn, &input.0, &input.1)? {
                result.lots.push(chain);
                queue.push_back(input);
            }
        }
    }
    Ok(Some(result))
}
