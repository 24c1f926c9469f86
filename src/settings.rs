//! Configuration: flags and `TRUETRACE_*` environment variables, the same for every subcommand.

use crate::client_addr::IpBlock;
use crate::db::DatabaseUrl;

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Where the ledger lives: sqlite://FILE (relative), sqlite:///ABS/PATH or postgres://...
    #[arg(
        long,
        env = "TRUETRACE_DATABASE_URL",
        default_value = "sqlite://truetrace.db",
        global = true
    )]
    pub database_url: String,

    /// The address the server listens on.
    #[arg(
        long,
        env = "TRUETRACE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// The public origin printed into QR codes and links, e.g. https://trace.example.com.
    /// Defaults to http://LISTEN.
    #[arg(long, env = "TRUETRACE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The admin bearer token. When unset, `serve` generates one at first start, keeps only its
    /// hash and prints it once.
    #[arg(
        long,
        env = "TRUETRACE_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "TRUETRACE_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// The directory of static files (CSS, images) served under /static.
    #[arg(long, env = "TRUETRACE_STATIC_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/static"), global = true)]
    pub static_dir: std::path::PathBuf,

    /// Database connections in the pool, at least 4: the ledger writer and its sync thread keep
    /// two of them.
    #[arg(
        long,
        env = "TRUETRACE_DB_POOL_SIZE",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(4..),
        global = true
    )]
    pub db_pool_size: u32,

    /// The secret key (32 bytes, standard base64) that seals hosted signing keys. When unset,
    /// it is read from TRUETRACE_SECRET_KEY_FILE, which is created on first use.
    #[arg(
        long,
        env = "TRUETRACE_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,

    /// The file holding the secret key when TRUETRACE_SECRET_KEY is unset. Keep it out of the
    /// database's backups, and back it up: without it hosted keys cannot sign.
    #[arg(
        long,
        env = "TRUETRACE_SECRET_KEY_FILE",
        default_value = "truetrace-secret.key",
        global = true
    )]
    pub secret_key_file: std::path::PathBuf,

    /// How long an in-store pickup reservation holds its units, in minutes.
    #[arg(
        long,
        env = "TRUETRACE_RESERVATION_MINUTES",
        default_value_t = 120,
        value_parser = clap::value_parser!(u32).range(1..=10080),
        global = true
    )]
    pub reservation_minutes: u32,

    /// Proxies whose X-Forwarded-For header is believed, comma-separated addresses or blocks
    /// (e.g. 10.0.0.0/8,::1). Without them, a client's address is the connection's peer.
    #[arg(
        long,
        env = "TRUETRACE_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<IpBlock>,
}

impl Settings {
    pub fn database(&self) -> Result<DatabaseUrl, String> {
        DatabaseUrl::parse(&self.database_url)
    }

    /// The public origin without a trailing slash.
    pub fn public_url(&self) -> String {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen));
        url.trim_end_matches('/').to_owned()
    }

    /// Cookies are `Secure` when the public origin is HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }
}
