//! Recalls as their readers see them. A recall covers the lots its notice names and every lot
//! made from them, at any depth, including lots made after the notice: so coverage is read, not
//! stored. For one lot (a provenance page, an embed, a pickup) its backward closure is matched
//! against the lots notices name; for many (the shop, a store's shelves) the forward closure of
//! the lots under a recall in force is walked once and matched against what is shown.

use crate::db::rows::{KeyRow, OrgRow, RecallLotRow, RecordRow};
use crate::db::{DbConn, keys, orgs, recalls, records};
use crate::ledger::audit::check_stored_record;
use crate::ledger::recall::Notice;
use crate::omo::stock::StockLine;
use crate::trace::closure::{self, Direction, Key};
use chrono::{DateTime, FixedOffset};
use diesel::QueryResult;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many lots of a closure coverage reads: past it a lot is not found covered through the
/// rest (a provenance page reads at most `lineage::MAX_UPSTREAM_LOTS` upstream lots anyway).
const MAX_COVERAGE_WALK: usize = closure::MAX_REACH;

/// The end of a recall for the lots it named.
#[derive(Debug, Clone)]
pub struct Lifted {
    pub id: String,
    pub time: DateTime<FixedOffset>,
}

/// A recall notice that covers what was asked about.
#[derive(Debug, Clone)]
pub struct Recall {
    /// The notice's record id and log index.
    pub id: String,
    pub log_index: i64,
    pub notice: Notice,
    pub issuer: Option<OrgRow>,
    /// The lots it names through which it covers what was asked about.
    pub via: Vec<Key>,
    /// Set once every lot in `via` was lifted: the latest lift.
    pub lifted: Option<Lifted>,
    /// Why the stored notice does not verify; empty when it does.
    pub problems: Vec<String>,
}

impl Recall {
    pub fn in_force(&self) -> bool {
        self.lifted.is_none()
    }
}

/// Every recall, in force or lifted, that names one of `lots` (a lot and its upstream closure),
/// oldest first.
pub fn naming(conn: &mut DbConn, lots: &[Key]) -> QueryResult<Vec<Recall>> {
    let rows = recalls::naming(conn, lots)?;
    load(conn, rows)
}

/// Every recall that covers the lot (names it or a lot it was made from), oldest first.
pub fn of_lot(conn: &mut DbConn, key: &Key) -> QueryResult<Vec<Recall>> {
    let upstream = closure_keys(conn, key, Direction::Backward)?;
    naming(conn, &upstream)
}

/// The first recall in force covering the lot, if any.
pub fn in_force_on(conn: &mut DbConn, key: &Key) -> QueryResult<Option<Recall>> {
    Ok(of_lot(conn, key)?.into_iter().find(Recall::in_force))
}

/// The lot and every lot reached from it in one direction.
fn closure_keys(conn: &mut DbConn, start: &Key, direction: Direction) -> QueryResult<Vec<Key>> {
    let forward = direction == Direction::Forward;
    let walked = closure::walk(start.clone(), MAX_COVERAGE_WALK, |frontier| {
        Ok::<_, diesel::result::Error>(
            crate::db::lots::edges_at(conn, frontier, forward)?
                .into_iter()
                .map(|e| {
                    let (input, output) = ((e.input_gtin, e.input_lot), (e.gtin, e.lot));
                    let (from, to) = if forward {
                        (input, output)
                    } else {
                        (output, input)
                    };
                    closure::Step {
                        from,
                        to,
                        log_index: e.log_index,
                    }
                })
                .collect(),
        )
    })?;
    Ok(walked.lots.into_iter().map(|r| r.key).collect())
}

/// Every lot covered by a recall in force, with those recalls: for pages that show many lots.
#[derive(Debug, Clone, Default)]
pub struct Covered {
    pub recalls: Vec<Recall>,
    /// Covered lot -> indexes into `recalls`.
    lots: HashMap<Key, Vec<usize>>,
}

impl Covered {
    /// Walks forward from every lot under a recall in force (nothing to walk, and no query past
    /// the first, when none is).
    pub fn load(conn: &mut DbConn) -> QueryResult<Self> {
        let rows = recalls::in_force(conn)?;
        if rows.is_empty() {
            return Ok(Self::default());
        }
        let named: Vec<Key> = rows
            .iter()
            .map(|r| (r.gtin.clone(), r.lot.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let recalls = load(conn, rows)?;
        let mut lots: HashMap<Key, Vec<usize>> = HashMap::new();
        for start in named {
            let through: Vec<usize> = recalls
                .iter()
                .enumerate()
                .filter(|(_, r)| r.via.contains(&start))
                .map(|(i, _)| i)
                .collect();
            for key in closure_keys(conn, &start, Direction::Forward)? {
                let entry = lots.entry(key).or_default();
                for i in &through {
                    if !entry.contains(i) {
                        entry.push(*i);
                    }
                }
            }
        }
        Ok(Self { recalls, lots })
    }

    pub fn is_empty(&self) -> bool {
        self.lots.is_empty()
    }

    /// The recalls in force covering a lot.
    pub fn of(&self, key: &Key) -> Vec<&Recall> {
        self.lots
            .get(key)
            .map(|found| found.iter().map(|i| &self.recalls[*i]).collect())
            .unwrap_or_default()
    }

    /// Every lot the recall at `log_index` covers.
    pub fn covered_by(&self, log_index: i64) -> Vec<Key> {
        let Some(i) = self.recalls.iter().position(|r| r.log_index == log_index) else {
            return Vec::new();
        };
        self.lots
            .iter()
            .filter(|(_, found)| found.contains(&i))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn covers(&self, gtin: &str, lot: &str) -> bool {
        self.lots.contains_key(&(gtin.to_owned(), lot.to_owned()))
    }

    /// The recalls in force covering any lot of a product.
    pub fn of_product(&self, gtin: &str) -> Vec<&Recall> {
        let mut found: Vec<usize> = self
            .lots
            .iter()
            .filter(|(k, _)| k.0 == gtin)
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| &self.recalls[i]).collect()
    }
}

/// What a recall notice's id names, for the sheet of the lots it covers.
#[derive(Debug, Clone)]
pub enum Asked {
    /// A recall in force, with every lot it covers now (the lots it names and every lot made
    /// from them, at any depth).
    InForce { recall: Recall, covered: Vec<Key> },
    /// A recall every lot of which was lifted: it covers nothing now.
    Lifted(Recall),
    /// A stored entry that is not a recall (a record, a lift).
    NotARecall,
    /// Nothing stored has this id.
    Unknown,
}

/// The recall whose notice has record id `id`, with what it covers now (`Covered`'s walk).
pub fn covered_set(conn: &mut DbConn, id: &str) -> QueryResult<Asked> {
    let covered = Covered::load(conn)?;
    if let Some(recall) = covered.recalls.iter().find(|r| r.id == id) {
        let mut lots = covered.covered_by(recall.log_index);
        lots.sort();
        return Ok(Asked::InForce {
            recall: recall.clone(),
            covered: lots,
        });
    }
    let Some(row) = records::find(conn, id)? else {
        return Ok(Asked::Unknown);
    };
    let Ok(notice) = Notice::from_payload(&row.payload) else {
        return Ok(Asked::NotARecall);
    };
    let named: Vec<Key> = notice
        .lots
        .iter()
        .map(|k| (k.gtin.to_string(), k.lot.to_string()))
        .collect();
    // Only a recall (not a lift) has rows of its own; it is not in force, so it was lifted.
    Ok(naming(conn, &named)?
        .into_iter()
        .find(|r| r.log_index == row.log_index)
        .map_or(Asked::NotARecall, Asked::Lifted))
}

/// What a store must take off its shelves: its stock lines of covered lots, with the recalls.
pub fn pull_list<'a>(
    covered: &'a Covered,
    stock: &[StockLine],
) -> Vec<(StockLine, Vec<&'a Recall>)> {
    stock
        .iter()
        .filter_map(|line| {
            let found = covered.of(&(line.lot.gtin.clone(), line.lot.lot.clone()));
            (!found.is_empty()).then(|| (line.clone(), found))
        })
        .collect()
}

/// The notices of `rows` (one row per lot named), each with the lifts that ended it.
fn load(conn: &mut DbConn, rows: Vec<RecallLotRow>) -> QueryResult<Vec<Recall>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_notice: BTreeMap<i64, Vec<RecallLotRow>> = BTreeMap::new();
    for row in rows {
        by_notice.entry(row.log_index).or_default().push(row);
    }
    let mut indexes: Vec<i64> = by_notice
        .iter()
        .flat_map(|(i, rows)| {
            std::iter::once(*i).chain(rows.iter().filter_map(|r| r.lifted_log_index))
        })
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    let entries: HashMap<i64, RecordRow> = records::at_indexes(conn, &indexes)?
        .into_iter()
        .map(|r| (r.log_index, r))
        .collect();
    let issuers: Vec<String> = by_notice
        .values()
        .filter_map(|rows| rows.first().map(|r| r.actor.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let issuers: HashMap<String, OrgRow> = orgs::by_ids(conn, &issuers)?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
    let mut key_rows: HashMap<String, Option<KeyRow>> = HashMap::new();
    let mut out = Vec::new();
    for (log_index, rows) in by_notice {
        // The log is append-only and the rows are written with their notice.
        let Some(entry) = entries.get(&log_index) else {
            continue;
        };
        if !key_rows.contains_key(&entry.keyid) {
            key_rows.insert(entry.keyid.clone(), keys::find(conn, &entry.keyid)?);
        }
        let problems = check_stored_record(entry, key_rows[&entry.keyid].as_ref());
        // Only a payload edited behind the server's back fails to read (`truetrace verify`
        // names it); there is nothing of it to show.
        let Ok(notice) = Notice::from_payload(&entry.payload) else {
            continue;
        };
        let lifted = if rows.iter().all(|r| r.lifted_log_index.is_some()) {
            rows.iter()
                .filter_map(|r| r.lifted_log_index)
                .max()
                .and_then(|i| entries.get(&i))
                .and_then(|lift| {
                    let time = Notice::from_payload(&lift.payload).ok()?.time;
                    Some(Lifted {
                        id: lift.id.clone(),
                        time,
                    })
                })
        } else {
            None
        };
        out.push(Recall {
            id: entry.id.clone(),
            log_index,
            issuer: issuers.get(&entry.actor).cloned(),
            notice,
            via: rows
                .iter()
                .map(|r| (r.gtin.clone(), r.lot.clone()))
                .collect(),
            lifted,
            problems,
        });
    }
    Ok(out)
}
