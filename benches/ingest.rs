//! Ingest throughput against the physical floor, in one run (`cargo bench --bench ingest`):
//!
//! 1. raw Ed25519 strict verifications per second of the envelopes the run sends, on as many
//!    threads as the server has workers, measured in rounds just before and just after each
//!    engine's run (the median is the baseline);
//! 2. signed records accepted per second through the real HTTP endpoint (`POST /api/v1/records`)
//!    with concurrent clients on loopback, on SQLite (and PostgreSQL when
//!    TRUETRACE_TEST_POSTGRES_URL is set), durable as in production: no answer before the
//!    commit is on disk;
//! 3. their ratio, per engine. Target: ingest >= 40% of raw verification throughput.
//!
//! The load generator is wrk (Debian package `wrk`), 1 thread and BENCH_CLIENTS connections,
//! replaying envelopes signed before the clock starts: each a harvest creating its own lot, so
//! that no request waits for another's answer. Accepted records are counted by the server (the
//! log's size), not by the client. BENCH_RECORDS, BENCH_CLIENTS and BENCH_SECONDS change the sizes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{Duration, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use truetrace::envelope::{self, Envelope};
use truetrace::settings::Settings;
use truetrace::startup::Application;

const TOKEN: &str = "bench-token";
const GTIN: &str = "04712345000015";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let records = env_usize("BENCH_RECORDS", 200_000);
    let clients = env_usize("BENCH_CLIENTS", 64);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!(
            "the ingest benchmark drives the server with wrk: install it (apt-get install wrk)"
        );
        std::process::exit(2);
    }
    println!("machine: {cores} cores; {records} records; {clients} concurrent HTTP clients");
    println!(
        "raw Ed25519 verify_strict of the same envelopes, {cores} threads, median of {RAW_ROUNDS} rounds around each run:"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    report(
        "SQLite",
        ingest_per_second(&sqlite, cores, records, clients),
    );

    match std::env::var("TRUETRACE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = diesel::PgConnection::establish(&base).expect("PostgreSQL");
            conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .expect("schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
            report(
                "PostgreSQL",
                ingest_per_second(&url, cores, records, clients),
            );
            let drop = format!("SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE");
            if let Err(e) = conn.batch_execute(&drop) {
                eprintln!("note: the benchmark schema {schema} could not be dropped: {e}");
            }
        }
        _ => println!(
            "ingest via HTTP, PostgreSQL:          skipped (TRUETRACE_TEST_POSTGRES_URL is not set)"
        ),
    }
}

/// What one engine's run measured: records accepted per second, and raw verifications per
/// second on the same cores just before and just after it.
struct Run {
    ingest: f64,
    raw: Vec<f64>,
}

fn report(engine: &str, run: Run) {
    let lowest = run.raw.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = run.raw.iter().copied().fold(0.0, f64::max);
    let raw = median(run.raw);
    println!(
        "{:<38}{:>10.0} /s  raw verify: {raw:>7.0} /s ({lowest:.0}-{highest:.0})  ratio: {:.0}%",
        format!("ingest via HTTP, {engine}:"),
        run.ingest,
        100.0 * run.ingest / raw
    );
}

/// Rounds of raw verification; half run before the ingest run and half after. The machines are
/// noisy (two rounds of identical work have differed by a quarter), so the ratio is taken
/// against their median, not against one short measurement.
const RAW_ROUNDS: usize = 6;
/// Verifications per round, about half a second on two cores.
const RAW_PER_ROUND: usize = 20_000;

/// Verifies `envelopes` (parsed beforehand) on `threads` threads: verifications per second.
fn raw_verifications_per_second(
    threads: usize,
    key: VerifyingKey,
    envelopes: &Arc<Vec<Envelope>>,
) -> f64 {
    let per_thread = RAW_PER_ROUND / threads;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (envelopes, barrier) = (envelopes.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    envelopes[(t * per_thread + i) % envelopes.len()]
                        .verify(&key)
                        .expect("valid signature");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("verifier thread");
    }
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn ingest_per_second(database_url: &str, workers: usize, records: usize, clients: usize) -> Run {
    let settings = Settings {
        database_url: database_url.to_owned(),
        listen: "127.0.0.1:0".into(),
        public_url: None,
        admin_token: Some(TOKEN.into()),
        workers: Some(workers),
        static_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/static").into(),
        db_pool_size: 16,
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        secret_key_file: "unused-secret.key".into(),
        reservation_minutes: 120,
    };
    let port = Application::spawn(settings)
        .expect("the server starts")
        .port;
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |path: &str, body: Option<serde_json::Value>| -> serde_json::Value {
        let url = format!("{base}{path}");
        let mut r = match body {
            Some(body) => agent
                .post(&url)
                .header("Authorization", &format!("Bearer {TOKEN}"))
                .send_json(body)
                .expect("admin call"),
            None => agent.get(&url).call().expect("get"),
        };
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
    };
    call(
        "/api/v1/products",
        Some(json!({"gtin": GTIN, "name": "Paddy"})),
    );
    let org = call(
        "/api/v1/orgs",
        Some(json!({"name": "Bench Farm", "roles": ["producer"]})),
    );
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let key = SigningKey::from_bytes(&[7; 32]);
    call(
        &format!("/api/v1/orgs/{org_id}/keys"),
        Some(json!({"public_key": B64.encode(key.verifying_key().as_bytes())})),
    );

    let time = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let envelopes = dir.path().join("envelopes.txt");
    let lines: Vec<String> = (0..records)
        .map(|i| {
            let record = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": org_id, "time": time,
                "new_lots": [{"gtin": GTIN, "lot": format!("B{}-{i}", &run[24..]), "quantity": {"amount": "100", "unit": "KGM"}}],
                "location": {"name": "Field 3, Chishang", "lat": 23.12, "lon": 121.22},
                "kde": {"harvest_date": "2026-11-20", "field": "3"}});
            let payload = serde_json::to_vec(&record).expect("payload");
            serde_json::to_string(&envelope::sign(&key, &payload).to_json()).expect("envelope")
        })
        .collect();
    std::fs::write(&envelopes, lines.join("\n")).expect("write envelopes");
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        LUA.replace("ENVELOPES", &envelopes.display().to_string()),
    )
    .expect("write script");

    // The envelopes the server is about to verify, parsed, for the raw verification rounds.
    let sample: Vec<Envelope> = lines
        .iter()
        .take(2_000)
        .map(|line| Envelope::parse(line.as_bytes()).expect("envelope"))
        .collect();
    let sample = Arc::new(sample);
    let public = key.verifying_key();
    let mut raw: Vec<f64> = (0..RAW_ROUNDS / 2)
        .map(|_| raw_verifications_per_second(workers, public, &sample))
        .collect();

    let before = call("/api/v1/log", None)["size"].as_i64().expect("size");
    let seconds = env_usize("BENCH_SECONDS", 5);
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{clients}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(&script)
        .arg(format!("{base}/api/v1/records"))
        .output()
        .expect("wrk runs");
    let report = String::from_utf8_lossy(&out.stdout);
    // Counted as wrk stops (requests still in flight may be left out) ...
    let after = call("/api/v1/log", None)["size"].as_i64().expect("size");
    let accepted = (after - before) as usize;
    // ... then wait for those to finish, so the database is idle when the caller drops it.
    let mut last = after;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = call("/api/v1/log", None)["size"].as_i64().expect("size");
        if now == last {
            break;
        }
        last = now;
    }
    assert!(
        !report.contains("EXHAUSTED"),
        "wrk used every prepared envelope before the time was up; raise BENCH_RECORDS"
    );
    // Every answer was 201 (or 200): wrk reports the others as "Non-2xx or 3xx responses: N",
    // and socket errors on a line of their own.
    assert!(
        !report.contains("Non-2xx") && !report.contains("Socket errors"),
        "every benchmark record must be accepted: {report}"
    );
    // wrk's own clock ("N requests in 5.00s"): it starts after wrk has loaded the envelopes.
    let elapsed = report
        .split_once(" requests in ")
        .and_then(|(_, rest)| rest.split_once("s,"))
        .and_then(|(secs, _)| secs.parse::<f64>().ok())
        .expect("wrk reports how long it ran");
    raw.extend(
        (0..RAW_ROUNDS - RAW_ROUNDS / 2)
            .map(|_| raw_verifications_per_second(workers, public, &sample)),
    );
    Run {
        ingest: accepted as f64 / elapsed,
        raw,
    }
}

/// Replays one envelope per request and says when it ran out. There is no `response` callback:
/// with one, wrk hands every answer's headers and body to Lua, and the load generator shares the
/// server's cores; wrk counts answers that are not 2xx by itself. The flag lives in the thread's
/// Lua state, so `done` (which runs in the main state) reads it through the thread objects `setup`
/// kept.
const LUA: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
-- Requests are formatted before the clock starts, so that the load generator spends its share of
-- the two cores on sending them, not on building strings.
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  requests = {}
  for line in io.lines("ENVELOPES") do requests[#requests + 1] = wrk.format(nil, nil, nil, line) end
  next_one, exhausted = 1, 0
end
request = function()
  local prepared = requests[next_one]
  if prepared == nil then
    exhausted = 1
    return wrk.format("GET", "/health")
  end
  next_one = next_one + 1
  return prepared
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") > 0 then io.write("EXHAUSTED\n") end
  end
end
"#;
