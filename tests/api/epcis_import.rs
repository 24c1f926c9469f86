//! EPCIS 2.0 import: organization API tokens, `POST /api/v1/epcis/capture`, `truetrace epcis
//! import`; the official examples that describe events truetrace can express import and export
//! again to equivalent events, on both engines and by both paths; the rest are refused, each
//! event named with the reason.

use crate::helpers::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use truetrace::domain::LotKey;
use truetrace::domain::epcis::{cbv_term, gln_of, lot_of_class};

fn examples() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/epcis/JSON"
    ))
}

fn example(name: &str) -> Option<Value> {
    let path = examples().join(name);
    if !path.is_file() {
        eprintln!(
            "note: EPCIS example {name} skipped: ../shared/conformance is not beside the repository"
        );
        return None;
    }
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// The examples that describe events truetrace can express: (file, the lot it names, whether the
/// event is a receive (else a note on a lot the importer holds)).
const EXPRESSIBLE: [&str; 3] = [
    "Example_9.6.2-ObjectEvent.jsonld",
    "WithDigitalLinkID/Example_9.6.2-ObjectEventWithDigitalLink.jsonld",
    "WithSensorData/SensorDataExample4.jsonld",
];

fn post_capture(app: &TestApp, token: Option<&str>, body: &[u8]) -> Answer {
    let mut request = app
        .agent
        .post(&app.url("/api/v1/epcis/capture"))
        .content_type("application/ld+json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// An organization with a hosted key and an API token; answers it and the token.
fn partner(app: &TestApp) -> (Org, String) {
    let org = app.org("Partner DC", &["processor", "retailer"]);
    let hosted = app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", org.id), &json!({}));
    assert_eq!(hosted.status, 201, "{:?}", hosted.body);
    let made = app.admin_post(
        &format!("/api/v1/orgs/{}/tokens", org.id),
        &json!({"label": "warehouse system"}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    let token = made.body["token"].as_str().unwrap().to_owned();
    (org, token)
}

/// The lot an event's first quantity element names.
fn lot_of(event: &Value) -> LotKey {
    lot_of_class(event["quantityList"][0]["epcClass"].as_str().unwrap()).unwrap()
}

/// A supplier harvests the lot a day before `event_time` and ships it to `to`; with `receive`,
/// `to` receives it too (so that it may note it).
fn supply(app: &TestApp, supplier: &Org, to: &Org, key: &LotKey, event_time: &str, receive: bool) {
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": key.gtin.as_str(), "name": format!("Product {}", key.gtin)}),
    );
    assert!(matches!(created.status, 201 | 409), "{:?}", created.body);
    let at = chrono::DateTime::parse_from_rfc3339(event_time).unwrap();
    let time = |hours: i64| (at - chrono::Duration::hours(24 - hours)).to_rfc3339();
    let harvest = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": supplier.id, "time": time(0),
        "new_lots": [{"gtin": key.gtin.as_str(), "lot": key.lot.as_str()}]});
    let mut ship = on_lot(
        "ship",
        supplier,
        key.gtin.as_str(),
        key.lot.as_str(),
        &record_id(&harvest),
        0,
    );
    ship["time"] = json!(time(1));
    ship["to"] = json!(to.id);
    let mut records = vec![(supplier, harvest), (supplier, ship.clone())];
    if receive {
        let mut received = on_lot(
            "receive",
            to,
            key.gtin.as_str(),
            key.lot.as_str(),
            &record_id(&ship),
            0,
        );
        received["time"] = json!(time(2));
        records.push((to, received));
    }
    for (org, record) in records {
        let answer = app.submit(&sign(&org.key, &record));
        assert_eq!(answer.status, 201, "{record} -> {:?}", answer.body);
    }
}

/// What truetrace keeps of an event, compared: type, action, business step, time and offset,
/// lots with quantities, the read point's GLN, the temperature, the business transaction's
/// number. (truetrace keeps one place per record, and derives source and destination parties
/// from the chain: those are not compared.)
fn assert_equivalent(original: &Value, exported: &Value) {
    assert_eq!(exported["type"], original["type"], "{exported}");
    if !original["action"].is_null() {
        assert_eq!(exported["action"], original["action"]);
    }
    if let Some(step) = original["bizStep"].as_str() {
        assert_eq!(
            exported["bizStep"].as_str().map(|s| cbv_term(s, "BizStep")),
            Some(cbv_term(step, "BizStep"))
        );
    }
    let instant = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_micros()
    };
    assert_eq!(
        instant(&exported["eventTime"]),
        instant(&original["eventTime"])
    );
    assert_eq!(
        exported["eventTimeZoneOffset"],
        original["eventTimeZoneOffset"]
    );
    let lots = |v: &Value, list: &str| -> Vec<(LotKey, Option<f64>, Option<String>)> {
        v[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| {
                let quantity = q["quantity"].as_f64();
                let unit = quantity.map(|_| q["uom"].as_str().unwrap_or("H87").to_owned());
                (
                    lot_of_class(q["epcClass"].as_str().unwrap()).unwrap(),
                    quantity,
                    unit,
                )
            })
            .collect()
    };
    for list in ["quantityList", "inputQuantityList", "outputQuantityList"] {
        assert_eq!(lots(exported, list), lots(original, list), "{list}");
    }
    if let Some(place) = original["readPoint"]["id"].as_str().and_then(gln_of) {
        assert_eq!(
            exported["readPoint"]["id"].as_str().and_then(gln_of),
            Some(place)
        );
    }
    let temperature = |v: &Value| {
        v["sensorElementList"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["sensorReport"].as_array().into_iter().flatten())
            .find(|r| r["type"] == "Temperature")
            .and_then(|r| r["value"].as_f64())
    };
    assert_eq!(temperature(exported), temperature(original));
}

/// Each expressible example: the world it needs, its capture, and the lot's export compared.
fn round_trip(app: &TestApp, import: &dyn Fn(&Org, &Value) -> Vec<Value>) {
    let supplier = app.org("Supplier Farm", &["producer"]);
    let (importer, _) = partner(app);
    for name in EXPRESSIBLE {
        let Some(document) = example(name) else {
            return;
        };
        let event = &document["epcisBody"]["eventList"][0];
        let key = lot_of(event);
        let receive = event["bizStep"] == "receiving";
        supply(
            app,
            &supplier,
            &importer,
            &key,
            event["eventTime"].as_str().unwrap(),
            !receive,
        );
        let results = import(&importer, &document);
        assert_eq!(results.len(), 1, "{name}: {results:?}");
        assert_eq!(results[0]["status"], 201, "{name}: {:?}", results[0]);
        let id = results[0]["id"].as_str().unwrap();
        let page = format!(
            "/01/{}/10/{}?linkType=gs1:epcis",
            key.gtin,
            truetrace::domain::digital_link::path_segment(key.lot.as_str())
        );
        let exported = app.get(&page);
        assert_eq!(exported.status, 200, "{name}");
        let events = exported.body["epcisBody"]["eventList"].as_array().unwrap();
        let again = events
            .iter()
            .find(|e| e["tt:record"] == id)
            .unwrap_or_else(|| panic!("{name}: record {id} is not in the export"));
        assert_equivalent(event, again);
        assert_eq!(again["tt:epcis_event_id"], event["eventID"], "{name}");
        // The same document again (a retry, a resend): the record already stored, nothing new.
        let size = app.log_size();
        let again = import(&importer, &document);
        assert_eq!(
            (again[0]["status"].as_u64(), again[0]["id"].as_str()),
            (Some(200), Some(id)),
            "{name}: {again:?}"
        );
        assert_eq!(app.log_size(), size, "{name}: nothing stored twice");
    }
}

#[test]
fn official_examples_round_trip_through_the_capture_endpoint() {
    for backend in backends() {
        let app = spawn_app(backend);
        // The capture answers for the token's organization.
        let token_of = |org: &Org| {
            let made = app.admin_post(
                &format!("/api/v1/orgs/{}/tokens", org.id),
                &json!({"label": "round trip"}),
            );
            made.body["token"].as_str().unwrap().to_owned()
        };
        round_trip(&app, &|importer, document| {
            let answer = post_capture(
                &app,
                Some(&token_of(importer)),
                &serde_json::to_vec(document).unwrap(),
            );
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.body["results"].as_array().unwrap().clone()
        });
    }
}

#[test]
fn official_examples_round_trip_through_the_cli() {
    for backend in backends() {
        let app = spawn_app(backend);
        let dir = tempfile::tempdir().unwrap();
        round_trip(&app, &|importer, document| {
            let key_path = dir.path().join("importer.key.json");
            truetrace::ledger::keyfile::KeyFile::new(&importer.key, Some(importer.id.clone()))
                .write(&key_path, true)
                .unwrap();
            let doc_path = dir.path().join("document.jsonld");
            std::fs::write(&doc_path, serde_json::to_vec(document).unwrap()).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_truetrace"))
                .args(["epcis", "import"])
                .arg(&doc_path)
                .arg("--key")
                .arg(&key_path)
                .args(["--server", app.address()])
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // `event 0  201  <id> (log index N)`
            stdout
                .lines()
                .map(|line| {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    json!({"status": parts[2].parse::<u16>().unwrap(), "id": parts[3]})
                })
                .collect()
        });
        let refused = dir.path().join("aggregation.jsonld");
        if let Some(document) = example("Example_9.6.3-AggregationEvent.jsonld") {
            std::fs::write(&refused, serde_json::to_vec(&document).unwrap()).unwrap();
            let key_path = dir.path().join("importer.key.json");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_truetrace"))
                .args(["epcis", "import"])
                .arg(&refused)
                .arg("--key")
                .arg(&key_path)
                .args(["--server", app.address()])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert!(
                stdout.contains("event 0  422  invalid_record: event 0 (")
                    && stdout.contains("AggregationEvents are not expressible"),
                "{stdout}"
            );
        }
    }
}

/// A note on `lot` with this eventID, `minutes` after the test's start.
fn inspection(event_id: &str, lot: &str, minutes: i64) -> Value {
    json!({"type": "ObjectEvent", "eventID": event_id, "action": "OBSERVE", "bizStep": "inspecting",
           "eventTime": at(minutes), "eventTimeZoneOffset": "+08:00",
           "quantityList": [{"epcClass": format!("https://id.gs1.org/01/04712345000046/10/{lot}")}]})
}

fn epcis_document(events: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-20T00:00:00Z",
        "epcisBody": {"eventList": events}}),
    )
    .unwrap()
}

fn statuses(answer: &Answer) -> Vec<u64> {
    answer.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", answer.body))
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

#[test]
fn an_event_recorded_before_answers_the_record_stored_and_is_never_stored_twice() {
    for backend in backends() {
        let app = spawn_app(backend);
        let supplier = app.org("Supplier Farm", &["producer"]);
        let (importer, token) = partner(&app);
        let key = lot_of_class("https://id.gs1.org/01/04712345000046/10/DUP-1").unwrap();
        supply(&app, &supplier, &importer, &key, &at(-10), true);
        let capture = |events: Value| post_capture(&app, Some(&token), &epcis_document(events));
        let first = capture(json!([inspection("urn:uuid:a", "DUP-1", -5)]));
        assert_eq!(statuses(&first), [201], "{:?}", first.body);
        let stored = first.body["results"][0].clone();
        // Sent again, and again within one document beside a new event on the same lot: the
        // record stored before for each copy, and the new event chains after the real head.
        let size = app.log_size();
        let mixed = capture(json!([
            inspection("urn:uuid:a", "DUP-1", -5),
            inspection("urn:uuid:b", "DUP-1", -4),
            inspection("urn:uuid:b", "DUP-1", -4),
            inspection("urn:uuid:a", "DUP-1", -5)
        ]));
        assert_eq!(statuses(&mixed), [200, 201, 200, 200], "{:?}", mixed.body);
        let results = mixed.body["results"].as_array().unwrap();
        assert_eq!(
            results[0],
            json!({"status": 200, "id": stored["id"], "log_index": stored["log_index"]})
        );
        assert_eq!(results[3]["id"], stored["id"]);
        assert_eq!(results[2]["id"], results[1]["id"]);
        assert_eq!(app.log_size(), size + 1, "only the new event is stored");
        assert_eq!(
            app.head("04712345000046", "DUP-1"),
            results[1]["id"].as_str().unwrap()
        );
        // The lookup the CLI maps with.
        let found = app.get(&format!(
            "/api/v1/epcis/events?org={}&event_id=urn%3Auuid%3Aa",
            importer.id
        ));
        assert_eq!(
            (found.status, &found.body["id"], &found.body["event_id"]),
            (200, &stored["id"], &json!("urn:uuid:a"))
        );
        let other = app.get(&format!(
            "/api/v1/epcis/events?org={}&event_id=urn%3Auuid%3Aa",
            supplier.id
        ));
        assert_eq!((other.status, other.code()), (404, "not_found"));
        assert!(other.message().contains("has recorded no EPCIS event"));
        let bad = app.get("/api/v1/epcis/events?org=nope&event_id=x");
        assert_eq!((bad.status, bad.code()), (400, "malformed"));
        let missing = app.get(&format!("/api/v1/epcis/events?org={}", importer.id));
        assert_eq!(missing.status, 400);
        // A client that signs itself meets the same rule at the ledger: the same event of the
        // same organization is the record stored; another organization's event of that id is
        // its own.
        let head = app.head("04712345000046", "DUP-1");
        let mut again = on_lot("note", &importer, "04712345000046", "DUP-1", &head, -3);
        again["kde"] = json!({"epcis_event_id": "urn:uuid:a"});
        let answer = app.submit(&sign(&importer.key, &again));
        assert_eq!(
            (answer.status, &answer.body["id"]),
            (200, &stored["id"]),
            "{:?}",
            answer.body
        );
        assert_eq!(
            app.head("04712345000046", "DUP-1"),
            head,
            "no record was added"
        );
        let own = harvest_as_event(&app, &supplier, "urn:uuid:a");
        assert_eq!(own.status, 201, "{:?}", own.body);
        // verify agrees with the event table, and names a row erased behind the server's back.
        assert_eq!(verify(&app).status.code(), Some(0));
        erase_events(&app);
        let broken = verify(&app);
        assert_eq!(broken.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&broken.stdout)
                .contains("EPCIS event urn:uuid:a of organization"),
            "{}",
            String::from_utf8_lossy(&broken.stdout)
        );
    }
}

/// The supplier's own harvest of a new lot, naming the EPCIS event `event_id`.
fn harvest_as_event(app: &TestApp, supplier: &Org, event_id: &str) -> Answer {
    let mut record = harvest(supplier, "04712345000046", "DUP-2", -2);
    record["kde"] = json!({"epcis_event_id": event_id});
    app.submit(&sign(&supplier.key, &record))
}

fn verify(app: &TestApp) -> std::process::Output {
    verify_store(&app.database_url)
}

/// Runs SQL on the app's database, behind the server's back.
fn behind_the_back(app: &TestApp, sql: &str) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            diesel::SqliteConnection::establish(path)
                .unwrap()
                .batch_execute(sql)
                .unwrap();
        }
        Backend::Postgres => diesel::PgConnection::establish(&app.database_url)
            .unwrap()
            .batch_execute(sql)
            .unwrap(),
    }
}

fn erase_events(app: &TestApp) {
    behind_the_back(app, "DELETE FROM epcis_events");
}

#[test]
fn a_store_from_before_the_event_table_gets_its_events_from_the_log() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product("04712345000046");
        let supplier = app.org("Supplier Farm", &["producer"]);
        let answer = harvest_as_event(&app, &supplier, "urn:uuid:old");
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        // As a store migrated before the table existed: no table, the migration not run.
        behind_the_back(
            &app,
            "DROP TABLE epcis_events; DELETE FROM __diesel_schema_migrations WHERE version = '20261201000007'",
        );
        // A server starting on it runs the migration, which reads the events from the log.
        let services = truetrace::startup::Services::open(&settings(&app.database_url)).unwrap();
        drop(services);
        assert_eq!(verify(&app).status.code(), Some(0));
        let found = app.get(&format!(
            "/api/v1/epcis/events?org={}&event_id=urn%3Auuid%3Aold",
            supplier.id
        ));
        assert_eq!(found.status, 200, "{:?}", found.body);
    }
}

#[test]
fn every_other_official_example_is_refused_event_by_event_with_the_reason() {
    let app = spawn_app(Backend::Sqlite);
    let (_, token) = partner(&app);
    if !examples().is_dir() {
        eprintln!(
            "note: EPCIS examples skipped: ../shared/conformance is not beside the repository"
        );
        return;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![examples()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonld") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 40, "{}", files.len());
    let before = app.log_size();
    for path in &files {
        let name = path
            .strip_prefix(examples())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if EXPRESSIBLE.contains(&name.as_str()) {
            continue;
        }
        let body = std::fs::read(path).unwrap();
        let answer = post_capture(&app, Some(&token), &body);
        if name == "EPCISQueryDocument.jsonld" {
            assert_eq!(answer.status, 400, "{name}: a query document is no capture");
            continue;
        }
        assert_eq!(answer.status, 200, "{name}: {:?}", answer.body);
        for (i, result) in answer.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(result["status"], 422, "{name}: {result}");
            assert_eq!(result["error"], "invalid_record", "{name}");
            let message = result["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("event {i} (")),
                "{name}: {message}"
            );
        }
    }
    assert_eq!(app.log_size(), before, "nothing inexpressible was stored");
}

#[test]
fn a_document_failing_the_official_schema_is_400_and_stores_nothing() {
    for backend in backends() {
        let app = spawn_app(backend);
        let (_, token) = partner(&app);
        let before = app.log_size();
        let bad = json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-20T00:00:00Z",
            "epcisBody": {"eventList": [{"type": "ObjectEvent", "action": "TELEPORT",
                "eventTime": "2026-11-20T00:00:00Z", "eventTimeZoneOffset": "+08:00",
                "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A"}]}]}});
        let answer = post_capture(&app, Some(&token), &serde_json::to_vec(&bad).unwrap());
        assert_eq!(answer.status, 400, "{:?}", answer.body);
        assert_eq!(answer.code(), "malformed");
        assert!(
            answer.message().contains("EPCIS 2.0 JSON schema"),
            "{}",
            answer.message()
        );
        assert!(
            answer.message().contains("/epcisBody/eventList/0"),
            "{}",
            answer.message()
        );
        let not_json = post_capture(&app, Some(&token), b"{not json");
        assert_eq!(not_json.status, 400);
        assert_eq!(app.log_size(), before);
    }
}

#[test]
fn organization_api_tokens_are_made_listed_revoked_and_kept_hashed() {
    let app = spawn_app(Backend::Sqlite);
    let org = app.org("Partner DC", &["retailer"]);
    let path = format!("/api/v1/orgs/{}/tokens", org.id);
    let made = app.admin_post(&path, &json!({"label": "ERP"}));
    assert_eq!(made.status, 201, "{:?}", made.body);
    let token = made.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tt_org_"), "{token}");
    let empty = json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-20T00:00:00Z",
        "epcisBody": {"eventList": []}});
    let body = serde_json::to_vec(&empty).unwrap();
    // Without a hosted key there is nothing to sign with.
    assert_eq!(post_capture(&app, Some(&token), &body).status, 409);
    app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", org.id), &json!({}));
    let ok = post_capture(&app, Some(&token), &body);
    assert_eq!((ok.status, &ok.body), (200, &json!({"results": []})));
    let listed = app
        .agent
        .get(&app.url(&path))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["tokens"][0]["label"], "ERP");
    assert!(listed["tokens"][0]["last_used_at"].is_string());
    assert!(
        !listed.to_string().contains(&token),
        "a token is shown once"
    );
    let url = truetrace::db::DatabaseUrl::parse(&app.database_url).unwrap();
    let pool = truetrace::db::connect(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let rows = truetrace::db::api_tokens::of_org(&mut conn, &org.id).unwrap();
    use sha2::Digest as _;
    assert_eq!(
        rows[0].token_hash,
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    );
    for (presented, why) in [
        (None, "no token"),
        (Some("tt_org_wrong"), "unknown"),
        (Some(TOKEN), "the admin token is not an organization's"),
    ] {
        let answer = post_capture(&app, presented, &body);
        assert_eq!(
            (answer.status, answer.code()),
            (401, "unauthorized"),
            "{why}"
        );
    }
    let id = made.body["id"].as_str().unwrap();
    let revoked = app.admin_delete(&format!("{path}/{id}"));
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(post_capture(&app, Some(&token), &body).status, 401);
    for (label, part) in [("", "label"), (&*"x".repeat(101), "label")] {
        let refused = app.admin_post(&path, &json!({"label": label}));
        assert_eq!(refused.status, 422, "{part}");
    }
    assert_eq!(app.admin_delete(&format!("{path}/nope")).status, 404);
}

#[test]
fn an_organizations_admin_makes_and_revokes_tokens_on_the_account_page() {
    let app = spawn_app(Backend::Sqlite);
    let org = app.org("Partner DC", &["retailer"]);
    let mut admin = crate::omo::staff(&app, &org, "ana@partner.tw");
    let page = admin.get("/account");
    assert!(page.body.contains("id=\"new-token-form\""), "{}", page.body);
    let made = admin.post(
        "/account/tokens",
        &[("csrf", &page.csrf()), ("label", "ERP")],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let token = made
        .body
        .split("<code>")
        .find_map(|rest| {
            rest.split("</code>")
                .next()
                .filter(|t| t.starts_with("tt_org_"))
        })
        .unwrap()
        .to_owned();
    let again = admin.get("/account");
    assert!(
        again.body.contains("ERP") && !again.body.contains(&token),
        "shown once"
    );
    let id = again
        .body
        .split("data-token=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let revoked = admin.post(
        &format!("/account/tokens/{id}/revoke"),
        &[("csrf", &again.csrf())],
    );
    assert_eq!(revoked.status, 303);
    assert!(admin.get("/account").body.contains("revoked"));
    let mut member = crate::omo::staff_member(&app, &org, "bo@partner.tw", false);
    let form = member.get("/account");
    assert!(!form.body.contains("new-token-form"));
    let refused = member.post(
        "/account/tokens",
        &[("csrf", &form.csrf()), ("label", "mine")],
    );
    assert_eq!(refused.status, 403);
}

#[test]
fn the_built_in_schema_is_the_official_one() {
    let shared = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/epcis/JSON-Schema"
    ));
    if !shared.is_dir() {
        eprintln!(
            "note: schema comparison skipped: ../shared/conformance is not beside the repository"
        );
        return;
    }
    let ours = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/epcis"));
    let mut compared = 0;
    for dir in ["", "schemas"] {
        for entry in std::fs::read_dir(ours.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path.file_name().unwrap();
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    std::fs::read(shared.join(dir).join(name)).unwrap(),
                    "{}",
                    path.display()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 18);
}

/// What two exports of the same event must share: everything but where and when each server
/// stored it, and the ids it gave.
fn portable(event: &Value) -> Value {
    let mut event = event.clone();
    let map = event.as_object_mut().unwrap();
    for key in [
        "eventID",
        "recordTime",
        "tt:record",
        "tt:actor",
        "tt:to",
        "tt:epcis_event_id",
    ] {
        map.remove(key);
    }
    event
}

#[test]
fn truetraces_own_export_imports_elsewhere_and_exports_the_same_events() {
    use crate::standards::{HEARTS, ROMAINE, greens};
    for backend in backends() {
        let first = greens(backend);
        let export = |app: &TestApp, gtin: &str, lot: &str| -> Vec<Value> {
            let answer = app.get(&format!("/01/{gtin}/10/{lot}?linkType=gs1:epcis"));
            assert_eq!(answer.status, 200);
            answer.body["epcisBody"]["eventList"]
                .as_array()
                .unwrap()
                .clone()
        };
        // The farm's own events, in order: harvest, cool, pack, ship.
        let farm = format!("urn:uuid:{}", first.farm.id);
        let mut events: Vec<Value> = Vec::new();
        for event in export(&first.app, ROMAINE, "RL-1")
            .into_iter()
            .chain(export(&first.app, HEARTS, "RH-1"))
        {
            if event["tt:actor"] == farm.as_str()
                && !events.iter().any(|e| e["tt:record"] == event["tt:record"])
            {
                events.push(event);
            }
        }
        let steps: Vec<&str> = events
            .iter()
            .map(|e| e["tt:event"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["harvest", "cool", "pack", "ship"]);
        // Another server with the same parties (the same GLNs and location names).
        let second = spawn_app(backend);
        second.product(ROMAINE);
        second.product(HEARTS);
        let org = |name: &str, role: &str, gln: &str, location: &str| {
            let created = second.admin_post(
                "/api/v1/orgs",
                &json!({"name": name, "roles": [role], "gln": gln}),
            );
            let id = created.body["id"].as_str().unwrap().to_owned();
            let set = second.admin_send(
                "PATCH",
                &format!("/api/v1/orgs/{id}"),
                &json!({"locations": [{"name": location, "gln": gln}]}),
            );
            assert_eq!(set.status, 200, "{:?}", set.body);
            id
        };
        let farm_id = org("Lanyang Greens", "producer", "4712345000077", "Block B");
        org(
            "East Coast Cold Chain",
            "carrier",
            "4712345000046",
            "Reefer 8810",
        );
        second.admin_post(&format!("/api/v1/orgs/{farm_id}/hosted-key"), &json!({}));
        let token = second.admin_post(
            &format!("/api/v1/orgs/{farm_id}/tokens"),
            &json!({"label": "import"}),
        );
        let token = token.body["token"].as_str().unwrap().to_owned();
        let document = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                         {"tt": "https://truetrace.dev/ns/epcis/v1#"}],
            "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-20T00:00:00Z",
            "epcisBody": {"eventList": events}});
        let answer = post_capture(
            &second,
            Some(&token),
            &serde_json::to_vec(&document).unwrap(),
        );
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        for result in answer.body["results"].as_array().unwrap() {
            assert_eq!(result["status"], 201, "{result}");
        }
        let mut again: Vec<Value> = Vec::new();
        for event in export(&second, ROMAINE, "RL-1")
            .into_iter()
            .chain(export(&second, HEARTS, "RH-1"))
        {
            if !again.iter().any(|e| e["tt:record"] == event["tt:record"]) {
                again.push(event);
            }
        }
        assert_eq!(again.len(), events.len());
        for (original, imported) in events.iter().zip(&again) {
            assert_eq!(portable(imported), portable(original));
            assert_ne!(
                imported["tt:record"], original["tt:record"],
                "a record of its own"
            );
        }
    }
}
