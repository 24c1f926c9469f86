//! The OpenAPI 3.1 description served at `/api/v1/openapi.json` stays in sync with the API:
//! every route of the API appears in it (and nothing else), and the answers of a real run, on
//! every engine, validate against the schemas it gives for them.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use truetrace::ledger::envelope::{self, PayloadType};

/// `(method, path)` of every `.route("PATH", web::METHOD()...)` in `text`, under `prefix`.
fn routes_in(text: &str, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(".route(") {
        let rest = text[at + ".route(".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let path = &rest[..end];
        let after = &rest[end..];
        let Some(web) = after.find("web::") else {
            continue;
        };
        let method: String = after[web + 5..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        found.push((method, format!("{prefix}{path}")));
    }
    found
}

/// Every route of the API, read from the source of the route table and the API's modules.
fn api_routes() -> BTreeSet<(String, String)> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let read = |file: &str| std::fs::read_to_string(format!("{src}/{file}")).unwrap();
    let mut routes: BTreeSet<(String, String)> = routes_in(&read("routes.rs"), "")
        .into_iter()
        .filter(|(_, path)| path.starts_with("/api/v1/"))
        .collect();
    let api = read("api/mod.rs");
    let scope_fn = &api[api.find("pub fn scope()").unwrap()..];
    let scope_fn = &scope_fn[..scope_fn.find("\n}").unwrap()];
    routes.extend(routes_in(scope_fn, "/api/v1"));
    for module in ["orgs", "products", "records", "lots", "fsma", "epcis"] {
        assert!(
            scope_fn.contains(&format!("{module}::scope()")),
            "{module} is mounted"
        );
        let text = read(&format!("api/{module}.rs"));
        let scope = text
            .split("web::scope(\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        routes.extend(routes_in(&text, &format!("/api/v1{scope}")));
    }
    routes
        .into_iter()
        .map(|(method, path)| (method, path.trim_end_matches('/').to_owned()))
        .collect()
}

fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_openapi_description_names_every_route_of_the_api_and_no_other() {
    let app = spawn_app(Backend::Sqlite);
    let served = app.get("/api/v1/openapi.json");
    assert_eq!(served.status, 200);
    let doc = served.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], app.url(""));
    let routes = api_routes();
    assert!(routes.len() >= 20, "{routes:?}");
    let operations = described(&doc);
    let missing: Vec<_> = routes.difference(&operations).collect();
    let extra: Vec<_> = operations.difference(&routes).collect();
    assert!(missing.is_empty(), "routes not described: {missing:?}");
    assert!(extra.is_empty(), "described but not routed: {extra:?}");
    // Admin calls say they need the token; the public ones need nothing.
    for ((method, path), item) in operations.iter().map(|o| (o, &doc["paths"][&o.1][&o.0])) {
        let admin = item["security"] == json!([{"bearerAuth": []}]);
        let public = item["security"] == json!([]);
        assert!(admin || public, "{method} {path} says who may call it");
        // Every GET is public but the admin's listings of organizations and their API tokens,
        // and the FSMA 204 sheets (the admin's or a regulator's).
        let admin_listing = [
            "/api/v1/orgs",
            "/api/v1/orgs/{id}/tokens",
            "/api/v1/fsma204/spreadsheet",
        ]
        .contains(&path.as_str());
        if method == "get" && !admin_listing {
            assert!(public, "{method} {path} is public");
        }
    }
}

/// A recall by the farm on its paddy lot, so the recall shapes appear in the answers.
fn recall(app: &TestApp, farm: &Org) {
    let notice = json!({"type": "truetrace.recall/v1", "action": "recall", "actor": farm.id,
        "time": at(10), "lots": [{"gtin": PADDY, "lot": "P1"}], "class": "II",
        "reason": "Aflatoxin above the limit", "contact": "0800-123-456"});
    let payload = serde_json::to_vec(&notice).unwrap();
    let signed = envelope::sign_as(PayloadType::Recall, &farm.key, &payload).to_json();
    let answer = app.submit(&serde_json::to_vec(&signed).unwrap());
    assert_eq!(answer.status, 201, "{:?}", answer.body);
}

#[test]
fn real_answers_validate_against_the_openapi_schemas() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: OpenAPI schema validation skipped: python3 with `jsonschema` is not installed (pip install jsonschema)"
        );
        return;
    }
    for backend in backends() {
        let app = spawn_app(backend);
        let (farm, mill) = crate::resolver::milled(&app);
        recall(&app, &farm);
        let record = app.get(&format!("/api/v1/lots/{PADDY}/P1")).body["chain"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let lot = |tail: &str| format!("/api/v1/lots/{{gtin}}/{{lot}}{tail}");
        let gets = [
            (lot(""), format!("/api/v1/lots/{RICE}/R1"), 200),
            (lot(""), format!("/api/v1/lots/{PADDY}/P1"), 200),
            (
                lot("/upstream"),
                format!("/api/v1/lots/{RICE}/R1/upstream"),
                200,
            ),
            (
                lot("/provenance"),
                format!("/api/v1/lots/{RICE}/R1/provenance"),
                200,
            ),
            (lot("/trace"), format!("/api/v1/lots/{RICE}/R1/trace"), 200),
            (
                lot("/trace"),
                format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward&limit=1"),
                200,
            ),
            (
                lot("/recalls"),
                format!("/api/v1/lots/{RICE}/R1/recalls"),
                200,
            ),
            (
                "/api/v1/records/{id}".into(),
                format!("/api/v1/records/{record}"),
                200,
            ),
            ("/api/v1/recalls".into(), "/api/v1/recalls".into(), 200),
            ("/api/v1/products".into(), "/api/v1/products".into(), 200),
            (
                "/api/v1/products/{gtin}".into(),
                format!("/api/v1/products/{RICE}"),
                200,
            ),
            (
                "/api/v1/orgs/{id}".into(),
                format!("/api/v1/orgs/{}", farm.id),
                200,
            ),
            ("/api/v1/log".into(), "/api/v1/log".into(), 200),
            (lot(""), format!("/api/v1/lots/{RICE}/NOPE"), 404),
            (
                lot("/trace"),
                format!("/api/v1/lots/{RICE}/R1/trace?limit=0"),
                400,
            ),
            (
                "/api/v1/records/{id}".into(),
                "/api/v1/records/xyz".into(),
                400,
            ),
        ];
        let mut checks = Vec::new();
        for (template, path, status) in gets {
            let answer = app.get(&path);
            assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
            checks.push(
                json!({"path": template, "method": "get", "status": status, "body": answer.body}),
            );
        }
        let head = app.head(RICE, "R1");
        let note = on_lot("note", &mill, RICE, "R1", &head, 11);
        let stored = app.submit(&sign(&mill.key, &note));
        assert_eq!(stored.status, 201);
        checks.push(json!({"path": "/api/v1/records", "method": "post", "status": 201, "body": stored.body}));
        let stale = app.submit(&sign(
            &mill.key,
            &on_lot("note", &mill, RICE, "R1", &head, 12),
        ));
        assert_eq!(stale.status, 409);
        checks.push(
            json!({"path": "/api/v1/records", "method": "post", "status": 409, "body": stale.body}),
        );
        let batch = app.submit_batch(&[sign(&mill.key, &note), b"{}".to_vec()]);
        assert_eq!(batch.status, 200);
        checks.push(json!({"path": "/api/v1/records/batch", "method": "post", "status": 200, "body": batch.body}));
        let no_event = app.get(&format!(
            "/api/v1/epcis/events?org={}&event_id=urn%3Auuid%3Anone",
            farm.id
        ));
        assert_eq!(no_event.status, 404);
        checks.push(json!({"path": "/api/v1/epcis/events", "method": "get", "status": 404, "body": no_event.body}));
        let mut sheet = app
            .agent
            .get(&app.url(&format!(
                "/api/v1/fsma204/spreadsheet?lot={RICE}/R1&format=json"
            )))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        assert_eq!(sheet.status().as_u16(), 200);
        let sheet: Value =
            serde_json::from_str(&sheet.body_mut().read_to_string().unwrap()).unwrap();
        checks.push(json!({"path": "/api/v1/fsma204/spreadsheet", "method": "get", "status": 200, "body": sheet}));
        let doc: Value = serde_json::from_str(truetrace::http::api::OPENAPI).unwrap();
        let mut child = std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/validate_openapi.py"
            ))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let input = json!({"doc": doc, "checks": checks}).to_string();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend:?}: schema errors:\n{report}"
        );
        assert!(report.contains(&format!("{} answers checked, 0 errors", checks.len())));
    }
}
