//! Opening the application's services: the database pool and migrations, the ledger's writer, the
//! admin token and the activity counters. The HTTP server over them is `http::server`.

use crate::accounts::admin_token::{self, AdminToken, TokenSource};
use crate::db;
use crate::ledger::Ledger;
use crate::ledger::checkpoint::LogKey;
use crate::ledger::tlog;
use crate::settings::Settings;

/// The parts of the application that exist without an HTTP server: used by `serve`, by the demo
/// seeder and by the CLI commands that work on the store.
pub struct Services {
    pub ledger: Ledger,
    pub admin_token: AdminToken,
    pub token_source: TokenSource,
    pub settings: Settings,
    pub activity: std::sync::Arc<crate::omo::activity::Activity>,
    /// The transparency log's signing key (its verifier keys are public).
    pub log_key: std::sync::Arc<LogKey>,
}

impl Services {
    pub fn open(settings: &Settings) -> Result<Self, String> {
        let url = settings.database()?;
        let pool = db::connect_with_upkeep(
            &url,
            settings.db_pool_size,
            crate::omo::activity::check_stored_upkeep,
        )?;
        let mut conn = pool
            .get()
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let (admin_token, token_source) =
            admin_token::resolve(settings.admin_token.as_deref(), &mut conn)
                .map_err(|e| format!("cannot set up the admin token: {e:?}"))?;
        drop(conn);
        let log_key = std::sync::Arc::new(LogKey::load(settings)?);
        let edge = tlog::open(&pool, &log_key)?;
        let activity = crate::omo::activity::Activity::start(pool.clone());
        let ledger = if settings.without_log_tree {
            Ledger::start_without_log(pool.clone())
        } else {
            Ledger::start(pool.clone())
        }
        .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        if let Some(heads) = ledger.heads() {
            tlog::start_signer(pool, log_key.clone(), heads, edge.size())
                .map_err(|e| format!("cannot start the checkpoint signer: {e}"))?;
        }
        Ok(Self {
            log_key,
            activity,
            ledger,
            admin_token,
            token_source,
            settings: settings.clone(),
        })
    }
}
