//! What the request handlers share, each piece registered on its own so that a handler asks for
//! exactly what it uses (`web::Data<DbPool>`, `web::Data<Site>`, ...): the ledger and its pool, the
//! site's address, the caches, the counters, the login throttle, the admin token and the key that
//! seals hosted signing keys.

use crate::accounts::admin_token::AdminToken;
use crate::accounts::hosted_keys::Sealer;
use crate::accounts::throttle::LoginThrottle;
use crate::error::AppError;
use crate::http::page_cache::PageCache;
use crate::settings::Settings;
use crate::startup::Services;
use crate::trace::provenance::VerdictCache;
use actix_web::web;
use std::sync::OnceLock;

/// Where the site is reached: the origin printed into links and QR codes, and whether cookies
/// must be `Secure` (an HTTPS origin).
pub struct Site {
    pub public_url: String,
    pub secure_cookies: bool,
    /// Where the pages' readers are (`Settings::utc_offset`).
    pub offset: chrono::FixedOffset,
}

/// The server's secret key for hosted signing keys, loaded on first use so that a server without
/// hosted keys needs no secret key.
pub struct HostedKeys {
    sealer: OnceLock<Sealer>,
    settings: Settings,
}

impl HostedKeys {
    pub fn sealer(&self) -> Result<Sealer, AppError> {
        if let Some(sealer) = self.sealer.get() {
            return Ok(sealer.clone());
        }
        let sealer = Sealer::load(&self.settings)
            .map_err(|e| AppError::Unavailable(format!("the server's secret key: {e}")))?;
        Ok(self.sealer.get_or_init(|| sealer).clone())
    }
}

/// Every piece of shared state of one server over `services`, whose links start with
/// `public_url`; `register` adds them to each worker's app.
#[derive(Clone)]
pub struct Shared {
    ledger: web::Data<crate::ledger::Ledger>,
    pool: web::Data<crate::db::DbPool>,
    site: web::Data<Site>,
    verdicts: web::Data<VerdictCache>,
    pages: web::Data<PageCache>,
    activity: web::Data<crate::omo::activity::Activity>,
    logins: web::Data<LoginThrottle>,
    hosted: web::Data<HostedKeys>,
    admin_token: web::Data<AdminToken>,
    settings: web::Data<Settings>,
    log_key: web::Data<crate::ledger::checkpoint::LogKey>,
}

impl Shared {
    pub fn new(services: &Services, public_url: String) -> Self {
        let settings = services.settings.clone();
        Self {
            ledger: web::Data::new(services.ledger.clone()),
            pool: web::Data::new(services.ledger.pool().clone()),
            site: web::Data::new(Site {
                offset: settings.utc_offset,
                secure_cookies: public_url.starts_with("https://"),
                public_url,
            }),
            verdicts: web::Data::new(VerdictCache::default()),
            pages: {
                let pages = web::Data::new(PageCache::default());
                let told = pages.clone();
                services
                    .ledger
                    .on_commit(move |committed| told.changed(committed));
                pages
            },
            activity: web::Data::from(services.activity.clone()),
            logins: web::Data::new(LoginThrottle::default()),
            hosted: web::Data::new(HostedKeys {
                sealer: OnceLock::new(),
                settings: settings.clone(),
            }),
            admin_token: web::Data::new(services.admin_token),
            log_key: web::Data::from(services.log_key.clone()),
            settings: web::Data::new(settings),
        }
    }

    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.ledger.clone())
            .app_data(self.pool.clone())
            .app_data(self.site.clone())
            .app_data(self.verdicts.clone())
            .app_data(self.pages.clone())
            .app_data(self.activity.clone())
            .app_data(self.logins.clone())
            .app_data(self.hosted.clone())
            .app_data(self.admin_token.clone())
            .app_data(self.settings.clone())
            .app_data(self.log_key.clone());
    }
}

/// What the consumer pages (the provenance page, the embed card) render from: the database, the
/// site's address, the verdict and page caches, and the counters of scans and views.
pub struct PageSources {
    pub pool: web::Data<crate::db::DbPool>,
    pub site: web::Data<Site>,
    pub verdicts: web::Data<VerdictCache>,
    pub pages: web::Data<PageCache>,
    pub activity: web::Data<crate::omo::activity::Activity>,
}

/// The shared piece of type `T` registered by `Shared::register`.
pub fn shared<T: 'static>(req: &actix_web::HttpRequest) -> Result<web::Data<T>, AppError> {
    req.app_data::<web::Data<T>>().cloned().ok_or_else(|| {
        AppError::internal(format!(
            "{} is not registered with the app",
            std::any::type_name::<T>()
        ))
    })
}

impl actix_web::FromRequest for PageSources {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready((|| {
            Ok(Self {
                pool: shared(req)?,
                site: shared(req)?,
                verdicts: shared(req)?,
                pages: shared(req)?,
                activity: shared(req)?,
            })
        })())
    }
}
