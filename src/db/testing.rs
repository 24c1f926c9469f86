//! Helpers for the unit tests that need PostgreSQL.

use super::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// A PostgreSQL schema of its own for one unit test, dropped with it; `None` (and a printed
/// reason) when `TRUETRACE_TEST_POSTGRES_URL` is not set.
pub(crate) struct TestSchema {
    pub url: DatabaseUrl,
    name: String,
    admin: PgConnection,
}

impl TestSchema {
    pub fn create(prefix: &str) -> Option<Self> {
        let Ok(base) = std::env::var("TRUETRACE_TEST_POSTGRES_URL") else {
            eprintln!("skipped: TRUETRACE_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::establish(&base).expect("PostgreSQL");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!("{base}{sep}options=-csearch_path%3D{name}"));
        Some(Self { url, name, admin })
    }

    /// The connection the schema was made with, outside it.
    pub fn admin(&mut self) -> &mut PgConnection {
        &mut self.admin
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let drop = format!(
            "SET client_min_messages = warning; DROP SCHEMA {} CASCADE",
            self.name
        );
        if let Err(e) = self.admin.batch_execute(&drop) {
            eprintln!(
                "note: the test schema {} could not be dropped: {e}",
                self.name
            );
        }
    }
}

/// A PostgreSQL setting of the connection, as `SHOW` prints it.
pub(crate) fn show_setting(conn: &mut PgConnection, name: &str) -> String {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
        .get_result::<Setting>(conn)
        .expect("setting")
        .value
}
