//! Ingest throughput against the physical floor, in one run (`cargo bench --bench ingest`):
//!
//! 1. raw Ed25519 strict verifications per second of the envelopes the run sends, on as many
//!    threads as the server has workers, measured in rounds just before and just after each
//!    measurement (the median is the baseline);
//! 2. signed records accepted per second through the real HTTP endpoint (`POST /api/v1/records`)
//!    with concurrent clients on loopback, on SQLite (and PostgreSQL when
//!    TRUETRACE_TEST_POSTGRES_URL is set), durable as in production: no answer before the
//!    commit is on disk;
//! 3. their ratio, per engine. Target: ingest >= 40% of raw verification throughput;
//! 4. the same through the batch endpoint (`POST /api/v1/records/batch`), BATCH_ENVELOPES
//!    envelopes per request from BATCH_CLIENTS clients, with its own raw rounds around it.
//!    Targets: >= 60% of raw verification on SQLite, >= 40% on PostgreSQL.
//!
//! 5. the transparency log's cost: ingest with the Merkle tree, tiles and checkpoints against
//!    ingest without them (`--without-log-tree`), on two servers of one engine in alternated
//!    rounds. Target: with the log >= 95% of without. Then how long a record waits for a
//!    signed checkpoint covering it, sent when the signer has just signed (its worst case).
//!    `BENCH_ONLY=log` runs this part alone; BENCH_LOG_RECORDS sets the envelopes of each round.
//!
//! Then floors, measured in the same run, that say how much of a record's cost storage may take
//! at most: HTTP alone (an actix-web server that reads each envelope and answers a fixed 201), the
//! request side alone (one that reads, parses and verifies each envelope exactly as the ledger
//! does, then answers 201 with nothing stored), and the storage alone (the rows of records the
//! server has not seen, inserted by the ledger's own statements on one thread: no HTTP, no
//! verification, no reads or checks, commits not flushed).
//!
//! The load generator is wrk (Debian package `wrk`), 1 thread and BENCH_CLIENTS connections,
//! replaying envelopes signed before the clock starts: each a harvest creating its own lot, so
//! that no request waits for another's answer. Accepted records are counted by the server (the
//! log's size), not by the client. BENCH_RECORDS, BENCH_CLIENTS, BENCH_BATCH_RECORDS and
//! BENCH_SECONDS change the sizes.

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use serde_json::value::RawValue;
use truetrace::db::rows::{LotRow, RecordLotRow, RecordRow};
use truetrace::db::{self, DatabaseUrl, lots, records, wal};
use truetrace::domain::RecordId;
use truetrace::ledger::envelope::{self, Envelope, KeyId};
use truetrace::ledger::ingest;
use truetrace::ledger::store::SignatureCheck;
use truetrace::ledger::strict_json;
use truetrace::settings::Settings;

#[path = "../tests/support/spawn.rs"]
#[expect(dead_code, reason = "a benchmark's servers run until its process ends")]
mod spawn;

const TOKEN: &str = "bench-token";
const GTIN: &str = "04712345000015";
/// Records stored per transaction by the storage floor: the most the ledger writer can find
/// waiting at once with the default 64 clients.
const FLOOR_BATCH: usize = 64;
/// Records stored by each storage floor.
const FLOOR_RECORDS: usize = 20_000;
/// Envelopes per request of the batch run.
const BATCH_ENVELOPES: usize = 100;
/// Concurrent clients of the batch run.
const BATCH_CLIENTS: usize = 16;
/// Records per transaction of the batch runs' storage floor: the most the ledger writer commits
/// at once in the batch run (it takes whole requests while it holds fewer than 512), so the
/// cheapest per record it could be.
const BATCH_FLOOR_PER_COMMIT: usize = 600;

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
    if std::env::var("BENCH_ONLY").is_ok_and(|only| only == "log") {
        // The transparency log's comparison alone.
        log_costs(&dir, cores, clients);
        return;
    }
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut engines = vec![(
        "SQLite",
        ingest_per_second(&sqlite, cores, records, clients),
    )];
    report("ingest via HTTP, SQLite:", &engines[0].1.run);
    report_batch("SQLite", &engines[0].1.batch, 60.0);

    match std::env::var("TRUETRACE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = diesel::PgConnection::establish(&base).expect("PostgreSQL");
            conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .expect("schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
            engines.push((
                "PostgreSQL",
                ingest_per_second(&url, cores, records, clients),
            ));
            report("ingest via HTTP, PostgreSQL:", &engines[1].1.run);
            report_batch("PostgreSQL", &engines[1].1.batch, 40.0);
            let drop = format!("SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE");
            if let Err(e) = conn.batch_execute(&drop) {
                eprintln!("note: the benchmark schema {schema} could not be dropped: {e}");
            }
        }
        _ => println!(
            "ingest via HTTP, PostgreSQL:          skipped (TRUETRACE_TEST_POSTGRES_URL is not set)"
        ),
    }

    log_costs(&dir, cores, clients);

    println!("floors, in the same run (what storage may cost):");

    let http_alone = request_side_per_second(cores, clients, Judge::No);
    report("HTTP alone, body read, fixed answer:", &http_alone);
    let request_side = request_side_per_second(cores, clients, Judge::Yes);
    report("HTTP + verification, nothing stored:", &request_side);
    // The 40% target in microseconds of all cores per record, and what the request side leaves
    // of it for storage.
    let budget = cores as f64 * 1e6 / (0.4 * median(request_side.raw.clone()));
    let unstored = cores as f64 * 1e6 / request_side.ingest;
    let http = cores as f64 * 1e6 / http_alone.ingest;
    println!(
        "  at 40%, a record may take {budget:.0} µs of the {cores} cores; the request side takes {unstored:.0} of them ({http:.0} HTTP with its client, {:.0} parsing and verifying): {:.0} µs are left for storage",
        unstored - http,
        budget - unstored
    );
    println!(
        "  storage alone, one thread, {FLOOR_BATCH} records per commit, commits not flushed (µs per record):"
    );
    for (engine, measured) in &engines {
        println!(
            "    {:<12}record rows {:.1}, all of a harvest's rows {:.1}; storage added {:.0} in the ingest run",
            format!("{engine}:"),
            measured.record_rows_micros,
            measured.all_rows_micros,
            cores as f64 * 1e6 / measured.run.ingest - unstored
        );
    }

    println!("floors of the batch runs, in the same run:");
    let batch_side = request_side_per_second(cores, BATCH_CLIENTS, Judge::Batch);
    report(
        &format!("batches of {BATCH_ENVELOPES}, nothing stored:"),
        &batch_side,
    );
    let unstored = cores as f64 * 1e6 / batch_side.ingest;
    println!(
        "  storage alone, one thread, {BATCH_FLOOR_PER_COMMIT} records per commit (the most the writer takes at once), commits not flushed:"
    );
    for ((engine, measured), target) in engines.iter().zip([60.0, 40.0]) {
        let budget = cores as f64 * 1e6 / (target / 100.0 * median(measured.batch.raw.clone()));
        println!(
            "    {:<12}at {target:.0}% a record may take {budget:.0} µs of the {cores} cores; the request side takes {unstored:.0} of them: {:.0} µs are left for storage; a harvest's rows alone take {:.1}; storage added {:.0} in the batch run",
            format!("{engine}:"),
            budget - unstored,
            measured.batch_rows_micros,
            cores as f64 * 1e6 / measured.batch.ingest - unstored
        );
    }
}

/// The transparency log's cost on SQLite, and on PostgreSQL when its URL is set.
fn log_costs(dir: &tempfile::TempDir, cores: usize, clients: usize) {
    println!(
        "the transparency log's cost: ingest via HTTP with the Merkle tree and checkpoints, and without, alternated ({LOG_ROUNDS} rounds each):"
    );
    let with_log = format!("sqlite://{}", dir.path().join("with-log.db").display());
    let without_log = format!("sqlite://{}", dir.path().join("without-log.db").display());
    log_cost("SQLite", &with_log, &without_log, cores, clients);
    if let Ok(base) = std::env::var("TRUETRACE_TEST_POSTGRES_URL")
        && !base.is_empty()
    {
        let mut conn = diesel::PgConnection::establish(&base).expect("PostgreSQL");
        let sep = if base.contains('?') { '&' } else { '?' };
        let schemas: Vec<String> = (0..2)
            .map(|_| format!("bench_{}", uuid::Uuid::now_v7().simple()))
            .collect();
        for schema in &schemas {
            conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .expect("schema");
        }
        let url = |schema: &str| format!("{base}{sep}options=-csearch_path%3D{schema}");
        log_cost(
            "PostgreSQL",
            &url(&schemas[0]),
            &url(&schemas[1]),
            cores,
            clients,
        );
        for schema in &schemas {
            let drop = format!("SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE");
            if let Err(e) = conn.batch_execute(&drop) {
                eprintln!("note: the benchmark schema {schema} could not be dropped: {e}");
            }
        }
    }
}

/// Rounds of each side of the transparency log's comparison, alternated.
const LOG_ROUNDS: usize = 3;

/// Starts a server over `database_url` (with or without the transparency log), registers the
/// benchmark's product, organization and signing key: its base URL and the organization's id.
fn start_bench_server(
    database_url: &str,
    workers: usize,
    without_log_tree: bool,
) -> (String, String) {
    let settings = Settings {
        workers: Some(workers),
        without_log_tree,
        ..spawn::local_settings(database_url, TOKEN)
    };
    let port = spawn::spawn(settings).expect("the server starts").port;
    let base = format!("http://127.0.0.1:{port}");
    let agent = ureq::Agent::new_with_defaults();
    let call = |path: &str, body: serde_json::Value| -> serde_json::Value {
        let mut r = agent
            .post(&format!("{base}{path}"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(body)
            .expect("admin call");
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
    };
    call("/api/v1/products", json!({"gtin": GTIN, "name": "Paddy"}));
    let org = call(
        "/api/v1/orgs",
        json!({"name": "Bench Farm", "roles": ["producer"]}),
    );
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    call(
        &format!("/api/v1/orgs/{org_id}/keys"),
        json!({"public_key": B64.encode(key.as_bytes())}),
    );
    (base, org_id)
}

/// Ingest through `POST /api/v1/records` on two servers of one engine, one keeping the
/// transparency log (tree, tiles, checkpoints) and one not, in alternated rounds of fresh
/// envelopes: the median of each, and their ratio (target: with the log >= 95% of without).
fn log_cost(engine: &str, with_url: &str, without_url: &str, workers: usize, clients: usize) {
    let records = env_usize("BENCH_LOG_RECORDS", 100_000);
    let with = start_bench_server(with_url, workers, false);
    let without = start_bench_server(without_url, workers, true);
    let (mut with_rates, mut without_rates) = (Vec::new(), Vec::new());
    for round in 0..LOG_ROUNDS {
        // Which goes first alternates, so that neither always meets a warmer machine.
        let order = if round % 2 == 0 {
            [(&with, true), (&without, false)]
        } else {
            [(&without, false), (&with, true)]
        };
        for ((base, org_id), logged) in order {
            let workload = Workload::sign(org_id, records, WhenSent::Fail, 1);
            let measured = measure(base, "/api/v1/records", &workload, workers, clients);
            if logged {
                with_rates.push(measured.run.ingest);
            } else {
                without_rates.push(measured.run.ingest);
            }
        }
    }
    checkpoint_delays(engine, &with);
    let (with_median, without_median) = (median(with_rates.clone()), median(without_rates.clone()));
    let ratio = 100.0 * with_median / without_median;
    println!(
        "  {engine}: with the log {with_median:.0} /s {with_rates:.0?}, without {without_median:.0} /s {without_rates:.0?}: {ratio:.1}% (target >= 95%: {})",
        if ratio >= 95.0 { "met" } else { "NOT met" }
    );
}

/// Records sent one at a time on `base`, each just after the checkpoint covering the one before
/// (the signer's worst case: it signed a moment ago, so it waits out `CHECKPOINT_EVERY`): how
/// long each waited, from its answer to the first checkpoint covering it.
fn checkpoint_delays(engine: &str, (base, org_id): &(String, String)) {
    const SENT: usize = 8;
    let workload = Workload::sign(org_id, SENT, WhenSent::Fail, 1);
    let agent = ureq::Agent::new_with_defaults();
    let latest_size = || -> u64 {
        let mut answer = agent
            .get(&format!("{base}/api/v1/log/checkpoint"))
            .call()
            .expect("checkpoint");
        let note = answer.body_mut().read_to_string().expect("note");
        // A C2SP checkpoint: origin, then the tree size, then the root.
        note.lines()
            .nth(1)
            .and_then(|size| size.parse().ok())
            .expect("a checkpoint's size")
    };
    let mut delays: Vec<f64> = (0..SENT)
        .map(|i| {
            let body = serde_json::to_vec(&workload.envelopes[i].to_json()).expect("envelope");
            let mut answer = agent
                .post(&format!("{base}/api/v1/records"))
                .content_type("application/json")
                .send(&body[..])
                .expect("record stored");
            let acknowledged = Instant::now();
            let stored: serde_json::Value =
                serde_json::from_str(&answer.body_mut().read_to_string().expect("answer"))
                    .expect("json");
            let index = stored["log_index"].as_u64().expect("log index");
            while latest_size() <= index {
                assert!(
                    acknowledged.elapsed().as_secs() < 30,
                    "no checkpoint of record {index} in 30 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            acknowledged.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "  {engine}: a record sent just after a checkpoint waited {:.0} ms (median of {SENT}), {:.0} ms at most, for the next (signed at most every {} ms)",
        median(delays.clone()),
        delays[SENT - 1],
        truetrace::ledger::tlog::CHECKPOINT_EVERY.as_millis()
    );
}

/// What one measurement through HTTP gave: answers per second, and raw verifications per second
/// on the same cores just before and just after it.
struct Run {
    ingest: f64,
    raw: Vec<f64>,
}

/// One engine's ingest runs and its storage floors.
struct Measured {
    run: Run,
    /// Through the batch endpoint.
    batch: Run,
    /// Microseconds per record to insert the record rows alone (the `records` table, with its
    /// id and actor indexes).
    record_rows_micros: f64,
    /// Microseconds per record to insert every row an accepted harvest adds.
    all_rows_micros: f64,
    /// The same, BATCH_FLOOR_PER_COMMIT records per transaction.
    batch_rows_micros: f64,
}

fn report(what: &str, run: &Run) {
    let lowest = run.raw.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = run.raw.iter().copied().fold(0.0, f64::max);
    let raw = median(run.raw.clone());
    println!(
        "{what:<38}{:>10.0} /s  raw verify: {raw:>7.0} /s ({lowest:.0}-{highest:.0})  ratio: {:.0}%",
        run.ingest,
        100.0 * run.ingest / raw
    );
}

fn report_batch(engine: &str, run: &Run, target: f64) {
    report(
        &format!("batch of {BATCH_ENVELOPES} via HTTP, {engine}:"),
        run,
    );
    let ratio = 100.0 * run.ingest / median(run.raw.clone());
    println!(
        "  {BATCH_ENVELOPES} envelopes per request, {BATCH_CLIENTS} clients: target >= {target:.0}%: {}",
        if ratio >= target { "met" } else { "NOT met" }
    );
}

/// Rounds of raw verification; half run before the measurement and half after. The machines are
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

/// What the wrk script does once it has sent every envelope.
#[derive(Clone, Copy)]
enum WhenSent {
    /// Sends no more envelopes and reports EXHAUSTED, which fails the run: a record sent twice
    /// would be a cheap resubmission, not an ingest.
    Fail,
    /// Starts over: for servers that store nothing, to which every request is new.
    StartOver,
}

/// The envelopes of one measurement: harvests by one organization, each of a lot of its own,
/// signed beforehand, and the wrk script that replays them.
struct Workload {
    _dir: tempfile::TempDir,
    script: PathBuf,
    envelopes: Vec<Envelope>,
    lots: Vec<String>,
    time: DateTime<Utc>,
    key: VerifyingKey,
}

impl Workload {
    /// `records` envelopes, `per_request` to a request: one envelope as its body, or more as a
    /// batch body. Signed on every core.
    fn sign(org_id: &str, records: usize, when_sent: WhenSent, per_request: usize) -> Self {
        let key = SigningKey::from_bytes(&[7; 32]);
        let time = Utc::now() - Duration::hours(1);
        let run = uuid::Uuid::now_v7().simple().to_string();
        let lots: Vec<String> = (0..records)
            .map(|i| format!("B{}-{i}", &run[24..]))
            .collect();
        let sign_lot = |lot: &String| {
            let record = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": org_id, "time": time.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                "new_lots": [{"gtin": GTIN, "lot": lot, "quantity": {"amount": "100", "unit": "KGM"}}],
                "location": {"name": "Field 3, Chishang", "lat": 23.12, "lon": 121.22},
                "kde": {"harvest_date": "2026-11-20", "field": "3"}});
            envelope::sign(&key, &serde_json::to_vec(&record).expect("payload"))
        };
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let envelopes: Vec<Envelope> = std::thread::scope(|scope| {
            let signers: Vec<_> = lots
                .chunks(records.div_ceil(threads).max(1))
                .map(|chunk| scope.spawn(move || chunk.iter().map(sign_lot).collect::<Vec<_>>()))
                .collect();
            signers
                .into_iter()
                .flat_map(|signer| signer.join().expect("signer thread"))
                .collect()
        });
        let lines: Vec<String> = envelopes
            .chunks(per_request)
            .map(|chunk| {
                let wire: Vec<_> = chunk.iter().map(Envelope::to_json).collect();
                match wire.as_slice() {
                    [one] if per_request == 1 => serde_json::to_string(one),
                    _ => serde_json::to_string(&json!({ "envelopes": wire })),
                }
                .expect("request body")
            })
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("envelopes.txt");
        std::fs::write(&file, lines.join("\n")).expect("write envelopes");
        let script = dir.path().join("post.lua");
        std::fs::write(
            &script,
            LUA.replace("ENVELOPES", &file.display().to_string())
                .replace(
                    "START_OVER",
                    match when_sent {
                        WhenSent::Fail => "false",
                        WhenSent::StartOver => "true",
                    },
                ),
        )
        .expect("write script");
        Self {
            _dir: dir,
            script,
            envelopes,
            lots,
            time,
            key: key.verifying_key(),
        }
    }

    /// Rounds of raw verification of the first envelopes.
    fn raw_rounds(&self, workers: usize, rounds: usize) -> Vec<f64> {
        let sample = Arc::new(self.envelopes.iter().take(2_000).cloned().collect());
        (0..rounds)
            .map(|_| raw_verifications_per_second(workers, self.key, &sample))
            .collect()
    }
}

/// What wrk saw: requests answered (every one 2xx) and for how long it sent them.
struct Driven {
    requests: u64,
    seconds: f64,
}

/// Replays the workload's envelopes against `url` for BENCH_SECONDS, failing the run on any
/// answer that is not 2xx.
fn drive(url: &str, script: &Path, clients: usize) -> Driven {
    let seconds = env_usize("BENCH_SECONDS", 5);
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{clients}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk runs");
    let report = String::from_utf8_lossy(&out.stdout);
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
    // "N requests in 5.00s", by wrk's own clock: it starts after wrk has loaded the envelopes.
    let (count, rest) = report
        .split_once(" requests in ")
        .expect("wrk reports what it sent");
    Driven {
        requests: count
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .expect("wrk reports how many requests it sent"),
        seconds: rest
            .split_once("s,")
            .and_then(|(secs, _)| secs.parse().ok())
            .expect("wrk reports how long it ran"),
    }
}

fn ingest_per_second(
    database_url: &str,
    workers: usize,
    records: usize,
    clients: usize,
) -> Measured {
    let settings = Settings {
        workers: Some(workers),
        ..spawn::local_settings(database_url, TOKEN)
    };
    let port = spawn::spawn(settings).expect("the server starts").port;
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |path: &str, body: serde_json::Value| -> serde_json::Value {
        let mut r = agent
            .post(&format!("{base}{path}"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(body)
            .expect("admin call");
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
    };
    call("/api/v1/products", json!({"gtin": GTIN, "name": "Paddy"}));
    let org = call(
        "/api/v1/orgs",
        json!({"name": "Bench Farm", "roles": ["producer"]}),
    );
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let workload = Workload::sign(&org_id, records, WhenSent::Fail, 1);
    call(
        &format!("/api/v1/orgs/{org_id}/keys"),
        json!({"public_key": B64.encode(workload.key.as_bytes())}),
    );

    let single = measure(&base, "/api/v1/records", &workload, workers, clients);
    // The batch run: envelopes of its own, every one of which must be stored.
    let batch_records = env_usize("BENCH_BATCH_RECORDS", 250_000);
    let batches = Workload::sign(&org_id, batch_records, WhenSent::Fail, BATCH_ENVELOPES);
    let batch = measure(
        &base,
        "/api/v1/records/batch",
        &batches,
        workers,
        BATCH_CLIENTS,
    );
    let stored = batch.last - single.last;
    assert!(
        stored % BATCH_ENVELOPES as i64 == 0
            && stored >= batch.driven.requests as i64 * BATCH_ENVELOPES as i64,
        "every envelope of every batch must be stored: {stored} stored of {} batches answered",
        batch.driven.requests
    );
    let (driven, last) = (single.driven, batch.last);
    let run = single.run;

    // The storage floors take envelopes wrk never sent, from the end of the list.
    let unsent = records.saturating_sub(driven.requests as usize);
    assert!(
        unsent >= 3 * FLOOR_RECORDS,
        "too few envelopes are left for the storage floors; raise BENCH_RECORDS"
    );
    let floor = Floor {
        url: database_url,
        workload: &workload,
        org_id: &org_id,
    };
    let record_rows_micros = floor.store(records - FLOOR_RECORDS, last, false, FLOOR_BATCH);
    let all_rows_micros = floor.store(
        records - 2 * FLOOR_RECORDS,
        last + FLOOR_RECORDS as i64,
        true,
        FLOOR_BATCH,
    );
    let batch_rows_micros = floor.store(
        records - 3 * FLOOR_RECORDS,
        last + 2 * FLOOR_RECORDS as i64,
        true,
        BATCH_FLOOR_PER_COMMIT,
    );
    Measured {
        run,
        batch: batch.run,
        record_rows_micros,
        all_rows_micros,
        batch_rows_micros,
    }
}

/// One measurement through HTTP: the run, what wrk sent, and the log's size once every request
/// in flight has finished.
struct Measurement {
    run: Run,
    driven: Driven,
    last: i64,
}

/// Replays `workload` against `{base}{path}` between rounds of raw verification; counts what the
/// server stored by its log's size over wrk's clock.
fn measure(
    base: &str,
    path: &str,
    workload: &Workload,
    workers: usize,
    clients: usize,
) -> Measurement {
    let agent = ureq::Agent::new_with_defaults();
    let log_size = || -> i64 {
        let text = agent
            .get(&format!("{base}/api/v1/log"))
            .call()
            .expect("the log's size")
            .body_mut()
            .read_to_string()
            .expect("body");
        serde_json::from_str::<serde_json::Value>(&text).expect("json")["size"]
            .as_i64()
            .expect("size")
    };
    let mut raw = workload.raw_rounds(workers, RAW_ROUNDS / 2);
    let before = log_size();
    let driven = drive(&format!("{base}{path}"), &workload.script, clients);
    // Counted as wrk stops (requests still in flight may be left out) ...
    let after = log_size();
    // ... then wait for those to finish, so that the database is idle for what follows.
    let mut last = after;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = log_size();
        if now == last {
            break;
        }
        last = now;
    }
    raw.extend(workload.raw_rounds(workers, RAW_ROUNDS - RAW_ROUNDS / 2));
    Measurement {
        run: Run {
            ingest: (after - before) as f64 / driven.seconds,
            raw,
        },
        driven,
        last,
    }
}

/// Storage alone, on the database a run just filled.
struct Floor<'a> {
    url: &'a str,
    workload: &'a Workload,
    org_id: &'a str,
}

impl Floor<'_> {
    /// Inserts the rows of FLOOR_RECORDS envelopes from `first` on, at log indexes from
    /// `log_index`, with the ledger's own insert statements, `per_commit` records per transaction,
    /// on one connection set up as the ledger writer's (commits not flushed; on PostgreSQL, plans
    /// kept). Only the `records` rows, or every row an accepted harvest adds (its record, the
    /// record's lot and the new lot). Microseconds per record.
    fn store(&self, first: usize, log_index: i64, all_rows: bool, per_commit: usize) -> f64 {
        let pool =
            db::connect(&DatabaseUrl::parse(self.url).expect("database URL"), 1).expect("database");
        let mut conn = pool.get().expect("connection");
        wal::defer_sync(&mut conn).expect("deferred sync");
        db::set_planning(&mut conn, db::Planning::Writer).expect("planning");
        let keyid = KeyId::of(&self.workload.key).to_string();
        let accepted_at = Utc::now().naive_utc();
        let event_time = self.workload.time.naive_utc();
        // The rows are made before the clock starts: the writer's job starts from submissions
        // already parsed and verified.
        let batches: Vec<(Vec<RecordRow>, Vec<RecordLotRow>, Vec<LotRow>)> = (first
            ..first + FLOOR_RECORDS)
            .collect::<Vec<_>>()
            .chunks(per_commit)
            .map(|chunk| {
                let mut batch = (Vec::new(), Vec::new(), Vec::new());
                for &i in chunk {
                    let index = log_index + (i - first) as i64;
                    let envelope = &self.workload.envelopes[i];
                    let id = RecordId::of_payload(&envelope.payload).to_hex();
                    let lot = self.workload.lots[i].clone();
                    batch.0.push(RecordRow {
                        log_index: index,
                        id: id.clone(),
                        payload: envelope.payload.clone(),
                        keyid: keyid.clone(),
                        sig: envelope.signature.to_vec(),
                        event: "harvest".into(),
                        actor: self.org_id.to_owned(),
                        event_time,
                        accepted_at,
                    });
                    if all_rows {
                        batch.1.push(RecordLotRow {
                            log_index: index,
                            position: 0,
                            gtin: GTIN.into(),
                            lot: lot.clone(),
                            prev: None,
                        });
                        batch.2.push(LotRow {
                            gtin: GTIN.into(),
                            lot,
                            custodian: self.org_id.to_owned(),
                            head: id,
                            head_time: event_time,
                            shipped_to: None,
                            created_log_index: index,
                        });
                    }
                }
                batch
            })
            .collect();
        let start = Instant::now();
        let mut next = log_index;
        for (record_rows, record_lots, lot_rows) in &batches {
            next += record_rows.len() as i64;
            db::write_transaction(&mut conn, |c| {
                records::insert_many(c, record_rows, record_lots)?;
                lots::insert_many(c, lot_rows)?;
                records::set_next_index(c, next)
            })
            .expect("the floor's rows are stored");
        }
        // The connection's settings need no undoing: its one-connection pool closes here.
        start.elapsed().as_secs_f64() * 1e6 / FLOOR_RECORDS as f64
    }
}

/// Whether the request-side server judges what it receives.
#[derive(Clone, Copy)]
enum Judge {
    /// Reads the body and answers a fixed 201 of the ledger's shape: the cost of HTTP itself,
    /// with wrk on the same cores.
    No,
    /// Parses the envelope, reads the record and verifies the signature with the very functions
    /// the ledger uses, then answers as the ledger does.
    Yes,
    /// Batches of BATCH_ENVELOPES: cuts the body into its envelopes as the batch endpoint does
    /// (`strict_json::members`), then judges each as `Yes` does, off the async workers, and
    /// answers the batch's results.
    Batch,
}

/// Judges one envelope as the ledger's request side does: its record id when it would go on
/// to the writer.
fn judged(key: VerifyingKey, body: &[u8]) -> Option<String> {
    let prepared = ingest::prepare(ingest::parse(body).ok()?, Some(key));
    (matches!(prepared.signature, SignatureCheck::Valid) && prepared.entry.is_ok())
        .then(|| prepared.id.to_hex())
}

/// The results of a batch body, or None when it is not one.
fn judged_batch(key: VerifyingKey, body: &[u8]) -> Option<serde_json::Value> {
    let members = strict_json::members(body).ok()?;
    let [(_, envelopes)] = members.as_slice() else {
        return None;
    };
    let envelopes: Vec<&RawValue> = serde_json::from_str(envelopes.get()).ok()?;
    let results: Option<Vec<_>> = envelopes
        .iter()
        .map(|envelope| {
            judged(key, envelope.get().as_bytes())
                .map(|id| json!({"status": 201, "id": id, "log_index": 0}))
        })
        .collect();
    Some(json!({ "results": results? }))
}

/// The request side alone: a server that answers every envelope (or batch) as the ledger does
/// but stores nothing, judging it or not. Envelopes per second.
fn request_side_per_second(workers: usize, clients: usize, judge: Judge) -> Run {
    // Nothing is stored, so the envelopes are sent over and over: HTTP alone outruns any number
    // that could be signed beforehand in reasonable time.
    let per_request = match judge {
        Judge::Batch => BATCH_ENVELOPES,
        Judge::No | Judge::Yes => 1,
    };
    let workload = Workload::sign(
        &uuid::Uuid::now_v7().to_string(),
        FLOOR_RECORDS,
        WhenSent::StartOver,
        per_request,
    );
    let key = workload.key;
    let created = |id: String| {
        HttpResponse::Created()
            .insert_header(("Location", format!("/api/v1/records/{id}")))
            .json(json!({"id": id, "log_index": 0}))
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::PayloadConfig::new(ingest::MAX_BATCH_BODY_BYTES))
            .route(
                "/api/v1/records",
                web::post().to(move |body: web::Bytes| async move {
                    if let Judge::No = judge {
                        return created("0".repeat(64));
                    }
                    match judged(key, &body) {
                        Some(id) => created(id),
                        None => HttpResponse::BadRequest().finish(),
                    }
                }),
            )
            .route(
                "/api/v1/records/batch",
                web::post().to(move |body: web::Bytes| async move {
                    match web::block(move || judged_batch(key, &body)).await {
                        Ok(Some(results)) => HttpResponse::Ok().json(results),
                        _ => HttpResponse::BadRequest().finish(),
                    }
                }),
            )
    })
    .workers(workers)
    .bind(("127.0.0.1", 0))
    .expect("the request-side server listens");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    let thread = std::thread::spawn(move || actix_web::rt::System::new().block_on(server));

    let path = match judge {
        Judge::Batch => "/api/v1/records/batch",
        Judge::No | Judge::Yes => "/api/v1/records",
    };
    let mut raw = workload.raw_rounds(workers, RAW_ROUNDS / 2);
    let driven = drive(
        &format!("http://127.0.0.1:{port}{path}"),
        &workload.script,
        clients,
    );
    raw.extend(workload.raw_rounds(workers, RAW_ROUNDS - RAW_ROUNDS / 2));
    actix_web::rt::System::new().block_on(handle.stop(false));
    thread
        .join()
        .expect("server thread")
        .expect("the request-side server ran");
    Run {
        ingest: (driven.requests as usize * per_request) as f64 / driven.seconds,
        raw,
    }
}

/// Replays one envelope per request and, past the last, starts over or says it ran out
/// (`WhenSent`). There is no `response` callback: with one, wrk hands every answer's headers and
/// body to Lua, and the load generator shares the server's cores; wrk counts answers that are not
/// 2xx by itself. The flag lives in the thread's Lua state, so `done` (which runs in the main
/// state) reads it through the thread objects `setup` kept.
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
  if prepared == nil and START_OVER then
    next_one = 1
    prepared = requests[1]
  end
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
