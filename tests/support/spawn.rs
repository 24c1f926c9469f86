//! A real server in a thread of its own, for the black-box tests and the benchmarks (which include
//! this file with `#[path]`): it opens the services, listens (port 0 gives a free port) and runs
//! until `Spawned::stop` or the end of the process.

use truetrace::http::server::{Application, block_on};
use truetrace::settings::Settings;
use truetrace::startup::Services;

/// Settings for a server on a free local port over `database_url`, with this admin token and a
/// fixed secret key (never a file in the source tree); callers change what they measure.
pub fn local_settings(database_url: &str, admin_token: &str) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        listen: "127.0.0.1:0".into(),
        public_url: None,
        admin_token: Some(admin_token.into()),
        workers: None,
        static_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/static").into(),
        db_pool_size: 16,
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        secret_key_file: "unused-secret.key".into(),
        log_key: Some(TEST_LOG_KEY.into()),
        log_key_file: "unused-log.key".into(),
        log_origin: None,
        without_log_tree: false,
        reservation_minutes: 120,
        body_idle_timeout: 5,
        body_timeout: 30,
        utc_offset: chrono::FixedOffset::east_opt(8 * 3600).expect("Taiwan's offset"),
        pickup: Default::default(),
        trusted_proxies: Vec::new(),
    }
}

/// The transparency log's key in tests (never a file in the source tree).
pub const TEST_LOG_KEY: &str =
    "PRIVATE+KEY+truetrace.test/log+d836b10d+ARERERERERERERERERERERERERERERERERERERERERER";
/// Its verifier key, as `GET /api/v1/log/key` prints it.
#[allow(
    dead_code,
    reason = "the benchmarks that include this file do not check checkpoints"
)]
pub const TEST_LOG_VKEY: &str =
    "truetrace.test/log+d836b10d+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3";

/// A server started by `spawn`.
pub struct Spawned {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl Spawned {
    /// Stops the server at once and waits until it has; its services (the ledger writer, its
    /// database connections) end with it.
    pub fn stop(self) {
        block_on(self.handle.stop(false));
    }
}

/// Starts a server over `settings`; returns once it listens.
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
        block_on(async move {
            match Application::build(&services) {
                Ok(app) => {
                    let spawned = Spawned {
                        port: app.port(),
                        handle: app.handle(),
                    };
                    let _ = tx.send(Ok(spawned));
                    if let Err(e) = app.run_until_stopped().await {
                        eprintln!("the test server stopped: {e}");
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
