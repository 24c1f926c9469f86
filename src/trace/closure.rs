//! The closure of a lot through transforms and packs: forward, every lot made from it, and the
//! stores that received one; backward, every lot it was made from. `walk` is the traversal
//! alone, breadth-first over any source of edges; `load` feeds it from the database one depth
//! level at a time (one query per level over the whole frontier, `db::lots::edges_at`, never one
//! per lot) and reads what the answer states of each lot in bulk.

use crate::db::rows::{LotRow, OrgRow, RecordRow};
use crate::db::{DbConn, lots, orgs, records};
use crate::domain::{EventType, LotKey, Quantity, Role};
use crate::ledger::record::Record;
use crate::omo::stock::{self, Holding};
use chrono::{DateTime, FixedOffset};
use diesel::QueryResult;
use std::collections::HashMap;

/// A lot as the database names it: (GTIN, lot code).
pub type Key = (String, String);

/// Lots in one page of a trace when the caller does not say.
pub const DEFAULT_LIMIT: usize = 1000;
/// The most lots one page may hold.
pub const MAX_LIMIT: usize = 5000;
/// How far into a closure pages go: a page walks every lot before it, so past this many lots
/// no next cursor is given (the answer still says it was cut).
pub const MAX_REACH: usize = 100_000;

/// Which way a trace follows the lineage edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards what was made from the lot (a recall's question).
    Forward,
    /// Towards what the lot was made from (the provenance's question).
    Backward,
}

impl Direction {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "forward" => Ok(Self::Forward),
            "backward" => Ok(Self::Backward),
            other => Err(format!(
                "direction must be forward or backward, not {other:?}"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Backward => "backward",
        }
    }
}

/// One lineage edge as walked: from a lot already reached to the next one, by the record at
/// `log_index` (the transform or pack that made the output lot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Step {
    pub from: Key,
    pub to: Key,
    pub log_index: i64,
}

/// A lot reached by a walk, at its shortest distance from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub key: Key,
    pub depth: u32,
    /// Every edge that reaches it from a lot one level nearer the start, sorted; empty for the
    /// start. The first is its parent in the tree a page draws.
    pub links: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The start, then each depth level sorted by (GTIN, lot): the same order on every call, so
    /// that an offset into it is a stable cursor.
    pub lots: Vec<Reached>,
    /// True when the closure holds more lots than were asked for.
    pub more: bool,
}

/// Walks breadth-first from `start` until `wanted` lots (the start included) are known or the
/// closure ends. `next` gives the edges leaving a whole frontier at once.
pub fn walk<E>(
    start: Key,
    wanted: usize,
    mut next: impl FnMut(&[Key]) -> Result<Vec<Step>, E>,
) -> Result<Walk, E> {
    let mut index: HashMap<Key, usize> = HashMap::from([(start.clone(), 0)]);
    let mut lots = vec![Reached {
        key: start,
        depth: 0,
        links: Vec::new(),
    }];
    let mut level = 0..1;
    let mut depth = 0;
    // One level past `wanted`, to know whether anything lies beyond it.
    while !level.is_empty() && lots.len() <= wanted {
        let frontier: Vec<Key> = lots[level.clone()].iter().map(|r| r.key.clone()).collect();
        let mut steps = next(&frontier)?;
        steps.sort_by(|a, b| (&a.to, &a.from, a.log_index).cmp(&(&b.to, &b.from, b.log_index)));
        let first = lots.len();
        depth += 1;
        for step in steps {
            match index.get(&step.to) {
                Some(&i) if i >= first => lots[i].links.push(step),
                // Reached nearer the start already.
                Some(_) => {}
                None => {
                    index.insert(step.to.clone(), lots.len());
                    lots.push(Reached {
                        key: step.to.clone(),
                        depth,
                        links: vec![step],
                    });
                }
            }
        }
        level = first..lots.len();
    }
    let more = lots.len() > wanted;
    lots.truncate(wanted);
    Ok(Walk { lots, more })
}

/// The order of an indented tree over `nodes` (each a lot and the lot it hangs from, in walk
/// order): every node right after its parent's subtree begins, siblings in walk order. A node
/// whose parent is not among them (it is on an earlier page) starts a tree of its own.
pub fn tree_order<K: Eq + std::hash::Hash>(nodes: &[(K, Option<K>)]) -> Vec<usize> {
    let position: HashMap<&K, usize> = nodes.iter().enumerate().map(|(i, n)| (&n.0, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (i, (_, parent)) in nodes.iter().enumerate() {
        match parent.as_ref().and_then(|p| position.get(p)) {
            Some(&p) if p < i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<usize> = roots.into_iter().rev().collect();
    while let Some(i) = stack.pop() {
        order.push(i);
        stack.extend(children[i].iter().rev());
    }
    order
}

/// The record that created a lot, and what it stated.
#[derive(Debug, Clone)]
pub struct Created {
    pub record_id: String,
    pub log_index: i64,
    pub event: String,
    pub time: DateTime<FixedOffset>,
    pub quantity: Option<Quantity>,
}

/// One lot of a trace's page, with its stored state.
#[derive(Debug, Clone)]
pub struct TracedLot {
    pub reached: Reached,
    pub lot: LotRow,
    pub created: Option<Created>,
}

/// A store that received a covered lot, and what it still holds of it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub store: OrgRow,
    pub lot: Key,
    pub received: DateTime<FixedOffset>,
    /// None when the store no longer holds the lot (sold, disposed of, shipped on).
    pub holding: Option<Holding>,
}

#[derive(Debug, Clone)]
pub struct Trace {
    pub lots: Vec<TracedLot>,
    /// True when the closure goes on past this page.
    pub more: bool,
    /// The ids of the records read, among them every one a link on this page names, by log index.
    pub link_records: HashMap<i64, String>,
    /// Forward only: the stores that received a lot of this page, by store then lot.
    pub receipts: Vec<Receipt>,
    /// Every custodian and store named, by id.
    pub orgs: HashMap<String, OrgRow>,
}

/// Records read once each by log index, their payloads parsed once: a pack of a hundred lots
/// created each of them and is in each one's chain.
#[derive(Default)]
struct Records(HashMap<i64, (RecordRow, Option<Record>)>);

impl Records {
    /// Reads those of `indexes` not read yet.
    fn read(
        &mut self,
        conn: &mut DbConn,
        indexes: impl IntoIterator<Item = i64>,
    ) -> QueryResult<()> {
        let mut missing: Vec<i64> = indexes
            .into_iter()
            .filter(|i| !self.0.contains_key(i))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for row in records::at_indexes(conn, &missing)? {
            let record = Record::from_payload(&row.payload).ok();
            self.0.insert(row.log_index, (row, record));
        }
        Ok(())
    }

    fn row(&self, index: i64) -> Option<&RecordRow> {
        self.0.get(&index).map(|(row, _)| row)
    }

    fn record(&self, index: i64) -> Option<&Record> {
        self.0.get(&index).and_then(|(_, record)| record.as_ref())
    }
}

/// The lineage edges leaving a frontier in `direction`, as walked (`walk`'s `next`).
pub fn steps(conn: &mut DbConn, frontier: &[Key], direction: Direction) -> QueryResult<Vec<Step>> {
    let forward = direction == Direction::Forward;
    Ok(lots::edges_at(conn, frontier, forward)?
        .into_iter()
        .map(|e| {
            let (input, output) = ((e.input_gtin, e.input_lot), (e.gtin, e.lot));
            let (from, to) = if forward {
                (input, output)
            } else {
                (output, input)
            };
            Step {
                from,
                to,
                log_index: e.log_index,
            }
        })
        .collect())
}

/// The lots `offset..offset + limit` of the closure of `start`, or None when there is no such lot.
pub fn load(
    conn: &mut DbConn,
    start: &Key,
    direction: Direction,
    offset: usize,
    limit: usize,
) -> QueryResult<Option<Trace>> {
    if lots::find(conn, &start.0, &start.1)?.is_none() {
        return Ok(None);
    }
    let forward = direction == Direction::Forward;
    let walked = walk(start.clone(), offset.saturating_add(limit), |frontier| {
        steps(conn, frontier, direction)
    })?;
    let page: Vec<Reached> = walked.lots.into_iter().skip(offset).collect();
    let keys: Vec<Key> = page.iter().map(|r| r.key.clone()).collect();
    let mut rows: HashMap<Key, LotRow> = lots::find_keys(conn, &keys)?
        .into_iter()
        .map(|r| ((r.gtin.clone(), r.lot.clone()), r))
        .collect();
    let mut read = Records::default();
    read.read(
        conn,
        page.iter()
            .flat_map(|r| r.links.iter().map(|l| l.log_index))
            .chain(rows.values().map(|r| r.created_log_index)),
    )?;
    let receipts = if forward {
        receipts(conn, &keys, &mut read)?
    } else {
        Vec::new()
    };
    let mut lots_out = Vec::with_capacity(page.len());
    for reached in page {
        // Lots are never deleted: a walked lot is stored.
        let Some(lot) = rows.remove(&reached.key) else {
            continue;
        };
        let index = lot.created_log_index;
        let created = read
            .row(index)
            .zip(read.record(index))
            .map(|(row, record)| created(row, record, &reached.key));
        lots_out.push(TracedLot {
            reached,
            lot,
            created,
        });
    }
    let mut ids: Vec<String> = lots_out.iter().map(|l| l.lot.custodian.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut orgs: HashMap<String, OrgRow> = orgs::by_ids(conn, &ids)?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
    orgs.extend(
        receipts
            .iter()
            .map(|r| (r.store.id.clone(), r.store.clone())),
    );
    Ok(Some(Trace {
        lots: lots_out,
        more: walked.more,
        link_records: read.0.into_iter().map(|(i, (r, _))| (i, r.id)).collect(),
        receipts,
        orgs,
    }))
}

/// What the record that created `key` says of it.
fn created(row: &RecordRow, record: &Record, key: &Key) -> Created {
    let quantity = record
        .new_lots
        .iter()
        .find(|n| n.key.gtin.as_str() == key.0 && n.key.lot.as_str() == key.1)
        .and_then(|n| n.quantity.clone());
    Created {
        record_id: row.id.clone(),
        log_index: row.log_index,
        event: record.event.as_str().to_owned(),
        time: record.time,
        quantity,
    }
}

/// The stores that received any of `keys`, with what each still holds: the chains of all of
/// them are found in one query per chunk and their records read in bulk (`Records`); a lot a
/// retailer received is replayed (`omo::stock::replay`, the store page's own rule).
fn receipts(conn: &mut DbConn, keys: &[Key], read: &mut Records) -> QueryResult<Vec<Receipt>> {
    let mut chains: HashMap<Key, Vec<i64>> = HashMap::new();
    for (key, index) in records::indexes_naming(conn, keys)? {
        chains.entry(key).or_default().push(index);
    }
    read.read(conn, chains.values().flatten().copied())?;
    let receive = |i: &i64| {
        read.record(*i)
            .filter(|r| r.event == EventType::Receive)
            .zip(read.row(*i))
    };
    let mut actors: Vec<String> = chains
        .values()
        .flatten()
        .filter_map(|i| receive(i).map(|(_, row)| row.actor.clone()))
        .collect();
    actors.sort_unstable();
    actors.dedup();
    let stores: HashMap<String, OrgRow> = orgs::by_ids(conn, &actors)?
        .into_iter()
        .filter(|o| o.has_role(Role::Retailer))
        .map(|o| (o.id.clone(), o))
        .collect();
    let mut out = Vec::new();
    for (key, chain) in &chains {
        // The latest receipt of the lot by each store.
        let mut latest: HashMap<&str, DateTime<FixedOffset>> = HashMap::new();
        for (record, row) in chain.iter().filter_map(receive) {
            if stores.contains_key(&row.actor) {
                latest.insert(&row.actor, record.time);
            }
        }
        if latest.is_empty() {
            continue;
        }
        let holding = LotKey::parse(&key.0, &key.1).ok().and_then(|lot| {
            let chain = chain.iter().filter_map(|i| read.record(*i));
            stock::replay(&lot, chain, |id| stores.contains_key(id))
        });
        for (store, received) in latest {
            out.push(Receipt {
                store: stores[store].clone(),
                lot: key.clone(),
                received,
                holding: holding.clone().filter(|h| h.store == store),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.store.name, &a.store.id, &a.lot).cmp(&(&b.store.name, &b.store.id, &b.lot))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::convert::Infallible;

    fn key(n: usize) -> Key {
        ("04712345000015".to_owned(), format!("L{n:02}"))
    }

    /// Edges (input, output) of a random DAG: each lot made from some of the lots before it.
    fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
        (2usize..24).prop_flat_map(|n| {
            let edges = proptest::collection::vec((0..n, 0..n), 0..n * 2).prop_map(|pairs| {
                let mut e: Vec<(usize, usize)> = pairs
                    .into_iter()
                    .filter(|(a, b)| a < b)
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                e.sort_unstable();
                e
            });
            (Just(n), edges)
        })
    }

    fn walk_all(edges: &[(usize, usize)], start: usize, forward: bool, wanted: usize) -> Walk {
        let edges: Vec<Step> = edges
            .iter()
            .enumerate()
            .map(|(i, &(input, output))| {
                let (from, to) = if forward {
                    (input, output)
                } else {
                    (output, input)
                };
                Step {
                    from: key(from),
                    to: key(to),
                    log_index: i as i64,
                }
            })
            .collect();
        walk(key(start), wanted, |frontier| {
            Ok::<_, Infallible>(
                edges
                    .iter()
                    .filter(|e| frontier.contains(&e.from))
                    .cloned()
                    .collect(),
            )
        })
        .unwrap_or_else(|never| match never {})
    }

    /// Distances by repeated relaxation, one lot at a time: no frontier, no levels.
    fn brute_force(edges: &[(usize, usize)], start: usize, forward: bool) -> HashMap<usize, u32> {
        let mut depth = HashMap::from([(start, 0u32)]);
        loop {
            let mut changed = false;
            for &(input, output) in edges {
                let (from, to) = if forward {
                    (input, output)
                } else {
                    (output, input)
                };
                if let Some(&d) = depth.get(&from)
                    && depth.get(&to).is_none_or(|&old| old > d + 1)
                {
                    depth.insert(to, d + 1);
                    changed = true;
                }
            }
            if !changed {
                return depth;
            }
        }
    }

    proptest! {
        #[test]
        fn the_walk_reaches_what_a_crawl_reaches_at_the_same_depth(
            (n, edges) in dag(), forward in any::<bool>(), start in 0usize..24
        ) {
            let start = start % n;
            let walked = walk_all(&edges, start, forward, usize::MAX);
            prop_assert!(!walked.more);
            let got: HashMap<usize, u32> = walked
                .lots
                .iter()
                .map(|r| (r.key.1[1..].parse().unwrap_or(usize::MAX), r.depth))
                .collect();
            prop_assert_eq!(got.len(), walked.lots.len(), "no lot twice");
            prop_assert_eq!(got, brute_force(&edges, start, forward));
            let depth = brute_force(&edges, start, forward);
            for r in &walked.lots {
                prop_assert!(r.links.iter().all(|l| l.to == r.key));
                let got: HashSet<&Key> = r.links.iter().map(|l| &l.from).collect();
                // Every edge into it from a lot one level nearer the start.
                let want: HashSet<Key> = edges
                    .iter()
                    .map(|&(i, o)| if forward { (i, o) } else { (o, i) })
                    .filter(|&(from, to)| {
                        key(to) == r.key
                            && r.depth.checked_sub(1).is_some_and(|d| depth.get(&from) == Some(&d))
                    })
                    .map(|(from, _)| key(from))
                    .collect();
                prop_assert_eq!(got, want.iter().collect::<HashSet<_>>());
            }
        }

        #[test]
        fn pages_of_any_size_add_up_to_the_whole_walk(
            (_, edges) in dag(), forward in any::<bool>(), size in 1usize..6
        ) {
            let whole = walk_all(&edges, 0, forward, usize::MAX).lots;
            let mut pages = Vec::new();
            for offset in (0..).step_by(size) {
                let walked = walk_all(&edges, 0, forward, offset + size);
                pages.extend(walked.lots.into_iter().skip(offset));
                prop_assert_eq!(walked.more, pages.len() < whole.len());
                if !walked.more {
                    break;
                }
            }
            prop_assert_eq!(pages, whole);
        }
    }

    #[test]
    fn the_tree_puts_each_lot_under_its_first_parent() {
        let nodes = [
            ("a", None),
            ("b", Some("a")),
            ("c", Some("a")),
            ("d", Some("b")),
            ("e", Some("c")),
            ("f", Some("x")),
        ];
        let order: Vec<&str> = tree_order(&nodes).into_iter().map(|i| nodes[i].0).collect();
        assert_eq!(order, ["a", "b", "d", "c", "e", "f"]);
    }
}
