//! What the request handlers share: the ledger and its pool, the caches, the counters, the keys.

use crate::accounts::admin_token::AdminToken;
use crate::ledger::Ledger;
use crate::settings::Settings;

/// What the request handlers share.
pub struct AppState {
    pub ledger: Ledger,
    pub admin_token: AdminToken,
    pub public_url: String,
    pub verdicts: std::sync::Arc<crate::trace::provenance::VerdictCache>,
    pub pages: crate::http::page_cache::PageCache,
    pub static_dir: std::path::PathBuf,
    pub activity: std::sync::Arc<crate::omo::activity::Activity>,
    /// Failed logins per account and address, and the bound on argon2 work (src/throttle.rs).
    pub logins: crate::accounts::throttle::LoginThrottle,
    /// Loaded on first use, so that a server without hosted keys needs no secret key.
    sealer: std::sync::OnceLock<crate::accounts::hosted_keys::Sealer>,
    pub settings: Settings,
}

impl AppState {
    /// The state of one server over `services`, whose links start with `public_url`.
    pub fn new(services: &crate::startup::Services, public_url: String) -> Self {
        Self {
            ledger: services.ledger.clone(),
            admin_token: services.admin_token,
            public_url,
            verdicts: Default::default(),
            pages: Default::default(),
            static_dir: services.settings.static_dir.clone(),
            activity: services.activity.clone(),
            logins: Default::default(),
            sealer: std::sync::OnceLock::new(),
            settings: services.settings.clone(),
        }
    }

    /// The server's secret key for hosted signing keys.
    pub fn sealer(&self) -> Result<crate::accounts::hosted_keys::Sealer, crate::error::AppError> {
        if let Some(sealer) = self.sealer.get() {
            return Ok(sealer.clone());
        }
        let sealer = crate::accounts::hosted_keys::Sealer::load(&self.settings).map_err(|e| {
            crate::error::AppError::Unavailable(format!("the server's secret key: {e}"))
        })?;
        Ok(self.sealer.get_or_init(|| sealer).clone())
    }
}
