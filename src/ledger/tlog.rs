//! The transparency log over the database (docs/transparency.md): the tree's right edge as the
//! ledger writer keeps it, the full tiles each append transaction completes, the tree read back
//! from tiles and records for proofs and tile requests, and the thread that signs a checkpoint
//! at least every second while records arrive.
//!
//! The tree is a function of the records in log order: leaf n is
//! `keyid (32 raw bytes) || signature (64 bytes) || payload` of record n (DESIGN.md). Every
//! full tile is stored in the transaction that appends its last leaf; partial tiles are computed
//! from the records and the roots of full tiles when asked for. Checkpoints cover only commits
//! that are durable: the writer hands its edge to the sync thread with the commit's answers, and
//! the edge reaches the signer only once the commit is on disk.

use super::checkpoint::LogKey;
use super::merkle::{self, Hash, Source};
use super::tiles::{self, Edge, FullTile, TilePath};
use crate::db::tlog::{self as queries, TileRow};
use crate::db::{DbConn, DbPool, records};
use diesel::QueryResult;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The leaf hash of a record: `SHA-256(0x00 || keyid || sig || payload)`.
pub fn leaf_hash(keyid: &[u8; 32], sig: &[u8; 64], payload: &[u8]) -> Hash {
    merkle::leaf_hash_of_parts(&[keyid, sig, payload])
}

/// The leaf hash of a stored record, whose keyid is kept as hex.
pub fn stored_leaf_hash(keyid_hex: &str, sig: &[u8], payload: &[u8]) -> QueryResult<Hash> {
    let keyid: [u8; 32] = hex::decode(keyid_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(format!("stored keyid {keyid_hex:?} is not 64 hex digits")))?;
    let sig: &[u8; 64] = sig
        .try_into()
        .map_err(|_| corrupt("a stored signature is not 64 bytes".into()))?;
    Ok(leaf_hash(&keyid, sig, payload))
}

fn corrupt(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

fn hashes_of(bytes: &[u8]) -> QueryResult<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(corrupt(
            "a stored tile is not a whole number of hashes".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

fn hash_of(bytes: &[u8]) -> QueryResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| corrupt("a stored tile root is not 32 bytes".into()))
}

fn tile_row(tile: &FullTile) -> TileRow {
    TileRow {
        level: i32::from(tile.level),
        idx: tile.index as i64,
        hashes: tile.bytes(),
        root: tile.root.to_vec(),
    }
}

/// The leaf hashes of records `from..to`, in order; a gap in the log is an error.
fn leaves(conn: &mut DbConn, from: u64, to: u64) -> QueryResult<Vec<Hash>> {
    let rows = queries::leaf_parts(conn, from as i64, to as i64)?;
    if rows.len() as u64 != to - from {
        return Err(corrupt(format!(
            "the log has {} of the records #{from} to #{}: the tree cannot be built",
            rows.len(),
            to.saturating_sub(1)
        )));
    }
    rows.iter()
        .enumerate()
        .map(|(i, (index, keyid, sig, payload))| {
            if *index as u64 != from + i as u64 {
                return Err(corrupt(format!(
                    "the log is missing record #{}",
                    from + i as u64
                )));
            }
            stored_leaf_hash(keyid, sig, payload)
        })
        .collect()
}

/// Records hashed per step while catching up.
pub const CATCH_UP_CHUNK: u64 = 4096;

/// Extends `edge` to the tree of `size` leaves with the records after it (appended by another
/// server), storing the tiles they complete if that server has not.
pub fn extend(conn: &mut DbConn, edge: &mut Edge, size: u64) -> QueryResult<()> {
    let added = leaves(conn, edge.size(), size)?;
    append(conn, edge, &added)
}

/// The edge of the tree of `size` leaves, from the stored tiles and the records after the last
/// full tile; full tiles that are missing (a store older than the log, or records appended by a
/// server without it) are computed from the records and stored on the way.
pub fn load_edge(conn: &mut DbConn, size: u64) -> QueryResult<Edge> {
    let stored = (queries::full_tiles(conn, 0)?.max(0) as u64).min(size / tiles::WIDTH as u64);
    let start = stored * tiles::WIDTH as u64;
    let mut edge = edge_at_boundary(conn, start)?;
    let mut from = start;
    while from < size {
        let to = (from + CATCH_UP_CHUNK).min(size);
        let mut full = Vec::new();
        for leaf in leaves(conn, from, to)? {
            edge.push(leaf, &mut full);
        }
        let rows: Vec<TileRow> = full.iter().map(tile_row).collect();
        queries::insert_tiles(conn, &rows)?;
        from = to;
    }
    Ok(edge)
}

/// The edge of a tree whose size is a multiple of 256 and all of whose full tiles are stored.
fn edge_at_boundary(conn: &mut DbConn, size: u64) -> QueryResult<Edge> {
    let mut parts = vec![Vec::new()];
    for level in 1..tiles::levels(size) {
        let width = tiles::partial_width(size, level) as u64;
        let end = size >> (tiles::HEIGHT * u32::from(level));
        let roots = queries::roots(conn, i32::from(level) - 1, (end - width) as i64, end as i64)?;
        if roots.len() as u64 != width {
            return Err(corrupt(format!(
                "the log's tiles of level {} are incomplete",
                level - 1
            )));
        }
        parts.push(
            roots
                .iter()
                .map(|(_, r)| hash_of(r))
                .collect::<QueryResult<_>>()?,
        );
    }
    Edge::from_parts(size, parts).map_err(corrupt)
}

/// Appends leaves to `edge` inside the append transaction, storing every tile they complete.
pub fn append(conn: &mut DbConn, edge: &mut Edge, leaves: &[Hash]) -> QueryResult<()> {
    let mut full = Vec::new();
    for leaf in leaves {
        edge.push(*leaf, &mut full);
    }
    if full.is_empty() {
        return Ok(());
    }
    let rows: Vec<TileRow> = full.iter().map(tile_row).collect();
    queries::insert_tiles(conn, &rows)
}

/// The stored tree of `size` leaves, read from full tiles, tile roots and records.
pub struct StoredTree<'a> {
    conn: &'a mut DbConn,
    size: u64,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl<'a> StoredTree<'a> {
    pub fn new(conn: &'a mut DbConn, size: u64) -> Self {
        Self {
            conn,
            size,
            tiles: HashMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first `need` entries of tile `index` of `level` (full or partial) in this tree.
    pub fn tile(&mut self, level: u8, index: u64, need: usize) -> QueryResult<Vec<Hash>> {
        if let Some(found) = self.tiles.get(&(level, index))
            && found.len() >= need
        {
            return Ok(found[..need].to_vec());
        }
        let unit_shift = tiles::HEIGHT * u32::from(level);
        let entries_in_tree = self.size >> unit_shift;
        let first = index * tiles::WIDTH as u64;
        let full = first + tiles::WIDTH as u64 <= entries_in_tree;
        let entries = if full {
            let bytes = queries::tile(self.conn, i32::from(level), index as i64)?
                .ok_or_else(|| corrupt(format!("tile {level}/{index} is not stored")))?;
            let hashes = hashes_of(&bytes)?;
            if hashes.len() != tiles::WIDTH {
                return Err(corrupt(format!("tile {level}/{index} is not 256 hashes")));
            }
            hashes
        } else {
            let have = entries_in_tree.saturating_sub(first) as usize;
            if need > have {
                return Err(corrupt(format!(
                    "tile {level}/{index} has {have} entries in a tree of {} leaves",
                    self.size
                )));
            }
            if level == 0 {
                leaves(self.conn, first, first + have as u64)?
            } else {
                let roots = queries::roots(
                    self.conn,
                    i32::from(level) - 1,
                    first as i64,
                    (first + have as u64) as i64,
                )?;
                if roots.len() != have {
                    return Err(corrupt(format!("tiles of level {} are missing", level - 1)));
                }
                roots
                    .iter()
                    .map(|(_, r)| hash_of(r))
                    .collect::<QueryResult<_>>()?
            }
        };
        let out = entries[..need].to_vec();
        self.tiles.insert((level, index), entries);
        Ok(out)
    }

    /// The bytes of a tile as `/tile/` serves it; None when this tree does not hold it.
    pub fn tile_bytes(&mut self, path: &TilePath) -> QueryResult<Option<Vec<u8>>> {
        match path.needs_size() {
            Some(needed) if needed <= u128::from(self.size) => {}
            _ => return Ok(None),
        }
        let width = path.width.map_or(tiles::WIDTH, usize::from);
        Ok(Some(self.tile(path.level, path.index, width)?.concat()))
    }

    /// The leaf inputs of entry bundle `index` (C2SP tlog-tiles `tile/entries/`), the first
    /// `width` of them, each prefixed by its length (big-endian u16).
    pub fn entry_bundle(&mut self, index: u64, width: usize) -> QueryResult<Vec<u8>> {
        let first = index * tiles::WIDTH as u64;
        let rows = queries::leaf_parts(self.conn, first as i64, (first + width as u64) as i64)?;
        let mut out = Vec::new();
        for (_, keyid, sig, payload) in rows {
            let keyid = hex::decode(&keyid).map_err(|_| corrupt("a stored keyid".into()))?;
            let len = keyid.len() + sig.len() + payload.len();
            let len = u16::try_from(len)
                .map_err(|_| corrupt("a leaf longer than 65,535 bytes".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&keyid);
            out.extend_from_slice(&sig);
            out.extend_from_slice(&payload);
        }
        Ok(out)
    }
}

impl Source for StoredTree<'_> {
    type Error = diesel::result::Error;

    fn perfect(&mut self, height: u32, index: u64) -> QueryResult<Hash> {
        let level = (height / tiles::HEIGHT) as u8;
        let within = height % tiles::HEIGHT;
        let first = index << within;
        let count = 1usize << within;
        let tile = first / tiles::WIDTH as u64;
        let offset = (first % tiles::WIDTH as u64) as usize;
        let entries = self.tile(level, tile, offset + count)?;
        Ok(merkle::root_of(&entries[offset..offset + count]))
    }
}

/// The durable tree head the sync thread last published, for the signer.
#[derive(Default)]
pub struct Heads {
    latest: Mutex<Option<Edge>>,
    arrived: Condvar,
}

impl Heads {
    /// Called once a commit is durable, with the edge of the tree it ends.
    pub fn publish(&self, edge: Edge) {
        if let Ok(mut latest) = self.latest.lock() {
            if latest.as_ref().is_none_or(|l| l.size() < edge.size()) {
                *latest = Some(edge);
            }
            self.arrived.notify_all();
        }
    }

    /// Waits up to `timeout` for a head larger than `than`.
    fn wait_larger(&self, than: Option<u64>, timeout: Duration) -> Option<Edge> {
        let guard = self.latest.lock().ok()?;
        let larger = |e: &Option<Edge>| {
            e.as_ref()
                .is_some_and(|e| than.is_none_or(|t| e.size() > t))
        };
        let (guard, _) = self
            .arrived
            .wait_timeout_while(guard, timeout, |e| !larger(e))
            .ok()?;
        guard
            .as_ref()
            .filter(|e| than.is_none_or(|t| e.size() > t))
            .cloned()
    }
}

/// How often a checkpoint is signed at most while records arrive.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Signs and stores a checkpoint of `edge`'s tree; returns the note.
pub fn sign_and_store(
    conn: &mut DbConn,
    key: &LogKey,
    size: u64,
    root: &Hash,
) -> Result<String, String> {
    let note = key.sign(size, root)?;
    queries::store_checkpoint(conn, size as i64, &note, chrono::Utc::now().naive_utc())
        .map_err(|e| format!("cannot store the checkpoint: {e}"))?;
    Ok(note)
}

/// Brings the stored tiles up to the log and signs a checkpoint of the whole log, before the
/// server takes records: a store older than the log, or a log key just rotated, gets its
/// checkpoint at once. Every record read is durable first (`wal::Flusher`), so the checkpoint
/// can never cover a commit a crash could still take back.
pub fn open(pool: &DbPool, key: &LogKey) -> Result<Edge, String> {
    let mut conn = pool.get().map_err(|e| format!("database pool: {e}"))?;
    let size = records::next_index(&mut conn).map_err(|e| format!("database: {e}"))?;
    let mut flusher = crate::db::wal::Flusher::for_writer(&mut conn, pool)
        .map_err(|e| format!("database: {e}"))?;
    flusher.flush()?;
    let edge = load_edge(&mut conn, size as u64).map_err(|e| format!("the log's tree: {e}"))?;
    sign_and_store(&mut conn, key, edge.size(), &edge.root())?;
    Ok(edge)
}

/// Starts the thread that signs a checkpoint whenever the durable tree has grown, at most once
/// every `CHECKPOINT_EVERY`. It ends when `heads` is the last reference left.
pub fn start_signer(
    pool: DbPool,
    key: Arc<LogKey>,
    heads: Arc<Heads>,
    signed: u64,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("log-signer".into())
        .spawn(move || {
            let mut last_size = signed;
            let mut last_signed = Instant::now();
            loop {
                if Arc::strong_count(&heads) == 1 {
                    return;
                }
                let Some(edge) = heads.wait_larger(Some(last_size), Duration::from_millis(500))
                else {
                    continue;
                };
                let since = last_signed.elapsed();
                if since < CHECKPOINT_EVERY {
                    std::thread::sleep(CHECKPOINT_EVERY - since);
                }
                // Whatever arrived while waiting.
                let edge = heads
                    .wait_larger(Some(edge.size() - 1), Duration::ZERO)
                    .unwrap_or(edge);
                let signed = pool
                    .get()
                    .map_err(|e| format!("database pool: {e}"))
                    .and_then(|mut conn| {
                        sign_and_store(&mut conn, &key, edge.size(), &edge.root())
                    });
                last_signed = Instant::now();
                match signed {
                    Ok(_) => last_size = edge.size(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store a checkpoint; it is tried again")
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_leaf_is_keyid_then_signature_then_payload() {
        let keyid = [1u8; 32];
        let sig = [2u8; 64];
        let payload = b"{}";
        let mut input = Vec::new();
        input.extend_from_slice(&keyid);
        input.extend_from_slice(&sig);
        input.extend_from_slice(payload);
        assert_eq!(leaf_hash(&keyid, &sig, payload), merkle::leaf_hash(&input));
        assert_eq!(
            stored_leaf_hash(&hex::encode(keyid), &sig, payload).unwrap(),
            merkle::leaf_hash(&input)
        );
        assert!(stored_leaf_hash("00", &sig, payload).is_err());
    }
}
