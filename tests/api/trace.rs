//! Trace: a lot's closure forward and backward through transforms and packs, with the stores
//! holding what was made from it; paged, refused when asked wrongly; the CLI and the staff page.

use crate::helpers::*;
use crate::omo::{Browser, staff};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const BROWN: &str = "04712345000039";

/// Submits a record signed by `org`; returns its id.
fn put(app: &TestApp, org: &Org, record: &Value) -> String {
    let answer = app.submit(&sign(&org.key, record));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    record_id(record)
}

fn lot_ref(gtin: &str, lot: &str, prev: &str) -> Value {
    json!({"gtin": gtin, "lot": lot, "prev": prev})
}

fn new_lot(gtin: &str, lot: &str, amount: &str, unit: &str) -> Value {
    json!({"gtin": gtin, "lot": lot, "quantity": {"amount": amount, "unit": unit}})
}

fn record(event: &str, actor: &Org, minutes: i64, lots: &[Value], new_lots: &[Value]) -> Value {
    json!({"type": "truetrace.record/v1", "event": event, "actor": actor.id, "time": at(minutes),
           "lots": lots, "new_lots": new_lots})
}

/// Ships `lot` from its custodian to `to`, who receives it; returns the new head.
#[expect(clippy::too_many_arguments, reason = "one shipment, spelled out")]
fn ship_and_receive(
    app: &TestApp,
    from: &Org,
    to: &Org,
    gtin: &str,
    lot: &str,
    head: &str,
    minutes: i64,
    received: Option<Value>,
) -> String {
    let mut ship = record("ship", from, minutes, &[lot_ref(gtin, lot, head)], &[]);
    ship["to"] = json!(to.id);
    let shipped = put(app, from, &ship);
    let mut receive = record(
        "receive",
        to,
        minutes + 1,
        &[lot_ref(gtin, lot, &shipped)],
        &[],
    );
    if let Some(q) = received {
        receive["lots"][0]["quantity"] = q;
    }
    put(app, to, &receive)
}

/// Two farms' paddy milled together into two brown-rice lots; one of them packed into two rice
/// lots, one for each store; one store sells part of its lot, the other all of it.
///
/// ```text
/// P1 (farm 1) ─┐            ┌─ R1 → Store A, 40 H87 less 5 sold
///              ├─ B1 (pack) ┤
/// P2 (farm 2) ─┤            └─ R2 → Store B, 20 H87, all sold
///              └─ B2
/// P3 (farm 1), unrelated
/// ```
struct Story {
    app: TestApp,
    farm: Org,
}

fn story(backend: Backend) -> Story {
    let app = spawn_app(backend);
    for (gtin, name, zh) in [
        (PADDY, "Paddy", "稻穀"),
        (BROWN, "Brown rice", "糙米"),
        (RICE, "Chishang rice 2 kg", "池上米 2 公斤"),
    ] {
        let created = app.admin_post(
            "/api/v1/products",
            &json!({"gtin": gtin, "name": name, "name_zh": zh}),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    let farm = app.org("Chishang Farm", &["producer"]);
    let farm2 = app.org("Guanshan Farm", &["producer"]);
    let mill = app.org("Taitung Mill", &["processor"]);
    let packer = app.org("East Rift Packers", &["processor"]);
    let store_a = app.org("Green Leaf Xinyi", &["retailer"]);
    let store_b = app.org("Green Leaf Daan", &["retailer"]);
    let p1 = put(
        &app,
        &farm,
        &record(
            "harvest",
            &farm,
            0,
            &[],
            &[new_lot(PADDY, "P1", "800", "KGM")],
        ),
    );
    let p2 = put(
        &app,
        &farm2,
        &record(
            "harvest",
            &farm2,
            1,
            &[],
            &[new_lot(PADDY, "P2", "600", "KGM")],
        ),
    );
    put(
        &app,
        &farm,
        &record(
            "harvest",
            &farm,
            2,
            &[],
            &[new_lot(PADDY, "P3", "500", "KGM")],
        ),
    );
    let p1 = ship_and_receive(&app, &farm, &mill, PADDY, "P1", &p1, 10, None);
    let p2 = ship_and_receive(&app, &farm2, &mill, PADDY, "P2", &p2, 12, None);
    let milled = put(
        &app,
        &mill,
        &record(
            "transform",
            &mill,
            20,
            &[lot_ref(PADDY, "P1", &p1), lot_ref(PADDY, "P2", &p2)],
            &[
                new_lot(BROWN, "B1", "900", "KGM"),
                new_lot(BROWN, "B2", "300", "KGM"),
            ],
        ),
    );
    let b1 = ship_and_receive(&app, &mill, &packer, BROWN, "B1", &milled, 30, None);
    let packed = put(
        &app,
        &packer,
        &record(
            "pack",
            &packer,
            40,
            &[lot_ref(BROWN, "B1", &b1)],
            &[
                new_lot(RICE, "R1", "40", "H87"),
                new_lot(RICE, "R2", "20", "H87"),
            ],
        ),
    );
    let r1 = ship_and_receive(&app, &packer, &store_a, RICE, "R1", &packed, 50, None);
    let mut sale = record("sell", &store_a, 60, &[lot_ref(RICE, "R1", &r1)], &[]);
    sale["lots"][0]["quantity"] = json!({"amount": "5", "unit": "H87"});
    put(&app, &store_a, &sale);
    let received = Some(json!({"amount": "20", "unit": "H87"}));
    let r2 = ship_and_receive(&app, &packer, &store_b, RICE, "R2", &packed, 52, received);
    let mut sale = record("sell", &store_b, 61, &[lot_ref(RICE, "R2", &r2)], &[]);
    sale["lots"][0]["quantity"] = json!({"amount": "20", "unit": "H87"});
    put(&app, &store_b, &sale);
    Story { app, farm }
}

/// (depth, lot) of each lot of an answer, in its order.
fn lots_of(body: &Value) -> Vec<(u64, String)> {
    body["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .map(|l| {
            (
                l["depth"].as_u64().expect("depth"),
                l["lot"].as_str().expect("lot").to_owned(),
            )
        })
        .collect()
}

fn of<'a>(body: &'a Value, lot: &str) -> &'a Value {
    body["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .find(|l| l["lot"] == lot)
        .expect("the lot is in the answer")
}

#[test]
fn a_farm_lot_traces_forward_through_a_mill_and_a_packer_to_what_each_store_holds() {
    for backend in backends() {
        let Story { app, .. } = story(backend);
        let forward = app.get(&format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward"));
        assert_eq!(forward.status, 200, "{:?}", forward.body);
        let body = &forward.body;
        assert_eq!(
            lots_of(body),
            [(0, "P1"), (1, "B1"), (1, "B2"), (2, "R1"), (2, "R2")].map(|(d, l)| (d, l.to_owned())),
            "{backend:?}"
        );
        assert_eq!(
            (
                &body["direction"],
                &body["truncated"],
                &body["next_cursor"],
                &body["limit"]
            ),
            (&json!("forward"), &json!(false), &Value::Null, &json!(1000))
        );
        let b1 = of(body, "B1");
        assert_eq!(b1["custodian"]["name"], "East Rift Packers");
        assert_eq!(b1["quantity"], json!({"amount": "900", "unit": "KGM"}));
        assert_eq!(b1["product"]["name_zh"], "糙米");
        assert_eq!(b1["created_by"]["event"], "transform");
        assert_eq!(b1["links"][0]["lot"], "P1");
        assert_eq!(b1["links"][0]["record_id"], b1["created_by"]["record_id"]);
        assert_eq!(of(body, "R1")["created_by"]["event"], "pack");
        assert_eq!(of(body, "R2")["quantity"]["amount"], "20");
        assert!(of(body, "P1")["links"].as_array().unwrap().is_empty());
        assert!(
            of(body, "R1")["digital_link"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/01/{RICE}/10/R1"))
        );
        let stores = body["stores"].as_array().expect("stores, forward");
        let held: Vec<(&str, &str, bool, Value)> = stores
            .iter()
            .flat_map(|s| {
                s["lots"].as_array().unwrap().iter().map(move |h| {
                    (
                        s["store"]["name"].as_str().unwrap(),
                        h["lot"].as_str().unwrap(),
                        h["in_stock"].as_bool().unwrap(),
                        h["on_hand"].clone(),
                    )
                })
            })
            .collect();
        assert_eq!(
            held,
            [
                ("Green Leaf Daan", "R2", false, Value::Null),
                (
                    "Green Leaf Xinyi",
                    "R1",
                    true,
                    json!({"amount": "35", "unit": "H87"})
                ),
            ],
            "the mill and the packer received lots too, but only stores are listed"
        );

        // The other farm's paddy reaches the same lots; the unrelated lot reaches nothing.
        let p2 = app.get(&format!("/api/v1/lots/{PADDY}/P2/trace?direction=forward"));
        assert_eq!(lots_of(&p2.body).len(), 5);
        let p3 = app.get(&format!("/api/v1/lots/{PADDY}/P3/trace?direction=forward"));
        assert_eq!(lots_of(&p3.body), [(0, "P3".to_owned())]);
        assert_eq!(p3.body["stores"], json!([]));
    }
}

#[test]
fn a_store_lot_traces_backward_to_both_farms_and_backward_is_the_default() {
    for backend in backends() {
        let Story { app, .. } = story(backend);
        let backward = app.get(&format!("/api/v1/lots/{RICE}/R1/trace"));
        assert_eq!(backward.status, 200, "{:?}", backward.body);
        assert_eq!(backward.body["direction"], "backward");
        assert_eq!(
            lots_of(&backward.body),
            [(0, "R1"), (1, "B1"), (2, "P1"), (2, "P2")].map(|(d, l)| (d, l.to_owned())),
            "{backend:?}"
        );
        assert!(
            backward.body.get("stores").is_none(),
            "stores are a forward answer's"
        );
        let p2 = of(&backward.body, "P2");
        assert_eq!(p2["custodian"]["name"], "Taitung Mill");
        assert_eq!(p2["quantity"]["amount"], "600");
        assert_eq!(p2["created_by"]["event"], "harvest");
        assert_eq!(p2["links"][0]["lot"], "B1", "the lot it went into");
        let explicit = app.get(&format!("/api/v1/lots/{RICE}/R1/trace?direction=backward"));
        assert_eq!(explicit.body, backward.body);
    }
}

#[test]
fn a_large_closure_comes_in_pages_that_say_they_were_cut() {
    for backend in backends() {
        let Story { app, .. } = story(backend);
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward&limit=2&cursor={c}")
                }
                None => format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward&limit=2"),
            };
            let page = app.get(&path);
            assert_eq!(page.status, 200, "{:?}", page.body);
            assert_eq!(page.body["limit"], 2);
            assert_eq!(page.body["cursor"], json!(cursor));
            pages += 1;
            seen.extend(lots_of(&page.body));
            assert_eq!(
                page.body["truncated"],
                json!(seen.len() < 5),
                "{:?}",
                page.body
            );
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let whole = app.get(&format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward"));
        assert_eq!(seen, lots_of(&whole.body), "{backend:?}");
    }
}

#[test]
fn a_trace_asked_wrongly_is_refused_naming_what_is_wrong_and_an_unknown_lot_is_404() {
    for backend in backends() {
        let Farm { app, lot, .. } = farm_with_lot(backend);
        for (path, status, names) in [
            (
                format!("/api/v1/lots/04712345000016/{lot}/trace"),
                400,
                "check digit",
            ),
            (format!("/api/v1/lots/4712/{lot}/trace"), 400, "GTIN"),
            (format!("/api/v1/lots/{PADDY}/bad%20lot/trace"), 400, "lot"),
            (
                format!("/api/v1/lots/{PADDY}/{lot}/trace?direction=sideways"),
                400,
                "direction",
            ),
            (
                format!("/api/v1/lots/{PADDY}/{lot}/trace?limit=0"),
                400,
                "limit",
            ),
            (
                format!("/api/v1/lots/{PADDY}/{lot}/trace?limit=5001"),
                400,
                "limit",
            ),
            (
                format!("/api/v1/lots/{PADDY}/{lot}/trace?limit=ten"),
                400,
                "limit",
            ),
            (
                format!("/api/v1/lots/{PADDY}/{lot}/trace?cursor=abc"),
                400,
                "cursor",
            ),
            (
                format!("/api/v1/lots/{PADDY}/NO-SUCH-LOT/trace"),
                404,
                "NO-SUCH-LOT",
            ),
        ] {
            let answer = app.get(&path);
            assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
            let code = if status == 404 {
                "not_found"
            } else {
                "malformed"
            };
            assert_eq!(answer.code(), code, "{path}");
            assert!(
                answer.message().contains(names),
                "{path}: {:?} should name {names}",
                answer.message()
            );
        }
    }
}

/// Random DAGs of lots, each made by one record from some earlier lots (or harvested), traced
/// from a random lot in both directions, a random number of lots per page: the pages together
/// are exactly the lots a crawl of the edges reaches, each at its shortest distance, linked by
/// every edge from the level before.
#[test]
fn forward_and_backward_traces_equal_a_brute_force_crawl_of_random_dags() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let org = app.org("Farm and mill", &["producer", "processor"]);
        let cases = std::sync::atomic::AtomicUsize::new(0);
        // Lot i is made from up to 3 lots below it (drawn as numbers taken modulo i), or
        // harvested; traced forward from a lot in the first third, backward from the last.
        let dags = (2usize..16).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(proptest::collection::btree_set(0usize..1000, 0..4), n),
                0..n,
                1usize..5,
            )
        });
        let mut runner = TestRunner::new(Config {
            cases: if backend == Backend::Sqlite { 64 } else { 16 },
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&dags, |(n, inputs, start, limit)| {
                let case = cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = |i: usize| format!("C{case}-{i}");
                let inputs: Vec<BTreeSet<usize>> = inputs
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| s.into_iter().filter_map(|x| x.checked_rem(i)).collect())
                    .collect();
                let mut heads: BTreeMap<usize, String> = BTreeMap::new();
                let mut envelopes = Vec::new();
                for (i, from) in inputs.iter().enumerate() {
                    let made = new_lot(PADDY, &name(i), "1", "KGM");
                    let rec = if from.is_empty() {
                        record("harvest", &org, i as i64, &[], &[made])
                    } else {
                        let refs: Vec<Value> =
                            from.iter().map(|&j| lot_ref(PADDY, &name(j), &heads[&j])).collect();
                        record("transform", &org, i as i64, &refs, &[made])
                    };
                    let id = record_id(&rec);
                    for &j in from {
                        heads.insert(j, id.clone());
                    }
                    heads.insert(i, id);
                    envelopes.push(sign(&org.key, &rec));
                }
                let sent = app.submit_batch(&envelopes);
                for result in sent.body["results"].as_array().expect("results") {
                    prop_assert_eq!(&result["status"], &json!(201), "{}", result);
                }
                for forward in [true, false] {
                    let edges: Vec<(usize, usize)> = inputs
                        .iter()
                        .enumerate()
                        .flat_map(|(out, from)| from.iter().map(move |&input| (input, out)))
                        .map(|(input, out)| if forward { (input, out) } else { (out, input) })
                        .collect();
                    let from = if forward { start / 3 } else { n - 1 - start / 3 };
                    let crawl = crawl(&edges, from);
                    let direction = if forward { "forward" } else { "backward" };
                    let mut got: Vec<Value> = Vec::new();
                    let mut cursor = String::new();
                    loop {
                        let page = app.get(&format!(
                            "/api/v1/lots/{PADDY}/{}/trace?direction={direction}&limit={limit}{cursor}",
                            name(from)
                        ));
                        prop_assert_eq!(page.status, 200);
                        got.extend(page.body["lots"].as_array().expect("lots").iter().cloned());
                        match page.body["next_cursor"].as_str() {
                            Some(c) => cursor = format!("&cursor={c}"),
                            None => break,
                        }
                    }
                    let traced: BTreeMap<usize, (u64, BTreeSet<usize>)> = got
                        .iter()
                        .map(|l| {
                            let index = |v: &Value| -> usize {
                                v.as_str().and_then(|s| s.rsplit('-').next()).and_then(|s| s.parse().ok()).expect("lot index")
                            };
                            let links = l["links"].as_array().expect("links").iter().map(|k| index(&k["lot"])).collect();
                            (index(&l["lot"]), (l["depth"].as_u64().expect("depth"), links))
                        })
                        .collect();
                    prop_assert_eq!(traced.len(), got.len(), "no lot twice");
                    prop_assert_eq!(&traced, &crawl, "{} of {:?} from {}", direction, inputs, from);
                }
                Ok(())
            })
            .unwrap();
    }
}

/// Every lot reachable from `start` over `edges` (from, to), at its shortest distance, with the
/// lots one step nearer that lead to it: one lot at a time, by repeated relaxation.
fn crawl(edges: &[(usize, usize)], start: usize) -> BTreeMap<usize, (u64, BTreeSet<usize>)> {
    let mut depth: BTreeMap<usize, u64> = BTreeMap::from([(start, 0)]);
    loop {
        let mut changed = false;
        for &(from, to) in edges {
            if let Some(&d) = depth.get(&from)
                && depth.get(&to).is_none_or(|&old| old > d + 1)
            {
                depth.insert(to, d + 1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
        .iter()
        .map(|(&lot, &d)| {
            let links = edges
                .iter()
                .filter(|&&(from, to)| {
                    to == lot
                        && d.checked_sub(1)
                            .is_some_and(|up| depth.get(&from) == Some(&up))
                })
                .map(|&(from, _)| from)
                .collect();
            (lot, (d, links))
        })
        .collect()
}

#[test]
fn the_cli_prints_the_tree_and_the_api_body_from_the_database() {
    let Story { app, .. } = story(Backend::Sqlite);
    let run = |args: &[&str]| truetrace_on(&app.database_url, &[&["trace"], args].concat());
    let tree = run(&[PADDY, "P1", "--forward"]);
    let text = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("forward trace of (01){PADDY}(10)P1: 5 lots")
    );
    assert_eq!(lines[1], "[0] P1  Paddy  Taitung Mill  800 KGM");
    assert_eq!(lines[2], "  [1] B1  Brown rice  East Rift Packers  900 KGM");
    assert_eq!(
        lines[3],
        "    [2] R1  Chishang rice 2 kg  Green Leaf Xinyi  40 H87"
    );
    assert_eq!(
        lines[4],
        "    [2] R2  Chishang rice 2 kg  Green Leaf Daan  20 H87"
    );
    assert_eq!(lines[5], "  [1] B2  Brown rice  Taitung Mill  300 KGM");
    assert!(
        text.contains("Green Leaf Xinyi\n    R1 (04712345000022)  holds 35 H87"),
        "{text}"
    );
    assert!(
        text.contains("R2 (04712345000022)  no longer holds it"),
        "{text}"
    );

    let json = run(&[RICE, "R1", "--json", "--limit", "3"]);
    assert!(json.status.success());
    let body: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let api = app.get(&format!("/api/v1/lots/{RICE}/R1/trace?limit=3"));
    let strip = |mut v: Value| {
        // The CLI's links carry its own public URL.
        for l in v["lots"].as_array_mut().expect("lots") {
            l["digital_link"] = Value::Null;
        }
        v
    };
    assert_eq!(strip(body), strip(api.body));

    let unknown = run(&[RICE, "NOPE"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no lot NOPE"));
    let bad = run(&["123", "NOPE"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("GTIN"));
}

#[test]
fn staff_see_the_tree_and_the_stores_in_both_languages_and_visitors_are_sent_to_log_in() {
    for backend in backends() {
        let Story { app, farm } = story(backend);
        let path = format!("/trace/01/{PADDY}/10/P1?direction=forward");
        let mut visitor = Browser::new(app.address());
        let refused = visitor.get(&path);
        assert_eq!(refused.status, 303, "{}", refused.body);
        assert!(refused.location.starts_with("/login?next="));

        let mut browser = staff(&app, &farm, "mei@farm.example");
        let page = browser.get(&format!("{path}&lang=en"));
        assert_eq!(page.status, 200, "{}", page.body);
        let html = &page.body;
        let order: Vec<usize> = [
            "data-lot=\"P1\"",
            "data-lot=\"B1\"",
            "data-lot=\"R1\"",
            "data-lot=\"R2\"",
            "data-lot=\"B2\"",
        ]
        .iter()
        .map(|needle| {
            html.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {html}"))
        })
        .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "a tree: each lot under the one it came from"
        );
        assert!(
            html.contains("data-depth=\"2\" data-lot=\"R1\" style=\"padding-inline-start: 4em\"")
        );
        assert!(html.contains("Forward trace"));
        assert!(html.contains("East Rift Packers"));
        assert!(html.contains("35 pcs"), "what Store A still holds");
        assert!(html.contains("none left"), "Store B sold it all");
        assert!(html.contains("@media print"));
        assert!(html.contains(&format!(
            "href=\"/trace/01/{PADDY}/10/P1?direction=backward\""
        )));

        let zh = browser.get(&format!("{path}&lang=zh-Hant"));
        assert_eq!(zh.status, 200);
        assert!(zh.body.contains("順向追蹤"), "{}", zh.body);
        assert!(zh.body.contains("糙米") && zh.body.contains("已無庫存"));

        let bad = browser.get(&format!("/trace/01/{PADDY}/10/P1?direction=up&lang=en"));
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("direction"));
        let unknown = browser.get(&format!("/trace/01/{PADDY}/10/NOPE?lang=en"));
        assert_eq!(unknown.status, 404);

        let dashboard = browser.get("/dashboard?lang=en");
        assert!(
            dashboard.body.contains(&format!(
                "href=\"/trace/01/{PADDY}/10/P1?direction=forward\""
            )),
            "the dashboard links each lot's trace"
        );
    }
}
