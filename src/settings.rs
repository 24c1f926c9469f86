//! Configuration: flags and `TRUETRACE_*` environment variables, the same for every subcommand.

use crate::db::DatabaseUrl;
use crate::domain::ip_block::IpBlock;

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

    /// The transparency log's signing key, in the note format
    /// `PRIVATE+KEY+<origin>+<id>+<base64>` (one a line during a rotation). When unset, it is
    /// read from TRUETRACE_LOG_KEY_FILE, which is created on first start.
    #[arg(long, env = "TRUETRACE_LOG_KEY", hide_env_values = true, global = true)]
    pub log_key: Option<String>,

    /// The file holding the log's signing key when TRUETRACE_LOG_KEY is unset. Keep it out of
    /// the database's backups, and back it up: a log that loses its key must start a new log.
    #[arg(
        long,
        env = "TRUETRACE_LOG_KEY_FILE",
        default_value = "truetrace-log.key",
        global = true
    )]
    pub log_key_file: std::path::PathBuf,

    /// The origin (first line of every checkpoint, and the key's name) given to a log key made
    /// at first start; defaults to the public URL without its scheme.
    #[arg(long, env = "TRUETRACE_LOG_ORIGIN", global = true)]
    pub log_origin: Option<String>,

    /// For measuring what the transparency log costs, and nothing else: the ledger keeps no
    /// Merkle tree, stores no tiles and signs no checkpoints (benches/ingest.rs).
    #[arg(long, env = "TRUETRACE_WITHOUT_LOG_TREE", hide = true, global = true)]
    pub without_log_tree: bool,

    /// How long an in-store pickup reservation holds its units, in minutes.
    #[arg(
        long,
        env = "TRUETRACE_RESERVATION_MINUTES",
        default_value_t = 120,
        value_parser = clap::value_parser!(u32).range(1..=10080),
        global = true
    )]
    pub reservation_minutes: u32,

    /// Seconds a request body may go without a byte arriving before it is answered 408 and its
    /// connection closed.
    #[arg(
        long,
        env = "TRUETRACE_BODY_IDLE_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub body_idle_timeout: u64,

    /// Seconds a whole request body may take to arrive, from the end of the request's head.
    #[arg(
        long,
        env = "TRUETRACE_BODY_TIMEOUT",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub body_timeout: u64,
    /// The UTC offset of the place the pages serve (+08:00 for Taiwan): times the server itself
    /// keeps (a reservation's deadline, a device's last use) are shown in it. Signed times are
    /// shown in the offset their signer wrote.
    #[arg(
        long,
        env = "TRUETRACE_UTC_OFFSET",
        default_value = "+08:00",
        value_parser = parse_offset,
        global = true
    )]
    pub utc_offset: chrono::FixedOffset,

    /// What open pickup reservations may hold at once.
    #[command(flatten)]
    pub pickup: PickupLimits,

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

/// What open (not yet handed over) pickup reservations may hold at once, so that nobody can
/// reserve a store's stock away: per phone number, per browser, per client address, and
/// together per lot at a store (docs/omo.md).
#[derive(Debug, Clone, clap::Args)]
pub struct PickupLimits {
    /// Open pickup reservations one phone number, or one browser, may hold at once.
    #[arg(
        long = "pickup-holder-reservations",
        env = "TRUETRACE_PICKUP_HOLDER_RESERVATIONS",
        default_value_t = PickupLimits::DEFAULT.holder_reservations,
        value_parser = clap::value_parser!(u32).range(1..=1000),
        global = true
    )]
    pub holder_reservations: u32,

    /// Units one phone number, or one browser, may hold at once in open pickup reservations.
    #[arg(
        long = "pickup-holder-units",
        env = "TRUETRACE_PICKUP_HOLDER_UNITS",
        default_value_t = PickupLimits::DEFAULT.holder_units,
        value_parser = clap::value_parser!(u32).range(1..=100_000),
        global = true
    )]
    pub holder_units: u32,

    /// Open pickup reservations one client address may hold at once (people behind one NAT
    /// share an address; an IPv6 client counts by its /64).
    #[arg(
        long = "pickup-address-reservations",
        env = "TRUETRACE_PICKUP_ADDRESS_RESERVATIONS",
        default_value_t = PickupLimits::DEFAULT.address_reservations,
        value_parser = clap::value_parser!(u32).range(1..=100_000),
        global = true
    )]
    pub address_reservations: u32,

    /// Units one client address may hold at once in open pickup reservations.
    #[arg(
        long = "pickup-address-units",
        env = "TRUETRACE_PICKUP_ADDRESS_UNITS",
        default_value_t = PickupLimits::DEFAULT.address_units,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        global = true
    )]
    pub address_units: u32,

    /// The share, in percent, of a store's units of a lot that open reservations may hold
    /// together, rounded up (so a store with one unit can still take a reservation for it).
    #[arg(
        long = "pickup-share-percent",
        env = "TRUETRACE_PICKUP_SHARE_PERCENT",
        default_value_t = PickupLimits::DEFAULT.share_percent,
        value_parser = clap::value_parser!(u32).range(1..=100),
        global = true
    )]
    pub share_percent: u32,
}

impl PickupLimits {
    /// The defaults: a customer reserves a few units, a household or an office behind one
    /// address a few more, and half of a store's units of a lot stay for the people in the store.
    pub const DEFAULT: Self = Self {
        holder_reservations: 3,
        holder_units: 20,
        address_reservations: 10,
        address_units: 60,
        share_percent: 50,
    };

    /// The units of a lot with `on_hand` units that open reservations may hold together: the
    /// share, rounded up.
    pub fn share_of(&self, on_hand: i64) -> i64 {
        let share = i128::from(on_hand.max(0)) * i128::from(self.share_percent);
        i64::try_from((share + 99) / 100).unwrap_or(i64::MAX)
    }
}

impl Default for PickupLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
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

    /// The time limits on request bodies.
    pub fn body_timeouts(&self) -> BodyTimeouts {
        BodyTimeouts {
            idle: std::time::Duration::from_secs(self.body_idle_timeout),
            total: std::time::Duration::from_secs(self.body_timeout),
        }
    }
}

/// How long a request body may take: without a byte for `idle`, or in all for `total`.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeouts {
    pub idle: std::time::Duration,
    pub total: std::time::Duration,
}

/// `+08:00`, `-05:00`, `+00:00`: an offset from UTC as RFC 3339 writes it.
fn parse_offset(text: &str) -> Result<chrono::FixedOffset, String> {
    text.parse::<chrono::FixedOffset>()
        .map_err(|_| format!("{text:?} is not a UTC offset such as +08:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_hold_at_most_their_share_rounded_up() {
        let half = PickupLimits::DEFAULT;
        let shares: Vec<i64> = [0, 1, 2, 3, 4, 299].map(|n| half.share_of(n)).to_vec();
        assert_eq!(shares, [0, 1, 1, 2, 2, 150]);
        let all = PickupLimits {
            share_percent: 100,
            ..PickupLimits::DEFAULT
        };
        assert_eq!(all.share_of(299), 299);
        assert_eq!(half.share_of(i64::MAX), i64::MAX / 2 + 1);
    }
}
