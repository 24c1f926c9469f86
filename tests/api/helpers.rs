//! spawn_app() and the fixtures the tests share.

use crate::spawn::{Spawned, spawn};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use truetrace::ledger::envelope;
use truetrace::settings::Settings;

pub const TOKEN: &str = "test-admin-token";
/// The secret key that seals hosted keys in tests (never a file in the source tree).
pub const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const PADDY: &str = "04712345000015";
pub const RICE: &str = "04712345000022";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run on: SQLite always, PostgreSQL when its URL is given.
pub fn backends() -> Vec<Backend> {
    match std::env::var("TRUETRACE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => vec![Backend::Sqlite, Backend::Postgres],
        _ => {
            eprintln!("note: PostgreSQL part skipped: TRUETRACE_TEST_POSTGRES_URL is not set");
            vec![Backend::Sqlite]
        }
    }
}

pub struct TestApp {
    pub database_url: String,
    pub backend: Backend,
    pub agent: ureq::Agent,
    /// Stopped when the test ends, before its database is dropped, so that its connections
    /// close with it (the suite's servers would otherwise hold PostgreSQL connections up to its
    /// limit).
    server: Option<Served>,
    _dir: tempfile::TempDir,
}

/// A fresh, empty database of the given backend: a temporary SQLite file, or a new PostgreSQL schema.
pub fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
        Backend::Postgres => {
            let base = std::env::var("TRUETRACE_TEST_POSTGRES_URL").expect("checked by backends()");
            let schema = format!("tt_{}", uuid::Uuid::now_v7().simple());
            let mut conn =
                diesel::PgConnection::establish(&base).expect("connect to the test PostgreSQL");
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                &format!("CREATE SCHEMA {schema}"),
            )
            .expect("create a test schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-csearch_path%3D{schema}")
        }
    }
}

/// Drops a PostgreSQL test schema (a no-op for SQLite, whose temporary directory goes by itself).
pub fn drop_database(database_url: &str) {
    let Some((base, schema)) = database_url.split_once("options=-csearch_path%3D") else {
        return;
    };
    let base = base.trim_end_matches(['?', '&']);
    if let Ok(mut conn) = diesel::PgConnection::establish(base) {
        let sql =
            format!("SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE");
        if let Err(e) = diesel::connection::SimpleConnection::batch_execute(&mut conn, &sql) {
            eprintln!("note: could not drop test schema {schema}: {e}");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.server.take());
        drop_database(&self.database_url);
    }
}

pub fn settings(database_url: &str) -> Settings {
    Settings {
        workers: Some(2),
        db_pool_size: 4,
        secret_key: Some(SECRET_KEY.into()),
        ..crate::spawn::local_settings(database_url, TOKEN)
    }
}

/// A server started by `serve`, read as its base address. It stops when dropped, so that its
/// database connections close with the test.
pub struct Served {
    address: String,
    server: Option<Spawned>,
}

impl std::ops::Deref for Served {
    type Target = str;
    fn deref(&self) -> &str {
        &self.address
    }
}

impl std::fmt::Display for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.address)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// Starts a server on a random port, in its own thread and actix system, over `database_url`
/// (a second server beside a test's app, or one over a database a test prepared).
pub fn serve(database_url: &str) -> Served {
    serve_with(settings(database_url))
}

/// Starts a server as `serve` does, with these settings.
pub fn serve_with(settings: Settings) -> Served {
    let server = spawn(settings).expect("the server starts");
    Served {
        address: format!("http://127.0.0.1:{}", server.port),
        server: Some(server),
    }
}

/// A server over the seeded demo story (SQLite, in a temporary directory that holds the demo's
/// key files too).
pub fn serve_demo() -> (tempfile::TempDir, Served, truetrace::cli::demo::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let services = truetrace::startup::Services::open(&settings(&database_url)).unwrap();
    let summary = truetrace::cli::demo::seed(&services, &dir.path().join("demo")).unwrap();
    drop(services);
    let base = serve(&database_url);
    (dir, base, summary)
}

/// `truetrace verify --quiet` over a test's database. The checkpoints are checked with the test
/// servers' log key, never with a key file the working directory may hold (the README's demo
/// leaves one there).
pub fn verify_store(database_url: &str) -> std::process::Output {
    truetrace_on(database_url, &["verify", "--quiet"])
}

/// The truetrace command run on the database at `database_url`, with the test servers' log key
/// (not whatever key file a demo left in the working directory), logging warnings only.
pub fn truetrace_on(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_truetrace"))
        .args(args)
        .env("TRUETRACE_DATABASE_URL", database_url)
        .env("TRUETRACE_LOG_KEY", crate::spawn::TEST_LOG_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

pub fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {})
}

/// A test app whose settings `change` adjusts before it starts.
pub fn spawn_app_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(backend, &dir);
    let mut settings = settings(&database_url);
    change(&mut settings);
    let server = serve_with(settings);
    TestApp {
        database_url,
        backend,
        agent: agent(),
        server: Some(server),
        _dir: dir,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// An HTTP answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

pub struct Org {
    pub id: String,
    pub key: SigningKey,
}

impl TestApp {
    /// The server's base address, such as `http://127.0.0.1:40123`.
    pub fn address(&self) -> &str {
        self.server
            .as_deref()
            .expect("the server runs until the test ends")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address())
    }

    pub fn get(&self, path: &str) -> Answer {
        answer(self.agent.get(&self.url(path)).call())
    }

    pub fn post_raw(&self, path: &str, body: &[u8]) -> Answer {
        answer(
            self.agent
                .post(&self.url(path))
                .content_type("application/json")
                .send(body),
        )
    }

    pub fn admin_post(&self, path: &str, body: &Value) -> Answer {
        answer(
            self.agent
                .post(&self.url(path))
                .header("Authorization", &format!("Bearer {TOKEN}"))
                .send_json(body),
        )
    }

    /// An admin call with another method (PATCH, PUT) and a JSON body.
    pub fn admin_send(&self, method: &str, path: &str, body: &Value) -> Answer {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).expect("serializes"))
            .expect("request");
        answer(self.agent.run(request))
    }

    pub fn admin_delete(&self, path: &str) -> Answer {
        answer(
            self.agent
                .delete(&self.url(path))
                .header("Authorization", &format!("Bearer {TOKEN}"))
                .call(),
        )
    }

    /// Creates an organization with the given roles and enrolls a fresh key for it.
    pub fn org(&self, name: &str, roles: &[&str]) -> Org {
        let created = self.admin_post("/api/v1/orgs", &json!({"name": name, "roles": roles}));
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_str().expect("org id").to_owned();
        let key = truetrace::ledger::keyfile::generate().expect("key");
        let enrolled = self.admin_post(
            &format!("/api/v1/orgs/{id}/keys"),
            &json!({"public_key": B64.encode(key.verifying_key().as_bytes())}),
        );
        assert_eq!(enrolled.status, 201, "{:?}", enrolled.body);
        Org { id, key }
    }

    pub fn product(&self, gtin: &str) {
        let created = self.admin_post(
            "/api/v1/products",
            &json!({"gtin": gtin, "name": format!("Product {gtin}")}),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
    }

    pub fn submit(&self, envelope: &[u8]) -> Answer {
        self.post_raw("/api/v1/records", envelope)
    }

    /// Sends envelopes (as `sign` makes them) through the batch endpoint, in this order.
    pub fn submit_batch(&self, envelopes: &[Vec<u8>]) -> Answer {
        self.post_raw("/api/v1/records/batch", &batch(envelopes))
    }

    pub fn log_size(&self) -> i64 {
        self.get("/api/v1/log").body["size"]
            .as_i64()
            .expect("log size")
    }

    pub fn head(&self, gtin: &str, lot: &str) -> String {
        let lot = self.get(&format!("/api/v1/lots/{gtin}/{lot}"));
        assert_eq!(lot.status, 200, "{:?}", lot.body);
        lot.body["head"].as_str().expect("head").to_owned()
    }
}

/// Signs a record (as JSON) with `key`: the envelope's bytes, as a client sends them.
pub fn sign(key: &SigningKey, record: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(record).expect("record serializes");
    serde_json::to_vec(&envelope::sign(key, &payload).to_json()).expect("envelope serializes")
}

/// A batch body, `{"envelopes": [...]}`, holding each envelope's bytes as they are.
pub fn batch(envelopes: &[Vec<u8>]) -> Vec<u8> {
    let mut body = br#"{"envelopes": ["#.to_vec();
    body.extend_from_slice(&envelopes.join(&b','));
    body.extend_from_slice(b"]}");
    body
}

pub fn record_id(record: &Value) -> String {
    truetrace::domain::RecordId::of_payload(&serde_json::to_vec(record).expect("serializes"))
        .to_hex()
}

/// A time `minutes` after a fixed point about one day ago (fixed for the whole test run, so a
/// record built twice is the same record), with the Taipei offset.
pub fn at(minutes: i64) -> String {
    static BASE: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let day_ago = Utc::now() - Duration::days(1);
        day_ago - Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&day_ago)))
    });
    (base + Duration::minutes(minutes))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
        .to_rfc3339()
}

pub fn harvest(actor: &Org, gtin: &str, lot: &str, minutes: i64) -> Value {
    json!({"type": "truetrace.record/v1", "event": "harvest", "actor": actor.id, "time": at(minutes),
           "new_lots": [{"gtin": gtin, "lot": lot, "quantity": {"amount": "100", "unit": "KGM"}}],
           "kde": {"harvest_date": "2026-11-20"}})
}

pub fn on_lot(event: &str, actor: &Org, gtin: &str, lot: &str, prev: &str, minutes: i64) -> Value {
    json!({"type": "truetrace.record/v1", "event": event, "actor": actor.id, "time": at(minutes),
           "lots": [{"gtin": gtin, "lot": lot, "prev": prev}]})
}

/// A farm with one harvested lot, ready for the next record.
pub struct Farm {
    pub app: TestApp,
    pub farm: Org,
    pub lot: &'static str,
    pub head: String,
}

pub fn farm_with_lot(backend: Backend) -> Farm {
    let app = spawn_app(backend);
    app.product(PADDY);
    let farm = app.org("Chishang Farm", &["producer"]);
    let record = harvest(&farm, PADDY, "PADDY-A", 0);
    let answer = app.submit(&sign(&farm.key, &record));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    Farm {
        head: record_id(&record),
        app,
        farm,
        lot: "PADDY-A",
    }
}

/// The EPCIS schema's complaints about a document, through Python's `jsonschema` and the official
/// schema beside the repository; None when either is missing here (the test says so).
pub fn epcis_schema_errors(body: &str) -> Option<String> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jsonschema, referencing"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: EPCIS schema validation skipped: python3 with `jsonschema` is not installed"
        );
        return None;
    }
    let schemas = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/epcis/JSON-Schema"
    );
    if !std::path::Path::new(schemas).is_dir() {
        eprintln!(
            "note: EPCIS schema validation skipped: ../shared/conformance is not beside the repository"
        );
        return None;
    }
    let mut child = std::process::Command::new("python3")
        .args([
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/validate_epcis.py"
            ),
            schemas,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some(if out.status.success() {
        String::new()
    } else {
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
}
