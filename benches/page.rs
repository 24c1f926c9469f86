//! The provenance page against a static handler on the same server, in one run
//! (`cargo bench --bench page`, needs `wrk`):
//!
//! - a lot with a realistic upstream: 3 farms, 2 transforms, 29 events;
//! - 100,000 other lots in the store (BENCH_OTHER_LOTS);
//! - wrk, 1 thread and 32 connections, against `GET /health` and against the page, asking as a
//!   phone's browser does (gzip), then asking for no compression;
//! - their ratio (target: the page at >= 50% of the static handler), the page's p99 latency, and
//!   the time of one uncached render;
//! - the floor under that ratio: the page's own bytes from a bare actix-web handler (HTTP and
//!   wrk alone, nothing of truetrace's);
//! - the same for the embed card and the storefront listing (`/shop`);
//! - `/health` and the page again while unrelated harvests arrive at INGEST_PER_SECOND (200)
//!   through the HTTP API: the page must stay cached (target: >= 50% of `/health` in that run).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Instant;
use truetrace::ledger::envelope;
use truetrace::startup::Services;

#[path = "../tests/support/spawn.rs"]
#[expect(dead_code, reason = "a benchmark's servers run until its process ends")]
mod spawn;

const TOKEN: &str = "bench-token";
const PADDY: &str = "04712345000015";
const BROWN: &str = "04712345000039";
const RICE: &str = "04712345000022";
const OTHER: &str = "04712345000046";

struct Org {
    id: String,
    key: SigningKey,
}

struct Client {
    base: String,
    agent: ureq::Agent,
    start: chrono::DateTime<Utc>,
    minutes: i64,
    submitted: usize,
}

impl Client {
    fn admin(&self, path: &str, body: Value) -> Value {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(body)
            .expect("admin call");
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
    }

    fn org(&self, name: &str, role: &str, seed: u8) -> Org {
        let org = self.admin("/api/v1/orgs", json!({"name": name, "roles": [role]}));
        let id = org["id"].as_str().expect("id").to_owned();
        let key = SigningKey::from_bytes(&[seed; 32]);
        self.admin(
            &format!("/api/v1/orgs/{id}/keys"),
            json!({"public_key": B64.encode(key.verifying_key().as_bytes())}),
        );
        Org { id, key }
    }

    /// Signs and submits; returns the record id.
    fn record(&mut self, org: &Org, mut record: Value) -> String {
        self.minutes += 30;
        self.submitted += 1;
        record["type"] = json!("truetrace.record/v1");
        record["actor"] = json!(org.id);
        record["time"] = json!(
            (self.start + Duration::minutes(self.minutes))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        );
        record["location"] = json!({"name": "Chishang, Taitung", "lat": 23.12, "lon": 121.22});
        let payload = serde_json::to_vec(&record).expect("payload");
        let body =
            serde_json::to_vec(&envelope::sign(&org.key, &payload).to_json()).expect("envelope");
        let mut r = self
            .agent
            .post(&format!("{}/api/v1/records", self.base))
            .content_type("application/json")
            .send(&body[..])
            .expect("submit");
        let answer: Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
        assert_eq!(r.status().as_u16(), 201, "{answer}");
        answer["id"].as_str().expect("id").to_owned()
    }
}

fn lot(gtin: &str, lot: &str, prev: &str) -> Value {
    json!({"gtin": gtin, "lot": lot, "prev": prev})
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!(
            "the page benchmark drives the server with wrk: install it (apt-get install wrk)"
        );
        std::process::exit(2);
    }
    let others: usize = std::env::var("BENCH_OTHER_LOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = spawn::local_settings(
        &format!("sqlite://{}", dir.path().join("page.db").display()),
        TOKEN,
    );
    let port = spawn::spawn(settings.clone()).expect("server").port;
    let mut c = Client {
        base: format!("http://127.0.0.1:{port}"),
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
        start: Utc::now() - Duration::days(20),
        minutes: 0,
        submitted: 0,
    };
    for (gtin, name) in [
        (PADDY, "Paddy"),
        (BROWN, "Brown rice"),
        (RICE, "Chishang rice 2 kg"),
        (OTHER, "Romaine"),
    ] {
        c.admin("/api/v1/products", json!({"gtin": gtin, "name": name, "name_zh": "池上米", "listing_url": "https://shop.example.com/x"}));
    }
    let farms: Vec<Org> = (1..=3)
        .map(|i| c.org(&format!("Farm {i}"), "producer", i))
        .collect();
    let (mill, packer) = (
        c.org("Mill", "processor", 10),
        c.org("Packer", "processor", 11),
    );
    let (carrier, store) = (
        c.org("Carrier", "carrier", 12),
        c.org("Store", "retailer", 13),
    );

    // 3 farms x (harvest, cool, ship, receive) = 12
    let mut paddy_heads = Vec::new();
    for (i, farm) in farms.iter().enumerate() {
        let name = format!("P{i}");
        let h = c.record(farm, json!({"event": "harvest", "new_lots": [{"gtin": PADDY, "lot": name, "quantity": {"amount": "800", "unit": "KGM"}}], "kde": {"harvest_date": "2026-11-01", "field": "3"}}));
        let cool = c.record(farm, json!({"event": "cool", "lots": [lot(PADDY, &name, &h)], "kde": {"temperature_c": "12"}}));
        let ship = c.record(
            farm,
            json!({"event": "ship", "lots": [lot(PADDY, &name, &cool)], "to": mill.id}),
        );
        paddy_heads.push(c.record(
            &mill,
            json!({"event": "receive", "lots": [lot(PADDY, &name, &ship)]}),
        ));
    }
    // 2 transforms, with notes, shipments and receipts in between: 17 more, 29 in all.
    let inputs: Vec<Value> = paddy_heads
        .iter()
        .enumerate()
        .map(|(i, h)| lot(PADDY, &format!("P{i}"), h))
        .collect();
    let t1 = c.record(&mill, json!({"event": "transform", "lots": inputs, "new_lots": [{"gtin": BROWN, "lot": "B1", "quantity": {"amount": "1800", "unit": "KGM"}}]}));
    let n = c.record(
        &mill,
        json!({"event": "note", "lots": [lot(BROWN, "B1", &t1)], "kde": {"moisture_pct": "14"}}),
    );
    let s = c.record(
        &mill,
        json!({"event": "ship", "lots": [lot(BROWN, "B1", &n)], "to": packer.id}),
    );
    let r = c.record(
        &packer,
        json!({"event": "receive", "lots": [lot(BROWN, "B1", &s)]}),
    );
    let t2 = c.record(&packer, json!({"event": "transform", "lots": [lot(BROWN, "B1", &r)], "new_lots": [{"gtin": RICE, "lot": "R1", "quantity": {"amount": "600", "unit": "H87"}}]}));
    let mut head = c.record(
        &packer,
        json!({"event": "note", "lots": [lot(RICE, "R1", &t2)], "kde": {"process": "milling"}}),
    );
    head = c.record(
        &packer,
        json!({"event": "pack", "lots": [lot(RICE, "R1", &head)], "kde": {"packing": "2 kg bags"}}),
    );
    head = c.record(
        &packer,
        json!({"event": "ship", "lots": [lot(RICE, "R1", &head)], "to": carrier.id}),
    );
    head = c.record(
        &carrier,
        json!({"event": "receive", "lots": [lot(RICE, "R1", &head)]}),
    );
    for t in ["16.0", "16.5", "17.0", "16.8", "16.2"] {
        head = c.record(
            &carrier,
            json!({"event": "note", "lots": [lot(RICE, "R1", &head)], "kde": {"temperature_c": t}}),
        );
    }
    head = c.record(
        &carrier,
        json!({"event": "ship", "lots": [lot(RICE, "R1", &head)], "to": store.id}),
    );
    head = c.record(
        &store,
        json!({"event": "receive", "lots": [lot(RICE, "R1", &head)]}),
    );
    c.record(
        &store,
        json!({"event": "store", "lots": [lot(RICE, "R1", &head)], "kde": {"shelf": "Aisle 4"}}),
    );

    // Other lots, committed through the ledger in bulk on the same database.
    let seeding = Instant::now();
    let services = Services::open(&settings).expect("services");
    let farm = &farms[0];
    let time =
        (Utc::now() - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let mut done = 0;
    while done < others {
        let chunk: Vec<Vec<u8>> = (done..(done + 500).min(others))
            .map(|i| {
                let record = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": farm.id, "time": time,
                    "new_lots": [{"gtin": OTHER, "lot": format!("O{i}")}]});
                let payload = serde_json::to_vec(&record).expect("payload");
                serde_json::to_vec(&envelope::sign(&farm.key, &payload).to_json()).expect("envelope")
            })
            .collect();
        for verdict in services.ledger.submit_all_blocking(&chunk) {
            assert!(
                verdict.is_ok_and(|s| s.created),
                "every other lot is stored"
            );
        }
        done += chunk.len();
    }
    println!(
        "store: {}-event upstream (3 farms, 2 transforms) + {others} other lots (seeded in {:.1} s)",
        c.submitted,
        seeding.elapsed().as_secs_f64()
    );

    let page = format!("{}/01/{RICE}/10/R1", c.base);
    let cold = Instant::now();
    let mut r = c
        .agent
        .get(&page)
        .header("Accept-Language", "en")
        .call()
        .expect("page");
    let html = r.body_mut().read_to_string().expect("body");
    let steps = html.matches("class=\"step ok\"").count();
    assert!(
        html.contains("data-state=\"verified\"") && steps == c.submitted,
        "{steps} verified steps"
    );
    println!(
        "one uncached render ({steps} events, every signature checked): {:.1} ms",
        cold.elapsed().as_secs_f64() * 1e3
    );

    let embed_url = format!("{}/embed/01/{RICE}/10/R1", c.base);
    let shop_url = format!("{}/shop", c.base);
    for (asked, headers) in [
        ("as a phone's browser asks (gzip)", BROWSER),
        ("asking for no compression", UNCOMPRESSED),
    ] {
        // The floor: the same page's bytes, as wrk asks for it, from a bare actix-web handler
        // with as many workers, so that HTTP and wrk alone set the pace.
        let mut bytes = c.agent.get(&page);
        for header in headers {
            let (name, value) = header.split_once(": ").expect("a header");
            bytes = bytes.header(name, value);
        }
        let mut bytes = bytes.call().expect("page");
        let gzip = bytes
            .headers()
            .get("content-encoding")
            .is_some_and(|e| e == "gzip");
        let body = bytes.body_mut().read_to_vec().expect("body");
        let page_bytes = body.len();
        let bare = bare_server(body, gzip);

        let hello = wrk(&format!("{}/health", c.base), headers);
        let floor = wrk(&bare, headers);
        let provenance = wrk(&page, headers);
        let embed = wrk(&embed_url, headers);
        let shop = wrk(&shop_url, headers);
        println!("{asked}:");
        for (name, (rate, p99)) in [
            ("static handler (GET /health)", &hello),
            ("provenance page", &provenance),
            ("embed card", &embed),
            ("storefront listing (/shop)", &shop),
            (
                &format!("the page's {page_bytes} bytes from a bare handler") as &str,
                &floor,
            ),
        ] {
            println!("  {name:<48}{rate:>9.0} req/s  p99 {p99}");
        }
        for (name, rate) in [
            ("page", provenance.0),
            ("embed card", embed.0),
            ("shop", shop.0),
        ] {
            println!(
                "  {name} / static: {:.0}% (target >= 50%)",
                100.0 * rate / hello.0
            );
        }
        println!(
            "  floor: the bare handler of the page's bytes / static: {:.0}%; the page / that floor: {:.0}%",
            100.0 * floor.0 / hello.0,
            100.0 * provenance.0 / floor.0
        );
    }

    // Unrelated harvests arriving while the page is read: they must not drop it from the cache.
    let per_second: u32 = std::env::var("INGEST_PER_SECOND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let arriving: Vec<Vec<u8>> = (0..per_second as usize * 15)
        .map(|i| {
            let record = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": farm.id, "time": time,
                "new_lots": [{"gtin": OTHER, "lot": format!("N{i}")}]});
            let payload = serde_json::to_vec(&record).expect("payload");
            serde_json::to_vec(&envelope::sign(&farm.key, &payload).to_json()).expect("envelope")
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (stop, base, agent) = (stop.clone(), c.base.clone(), c.agent.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut sent = 0u32;
            for body in &arriving {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let due = started
                    + std::time::Duration::from_secs_f64(f64::from(sent) / f64::from(per_second));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let r = agent
                    .post(&format!("{base}/api/v1/records"))
                    .content_type("application/json")
                    .send(&body[..])
                    .expect("submit");
                assert_eq!(r.status().as_u16(), 201, "an unrelated harvest is stored");
                sent += 1;
            }
            f64::from(sent) / started.elapsed().as_secs_f64()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let busy_hello = wrk(&format!("{}/health", c.base), BROWSER);
    let busy_page = wrk(&page, BROWSER);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rate = feeder.join().expect("the feeder");
    println!("while unrelated harvests arrive ({rate:.0} records/s through the API):");
    println!(
        "static handler (GET /health):  {:>9.0} req/s  p99 {}",
        busy_hello.0, busy_hello.1
    );
    println!(
        "provenance page:               {:>9.0} req/s  p99 {}",
        busy_page.0, busy_page.1
    );
    println!(
        "page / static under ingest: {:.0}% (target >= 50%)",
        100.0 * busy_page.0 / busy_hello.0
    );
}

/// A bare actix-web server answering `body` (gzipped or not) to every GET, with one worker per
/// core like the server under test; its URL.
fn bare_server(body: Vec<u8>, gzip: bool) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let body = web::Bytes::from(body);
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let server = HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::get().to(move || {
            let body = body.clone();
            async move {
                let mut answer = HttpResponse::Ok();
                answer.content_type("text/html; charset=utf-8");
                if gzip {
                    answer.insert_header(("Content-Encoding", "gzip"));
                }
                answer.body(body)
            }
        }))
    })
    .workers(workers)
    .bind(("127.0.0.1", 0))
    .expect("the bare server listens");
    let port = server.addrs()[0].port();
    let server = server.run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    format!("http://127.0.0.1:{port}/")
}

/// A phone's browser in Taiwan: every browser asks for compressed answers.
const BROWSER: &[&str] = &[
    "Accept-Language: zh-TW,zh;q=0.9",
    "Accept-Encoding: gzip, deflate, br, zstd",
];
/// The same without compression (wrk's default, and the benchmark's only case before).
const UNCOMPRESSED: &[&str] = &["Accept-Language: zh-TW,zh;q=0.9"];

/// Requests per second and the p99 latency line from one wrk run sending `headers`.
fn wrk(url: &str, headers: &[&str]) -> (f64, String) {
    let mut args = vec!["-t1", "-c32", "-d5s", "--latency"];
    for header in headers {
        args.extend(["-H", header]);
    }
    args.push(url);
    let out = Command::new("wrk").args(&args).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "every answer must be 200: {text}"
    );
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("wrk prints Requests/sec");
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned());
    (rate, p99)
}
