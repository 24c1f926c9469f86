//! The submission pipeline with group commit.
//!
//! Request handlers do everything that needs no lock, in parallel: parse the envelope, hash the
//! payload, verify the signature. They hand the result to one writer thread, which takes every
//! submission waiting, judges each on its own inside a single write transaction and commits them
//! together. The writer's commits do not wait for the disk; a second thread flushes the WAL once
//! for every commit waiting, and only then answers them, while the writer goes on with the next
//! batch: no submission is answered before its commit is durable (`db::wal`, docs/decisions.md).

use super::store::{self, Batch, Prepared, SignatureCheck, Submitted};
use crate::db::{self, DbConn, DbPool, PooledConn, keys, wal};
use crate::domain::{EventType, Gtin, LotKey, RecordId};
use crate::error::{AppError, AppResult};
use crate::ledger::entry::Entry;
use crate::ledger::envelope::{Envelope, KeyId};
use crate::ledger::record;
use crate::ledger::tiles::Edge;
use crate::ledger::tlog::{self, Heads};
use chrono::Utc;
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The largest envelope accepted, as sent.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most submissions committed in one transaction (a client's batch is never split, so one
/// transaction may hold more).
const MAX_BATCH: usize = 512;
/// The most envelopes in one `POST /api/v1/records/batch`.
pub const MAX_BATCH_ENVELOPES: usize = 1_000;
/// The largest batch body accepted, as sent.
pub const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The fewest envelopes of a batch worth a verification thread of their own.
const MIN_PER_THREAD: usize = 16;

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
    /// Told, after every commit that stored a record, what it changed (page caches).
    listeners: Listeners,
    /// Where the transparency log's tree head arrives once a commit is durable; None when the
    /// ledger keeps no tree (`start_without_log`).
    heads: Option<Arc<Heads>>,
}

/// What a commit changed, for whoever keeps something it read before: every lot the stored
/// records named, and the products whose store stock they may have moved (a receive, sell,
/// dispose or ship of one of their lots: what `omo::stock` reads).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Committed {
    pub lots: Vec<LotKey>,
    pub stock: Vec<Gtin>,
}

impl Committed {
    fn of<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut changed = Self::default();
        for entry in entries {
            let record = match entry {
                Entry::Record(record) => record,
                // A recall changes the pages of the lots it names and of everything downstream
                // of them, which show those lots.
                Entry::Recall(notice) => {
                    changed.lots.extend(notice.lots.iter().cloned());
                    continue;
                }
            };
            let moves_stock = matches!(
                record.event,
                EventType::Receive | EventType::Sell | EventType::Dispose | EventType::Ship
            );
            for lot in &record.lots {
                if moves_stock && !changed.stock.contains(&lot.key.gtin) {
                    changed.stock.push(lot.key.gtin.clone());
                }
                changed.lots.push(lot.key.clone());
            }
            changed
                .lots
                .extend(record.new_lots.iter().map(|l| l.key.clone()));
        }
        changed
    }
}

type Listeners = Arc<RwLock<Vec<Box<dyn Fn(&Committed) + Send + Sync>>>>;

impl Ledger {
    /// Starts the writer thread, which also keeps the transparency log's tree (`ledger::tlog`).
    /// It ends when the last `Ledger` clone is dropped.
    pub fn start(pool: DbPool) -> std::io::Result<Self> {
        Self::start_with(pool, Some(Arc::default()))
    }

    /// A ledger that keeps no Merkle tree: stores no tiles and publishes no tree heads. Only for
    /// measuring what the log costs (benches/ingest.rs); a server always keeps the tree.
    pub fn start_without_log(pool: DbPool) -> std::io::Result<Self> {
        Self::start_with(pool, None)
    }

    fn start_with(pool: DbPool, heads: Option<Arc<Heads>>) -> std::io::Result<Self> {
        let (writer, jobs) = mpsc::channel();
        let writer_pool = pool.clone();
        let listeners = Listeners::default();
        let told = listeners.clone();
        let published = heads.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || write_loop(&writer_pool, &jobs, &told, published))?;
        Ok(Self {
            pool,
            keys: Arc::default(),
            writer,
            listeners,
            heads,
        })
    }

    /// Where the durable tree heads arrive, for the checkpoint signer; None without a log.
    pub fn heads(&self) -> Option<Arc<Heads>> {
        self.heads.clone()
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Calls `listener` on the writer thread after every commit that stored a record, once the
    /// commit is visible to readers (before it is answered): keep it short.
    pub fn on_commit(&self, listener: impl Fn(&Committed) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.listeners.write() {
            listeners.push(Box::new(listener));
        }
    }

    /// Submits an envelope from an async handler.
    pub async fn submit(&self, body: &[u8]) -> AppResult<Submitted> {
        let parsed = parse(body)?;
        let key = match self.cached_key(&parsed.0.keyid) {
            Some(key) => Some(key),
            None => {
                let ledger = self.clone();
                let keyid = parsed.0.keyid.clone();
                tokio::task::spawn_blocking(move || ledger.load_key(&keyid)).await??
            }
        };
        let reply = self.enqueue(prepare(parsed, key))?;
        reply.await.map_err(|_| writer_stopped())?
    }

    /// Submits several envelopes from an async handler, to be judged in the order given and
    /// committed in one transaction: a later envelope may name an earlier one's record id as
    /// `prev`. Each gets the verdict it would have had alone, and none is answered before every
    /// accepted record is durable. Parsing and verification run off the async workers, spread
    /// over the cores (`prepare_all`).
    pub async fn submit_all<B>(&self, bodies: Vec<B>) -> AppResult<Vec<AppResult<Submitted>>>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        let ledger = self.clone();
        let prepared = tokio::task::spawn_blocking(move || ledger.prepare_all(&bodies)).await?;
        let mut verdicts = Vec::with_capacity(prepared.len());
        for pending in self.enqueue_all(prepared) {
            verdicts.push(match pending {
                Ok(reply) => reply.await.unwrap_or_else(|_| Err(writer_stopped())),
                Err(e) => Err(e),
            });
        }
        Ok(verdicts)
    }

    /// `submit_all` for a caller outside the async runtime (the demo seeder, the benchmarks).
    pub fn submit_all_blocking<B>(&self, bodies: &[B]) -> Vec<AppResult<Submitted>>
    where
        B: AsRef<[u8]> + Sync,
    {
        self.enqueue_all(self.prepare_all(bodies))
            .into_iter()
            .map(|pending| {
                pending.and_then(|reply| {
                    reply
                        .blocking_recv()
                        .unwrap_or_else(|_| Err(writer_stopped()))
                })
            })
            .collect()
    }

    /// Parses and verifies `bodies` in order, on up to as many threads as there are cores (a
    /// batch of envelopes from one client need not wait on one core while the others idle).
    fn prepare_all<B: AsRef<[u8]> + Sync>(&self, bodies: &[B]) -> Vec<AppResult<Prepared>> {
        let prepare_each = |chunk: &[B]| -> Vec<AppResult<Prepared>> {
            chunk
                .iter()
                .map(|body| self.prepare_one(body.as_ref()))
                .collect()
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(bodies.len().div_ceil(MIN_PER_THREAD));
        if threads <= 1 {
            return prepare_each(bodies);
        }
        std::thread::scope(|scope| {
            let mut chunks = bodies.chunks(bodies.len().div_ceil(threads));
            let first = chunks.next().unwrap_or_default();
            // The other chunks on threads of their own; this thread takes the first.
            let others: Vec<_> = chunks
                .map(|chunk| {
                    let thread = std::thread::Builder::new()
                        .name("ledger-verify".into())
                        .spawn_scoped(scope, move || prepare_each(chunk));
                    (chunk, thread)
                })
                .collect();
            let mut prepared = prepare_each(first);
            for (chunk, thread) in others {
                match thread {
                    Ok(thread) => prepared.extend(thread.join().unwrap_or_else(|_| {
                        chunk
                            .iter()
                            .map(|_| Err(AppError::internal("a verification thread failed")))
                            .collect()
                    })),
                    // No thread to be had: this one does the work.
                    Err(_) => prepared.extend(prepare_each(chunk)),
                }
            }
            prepared
        })
    }

    /// Parses one envelope and checks its signature with the enrolled key (read from the
    /// database the first time).
    fn prepare_one(&self, body: &[u8]) -> AppResult<Prepared> {
        let parsed = parse(body)?;
        let key = match self.cached_key(&parsed.0.keyid) {
            Some(key) => Some(key),
            None => self.load_key(&parsed.0.keyid)?,
        };
        Ok(prepare(parsed, key))
    }

    /// Hands the prepared submissions to the writer in one message, so that they are judged in
    /// this order in one transaction; those refused already keep their verdict.
    fn enqueue_all(&self, prepared: Vec<AppResult<Prepared>>) -> Vec<AppResult<Reply>> {
        let mut jobs = Vec::new();
        let pending: Vec<AppResult<Reply>> = prepared
            .into_iter()
            .map(|prepared| {
                let prepared = prepared?;
                let (reply, receiver) = oneshot::channel();
                jobs.push(Job { prepared, reply });
                Ok(receiver)
            })
            .collect();
        if !jobs.is_empty() && self.writer.send(jobs).is_err() {
            return pending
                .into_iter()
                .map(|pending| pending.and(Err(writer_stopped())))
                .collect();
        }
        pending
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

    fn enqueue(&self, prepared: Prepared) -> AppResult<Reply> {
        let (reply, receiver) = oneshot::channel();
        self.writer
            .send(vec![Job { prepared, reply }])
            .map_err(|_| writer_stopped())?;
        Ok(receiver)
    }
}

/// Where a submission's verdict arrives once its commit is durable.
type Reply = oneshot::Receiver<AppResult<Submitted>>;

fn writer_stopped() -> AppError {
    AppError::internal("the ledger writer stopped")
}

/// The checks that come first and need nothing stored (400): the size, the envelope, and the
/// payload's JSON syntax. A payload that is not JSON cannot be "already stored" (only valid records
/// are), so answering 400 before looking it up keeps DESIGN.md's order. Public with `prepare` so
/// that the ingest benchmark can measure the request side alone, with nothing stored.
pub fn parse(body: &[u8]) -> AppResult<(Envelope, serde_json::Value)> {
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

/// Everything a submission needs that takes no lock: the record id, the signature checked
/// against `key` (None when the keyid is not enrolled yet), the record read.
pub fn prepare(
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
    let mut keyid = [0u8; 32];
    // A parsed keyid is 64 lowercase hex digits.
    let _ = hex::decode_to_slice(envelope.keyid.as_str(), &mut keyid);
    Prepared {
        leaf: tlog::leaf_hash(&keyid, &envelope.signature, &envelope.payload),
        id: RecordId::of_payload(&envelope.payload),
        claimed_actor: record::claimed_actor(&value),
        entry: Entry::from_value(envelope.payload_type, value),
        envelope,
        signature,
    }
}

/// A verdict on its way back to the request that asked.
type Answer = (oneshot::Sender<AppResult<Submitted>>, AppResult<Submitted>);

/// What the writer hands the sync thread for each commit: the answers, and the edge of the
/// log's tree after it (published once the commit is durable).
type Synced = (Vec<Answer>, Option<Edge>);

/// The writer's view of the log's tree: whether it keeps one, and the edge after its last
/// commit (None until first loaded; reloaded whenever the log's size is not the edge's, as
/// after another server's appends).
struct Tree {
    kept: bool,
    edge: Option<Edge>,
}

/// The writer thread: takes every submission waiting, commits them in one transaction on the
/// connection it keeps, and passes the verdicts on to be answered once the commit is durable.
fn write_loop(
    pool: &DbPool,
    jobs: &mpsc::Receiver<Vec<Job>>,
    listeners: &Listeners,
    heads: Option<Arc<Heads>>,
) {
    let mut conn: Option<PooledConn> = None;
    let mut durable: Option<mpsc::Sender<Synced>> = None;
    let mut tree = Tree {
        kept: heads.is_some(),
        edge: None,
    };
    // Set by the sync thread when the WAL has grown past `wal::RESTART_AFTER_FRAMES`.
    let log_is_long = Arc::new(AtomicBool::new(false));
    while let Ok(mut batch) = jobs.recv() {
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match open_writer(pool, &mut durable, &log_is_long, heads.clone()) {
                Ok(opened) => conn = Some(opened),
                Err(cause) => {
                    for job in batch {
                        let _ = job.reply.send(Err(AppError::Unavailable(cause.clone())));
                    }
                    continue;
                }
            }
        }
        let (Some(writer), Some(syncer)) = (conn.as_mut(), durable.as_ref()) else {
            continue;
        };
        if log_is_long.swap(false, Ordering::Relaxed) {
            // Nobody else writes now: this catches up with the last frames, and the next
            // commit starts the log over.
            if let Err(e) = wal::checkpoint(writer) {
                tracing::warn!(error = %e, "WAL checkpoint failed; it is tried again later");
            }
        }
        let (results, healthy) = commit_batch(writer, &batch, &mut tree);
        // A PostgreSQL connection that failed goes back to the pool, which checks it before
        // anyone uses it again, with the settings of every pooled connection (if it cannot
        // take them, it is dead, and the pool's check discards it). A SQLite one is kept (its
        // errors are the file's, not the connection's) unless its transaction state is broken,
        // and the pool discards those.
        if !healthy
            && (matches!(**writer, DbConn::Postgres(_))
                || diesel::r2d2::R2D2Connection::is_broken(&mut **writer))
        {
            let _ = release_writer(writer);
            conn = None;
        }
        let stored = batch
            .iter()
            .zip(&results)
            .filter(|(_, result)| result.as_ref().is_ok_and(|s| s.created))
            .filter_map(|(job, _)| job.prepared.entry.as_ref().ok());
        let changed = Committed::of(stored);
        if !changed.lots.is_empty()
            && let Ok(listeners) = listeners.read()
        {
            for listener in listeners.iter() {
                listener(&changed);
            }
        }
        let answers: Vec<Answer> = batch
            .into_iter()
            .map(|job| job.reply)
            .zip(results)
            .collect();
        let edge = tree.edge.clone().filter(|_| tree.kept);
        if let Err(mpsc::SendError((answers, _))) = syncer.send((answers, edge)) {
            answer_all(answers.into_iter().map(|(reply, _)| {
                (
                    reply,
                    Err(AppError::internal("the ledger's disk sync stopped")),
                )
            }));
        }
    }
    // The ledger is gone but the pool may live on (the CLI goes on with other work).
    if let Some(mut writer) = conn
        && let Err(e) = release_writer(&mut writer)
    {
        tracing::warn!(error = %e, "cannot restore the writer connection's settings");
    }
}

/// Gives the writer's connection the settings of every pooled connection again, before it goes
/// back to the pool.
fn release_writer(conn: &mut DbConn) -> diesel::QueryResult<()> {
    wal::resume_sync(conn)?;
    db::set_planning(conn, db::Planning::Pooled)
}

fn answer_all(answers: impl IntoIterator<Item = Answer>) {
    for (reply, result) in answers {
        // The client may have gone away; the record is stored all the same.
        let _ = reply.send(result);
    }
}

/// Takes the writer's connection from the pool. The sync thread starts first (once), then the
/// connection stops waiting for the disk at each commit and plans as `db::Planning::Writer`.
fn open_writer(
    pool: &DbPool,
    durable: &mut Option<mpsc::Sender<Synced>>,
    log_is_long: &Arc<AtomicBool>,
    heads: Option<Arc<Heads>>,
) -> Result<PooledConn, String> {
    let mut conn = pool.get().map_err(|e| format!("database pool: {e}"))?;
    if durable.is_none() {
        let flusher =
            wal::Flusher::for_writer(&mut conn, pool).map_err(|e| format!("database: {e}"))?;
        let syncer = start_syncer(flusher, pool.clone(), log_is_long.clone(), heads)
            .map_err(|e| format!("cannot start the ledger's sync thread: {e}"))?;
        *durable = Some(syncer);
    }
    wal::defer_sync(&mut conn).map_err(|e| format!("database: {e}"))?;
    db::set_planning(&mut conn, db::Planning::Writer).map_err(|e| format!("database: {e}"))?;
    Ok(conn)
}

/// How often the WAL is checkpointed into the database file while records keep coming.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Starts the thread that makes the writer's commits durable and answers them
/// (docs/decisions.md): it takes every commit waiting, flushes once for all of them, then
/// answers. It ends when the writer does.
fn start_syncer(
    mut flusher: wal::Flusher,
    pool: DbPool,
    log_is_long: Arc<AtomicBool>,
    heads: Option<Arc<Heads>>,
) -> std::io::Result<mpsc::Sender<Synced>> {
    let (sender, commits) = mpsc::channel::<Synced>();
    std::thread::Builder::new()
        .name("ledger-sync".into())
        .spawn(move || {
            let mut checkpointed = Instant::now();
            while let Ok((mut answers, mut edge)) = commits.recv() {
                while let Ok((more, later)) = commits.try_recv() {
                    answers.extend(more);
                    edge = later.or(edge);
                }
                match flusher.flush() {
                    Ok(()) => {
                        // The tree head is durable with the commit that ended it.
                        if let (Some(heads), Some(edge)) = (&heads, edge) {
                            heads.publish(edge);
                        }
                        answer_all(answers)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot flush the ledger's commits to disk");
                        let cause = format!(
                            "the record was written but could not be flushed to disk ({e}); submit it again to learn whether it is stored"
                        );
                        answer_all(answers.into_iter().map(|(reply, result)| match result {
                            Ok(_) => (reply, Err(AppError::Unavailable(cause.clone()))),
                            refused => (reply, refused),
                        }));
                    }
                }
                if flusher.checkpoints() && checkpointed.elapsed() >= CHECKPOINT_EVERY {
                    match wal::checkpoint_pooled(&pool) {
                        Ok(Some(frames)) => {
                            checkpointed = Instant::now();
                            if frames >= wal::RESTART_AFTER_FRAMES {
                                log_is_long.store(true, Ordering::Relaxed);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "WAL checkpoint failed; it is tried again later");
                            checkpointed = Instant::now();
                        }
                    }
                }
            }
        })?;
    Ok(sender)
}

/// Appends a batch in one transaction. If the transaction fails as a whole (a database error,
/// not a verdict), each submission is retried in a transaction of its own, so that one bad
/// moment cannot take the others down with it. The flag says whether the connection still
/// looks usable.
fn commit_batch(
    conn: &mut DbConn,
    batch: &[Job],
    tree: &mut Tree,
) -> (Vec<AppResult<Submitted>>, bool) {
    let now = Utc::now();
    let whole = db::write_transaction(conn, |conn| append_jobs(conn, batch, now, tree));
    match whole {
        Ok((results, edge)) => {
            tree.edge = edge;
            (results, true)
        }
        Err(e) if batch.len() == 1 => (vec![Err(AppError::from(e))], false),
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch append failed; retrying one by one");
            let results = batch
                .iter()
                .map(|job| {
                    match db::write_transaction(conn, |conn| {
                        append_jobs(conn, std::slice::from_ref(job), now, tree)
                    }) {
                        Ok((mut results, edge)) => {
                            tree.edge = edge;
                            results.pop().unwrap_or_else(|| Err(writer_stopped()))
                        }
                        Err(e) => Err(AppError::from(e)),
                    }
                })
                .collect();
            (results, false)
        }
    }
}

/// Judges and stages `jobs` in one transaction (the caller's), and appends the records accepted
/// to the log's tree, storing the tiles they complete; returns the verdicts and the tree's edge
/// after them (None when the ledger keeps no tree).
fn append_jobs(
    conn: &mut DbConn,
    jobs: &[Job],
    now: chrono::DateTime<Utc>,
    tree: &Tree,
) -> Result<(Vec<AppResult<Submitted>>, Option<Edge>), diesel::result::Error> {
    let mut state = Batch::begin(conn, jobs.iter().map(|job| &job.prepared))?;
    let results = jobs
        .iter()
        .map(|job| store::append(conn, &mut state, &job.prepared, now))
        .collect::<Result<Vec<_>, _>>()?;
    let edge = if tree.kept {
        let size = state.first_index() as u64;
        let mut edge = match &tree.edge {
            Some(edge) if edge.size() == size => edge.clone(),
            // Another server appended a few records: read just those.
            Some(edge) if edge.size() < size && size - edge.size() <= tlog::CATCH_UP_CHUNK => {
                let mut edge = edge.clone();
                tlog::extend(conn, &mut edge, size)?;
                edge
            }
            _ => tlog::load_edge(conn, size)?,
        };
        tlog::append(conn, &mut edge, state.leaves())?;
        Some(edge)
    } else {
        None
    };
    state.finish(conn)?;
    Ok((results, edge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;
    use diesel::sql_types::Integer;

    #[derive(diesel::QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = Integer)]
        synchronous: i32,
    }

    fn synchronous(conn: &mut DbConn) -> i32 {
        let DbConn::Sqlite(c) = conn else {
            panic!("a SQLite connection")
        };
        diesel::sql_query("PRAGMA synchronous")
            .get_result::<Synchronous>(c)
            .expect("pragma")
            .synchronous
    }

    /// The writer's connection commits without waiting for the disk (its sync thread waits
    /// instead); once the ledger is gone, the connection it hands back syncs its commits again.
    #[test]
    fn the_writer_connection_goes_back_to_the_pool_with_full_sync() {
        const FULL: i32 = 2;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = db::DatabaseUrl::Sqlite(dir.path().join("ledger.db"));
        // One connection: whatever the writer holds is what the next user gets.
        let pool = db::connect(&url, 1).expect("database");
        assert_eq!(synchronous(&mut pool.get().expect("connection")), FULL);

        run_writer_once(&pool);
        // The writer thread has ended and returned its connection.
        let mut conn = pool.get().expect("the writer's connection comes back");
        assert_eq!(synchronous(&mut conn), FULL);
    }

    /// Starts a ledger, has its writer take a connection and judge one submission, and waits
    /// until the writer thread has ended and returned its connection.
    fn run_writer_once(pool: &DbPool) {
        let ledger = Ledger::start(pool.clone()).expect("ledger");
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let body = serde_json::to_vec(
            &crate::ledger::envelope::sign(&key, br#"{"type":"truetrace.record/v1"}"#).to_json(),
        )
        .expect("envelope");
        // Well formed, so it reaches the writer, which looks for the key and refuses.
        let verdicts = ledger.submit_all_blocking(&[body]);
        assert!(
            matches!(verdicts.as_slice(), [Err(AppError::UnknownKey(_))]),
            "{verdicts:?}"
        );
        drop(ledger);
        // The pool hands the writer's connection out again once the thread has let it go.
        let all: Vec<_> = (0..pool.max_size())
            .map(|_| pool.get().expect("every connection comes back"))
            .collect();
        drop(all);
    }

    /// On PostgreSQL the writer's connection commits asynchronously and keeps its plans
    /// (`db::Planning::Writer`); every connection of the pool has the pooled settings again once
    /// the ledger is gone.
    #[test]
    fn the_writer_connection_goes_back_to_the_pool_with_pooled_settings_on_postgres() {
        let Some(schema) = db::testing::TestSchema::create("writer") else {
            return;
        };
        let pool = db::connect(&schema.url, 2).expect("database");
        run_writer_once(&pool);
        let mut conns: Vec<_> = (0..pool.max_size())
            .map(|_| pool.get().expect("connection"))
            .collect();
        for conn in &mut conns {
            let DbConn::Postgres(c) = &mut **conn else {
                panic!("a PostgreSQL connection")
            };
            assert_eq!(db::testing::show_setting(c, "synchronous_commit"), "on");
            assert_eq!(
                db::testing::show_setting(c, "plan_cache_mode"),
                "force_custom_plan"
            );
            assert_eq!(db::testing::show_setting(c, "enable_seqscan"), "on");
        }
    }
}
