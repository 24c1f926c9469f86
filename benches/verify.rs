//! `truetrace verify` against the physical floor (`cargo bench --bench verify`): a store of
//! BENCH_VERIFY_RECORDS records (default 100,000; harvests stored through the ledger, so with
//! the transparency log's tiles and checkpoint), then
//!
//! 1. raw Ed25519 `verify_strict` of the same envelopes on every core (median of rounds just
//!    before and after);
//! 2. the floor: what every verifier must do per record besides the signature, on every core
//!    too: the signature, the record id (SHA-256 of the payload), the leaf hash, and the payload
//!    read as a record (median of rounds beside the raw ones);
//! 3. `ledger::audit::verify_store`, as `truetrace verify` runs it: every id, signature, key,
//!    rule, derived table, the rebuilt Merkle tree against the checkpoint and every stored tile;
//! 4. its ratio to raw (target >= 85%) and the floor's, and memory: the growth of this
//!    process's resident memory while it verified, and the peak resident memory of the
//!    `truetrace verify` command run on the same store (flat in the store's size), at a quarter
//!    of the size and at the full size.

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;
use truetrace::accounts::registry::{self, KeyHolder, NewOrgRequest, NewProductRequest};
use truetrace::domain::RecordId;
use truetrace::ledger::audit;
use truetrace::ledger::envelope::{self, Envelope, KeyId};
use truetrace::ledger::record::Record;
use truetrace::ledger::tlog;
use truetrace::startup::Services;

#[path = "../tests/support/spawn.rs"]
#[expect(dead_code, reason = "only the settings and the log key are used")]
mod spawn;

const GTIN: &str = "04712345000015";
const RAW_ROUNDS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let records = env_usize("BENCH_VERIFY_RECORDS", 100_000);
    println!("machine: {cores} cores");
    for size in [records / 4, records] {
        run(size, cores);
    }
}

fn resident_kib() -> u64 {
    status_kib("/proc/self/status", "VmRSS:")
}

fn run(records: usize, cores: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("verify.db").display());
    let settings = spawn::local_settings(&url, "bench-token");
    let services = Services::open(&settings).expect("services");
    let key = SigningKey::from_bytes(&[9; 32]);
    let org_id = {
        let mut conn = services.ledger.pool().get().expect("connection");
        registry::register_product(
            &mut conn,
            &NewProductRequest {
                gtin: GTIN.into(),
                name: "Paddy".into(),
                name_zh: None,
                description: None,
                image_url: None,
                price: None,
                currency: None,
                listing_url: None,
                brand_org: None,
            },
        )
        .expect("product");
        let org = registry::create_org(
            &mut conn,
            &NewOrgRequest {
                name: "Bench Farm".into(),
                name_zh: None,
                roles: vec!["producer".into()],
                gln: None,
            },
        )
        .expect("org");
        registry::enroll_key(
            &mut conn,
            &org.id,
            &base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                key.verifying_key().as_bytes(),
            ),
            KeyHolder::Organization,
        )
        .expect("key");
        org.id
    };
    let time =
        (Utc::now() - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let envelopes: Vec<Envelope> = (0..records)
        .map(|i| {
            let record = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": org_id, "time": time,
                "new_lots": [{"gtin": GTIN, "lot": format!("V-{i}"), "quantity": {"amount": "100", "unit": "KGM"}}],
                "location": {"name": "Field 3, Chishang", "lat": 23.12, "lon": 121.22},
                "kde": {"harvest_date": "2026-11-20", "field": "3"}});
            envelope::sign(&key, &serde_json::to_vec(&record).expect("payload"))
        })
        .collect();
    let bodies: Vec<Vec<u8>> = envelopes
        .iter()
        .map(|e| serde_json::to_vec(&e.to_json()).expect("envelope"))
        .collect();
    for chunk in bodies.chunks(1000) {
        for verdict in services.ledger.submit_all_blocking(chunk) {
            verdict.expect("stored");
        }
    }
    // Until the checkpoint covers the whole store.
    let started = Instant::now();
    loop {
        let mut conn = services.ledger.pool().get().expect("connection");
        let signed = truetrace::db::tlog::checkpoint(&mut conn).expect("checkpoint");
        if signed.is_some_and(|(size, _)| size as usize == records) {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "no checkpoint of the whole store"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let verifying = key.verifying_key();
    let raw = |rounds: usize| -> Vec<f64> {
        on_every_core(rounds, records, cores, |i| {
            envelopes[i % envelopes.len()]
                .verify(&verifying)
                .expect("valid");
        })
    };
    let leaf_keyid: [u8; 32] = hex::decode(KeyId::of(&verifying).as_str())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let floor = |rounds: usize| -> Vec<f64> {
        on_every_core(rounds, records, cores, |i| {
            let envelope = &envelopes[i % envelopes.len()];
            envelope.verify(&verifying).expect("valid");
            std::hint::black_box(RecordId::of_payload(&envelope.payload));
            std::hint::black_box(tlog::leaf_hash(
                &leaf_keyid,
                &envelope.signature,
                &envelope.payload,
            ));
            Record::from_payload(&envelope.payload).expect("a record");
        })
    };
    let mut rates = raw(RAW_ROUNDS / 2);
    let mut floor_rates = floor(RAW_ROUNDS / 2);

    let mut conn = services.ledger.pool().get().expect("connection");
    let baseline = resident_kib();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(resident_kib(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let start = Instant::now();
    let report = audit::verify_store(&mut conn, |_, _| {}).expect("verify");
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    drop(conn);
    assert!(
        report.problems.is_empty(),
        "{:?}",
        &report.problems[..report.problems.len().min(5)]
    );
    assert!(
        report.checkpoint.is_some(),
        "the tree was compared with a checkpoint"
    );
    rates.extend(raw(RAW_ROUNDS - RAW_ROUNDS / 2));
    floor_rates.extend(floor(RAW_ROUNDS - RAW_ROUNDS / 2));
    let raw_median = median(rates);
    let floor_median = median(floor_rates);
    let verified = records as f64 / seconds;
    let ratio = 100.0 * verified / raw_median;
    let (command_peak, command_seconds) = command_peak_kib(&url);
    println!(
        "{records:>9} records: verify {verified:>7.0} /s ({seconds:.2} s)  raw verify_strict on {cores} cores {raw_median:>7.0} /s  ratio {ratio:.0}% (target >= 85%: {})  floor {floor_median:>7.0} /s ({:.0}% of raw)  resident memory grew {} KiB while verifying; `truetrace verify` peak resident {} KiB ({command_seconds:.2} s)  load average {}",
        if ratio >= 85.0 { "met" } else { "NOT met" },
        100.0 * floor_median / raw_median,
        peak.load(Ordering::Relaxed).saturating_sub(baseline),
        command_peak,
        load_average(),
    );
}

/// Runs `work(i)` for `20,000 / cores` values of `i` on each core, `rounds` times; each
/// round's rate per second.
fn on_every_core(
    rounds: usize,
    records: usize,
    cores: usize,
    work: impl Fn(usize) + Sync,
) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let per_thread = 20_000usize.min(records) / cores;
            let barrier = Arc::new(Barrier::new(cores + 1));
            std::thread::scope(|scope| {
                for t in 0..cores {
                    let (barrier, work) = (barrier.clone(), &work);
                    scope.spawn(move || {
                        barrier.wait();
                        for i in 0..per_thread {
                            work(t * per_thread + i);
                        }
                    });
                }
                barrier.wait();
                let start = Instant::now();
                // The scope joins the threads when it ends.
                (start, per_thread * cores)
            })
        })
        .map(|(start, n)| n as f64 / start.elapsed().as_secs_f64())
        .collect()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2 - 1] + rates[rates.len() / 2]) / 2.0
}

/// The peak resident memory (VmHWM, read until it exits) and the time of `truetrace verify`
/// run on the store, which must find it intact.
fn command_peak_kib(url: &str) -> (u64, f64) {
    let start = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_truetrace"))
        .args(["verify", "--quiet"])
        .env("TRUETRACE_DATABASE_URL", url)
        .env("TRUETRACE_LOG_KEY", spawn::TEST_LOG_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("truetrace verify");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(status_kib(&status, "VmHWM:"));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let seconds = start.elapsed().as_secs_f64();
    let output = child.wait_with_output().expect("output");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    (peak, seconds)
}

fn status_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
