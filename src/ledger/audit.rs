//! Whole-store verification, as `truetrace verify` runs it: every record id recomputed from its
//! payload, every signature checked against the key valid when the record was accepted, the log
//! replayed through the same rules ingest uses, and the stored lot states and lineage compared
//! with the replay. A row edited behind the server's back shows up as a named problem.

use super::rules::{self, CheckError, LotState, Replay};
use super::store::{self, key_valid_at};
use crate::db::rows::{KeyRow, RecordLotRow, RecordRow};
use crate::db::{DbConn, keys, lots, orgs, products, recalls, records};
use crate::domain::{Gtin, LotCode, LotKey, OrgId, RecordId, Roles};
use crate::ledger::envelope::{Envelope, KeyId, PayloadType};
use crate::ledger::recall::{self, Action, Notice};
use crate::ledger::record::Record;
use diesel::QueryResult;
use std::collections::{BTreeSet, HashMap};

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
    let stored_next = records::next_index(conn)?;
    let total = records::count(conn)? as u64;
    let mut report = Report::default();
    let mut lineage = BTreeSet::new();
    let mut recalled = RecallRows::new();
    let mut next = 0i64;
    loop {
        let page = records::page(conn, next, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        let after = last.log_index + 1;
        for (row, lot_rows) in &page {
            if row.log_index != next {
                report.problems.push(missing(next, row.log_index));
            }
            next = row.log_index + 1;
            let messages = match PayloadType::of_stored_event(&row.event) {
                PayloadType::Record => {
                    verify_record(row, lot_rows, &keys, &mut replay, &mut lineage)
                }
                PayloadType::Recall => {
                    verify_notice(row, lot_rows, &keys, &mut replay, &mut recalled)
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
    if next < stored_next {
        report.problems.push(missing(next, stored_next));
    }
    compare_derived_state(conn, &replay, &lineage, &mut report)?;
    compare_recalls(conn, &recalled, &mut report)?;
    Ok(report)
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
    keys: &HashMap<String, KeyRow>,
    replay: &mut Replay,
    recalled: &mut RecallRows,
) -> Vec<String> {
    let mut problems = check_stored_record(row, keys.get(&row.keyid));
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
    let differing: BTreeSet<&(i64, String, String)> = stored
        .iter()
        .chain(recalled.iter())
        .filter(|(k, v)| stored.get(*k) != Some(*v) || recalled.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    for (log_index, gtin, lot) in differing {
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

fn verify_record(
    row: &RecordRow,
    lot_rows: &[RecordLotRow],
    keys: &HashMap<String, KeyRow>,
    replay: &mut Replay,
    lineage: &mut BTreeSet<Edge>,
) -> Vec<String> {
    let mut problems = check_stored_record(row, keys.get(&row.keyid));
    let id = RecordId::of_payload(&row.payload);
    let record = match Record::from_payload(&row.payload) {
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
