//! `truetrace verify`: the whole store, with a progress bar on a terminal.

use crate::db;
use crate::ledger::audit;
use crate::ledger::checkpoint::{self, LogKey};
use crate::settings::Settings;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;

pub fn verify(settings: &Settings, quiet: bool, log_key: Option<&str>) -> ExitCode {
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
    let mut report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: cannot read the store: {e}");
            return ExitCode::from(2);
        }
    };
    let signed = check_checkpoint_signature(settings, log_key, &mut report);
    for problem in &report.problems {
        println!("BROKEN {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: {} records and {} lots verified: every id, signature, key, chain link and custody step holds",
            report.records, report.lots
        );
        if let Some(line) = signed {
            println!("{line}");
        }
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

/// Checks the latest checkpoint's signature with the log key (given, or configured); a bad one
/// is a problem. Returns the line that says what the tree was checked against.
fn check_checkpoint_signature(
    settings: &Settings,
    log_key: Option<&str>,
    report: &mut audit::Report,
) -> Option<String> {
    let Some(note) = report.checkpoint.clone() else {
        return Some(
            "note: the log has no signed checkpoint yet (no server has opened this store); the tree was not compared"
                .into(),
        );
    };
    let verifiers = match log_key {
        Some(given) => crate::cli::log::read_log_key(given).map(|v| vec![v]),
        None => LogKey::configured_verifiers(settings),
    };
    let verifiers = match verifiers {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "note: the latest checkpoint's signature was not checked ({e}); pass --log-key"
            ));
        }
    };
    let mut last_error = String::new();
    for verifier in &verifiers {
        match checkpoint::open(&note, verifier) {
            Ok(c) => {
                return Some(format!(
                    "ok: the log's tree rebuilt from the records matches checkpoint {} of {} records (root {}), signed by {}",
                    c.origin,
                    c.size,
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, c.root),
                    verifier.to_vkey()
                ));
            }
            Err(e) => last_error = e,
        }
    }
    report.problems.push(audit::Problem {
        log_index: None,
        record_id: None,
        message: format!("the latest checkpoint: {last_error}"),
    });
    None
}
