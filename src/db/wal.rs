//! SQLite's write-ahead log, as the ledger writer drives it.
//!
//! The writer's connection commits with `synchronous = NORMAL` (SQLite writes the commit's WAL
//! frames but does not wait for the disk) and the ledger makes each commit durable itself, with
//! one `fdatasync` of the WAL file in another thread, before it answers the submissions of that
//! commit: the writer goes on with the next batch while the disk flushes the last one. A 201 still
//! means the record survives a power loss, as with `synchronous = FULL` (docs/decisions.md).
//! Checkpoints move out of the commit path too: the writer's connection never checkpoints, the
//! same thread does, between syncs.

use super::{DbConn, DbPool};
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

/// The WAL file of the database the connection is on, if it is SQLite. PostgreSQL's commit
/// waits for its own WAL flush, so the ledger needs nothing more there (None).
pub fn log_of(conn: &mut DbConn) -> QueryResult<Option<WalFile>> {
    let DbConn::Sqlite(c) = conn else {
        return Ok(None);
    };
    let main = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<DatabaseFile>(c)?;
    Ok(Some(WalFile {
        path: PathBuf::from(format!("{}-wal", main.file)),
        open: None,
    }))
}

/// Makes a SQLite connection commit without waiting for the disk and never checkpoint. Only
/// for the ledger writer's connection, whose commits are synced by `WalFile::sync` before
/// anyone is answered; `resume_sync` undoes it before the connection goes back to the pool.
pub fn defer_sync(conn: &mut DbConn) -> QueryResult<()> {
    set_sync(
        conn,
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
    )
}

/// Gives a connection `defer_sync` changed the settings of every other pooled connection again.
pub fn resume_sync(conn: &mut DbConn) -> QueryResult<()> {
    set_sync(
        conn,
        "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000;",
    )
}

fn set_sync(conn: &mut DbConn, pragmas: &str) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => c.batch_execute(pragmas),
        DbConn::Postgres(_) => Ok(()),
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
