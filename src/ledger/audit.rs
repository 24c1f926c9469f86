//! Whole-store verification, as `truetrace verify` runs it: every record id recomputed from its
//! payload, every signature checked against the key valid when the record was accepted, the log
//! replayed through the same rules ingest uses, and the stored lot states, lineage, recalls and
//! EPCIS events compared with the replay. A row edited behind the server's back shows up as a
//! named problem.
//!
//! Memory stays flat in the store's size: the log is read a page at a time, the replay holds a
//! lot's state only until the next record naming it (`replay`), and the derived tables are
//! compared a page at a time as the replay finishes with their rows, then counted: only where a
//! count differs, or something else is already broken, are the tables searched for rows the log
//! does not imply.

mod replay;

use super::envelope::{KeyId, PayloadType};
use super::merkle::Hash;
use super::recall::{self, Action, Notice};
use super::record::Record;
use super::rules::{self, CheckError, LotState};
use super::store::{self, key_valid_at};
use crate::db::records::NamedLot;
use crate::db::rows::{KeyRow, RecordRow};
use crate::db::{DbConn, epcis_events, keys, lots, recalls, records};
use crate::domain::epcis::EVENT_ID_KDE;
use crate::domain::{Gtin, LotCode, LotKey, RecordId};
use crate::ledger::entry::Entry;
use diesel::QueryResult;
use ed25519_dalek::VerifyingKey;
use replay::LogReplay;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const PAGE: i64 = 500;
/// The most lot states the replay holds at once (a few hundred bytes each); past it, the state
/// needed furthest ahead is let go, and re-derived from the log when its record comes.
pub const HELD_LOTS: usize = 32_768;
/// Finished lot states compared with the lot table in one go.
const LOTS_PER_COMPARISON: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record's log index, or None for a problem with derived state (a lot, a lineage edge).
    pub log_index: Option<i64>,
    pub record_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.log_index, &self.record_id) {
            (Some(i), Some(id)) => write!(f, "record #{i} {id}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub records: u64,
    pub lots: u64,
    pub problems: Vec<Problem>,
    /// The latest signed checkpoint when the verification began (its note), which the rebuilt
    /// tree matched unless a problem says otherwise; the caller checks its signature.
    pub checkpoint: Option<String>,
}

impl Report {
    fn derived(&mut self, message: String) {
        self.problems.push(Problem {
            log_index: None,
            record_id: None,
            message,
        });
    }
}

/// Verifies the whole store. `progress(done, total)` is called after each page of records.
pub fn verify_store(conn: &mut DbConn, progress: impl FnMut(u64, u64)) -> QueryResult<Report> {
    verify_store_holding(conn, HELD_LOTS, progress)
}

/// `verify_store`, holding at most `held_lots` lot states at once.
pub fn verify_store_holding(
    conn: &mut DbConn,
    held_lots: usize,
    mut progress: impl FnMut(u64, u64),
) -> QueryResult<Report> {
    let mut replay = LogReplay::load(conn, held_lots)?;
    let key_rows = keys::all(conn)?;
    let keys: HashMap<&str, EnrolledKey> = key_rows
        .iter()
        .map(|k| (k.keyid.as_str(), EnrolledKey::new(k)))
        .collect();
    // Read before the records: a server may append while this runs, never remove.
    let checkpoint = crate::db::tlog::checkpoint(conn)?;
    let stored_next = records::next_index(conn)?;
    let total = records::count(conn)? as u64;
    let mut report = Report::default();
    let mut derived = DerivedCheck::default();
    let mut recalled = RecallRows::new();
    let mut tree = TreeCheck::new(checkpoint.as_ref().map(|(size, _)| *size));
    let mut next = 0i64;
    // This thread reads pages and hands them to one checker per core, each taking the next page
    // whole and checking every record in it on its own (`check_one`); it replays the checked
    // pages in log order as they come back, reading pages ahead so that the checkers never wait.
    // The replay and the comparisons use the same connection, between reads.
    let keys_ref = &keys;
    let checkers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let ahead = 2 * checkers;
    let spawn_failed = |e: std::io::Error| diesel::result::Error::QueryBuilderError(e.into());
    std::thread::scope(|scope| -> QueryResult<()> {
        let (to_check, raw_pages) = std::sync::mpsc::sync_channel::<(usize, Page)>(ahead);
        let raw_pages = std::sync::Arc::new(std::sync::Mutex::new(raw_pages));
        let (checked_pages, checked) = std::sync::mpsc::channel::<(usize, Page, Vec<Checked>)>();
        for _ in 0..checkers {
            let (raw_pages, checked_pages) = (raw_pages.clone(), checked_pages.clone());
            std::thread::Builder::new()
                .name("verify-check".into())
                .spawn_scoped(scope, move || {
                    loop {
                        let next = raw_pages.lock().ok().and_then(|pages| pages.recv().ok());
                        let Some((number, page)) = next else { return };
                        let checked = page
                            .iter()
                            .map(|(row, lot_rows)| check_one(row, lot_rows, keys_ref))
                            .collect();
                        if checked_pages.send((number, page, checked)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(spawn_failed)?;
        }
        drop(checked_pages);
        let (mut sent, mut due, mut from, mut read_all) = (0usize, 0usize, 0i64, false);
        let mut arrived = BTreeMap::new();
        loop {
            while !read_all && sent < due + ahead {
                let page = records::page(conn, from, PAGE)?;
                let Some((last, _)) = page.last() else {
                    read_all = true;
                    break;
                };
                from = last.log_index + 1;
                if to_check.send((sent, page)).is_err() {
                    return Err(checkers_gone());
                }
                sent += 1;
            }
            if due == sent {
                return Ok(());
            }
            let (page, checked) = loop {
                if let Some(page) = arrived.remove(&due) {
                    break page;
                }
                let (number, page, checked) = checked.recv().map_err(|_| checkers_gone())?;
                arrived.insert(number, (page, checked));
            };
            due += 1;
            for ((row, lot_rows), checked) in page.iter().zip(checked) {
                if row.log_index != next {
                    report.problems.push(missing(next, row.log_index));
                }
                next = row.log_index + 1;
                tree.push(row.log_index, checked.leaf);
                let mut messages = checked.problems;
                let broken = match &checked.entry {
                    Some(Entry::Record(record)) => {
                        if let Some(event_id) = record.kde.get(EVENT_ID_KDE) {
                            derived.events.push((
                                (record.actor.to_string(), event_id.clone()),
                                row.log_index,
                            ));
                        }
                        replay_record(
                            conn,
                            record,
                            checked.id,
                            row,
                            lot_rows,
                            &mut replay,
                            &mut derived,
                        )?
                    }
                    Some(Entry::Recall(notice)) => {
                        replay_notice(conn, notice, row, &mut replay, &mut recalled)?
                    }
                    None => None,
                };
                messages.extend(broken);
                report
                    .problems
                    .extend(messages.into_iter().map(|message| Problem {
                        log_index: Some(row.log_index),
                        record_id: Some(row.id.clone()),
                        message,
                    }));
                report.records += 1;
            }
            derived.compare_page(conn, &mut replay.finished, &mut report, false)?;
            progress(report.records, total);
        }
    })?;
    if next < stored_next {
        report.problems.push(missing(next, stored_next));
    }
    replay.finish();
    derived.compare_page(conn, &mut replay.finished, &mut report, true)?;
    derived.finish(conn, &mut report)?;
    compare_recalls(conn, &recalled, &mut report)?;
    for message in tree.finish(conn, checkpoint.as_ref())? {
        report.derived(message);
    }
    report.checkpoint = checkpoint.map(|(_, note)| note);
    Ok(report)
}

fn checkers_gone() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError("the checking threads stopped".into())
}

/// An enrolled key, read once for the whole store: its point decompressed and its keyid
/// computed from it.
struct EnrolledKey<'k> {
    row: &'k KeyRow,
    verifying: Result<(VerifyingKey, KeyId), String>,
}

impl<'k> EnrolledKey<'k> {
    fn new(row: &'k KeyRow) -> Self {
        let verifying = store::verifying_key(row).map(|k| (k, KeyId::of(&k)));
        Self { row, verifying }
    }
}

/// What can be checked of a record on its own, on any core: its id, key and signature, its
/// payload read as the entry its type says, its columns and lot rows against that payload, and
/// its leaf hash in the log.
struct Checked {
    id: RecordId,
    /// What is wrong with the record on its own, in the order verify names it.
    problems: Vec<String>,
    /// None where the payload cannot be read (a problem says so).
    entry: Option<Entry>,
    leaf: Option<Hash>,
}

fn check_one(row: &RecordRow, lot_rows: &[NamedLot], keys: &HashMap<&str, EnrolledKey>) -> Checked {
    let id = RecordId::of_payload(&row.payload);
    let key = keys.get(row.keyid.as_str());
    let mut problems = check_signed(row, &id, key);
    let owner = key.map(|k| k.row.org_id.as_str());
    let entry = match PayloadType::of_stored_event(&row.event) {
        PayloadType::Record => match Record::from_payload(&row.payload) {
            Ok(record) => {
                problems.extend(record_columns(row, lot_rows, &record, owner));
                Some(Entry::Record(record))
            }
            Err(e) => {
                problems.push(format!("its payload is not a valid record: {e}"));
                None
            }
        },
        PayloadType::Recall => match Notice::from_payload(&row.payload) {
            Ok(notice) => {
                problems.extend(notice_columns(row, lot_rows, &notice, owner));
                Some(Entry::Recall(notice))
            }
            Err(e) => {
                problems.push(format!("its payload is not a valid recall notice: {e}"));
                None
            }
        },
    };
    Checked {
        id,
        problems,
        entry,
        leaf: super::tlog::stored_leaf_hash(&row.keyid, &row.sig, &row.payload).ok(),
    }
}

/// The log's tree rebuilt from the records as they are read: its root at the checkpoint's size
/// is compared with the checkpoint's, and its full tiles with the stored ones.
struct TreeCheck {
    edge: super::tiles::Edge,
    /// The roots of the full tiles rebuilt, per level (32 bytes per 256 records).
    roots: Vec<Vec<super::merkle::Hash>>,
    at_checkpoint: Option<i64>,
    root_at_checkpoint: Option<super::merkle::Hash>,
    broken: bool,
}

impl TreeCheck {
    fn new(at_checkpoint: Option<i64>) -> Self {
        let edge = super::tiles::Edge::default();
        Self {
            root_at_checkpoint: (at_checkpoint == Some(0)).then(|| edge.root()),
            edge,
            roots: Vec::new(),
            at_checkpoint,
            broken: false,
        }
    }

    fn push(&mut self, log_index: i64, leaf: Option<super::merkle::Hash>) {
        // A gap or an unreadable record leaves the tree unknowable from there on; each is
        // named on its own.
        let Some(leaf) = leaf.filter(|_| !self.broken && log_index as u64 == self.edge.size())
        else {
            self.broken = true;
            return;
        };
        let mut full = Vec::new();
        self.edge.push(leaf, &mut full);
        for tile in full {
            let level = usize::from(tile.level);
            if self.roots.len() <= level {
                self.roots.resize(level + 1, Vec::new());
            }
            self.roots[level].push(tile.root);
        }
        if Some(self.edge.size() as i64) == self.at_checkpoint {
            self.root_at_checkpoint = Some(self.edge.root());
        }
    }

    fn finish(
        self,
        conn: &mut DbConn,
        checkpoint: Option<&(i64, String)>,
    ) -> QueryResult<Vec<String>> {
        let mut problems = Vec::new();
        if self.broken {
            problems.push(
                "the log's tree cannot be rebuilt past the first missing or unreadable record"
                    .into(),
            );
        }
        match checkpoint {
            // A store no server has opened yet: `truetrace verify` says so.
            None => {}
            Some((size, note)) => {
                let signed = super::checkpoint::note_text(note)
                    .and_then(|t| super::checkpoint::Checkpoint::parse_text(&t));
                match (signed, self.root_at_checkpoint) {
                    (Err(e), _) => problems.push(format!("the latest checkpoint cannot be read: {e}")),
                    (Ok(c), _) if c.size as i64 != *size => problems.push(format!(
                        "the latest checkpoint is stored as of {size} records but says {}",
                        c.size
                    )),
                    (Ok(c), Some(root)) if c.root != root => problems.push(format!(
                        "the records rebuild a tree of {size} records whose root is not the signed checkpoint's: the log was changed after it was signed"
                    )),
                    (Ok(_), None) if !self.broken => problems.push(format!(
                        "the latest checkpoint is of {size} records, more than the log holds"
                    )),
                    _ => {}
                }
            }
        }
        for (level, roots) in self.roots.iter().enumerate() {
            let level = level as i32;
            for (idx, root) in roots.iter().enumerate() {
                let stored = crate::db::tlog::tile(conn, level, idx as i64)?;
                let fine = stored.as_deref().is_some_and(|bytes| {
                    bytes.len() == 8192 && {
                        let hashes: Vec<super::merkle::Hash> = bytes
                            .chunks_exact(32)
                            .map(|c| c.try_into().unwrap_or_default())
                            .collect();
                        super::merkle::root_of(&hashes) == *root
                    }
                });
                if !fine {
                    problems.push(format!(
                        "tile {level}/{idx} of the log is missing or differs from the tree the records make"
                    ));
                }
            }
        }
        Ok(problems)
    }
}

/// The records from `from` up to (not including) `to` are missing from the log: deleted, since
/// log indices are given out densely and nothing is ever removed.
fn missing(from: i64, to: i64) -> Problem {
    let message = match to - from {
        1 => format!("the log is missing record #{from}"),
        2 => format!("the log is missing records #{from} and #{}", from + 1),
        n => format!(
            "the log is missing the {n} records #{from} to #{} (every index in between)",
            to - 1
        ),
    };
    Problem {
        log_index: Some(from),
        record_id: None,
        message,
    }
}

/// The recall rows the log implies: (notice log index, GTIN, lot) -> (issuer, lift log index).
type RecallRows = BTreeMap<(i64, String, String), (String, Option<i64>)>;

/// A recall notice's columns and lot rows against its payload, and its actor against its key.
fn notice_columns(
    row: &RecordRow,
    lot_rows: &[NamedLot],
    notice: &Notice,
    key_owner: Option<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let actor = notice.actor.to_string();
    if key_owner.is_some_and(|owner| owner != actor) {
        problems.push(format!("its actor {actor} does not own key {}", row.keyid));
    }
    if row.event != notice.action.as_str() || row.actor != actor {
        problems.push("its stored action or actor column differs from its signed payload".into());
    }
    if row.event_time != notice.time.naive_utc() {
        problems.push("its stored time differs from its signed payload".into());
    }
    if !lot_rows.is_empty() {
        problems.push(
            "a recall notice is on no lot's chain, but lot references are stored for it".into(),
        );
    }
    problems
}

/// A recall notice in the log: the authority and lift rules against the replay, and the rows it
/// implies.
fn replay_notice(
    conn: &mut DbConn,
    notice: &Notice,
    row: &RecordRow,
    replay: &mut LogReplay,
    recalled: &mut RecallRows,
) -> QueryResult<Option<String>> {
    let mut view = replay.notice_view(conn, row.log_index);
    let problem = match recall::check(notice, &mut view, row.accepted_at.and_utc()) {
        Ok(()) => None,
        Err(CheckError::Rejected(rejection)) => Some(format!(
            "it breaks a recall rule: {}",
            crate::error::AppError::from(rejection)
        )),
        Err(CheckError::View(e)) => return Err(e),
    };
    let actor = notice.actor.to_string();
    for key in &notice.lots {
        let (gtin, lot) = (key.gtin.to_string(), key.lot.to_string());
        match notice.action {
            Action::Recall => {
                recalled.insert((row.log_index, gtin, lot), (actor.clone(), None));
            }
            Action::Lift => {
                for ((_, g, l), (issuer, lifted)) in recalled.iter_mut() {
                    if *g == gtin && *l == lot && *issuer == actor && lifted.is_none() {
                        *lifted = Some(row.log_index);
                    }
                }
            }
        }
    }
    replay.apply_notice(notice);
    Ok(problem)
}

fn compare_recalls(
    conn: &mut DbConn,
    recalled: &RecallRows,
    report: &mut Report,
) -> QueryResult<()> {
    let stored: RecallRows = recalls::all(conn)?
        .into_iter()
        .map(|r| ((r.log_index, r.gtin, r.lot), (r.actor, r.lifted_log_index)))
        .collect();
    for (log_index, gtin, lot) in differing(&stored, recalled) {
        report.derived(format!(
            "the recall of lot ({gtin}, {lot}) by notice #{log_index} differs between the recall table and the log"
        ));
    }
    Ok(())
}

/// The keys on which a table derived from the log and its replay disagree.
fn differing<'a, K: Ord, V: PartialEq>(
    stored: &'a BTreeMap<K, V>,
    replayed: &'a BTreeMap<K, V>,
) -> BTreeSet<&'a K> {
    stored
        .iter()
        .chain(replayed.iter())
        .filter(|(k, v)| stored.get(*k) != Some(*v) || replayed.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect()
}

/// A page of the log: records with the lots each names.
type Page = Vec<(RecordRow, Vec<NamedLot>)>;

/// A lineage edge the log implies: output GTIN and lot, input GTIN and lot, log index.
type Edge = (String, String, String, String, i64);

/// The derived tables (lots, lineage, EPCIS events) compared with the replay a page at a time,
/// and the rows that matched counted, so that a table holding rows the log does not imply shows
/// by its count.
#[derive(Default)]
struct DerivedCheck {
    /// The page's records naming an EPCIS event: (actor, eventID) and log index.
    events: Vec<((String, String), i64)>,
    /// The page's lineage edges.
    edges: Vec<Edge>,
    events_matched: i64,
    edges_matched: i64,
    lots_matched: i64,
    /// Lots the log made that the lot table lacks.
    lots_missing: u64,
}

impl DerivedCheck {
    /// Compares what the page's records imply, and the finished lots once there are enough of
    /// them (all of them at `last`).
    fn compare_page(
        &mut self,
        conn: &mut DbConn,
        finished: &mut Vec<(LotKey, LotState)>,
        report: &mut Report,
        last: bool,
    ) -> QueryResult<()> {
        self.compare_events(conn, report)?;
        self.compare_edges(conn, report)?;
        if last || finished.len() >= LOTS_PER_COMPARISON {
            self.compare_lots(conn, finished, report)?;
            finished.clear();
        }
        Ok(())
    }

    /// Each record naming an EPCIS event against the event table: its row must name the first
    /// record of that organization and event. A row naming an earlier record was checked with
    /// that record, or is found by `finish`.
    fn compare_events(&mut self, conn: &mut DbConn, report: &mut Report) -> QueryResult<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let keys: Vec<(String, String)> = self.events.iter().map(|(k, _)| k.clone()).collect();
        let stored: HashMap<(String, String), i64> = epcis_events::find_keys(conn, &keys)?
            .into_iter()
            .map(|r| ((r.actor, r.event_id), r.log_index))
            .collect();
        for (key, index) in self.events.drain(..) {
            match stored.get(&key) {
                Some(first) if *first == index => self.events_matched += 1,
                Some(first) if *first < index => {}
                _ => report.derived(event_differs(&key.0, &key.1)),
            }
        }
        Ok(())
    }

    fn compare_edges(&mut self, conn: &mut DbConn, report: &mut Report) -> QueryResult<()> {
        if self.edges.is_empty() {
            return Ok(());
        }
        let outputs: Vec<(String, String)> = self
            .edges
            .iter()
            .map(|e| (e.0.clone(), e.1.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored: HashSet<Edge> = lots::edges_at(conn, &outputs, false)?
            .into_iter()
            .map(|r| (r.gtin, r.lot, r.input_gtin, r.input_lot, r.log_index))
            .collect();
        let implied: BTreeSet<Edge> = self.edges.drain(..).collect();
        for edge in implied {
            if stored.contains(&edge) {
                self.edges_matched += 1;
            } else {
                report.derived(edge_differs(&edge));
            }
        }
        Ok(())
    }

    fn compare_lots(
        &mut self,
        conn: &mut DbConn,
        finished: &[(LotKey, LotState)],
        report: &mut Report,
    ) -> QueryResult<()> {
        let keys: Vec<(String, String)> = finished
            .iter()
            .map(|(key, _)| (key.gtin.to_string(), key.lot.to_string()))
            .collect();
        let stored: HashMap<(String, String), crate::db::rows::LotRow> =
            lots::find_keys(conn, &keys)?
                .into_iter()
                .map(|row| ((row.gtin.clone(), row.lot.clone()), row))
                .collect();
        for ((key, replayed), pair) in finished.iter().zip(&keys) {
            let Some(row) = stored.get(pair) else {
                self.lots_missing += 1;
                continue;
            };
            self.lots_matched += 1;
            if store::lot_state(row).ok().as_ref() != Some(replayed) {
                report.derived(format!(
                    "lot {key}: the stored head, custodian or shipment differs from the replayed log"
                ));
            }
        }
        Ok(())
    }

    /// The rows of the derived tables that no record implies: looked for one by one only where
    /// a table holds more rows than matched, or the store is broken already (a wrong lot row
    /// may have misled the replay's hints).
    fn finish(self, conn: &mut DbConn, report: &mut Report) -> QueryResult<()> {
        if self.lots_missing > 0 {
            report.derived(format!(
                "{} lots created by records are missing from the lot table",
                self.lots_missing
            ));
        }
        let stored_lots = lots::count(conn)?;
        report.lots = stored_lots as u64;
        let broken = !report.problems.is_empty();
        if broken || stored_lots != self.lots_matched {
            for (gtin, lot) in lots::named_by_no_record(conn)? {
                report.derived(match (Gtin::parse(&gtin), LotCode::parse(&lot)) {
                    (Ok(gtin), Ok(lot)) => {
                        format!(
                            "lot {} is stored but no record created it",
                            LotKey { gtin, lot }
                        )
                    }
                    _ => format!("lot ({gtin}, {lot}) is not a valid lot key"),
                });
            }
        }
        if broken || lots::count_inputs(conn)? != self.edges_matched {
            for r in lots::inputs_no_record_implies(conn)? {
                report.derived(edge_differs(&(
                    r.gtin,
                    r.lot,
                    r.input_gtin,
                    r.input_lot,
                    r.log_index,
                )));
            }
        }
        if broken || epcis_events::count(conn)? != self.events_matched {
            events_no_record_implies(conn, report)?;
        }
        Ok(())
    }
}

fn edge_differs(edge: &Edge) -> String {
    format!(
        "lineage ({}, {}) <- ({}, {}) at #{} differs between the lineage table and the log",
        edge.0, edge.1, edge.2, edge.3, edge.4
    )
}

fn event_differs(actor: &str, event_id: &str) -> String {
    format!(
        "EPCIS event {event_id} of organization {actor} differs between the event table and the log"
    )
}

/// Names each row of the event table whose record is not that organization's record of that
/// event, a page of rows at a time.
fn events_no_record_implies(conn: &mut DbConn, report: &mut Report) -> QueryResult<()> {
    let mut after = None;
    loop {
        let rows = epcis_events::page_after(conn, after.as_ref(), 1000)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some((last.actor.clone(), last.event_id.clone()));
        let indexes: Vec<i64> = rows.iter().map(|r| r.log_index).collect();
        let records: HashMap<i64, RecordRow> = records::at_indexes(conn, &indexes)?
            .into_iter()
            .map(|r| (r.log_index, r))
            .collect();
        for row in rows {
            let names_it = records.get(&row.log_index).is_some_and(|stored| {
                PayloadType::of_stored_event(&stored.event) == PayloadType::Record
                    && Record::from_payload(&stored.payload).is_ok_and(|record| {
                        record.actor.to_string() == row.actor
                            && record.kde.get(EVENT_ID_KDE) == Some(&row.event_id)
                    })
            });
            if !names_it {
                report.derived(event_differs(&row.actor, &row.event_id));
            }
        }
    }
}

/// A record's columns and lot rows against its payload, and its actor against its key.
fn record_columns(
    row: &RecordRow,
    lot_rows: &[NamedLot],
    record: &Record,
    key_owner: Option<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let actor = record.actor.to_string();
    if key_owner.is_some_and(|owner| owner != actor) {
        problems.push(format!("its actor {actor} does not own key {}", row.keyid));
    }
    if row.event != record.event.as_str() || row.actor != actor {
        problems.push("its stored event or actor column differs from its signed payload".into());
    }
    if row.event_time != record.time.naive_utc() {
        problems.push("its stored time differs from its signed payload".into());
    }
    let expected = record
        .lots
        .iter()
        .map(|l| (&l.key, Some(l.prev.to_hex())))
        .chain(record.new_lots.iter().map(|l| (&l.key, None)));
    let stored = lot_rows
        .iter()
        .map(|l| (l.gtin.as_str(), l.lot.as_str(), l.prev.as_deref()));
    let same = record.lots.len() + record.new_lots.len() == lot_rows.len()
        && expected
            .zip(stored)
            .all(|((key, prev), (gtin, lot, stored_prev))| {
                key.gtin.as_str() == gtin
                    && key.lot.as_str() == lot
                    && prev.as_deref() == stored_prev
            });
    if !same {
        problems.push("its stored lot references differ from its signed payload".into());
    }
    problems
}

/// A record replayed through the rules, against the lot states before it; its transition
/// applied even if it breaks a rule, from the states it claims where the log has none, so that
/// one broken record is named once rather than failing every record after it.
fn replay_record(
    conn: &mut DbConn,
    record: &Record,
    id: RecordId,
    row: &RecordRow,
    lot_rows: &[NamedLot],
    replay: &mut LogReplay,
    derived: &mut DerivedCheck,
) -> QueryResult<Option<String>> {
    let restored = replay.restore(conn, record, row.log_index, lot_rows)?;
    let mut view = replay.view(&restored);
    let mut problem = None;
    let prior = match rules::check(record, &mut view, row.accepted_at.and_utc()) {
        Ok(prior) => prior,
        Err(CheckError::Rejected(rejection)) => {
            problem = Some(format!(
                "it breaks a ledger rule: {}",
                crate::error::AppError::from(rejection)
            ));
            record
                .lots
                .iter()
                .map(|l| {
                    view.state(&l.key)
                        .unwrap_or_else(|| replay::claimed(record, l))
                })
                .collect()
        }
        Err(CheckError::View(never)) => match never {},
    };
    let transition = rules::next_states(record, id, &prior);
    derived
        .edges
        .extend(transition.lineage.iter().map(|(out, input)| {
            (
                out.gtin.to_string(),
                out.lot.to_string(),
                input.gtin.to_string(),
                input.lot.to_string(),
                row.log_index,
            )
        }));
    replay.settle(transition, lot_rows);
    Ok(problem)
}

/// The checks on one stored record that need no other record: its id is the hash of its payload,
/// its key was valid when it was accepted, and its signature verifies. Empty when all hold.
pub fn check_stored_record(row: &RecordRow, key: Option<&KeyRow>) -> Vec<String> {
    let key = key.map(EnrolledKey::new);
    check_signed(row, &RecordId::of_payload(&row.payload), key.as_ref())
}

/// `check_stored_record` with the payload's hash `id` and the key already read.
fn check_signed(row: &RecordRow, id: &RecordId, key: Option<&EnrolledKey>) -> Vec<String> {
    let mut problems = Vec::new();
    if id.to_hex() != row.id {
        problems.push(format!(
            "its payload hashes to {id}, not to its id: the payload was altered"
        ));
    }
    let Some(key) = key else {
        problems.push(format!("it names key {}, which is not enrolled", row.keyid));
        return problems;
    };
    let (verifying, keyid) = match &key.verifying {
        Ok(k) => k,
        Err(e) => {
            problems.push(e.clone());
            return problems;
        }
    };
    if keyid.as_str() != key.row.keyid {
        problems.push(format!(
            "the stored public key of {} does not hash to its keyid",
            key.row.keyid
        ));
    }
    if !key_valid_at(key.row, row.accepted_at) {
        problems.push(format!(
            "key {} was not valid when the record was accepted ({})",
            key.row.keyid,
            row.accepted_at.and_utc().to_rfc3339()
        ));
    }
    let verified = <&[u8; 64]>::try_from(row.sig.as_slice())
        .map_err(|_| "the stored signature is not 64 bytes".to_owned())
        .and_then(|signature| {
            super::envelope::verify_parts(
                PayloadType::of_stored_event(&row.event),
                &row.payload,
                keyid,
                signature,
                verifying,
            )
        });
    if let Err(e) = verified {
        problems.push(format!("its signature is invalid: {e}"));
    }
    problems
}
