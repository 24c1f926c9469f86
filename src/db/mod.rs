//! Storage: one diesel connection type over SQLite and PostgreSQL, the pool, embedded migrations,
//! and the queries (one module per table family). Rows are kept apart from API bodies.

/// Runs `$body` with `$c` bound to the engine's own connection. Queries on the ingest path use it:
/// through `MultiConnection` every statement's SQL text is rebuilt on each call (measured: a
/// primary-key lookup costs 9.3 µs that way, 6.1 µs natively), and only the native connection
/// takes multi-row inserts. The query is still written once; it is compiled for both engines.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}

/// Inserts a slice of rows, in statements of 64, 16, 4 and 1 rows: diesel prepares the statement
/// for a slice anew at each call (its SQL depends on the length), while for an array of fixed
/// length the SQL is always the same, so the connection prepares each of these four once and
/// keeps them (preparing had been a sixth of the SQLite writer's time). On PostgreSQL one
/// statement per thousand rows had measured no better with 64 records per commit; with the
/// hundreds a batch brings, planning such a statement cost more than the round trips the fixed
/// sizes take (a harvest's rows: 56 µs against 39, docs/performance.md).
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        native!($conn, |c| {
            let mut rest = $rows;
            while !rest.is_empty() {
                rest = if let Some((head, tail)) = rest.split_first_chunk::<64>() {
                    diesel::insert_into($table).values(head).execute(c)?;
                    tail
                } else if let Some((head, tail)) = rest.split_first_chunk::<16>() {
                    diesel::insert_into($table).values(head).execute(c)?;
                    tail
                } else if let Some((head, tail)) = rest.split_first_chunk::<4>() {
                    diesel::insert_into($table).values(head).execute(c)?;
                    tail
                } else {
                    let (head, tail) = rest.split_at(1);
                    diesel::insert_into($table).values(&head[0]).execute(c)?;
                    tail
                };
            }
        });
        diesel::QueryResult::Ok(())
    }};
}

/// Loads `$row`s from SQL written with PostgreSQL's `$n` placeholders (SQLite reads them as
/// `?n`), binding each `Type => value` in order, on either backend.
macro_rules! raw_query {
    ($conn:expr, $sql:expr, $row:ty $(, $ty:ty => $value:expr)* $(,)?) => {{
        let sql: &str = $sql;
        match $conn {
            $crate::db::DbConn::Sqlite(c) => diesel::sql_query(sql.replace('$', "?"))
                $(.bind::<$ty, _>($value))*
                .load::<$row>(c),
            $crate::db::DbConn::Postgres(c) => diesel::sql_query(sql)
                $(.bind::<$ty, _>($value))*
                .load::<$row>(c),
        }
    }};
}

pub mod accounts;
pub mod activity;
pub mod api_tokens;
pub mod devices;
pub mod epcis_events;
pub mod hosted_keys;
pub mod keys;
pub mod kv;
pub mod lots;
pub mod orgs;
pub mod products;
pub mod recalls;
pub mod records;
pub mod reservations;
pub mod rollups;
pub mod rows;
pub mod schema;
#[cfg(test)]
pub(crate) mod testing;
pub mod tlog;
pub mod wal;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::PathBuf;
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection type for both engines; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = diesel::r2d2::Pool<DbManager>;

/// Runs blocking database work off the async workers, on a connection from the pool: no diesel
/// call and no wait for the pool ever runs on an async worker.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, crate::error::AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, crate::error::AppError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}
pub type PooledConn = diesel::r2d2::PooledConnection<DbManager>;

/// Where the data lives, parsed from `TRUETRACE_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// `sqlite://relative.db`, `sqlite:///absolute/path.db`, `postgres://...` or `postgresql://...`.
    /// Anything else is refused rather than silently creating a stray SQLite file.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("the SQLite URL names no file: use sqlite://truetrace.db or sqlite:///abs/path.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        Err(format!(
            "unsupported database URL scheme {scheme:?} in TRUETRACE_DATABASE_URL: use sqlite://FILE or postgres://..."
        ))
    }
}

/// How PostgreSQL plans a connection's statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// Every pooled connection: a custom plan at every execution. A connection outlives the
    /// table sizes its statements were first planned for, and a generic plan made while
    /// `records` was empty scans it whole for `id = ANY($1)` once it holds millions (measured:
    /// 270 µs of PostgreSQL CPU per submission after 100,000 records).
    Pooled,
    /// The ledger writer's connection: plans made once and kept, with sequential scans ruled
    /// out. Everything the writer runs finds rows by a key, and so do the foreign-key checks
    /// PostgreSQL runs for every row it inserts, which plan like any statement: planned anew
    /// at every execution, they and the writer's own statements spent 42% of the writer's
    /// PostgreSQL backend in planning during ingest. Without sequential scans, a plan made while
    /// a table was small still uses its index once the table is large.
    Writer,
}

/// Sets how PostgreSQL plans `conn`'s statements; nothing to do on SQLite.
pub fn set_planning(conn: &mut DbConn, planning: Planning) -> QueryResult<()> {
    let DbConn::Postgres(c) = conn else {
        return Ok(());
    };
    c.batch_execute(match planning {
        Planning::Pooled => "SET plan_cache_mode = force_custom_plan; SET enable_seqscan = on;",
        Planning::Writer => "SET plan_cache_mode = auto; SET enable_seqscan = off;",
    })
}

/// Opens connections of the configured engine and sets each up: WAL with full synchronous commits
/// and a busy timeout on SQLite (the ledger writer's own connection then syncs through
/// `wal::defer_sync`), synchronous commits and `Planning::Pooled` on PostgreSQL.
#[derive(Debug)]
pub struct DbManager {
    url: DatabaseUrl,
}

impl diesel::r2d2::ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        let map = diesel::r2d2::Error::ConnectionError;
        let query = diesel::r2d2::Error::QueryError;
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(map)?;
                // FULL: a 201 must survive a power loss (NORMAL may lose the last commits in WAL mode).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
                )
                .map_err(query)?;
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(map)?;
                conn.batch_execute("SET synchronous_commit = on; SET TIME ZONE 'UTC';")
                    .map_err(query)?;
                let mut conn = DbConn::Postgres(conn);
                set_planning(&mut conn, Planning::Pooled).map_err(query)?;
                Ok(conn)
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || DbConn::is_broken_transaction_manager(conn)
    }
}

/// Opens the pool and brings the schema up to date.
/// Upkeep that a part above storage runs once the migrations are done, under the same lock, so
/// that servers starting together do it once (`startup::Services` passes the counters' check).
pub type Upkeep = fn(&mut DbConn) -> Result<(), String>;

/// Opens the pool and runs the migrations.
pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<DbPool, String> {
    connect_with_upkeep(url, max_size, |_| Ok(()))
}

/// Opens the pool, runs the migrations, then `upkeep`, then builds the dashboards' roll-ups
/// where they are missing.
pub fn connect_with_upkeep(
    url: &DatabaseUrl,
    max_size: u32,
    upkeep: Upkeep,
) -> Result<DbPool, String> {
    if let DatabaseUrl::Sqlite(path) = url
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(format!(
            "the directory of the SQLite database {} does not exist",
            path.display()
        ));
    }
    let pool = diesel::r2d2::Pool::builder()
        .max_size(max_size)
        // Open connections on demand: many app servers may share one PostgreSQL primary.
        .min_idle(Some(1))
        .idle_timeout(Some(Duration::from_secs(60)))
        .connection_timeout(Duration::from_secs(30))
        .build(DbManager { url: url.clone() })
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    migrate(&mut conn, upkeep)?;
    Ok(pool)
}

fn migrate(conn: &mut DbConn, upkeep: Upkeep) -> Result<(), String> {
    // Several app servers may start at once against one primary: migrate one at a time.
    const LOCK: &str = "7261737472616365";
    if let DbConn::Postgres(c) = conn {
        c.batch_execute(&format!("SELECT pg_advisory_lock({LOCK})"))
            .map_err(|e| format!("cannot lock for migrations: {e}"))?;
    }
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    }
    .map_err(|e| format!("database migration failed: {e}"))
    .and_then(|()| {
        upkeep(conn)?;
        let added = rollups::build_if_missing(conn)
            .map_err(|e| format!("cannot build the dashboards' roll-ups: {e}"))?;
        if added > 0 {
            tracing::info!(counters = added, "built the dashboards' roll-ups");
        }
        Ok(())
    });
    if let DbConn::Postgres(c) = conn {
        c.batch_execute(&format!("SELECT pg_advisory_unlock({LOCK})"))
            .map_err(|e| format!("cannot unlock after migrations: {e}"))?;
    }
    result
}

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken at the
/// start, so two writers never both read a head and then both append), a plain transaction on
/// PostgreSQL, where the append takes a row lock on `ledger_state` first.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            DbConn::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            DbConn::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{TestSchema, show_setting};
    use super::*;

    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }

    /// The plan PostgreSQL keeps for a statement it plans once: `EXPLAIN EXECUTE` of a prepared
    /// statement under generic plans.
    fn generic_plan(conn: &mut PgConnection, statement: &str, argument: &str) -> String {
        conn.batch_execute(&format!(
            "SET plan_cache_mode = force_generic_plan; PREPARE probe AS {statement}"
        ))
        .expect("prepare");
        let plan = diesel::sql_query(format!("EXPLAIN (COSTS OFF) EXECUTE probe({argument})"))
            .load::<PlanLine>(conn)
            .expect("explain")
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n");
        conn.batch_execute("DEALLOCATE probe").expect("deallocate");
        plan
    }

    /// A plan the writer's connection makes while `records` is small (vacuumed, so PostgreSQL
    /// knows it is small) still looks records up by their index: a pooled connection's generic
    /// plan would scan the table, which is why pooled connections plan every execution anew.
    #[test]
    fn the_writers_kept_plans_use_the_indexes_even_on_small_tables() {
        let Some(schema) = TestSchema::create("plans") else {
            return;
        };
        let pool = connect(&schema.url, 4).expect("pool");
        let mut conn = pool.get().expect("connection");
        let DbConn::Postgres(c) = &mut *conn else {
            panic!("a PostgreSQL connection")
        };
        c.batch_execute("VACUUM ANALYZE records").expect("vacuum");
        // The foreign-key check PostgreSQL runs for each record_lots row, and the writer's lookup
        // of the batch's record ids.
        let by_key = "SELECT 1 FROM records WHERE log_index = $1::bigint FOR KEY SHARE";
        let by_ids = "SELECT log_index FROM records WHERE id = ANY($1::text[])";
        assert!(generic_plan(c, by_key, "7").contains("Seq Scan"));

        set_planning(&mut conn, Planning::Writer).expect("writer planning");
        let DbConn::Postgres(c) = &mut *conn else {
            unreachable!()
        };
        for (statement, argument) in [(by_key, "7"), (by_ids, "ARRAY['ab']")] {
            let plan = generic_plan(c, statement, argument);
            assert!(
                plan.contains("Index") && !plan.contains("Seq Scan"),
                "{statement}: {plan}"
            );
        }

        set_planning(&mut conn, Planning::Pooled).expect("pooled planning");
        let DbConn::Postgres(c) = &mut *conn else {
            unreachable!()
        };
        assert_eq!(show_setting(c, "plan_cache_mode"), "force_custom_plan");
        assert_eq!(show_setting(c, "enable_seqscan"), "on");
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://truetrace.db").unwrap(),
            DatabaseUrl::Sqlite("truetrace.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/tt.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/tt.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let err = DatabaseUrl::parse("mysql://root@localhost/tt").unwrap_err();
        assert!(err.contains("\"mysql\""), "{err}");
        assert!(DatabaseUrl::parse("truetrace.db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
