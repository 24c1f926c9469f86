//! Forward and backward trace at a million records (`cargo bench --bench trace`):
//!
//! - a store of BENCH_RECORDS records (default 1,000,000) built through the ledger's own path
//!   (`Ledger::submit_all_blocking`, batches of 1,000) and shaped as farms -> mills (transforms of
//!   20 paddy lots into 2 brown-rice lots) -> packers (each brown lot packed into 10 rice lots) ->
//!   stores (shipped, received, a third of them partly sold);
//! - in the middle of it, a farm lot whose forward closure holds 1,000 lots (it goes into a mill
//!   run making 9 brown lots, each packed into 110 rice lots, every one received by a store),
//!   and a silo lot whose backward closure holds 1,000 lots (9 brown lots, each milled from 110
//!   paddy lots);
//! - both traced over HTTP, one request at a time (after a warm-up), p50 and p99; the same in a
//!   store of 10,000 records built the same way, and the ratios (target: p99 <= 50 ms at the full
//!   size, and <= 2x the small store's);
//! - on SQLite, and on PostgreSQL when TRUETRACE_TEST_POSTGRES_URL is set.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;
use truetrace::domain::RecordId;
use truetrace::ledger::envelope;
use truetrace::startup::Services;

#[path = "../tests/support/spawn.rs"]
#[expect(dead_code, reason = "a benchmark's servers run until its process ends")]
mod spawn;

const TOKEN: &str = "bench-token";
const PADDY: &str = "04712345000015";
const BROWN: &str = "04712345000039";
const RICE: &str = "04712345000022";
/// Records per call of the ledger.
const BATCH: usize = 1000;
/// Timed requests per trace, after as many untimed.
const REQUESTS: usize = 200;
/// Records of the small store the full one is compared with.
const SMALL: usize = 10_000;

struct Org {
    id: String,
    key: SigningKey,
}

struct World {
    farms: Vec<Org>,
    mills: Vec<Org>,
    packers: Vec<Org>,
    stores: Vec<Org>,
}

/// Signs records in the order they depend on each other and hands them to the ledger in
/// batches, keeping each lot's head.
struct Builder {
    services: Services,
    pending: Vec<Vec<u8>>,
    heads: HashMap<String, String>,
    start: DateTime<Utc>,
    written: usize,
    bar: ProgressBar,
}

impl Builder {
    fn new(services: Services, total: usize) -> Self {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} building [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self {
            services,
            pending: Vec::with_capacity(BATCH),
            heads: HashMap::new(),
            // One second per record, ending before now.
            start: Utc::now() - Duration::seconds(total as i64 + 86_400),
            written: 0,
            bar,
        }
    }

    /// References to `lots` (lot codes; the GTIN follows from the code's first letter) at
    /// their heads.
    fn refs(&self, lots: &[&str]) -> Vec<Value> {
        lots.iter()
            .map(|l| json!({"gtin": gtin_of(l), "lot": l, "prev": self.heads[*l]}))
            .collect()
    }

    /// One record by `org` on the lots `refs` names, creating `new_lots`, with `extra` fields.
    fn record(
        &mut self,
        org: &Org,
        event: &str,
        refs: Vec<Value>,
        new_lots: Vec<Value>,
        extra: Value,
    ) {
        let time = self.start + Duration::seconds((self.written + self.pending.len()) as i64);
        let mut record = json!({"type": "truetrace.record/v1", "event": event, "actor": org.id,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)});
        if !refs.is_empty() {
            record["lots"] = json!(refs);
        }
        if !new_lots.is_empty() {
            record["new_lots"] = json!(new_lots);
        }
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                record[k] = v;
            }
        }
        let payload = serde_json::to_vec(&record).expect("payload");
        let id = RecordId::of_payload(&payload).to_hex();
        for touched in ["lots", "new_lots"] {
            for l in record[touched].as_array().into_iter().flatten() {
                let code = l["lot"].as_str().expect("lot");
                self.heads.insert(code.to_owned(), id.clone());
            }
        }
        self.pending.push(
            serde_json::to_vec(&envelope::sign(&org.key, &payload).to_json()).expect("envelope"),
        );
        if self.pending.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for verdict in self.services.ledger.submit_all_blocking(&self.pending) {
            assert!(verdict.is_ok_and(|s| s.created), "every record is stored");
        }
        self.written += self.pending.len();
        self.bar.set_position(self.written as u64);
        self.pending.clear();
    }

    fn ship(&mut self, from: &Org, to: &Org, lot: &str) {
        self.record(
            from,
            "ship",
            self.refs(&[lot]),
            Vec::new(),
            json!({"to": to.id}),
        );
        self.record(to, "receive", self.refs(&[lot]), Vec::new(), Value::Null);
    }

    /// Farms harvest `paddy` lots and ship them to a mill, which mills them into `brown` lots;
    /// each is shipped to a packer and packed into `rice` lots, each shipped to a store, every
    /// third partly sold. Lot codes start with `prefix`; returns the first paddy lot's.
    fn supply_chain(
        &mut self,
        w: &World,
        k: usize,
        prefix: &str,
        paddy: usize,
        brown: usize,
        rice: usize,
    ) -> String {
        let mill = &w.mills[k % w.mills.len()];
        let paddy_lots: Vec<String> = (0..paddy).map(|i| format!("P{prefix}-{i}")).collect();
        for (i, lot) in paddy_lots.iter().enumerate() {
            let farm = &w.farms[(k + i) % w.farms.len()];
            self.record(
                farm,
                "harvest",
                Vec::new(),
                vec![new_lot(lot, "800", "KGM")],
                Value::Null,
            );
            self.ship(farm, mill, lot);
        }
        let brown_lots: Vec<String> = (0..brown).map(|j| format!("B{prefix}-{j}")).collect();
        let inputs: Vec<&str> = paddy_lots.iter().map(String::as_str).collect();
        let made = brown_lots
            .iter()
            .map(|b| new_lot(b, "600", "KGM"))
            .collect();
        self.record(mill, "transform", self.refs(&inputs), made, Value::Null);
        for (j, b) in brown_lots.iter().enumerate() {
            let packer = &w.packers[(k + j) % w.packers.len()];
            self.ship(mill, packer, b);
            let rice_lots: Vec<String> = (0..rice).map(|r| format!("R{prefix}-{j}-{r}")).collect();
            let made = rice_lots.iter().map(|r| new_lot(r, "40", "H87")).collect();
            self.record(packer, "pack", self.refs(&[b.as_str()]), made, Value::Null);
            for (r, lot) in rice_lots.iter().enumerate() {
                let store = &w.stores[(k + j * rice + r) % w.stores.len()];
                self.ship(packer, store, lot);
                if r % 3 == 0 {
                    let mut sold = self.refs(&[lot.as_str()]);
                    sold[0]["quantity"] = json!({"amount": "5", "unit": "H87"});
                    self.record(store, "sell", sold, Vec::new(), Value::Null);
                }
            }
        }
        paddy_lots[0].clone()
    }

    /// `groups` brown lots, each milled from `paddy` lots, milled together into one silo lot;
    /// returns its code.
    fn silo(&mut self, w: &World, groups: usize, paddy: usize) -> String {
        let mill = &w.mills[0];
        let mut brown_lots = Vec::new();
        for g in 0..groups {
            let paddy_lots: Vec<String> = (0..paddy).map(|i| format!("PS-{g}-{i}")).collect();
            for (i, lot) in paddy_lots.iter().enumerate() {
                let farm = &w.farms[i % w.farms.len()];
                self.record(
                    farm,
                    "harvest",
                    Vec::new(),
                    vec![new_lot(lot, "800", "KGM")],
                    Value::Null,
                );
                self.ship(farm, mill, lot);
            }
            let b = format!("BS-{g}");
            let inputs: Vec<&str> = paddy_lots.iter().map(String::as_str).collect();
            let made = vec![new_lot(&b, "600", "KGM")];
            self.record(mill, "transform", self.refs(&inputs), made, Value::Null);
            brown_lots.push(b);
        }
        let inputs: Vec<&str> = brown_lots.iter().map(String::as_str).collect();
        let made = vec![new_lot("BSILO", "6000", "KGM")];
        self.record(mill, "transform", self.refs(&inputs), made, Value::Null);
        "BSILO".to_owned()
    }
}

fn gtin_of(lot: &str) -> &'static str {
    match lot.as_bytes().first() {
        Some(b'P') => PADDY,
        Some(b'B') => BROWN,
        _ => RICE,
    }
}

fn new_lot(lot: &str, amount: &str, unit: &str) -> Value {
    json!({"gtin": gtin_of(lot), "lot": lot, "quantity": {"amount": amount, "unit": unit}})
}

/// Records of one background supply chain (20 paddy, 2 brown, 10 rice each).
const UNIT_RECORDS: usize = 20 * 3 + 1 + 2 * 3 + 20 * 2 + 2 * 4;

fn admin(agent: &ureq::Agent, base: &str, path: &str, body: Value) -> Value {
    let mut r = agent
        .post(&format!("{base}{path}"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(body)
        .expect("admin call");
    serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
}

fn org(agent: &ureq::Agent, base: &str, name: &str, role: &str, seed: u8) -> Org {
    let made = admin(
        agent,
        base,
        "/api/v1/orgs",
        json!({"name": name, "roles": [role]}),
    );
    let id = made["id"].as_str().expect("id").to_owned();
    let key = SigningKey::from_bytes(&[seed; 32]);
    admin(
        agent,
        base,
        &format!("/api/v1/orgs/{id}/keys"),
        json!({"public_key": B64.encode(key.verifying_key().as_bytes())}),
    );
    Org { id, key }
}

/// p50 and p99 of a trace, in milliseconds, and the lots it answered.
struct Timing {
    p50: f64,
    p99: f64,
    lots: usize,
}

fn time_trace(agent: &ureq::Agent, url: &str) -> Timing {
    let mut lots = 0;
    let mut times = Vec::with_capacity(REQUESTS);
    for i in 0..2 * REQUESTS {
        let begin = Instant::now();
        let mut r = agent.get(url).call().expect("trace");
        let body = r.body_mut().read_to_string().expect("body");
        let elapsed = begin.elapsed().as_secs_f64() * 1e3;
        assert_eq!(r.status().as_u16(), 200, "{body}");
        if i >= REQUESTS {
            times.push(elapsed);
        } else if i == 0 {
            let v: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(v["truncated"], false, "the whole closure in one answer");
            lots = v["lots"].as_array().map_or(0, Vec::len);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    Timing {
        p50: at(0.5),
        p99: at(0.99),
        lots,
    }
}

/// Builds a store of about `records` records on `database_url` and times both traces.
fn run(database_url: &str, records: usize) -> (Timing, Timing) {
    let settings = spawn::local_settings(database_url, TOKEN);
    let port = spawn::spawn(settings.clone()).expect("server").port;
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (gtin, name) in [
        (PADDY, "Paddy"),
        (BROWN, "Brown rice"),
        (RICE, "Chishang rice 2 kg"),
    ] {
        admin(
            &agent,
            &base,
            "/api/v1/products",
            json!({"gtin": gtin, "name": name}),
        );
    }
    let mut seed = 0u8;
    let mut orgs = |n: usize, what: &str, role: &str| -> Vec<Org> {
        (0..n)
            .map(|i| {
                seed += 1;
                org(&agent, &base, &format!("{what} {i}"), role, seed)
            })
            .collect()
    };
    let w = World {
        farms: orgs(50, "Farm", "producer"),
        mills: orgs(10, "Mill", "processor"),
        packers: orgs(5, "Packer", "processor"),
        stores: orgs(40, "Store", "retailer"),
    };

    let building = Instant::now();
    let mut b = Builder::new(Services::open(&settings).expect("services"), records);
    // The two closures take about 5,400 records; the background fills the rest, half before
    // and half after them.
    let units = records.saturating_sub(5_400) / UNIT_RECORDS;
    for k in 0..units / 2 {
        b.supply_chain(&w, k, &k.to_string(), 20, 2, 10);
    }
    let farm_lot = b.supply_chain(&w, 7, "F", 20, 9, 110);
    let silo = b.silo(&w, 9, 110);
    for k in units / 2..units {
        b.supply_chain(&w, k, &k.to_string(), 20, 2, 10);
    }
    b.flush();
    b.bar.finish_and_clear();
    let written = b.written;
    drop(b);
    println!(
        "  store: {written} records built in {:.0} s through the ledger",
        building.elapsed().as_secs_f64()
    );
    let forward = time_trace(
        &agent,
        &format!("{base}/api/v1/lots/{PADDY}/{farm_lot}/trace?direction=forward"),
    );
    let backward = time_trace(
        &agent,
        &format!("{base}/api/v1/lots/{BROWN}/{silo}/trace?direction=backward"),
    );
    (forward, backward)
}

fn engine(name: &str, url: impl Fn(&str) -> String, records: usize) {
    println!("{name}: a store of {records} records");
    let (forward, backward) = run(&url("big"), records);
    println!("{name}: a store of {SMALL} records");
    let (small_forward, small_backward) = run(&url("small"), SMALL);
    for (what, big, small) in [
        ("forward ", &forward, &small_forward),
        ("backward", &backward, &small_backward),
    ] {
        println!(
            "{name} {what} trace of {} lots: p50 {:.1} ms, p99 {:.1} ms at {records} records; p50 {:.1} ms, p99 {:.1} ms at {SMALL}; p99 ratio {:.2} (targets: p99 <= 50 ms, ratio <= 2)",
            big.lots,
            big.p50,
            big.p99,
            small.p50,
            small.p99,
            big.p99 / small.p99
        );
        assert_eq!(big.lots, small.lots, "the same closure in both stores");
    }
}

fn main() {
    let records: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    engine(
        "SQLite",
        |which| {
            format!(
                "sqlite://{}",
                dir.path().join(format!("{which}.db")).display()
            )
        },
        records,
    );
    match std::env::var("TRUETRACE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            let mut conn = diesel::PgConnection::establish(&base).expect("PostgreSQL");
            let schemas: Vec<String> = ["big", "small"]
                .iter()
                .map(|w| format!("bench_trace_{w}_{}", uuid::Uuid::now_v7().simple()))
                .collect();
            for s in &schemas {
                conn.batch_execute(&format!("CREATE SCHEMA {s}"))
                    .expect("schema");
            }
            let sep = if base.contains('?') { '&' } else { '?' };
            engine(
                "PostgreSQL",
                |which| {
                    let schema = &schemas[usize::from(which == "small")];
                    format!("{base}{sep}options=-csearch_path%3D{schema}")
                },
                records,
            );
            for s in &schemas {
                let drop = format!("SET client_min_messages = warning; DROP SCHEMA {s} CASCADE");
                if let Err(e) = conn.batch_execute(&drop) {
                    eprintln!("note: the benchmark schema {s} could not be dropped: {e}");
                }
            }
        }
        _ => println!("PostgreSQL: skipped (TRUETRACE_TEST_POSTGRES_URL is not set)"),
    }
}
