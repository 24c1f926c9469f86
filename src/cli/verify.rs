//! `truetrace verify`: the whole store, with a progress bar on a terminal.

use crate::db;
use crate::ledger::audit;
use crate::settings::Settings;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;

pub fn verify(settings: &Settings, quiet: bool) -> ExitCode {
    let pool = match settings.database().and_then(|url| db::connect(&url, 2)) {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("error: cannot open the database: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} verifying [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let report = audit::verify_store(&mut conn, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: cannot read the store: {e}");
            return ExitCode::from(2);
        }
    };
    for problem in &report.problems {
        println!("BROKEN {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: {} records and {} lots verified: every id, signature, key, chain link and custody step holds",
            report.records, report.lots
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "FAILED: {} problems in {} records and {} lots",
            report.problems.len(),
            report.records,
            report.lots
        );
        ExitCode::from(1)
    }
}
