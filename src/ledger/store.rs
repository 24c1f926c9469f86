//! The ledger over the database: the rules' view of lots, products and organizations, and the
//! append of one record inside the batch's write transaction.

use super::rules::{self, CheckError, LedgerView, LotState};
use crate::db::rows::{KeyRow, LotInputRow, LotRow, RecordLotRow, RecordRow};
use crate::db::{DbConn, keys, lots, orgs, products, records};
use crate::domain::{Gtin, LotKey, OrgId, RecordId, Roles};
use crate::envelope::Envelope;
use crate::error::AppError;
use crate::record::Record;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryResult;
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;

/// What the HTTP layer learned about a submission before it reached the writer: everything
/// that needs no lock. Errors that must be reported later in DESIGN.md's order are kept, not raised.
pub struct Prepared {
    pub id: RecordId,
    pub envelope: Envelope,
    pub claimed_actor: Option<OrgId>,
    pub record: Result<Record, String>,
    pub signature: SignatureCheck,
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

/// One append transaction: the next log index, and what the transaction has read of keys,
/// organizations and products (which records never change), so a batch reads each once.
pub struct Batch {
    next_index: i64,
    keys: HashMap<String, Option<KeyRow>>,
    roles: HashMap<OrgId, Option<Roles>>,
    products: HashMap<Gtin, bool>,
}

impl Batch {
    /// Takes the append lock; call first in the transaction.
    pub fn begin(conn: &mut DbConn) -> QueryResult<Self> {
        Ok(Self {
            next_index: records::lock_log(conn)?,
            keys: HashMap::new(),
            roles: HashMap::new(),
            products: HashMap::new(),
        })
    }

    /// Stores the next log index; call last in the transaction.
    pub fn finish(self, conn: &mut DbConn) -> QueryResult<()> {
        records::set_next_index(conn, self.next_index)
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

/// The rules' view of the database, inside the current transaction.
pub struct DbView<'a> {
    pub conn: &'a mut DbConn,
    pub batch: &'a mut Batch,
}

impl LedgerView for DbView<'_> {
    type Error = diesel::result::Error;

    fn lot(&mut self, key: &LotKey) -> QueryResult<Option<LotState>> {
        lots::find(self.conn, key.gtin.as_str(), key.lot.as_str())?
            .map(|row| lot_state(&row))
            .transpose()
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

/// Judges one submission and, if accepted, appends it. The outer error is a database failure
/// (the batch's transaction must roll back); the inner one is the verdict for the client.
pub fn append(
    conn: &mut DbConn,
    batch: &mut Batch,
    sub: &Prepared,
    now: DateTime<Utc>,
) -> QueryResult<Result<Submitted, AppError>> {
    let id = sub.id.to_hex();
    if let Some(log_index) = records::log_index_of(conn, &id)? {
        return Ok(Ok(Submitted {
            id,
            log_index,
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
    let record = match &sub.record {
        Ok(record) => record,
        Err(message) => return Ok(Err(AppError::InvalidRecord(message.clone()))),
    };
    let prior = match rules::check(record, &mut DbView { conn, batch }, now) {
        Ok(prior) => prior,
        Err(CheckError::Rejected(rejection)) => return Ok(Err(rejection.into())),
        Err(CheckError::View(e)) => return Err(e),
    };
    let log_index = batch.next_index;
    write_record(conn, sub, record, &prior, log_index, now)?;
    batch.next_index += 1;
    Ok(Ok(Submitted {
        id,
        log_index,
        created: true,
    }))
}

fn write_record(
    conn: &mut DbConn,
    sub: &Prepared,
    record: &Record,
    prior: &[LotState],
    log_index: i64,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let id = sub.id.to_hex();
    let row = RecordRow {
        log_index,
        id: id.clone(),
        payload: sub.envelope.payload.clone(),
        keyid: sub.envelope.keyid.to_string(),
        sig: sub.envelope.signature.to_vec(),
        event: record.event.as_str().to_owned(),
        actor: record.actor.to_string(),
        event_time: record.time.naive_utc(),
        accepted_at: now.naive_utc(),
    };
    let named = record
        .lots
        .iter()
        .map(|l| (&l.key, Some(l.prev.to_hex())))
        .chain(record.new_lots.iter().map(|l| (&l.key, None)));
    let lot_rows: Vec<RecordLotRow> = named
        .enumerate()
        .map(|(position, (key, prev))| RecordLotRow {
            log_index,
            position: position as i32,
            gtin: key.gtin.to_string(),
            lot: key.lot.to_string(),
            prev,
        })
        .collect();
    records::insert(conn, &row, &lot_rows)?;

    let transition = rules::next_states(record, sub.id, prior);
    let to_row = |key: &LotKey, state: &LotState| LotRow {
        gtin: key.gtin.to_string(),
        lot: key.lot.to_string(),
        custodian: state.custodian.to_string(),
        head: state.head.to_hex(),
        head_time: state.head_time.naive_utc(),
        shipped_to: state.shipped_to.map(|o| o.to_string()),
        created_log_index: log_index,
    };
    for ((key, state), before) in transition.updated.iter().zip(prior) {
        if !lots::advance(conn, &to_row(key, state), &before.head.to_hex())? {
            // Only reachable if the append lock failed; abort rather than fork the lot.
            return Err(diesel::result::Error::RollbackTransaction);
        }
    }
    for (key, state) in &transition.created {
        lots::insert(conn, &to_row(key, state))?;
    }
    let lineage: Vec<LotInputRow> = transition
        .lineage
        .iter()
        .map(|(out, input)| LotInputRow {
            gtin: out.gtin.to_string(),
            lot: out.lot.to_string(),
            input_gtin: input.gtin.to_string(),
            input_lot: input.lot.to_string(),
            log_index,
        })
        .collect();
    lots::insert_inputs(conn, &lineage)
}
