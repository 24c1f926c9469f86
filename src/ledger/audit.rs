//! Whole-store verification, as `truetrace verify` runs it: every record id recomputed from its
//! payload, every signature checked against the key valid when the record was accepted, the log
//! replayed through the same rules ingest uses, and the stored lot states and lineage compared
//! with the replay. A row edited behind the server's back shows up as a named problem.

use super::rules::{self, CheckError, LotState, Replay};
use super::store::{self, key_valid_at};
use crate::db::rows::{KeyRow, RecordLotRow, RecordRow};
use crate::db::{DbConn, epcis_events, keys, lots, orgs, products, recalls, records};
use crate::domain::epcis::EVENT_ID_KDE;
use crate::domain::{Gtin, LotCode, LotKey, OrgId, RecordId, Roles};
use crate::ledger::envelope::{Envelope, KeyId, PayloadType};
use crate::ledger::recall::{self, Action, Notice};
use crate::ledger::record::Record;
use diesel::QueryResult;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const PAGE: i64 = 2000;

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

/// Verifies the whole store. `progress(done, total)` is called after each page of records.
pub fn verify_store(conn: &mut DbConn, mut progress: impl FnMut(u64, u64)) -> QueryResult<Report> {
    let mut replay = Replay::default();
    for org in orgs::all(conn)? {
        if let (Ok(id), Ok(roles)) = (OrgId::parse(&org.id), Roles::from_stored(&org.roles)) {
            replay.orgs.insert(id, roles);
        }
    }
    for product in products::all(conn)? {
        let Ok(gtin) = Gtin::parse(&product.gtin) else {
            continue;
        };
        if let Some(brand) = product
            .brand_org
            .as_deref()
            .and_then(|b| OrgId::parse(b).ok())
        {
            replay.brands.insert(gtin.clone(), brand);
        }
        replay.products.insert(gtin);
    }
    let keys: HashMap<String, KeyRow> = keys::all(conn)?
        .into_iter()
        .map(|k| (k.keyid.clone(), k))
        .collect();
    // Read before the records: a server may append while this runs, never remove.
    let checkpoint = crate::db::tlog::checkpoint(conn)?;
    let stored_next = records::next_index(conn)?;
    let total = records::count(conn)? as u64;
    let mut report = Report::default();
    let mut lineage = BTreeSet::new();
    let mut recalled = RecallRows::new();
    let mut events = EventRows::new();
    let mut tree = TreeCheck::new(checkpoint.as_ref().map(|(size, _)| *size));
    let mut next = 0i64;
    // One thread reads pages; one checker per core takes the next page whole and checks its
    // records (`check_one`); this thread replays the pages in log order as they come back.
    // No page waits for another's checker, and at most a few pages are in memory at once.
    let keys_ref = &keys;
    let checkers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let read: QueryResult<()> = std::thread::scope(|scope| {
        let (raw_pages, to_check) = std::sync::mpsc::sync_channel::<(usize, Page)>(checkers);
        // Owned here and by the checkers: if they cannot start, the reader's sends fail.
        let to_check = std::sync::Arc::new(std::sync::Mutex::new(to_check));
        let (pages, checked_pages) =
            std::sync::mpsc::sync_channel::<(usize, Page, Vec<Checked>)>(checkers);
        let conn_ref = &mut *conn;
        let reader = std::thread::Builder::new()
            .name("verify-read".into())
            .spawn_scoped(scope, move || -> QueryResult<()> {
                let mut from = 0i64;
                for number in 0.. {
                    let page = records::page(conn_ref, from, PAGE)?;
                    let Some((last, _)) = page.last() else {
                        return Ok(());
                    };
                    from = last.log_index + 1;
                    if raw_pages.send((number, page)).is_err() {
                        return Ok(());
                    }
                }
                Ok(())
            })
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
        for _ in 0..checkers {
            let (to_check, pages) = (to_check.clone(), pages.clone());
            std::thread::Builder::new()
                .name("verify-check".into())
                .spawn_scoped(scope, move || {
                    loop {
                        let next = to_check.lock().ok().and_then(|pages| pages.recv().ok());
                        let Some((number, page)) = next else { return };
                        let checked = page
                            .iter()
                            .map(|(row, _)| check_one(row, keys_ref))
                            .collect();
                        if pages.send((number, page, checked)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
        }
        drop(pages);
        let mut arrived = BTreeMap::new();
        let mut due = 0usize;
        let in_order = checked_pages
            .into_iter()
            .flat_map(|(number, page, checked)| {
                arrived.insert(number, (page, checked));
                let mut ready = Vec::new();
                while let Some(page) = arrived.remove(&due) {
                    ready.push(page);
                    due += 1;
                }
                ready
            });
        for (page, checked) in in_order {
            let Some((last, _)) = page.last() else { break };
            let after = last.log_index + 1;
            for ((row, lot_rows), checked) in page.iter().zip(checked) {
                if row.log_index != next {
                    report.problems.push(missing(next, row.log_index));
                }
                next = row.log_index + 1;
                tree.push(row.log_index, checked.leaf);
                let messages = match PayloadType::of_stored_event(&row.event) {
                    PayloadType::Record => {
                        if let Ok(record) = &checked.record
                            && let Some(event_id) = record.kde.get(EVENT_ID_KDE)
                        {
                            events
                                .entry((record.actor.to_string(), event_id.clone()))
                                .or_insert(row.log_index);
                        }
                        verify_record(row, lot_rows, checked, &keys, &mut replay, &mut lineage)
                    }
                    PayloadType::Recall => {
                        verify_notice(row, lot_rows, checked, &keys, &mut replay, &mut recalled)
                    }
                };
                report
                    .problems
                    .extend(messages.into_iter().map(|message| Problem {
                        log_index: Some(row.log_index),
                        record_id: Some(row.id.clone()),
                        message,
                    }));
                report.records += 1;
            }
            next = next.max(after);
            progress(report.records, total);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(diesel::result::Error::RollbackTransaction))
    });
    read?;
    if next < stored_next {
        report.problems.push(missing(next, stored_next));
    }
    compare_derived_state(conn, &replay, &lineage, &mut report)?;
    compare_recalls(conn, &recalled, &mut report)?;
    compare_events(conn, &events, &mut report)?;
    let derived = |message: String| Problem {
        log_index: None,
        record_id: None,
        message,
    };
    report.problems.extend(
        tree.finish(conn, checkpoint.as_ref())?
            .into_iter()
            .map(derived),
    );
    report.checkpoint = checkpoint.map(|(_, note)| note);
    Ok(report)
}

/// What can be checked of a record on its own, on any core: its id, key and signature
/// (`check_stored_record`), its payload read as a record, and its leaf hash in the log.
pub struct Checked {
    id: RecordId,
    problems: Vec<String>,
    record: Result<Record, String>,
    leaf: Option<super::merkle::Hash>,
}

fn check_one(row: &RecordRow, keys: &HashMap<String, KeyRow>) -> Checked {
    Checked {
        id: RecordId::of_payload(&row.payload),
        problems: check_stored_record(row, keys.get(&row.keyid)),
        record: Record::from_payload(&row.payload),
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

type Edge = (String, String, String, String, i64);
/// The recall rows the log implies: (notice log index, GTIN, lot) -> (issuer, lift log index).
type RecallRows = std::collections::BTreeMap<(i64, String, String), (String, Option<i64>)>;

/// A recall notice in the log: its signature over the recall payload type, its fields, the
/// authority and lift rules against the replay, and the rows it implies.
fn verify_notice(
    row: &RecordRow,
    lot_rows: &[RecordLotRow],
    checked: Checked,
    keys: &HashMap<String, KeyRow>,
    replay: &mut Replay,
    recalled: &mut RecallRows,
) -> Vec<String> {
    let mut problems = checked.problems;
    let notice = match Notice::from_payload(&row.payload) {
        Ok(notice) => notice,
        Err(e) => {
            problems.push(format!("its payload is not a valid recall notice: {e}"));
            return problems;
        }
    };
    if let Some(key) = keys.get(&row.keyid)
        && key.org_id != notice.actor.to_string()
    {
        problems.push(format!(
            "its actor {} does not own key {}",
            notice.actor, row.keyid
        ));
    }
    if row.event != notice.action.as_str() || row.actor != notice.actor.to_string() {
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
    if let Err(CheckError::Rejected(rejection)) =
        recall::check(&notice, replay, row.accepted_at.and_utc())
    {
        problems.push(format!(
            "it breaks a recall rule: {}",
            crate::error::AppError::from(rejection)
        ));
    }
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
    replay.apply_notice(&notice);
    problems
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
        report.problems.push(Problem {
            log_index: None,
            record_id: None,
            message: format!(
                "the recall of lot ({gtin}, {lot}) by notice #{log_index} differs between the recall table and the log"
            ),
        });
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

/// (actor, eventID) -> the log index of the actor's first record of that EPCIS event.
type EventRows = BTreeMap<(String, String), i64>;

fn compare_events(conn: &mut DbConn, recorded: &EventRows, report: &mut Report) -> QueryResult<()> {
    let stored: EventRows = epcis_events::all(conn)?
        .into_iter()
        .map(|r| ((r.actor, r.event_id), r.log_index))
        .collect();
    for (actor, event_id) in differing(&stored, recorded) {
        report.problems.push(Problem {
            log_index: None,
            record_id: None,
            message: format!(
                "EPCIS event {event_id} of organization {actor} differs between the event table and the log"
            ),
        });
    }
    Ok(())
}

/// A page of the log: records with the lots each names.
type Page = Vec<(RecordRow, Vec<RecordLotRow>)>;

fn verify_record(
    row: &RecordRow,
    lot_rows: &[RecordLotRow],
    checked: Checked,
    keys: &HashMap<String, KeyRow>,
    replay: &mut Replay,
    lineage: &mut BTreeSet<Edge>,
) -> Vec<String> {
    let mut problems = checked.problems;
    let id = checked.id;
    let record = match checked.record {
        Ok(record) => record,
        Err(e) => {
            problems.push(format!("its payload is not a valid record: {e}"));
            return problems;
        }
    };
    if let Some(key) = keys.get(&row.keyid)
        && key.org_id != record.actor.to_string()
    {
        problems.push(format!(
            "its actor {} does not own key {}",
            record.actor, row.keyid
        ));
    }
    if row.event != record.event.as_str() || row.actor != record.actor.to_string() {
        problems.push("its stored event or actor column differs from its signed payload".into());
    }
    if row.event_time != record.time.naive_utc() {
        problems.push("its stored time differs from its signed payload".into());
    }
    let expected: Vec<(String, String, Option<String>)> = record
        .lots
        .iter()
        .map(|l| {
            (
                l.key.gtin.to_string(),
                l.key.lot.to_string(),
                Some(l.prev.to_hex()),
            )
        })
        .chain(
            record
                .new_lots
                .iter()
                .map(|l| (l.key.gtin.to_string(), l.key.lot.to_string(), None)),
        )
        .collect();
    let stored: Vec<(String, String, Option<String>)> = lot_rows
        .iter()
        .map(|l| (l.gtin.clone(), l.lot.clone(), l.prev.clone()))
        .collect();
    if expected != stored {
        problems.push("its stored lot references differ from its signed payload".into());
    }
    let accepted = row.accepted_at.and_utc();
    let prior = match rules::check(&record, replay, accepted) {
        Ok(prior) => prior,
        Err(CheckError::Rejected(rejection)) => {
            problems.push(format!(
                "it breaks a ledger rule: {}",
                crate::error::AppError::from(rejection)
            ));
            // Carry on from what the record claims, so that one broken record is named once
            // rather than failing every record after it.
            record
                .lots
                .iter()
                .map(|l| {
                    replay.lots.get(&l.key).cloned().unwrap_or(LotState {
                        custodian: record.actor,
                        head: l.prev,
                        head_time: record.time.into(),
                        shipped_to: None,
                    })
                })
                .collect()
        }
        Err(CheckError::View(never)) => match never {},
    };
    let transition = rules::next_states(&record, id, &prior);
    for (out, input) in &transition.lineage {
        lineage.insert((
            out.gtin.to_string(),
            out.lot.to_string(),
            input.gtin.to_string(),
            input.lot.to_string(),
            row.log_index,
        ));
    }
    replay.apply(transition);
    problems
}

/// The checks on one stored record that need no other record: its id is the hash of its payload,
/// its key was valid when it was accepted, and its signature verifies. Empty when all hold.
pub fn check_stored_record(row: &RecordRow, key: Option<&KeyRow>) -> Vec<String> {
    let mut problems = Vec::new();
    let id = RecordId::of_payload(&row.payload);
    if id.to_hex() != row.id {
        problems.push(format!(
            "its payload hashes to {id}, not to its id: the payload was altered"
        ));
    }
    match key {
        None => problems.push(format!("it names key {}, which is not enrolled", row.keyid)),
        Some(key) => problems.extend(check_key_and_signature(row, key)),
    }
    problems
}

fn check_key_and_signature(row: &RecordRow, key: &KeyRow) -> Vec<String> {
    let mut problems = Vec::new();
    let verifying = match store::verifying_key(key) {
        Ok(k) => k,
        Err(e) => return vec![e],
    };
    if KeyId::of(&verifying).as_str() != key.keyid {
        problems.push(format!(
            "the stored public key of {} does not hash to its keyid",
            key.keyid
        ));
    }
    if !key_valid_at(key, row.accepted_at) {
        problems.push(format!(
            "key {} was not valid when the record was accepted ({})",
            key.keyid,
            row.accepted_at.and_utc().to_rfc3339()
        ));
    }
    let signature: Result<[u8; 64], _> = row.sig.as_slice().try_into();
    let verified = signature
        .map_err(|_| "the stored signature is not 64 bytes".to_owned())
        .and_then(|signature| {
            Envelope {
                payload_type: PayloadType::of_stored_event(&row.event),
                payload: row.payload.clone(),
                keyid: KeyId::of(&verifying),
                signature,
            }
            .verify(&verifying)
        });
    if let Err(e) = verified {
        problems.push(format!("its signature is invalid: {e}"));
    }
    problems
}

fn compare_derived_state(
    conn: &mut DbConn,
    replay: &Replay,
    lineage: &BTreeSet<Edge>,
    report: &mut Report,
) -> QueryResult<()> {
    let derived = |message: String| Problem {
        log_index: None,
        record_id: None,
        message,
    };
    let mut seen = 0usize;
    for row in lots::all(conn)? {
        report.lots += 1;
        let key = match (Gtin::parse(&row.gtin), LotCode::parse(&row.lot)) {
            (Ok(gtin), Ok(lot)) => LotKey { gtin, lot },
            _ => {
                report.problems.push(derived(format!(
                    "lot ({}, {}) is not a valid lot key",
                    row.gtin, row.lot
                )));
                continue;
            }
        };
        match (replay.lots.get(&key), store::lot_state(&row)) {
            (Some(expected), Ok(stored)) if *expected == stored => seen += 1,
            (Some(_), _) => {
                seen += 1;
                report.problems.push(derived(format!(
                    "lot {key}: the stored head, custodian or shipment differs from the replayed log"
                )));
            }
            (None, _) => report.problems.push(derived(format!(
                "lot {key} is stored but no record created it"
            ))),
        }
    }
    if seen < replay.lots.len() {
        report.problems.push(derived(format!(
            "{} lots created by records are missing from the lot table",
            replay.lots.len() - seen
        )));
    }
    let stored: BTreeSet<Edge> = lots::all_inputs(conn)?
        .into_iter()
        .map(|r| (r.gtin, r.lot, r.input_gtin, r.input_lot, r.log_index))
        .collect();
    for edge in stored.symmetric_difference(lineage) {
        report.problems.push(derived(format!(
            "lineage ({}, {}) <- ({}, {}) at #{} differs between the lineage table and the log",
            edge.0, edge.1, edge.2, edge.3, edge.4
        )));
    }
    Ok(())
}
