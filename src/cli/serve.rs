//! `serve` and `demo`.

use crate::accounts::admin_token::TokenSource;
use crate::cli::demo;
use crate::http::server::{Application, block_on};
use crate::settings::Settings;
use crate::startup::Services;
use std::path::Path;

/// Prints a status line. A long-running server must not die because whoever started it closed
/// its output (`truetrace serve | head`, a supervisor that stopped reading), so errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub fn serve(settings: &Settings, demo_dir: Option<&Path>) -> Result<(), String> {
    let services = Services::open(settings)?;
    announce_token(&services, demo_dir)?;
    let summary = demo_dir.map(|dir| demo::seed(&services, dir)).transpose()?;
    block_on(async {
        let app = Application::build(&services)
            .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
        let base = if settings.public_url.is_some() {
            settings.public_url()
        } else {
            let host = settings
                .listen
                .rsplit_once(':')
                .map_or("127.0.0.1", |(h, _)| h);
            let host = if host == "0.0.0.0" || host == "[::]" {
                "127.0.0.1"
            } else {
                host
            };
            format!("http://{host}:{}", app.port())
        };
        say!(
            "truetrace is serving on {base}  (database: {})",
            settings.database_url
        );
        say!(
            "transparency log {}: verifier key {}",
            services.log_key.origin(),
            services.log_key.verifier_keys().join(" ")
        );
        if let Some(summary) = &summary {
            say!("\n{}", summary.describe(&base));
        }
        say!("Stop with Ctrl-C.");
        app.run_until_stopped()
            .await
            .map_err(|e| format!("server error: {e}"))
    })
}

pub fn demo(settings: &Settings, dir: &Path) -> Result<(), String> {
    let services = Services::open(settings)?;
    announce_token(&services, Some(dir))?;
    let summary = demo::seed(&services, dir)?;
    say!("{}", summary.describe(&settings.public_url()));
    Ok(())
}

/// A token generated now is printed once; in demo mode it is also kept in the demo folder.
fn announce_token(services: &Services, demo_dir: Option<&Path>) -> Result<(), String> {
    match (&services.token_source, demo_dir) {
        (TokenSource::Generated(token), dir) => {
            say!("admin token (generated now, shown once; only its hash is stored): {token}");
            if let Some(dir) = dir {
                demo::save_admin_token(dir, token)?;
            }
        }
        (TokenSource::Stored, Some(dir)) => match demo::load_admin_token(dir) {
            Some(token) => say!("admin token (from {}): {token}", dir.display()),
            None => say!(
                "admin token: set at first start; `truetrace admin rotate-token` makes a new one"
            ),
        },
        (TokenSource::Stored, None) => {
            say!("admin token: set at first start; `truetrace admin rotate-token` makes a new one")
        }
        (TokenSource::Configured, _) => say!("admin token: from TRUETRACE_ADMIN_TOKEN"),
    }
    Ok(())
}
