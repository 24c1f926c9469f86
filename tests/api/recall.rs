//! Recall notices, as the recall manager, the store and the consumer meet them: who may recall,
//! what a recall covers (everything made from the named lots, at any depth, even made later),
//! every page and answer that shows it, pickups refused, the store's pull list, the lift; the
//! staff page and the CLI that issue them; `truetrace verify` over a log holding notices.

use crate::helpers::*;
use crate::omo::{Browser, staff, staff_member};
use serde_json::{Value, json};
use truetrace::ledger::envelope::{self, PayloadType};

const BROWN: &str = "04712345000039";

fn put(app: &TestApp, org: &Org, record: &Value) -> String {
    let answer = app.submit(&sign(&org.key, record));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    record_id(record)
}

fn record(event: &str, actor: &Org, minutes: i64, lots: Value, new_lots: Value) -> Value {
    json!({"type": "truetrace.record/v1", "event": event, "actor": actor.id, "time": at(minutes),
           "lots": lots, "new_lots": new_lots})
}

/// A recall notice (or a lift) by `actor` naming `lots` (GTIN, lot).
fn notice(action: &str, actor: &Org, lots: &[(&str, &str)], minutes: i64) -> Value {
    let lots: Vec<Value> = lots
        .iter()
        .map(|(g, l)| json!({"gtin": g, "lot": l}))
        .collect();
    let mut n = json!({"type": "truetrace.recall/v1", "action": action, "actor": actor.id,
                       "time": at(minutes), "lots": lots});
    if action == "recall" {
        n["class"] = json!("II");
        n["reason"] = json!("Aflatoxin above the legal limit in a sample");
        n["reason_zh"] = json!("抽驗發現黃麴毒素超標");
        n["instructions"] = json!("Do not eat it; return it to the store for a refund");
        n["instructions_zh"] = json!("請勿食用，可持商品至門市退款");
        n["contact"] = json!("0800-123-456");
    }
    n
}

/// A notice signed as a recall (the payload type the signature covers).
fn sign_notice(org: &Org, notice: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(notice).unwrap();
    serde_json::to_vec(&envelope::sign_as(PayloadType::Recall, &org.key, &payload).to_json())
        .unwrap()
}

/// Ships a lot from its custodian to `to`, who receives it (with `received` as the quantity).
fn ship_and_receive(
    app: &TestApp,
    (from, to): (&Org, &Org),
    (gtin, lot, head): (&str, &str, &str),
    minutes: i64,
    received: Option<Value>,
) -> String {
    let mut ship = record(
        "ship",
        from,
        minutes,
        json!([{"gtin": gtin, "lot": lot, "prev": head}]),
        json!([]),
    );
    ship["to"] = json!(to.id);
    let shipped = put(app, from, &ship);
    let mut receive = record(
        "receive",
        to,
        minutes + 1,
        json!([{"gtin": gtin, "lot": lot, "prev": shipped}]),
        json!([]),
    );
    if let Some(q) = received {
        receive["lots"][0]["quantity"] = q;
    }
    put(app, to, &receive)
}

/// Two farms' paddy, each milled into brown rice and packed into rice that one store holds:
///
/// ```text
/// P1 (farm)  → B1 (mill) → R1 (mill, 40 bags) → store
/// P2 (farm2) → B2 (mill) → R2 (mill, 30 bags) → store
/// ```
struct Story {
    app: TestApp,
    farm: Org,
    farm2: Org,
    mill: Org,
    store: Org,
    stranger: Org,
    regulator: Org,
    brand: Org,
    /// B1's head after the pack.
    b1: String,
}

fn story(backend: Backend) -> Story {
    let app = spawn_app(backend);
    let brand = app.org("Chishang Rice Co.", &["brand"]);
    for body in [
        json!({"gtin": PADDY, "name": "Paddy", "name_zh": "稻穀"}),
        json!({"gtin": BROWN, "name": "Brown rice", "name_zh": "糙米"}),
        json!({"gtin": RICE, "name": "Chishang rice 2 kg", "name_zh": "池上米 2 公斤", "price": "380",
               "currency": "TWD", "listing_url": "https://shop.example.com/rice", "brand_org": brand.id}),
    ] {
        let created = app.admin_post("/api/v1/products", &body);
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    let farm = app.org("Chishang Farm", &["producer"]);
    let farm2 = app.org("Guanshan Farm", &["producer"]);
    let mill = app.org("Taitung Mill", &["processor"]);
    let store = app.org("Green Leaf Xinyi", &["retailer"]);
    let stranger = app.org("Hualien Farm", &["producer"]);
    let regulator = app.org("Food and Drug Administration", &["regulator"]);
    let hosted = app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", store.id), &json!({}));
    assert_eq!(hosted.status, 201, "{:?}", hosted.body);
    let mut b1 = String::new();
    for (n, (grower, paddy, brown, rice, bags)) in [
        (&farm, "P1", "B1", "R1", "40"),
        (&farm2, "P2", "B2", "R2", "30"),
    ]
    .into_iter()
    .enumerate()
    {
        let t = n as i64 * 100;
        let harvested = put(&app, grower, &harvest(grower, PADDY, paddy, t));
        let head = ship_and_receive(
            &app,
            (grower, &mill),
            (PADDY, paddy, &harvested),
            t + 10,
            None,
        );
        let milled = put(
            &app,
            &mill,
            &record(
                "transform",
                &mill,
                t + 20,
                json!([{"gtin": PADDY, "lot": paddy, "prev": head}]),
                json!([{"gtin": BROWN, "lot": brown, "quantity": {"amount": "70", "unit": "KGM"}}]),
            ),
        );
        let packed = put(
            &app,
            &mill,
            &record(
                "pack",
                &mill,
                t + 30,
                json!([{"gtin": BROWN, "lot": brown, "prev": milled}]),
                json!([{"gtin": RICE, "lot": rice, "quantity": {"amount": bags, "unit": "H87"}}]),
            ),
        );
        if n == 0 {
            b1 = packed.clone();
        }
        let bags = json!({"amount": bags, "unit": "H87"});
        ship_and_receive(
            &app,
            (&mill, &store),
            (RICE, rice, &packed),
            t + 40,
            Some(bags),
        );
    }
    Story {
        app,
        farm,
        farm2,
        mill,
        store,
        stranger,
        regulator,
        brand,
        b1,
    }
}

/// Submits `body`, expects a refusal with `code` whose message mentions `part`, and checks that
/// nothing was stored.
fn refused(app: &TestApp, body: &[u8], status: u16, code: &str, part: &str) {
    let size = app.log_size();
    let answer = app.submit(body);
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{:?}",
        answer.body
    );
    assert!(
        answer.message().contains(part),
        "{part:?} in {:?}",
        answer.message()
    );
    assert_eq!(app.log_size(), size, "a refused notice stores nothing");
}

#[test]
fn a_recall_is_issued_by_a_creator_upstream_the_brand_or_a_regulator_and_refused_to_anyone_else() {
    for backend in backends() {
        let s = story(backend);
        let app = &s.app;
        // Neither upstream of R1 nor its brand: a farm with nothing to do with it, and the store
        // that holds it.
        for who in [&s.stranger, &s.store] {
            let body = sign_notice(who, &notice("recall", who, &[(RICE, "R1")], 200));
            refused(app, &body, 403, "role_not_allowed", "may not recall lot");
        }
        // Farm 2 created P2, upstream of R2 only: it may not recall R1, nor both at once.
        let body = sign_notice(
            &s.farm2,
            &notice("recall", &s.farm2, &[(RICE, "R2"), (RICE, "R1")], 200),
        );
        refused(app, &body, 403, "role_not_allowed", "R1");
        // Bad notices: each named, nothing stored.
        let bad_cases: Vec<(Value, u16, &str, &str)> = vec![
            (
                notice("recall", &s.farm, &[(RICE, "NOPE")], 200),
                422,
                "invalid_record",
                "does not exist",
            ),
            (
                notice("recall", &s.farm, &[], 200),
                422,
                "invalid_record",
                "at least one lot",
            ),
            (
                {
                    let mut n = notice("recall", &s.farm, &[(PADDY, "P1")], 200);
                    n["class"] = json!("IV");
                    n
                },
                422,
                "invalid_record",
                "class",
            ),
            (
                {
                    let mut n = notice("recall", &s.farm, &[(PADDY, "P1")], 200);
                    n.as_object_mut().unwrap().remove("reason");
                    n.as_object_mut().unwrap().remove("reason_zh");
                    n
                },
                422,
                "invalid_record",
                "reason",
            ),
            (
                {
                    let mut n = notice("recall", &s.farm, &[(PADDY, "P1")], 200);
                    n["time"] = json!("2030-01-01T00:00:00+08:00");
                    n
                },
                422,
                "invalid_time",
                "ahead",
            ),
            (
                {
                    let mut n = notice("recall", &s.farm, &[(PADDY, "P1")], 200);
                    n["severity"] = json!("high");
                    n
                },
                422,
                "invalid_record",
                "severity",
            ),
            (
                notice("lift", &s.farm, &[(PADDY, "P1")], 200),
                422,
                "invalid_record",
                "no recall in force",
            ),
        ];
        for (n, status, code, part) in bad_cases {
            refused(app, &sign_notice(&s.farm, &n), status, code, part);
        }
        // Signed by the mill's key for the farm: not the actor's key.
        let n = notice("recall", &s.farm, &[(PADDY, "P1")], 200);
        refused(
            app,
            &sign_notice(&s.mill, &n),
            403,
            "actor_mismatch",
            "belongs to",
        );
        // A record's signature presented as a recall (the payload type is signed): 401.
        let mut forged = envelope::sign(&s.farm.key, &serde_json::to_vec(&n).unwrap()).to_json();
        forged.payload_type = "application/vnd.truetrace.recall+json".into();
        refused(
            app,
            &serde_json::to_vec(&forged).unwrap(),
            401,
            "bad_signature",
            "does not verify",
        );
        // An unknown payload type and a payload that is not JSON: 400.
        let mut unknown = forged.clone();
        unknown.payload_type = "application/vnd.truetrace.withdrawal+json".into();
        refused(
            app,
            &serde_json::to_vec(&unknown).unwrap(),
            400,
            "malformed",
            "payloadType",
        );
        let garbage = serde_json::to_vec(
            &envelope::sign_as(PayloadType::Recall, &s.farm.key, b"{\"type\":").to_json(),
        )
        .unwrap();
        refused(app, &garbage, 400, "malformed", "not valid JSON");
        // Allowed: the farm that grew P1 (two levels up), the mill that made R1, the brand of
        // RICE, and a regulator for any lot.
        for (who, lot, minute) in [
            (&s.farm, (RICE, "R1"), 201),
            (&s.mill, (RICE, "R1"), 202),
            (&s.brand, (RICE, "R2"), 203),
            (&s.regulator, (PADDY, "P2"), 204),
        ] {
            let body = sign_notice(who, &notice("recall", who, &[lot], minute));
            let answer = app.submit(&body);
            assert_eq!(answer.status, 201, "{:?}", answer.body);
            // Sent again: the notice already stored, 200, nothing new.
            let again = app.submit(&body);
            assert_eq!((again.status, &again.body), (200, &answer.body));
            // Its envelope reads back with the recall payload type.
            let stored = app.get(&format!(
                "/api/v1/records/{}",
                answer.body["id"].as_str().unwrap()
            ));
            assert_eq!(
                stored.body["envelope"]["payloadType"],
                "application/vnd.truetrace.recall+json"
            );
            assert_eq!(stored.body["record"]["action"], "recall");
        }
        // The ledger still verifies with the notices in it.
        let verified = verify(&app.database_url);
        assert_eq!(
            verified.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
}

fn verify(database_url: &str) -> std::process::Output {
    verify_store(database_url)
}

fn page(app: &TestApp, path: &str) -> String {
    let response = agent()
        .get(&app.url(path))
        .header("Accept-Language", "en")
        .call()
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let mut response = response;
    response.body_mut().read_to_string().unwrap()
}

#[test]
fn a_recall_shows_on_every_page_of_everything_made_from_the_lot_until_it_is_lifted() {
    for backend in backends() {
        let s = story(backend);
        let app = &s.app;
        let r1_page = format!("/01/{RICE}/10/R1");
        // Seen (and cached) before the recall: no banner.
        assert!(!page(app, &r1_page).contains("data-recall"));
        let recall = sign_notice(&s.farm, &notice("recall", &s.farm, &[(PADDY, "P1")], 200));
        let answer = app.submit(&recall);
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let id = answer.body["id"].as_str().unwrap().to_owned();

        // The lot JSON of every lot made from P1 carries the recall; R2's does not.
        for lot in [(PADDY, "P1"), (BROWN, "B1"), (RICE, "R1")] {
            let body = app.get(&format!("/api/v1/lots/{}/{}", lot.0, lot.1)).body;
            assert_eq!(body["recall"]["id"], id.as_str(), "{lot:?}: {body}");
            assert_eq!(body["recall"]["class"], "II");
            assert_eq!(body["recall"]["status"], "in_force");
            assert_eq!(
                body["recall"]["lots"],
                json!([{"gtin": PADDY, "lot": "P1"}])
            );
            assert_eq!(body["recall"]["contact"], "0800-123-456");
            assert_eq!(body["recall"]["issuer"]["name"], "Chishang Farm");
        }
        assert!(
            app.get(&format!("/api/v1/lots/{RICE}/R2"))
                .body
                .get("recall")
                .is_none()
        );
        let status = app.get(&format!("/api/v1/lots/{RICE}/R1/recalls")).body;
        assert_eq!(
            (
                status["recalled"].as_bool(),
                status["recalls"].as_array().map(Vec::len)
            ),
            (Some(true), Some(1))
        );
        assert_eq!(
            app.get(&format!("/api/v1/lots/{RICE}/R2/recalls")).body["recalled"],
            false
        );
        // The recalls in force, with everything they cover.
        let in_force = app.get("/api/v1/recalls").body;
        // Sorted by GTIN, then lot.
        assert_eq!(
            in_force["recalls"][0]["covered"],
            json!([{"gtin": PADDY, "lot": "P1"}, {"gtin": RICE, "lot": "R1"}, {"gtin": BROWN, "lot": "B1"}]),
            "{in_force}"
        );
        let provenance = app.get(&format!("/api/v1/lots/{RICE}/R1/provenance")).body;
        assert_eq!(provenance["recalled"], true);

        // The provenance page, in both languages, at the top; the buy buttons gone.
        let english = page(app, &r1_page);
        let banner = english.find("data-recall=\"in-force\"").expect("a banner");
        assert!(
            banner < english.find("id=\"product-name\"").unwrap(),
            "the banner comes first"
        );
        for text in [
            "Recall: do not eat or sell this product",
            "Class II recall",
            "Aflatoxin above the legal limit",
            "Do not eat it; return it to the store",
            "0800-123-456",
            "Chishang Farm",
            "Recalled: not for sale",
        ] {
            assert!(english.contains(text), "{text} in the English page");
        }
        assert!(!english.contains("id=\"pickup\""));
        let chinese = page(app, &format!("{r1_page}?lang=zh-Hant"));
        for text in [
            "回收通知：請勿食用或販售",
            "第 II 級回收",
            "抽驗發現黃麴毒素超標",
            "請勿食用，可持商品至門市退款",
            "回收中，暫停販售",
        ] {
            assert!(chinese.contains(text), "{text} in the Chinese page");
        }
        // Its JSON-LD says so, and the linkset offers the recall status.
        assert!(
            english.contains("https://truetrace.dev/ns/recall")
                && english.contains("\"value\":\"in force\"")
        );
        let linkset = app.get(&format!("{r1_page}?linkType=linkset")).body;
        let recall_status = &linkset["linkset"][0]["https://gs1.org/voc/recallStatus"][0];
        // Absolute, as every href of a linkset (issue 19).
        assert_eq!(
            recall_status["href"],
            app.url(&format!("/api/v1/lots/{RICE}/R1/recalls"))
        );
        assert!(
            recall_status["title"]
                .as_str()
                .unwrap()
                .contains("class II recall in force")
        );
        // The embed card, the shop, the product's shop page, the store's page.
        let card = page(app, &format!("/embed{r1_page}"));
        assert!(
            card.contains("class=\"tt-recall\"")
                && card.contains("Class II recall: do not eat or sell")
        );
        assert!(!card.contains("Buy online"));
        assert!(
            page(app, "/shop").contains("Class II recall in force: lot <code><bdi>R1</bdi></code>")
        );
        let product = page(app, &format!("/shop/{RICE}"));
        assert!(
            product.contains("data-recall=\"in-force\"") && product.contains("on hand 30 pcs"),
            "only R2 is offered"
        );
        let store = page(app, &format!("/stores/{}", s.store.id));
        assert!(store.contains("data-recall=\"in-force\""));
        assert!(store.contains("data-lot=\"R1\" class=\"recalled-line\""));
        assert!(!store.contains("data-lot=\"R2\" class=\"recalled-line\""));
        // R2's page knows nothing of it.
        assert!(!page(app, &format!("/01/{RICE}/10/R2")).contains("data-recall"));

        // A lot made from a covered lot after the notice is covered too.
        let later = put(
            app,
            &s.mill,
            &record(
                "pack",
                &s.mill,
                300,
                json!([{"gtin": BROWN, "lot": "B1", "prev": s.b1}]),
                json!([{"gtin": RICE, "lot": "R1-LATE"}]),
            ),
        );
        assert!(!later.is_empty());
        assert!(page(app, &format!("/01/{RICE}/10/R1-LATE")).contains("data-recall=\"in-force\""));

        // Only the issuer lifts it.
        for who in [&s.mill, &s.regulator] {
            let body = sign_notice(who, &notice("lift", who, &[(PADDY, "P1")], 310));
            refused(
                app,
                &body,
                422,
                "invalid_record",
                "no recall in force issued by",
            );
        }
        let lift = app.submit(&sign_notice(
            &s.farm,
            &notice("lift", &s.farm, &[(PADDY, "P1")], 311),
        ));
        assert_eq!(lift.status, 201, "{:?}", lift.body);
        assert!(
            app.get(&format!("/api/v1/lots/{RICE}/R1"))
                .body
                .get("recall")
                .is_none()
        );
        let status = app.get(&format!("/api/v1/lots/{RICE}/R1/recalls")).body;
        assert_eq!(status["recalled"], false);
        assert_eq!(status["recalls"][0]["status"], "lifted");
        assert_eq!(status["recalls"][0]["lifted"]["id"], lift.body["id"]);
        let english = page(app, &r1_page);
        assert!(
            !english.contains("data-recall=\"in-force\"")
                && english.contains("data-recall=\"lifted\"")
        );
        assert!(english.contains("was lifted on") && english.contains("id=\"pickup\""));
        assert!(page(app, &format!("{r1_page}?lang=zh-Hant")).contains("回收已解除"));
        assert!(page(app, &format!("/shop/{RICE}")).contains("on hand 70 pcs"));
        // Lifting again: nothing to lift.
        let again = sign_notice(&s.farm, &notice("lift", &s.farm, &[(PADDY, "P1")], 312));
        refused(app, &again, 422, "invalid_record", "no recall in force");
        let verified = verify(&app.database_url);
        assert_eq!(
            verified.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
}

/// Reserves `quantity` of RICE at the store from a fresh consumer browser.
fn reserve(app: &TestApp, store: &Org, lot: &str, zh: bool) -> crate::omo::Page {
    let mut consumer = Browser::new(app.address());
    if zh {
        consumer = consumer.zh();
    }
    let form = consumer.get(&format!("/shop/{RICE}/pickup?ch=qr"));
    assert_eq!(form.status, 200);
    consumer.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", &store.id),
            ("quantity", "2"),
            ("name", "王小明"),
            ("phone", "0912-345-678"),
            ("ch", "qr"),
            ("lot", lot),
        ],
    )
}

#[test]
fn pickups_of_a_recalled_lot_are_refused_open_ones_cancelled_and_the_store_sees_what_to_pull() {
    for backend in backends() {
        let s = story(backend);
        let app = &s.app;
        let booked = reserve(app, &s.store, "R1", false);
        assert_eq!(booked.status, 303, "{}", booked.body);
        let code = booked.location.strip_prefix("/pickup/").unwrap().to_owned();

        // The farm's admin issues the recall from the staff page (signed with the hosted key).
        let hosted = app.admin_post(
            &format!("/api/v1/orgs/{}/hosted-key", s.farm.id),
            &json!({}),
        );
        assert_eq!(hosted.status, 201, "{:?}", hosted.body);
        let mut manager = staff(app, &s.farm, "recall@chishang.example");
        let form = manager.get(&format!("/recalls?lot={PADDY}/P1"));
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(
            form.body.contains(&format!("{PADDY}/P1</textarea>")),
            "the lot asked for is in the form"
        );
        let csrf = form.csrf();
        let fields = |lots: &'static str| {
            vec![
                ("lots", lots),
                ("class", "I"),
                ("reason", "Listeria found in the mill"),
                ("reason_zh", "碾米廠檢出李斯特菌"),
                ("instructions", "Throw it away"),
                ("instructions_zh", ""),
                ("contact", "0800-123-456"),
            ]
        };
        // Bad forms are shown again with the message and what was typed; nothing is stored.
        let size = app.log_size();
        for (lots, status, part) in [
            ("04712345000015", 422, "no / between"),
            ("04712345000015/NOPE", 422, "does not exist"),
            ("04712345000022/R2", 403, "may not recall"),
        ] {
            let mut form = fields(lots);
            form.push(("csrf", &csrf));
            let shown = manager.post("/recalls", &form);
            assert_eq!(shown.status, status, "{}", shown.body);
            assert!(
                shown.body.contains(part) && shown.body.contains("Listeria found"),
                "{part}: {}",
                shown.body
            );
        }
        let mut no_csrf = fields("04712345000015/P1");
        no_csrf.push(("csrf", "forged"));
        assert_eq!(manager.post("/recalls", &no_csrf).status, 403);
        // A staff member who is not an admin sees the list but may not issue one.
        let mut clerk = staff_member(app, &s.farm, "clerk@chishang.example", false);
        let clerk_form = clerk.get("/recalls");
        assert!(clerk_form.body.contains("id=\"admins-only\""));
        let mut by_clerk = fields("04712345000015/P1");
        // The form is not shown; a token from another of the clerk's pages does not help.
        let clerk_csrf = clerk.get("/account").csrf();
        by_clerk.push(("csrf", &clerk_csrf));
        assert_eq!(clerk.post("/recalls", &by_clerk).status, 403);
        assert_eq!(app.log_size(), size);
        // Issued.
        let mut good = fields("04712345000015/P1");
        good.push(("csrf", &csrf));
        let done = manager.post("/recalls", &good);
        assert_eq!(done.status, 303, "{}", done.body);
        let listed = manager.get(&done.location);
        assert!(
            listed.body.contains("Signed and recorded") && listed.body.contains("covers 3 lots"),
            "{}",
            listed.body
        );
        let notice_id = done.location.strip_prefix("/recalls?done=").unwrap();
        let stored = app.get(&format!("/api/v1/records/{notice_id}")).body;
        assert_eq!(stored["record"]["class"], "I");
        assert_eq!(stored["record"]["actor"], s.farm.id.as_str());

        // A consumer cannot reserve R1 any more, in either language; R2 still can be.
        let english = reserve(app, &s.store, "R1", false);
        assert_eq!(english.status, 409, "{}", english.body);
        assert!(
            english.body.contains("is recalled and cannot be reserved"),
            "{}",
            english.body
        );
        let chinese = reserve(app, &s.store, "R1", true);
        assert_eq!(chinese.status, 409);
        assert!(
            chinese.body.contains("回收中，不能預約或購買"),
            "{}",
            chinese.body
        );
        assert_eq!(reserve(app, &s.store, "R2", false).status, 303);
        // The consumer's reservation says it is cancelled and why.
        let mine = Browser::new(app.address()).get(&format!("/pickup/{code}"));
        assert!(
            mine.body
                .contains("This lot is recalled: the reservation is cancelled"),
            "{}",
            mine.body
        );

        // The store: the open reservation is shown cancelled and cannot be handed over; its
        // counter and dashboard say what to pull and how much.
        let mut clerk = staff(app, &s.store, "counter@greenleaf.example");
        let counter = clerk.get("/staff/pickups");
        assert!(
            counter.body.contains("cancelled: the lot is recalled"),
            "{}",
            counter.body
        );
        assert!(
            counter.body.contains("id=\"pull-list\"") && counter.body.contains("data-lot=\"R1\""),
            "{}",
            counter.body
        );
        assert!(
            counter.body.contains("40 pcs"),
            "all 40 bags are on the shelf: {}",
            counter.body
        );
        assert!(
            !counter
                .body
                .contains("<li class=\"pull-line\" data-lot=\"R2\"")
        );
        let dashboard = clerk.get("/dashboard");
        assert!(dashboard.body.contains("id=\"pull-list\""));
        let handover = clerk.get(&format!("/staff/pickups/{code}"));
        assert!(
            handover.body.contains("cancelled: the lot is recalled")
                && !handover.body.contains("id=\"confirm-form\"")
        );
        // Confirmed all the same (a page opened before the recall, say): refused.
        let csrf_of_clerk = clerk.get("/account").csrf();
        let tried = clerk.post(
            &format!("/staff/pickups/{code}/confirm"),
            &[("csrf", &csrf_of_clerk)],
        );
        assert_eq!(tried.status, 409, "{}", tried.body);
        assert!(
            tried
                .body
                .contains("under a recall in force: do not hand it over"),
            "{}",
            tried.body
        );

        // The farm lifts it from the staff page: pickups of R1 work again.
        let listed = manager.get("/recalls");
        let lots = listed
            .body
            .split("name=\"lots\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(lots, format!("{PADDY}/P1"));
        let lifted = manager.post(
            "/recalls/lift",
            &[
                ("csrf", &csrf),
                ("lots", &lots),
                ("reason", "Retested: within limits"),
            ],
        );
        assert_eq!(lifted.status, 303, "{}", lifted.body);
        assert!(
            manager
                .get("/recalls")
                .body
                .contains("id=\"none-in-force\"")
        );
        assert!(
            !clerk
                .get("/staff/pickups")
                .body
                .contains("id=\"pull-list\"")
        );
        assert_eq!(reserve(app, &s.store, "R1", false).status, 303);
    }
}

#[test]
fn the_cli_issues_and_lifts_a_recall_and_verify_names_a_tampered_recall() {
    let s = story(Backend::Sqlite);
    let app = &s.app;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("regulator.key.json");
    let run = |args: &[&str]| truetrace_on(&app.database_url, args);
    let out = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success());
    let public = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("public_key: ").map(str::to_owned))
        .unwrap();
    let enrolled = app.admin_post(
        &format!("/api/v1/orgs/{}/keys", s.regulator.id),
        &json!({"public_key": public}),
    );
    assert_eq!(enrolled.status, 201);
    let base = [
        "recall",
        "--server",
        app.address(),
        "--key",
        key.to_str().unwrap(),
        "--org",
        &s.regulator.id,
    ];
    // Missing class, a malformed lot: refused locally, exit 2, nothing sent.
    let size = app.log_size();
    let no_class = run(&[&base[..], &["--reason", "x", "04712345000015/P2"]].concat());
    assert_eq!(no_class.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_class.stderr).contains("needs class"));
    let bad_lot = run(&[&base[..], &["--class", "II", "--reason", "x", "P2"]].concat());
    assert_eq!(bad_lot.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_lot.stderr).contains("not a lot"));
    // Refused by the server (the lot does not exist): exit 1, with the answer.
    let unknown = run(&[
        &base[..],
        &["--class", "II", "--reason", "x", "04712345000015/NOPE"],
    ]
    .concat());
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stdout).starts_with("422 "));
    assert_eq!(app.log_size(), size);
    // Issued by a Digital Link, then lifted.
    let link = format!("{}/01/{PADDY}/10/P2", app.address());
    let issued = run(&[
        &base[..],
        &[
            "--class",
            "III",
            "--reason",
            "Label lacks the allergen line",
            "--contact",
            "1919",
            &link,
        ],
    ]
    .concat());
    assert_eq!(
        issued.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    assert!(String::from_utf8_lossy(&issued.stdout).starts_with("201 "));
    assert_eq!(
        app.get(&format!("/api/v1/lots/{RICE}/R2")).body["recall"]["class"],
        "III"
    );
    let lifted = run(&[&base[..], &["--lift", "04712345000015/P2"]].concat());
    assert_eq!(
        lifted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&lifted.stdout)
    );
    assert!(
        app.get(&format!("/api/v1/lots/{RICE}/R2"))
            .body
            .get("recall")
            .is_none()
    );
    // verify reads the notices; a lift erased behind the server's back is named.
    assert_eq!(verify(&app.database_url).status.code(), Some(0));
    let path = app.database_url.trim_start_matches("sqlite://");
    let mut conn = <diesel::SqliteConnection as diesel::Connection>::establish(path).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "UPDATE recall_lots SET lifted_log_index = NULL",
    )
    .unwrap();
    let broken = verify(&app.database_url);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&broken.stdout)
            .contains("differs between the recall table and the log"),
        "{}",
        String::from_utf8_lossy(&broken.stdout)
    );
}

/// The FSMA 204 sheet of `query` from the API with `token`: (status, body as JSON or text).
fn sheet_with(app: &TestApp, token: Option<&str>, query: &str) -> (u16, String, String) {
    let mut request = app
        .agent
        .get(&app.url(&format!("/api/v1/fsma204/spreadsheet?{query}")));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap();
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = response.status().as_u16();
    (
        status,
        disposition,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// An organization API token of `org`.
fn token_of(app: &TestApp, org: &Org) -> String {
    let made = app.admin_post(
        &format!("/api/v1/orgs/{}/tokens", org.id),
        &json!({"label": "auditor's desk"}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    made.body["token"].as_str().unwrap().to_owned()
}

#[test]
fn an_auditor_gets_the_spreadsheet_of_everything_a_recall_covers() {
    for backend in backends() {
        let s = story(backend);
        let app = &s.app;
        let recall = sign_notice(
            &s.regulator,
            &notice("recall", &s.regulator, &[(PADDY, "P1")], 200),
        );
        let answer = app.submit(&recall);
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let id = answer.body["id"].as_str().unwrap().to_owned();
        let auditor = token_of(app, &s.regulator);
        // The regulator's own token: every event of P1 and of all made from it, at any depth,
        // and nothing of the other farm's lots.
        let (status, _, text) =
            sheet_with(app, Some(&auditor), &format!("recall={id}&format=json"));
        assert_eq!(status, 200, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let columns = body["columns"].as_array().unwrap();
        let lot_column = columns.iter().position(|c| c == "Lot").unwrap();
        let rows = body["rows"].as_array().unwrap();
        let lots: std::collections::BTreeSet<&str> = rows
            .iter()
            .map(|r| r[lot_column].as_str().unwrap())
            .collect();
        assert_eq!(
            lots,
            ["B1", "P1", "R1"].into_iter().collect(),
            "the covered set, no more: {body}"
        );
        let events: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
        assert!(events.contains(&"Harvesting"), "{events:?}");
        assert!(
            events.contains(&"Receiving"),
            "the store's receipt of R1: {events:?}"
        );
        // The same as asking for the covered lots as named.
        let (_, _, named) = sheet_with(
            app,
            Some(TOKEN),
            &format!("lot={PADDY}/P1&lot={BROWN}/B1&lot={RICE}/R1&closure=none&format=json"),
        );
        let named: Value = serde_json::from_str(&named).unwrap();
        assert_eq!(named["rows"], body["rows"]);
        // CSV and XLSX, named after the recall.
        let (status, disposition, csv) = sheet_with(app, Some(TOKEN), &format!("recall={id}"));
        assert_eq!(status, 200);
        assert!(
            disposition.contains(&format!("fsma204-recall-{}-", &id[..12]))
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        assert_eq!(csv.lines().count(), rows.len() + 1, "{csv}");
        let mut xlsx = app
            .agent
            .get(&app.url(&format!(
                "/api/v1/fsma204/spreadsheet?recall={id}&format=xlsx"
            )))
            .header("Authorization", &format!("Bearer {auditor}"))
            .call()
            .unwrap();
        assert_eq!(&xlsx.body_mut().read_to_vec().unwrap()[..2], b"PK");
        // Who may not ask: no token, a token that is not one, a non-regulator's token.
        let query = format!("recall={id}");
        assert_eq!(sheet_with(app, None, &query).0, 401);
        assert_eq!(sheet_with(app, Some("tt_org_nope"), &query).0, 401);
        let (status, _, refused) = sheet_with(app, Some(&token_of(app, &s.store)), &query);
        assert_eq!(status, 403, "{refused}");
        assert!(refused.contains("regulator"), "{refused}");
        // A recall that covers nothing now: unknown, not a recall, lifted; each named.
        let not_found = |query: &str, part: &str| {
            let (status, _, text) = sheet_with(app, Some(TOKEN), query);
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (status, body["error"].as_str()),
                (404, Some("not_found")),
                "{text}"
            );
            assert!(
                body["message"].as_str().unwrap().contains(part),
                "{part}: {text}"
            );
        };
        not_found(&format!("recall={}", "0".repeat(64)), "no recall notice");
        not_found(&format!("recall={}", s.b1), "is not a recall notice");
        let lift = sign_notice(
            &s.regulator,
            &notice("lift", &s.regulator, &[(PADDY, "P1")], 201),
        );
        assert_eq!(app.submit(&lift).status, 201);
        not_found(&format!("recall={id}"), "was lifted");
    }
}

#[test]
fn the_staff_page_and_the_cli_make_the_sheet_of_a_recall_in_force() {
    let s = story(Backend::Sqlite);
    let app = &s.app;
    let recall = sign_notice(&s.farm, &notice("recall", &s.farm, &[(PADDY, "P1")], 200));
    let answer = app.submit(&recall);
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    // The recalls page links each recall to its sheet; the sheet page offers the recalls in force.
    let mut inspector = staff(app, &s.regulator, "inspector@fda.example");
    let recalls = inspector.get("/recalls");
    assert!(
        recalls
            .body
            .contains(&format!("href=\"/fsma204?recall={id}\"")),
        "{}",
        recalls.body
    );
    let form = inspector.get("/fsma204");
    assert!(
        form.body.contains(&format!("<option value=\"{id}\"")),
        "{}",
        form.body
    );
    let sheet = inspector.get(&format!("/fsma204?recall={id}"));
    assert_eq!(sheet.status, 200, "{}", sheet.body);
    assert!(sheet.body.contains("id=\"recall-sheet\""));
    assert!(
        sheet.body.contains("class=\"staff-nav\"")
            && recalls.body.contains("href=\"/fsma204\">FSMA 204"),
        "the staff pages lead to the sheets"
    );
    for lot in ["P1", "B1", "R1"] {
        assert!(sheet.body.contains(&format!("data-lot=\"{lot}\"")), "{lot}");
    }
    assert!(!sheet.body.contains("data-lot=\"R2\""));
    assert!(
        sheet
            .body
            .contains(&format!("/fsma204/spreadsheet?recall={id}&amp;format=xlsx"))
    );
    let file = inspector.get(&format!("/fsma204/spreadsheet?recall={id}&format=csv"));
    assert_eq!(file.status, 200);
    assert!(file.body.contains(",R1,"), "{}", file.body);
    // Asked the sheet of a recall that covers nothing: the page says so in its language.
    let unknown = "0".repeat(64);
    let missing = inspector.get(&format!("/fsma204?recall={unknown}"));
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains(&format!("no recall notice {unknown}"))
    );
    let mut zh = staff(app, &s.regulator, "inspector2@fda.example").zh();
    let missing_zh = zh.get(&format!("/fsma204?recall={unknown}&lang=zh-Hant"));
    assert_eq!(missing_zh.status, 404);
    assert!(
        missing_zh
            .body
            .contains(&format!("找不到回收通知 {unknown}")),
        "{}",
        missing_zh.body
    );
    // The CLI, on the same database.
    let run = |args: &[&str]| truetrace_on(&app.database_url, args);
    let out = run(&["fsma204", "--recall", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.contains(",P1,") && csv.contains(",R1,") && !csv.contains(",R2,"),
        "{csv}"
    );
    let lifted = sign_notice(&s.farm, &notice("lift", &s.farm, &[(PADDY, "P1")], 201));
    assert_eq!(app.submit(&lifted).status, 201);
    let out = run(&["fsma204", "--recall", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("recall {id} was lifted")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["fsma204", "--recall", &id, "--lots-only"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not apply to a recall"));
}
