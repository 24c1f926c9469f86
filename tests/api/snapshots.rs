//! Snapshots of the wire formats we own: the lot and provenance JSON, the resolver's linkset, the
//! EPCIS export and the error bodies. The same snapshot holds on every engine. What changes from
//! run to run (the server's address, ids, keys) is replaced by a name before comparing, and every
//! time by `[time]`.

use crate::helpers::*;
use serde_json::{Value, json};

/// Runs `assert` with every RFC 3339 time in the snapshot written as `[time]`.
fn timeless(assert: impl FnOnce()) {
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "[time]"),
    ]}, {
        assert();
    });
}

/// What a run made, and the name each value stands under in the snapshots.
struct Names(Vec<(String, String)>);

impl Names {
    fn scrub(&self, value: Value) -> Value {
        match value {
            Value::String(mut s) => {
                for (actual, name) in &self.0 {
                    s = s.replace(actual.as_str(), name);
                }
                Value::String(s)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.scrub(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, self.scrub(v))).collect())
            }
            other => other,
        }
    }
}

fn key_id(org: &Org) -> String {
    truetrace::ledger::envelope::KeyId::of(&org.key.verifying_key()).to_string()
}

/// A farm harvests, ships to a mill, the mill receives and mills into a rice lot. Returns the
/// names of what the run made.
fn milled_chain(app: &TestApp) -> Names {
    app.product(PADDY);
    app.product(RICE);
    let farm = app.org("Chishang Farm", &["producer"]);
    let mill = app.org("Chishang Mill", &["processor"]);
    let mut harvest = harvest(&farm, PADDY, "PADDY-A", 0);
    harvest["location"] =
        json!({"name": "Field 3", "gln": "4712345000015", "lat": 23.12, "lon": 121.22});
    let mut ship = on_lot("ship", &farm, PADDY, "PADDY-A", &record_id(&harvest), 1);
    ship["to"] = json!(mill.id);
    let mut receive = on_lot("receive", &mill, PADDY, "PADDY-A", &record_id(&ship), 2);
    receive["kde"] = json!({"temperature_c": "16.5"});
    let transform = json!({"type": "truetrace.record/v1", "event": "transform", "actor": mill.id, "time": at(3),
        "lots": [{"gtin": PADDY, "lot": "PADDY-A", "prev": record_id(&receive)}],
        "new_lots": [{"gtin": RICE, "lot": "RICE-01", "quantity": {"amount": "300", "unit": "H87"}}]});
    let records = [
        (&farm, &harvest),
        (&farm, &ship),
        (&mill, &receive),
        (&mill, &transform),
    ];
    for (org, record) in records {
        let answer = app.submit(&sign(&org.key, record));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    let mut names = vec![
        (app.address().to_owned(), "http://SERVER".to_owned()),
        (farm.id.clone(), "[farm]".into()),
        (mill.id.clone(), "[mill]".into()),
        (key_id(&farm), "[farm key]".into()),
        (key_id(&mill), "[mill key]".into()),
    ];
    for (i, (org, record)) in records.iter().enumerate() {
        names.push((record_id(record), format!("[record {i}]")));
        // Ed25519 signatures are deterministic: the envelope sent is the envelope made here.
        let envelope =
            truetrace::ledger::envelope::sign(&org.key, &serde_json::to_vec(record).unwrap());
        let wire = envelope.to_json();
        names.push((wire.payload, format!("[payload of record {i}]")));
        names.push((
            wire.signatures[0].sig.clone(),
            format!("[signature of record {i}]"),
        ));
    }
    Names(names)
}

fn get_json(app: &TestApp, path: &str, accept: &str) -> Value {
    let mut response = agent()
        .get(&app.url(path))
        .header("Accept", accept)
        .call()
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn lot_provenance_linkset_and_epcis_json_keep_their_shape() {
    for backend in backends() {
        let app = spawn_app(backend);
        let names = milled_chain(&app);
        let lot = format!("/api/v1/lots/{RICE}/RICE-01");
        let page = format!("/01/{RICE}/10/RICE-01");
        let lot_json = names.scrub(app.get(&lot).body);
        let provenance = names.scrub(app.get(&format!("{lot}/provenance")).body);
        let linkset = names.scrub(get_json(&app, &page, "application/linkset+json"));
        let epcis = names.scrub(get_json(&app, &format!("{page}?linkType=gs1:epcis"), "*/*"));
        timeless(|| {
            insta::assert_json_snapshot!("lot", lot_json);
            insta::assert_json_snapshot!("provenance", provenance);
            insta::assert_json_snapshot!("linkset", linkset);
            insta::assert_json_snapshot!("epcis", epcis);
        });
    }
}

#[test]
fn error_bodies_keep_their_shape() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mut names = Names(vec![
            (f.app.address().to_owned(), "http://SERVER".to_owned()),
            (f.farm.id.clone(), "[farm]".into()),
            (key_id(&f.farm), "[farm key]".into()),
            (f.head.clone(), "[head]".into()),
        ]);
        let stranger = truetrace::ledger::keyfile::generate().unwrap();
        let stranger_id =
            truetrace::ledger::envelope::KeyId::of(&stranger.verifying_key()).to_string();
        names.0.push((stranger_id, "[unknown key]".into()));
        let stale = on_lot("cool", &f.farm, PADDY, f.lot, &"0".repeat(64), 5);
        let mut future = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        future["time"] = json!("2126-01-01T00:00:00+08:00");
        let cases: Vec<(&str, Answer)> = vec![
            ("malformed", f.app.submit(b"{not json")),
            (
                "duplicate_member",
                f.app.submit(
                    &serde_json::to_vec(
                        &truetrace::ledger::envelope::sign(
                            &f.farm.key,
                            br#"{"event":"a","event":"b"}"#,
                        )
                        .to_json(),
                    )
                    .unwrap(),
                ),
            ),
            (
                "unknown_key",
                f.app
                    .submit(&sign(&stranger, &harvest(&f.farm, PADDY, "X", 1))),
            ),
            ("stale_prev", f.app.submit(&sign(&f.farm.key, &stale))),
            ("invalid_time", f.app.submit(&sign(&f.farm.key, &future))),
            ("too_large", f.app.submit(&vec![b' '; 64 * 1024 + 1])),
            (
                "not_found",
                f.app.get(&format!("/api/v1/lots/{PADDY}/NOPE")),
            ),
            ("unauthorized", f.app.post_raw("/api/v1/orgs", b"{}")),
        ];
        let bodies: serde_json::Map<String, Value> = cases
            .into_iter()
            .map(|(name, answer)| {
                (
                    name.to_owned(),
                    json!({"status": answer.status, "body": names.scrub(answer.body)}),
                )
            })
            .collect();
        timeless(|| insta::assert_json_snapshot!("errors", Value::Object(bodies)));
    }
}

#[test]
fn batch_results_keep_their_shape() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let stranger = truetrace::ledger::keyfile::generate().unwrap();
        let cool = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 1);
        let stale = on_lot("note", &f.farm, PADDY, f.lot, &f.head, 2);
        let names = Names(vec![
            (f.app.address().to_owned(), "http://SERVER".to_owned()),
            (f.farm.id.clone(), "[farm]".into()),
            (f.head.clone(), "[head]".into()),
            (record_id(&cool), "[cool]".into()),
            (
                truetrace::ledger::envelope::KeyId::of(&stranger.verifying_key()).to_string(),
                "[unknown key]".into(),
            ),
        ]);
        let cool = sign(&f.farm.key, &cool);
        let answer = f.app.submit_batch(&[
            cool.clone(),
            cool,
            sign(&f.farm.key, &stale),
            sign(&stranger, &harvest(&f.farm, PADDY, "X", 3)),
            b"[]".to_vec(),
        ]);
        let body = json!({"status": answer.status, "body": names.scrub(answer.body)});
        timeless(|| insta::assert_json_snapshot!("batch", body));
    }
}
