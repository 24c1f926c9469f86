//! The dashboard's queries over 1,000,000 recorded scans (`cargo bench --bench dashboard`):
//!
//! - a brand's product with 200 lots harvested by one farm, 5 stores, each lot shipped on from
//!   store to store so that every store received it (a store's shelf scans, reservations and
//!   pickups count for it only then);
//! - 1,000,000 events (scans by every channel, embed views, clicks, reservations, pickups) over
//!   90 days, recorded oldest day first through the same counters the server uses (flushed as the
//!   server flushes them: every 2 s and every 50,000 counters);
//! - the brand's, the producer's and a store's dashboard page (`GET /dashboard?days=N`, logged
//!   in as each, through the real server) fetched 100 times each for the last 30 and 90 days;
//!   p50 and p99 (target: p99 under 200 ms), next to `/health` on the same server;
//! - on SQLite, and on PostgreSQL when TRUETRACE_TEST_POSTGRES_URL is set (in a fresh schema).

use chrono::{Duration, Utc};
use serde_json::json;
use std::time::Instant;
use truetrace::accounts::registry::{NewOrgRequest, NewProductRequest};
use truetrace::omo::activity::{Channel, Kind};
use truetrace::settings::Settings;
use truetrace::startup::Services;

#[path = "../tests/support/spawn.rs"]
#[expect(dead_code, reason = "a benchmark's servers run until its process ends")]
mod spawn;

const RICE: &str = "04712345000022";
const SCANS: usize = 1_000_000;
const LOTS: usize = 200;

fn settings(database_url: String) -> Settings {
    Settings {
        db_pool_size: 4,
        ..spawn::local_settings(&database_url, "bench")
    }
}

fn org(conn: &mut truetrace::db::DbConn, name: &str, role: &str) -> truetrace::db::rows::OrgRow {
    truetrace::accounts::registry::create_org(
        conn,
        &NewOrgRequest {
            name: name.into(),
            name_zh: None,
            roles: vec![role.into()],
            gln: None,
        },
    )
    .expect("org")
}

/// SplitMix64's finalizer: a fixed, well-spread hash.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn run(label: &str, database_url: String) {
    let services = Services::open(&settings(database_url.clone())).expect("services");
    let pool = services.ledger.pool().clone();
    let mut conn = pool.get().expect("conn");
    let brand = org(&mut conn, "Brand", "brand");
    let farm = org(&mut conn, "Farm", "producer");
    let stores: Vec<_> = (0..5)
        .map(|i| org(&mut conn, &format!("Store {i}"), "retailer"))
        .collect();
    truetrace::accounts::registry::register_product(
        &mut conn,
        &NewProductRequest {
            gtin: RICE.into(),
            name: "Rice".into(),
            name_zh: None,
            description: None,
            image_url: None,
            price: None,
            currency: None,
            listing_url: None,
            brand_org: Some(brand.id.clone()),
        },
    )
    .expect("product");
    let key = truetrace::ledger::keyfile::generate().expect("key");
    let public = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key.verifying_key().as_bytes(),
    );
    truetrace::accounts::registry::enroll_key(
        &mut conn,
        &farm.id,
        &public,
        truetrace::accounts::registry::KeyHolder::Organization,
    )
    .expect("key");
    let store_keys: Vec<_> = stores
        .iter()
        .map(|store| {
            let key = truetrace::ledger::keyfile::generate().expect("key");
            let public = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                key.verifying_key().as_bytes(),
            );
            truetrace::accounts::registry::enroll_key(
                &mut conn,
                &store.id,
                &public,
                truetrace::accounts::registry::KeyHolder::Organization,
            )
            .expect("key");
            key
        })
        .collect();
    drop(conn);
    let start = Utc::now() - Duration::days(100);
    let time = |step: i64| {
        (start + Duration::seconds(step)).to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    };
    let signed = |key: &ed25519_dalek::SigningKey, record: serde_json::Value| {
        let payload = serde_json::to_vec(&record).expect("payload");
        let id = truetrace::domain::RecordId::of_payload(&payload).to_hex();
        let envelope =
            serde_json::to_vec(&truetrace::ledger::envelope::sign(key, &payload).to_json())
                .expect("envelope");
        (id, envelope)
    };
    // Each lot: harvested, then shipped to the first store, received, shipped on to the next...
    let mut chain: Vec<Vec<u8>> = Vec::new();
    for i in 0..LOTS {
        let lot = format!("L{i}");
        let (mut prev, harvest) = signed(
            &key,
            json!({"type": "truetrace.record/v1", "event": "harvest",
            "actor": farm.id, "time": time(0), "new_lots": [{"gtin": RICE, "lot": lot}]}),
        );
        chain.push(harvest);
        let mut holder = (&farm.id, &key);
        for (step, (store, store_key)) in stores.iter().zip(&store_keys).enumerate() {
            let step = 2 * step as i64;
            let (id, ship) = signed(
                holder.1,
                json!({"type": "truetrace.record/v1", "event": "ship",
                "actor": holder.0, "time": time(step + 1), "to": store.id,
                "lots": [{"gtin": RICE, "lot": lot, "prev": prev}]}),
            );
            let (id, receive) = signed(
                store_key,
                json!({"type": "truetrace.record/v1", "event": "receive",
                "actor": store.id, "time": time(step + 2),
                "lots": [{"gtin": RICE, "lot": lot, "prev": id}]}),
            );
            chain.extend([ship, receive]);
            prev = id;
            holder = (&store.id, store_key);
        }
    }
    for verdict in services.ledger.submit_all_blocking(&chain) {
        assert!(verdict.is_ok_and(|s| s.created));
    }

    let recording = Instant::now();
    let today = Utc::now().date_naive();
    let activity = &services.activity;
    // Scans each dashboard must show, by days back: everyone's (the brand's and the farm's) and
    // the first store's shelf.
    let mut scans_on_day = [(0i64, 0i64); 90];
    // Day, lot, kind and store drawn independently of each other (a fixed hash of i), so the
    // counters spread as real traffic would: about 200,000 of them. Counted oldest day first, as
    // the days passed.
    let mut hashes: Vec<u64> = (0..SCANS as u64).map(mix).collect();
    hashes.sort_by_key(|h| std::cmp::Reverse(h % 90));
    for h in hashes {
        let day = today - Duration::days((h % 90) as i64);
        let lot = format!("L{}", (h >> 8) % LOTS as u64);
        // Mostly scans; some embed views, clicks, reservations and pickups.
        let (kind, channel) = match (h >> 24) % 20 {
            0..=6 => (Kind::Scan, Channel::Package),
            7..=9 => (Kind::Scan, Channel::Shelf),
            10..=11 => (Kind::Scan, Channel::Direct),
            12..=14 => (Kind::EmbedView, Channel::Embed),
            15..=16 => (Kind::ListingClick, Channel::Package),
            17 => (Kind::ListingClick, Channel::Embed),
            18 => (Kind::Reservation, Channel::Shelf),
            _ => (Kind::Pickup, Channel::Shelf),
        };
        let store = if channel == Channel::Shelf {
            stores[((h >> 40) % stores.len() as u64) as usize]
                .id
                .as_str()
        } else {
            ""
        };
        if kind == Kind::Scan {
            let counted = &mut scans_on_day[(h % 90) as usize];
            counted.0 += 1;
            counted.1 += i64::from(store == stores[0].id);
        }
        activity.record_on(day, kind, channel, RICE, &lot, store, 1);
    }
    activity.flush().expect("flush");
    let mut conn = pool.get().expect("conn");
    let rows: i64 = diesel::RunQueryDsl::get_result(
        diesel::QueryDsl::count(truetrace::db::schema::activity_daily::table),
        &mut *conn,
    )
    .expect("count");
    println!(
        "{label}: recorded {SCANS} events in {:.1} s -> {rows} daily counters",
        recording.elapsed().as_secs_f64()
    );
    let port = spawn::spawn(settings(database_url)).expect("server").port;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str, cookie: &str| {
        let start = Instant::now();
        let mut answer = agent
            .get(&format!("http://127.0.0.1:{port}{path}"))
            .header("Cookie", cookie)
            .call()
            .expect("answer");
        let body = answer.body_mut().read_to_string().expect("body");
        assert_eq!(answer.status(), 200, "{path}: {body}");
        (start.elapsed().as_secs_f64() * 1e3, body)
    };
    let p50_p99 = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        (times[times.len() / 2], times[times.len() * 99 / 100 - 1])
    };
    let (health50, health99) = p50_p99((0..100).map(|_| get("/health", "").0).collect());
    println!("{label}: /health p50 {health50:6.1} ms  p99 {health99:6.1} ms");
    for (who, org) in [
        ("brand", &brand),
        ("producer", &farm),
        ("store", &stores[0]),
    ] {
        let email = format!("{who}@bench.example");
        truetrace::accounts::staff::create_user(
            &mut conn,
            &org.id,
            &email,
            who,
            "bench password 1",
            false,
        )
        .expect("user");
        let token = truetrace::accounts::staff::login(&mut conn, &email, "bench password 1")
            .expect("login");
        let cookie = format!("{}={token}", truetrace::accounts::staff::SESSION_COOKIE);
        for days in [30u32, 90] {
            let path = format!("/dashboard?days={days}");
            let (_, page) = get(&path, &cookie);
            // The page must show every scan it covers, not a fast wrong answer.
            let window = &scans_on_day[..days as usize];
            let scans: i64 = window
                .iter()
                .map(|(all, at_store)| if who == "store" { *at_store } else { *all })
                .sum();
            assert!(
                page.contains(&format!("id=\"total-scans\">{scans}<")),
                "{who}, {days} days: the page does not show {scans} scans"
            );
            let times = (0..100).map(|_| get(&path, &cookie).0).collect();
            let (p50, p99) = p50_p99(times);
            println!(
                "{label}: {who:>8} dashboard, {days:>2} days: p50 {p50:6.1} ms  p99 {p99:6.1} ms (target p99 < 200 ms)"
            );
        }
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(
        "SQLite",
        format!("sqlite://{}", dir.path().join("dash.db").display()),
    );
    match std::env::var("TRUETRACE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            use diesel::Connection;
            let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = diesel::PgConnection::establish(&base).expect("postgres");
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                &format!("CREATE SCHEMA {schema}"),
            )
            .expect("schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            run(
                "PostgreSQL",
                format!("{base}{sep}options=-csearch_path%3D{schema}"),
            );
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                &format!("DROP SCHEMA {schema} CASCADE"),
            )
            .expect("drop");
        }
        _ => println!("PostgreSQL part skipped: TRUETRACE_TEST_POSTGRES_URL is not set"),
    }
}
