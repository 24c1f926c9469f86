//! The ledger over the database: one append transaction judges a batch of submissions.
//!
//! A batch reads in bulk first (every record id and every lot the batch names, one query each),
//! judges each submission in order against that state plus the batch's own changes (an in-memory
//! overlay, so the second record on a lot sees the first), and writes everything at the end with
//! multi-row inserts and one compare-and-set per lot touched. The rules are the pure functions of
//! `rules`; this module only loads and stores.

use super::recall::{self, Action, Notice, RecallView};
use super::rules::{self, CheckError, LedgerView, LotState, Rejection};
use crate::db::rows::{
    EpcisEventRow, KeyRow, LotInputRow, LotRow, RecallLotRow, RecordLotRow, RecordRow,
};
use crate::db::{DbConn, epcis_events, keys, lots, orgs, products, recalls, records};
use crate::domain::epcis::EVENT_ID_KDE;
use crate::domain::{Gtin, LotCode, LotKey, OrgId, RecordId, Roles};
use crate::error::AppError;
use crate::ledger::entry::Entry;
use crate::ledger::envelope::Envelope;
use crate::ledger::record::Record;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryResult;
use ed25519_dalek::VerifyingKey;
use std::collections::{BTreeMap, HashMap};

/// What the HTTP layer learned about a submission before it reached the writer: everything
/// that needs no lock. Errors that must be reported later in DESIGN.md's order are kept, not raised.
pub struct Prepared {
    pub id: RecordId,
    pub envelope: Envelope,
    pub claimed_actor: Option<OrgId>,
    pub entry: Result<Entry, crate::ledger::record::Invalid>,
    pub signature: SignatureCheck,
    /// The record's leaf hash in the transparency log (`ledger::tlog::leaf_hash`).
    pub leaf: crate::ledger::merkle::Hash,
}

#[derive(Debug, Clone)]
pub enum SignatureCheck {
    Valid,
    Invalid(String),
    /// The key was not enrolled when the submission was prepared; the writer looks again.
    KeyNotFound,
}

/// The outcome of an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub id: String,
    pub log_index: i64,
    /// false when the record was already stored (a resubmission).
    pub created: bool,
}

/// A lot as the batch sees it: its state now, and its head when the batch began (None when the
/// batch created it), against which the final write is a compare-and-set.
struct LotEntry {
    state: Option<LotState>,
    head_before: Option<RecordId>,
    created_log_index: Option<i64>,
    touched: bool,
}

/// What the batch has staged about recalls, over what the database holds.
#[derive(Default)]
struct RecallStage {
    /// The first log index of the batch: a lift ends the stored rows before it.
    first_index: i64,
    rows: Vec<RecallLotRow>,
    /// (actor, lot, the lift's log index) for rows stored before the batch.
    lifts: Vec<(String, LotKey, i64)>,
    /// Whether an organization's recall of a lot is in force, as the batch left it.
    in_force: HashMap<(OrgId, LotKey), bool>,
    creators: HashMap<LotKey, Option<OrgId>>,
    brands: HashMap<Gtin, Option<OrgId>>,
}

/// One append transaction.
pub struct Batch {
    next_index: i64,
    keys: HashMap<String, Option<KeyRow>>,
    roles: HashMap<OrgId, Option<Roles>>,
    locations: HashMap<OrgId, Vec<String>>,
    products: HashMap<Gtin, bool>,
    /// Record ids known to be stored, with their log index (read at the start, then appended).
    stored: HashMap<String, i64>,
    lots: BTreeMap<LotKey, LotEntry>,
    records: Vec<RecordRow>,
    record_lots: Vec<RecordLotRow>,
    lineage: Vec<LotInputRow>,
    recalls: RecallStage,
    /// The EPCIS events the batch's records are, by (actor, eventID): (record id, log index).
    events: HashMap<(String, String), (String, i64)>,
    event_rows: Vec<EpcisEventRow>,
    /// The leaf hashes of the records accepted, in log order.
    leaves: Vec<crate::ledger::merkle::Hash>,
}

impl Batch {
    /// Takes the append lock (first, before reading anything) and reads what the submissions name.
    pub fn begin<'a>(
        conn: &mut DbConn,
        subs: impl IntoIterator<Item = &'a Prepared>,
    ) -> QueryResult<Self> {
        let next_index = records::lock_log(conn)?;
        let mut ids = Vec::new();
        let mut by_gtin: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for sub in subs {
            ids.push(sub.id.to_hex());
            if let Ok(entry) = &sub.entry {
                for key in entry.lots() {
                    by_gtin
                        .entry(key.gtin.as_str())
                        .or_default()
                        .push(key.lot.as_str());
                }
            }
        }
        let stored = records::log_indexes_of(conn, &ids)?.into_iter().collect();
        let mut batch = Self {
            next_index,
            keys: HashMap::new(),
            roles: HashMap::new(),
            locations: HashMap::new(),
            products: HashMap::new(),
            stored,
            lots: BTreeMap::new(),
            records: Vec::new(),
            record_lots: Vec::new(),
            lineage: Vec::new(),
            recalls: RecallStage {
                first_index: next_index,
                ..RecallStage::default()
            },
            events: HashMap::new(),
            event_rows: Vec::new(),
            leaves: Vec::new(),
        };
        for (gtin, names) in by_gtin {
            let found: HashMap<String, LotRow> = lots::find_many(conn, gtin, &names)?
                .into_iter()
                .map(|row| (row.lot.clone(), row))
                .collect();
            for name in names {
                let (Ok(g), Ok(l)) = (Gtin::parse(gtin), LotCode::parse(name)) else {
                    continue;
                };
                let state = found.get(name).map(lot_state).transpose()?;
                batch.lots.insert(
                    LotKey { gtin: g, lot: l },
                    LotEntry {
                        head_before: state.as_ref().map(|s| s.head),
                        state,
                        created_log_index: None,
                        touched: false,
                    },
                );
            }
        }
        Ok(batch)
    }

    /// The log index the batch's first record gets: the size of the log before it.
    pub fn first_index(&self) -> i64 {
        self.next_index - self.records.len() as i64
    }

    /// The leaf hashes of the records accepted so far, in log order.
    pub fn leaves(&self) -> &[crate::ledger::merkle::Hash] {
        &self.leaves
    }

    /// Writes what the batch accepted and the next log index; call last in the transaction.
    pub fn finish(self, conn: &mut DbConn) -> QueryResult<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        records::insert_many(conn, &self.records, &self.record_lots)?;
        let mut created = Vec::new();
        for (key, entry) in self.lots.iter().filter(|(_, e)| e.touched) {
            let Some(state) = &entry.state else { continue };
            let row = LotRow {
                gtin: key.gtin.to_string(),
                lot: key.lot.to_string(),
                custodian: state.custodian.to_string(),
                head: state.head.to_hex(),
                head_time: state.head_time.naive_utc(),
                shipped_to: state.shipped_to.map(|o| o.to_string()),
                created_log_index: entry.created_log_index.unwrap_or_default(),
            };
            match entry.head_before {
                None => created.push(row),
                // Only false if the append lock failed; abort rather than fork the lot.
                Some(before) => {
                    if !lots::advance(conn, &row, &before.to_hex())? {
                        return Err(diesel::result::Error::RollbackTransaction);
                    }
                }
            }
        }
        lots::insert_many(conn, &created)?;
        lots::insert_inputs(conn, &self.lineage)?;
        recalls::insert_many(conn, &self.recalls.rows)?;
        epcis_events::insert_many(conn, &self.event_rows)?;
        for (actor, key, lift_index) in &self.recalls.lifts {
            recalls::lift(
                conn,
                actor,
                (key.gtin.as_str(), key.lot.as_str()),
                *lift_index,
                self.recalls.first_index,
            )?;
        }
        records::set_next_index(conn, self.next_index)
    }

    /// The record that is already `actor`'s EPCIS event `event_id`: stored, or accepted earlier
    /// in this batch.
    fn recorded_event(
        &self,
        conn: &mut DbConn,
        actor: &str,
        event_id: &str,
    ) -> QueryResult<Option<(String, i64)>> {
        match self.events.get(&(actor.to_owned(), event_id.to_owned())) {
            Some(found) => Ok(Some(found.clone())),
            None => epcis_events::find(conn, actor, event_id),
        }
    }

    fn key(&mut self, conn: &mut DbConn, keyid: &str) -> QueryResult<Option<KeyRow>> {
        if let Some(found) = self.keys.get(keyid) {
            return Ok(found.clone());
        }
        let found = keys::find(conn, keyid)?;
        self.keys.insert(keyid.to_owned(), found.clone());
        Ok(found)
    }
}

/// The rules' view: the batch's overlay first, the database for anything not read yet.
struct DbView<'a> {
    conn: &'a mut DbConn,
    batch: &'a mut Batch,
}

impl LedgerView for DbView<'_> {
    type Error = diesel::result::Error;

    fn lot(&mut self, key: &LotKey) -> QueryResult<Option<LotState>> {
        if let Some(entry) = self.batch.lots.get(key) {
            return Ok(entry.state.clone());
        }
        let state = lots::find(self.conn, key.gtin.as_str(), key.lot.as_str())?
            .map(|row| lot_state(&row))
            .transpose()?;
        let entry = LotEntry {
            head_before: state.as_ref().map(|s| s.head),
            state: state.clone(),
            created_log_index: None,
            touched: false,
        };
        self.batch.lots.insert(key.clone(), entry);
        Ok(state)
    }

    fn product_exists(&mut self, gtin: &Gtin) -> QueryResult<bool> {
        if let Some(known) = self.batch.products.get(gtin) {
            return Ok(*known);
        }
        let exists = products::exists_gtin(self.conn, gtin.as_str())?;
        self.batch.products.insert(gtin.clone(), exists);
        Ok(exists)
    }

    fn org_roles(&mut self, org: OrgId) -> QueryResult<Option<Roles>> {
        if let Some(known) = self.batch.roles.get(&org) {
            return Ok(known.clone());
        }
        let roles = orgs::roles_of(self.conn, &org.to_string())?
            .map(|stored| Roles::from_stored(&stored).map_err(corrupt))
            .transpose()?;
        self.batch.roles.insert(org, roles.clone());
        Ok(roles)
    }

    fn location_names(&mut self, org: OrgId) -> QueryResult<Option<Vec<String>>> {
        if let Some(known) = self.batch.locations.get(&org) {
            return Ok(Some(known.clone()));
        }
        let names: Vec<String> = orgs::locations_of(self.conn, &[org.to_string()])?
            .into_iter()
            .map(|l| l.name)
            .collect();
        self.batch.locations.insert(org, names.clone());
        Ok(Some(names))
    }
}

impl RecallView for DbView<'_> {
    fn creator(&mut self, key: &LotKey) -> QueryResult<Option<OrgId>> {
        if let Some(known) = self.batch.recalls.creators.get(key) {
            return Ok(*known);
        }
        let creator = lots::creator_of(self.conn, key.gtin.as_str(), key.lot.as_str())?
            .map(|id| OrgId::parse(&id).map_err(corrupt))
            .transpose()?;
        self.batch.recalls.creators.insert(key.clone(), creator);
        Ok(creator)
    }

    fn inputs(&mut self, key: &LotKey) -> QueryResult<Vec<LotKey>> {
        let stored = lots::inputs_of(self.conn, key.gtin.as_str(), key.lot.as_str())?;
        let staged = self
            .batch
            .lineage
            .iter()
            .filter(|e| e.gtin == key.gtin.as_str() && e.lot == key.lot.as_str());
        Ok(stored
            .iter()
            .chain(staged)
            .filter_map(|e| {
                Some(LotKey {
                    gtin: Gtin::parse(&e.input_gtin).ok()?,
                    lot: LotCode::parse(&e.input_lot).ok()?,
                })
            })
            .collect())
    }

    fn brand(&mut self, gtin: &Gtin) -> QueryResult<Option<OrgId>> {
        if let Some(known) = self.batch.recalls.brands.get(gtin) {
            return Ok(*known);
        }
        let brand = products::brand_of(self.conn, gtin.as_str())?
            .map(|id| OrgId::parse(&id).map_err(corrupt))
            .transpose()?;
        self.batch.recalls.brands.insert(gtin.clone(), brand);
        Ok(brand)
    }

    fn in_force_by(&mut self, actor: OrgId, key: &LotKey) -> QueryResult<bool> {
        if let Some(staged) = self.batch.recalls.in_force.get(&(actor, key.clone())) {
            return Ok(*staged);
        }
        recalls::in_force_by(
            self.conn,
            &actor.to_string(),
            key.gtin.as_str(),
            key.lot.as_str(),
        )
    }
}

fn corrupt(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

pub fn lot_state(row: &LotRow) -> QueryResult<LotState> {
    Ok(LotState {
        custodian: OrgId::parse(&row.custodian).map_err(corrupt)?,
        head: RecordId::parse(&row.head).map_err(corrupt)?,
        head_time: row.head_time.and_utc(),
        shipped_to: row
            .shipped_to
            .as_deref()
            .map(OrgId::parse)
            .transpose()
            .map_err(corrupt)?,
    })
}

/// Whether a key, as enrolled, could sign a record accepted at `at`.
pub fn key_valid_at(key: &KeyRow, at: NaiveDateTime) -> bool {
    key.enrolled_at <= at && key.revoked_at.is_none_or(|revoked| at < revoked)
}

pub fn verifying_key(row: &KeyRow) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = row
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| format!("stored key {} is not 32 bytes", row.keyid))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("stored key {} is not a valid point", row.keyid))
}

/// Judges one submission and, if accepted, adds it to the batch. The outer error is a database
/// failure (the batch's transaction must roll back); the inner one is the verdict for the client.
pub fn append(
    conn: &mut DbConn,
    batch: &mut Batch,
    sub: &Prepared,
    now: DateTime<Utc>,
) -> QueryResult<Result<Submitted, AppError>> {
    let id = sub.id.to_hex();
    if let Some(log_index) = batch.stored.get(&id) {
        return Ok(Ok(Submitted {
            id,
            log_index: *log_index,
            created: false,
        }));
    }
    let Some(key) = batch.key(conn, sub.envelope.keyid.as_str())? else {
        return Ok(Err(AppError::UnknownKey(format!(
            "no key with keyid {} is enrolled",
            sub.envelope.keyid
        ))));
    };
    let signature = match &sub.signature {
        SignatureCheck::KeyNotFound => match verifying_key(&key) {
            Ok(vk) => sub.envelope.verify(&vk).map_err(AppError::BadSignature),
            Err(e) => Err(AppError::Internal(e)),
        },
        SignatureCheck::Invalid(m) => Err(AppError::BadSignature(m.clone())),
        SignatureCheck::Valid => Ok(()),
    };
    if let Err(e) = signature {
        return Ok(Err(e));
    }
    if key.revoked_at.is_some() {
        return Ok(Err(AppError::RevokedKey(format!(
            "key {} was revoked; records signed with it are refused",
            key.keyid
        ))));
    }
    if let Some(actor) = sub.claimed_actor
        && actor.to_string() != key.org_id
    {
        return Ok(Err(AppError::ActorMismatch(format!(
            "key {} belongs to organization {}, but the record's actor is {actor}",
            key.keyid, key.org_id
        ))));
    }
    let record = match &sub.entry {
        Ok(Entry::Record(record)) => record,
        Ok(Entry::Recall(notice)) => return append_notice(conn, batch, sub, notice, now),
        Err(invalid) => return Ok(Err(Rejection::from(invalid.clone()).into())),
    };
    // An organization records an EPCIS event once: the same event again (an import retried,
    // a document sent twice) answers the record already stored, whatever its chain says now.
    let event_id = record.kde.get(EVENT_ID_KDE);
    if let Some(event_id) = event_id
        && let Some((id, log_index)) =
            batch.recorded_event(conn, &record.actor.to_string(), event_id)?
    {
        return Ok(Ok(Submitted {
            id,
            log_index,
            created: false,
        }));
    }
    let prior = match rules::check(record, &mut DbView { conn, batch }, now) {
        Ok(prior) => prior,
        Err(CheckError::Rejected(rejection)) => return Ok(Err(rejection.into())),
        Err(CheckError::View(e)) => return Err(e),
    };
    let log_index = batch.next_index;
    batch.next_index += 1;
    stage_record(batch, sub, record, &prior, log_index, now);
    batch.stored.insert(id.clone(), log_index);
    if let Some(event_id) = event_id {
        let actor = record.actor.to_string();
        batch
            .events
            .insert((actor.clone(), event_id.clone()), (id.clone(), log_index));
        batch.event_rows.push(EpcisEventRow {
            actor,
            event_id: event_id.clone(),
            log_index,
        });
    }
    Ok(Ok(Submitted {
        id,
        log_index,
        created: true,
    }))
}

/// Judges a recall notice and, if accepted, adds it to the batch.
fn append_notice(
    conn: &mut DbConn,
    batch: &mut Batch,
    sub: &Prepared,
    notice: &Notice,
    now: DateTime<Utc>,
) -> QueryResult<Result<Submitted, AppError>> {
    match recall::check(notice, &mut DbView { conn, batch }, now) {
        Ok(()) => {}
        Err(CheckError::Rejected(rejection)) => return Ok(Err(rejection.into())),
        Err(CheckError::View(e)) => return Err(e),
    }
    let id = sub.id.to_hex();
    let log_index = batch.next_index;
    batch.next_index += 1;
    // A notice is a leaf of the log's tree like a record.
    batch.leaves.push(sub.leaf);
    batch.records.push(RecordRow {
        log_index,
        id: id.clone(),
        payload: sub.envelope.payload.clone(),
        keyid: sub.envelope.keyid.to_string(),
        sig: sub.envelope.signature.to_vec(),
        event: notice.action.as_str().to_owned(),
        actor: notice.actor.to_string(),
        event_time: notice.time.naive_utc(),
        accepted_at: now.naive_utc(),
    });
    let stage = &mut batch.recalls;
    let actor = notice.actor.to_string();
    for key in &notice.lots {
        stage
            .in_force
            .insert((notice.actor, key.clone()), notice.action == Action::Recall);
        match notice.action {
            Action::Recall => stage.rows.push(RecallLotRow {
                log_index,
                gtin: key.gtin.to_string(),
                lot: key.lot.to_string(),
                actor: actor.clone(),
                lifted_log_index: None,
            }),
            Action::Lift => {
                for row in stage.rows.iter_mut().filter(|r| {
                    r.actor == actor
                        && r.lifted_log_index.is_none()
                        && r.gtin == key.gtin.as_str()
                        && r.lot == key.lot.as_str()
                }) {
                    row.lifted_log_index = Some(log_index);
                }
                stage.lifts.push((actor.clone(), key.clone(), log_index));
            }
        }
    }
    batch.stored.insert(id.clone(), log_index);
    Ok(Ok(Submitted {
        id,
        log_index,
        created: true,
    }))
}

/// Adds an accepted record's rows to the batch and moves the overlay to the lots' new states.
fn stage_record(
    batch: &mut Batch,
    sub: &Prepared,
    record: &Record,
    prior: &[LotState],
    log_index: i64,
    now: DateTime<Utc>,
) {
    batch.leaves.push(sub.leaf);
    batch.records.push(RecordRow {
        log_index,
        id: sub.id.to_hex(),
        payload: sub.envelope.payload.clone(),
        keyid: sub.envelope.keyid.to_string(),
        sig: sub.envelope.signature.to_vec(),
        event: record.event.as_str().to_owned(),
        actor: record.actor.to_string(),
        event_time: record.time.naive_utc(),
        accepted_at: now.naive_utc(),
    });
    let named = record
        .lots
        .iter()
        .map(|l| (&l.key, Some(l.prev.to_hex())))
        .chain(record.new_lots.iter().map(|l| (&l.key, None)));
    batch.record_lots.extend(
        named
            .enumerate()
            .map(|(position, (key, prev))| RecordLotRow {
                log_index,
                position: position as i32,
                gtin: key.gtin.to_string(),
                lot: key.lot.to_string(),
                prev,
            }),
    );
    let transition = rules::next_states(record, sub.id, prior);
    for (key, state) in transition.updated {
        let entry = batch.lots.entry(key).or_insert(LotEntry {
            state: None,
            head_before: None,
            created_log_index: None,
            touched: false,
        });
        entry.state = Some(state);
        entry.touched = true;
    }
    for (key, state) in transition.created {
        batch
            .recalls
            .creators
            .insert(key.clone(), Some(record.actor));
        batch.lots.insert(
            key,
            LotEntry {
                state: Some(state),
                head_before: None,
                created_log_index: Some(log_index),
                touched: true,
            },
        );
    }
    batch.lineage.extend(
        transition
            .lineage
            .into_iter()
            .map(|(out, input)| LotInputRow {
                gtin: out.gtin.to_string(),
                lot: out.lot.to_string(),
                input_gtin: input.gtin.to_string(),
                input_lot: input.lot.to_string(),
                log_index,
            }),
    );
}
