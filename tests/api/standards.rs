//! Standards in and out: the EPCIS 2.0 export in standard terms, and the FSMA 204 sortable
//! spreadsheet with its completeness report, over the demo story and small chains.

use crate::helpers::*;
use serde_json::{Value, json};

pub(crate) const ROMAINE: &str = "04712345000039";
pub(crate) const HEARTS: &str = "04712345000046";

/// A leafy-greens chain with master data: a farm harvests, cools and packs; ships to a carrier,
/// which notes a temperature and hands over to a store, which receives. Answers the orgs.
pub(crate) struct Greens {
    pub(crate) app: TestApp,
    pub(crate) farm: Org,
    pub(crate) carrier: Org,
    pub(crate) store: Org,
}

pub(crate) fn greens(backend: Backend) -> Greens {
    let app = spawn_app(backend);
    app.product(ROMAINE);
    app.product(HEARTS);
    let org = |name: &str, role: &str, gln: &str, location: &str, address: &str| {
        let created = app.admin_post(
            "/api/v1/orgs",
            &json!({"name": name, "roles": [role], "gln": gln}),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let key = truetrace::ledger::keyfile::generate().unwrap();
        use base64::Engine as _;
        let enrolled = app.admin_post(
            &format!("/api/v1/orgs/{id}/keys"),
            &json!({"public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())}),
        );
        assert_eq!(enrolled.status, 201);
        let set = app.admin_send(
            "PATCH",
            &format!("/api/v1/orgs/{id}"),
            &json!({"address": address, "phone": "+886 3 989 2211",
                    "locations": [{"name": location, "gln": gln, "address": address}]}),
        );
        assert_eq!(set.status, 200, "{:?}", set.body);
        Org { id, key }
    };
    let farm = org(
        "Lanyang Greens",
        "producer",
        "4712345000077",
        "Block B",
        "Sanxing, Yilan 266",
    );
    let carrier = org(
        "East Coast Cold Chain",
        "carrier",
        "4712345000046",
        "Reefer 8810",
        "Su'ao, Yilan 270",
    );
    let store = org(
        "Green Leaf Xinyi",
        "retailer",
        "4712345000053",
        "Xinyi store",
        "Xinyi Rd, Taipei 110",
    );
    let place = |name: &str| json!({"name": name});
    let mut records: Vec<(&Org, Value)> = Vec::new();
    let mut harvest = harvest(&farm, ROMAINE, "RL-1", 0);
    harvest["location"] = place("Block B");
    harvest["new_lots"][0]["quantity"] = json!({"amount": "450", "unit": "KGM"});
    harvest["kde"] = json!({"harvest_date": at(0)[..10], "field": "Block B", "commodity": "romaine lettuce",
        "variety": "Green Towers", "reference_document_type": "harvest log", "reference_document_number": "HL-1"});
    let mut cool = on_lot("cool", &farm, ROMAINE, "RL-1", &record_id(&harvest), 1);
    cool["location"] = place("Block B");
    cool["kde"] = json!({"cooling_date": at(1)[..10], "temperature_c": "2.0",
        "reference_document_type": "cooling log", "reference_document_number": "CL-1"});
    let pack = json!({"type": "truetrace.record/v1", "event": "pack", "actor": farm.id, "time": at(2),
        "location": place("Block B"),
        "lots": [{"gtin": ROMAINE, "lot": "RL-1", "prev": record_id(&cool)}],
        "new_lots": [{"gtin": HEARTS, "lot": "RH-1", "quantity": {"amount": "1200", "unit": "H87"}}],
        "kde": {"pack_date": at(2)[..10], "tlc_source": "Block B", "reference_document_type": "prodorder",
                "reference_document_number": "PACK-1"}});
    let mut ship = on_lot("ship", &farm, HEARTS, "RH-1", &record_id(&pack), 3);
    ship["to"] = json!(carrier.id);
    ship["location"] = place("Block B");
    ship["kde"] = json!({"reference_document_type": "BOL", "reference_document_number": "BOL-7"});
    let mut pick_up = on_lot("receive", &carrier, HEARTS, "RH-1", &record_id(&ship), 4);
    pick_up["location"] = place("Reefer 8810");
    let mut reading = on_lot("note", &carrier, HEARTS, "RH-1", &record_id(&pick_up), 5);
    reading["kde"] = json!({"temperature_c": "3.4"});
    let mut hand_over = on_lot("ship", &carrier, HEARTS, "RH-1", &record_id(&reading), 6);
    hand_over["to"] = json!(store.id);
    let mut receive = on_lot("receive", &store, HEARTS, "RH-1", &record_id(&hand_over), 7);
    receive["location"] = place("Xinyi store");
    receive["kde"] = json!({"temperature_c": "3.8", "reference_document_type": "bol", "reference_document_number": "BOL-7"});
    records.extend([
        (&farm, harvest),
        (&farm, cool),
        (&farm, pack),
        (&farm, ship),
        (&carrier, pick_up),
        (&carrier, reading),
        (&carrier, hand_over),
        (&store, receive),
    ]);
    for (org, record) in &records {
        let answer = app.submit(&sign(&org.key, record));
        assert_eq!(answer.status, 201, "{record} -> {:?}", answer.body);
    }
    Greens {
        app,
        farm,
        carrier,
        store,
    }
}

fn get(app: &TestApp, path: &str, accept: &str) -> (u16, String, String) {
    let mut response = app
        .agent
        .get(&app.url(path))
        .header("Accept", accept)
        .call()
        .unwrap();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = response.status().as_u16();
    (status, kind, response.body_mut().read_to_string().unwrap())
}

#[test]
fn the_epcis_export_speaks_standard_terms() {
    for backend in backends() {
        let Greens {
            app,
            farm,
            carrier,
            store,
        } = greens(backend);
        let (status, kind, body) = get(
            &app,
            &format!("/01/{HEARTS}/10/RH-1?linkType=gs1:epcis"),
            "*/*",
        );
        assert_eq!(
            (status, kind.as_str()),
            (200, "application/ld+json"),
            "{body}"
        );
        let document: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            document["@context"][1]["tt"], "https://truetrace.dev/ns/epcis/v1#",
            "one stable namespace, whatever the deployment's URL"
        );
        let events = document["epcisBody"]["eventList"].as_array().unwrap();
        let steps: Vec<&str> = events
            .iter()
            .map(|e| e["bizStep"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "packing",
                "shipping",
                "receiving",
                "sensor_reporting",
                "shipping",
                "receiving"
            ]
        );
        let [pack, ship, pick_up, reading, hand_over, receive] = &events[..] else {
            panic!("six events")
        };
        let block_b = "https://id.gs1.org/414/4712345000077";
        assert_eq!(pack["type"], "TransformationEvent");
        assert_eq!(pack["bizLocation"]["id"], block_b);
        assert_eq!(pack["readPoint"]["id"], block_b);
        assert_eq!(pack["bizTransactionList"][0]["type"], "prodorder");
        assert_eq!(
            pack["bizTransactionList"][0]["bizTransaction"],
            "urn:epcglobal:cbv:bt:4712345000077:PACK-1"
        );
        assert_eq!(pack["ilmd"]["tt:tlc_source"], "Block B");
        // A ship: the owner and possessor at the source, the carrier possessing, not owning.
        let party = |gln: &str| format!("https://id.gs1.org/417/{gln}");
        assert_eq!(
            ship["sourceList"],
            json!([{"type": "owning_party", "source": party("4712345000077")},
                   {"type": "possessing_party", "source": party("4712345000077")},
                   {"type": "location", "source": block_b}])
        );
        assert_eq!(
            ship["destinationList"],
            json!([{"type": "possessing_party", "destination": party("4712345000046")}])
        );
        assert!(
            ship.get("bizLocation").is_none(),
            "on the road: no business location"
        );
        assert_eq!(
            ship["quantityList"][0]["quantity"], 1200.0,
            "the lot's quantity when made"
        );
        assert_eq!(ship["quantityList"][0]["uom"], "H87");
        assert_eq!(ship["bizTransactionList"][0]["type"], "bol");
        // The carrier's pick-up keeps the farm as owner.
        assert_eq!(
            pick_up["destinationList"][0],
            json!({"type": "owning_party", "destination": party("4712345000077")})
        );
        assert_eq!(
            reading["sensorElementList"][0]["sensorReport"][0],
            json!({"type": "Temperature", "value": 3.4, "uom": "CEL"})
        );
        assert_eq!(
            hand_over["destinationList"],
            json!([{"type": "owning_party", "destination": party("4712345000053")},
                   {"type": "possessing_party", "destination": party("4712345000053")}])
        );
        assert_eq!(
            receive["sourceList"],
            json!([{"type": "owning_party", "source": party("4712345000077")},
                   {"type": "possessing_party", "source": party("4712345000046")}])
        );
        assert_eq!(
            receive["destinationList"][2],
            json!({"type": "location", "destination": "https://id.gs1.org/414/4712345000053"})
        );
        for event in events {
            let recorded = event["recordTime"].as_str().unwrap();
            assert!(recorded.ends_with('Z'), "{recorded}");
            assert!(event["tt:record"].is_string() && event["tt:actor"].is_string());
        }
        for org in [&farm, &carrier, &store] {
            assert!(body.contains(&org.id), "the actors are named by id too");
        }
        if let Some(errors) = epcis_schema_errors(&body) {
            assert!(errors.is_empty(), "EPCIS schema errors:\n{errors}");
        }
        // The whole chain, with what changes from run to run named.
        insta::with_settings!({filters => vec![
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "[time]"),
            (r"\d{4}-\d\d-\d\d", "[date]"),
            (r"http://127\.0\.0\.1:\d+", "http://SERVER"),
            (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[org]"),
            (r"[0-9a-f]{64}", "[record]"),
        ]}, {
            insta::assert_json_snapshot!("epcis_standard_terms", document["epcisBody"]["eventList"]);
        });
        let harvest: Value = serde_json::from_str(
            &get(
                &app,
                &format!("/01/{ROMAINE}/10/RL-1?linkType=gs1:epcis"),
                "*/*",
            )
            .2,
        )
        .unwrap();
        let first = &harvest["epcisBody"]["eventList"][0];
        assert_eq!(first["action"], "ADD");
        assert_eq!(first["ilmd"]["cbvmda:harvestStartDate"], at(0)[..10]);
        assert_eq!(first["ilmd"]["tt:commodity"], "romaine lettuce");
        if let Some(errors) = epcis_schema_errors(&harvest.to_string()) {
            assert!(errors.is_empty(), "EPCIS schema errors:\n{errors}");
        }
    }
}

#[test]
fn errors_on_the_epcis_route_are_json_and_the_linkset_offers_it() {
    let Greens { app, .. } = greens(Backend::Sqlite);
    for (path, accept, status, code) in [
        (
            format!("/01/{HEARTS}/10/NOPE?linkType=gs1:epcis"),
            "*/*",
            404,
            "not_found",
        ),
        (
            format!("/01/{HEARTS}/10/NOPE"),
            "application/ld+json",
            404,
            "not_found",
        ),
        (
            "/01/04712345000047/10/RH-1?linkType=gs1%3Aepcis".to_owned(),
            "*/*",
            400,
            "malformed",
        ),
    ] {
        let (got, kind, body) = get(&app, &path, accept);
        assert_eq!(got, status, "{path}: {body}");
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], code, "{path}");
    }
    // The consumer's page still answers its errors as a page.
    let (_, kind, _) = get(&app, &format!("/01/{HEARTS}/10/NOPE"), "text/html");
    assert!(kind.starts_with("text/html"), "{kind}");
    let (_, _, linkset) = get(
        &app,
        &format!("/01/{HEARTS}/10/RH-1"),
        "application/linkset+json",
    );
    let linkset: Value = serde_json::from_str(&linkset).unwrap();
    let epcis = &linkset["linkset"][0]["https://gs1.org/voc/epcis"][0];
    assert_eq!(epcis["type"], "application/ld+json");
    assert!(
        epcis["href"]
            .as_str()
            .unwrap()
            .ends_with("/01/04712345000046/10/RH-1?linkType=gs1:epcis")
    );
}

fn sheet(app: &TestApp, query: &str) -> Value {
    let answer = app
        .agent
        .get(&app.url(&format!("/api/v1/fsma204/spreadsheet?{query}&format=json")))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let status = answer.status().as_u16();
    let mut answer = answer;
    let body: Value = serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn the_sortable_spreadsheet_has_one_row_per_critical_tracking_event() {
    for backend in backends() {
        let Greens { app, .. } = greens(backend);
        let body = sheet(&app, &format!("lot={HEARTS}/RH-1"));
        let columns: Vec<&str> = body["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let col = |name: &str| columns.iter().position(|c| *c == name).unwrap();
        let rows = body["rows"].as_array().unwrap();
        let events: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
        // The carrier's pick-up, reading and hand-over are a transporter's: not events of the sheet.
        assert_eq!(
            events,
            [
                "Harvesting",
                "Cooling",
                "Initial packing",
                "Shipping",
                "Receiving"
            ]
        );
        let shipping = &rows[3];
        assert!(
            shipping[col("Location description for the immediate subsequent recipient (other than a transporter)")]
                .as_str()
                .unwrap()
                .starts_with("Green Leaf Xinyi"),
            "the recipient other than a transporter: {shipping}"
        );
        let receiving = &rows[4];
        assert!(
            receiving[col(
                "Location description for the immediate previous source (other than a transporter)"
            )]
            .as_str()
            .unwrap()
            .starts_with("Lanyang Greens")
        );
        assert_eq!(receiving[col("Quantity and unit of measure")], "1200 H87");
        assert!(
            receiving[col("Location description for the traceability lot code source")]
                .as_str()
                .unwrap()
                .contains("Block B")
        );
        assert_eq!(body["completeness"]["incomplete"], json!([]), "{body}");
        // By date: the same events.
        let day = &at(0)[..10];
        let dated = sheet(&app, &format!("from={day}&to={day}"));
        assert!(dated["rows"].as_array().unwrap().len() >= 5);
        // CSV and XLSX.
        let mut csv = app
            .agent
            .get(&app.url(&format!("/api/v1/fsma204/spreadsheet?lot={HEARTS}/RH-1")))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.body_mut().read_to_string().unwrap();
        assert!(text.starts_with("\u{feff}Critical tracking event,Event date,"));
        assert_eq!(text.lines().count(), 6, "{text}");
        let mut xlsx = app
            .agent
            .get(&app.url(&format!(
                "/api/v1/fsma204/spreadsheet?lot={HEARTS}/RH-1&format=xlsx"
            )))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        let bytes = xlsx.body_mut().read_to_vec().unwrap();
        assert_eq!(&bytes[..2], b"PK", "an XLSX workbook is a zip file");
    }
}

#[test]
fn the_completeness_report_names_what_each_event_lacks() {
    let app = spawn_app(Backend::Sqlite);
    app.product(ROMAINE);
    let farm = app.org("Bare Farm", &["producer"]);
    let store = app.org("Bare Store", &["retailer"]);
    let harvest = harvest(&farm, ROMAINE, "BARE-1", 0);
    let mut ship = on_lot("ship", &farm, ROMAINE, "BARE-1", &record_id(&harvest), 1);
    ship["to"] = json!(store.id);
    for (org, record) in [(&farm, &harvest), (&farm, &ship)] {
        assert_eq!(app.submit(&sign(&org.key, record)).status, 201);
    }
    let body = sheet(&app, &format!("lot={ROMAINE}/BARE-1"));
    let incomplete = body["completeness"]["incomplete"].as_array().unwrap();
    assert_eq!(
        incomplete.len(),
        1,
        "the ship of a lot not yet packed is no event: {body}"
    );
    let missing: Vec<&str> = incomplete[0]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(incomplete[0]["cte"], "Harvesting");
    assert_eq!(incomplete[0]["rule"], "21 CFR § 1.1325(a)");
    assert!(
        missing.contains(
            &"location description of the farm where it was harvested (no address, no phone)"
        ),
        "{missing:?}"
    );
    assert!(
        missing.contains(&"name of the field or growing area"),
        "{missing:?}"
    );
    assert!(
        missing.contains(&"reference document type and number"),
        "{missing:?}"
    );
    assert!(
        missing
            .iter()
            .any(|m| m.starts_with("immediate subsequent recipient")),
        "{missing:?}"
    );
}

#[test]
fn the_spreadsheet_needs_the_admin_token_and_a_sound_query() {
    let app = spawn_app(Backend::Sqlite);
    let path = format!("/api/v1/fsma204/spreadsheet?lot={HEARTS}/RH-1");
    assert_eq!(app.get(&path).status, 401);
    for (query, part) in [
        ("", "name lots"),
        ("lot=nope", "GTIN/LOT"),
        ("from=2026-11-01", "both from and to"),
        ("lot=04712345000046/A&format=pdf", "csv, xlsx or json"),
    ] {
        let answer = app
            .agent
            .get(&app.url(&format!("/api/v1/fsma204/spreadsheet?{query}")))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        let status = answer.status().as_u16();
        let mut answer = answer;
        let body: Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("malformed")),
            "{query}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(part),
            "{query}: {body}"
        );
    }
}

#[test]
fn staff_see_the_report_download_the_sheet_and_the_dashboard_lists_what_to_do() {
    let app = spawn_app(Backend::Sqlite);
    app.product(ROMAINE);
    let farm = app.org("Bare Farm", &["producer"]);
    let record = harvest(&farm, ROMAINE, "BARE-2", 0);
    assert_eq!(app.submit(&sign(&farm.key, &record)).status, 201);
    let mut staff = crate::omo::staff(&app, &farm, "mei@farm.tw");
    let page = staff.get(&format!("/fsma204?lots={ROMAINE}%2FBARE-2&closure=both"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Harvesting"), "{}", page.body);
    assert!(page.body.contains("reference document type and number"));
    assert!(page.body.contains("format=xlsx"));
    let file = staff.get(&format!(
        "/fsma204/spreadsheet?lots={ROMAINE}%2FBARE-2&format=csv"
    ));
    assert_eq!(file.status, 200);
    assert!(file.body.contains("BARE-2"));
    let zh = staff.get(&format!("/fsma204?lots={ROMAINE}%2FBARE-2&lang=zh-Hant"));
    assert!(
        zh.body.contains("採收") && zh.body.contains("參考單據類型與號碼"),
        "{}",
        zh.body
    );
    let bad = staff.get("/fsma204?lots=nope");
    assert_eq!(bad.status, 400);
    let dashboard = staff.get("/dashboard");
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.body.contains("id=\"fsma-todo\""),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("BARE-2"));
    let mut visitor = crate::omo::Browser::new(app.address());
    assert_eq!(visitor.get("/fsma204").status, 303, "staff only");
}

#[test]
fn the_demo_story_lacks_no_key_data_element() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(backend, &dir);
        let services = truetrace::startup::Services::open(&settings(&database_url)).unwrap();
        truetrace::cli::demo::seed(&services, &dir.path().join("demo")).unwrap();
        let mut conn = services.ledger.pool().get().unwrap();
        let all = truetrace::trace::fsma::for_dates(
            &mut conn,
            truetrace::trace::fsma::Dates {
                from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
                to: chrono::NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
            },
        )
        .unwrap();
        let ctes: Vec<&str> = all.rows.iter().map(|r| r.cte.label()).collect();
        for cte in [
            "Harvesting",
            "Cooling",
            "Initial packing",
            "Transformation",
            "Shipping",
            "Receiving",
        ] {
            assert!(ctes.contains(&cte), "the demo has a {cte} event: {ctes:?}");
        }
        let gaps: Vec<String> = all
            .rows
            .iter()
            .filter(|r| !r.missing().is_empty())
            .map(|r| format!("{} {}: {:?}", r.cte.label(), r.lot.lot, r.missing()))
            .collect();
        assert!(gaps.is_empty(), "{gaps:#?}");
        drop(conn);
        drop(services);
        drop_database(&database_url);
    }
}

/// The rows of a sheet as (event, rule, cells by column name).
fn rows_by_column(body: &Value) -> Vec<std::collections::HashMap<String, String>> {
    let columns: Vec<String> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            columns
                .iter()
                .cloned()
                .zip(
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap().to_owned()),
                )
                .collect()
        })
        .collect()
}

fn missing_of<'a>(body: &'a Value, lot: &str, cte: &str) -> Vec<&'a str> {
    body["completeness"]["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["lot"] == lot && e["cte"] == cte)
        .flat_map(|e| {
            e["missing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
        })
        .collect()
}

#[test]
fn each_event_asks_what_the_rule_asks_first_land_based_receiving_and_raw_transformation_included() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(ROMAINE);
        app.product(HEARTS);
        let farm = app.org("North Field Farm", &["producer"]);
        let farm2 = app.org("South Field Farm", &["producer"]);
        let packer = app.org("Valley Packers", &["processor"]);
        let dealer = app.org("Harbour Seafood", &["producer", "processor"]);
        let store = app.org("Harbour Store", &["retailer"]);
        let put = |org: &Org, record: &Value| {
            let answer = app.submit(&sign(&org.key, record));
            assert_eq!(answer.status, 201, "{record} -> {:?}", answer.body);
            record_id(record)
        };
        // Two farms' lettuce, shipped to a packer that cuts it without packing it first:
        // a transformation of raw commodities (§ 1.1350(b)), which asks for § 1.1330(a)'s elements
        // of each input.
        let mut heads = Vec::new();
        for (org, lot, field) in [(&farm, "N-1", Some("North 2")), (&farm2, "S-1", None)] {
            let mut h = harvest(org, ROMAINE, lot, 0);
            if let Some(field) = field {
                h["kde"] = json!({"field": field, "harvest_date": at(0)[..10]});
            }
            let harvested = put(org, &h);
            let mut ship = on_lot("ship", org, ROMAINE, lot, &harvested, 1);
            ship["to"] = json!(packer.id);
            let shipped = put(org, &ship);
            let received = put(
                &packer,
                &on_lot("receive", &packer, ROMAINE, lot, &shipped, 2),
            );
            heads.push((lot, received));
        }
        let cut = json!({"type": "truetrace.record/v1", "event": "transform", "actor": packer.id, "time": at(3),
            "lots": heads.iter().map(|(lot, prev)| json!({"gtin": ROMAINE, "lot": lot, "prev": prev})).collect::<Vec<_>>(),
            "new_lots": [{"gtin": HEARTS, "lot": "CUT-1", "quantity": {"amount": "40", "unit": "H87"}}]});
        let cut_id = put(&packer, &cut);
        // A cooling after packing is no event (§ 1.1325(b) is cooling before initial packing).
        put(
            &packer,
            &on_lot("cool", &packer, HEARTS, "CUT-1", &cut_id, 4),
        );
        // Fish landed from a vessel: the dealer's first land-based receiving (§ 1.1335), then
        // its shipping and receiving are events from the start (§ 1.1340(c) and § 1.1345(c)
        // exempt only raw agricultural commodities not from a fishing vessel).
        let mut landed = harvest(&dealer, ROMAINE, "CATCH-1", 5);
        landed["kde"] = json!({"landing_date": at(5)[..10], "harvest_date": "2026-11-01",
            "harvest_end_date": "2026-11-04", "reference_document_type": "catch certificate",
            "reference_document_number": "CC-7"});
        let landed_id = put(&dealer, &landed);
        let mut ship = on_lot("ship", &dealer, ROMAINE, "CATCH-1", &landed_id, 6);
        ship["to"] = json!(store.id);
        let shipped = put(&dealer, &ship);
        put(
            &store,
            &on_lot("receive", &store, ROMAINE, "CATCH-1", &shipped, 7),
        );
        let body = sheet(
            &app,
            &format!("lot={HEARTS}/CUT-1&lot={ROMAINE}/CATCH-1&closure=both"),
        );
        let rows = rows_by_column(&body);
        let events: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r["Critical tracking event"].as_str(),
                    r["Rule"].as_str(),
                    r["Lot"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                ("Harvesting", "21 CFR § 1.1325(a)", "N-1"),
                ("Harvesting", "21 CFR § 1.1325(a)", "S-1"),
                ("Transformation", "21 CFR § 1.1350(b)", "CUT-1"),
                ("First land-based receiving", "21 CFR § 1.1335", "CATCH-1"),
                ("Shipping", "21 CFR § 1.1340(a)", "CATCH-1"),
                ("Receiving", "21 CFR § 1.1345(a)", "CATCH-1"),
            ],
            "{body}"
        );
        let cut_row = &rows[2];
        let farms = &cut_row["Location description for the farm where the food was harvested"];
        assert!(
            farms.starts_with("North Field Farm") && farms.contains(" | South Field Farm"),
            "each input's farm: {farms}"
        );
        assert_eq!(
            cut_row["Date of harvesting"],
            format!("{} | 2026-11-20", &at(0)[..10]),
            "each input's, in order"
        );
        let missing = missing_of(&body, "CUT-1", "Transformation");
        assert!(
            missing.contains(&"name of the field or growing area"),
            "the south farm named no field: {missing:?}"
        );
        assert!(
            missing
                .iter()
                .any(|m| m.starts_with("business name and phone of the harvester"))
        );
        assert!(
            !missing.contains(&"date the packer received the food"),
            "both inputs were received: {missing:?}"
        );
        let fish = &rows[3];
        assert_eq!(
            fish["Harvest date range and locations for the trip"],
            "2026-11-01 to 2026-11-04"
        );
        assert_eq!(fish["Date the food was landed"], at(5)[..10]);
        assert_eq!(
            missing_of(&body, "CATCH-1", "First land-based receiving"),
            [
                "harvest date range and locations of the trip (no locations)",
                "traceability lot code source"
            ],
            "{body}"
        );
        // The EPCIS export says the trip's range in standard terms.
        let exported = app.get(&format!("/01/{ROMAINE}/10/CATCH-1?linkType=gs1:epcis"));
        let ilmd = &exported.body["epcisBody"]["eventList"][0]["ilmd"];
        assert_eq!(
            (
                &ilmd["cbvmda:harvestStartDate"],
                &ilmd["cbvmda:harvestEndDate"]
            ),
            (&json!("2026-11-01"), &json!("2026-11-04")),
            "{exported:?}"
        );
        assert_eq!(ilmd["tt:landing_date"], json!(at(5)[..10]));
        // The landing date is a date.
        let mut bad = harvest(&dealer, ROMAINE, "CATCH-2", 8);
        bad["kde"] = json!({"landing_date": "4 Nov"});
        let refused = app.submit(&sign(&dealer.key, &bad));
        assert_eq!((refused.status, refused.code()), (422, "invalid_record"));
        assert!(
            refused.message().contains("kde.landing_date"),
            "{}",
            refused.message()
        );
    }
}
