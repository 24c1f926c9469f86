//! The transparency log from the outside, with nothing but the log's verifier key:
//! `verify-bundle` (a lot's provenance bundle, offline), `check-checkpoint` (a newer checkpoint
//! extends an older one) and `monitor` (follows a server's checkpoints and stops with the
//! evidence when two of them are inconsistent).

use crate::ledger::bundle;
use crate::ledger::checkpoint::{self, Checkpoint, LogVerifier};
use crate::ledger::merkle::{self, Hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The log key given as a verifier key, or as a file holding one (its first line).
pub fn read_log_key(given: &str) -> Result<LogVerifier, String> {
    if given.contains('+') {
        return LogVerifier::parse(given);
    }
    let text = std::fs::read_to_string(given).map_err(|e| {
        format!("--log-key {given:?} is neither a verifier key nor a readable file: {e}")
    })?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("{given} holds no verifier key"))?;
    LogVerifier::parse(first)
}

/// `truetrace verify-bundle FILE --log-key KEY`.
pub fn verify_bundle(file: &Path, log_key: &str, json: bool) -> ExitCode {
    let verifier = match read_log_key(log_key) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = match crate::cli::read_input(Some(file)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = bundle::verify(&bytes, &verifier);
    if json {
        let body = serde_json::json!({
            "ok": report.ok(),
            "records": report.records,
            "lots": report.lots,
            "checkpoint": report.checkpoint.as_ref().map(|c| serde_json::json!({
                "origin": c.origin, "size": c.size, "root": B64.encode(c.root)})),
            "failures": report.failures,
        });
        println!("{body:#}");
    } else {
        for failure in &report.failures {
            println!("FAILED {failure}");
        }
        match (&report.checkpoint, report.ok()) {
            (Some(c), true) => println!(
                "ok: {} records on {} lots: every signature, key, chain link and inclusion proof holds against checkpoint {} of {} records (root {}), signed by {}",
                report.records,
                report.lots,
                c.origin,
                c.size,
                B64.encode(c.root),
                verifier.to_vkey()
            ),
            _ => println!(
                "FAILED: {} problems in a bundle of {} records",
                report.failures.len(),
                report.records
            ),
        }
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    if status != 200 {
        return Err(format!("{url} answered {status}: {text}"));
    }
    Ok(text)
}

/// The consistency proof between two sizes, from the server.
fn fetch_consistency(
    agent: &ureq::Agent,
    server: &str,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, String> {
    let url = format!("{server}/api/v1/log/proof/consistency?from={from}&to={to}");
    let body: serde_json::Value =
        serde_json::from_str(&get(agent, &url)?).map_err(|e| format!("{url}: {e}"))?;
    body["hashes"]
        .as_array()
        .ok_or_else(|| format!("{url} answered without hashes"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| B64.decode(s).ok())
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| format!("{url} answered a hash that is not 32 bytes of base64"))
        })
        .collect()
}

/// Why two signed checkpoints cannot both be true of one log; None when the larger extends the
/// smaller (an older checkpoint seen later, from a lagging replica say, is no fork if the newer
/// one extends it). `proof(from, to)` fetches a consistency proof.
fn inconsistency(
    a: &Checkpoint,
    b: &Checkpoint,
    proof: impl FnOnce(u64, u64) -> Result<Vec<Hash>, String>,
) -> Result<Option<String>, String> {
    let (old, new) = if b.size < a.size { (b, a) } else { (a, b) };
    if old.size == 0 {
        return Ok(None);
    }
    if new.size == old.size {
        return Ok((new.root != old.root).then(|| {
            format!(
                "two different roots for the same {} records: {} and {}",
                old.size,
                B64.encode(old.root),
                B64.encode(new.root)
            )
        }));
    }
    let proof = proof(old.size, new.size)?;
    Ok(
        merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
            .err()
            .map(|e| {
                format!(
                    "the tree of {} records does not extend the tree of {}: {e}",
                    new.size, old.size
                )
            }),
    )
}

fn print_evidence(old_note: &str, new_note: &str, why: &str) {
    println!("INCONSISTENT: {why}");
    println!("--- the earlier checkpoint, as signed ---");
    print!("{old_note}");
    println!("--- the later checkpoint, as signed ---");
    print!("{new_note}");
    println!("--- end of evidence ---");
}

/// `truetrace check-checkpoint OLD NEW --log-key KEY --server URL`: both checkpoints verify and
/// the newer extends the older (the consistency proof is asked of the server and checked here).
pub fn check_checkpoint(old: &Path, new: &Path, log_key: &str, server: &str) -> ExitCode {
    let run = || -> Result<Option<(String, String, String)>, String> {
        let verifier = read_log_key(log_key)?;
        let old_note = std::fs::read_to_string(old)
            .map_err(|e| format!("cannot read {}: {e}", old.display()))?;
        let new_note = std::fs::read_to_string(new)
            .map_err(|e| format!("cannot read {}: {e}", new.display()))?;
        let a = checkpoint::open(&old_note, &verifier)
            .map_err(|e| format!("{}: {e}", old.display()))?;
        let b = checkpoint::open(&new_note, &verifier)
            .map_err(|e| format!("{}: {e}", new.display()))?;
        let (a, b, old_note, new_note) = if b.size < a.size {
            (b, a, new_note, old_note)
        } else {
            (a, b, old_note, new_note)
        };
        let server = server.trim_end_matches('/');
        match inconsistency(&a, &b, |from, to| {
            fetch_consistency(&agent(), server, from, to)
        })? {
            Some(why) => Ok(Some((old_note, new_note, why))),
            None => {
                println!(
                    "ok: the checkpoint of {} records extends the one of {}",
                    b.size, a.size
                );
                Ok(None)
            }
        }
    };
    match run() {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some((old_note, new_note, why))) => {
            print_evidence(&old_note, &new_note, &why);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// What `monitor` was told to do.
pub struct MonitorArgs {
    pub server: String,
    pub log_key: Option<String>,
    pub state: Option<PathBuf>,
    pub interval: u64,
    pub once: bool,
}

/// `truetrace monitor --server URL`: fetches the checkpoint every `interval` seconds, checks its
/// signature and that it extends the last one seen (kept in `--state` across runs), and exits 1
/// with both signed checkpoints when it does not. Exits 2 when it cannot go on (the server
/// unreachable for good, a bad key).
pub fn monitor(args: &MonitorArgs) -> ExitCode {
    match run_monitor(args) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some((old, new, why))) => {
            print_evidence(&old, &new, &why);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_monitor(args: &MonitorArgs) -> Result<Option<(String, String, String)>, String> {
    let server = args.server.trim_end_matches('/');
    let agent = agent();
    let verifier = match &args.log_key {
        Some(key) => read_log_key(key)?,
        None => {
            let text = get(&agent, &format!("{server}/api/v1/log/key"))?;
            let first = text.lines().next().unwrap_or_default();
            let v = LogVerifier::parse(first)?;
            eprintln!(
                "note: no --log-key given; trusting the key the server shows now: {} (pass it with --log-key from now on)",
                v.to_vkey()
            );
            v
        }
    };
    let mut last: Option<(Checkpoint, String)> = match &args.state {
        Some(path) if path.exists() => {
            let note = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let c = checkpoint::open(&note, &verifier)
                .map_err(|e| format!("the saved checkpoint {}: {e}", path.display()))?;
            Some((c, note))
        }
        _ => None,
    };
    loop {
        let note = get(&agent, &format!("{server}/api/v1/log/checkpoint"));
        match note {
            Ok(note) => {
                let current = checkpoint::open(&note, &verifier)
                    .map_err(|e| format!("the server's checkpoint: {e}"))?;
                if let Some((previous, previous_note)) = &last {
                    let why = inconsistency(previous, &current, |from, to| {
                        fetch_consistency(&agent, server, from, to)
                    })?;
                    if let Some(why) = why {
                        return Ok(Some((previous_note.clone(), note, why)));
                    }
                }
                println!(
                    "ok: {} at {} records, root {}",
                    current.origin,
                    current.size,
                    B64.encode(current.root)
                );
                if let Some(path) = &args.state {
                    let keep = last.as_ref().is_none_or(|(p, _)| current.size >= p.size);
                    if keep {
                        std::fs::write(path, &note)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    }
                }
                if last.as_ref().is_none_or(|(p, _)| current.size >= p.size) {
                    last = Some((current, note));
                }
            }
            Err(e) if !args.once => eprintln!("warning: {e}; trying again"),
            Err(e) => return Err(e),
        }
        if args.once {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}
