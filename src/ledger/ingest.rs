//! The submission pipeline with group commit.
//!
//! Request handlers do everything that needs no lock, in parallel: parse the envelope, hash the
//! payload, verify the signature. They hand the result to one writer thread, which takes every
//! submission waiting, judges each on its own inside a single write transaction and commits them
//! together: one durable commit (one fsync) for many records, never a weaker sync setting.

use super::store::{self, Batch, Prepared, SignatureCheck, Submitted};
use crate::db::{self, DbPool, keys};
use crate::domain::RecordId;
use crate::envelope::{Envelope, KeyId};
use crate::error::{AppError, AppResult};
use crate::record::{self, Record};
use chrono::Utc;
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use tokio::sync::oneshot;

/// The largest envelope accepted, as sent.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most submissions committed in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    prepared: Prepared,
    reply: oneshot::Sender<AppResult<Submitted>>,
}

/// The ledger service: shared by every request handler, the demo seeder and the CLI.
#[derive(Clone)]
pub struct Ledger {
    pool: DbPool,
    /// Public keys by keyid. A keyid is the hash of its key, so an entry can never go stale;
    /// revocation is always read from the database inside the append transaction.
    keys: Arc<RwLock<HashMap<KeyId, VerifyingKey>>>,
    /// Each message is committed in one batch (with whatever else is waiting).
    writer: mpsc::Sender<Vec<Job>>,
    /// Incremented after every commit that stored a record: what page caches check for freshness.
    generation: Arc<AtomicU64>,
}

impl Ledger {
    /// Starts the writer thread. It ends when the last `Ledger` clone is dropped.
    pub fn start(pool: DbPool) -> std::io::Result<Self> {
        let (writer, jobs) = mpsc::channel();
        let writer_pool = pool.clone();
        let generation = Arc::new(AtomicU64::new(0));
        let bump = generation.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || write_loop(&writer_pool, &jobs, &bump))?;
        Ok(Self {
            pool,
            keys: Arc::default(),
            writer,
            generation,
        })
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Changes whenever this server has stored a record.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Submits an envelope from an async handler.
    pub async fn submit(&self, body: &[u8]) -> AppResult<Submitted> {
        let parsed = parse(body)?;
        let key = match self.cached_key(&parsed.0.keyid) {
            Some(key) => Some(key),
            None => {
                let ledger = self.clone();
                let keyid = parsed.0.keyid.clone();
                actix_web::web::block(move || ledger.load_key(&keyid)).await??
            }
        };
        let reply = self.enqueue(prepare(parsed, key))?;
        reply
            .await
            .map_err(|_| AppError::internal("the ledger writer stopped"))?
    }

    /// Submits several envelopes to be judged in order and committed in one transaction, so a
    /// chain of records (a harvest, then its shipment, then the receipt) lands together. Each
    /// still gets its own verdict.
    pub fn submit_all_blocking(&self, bodies: &[Vec<u8>]) -> Vec<AppResult<Submitted>> {
        let mut verdicts: Vec<Option<AppResult<Submitted>>> = Vec::with_capacity(bodies.len());
        let mut jobs = Vec::new();
        let mut replies = Vec::new();
        for body in bodies {
            let prepared = parse(body).and_then(|parsed| {
                let key = match self.cached_key(&parsed.0.keyid) {
                    Some(key) => Some(key),
                    None => self.load_key(&parsed.0.keyid)?,
                };
                Ok(prepare(parsed, key))
            });
            match prepared {
                Ok(prepared) => {
                    let (reply, receiver) = oneshot::channel();
                    jobs.push(Job { prepared, reply });
                    replies.push((verdicts.len(), receiver));
                    verdicts.push(None);
                }
                Err(e) => verdicts.push(Some(Err(e))),
            }
        }
        if self.writer.send(jobs).is_err() {
            return bodies
                .iter()
                .map(|_| Err(AppError::internal("the ledger writer stopped")))
                .collect();
        }
        for (i, receiver) in replies {
            verdicts[i] = Some(
                receiver
                    .blocking_recv()
                    .unwrap_or_else(|_| Err(AppError::internal("the ledger writer stopped"))),
            );
        }
        verdicts.into_iter().flatten().collect()
    }

    fn cached_key(&self, keyid: &KeyId) -> Option<VerifyingKey> {
        self.keys.read().ok()?.get(keyid).copied()
    }

    fn load_key(&self, keyid: &KeyId) -> AppResult<Option<VerifyingKey>> {
        let mut conn = self.pool.get()?;
        let Some(row) = keys::find(&mut conn, keyid.as_str())? else {
            return Ok(None);
        };
        let key = store::verifying_key(&row).map_err(AppError::Internal)?;
        if let Ok(mut cache) = self.keys.write() {
            cache.insert(keyid.clone(), key);
        }
        Ok(Some(key))
    }

    fn enqueue(&self, prepared: Prepared) -> AppResult<oneshot::Receiver<AppResult<Submitted>>> {
        let (reply, receiver) = oneshot::channel();
        self.writer
            .send(vec![Job { prepared, reply }])
            .map_err(|_| AppError::internal("the ledger writer stopped"))?;
        Ok(receiver)
    }
}

/// The checks that come first and need nothing stored (400): the size, the envelope, and the
/// payload's JSON syntax. A payload that is not JSON cannot be "already stored" (only valid records
/// are), so answering 400 before looking it up keeps DESIGN.md's order.
fn parse(body: &[u8]) -> AppResult<(Envelope, serde_json::Value)> {
    if body.len() > MAX_BODY_BYTES {
        return Err(AppError::TooLarge(format!(
            "the envelope is {} bytes; the limit is {MAX_BODY_BYTES} bytes (64 KiB)",
            body.len()
        )));
    }
    let envelope = Envelope::parse(body).map_err(AppError::Malformed)?;
    let value = record::parse_json(&envelope.payload).map_err(AppError::Malformed)?;
    Ok((envelope, value))
}

fn prepare(
    (envelope, value): (Envelope, serde_json::Value),
    key: Option<VerifyingKey>,
) -> Prepared {
    let signature = match key {
        Some(key) => match envelope.verify(&key) {
            Ok(()) => SignatureCheck::Valid,
            Err(m) => SignatureCheck::Invalid(m),
        },
        None => SignatureCheck::KeyNotFound,
    };
    Prepared {
        id: RecordId::of_payload(&envelope.payload),
        claimed_actor: record::claimed_actor(&value),
        record: Record::from_value(value),
        envelope,
        signature,
    }
}

fn write_loop(pool: &DbPool, jobs: &mpsc::Receiver<Vec<Job>>, generation: &AtomicU64) {
    while let Ok(mut batch) = jobs.recv() {
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        let results = commit_batch(pool, &batch);
        if results.iter().any(|r| r.as_ref().is_ok_and(|s| s.created)) {
            generation.fetch_add(1, Ordering::Release);
        }
        for (job, result) in batch.into_iter().zip(results) {
            // The client may have gone away; the record is stored all the same.
            let _ = job.reply.send(result);
        }
    }
}

/// Appends a batch in one transaction. If the transaction fails as a whole (a database error,
/// not a verdict), each submission is retried in a transaction of its own, so that one bad
/// moment cannot take the others down with it.
fn commit_batch(pool: &DbPool, batch: &[Job]) -> Vec<AppResult<Submitted>> {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            let cause = format!("database pool: {e}");
            return batch
                .iter()
                .map(|_| Err(AppError::Unavailable(cause.clone())))
                .collect();
        }
    };
    let now = Utc::now();
    let whole = db::write_transaction(&mut conn, |conn| {
        let mut state = Batch::begin(conn, batch.iter().map(|job| &job.prepared))?;
        let results = batch
            .iter()
            .map(|job| store::append(conn, &mut state, &job.prepared, now))
            .collect::<Result<Vec<_>, _>>()?;
        state.finish(conn)?;
        Ok::<_, diesel::result::Error>(results)
    });
    match whole {
        Ok(results) => results,
        Err(e) if batch.len() == 1 => vec![Err(AppError::from(e))],
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch append failed; retrying one by one");
            batch
                .iter()
                .map(|job| {
                    db::write_transaction(&mut conn, |conn| {
                        let mut state = Batch::begin(conn, [&job.prepared])?;
                        let result = store::append(conn, &mut state, &job.prepared, now)?;
                        state.finish(conn)?;
                        Ok::<_, diesel::result::Error>(result)
                    })
                    .unwrap_or_else(|e| Err(AppError::from(e)))
                })
                .collect()
        }
    }
}
