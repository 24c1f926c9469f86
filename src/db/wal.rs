//! The write-ahead log, as the ledger writer drives it.
//!
//! The writer's connection commits without waiting for the disk (SQLite `synchronous = NORMAL`,
//! PostgreSQL `synchronous_commit = off`), and the ledger makes each commit durable itself, in
//! another thread, before it answers the submissions of that commit: the writer goes on with the
//! next batch while the disk flushes the last one. On SQLite that is one `fdatasync` of the WAL
//! file; on PostgreSQL one small synchronous commit on a connection of its own, whose flush
//! covers every earlier commit, since the WAL is written in order. A 201 still means the record
//! survives a power loss, as with `synchronous = FULL` and `synchronous_commit = on`
//! (docs/decisions.md). On SQLite, checkpoints move out of the commit path too: the writer's
//! connection never checkpoints, the same thread does, between syncs.

use super::{DbConn, DbPool, PooledConn};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

#[derive(QueryableByName)]
struct DatabaseFile {
    #[diesel(sql_type = Text)]
    file: String,
}

/// How the commits of the writer's connection are made durable.
pub enum Flusher {
    /// `fdatasync` of SQLite's `-wal` file.
    Sqlite(WalFile),
    /// A synchronous commit that writes to the WAL, on a pooled connection kept for it.
    Postgres {
        pool: DbPool,
        conn: Option<PooledConn>,
    },
}

impl Flusher {
    /// The flusher for the database `conn` is on.
    pub fn for_writer(conn: &mut DbConn, pool: &DbPool) -> QueryResult<Self> {
        match conn {
            DbConn::Sqlite(c) => {
                let main =
                    diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .get_result::<DatabaseFile>(c)?;
                Ok(Self::Sqlite(WalFile {
                    path: PathBuf::from(format!("{}-wal", main.file)),
                    open: None,
                }))
            }
            DbConn::Postgres(_) => Ok(Self::Postgres {
                pool: pool.clone(),
                conn: None,
            }),
        }
    }

    /// Returns once every commit made before the call is on disk.
    pub fn flush(&mut self) -> Result<(), String> {
        match self {
            Self::Sqlite(wal) => wal.sync().map_err(|e| e.to_string()),
            Self::Postgres { pool, conn } => {
                let mut held = match conn.take() {
                    Some(held) => held,
                    None => pool.get().map_err(|e| format!("database pool: {e}"))?,
                };
                // A transactional message gives the transaction a WAL record, so its commit
                // waits for the flush (a commit that wrote nothing would not). Any role may
                // call it; it needs no table and no `wal_level = logical`.
                held.batch_execute("SELECT pg_logical_emit_message(true, 'truetrace.flush', '')")
                    .map_err(|e| e.to_string())?;
                *conn = Some(held);
                Ok(())
            }
        }
    }

    /// Whether this thread also runs the checkpoints (SQLite; PostgreSQL runs its own).
    pub fn checkpoints(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

/// Makes a connection commit without waiting for the disk (and, on SQLite, never checkpoint).
/// Only for the ledger writer's connection, whose commits a `Flusher` makes durable before
/// anyone is answered; `resume_sync` undoes it before the connection goes back to the pool.
pub fn defer_sync(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => {
            c.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")
        }
        DbConn::Postgres(c) => c.batch_execute("SET synchronous_commit = off"),
    }
}

/// Gives a connection `defer_sync` changed the settings of every other pooled connection again.
pub fn resume_sync(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => {
            c.batch_execute("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000;")
        }
        DbConn::Postgres(c) => c.batch_execute("SET synchronous_commit = on"),
    }
}

#[derive(QueryableByName)]
struct Checkpointed {
    #[diesel(sql_type = BigInt)]
    log: i64,
}

/// Frames past which the WAL must start over (SQLite's own autocheckpoint threshold). A
/// checkpoint that runs beside a busy writer never catches up with it, and SQLite only starts
/// the log over once every frame is in the database file, so the writer finishes the job itself
/// between two transactions when the log has grown past this.
pub const RESTART_AFTER_FRAMES: i64 = 1000;

/// Copies committed WAL frames into the database file without waiting for anyone (PASSIVE);
/// returns how many frames the WAL holds.
pub fn checkpoint(conn: &mut DbConn) -> QueryResult<i64> {
    match conn {
        DbConn::Sqlite(c) => Ok(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .get_result::<Checkpointed>(c)?
            .log),
        DbConn::Postgres(_) => Ok(0),
    }
}

/// `checkpoint` on a pooled connection; None when every connection is busy (try again later).
pub fn checkpoint_pooled(pool: &DbPool) -> QueryResult<Option<i64>> {
    match pool.try_get() {
        Some(mut conn) => checkpoint(&mut conn).map(Some),
        None => Ok(None),
    }
}

/// The `-wal` file beside the database, opened on first use.
pub struct WalFile {
    path: PathBuf,
    open: Option<File>,
}

impl WalFile {
    /// Flushes everything written to the WAL so far to the disk. The file is reopened if SQLite
    /// has replaced it (it deletes the WAL when its last connection closes), so a sync never goes
    /// to a file that is no longer the log.
    pub fn sync(&mut self) -> std::io::Result<()> {
        let current = std::fs::metadata(&self.path)?;
        let file = match self.open.take() {
            Some(file) if same_file(&file.metadata()?, &current) => file,
            _ => File::open(&self.path)?,
        };
        let synced = file.sync_data();
        self.open = Some(file);
        synced
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::Bool;

    #[derive(QueryableByName)]
    struct Lsn {
        #[diesel(sql_type = Text)]
        lsn: String,
    }

    #[derive(QueryableByName)]
    struct Flushed {
        #[diesel(sql_type = Bool)]
        flushed: bool,
    }

    /// An asynchronous commit (the writer's) is on disk once the flusher returns: PostgreSQL's
    /// flushed WAL position has passed the end of that commit.
    #[test]
    fn a_postgres_flush_covers_an_earlier_asynchronous_commit() {
        let Some(mut schema) = crate::db::testing::TestSchema::create("wal") else {
            return;
        };
        let pool = crate::db::connect(&schema.url, 2).expect("pool");

        let mut writer = pool.get().expect("connection");
        defer_sync(&mut writer).expect("asynchronous commits");
        let DbConn::Postgres(w) = &mut *writer else {
            panic!("a PostgreSQL connection")
        };
        // A commit that does not wait for the disk, then where the WAL ends after it.
        w.batch_execute("SELECT pg_logical_emit_message(true, 'truetrace.test', 'async')")
            .expect("asynchronous commit");
        let after = diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS lsn")
            .get_result::<Lsn>(w)
            .expect("lsn")
            .lsn;

        let mut flusher = Flusher::for_writer(&mut writer, &pool).expect("flusher");
        assert!(!flusher.checkpoints());
        flusher.flush().expect("flush");
        let flushed =
            diesel::sql_query("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS flushed")
                .bind::<Text, _>(&after)
                .get_result::<Flushed>(schema.admin())
                .expect("flushed position")
                .flushed;
        assert!(flushed, "the WAL was not flushed past {after}");

        resume_sync(&mut writer).expect("synchronous commits again");
        drop((writer, flusher, pool));
    }

    fn held_inode(wal: &WalFile) -> Option<u64> {
        wal.open
            .as_ref()
            .map(|f| f.metadata().expect("metadata").ino())
    }

    #[test]
    fn a_missing_log_is_an_error_not_a_silent_success() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut wal = WalFile {
            path: dir.path().join("ledger.db-wal"),
            open: None,
        };
        let err = wal.sync().expect_err("nothing to sync");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_replaced_log_is_reopened_before_it_is_synced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.db-wal");
        std::fs::write(&path, b"first").expect("write");
        let mut wal = WalFile {
            path: path.clone(),
            open: None,
        };
        wal.sync().expect("sync");
        let first = held_inode(&wal).expect("opened");
        assert_eq!(first, std::fs::metadata(&path).expect("stat").ino());

        // What SQLite does when its last connection closes and a new one opens: a new file.
        let kept = dir.path().join("keep-inode-busy");
        std::fs::rename(&path, &kept).expect("move the old log away");
        std::fs::write(&path, b"second").expect("write");
        wal.sync().expect("sync");
        let second = held_inode(&wal).expect("opened");
        assert_ne!(first, second, "the old file was still held");
        assert_eq!(second, std::fs::metadata(&path).expect("stat").ino());
    }
}
