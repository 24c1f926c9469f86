//! Building the application: the database pool and migrations, the ledger's writer, the admin
//! token, and the HTTP server bound to its listener (port 0 in tests, reported back).

use crate::accounts::admin_token::{self, AdminToken, TokenSource};
use crate::db;
use crate::http;
use crate::ledger::Ledger;
use crate::settings::Settings;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;

/// What every request handler shares.
pub struct AppState {
    pub ledger: Ledger,
    pub admin_token: AdminToken,
    pub public_url: String,
    pub verdicts: std::sync::Arc<crate::trace::provenance::VerdictCache>,
    pub pages: crate::trace::provenance::PageCache,
    pub static_dir: std::path::PathBuf,
    pub activity: std::sync::Arc<crate::omo::activity::Activity>,
    /// Failed logins per account and address, and the bound on argon2 work (src/throttle.rs).
    pub logins: crate::accounts::throttle::LoginThrottle,
    /// Loaded on first use, so that a server without hosted keys needs no secret key.
    sealer: std::sync::OnceLock<crate::accounts::hosted_keys::Sealer>,
    pub settings: Settings,
}

impl AppState {
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

/// The parts of the application that exist without an HTTP server: used by `serve`, by the demo
/// seeder and by the CLI commands that work on the store.
pub struct Services {
    pub ledger: Ledger,
    pub admin_token: AdminToken,
    pub token_source: TokenSource,
    pub settings: Settings,
    pub activity: std::sync::Arc<crate::omo::activity::Activity>,
}

impl Services {
    pub fn open(settings: &Settings) -> Result<Self, String> {
        let url = settings.database()?;
        let pool = db::connect(&url, settings.db_pool_size)?;
        let mut conn = pool
            .get()
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let (admin_token, token_source) =
            admin_token::resolve(settings.admin_token.as_deref(), &mut conn)
                .map_err(|e| format!("cannot set up the admin token: {e:?}"))?;
        drop(conn);
        let activity = crate::omo::activity::Activity::start(pool.clone());
        let ledger =
            Ledger::start(pool).map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        Ok(Self {
            activity,
            ledger,
            admin_token,
            token_source,
            settings: settings.clone(),
        })
    }
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds the listener and builds the server; call inside an actix system.
    pub fn build(services: &Services) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&services.settings.listen)?;
        let port = listener.local_addr()?.port();
        let mut public_url = services.settings.public_url();
        if services.settings.public_url.is_none() && services.settings.listen.ends_with(":0") {
            public_url = format!("http://127.0.0.1:{port}");
        }
        let state = web::Data::new(AppState {
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
        });
        let mut server = HttpServer::new(move || {
            let static_dir = state.static_dir.clone();
            App::new()
                .app_data(state.clone())
                .configure(|cfg| http::routes::configure(cfg, &static_dir))
                .wrap(from_fn(http::middleware::body_deadline))
                // Outermost, so that the 408s of slow bodies carry it too.
                .wrap(from_fn(http::middleware::deny_framing))
        })
        .listen(listener)?;
        if let Some(workers) = services.settings.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Opens the services and runs a server in a thread of its own (tests, benchmarks, embedding);
    /// returns once it listens. The server runs until `Spawned::stop` or the end of the process.
    pub fn spawn(settings: Settings) -> Result<Spawned, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let services = match Services::open(&settings) {
                Ok(services) => services,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            actix_web::rt::System::new().block_on(async move {
                match Application::build(&services) {
                    Ok(app) => {
                        let spawned = Spawned {
                            port: app.port(),
                            handle: app.server.handle(),
                        };
                        let _ = tx.send(Ok(spawned));
                        if let Err(e) = app.run_until_stopped().await {
                            tracing::error!(error = %e, "server stopped");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot listen: {e}")));
                    }
                }
            });
        });
        rx.recv()
            .map_err(|_| "the server thread ended before listening".to_owned())?
    }
}

/// A server started by `Application::spawn`.
pub struct Spawned {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl Spawned {
    /// Stops the server at once and waits until it has; its services (the ledger writer, its
    /// database connections) end with it.
    pub fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
    }
}
