//! Online merge offline, as its users meet it: the shop and a store's stock (read from signed
//! records), a consumer's pickup reservation, the staff's handover that signs a `sell`, embeds,
//! staff accounts and the dashboard. Every bad input is refused with a message and changes
//! nothing.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Barrier};

/// A browser without JavaScript: keeps cookies, does not follow redirects.
pub(crate) struct Browser {
    base: String,
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
    language: &'static str,
    /// Sent with every request (an `X-Forwarded-For`, say).
    headers: Vec<(&'static str, String)>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) location: String,
    pub(crate) headers: HashMap<String, String>,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        field(&self.body, "csrf")
    }
}

/// The value of a hidden input in a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .map(|i| i + marker.len())
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    html[start..].split('"').next().unwrap().to_owned()
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: HashMap::new(),
            language: "en",
            headers: Vec::new(),
        }
    }

    /// A browser that asks for Traditional Chinese.
    pub(crate) fn zh(mut self) -> Self {
        self.language = "zh-TW";
        self
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, response: ureq::http::Response<ureq::Body>) -> Page {
        let mut response = response;
        let mut headers = HashMap::new();
        for (name, value) in response.headers() {
            let value = value.to_str().unwrap_or("").to_owned();
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
            headers.insert(name.as_str().to_owned(), value);
        }
        Page {
            status: response.status().as_u16(),
            location: headers.get("location").cloned().unwrap_or_default(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
            headers,
        }
    }

    pub(crate) fn get(&mut self, path: &str) -> Page {
        let mut request = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Accept-Language", self.language);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if !self.cookies.is_empty() {
            request = request.header("Cookie", &self.cookie_header());
        }
        let response = request.call().unwrap();
        self.take(response)
    }

    pub(crate) fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Accept-Language", self.language);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if !self.cookies.is_empty() {
            request = request.header("Cookie", &self.cookie_header());
        }
        let response = request.send_form(form.iter().copied()).unwrap();
        self.take(response)
    }

    /// A JSON request as the field app sends it, with its CSRF header when given.
    pub(crate) fn post_json(&mut self, path: &str, body: &Value, csrf: Option<&str>) -> Page {
        let mut request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Accept-Language", self.language);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        if !self.cookies.is_empty() {
            request = request.header("Cookie", &self.cookie_header());
        }
        let response = request.send_json(body).unwrap();
        self.take(response)
    }
}

const GREENS: &str = "04712345000046";

/// A farm's lot of RICE (3 bags) shipped to and received by a store with a hosted key.
struct Shop {
    app: TestApp,
    brand: Org,
    farm: Org,
    store: Org,
    lot: &'static str,
}

fn shop(backend: Backend, bags: &str) -> Shop {
    shop_with(backend, bags, |_| {})
}

/// `shop` on a server whose settings `change` adjusts.
fn shop_with(
    backend: Backend,
    bags: &str,
    change: impl FnOnce(&mut truetrace::settings::Settings),
) -> Shop {
    let app = spawn_app_with(backend, change);
    let brand = app.org("Chishang Rice Co.", &["brand"]);
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": RICE, "name": "Chishang rice 2 kg", "name_zh": "池上米 2 公斤", "price": "380",
                "currency": "TWD", "listing_url": "https://shop.example.com/rice", "brand_org": brand.id}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    app.product(GREENS);
    let farm = app.org("Chishang Farm", &["producer"]);
    let store = app.org("Green Leaf Xinyi", &["retailer"]);
    let lot = "R1";
    let mut harvest = harvest(&farm, RICE, lot, 0);
    harvest["new_lots"][0]["quantity"] = json!({"amount": bags, "unit": "H87"});
    assert_eq!(app.submit(&sign(&farm.key, &harvest)).status, 201);
    let mut ship = on_lot("ship", &farm, RICE, lot, &record_id(&harvest), 10);
    ship["to"] = json!(store.id);
    assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
    let receive = on_lot("receive", &store, RICE, lot, &record_id(&ship), 20);
    assert_eq!(app.submit(&sign(&store.key, &receive)).status, 201);
    let hosted = app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", store.id), &json!({}));
    assert_eq!(hosted.status, 201, "{:?}", hosted.body);
    Shop {
        app,
        brand,
        farm,
        store,
        lot,
    }
}

/// A logged-in admin of `org`'s staff, through an invitation link.
pub(crate) fn staff(app: &TestApp, org: &Org, email: &str) -> Browser {
    staff_member(app, org, email, true)
}

/// A logged-in member of `org`'s staff (an admin of it or not), through an invitation link.
pub(crate) fn staff_member(app: &TestApp, org: &Org, email: &str, admin: bool) -> Browser {
    let invite = app.admin_post(
        &format!("/api/v1/orgs/{}/invites", org.id),
        &json!({"email": email, "admin": admin}),
    );
    assert_eq!(invite.status, 201, "{:?}", invite.body);
    let path = invite.body["url"]
        .as_str()
        .unwrap()
        .strip_prefix(app.address())
        .unwrap()
        .to_owned();
    let mut browser = Browser::new(app.address());
    let form = browser.get(&path);
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser.post(
        &path,
        &[
            ("csrf", &form.csrf()),
            ("name", "Mei"),
            ("password", "a long enough password"),
        ],
    );
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/account"),
        "{}",
        done.body
    );
    browser
}

/// Reserves from a fresh consumer browser; answers the POST.
fn reserve(app: &TestApp, store: &str, quantity: &str, name: &str) -> Page {
    let mut consumer = Browser::new(app.address());
    let form = consumer.get(&format!("/shop/{RICE}/pickup?ch=qr"));
    assert_eq!(form.status, 200);
    consumer.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", store),
            ("quantity", quantity),
            ("name", name),
            ("phone", "0912-345-678"),
            ("ch", "qr"),
            ("lot", ""),
        ],
    )
}

fn code_of(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    page.location.strip_prefix("/pickup/").unwrap().to_owned()
}

fn provenance(app: &TestApp) -> Value {
    let answer = app.get(&format!("/api/v1/lots/{RICE}/R1/provenance"));
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

#[test]
fn the_shop_and_the_store_page_show_stock_as_the_signed_records_say() {
    for backend in backends() {
        let s = shop(backend, "3");
        let mut b = Browser::new(s.app.address());
        let list = b.get("/shop");
        assert_eq!(list.status, 200);
        for text in [
            "Chishang rice 2 kg",
            "池上米 2 公斤",
            "NT$380",
            "Chishang Farm",
            "records verified",
            "Pick up in store",
        ] {
            assert!(list.body.contains(text), "{text} in {}", list.body);
        }
        let product = b.get(&format!("/shop/{RICE}"));
        assert!(
            product.body.contains("Green Leaf Xinyi") && product.body.contains("on hand 3 pcs"),
            "{}",
            product.body
        );
        let store = b.get(&format!("/stores/{}", s.store.id));
        assert!(
            store.body.contains("data-lot=\"R1\"") && store.body.contains("3 pcs"),
            "{}",
            store.body
        );
        // A sale signed by the store itself (a till, say) takes stock down.
        let mut sell = on_lot("sell", &s.store, RICE, s.lot, &s.app.head(RICE, s.lot), 30);
        sell["lots"][0]["quantity"] = json!({"amount": "1", "unit": "H87"});
        assert_eq!(s.app.submit(&sign(&s.store.key, &sell)).status, 201);
        assert!(
            b.get(&format!("/stores/{}", s.store.id))
                .body
                .contains("2 pcs")
        );
        // A disposal without a quantity empties the lot.
        let dispose = on_lot("dispose", &s.store, RICE, s.lot, &record_id(&sell), 31);
        assert_eq!(s.app.submit(&sign(&s.store.key, &dispose)).status, 201);
        let store = b.get(&format!("/stores/{}", s.store.id));
        assert!(
            !store.body.contains("data-lot=\"R1\"") && store.body.contains("Nothing in stock"),
            "{}",
            store.body
        );
        assert_eq!(provenance(&s.app)["stores_in_stock"], json!([]));
        // Not a store: the farm has no store page.
        assert_eq!(b.get(&format!("/stores/{}", s.farm.id)).status, 404);
    }
}

#[test]
fn a_pickup_is_reserved_handed_over_and_recorded_as_a_sale_signed_by_the_hosted_key() {
    for backend in backends() {
        let s = shop(backend, "3");
        let code = code_of(&reserve(&s.app, &s.store.id, "2", "王小明"));
        let mut consumer = Browser::new(s.app.address());
        let page = consumer.get(&format!("/pickup/{code}"));
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains(&format!("{}-{}", &code[..5], &code[5..]))
                && page.body.contains("<svg"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("0912-345-678"),
            "the consumer's page does not show the phone number"
        );
        let log_before = s.app.log_size();

        let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
        let open = clerk.get(&format!("/staff/pickups/{}", code.to_lowercase()));
        assert_eq!(open.status, 200, "{}", open.body);
        assert!(open.body.contains("王小明") && open.body.contains("0912-345-678"));
        let done = clerk.post(
            &format!("/staff/pickups/{code}/confirm"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("handed over: 2"), "{}", done.body);
        assert_eq!(s.app.log_size(), log_before + 1, "one sell record");
        let p = provenance(&s.app);
        let last = p["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["event"], "sell");
        assert_eq!(last["hosted_key"], true);
        assert_eq!(last["verified"], true);
        assert_eq!(last["kde"]["reservation"], json!(code));
        assert_eq!(last["quantities"], json!(["R1: 2 H87"]));
        assert!(
            Browser::new(s.app.address())
                .get(&format!("/stores/{}", s.store.id))
                .body
                .contains("1 pcs")
        );
        assert!(
            consumer
                .get(&format!("/pickup/{code}"))
                .body
                .contains("data-standing=\"picked_up\"")
        );

        // Confirmed twice: refused, and no second sale.
        let again = clerk.post(
            &format!("/staff/pickups/{code}/confirm"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(again.status, 409, "{}", again.body);
        assert!(again.body.contains("already picked up"), "{}", again.body);
        assert_eq!(s.app.log_size(), log_before + 1);
    }
}

#[test]
fn bad_reservations_and_handovers_get_a_message_and_change_nothing() {
    // Reservations may hold half of a lot's units at once (rounded up): 3 of these 6.
    let s = shop(Backend::Sqlite, "6");
    let log = s.app.log_size();
    for (quantity, name, status, message) in [
        ("0", "Ana", 422, "whole number from 1 to 50"),
        ("1000000", "Ana", 422, "whole number from 1 to 50"),
        ("two", "Ana", 422, "whole number from 1 to 50"),
        ("4", "Ana", 409, "only 3 left"),
        (
            "1",
            "<script>alert(1)</script>",
            422,
            "may not contain &#60;",
        ),
    ] {
        let page = reserve(&s.app, &s.store.id, quantity, name);
        assert_eq!(page.status, status, "{quantity} {name}: {}", page.body);
        assert!(
            page.body.contains(message),
            "{quantity} {name}: {}",
            page.body
        );
        assert!(
            !page.body.contains("<script>alert(1)"),
            "the name is never echoed as markup"
        );
    }
    // A store that is not one, and a product no store has.
    assert_eq!(reserve(&s.app, &s.farm.id, "1", "Ana").status, 422);
    assert_eq!(reserve(&s.app, "not-an-id", "1", "Ana").status, 422);
    let mut consumer = Browser::new(s.app.address());
    let form = consumer.get(&format!("/shop/{RICE}/pickup"));
    let page = consumer.post(
        &format!("/shop/{GREENS}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", &s.store.id),
            ("quantity", "1"),
            ("name", "Ana"),
            ("phone", "0912345678"),
        ],
    );
    assert_eq!(page.status, 409);
    assert!(
        page.body.contains("has no Product 04712345000046 in stock"),
        "{}",
        page.body
    );
    // A forged CSRF token, and none at all.
    let page = consumer.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", "forged"),
            ("store", &s.store.id),
            ("quantity", "1"),
            ("name", "Ana"),
            ("phone", "0912345678"),
        ],
    );
    assert_eq!(page.status, 403);
    assert!(page.body.contains("CSRF"), "{}", page.body);
    let page = Browser::new(s.app.address()).post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("store", &s.store.id),
            ("quantity", "1"),
            ("name", "Ana"),
            ("phone", "0912345678"),
        ],
    );
    assert_eq!(page.status, 403);

    // Nothing was reserved: all 3 units reservations may hold can still be reserved.
    let code = code_of(&reserve(&s.app, &s.store.id, "3", "Ana"));
    assert_eq!(
        reserve(&s.app, &s.store.id, "1", "Bo").status,
        409,
        "all units are held"
    );

    // Unknown code, another store's staff, a forged token, an expired reservation.
    let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
    assert_eq!(clerk.get("/staff/pickups/ABCDE-FGHJK").status, 404);
    assert_eq!(clerk.get("/staff/pickups/not-a-code").status, 404);
    let other = s.app.org("Green Leaf Da'an", &["retailer"]);
    let mut stranger = staff(&s.app, &other, "li@greenleaf.tw");
    let refused = stranger.get(&format!("/staff/pickups/{code}"));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let token = stranger.get("/account").csrf();
    let refused = stranger.post(
        &format!("/staff/pickups/{code}/confirm"),
        &[("csrf", &token)],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("only that store"), "{}", refused.body);
    let forged = clerk.post(
        &format!("/staff/pickups/{code}/confirm"),
        &[("csrf", "0123456789abcdef0123456789abcdef")],
    );
    assert_eq!(forged.status, 403);
    let farmer = staff(&s.app, &s.farm, "farmer@chishang.tw").get("/staff/pickups");
    assert_eq!(farmer.status, 403, "a farm has no pickup counter");
    expire(&s.app, &code);
    let open = clerk.get(&format!("/staff/pickups/{code}"));
    assert!(
        open.body.contains("data-standing=\"expired\""),
        "{}",
        open.body
    );
    // No button on an expired reservation; a stale page's form is refused all the same.
    assert!(!open.body.contains("id=\"confirm-form\""));
    let token = clerk.get("/account").csrf();
    let late = clerk.post(
        &format!("/staff/pickups/{code}/confirm"),
        &[("csrf", &token)],
    );
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(late.body.contains("expired"), "{}", late.body);
    assert_eq!(s.app.log_size(), log, "no record was added by any of these");
    // The expired reservation's units are free again.
    code_of(&reserve(&s.app, &s.store.id, "3", "Cy"));
}

/// A consumer reserving `quantity` from `browser` (whose cookies it keeps) with this phone.
fn reserve_from(browser: &mut Browser, store: &str, quantity: &str, phone: &str) -> Page {
    let form = browser.get(&format!("/shop/{RICE}/pickup?ch=qr"));
    assert_eq!(form.status, 200);
    browser.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", store),
            ("quantity", quantity),
            ("name", "A. Customer"),
            ("phone", phone),
            ("ch", "qr"),
            ("lot", ""),
        ],
    )
}

/// Units held by open reservations (reserved or being handed over, not expired), from the
/// database itself.
fn units_held(app: &TestApp) -> i64 {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use truetrace::db::schema::reservations::dsl as r;
    let now = chrono::Utc::now().naive_utc();
    with_db(app, |conn| {
        r::reservations
            .filter(r::status.eq_any(["reserved", "handing_over"]))
            .filter(r::expires_at.gt(now))
            .select(r::quantity)
            .load::<i64>(conn)
            .unwrap()
            .iter()
            .sum()
    })
}

#[test]
fn one_phone_browser_or_address_cannot_reserve_a_stores_stock_away() {
    for backend in backends() {
        let s = shop(backend, "299");
        // As reported: seven reservations of 43 units under made-up names and one phone number.
        for _ in 0..7 {
            let page = reserve_from(
                &mut Browser::new(s.app.address()),
                &s.store.id,
                "43",
                "0911-000-001",
            );
            assert_eq!(page.status, 409, "{}", page.body);
            assert!(
                page.body.contains(
                    "one phone number may hold at most 3 open reservations and 20 units at once"
                ),
                "{}",
                page.body
            );
        }
        assert_eq!(units_held(&s.app), 0, "{backend:?}: refusals hold nothing");
        // The same phone, written differently, is the same phone.
        for (phone, status) in [
            ("0911-000-001", 303),
            ("+886 911 000 001", 303),
            ("0911000001", 409),
        ] {
            let page = reserve_from(&mut Browser::new(s.app.address()), &s.store.id, "10", phone);
            assert_eq!(page.status, status, "{phone}: {}", page.body);
        }
        // One browser, whatever phone numbers it gives.
        let mut browser = Browser::new(s.app.address());
        for i in 0..3 {
            let page = reserve_from(&mut browser, &s.store.id, "1", &format!("0922-000-00{i}"));
            assert_eq!(page.status, 303, "{}", page.body);
        }
        let page = reserve_from(&mut browser, &s.store.id, "1", "0922-000-009");
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body.contains(
                "this browser already holds 3 open pickup reservations for 3 units in all"
            ),
            "{}",
            page.body
        );
        // One address, with fresh browsers, new phone numbers and a made-up X-Forwarded-For
        // (not believed: no proxy is trusted here), until refused.
        let mut refused = None;
        for i in 0..20 {
            let mut b = Browser::new(s.app.address())
                .with_header("X-Forwarded-For", &format!("198.51.100.{i}"));
            let page = reserve_from(&mut b, &s.store.id, "20", &format!("0933-000-{i:03}"));
            if page.status != 303 {
                refused = Some(page);
                break;
            }
        }
        let page = refused.expect("the address limit refuses");
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body.contains(
                "one network address may hold at most 10 open reservations and 60 units at once"
            ),
            "{}",
            page.body
        );
        let held = units_held(&s.app);
        assert!(held <= 60, "{backend:?}: one address holds {held} units");
        // In the consumer's language.
        let mut b = Browser::new(s.app.address()).zh();
        let page = reserve_from(&mut b, &s.store.id, "20", "0944-000-001");
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body
                .contains("每個網路位址同時最多只能保留 10 筆預約、共 60 件"),
            "{}",
            page.body
        );
        assert_eq!(units_held(&s.app), held, "refusals change nothing");
    }
}

#[test]
fn many_made_up_customers_hold_at_most_half_and_a_real_customer_still_gets_a_unit() {
    for backend in backends() {
        // Behind a proxy the operator trusts: each request's client is its X-Forwarded-For.
        let s = shop_with(backend, "299", |settings| {
            settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        });
        // Through the proxy, one client is still one address.
        let mut last = None;
        for i in 0..5 {
            let mut b =
                Browser::new(s.app.address()).with_header("X-Forwarded-For", "203.0.113.66");
            last = Some(reserve_from(
                &mut b,
                &s.store.id,
                "20",
                &format!("0955-000-{i:03}"),
            ));
        }
        assert_eq!(last.unwrap().status, 409, "a fourth 20 from one address");
        assert_eq!(units_held(&s.app), 60);
        // An attacker with an address, a phone number and a browser for each reservation.
        let mut refusal = None;
        for i in 0..30 {
            let mut b = Browser::new(s.app.address())
                .with_header("X-Forwarded-For", &format!("198.51.100.{i}"));
            let page = reserve_from(&mut b, &s.store.id, "20", &format!("0966-000-{i:03}"));
            if page.status != 303 {
                refusal = Some(page);
                break;
            }
        }
        let page = refusal.expect("the share refuses");
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body.contains("only 10 left to reserve at Green Leaf Xinyi: reservations may hold at most 150 of its 299 units of lot R1 at once"),
            "{}",
            page.body
        );
        assert_eq!(units_held(&s.app), 140, "{backend:?}");
        let mut b = Browser::new(s.app.address()).with_header("X-Forwarded-For", "198.51.100.200");
        assert_eq!(
            reserve_from(&mut b, &s.store.id, "10", "0966-111-000").status,
            303
        );
        assert_eq!(
            units_held(&s.app),
            150,
            "{backend:?}: half of 299, rounded up"
        );

        // A real customer: refused while reservations hold their share, with a page in their
        // language saying what to do...
        let customer = || {
            Browser::new(s.app.address())
                .zh()
                .with_header("X-Forwarded-For", "203.0.113.5")
        };
        let page = reserve_from(&mut customer(), &s.store.id, "1", "0912-345-678");
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body.contains("池上米 2 公斤可預約的數量都已被預約")
                && page.body.contains("預約同時最多只能保留 150 件"),
            "{}",
            page.body
        );
        // ...the other 149 units stay on the shelf for the people in the store...
        assert!(
            Browser::new(s.app.address())
                .get(&format!("/stores/{}", s.store.id))
                .body
                .contains("299 pcs")
        );
        // ...and once the store cancels one of the attacker's reservations, gets a unit.
        let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
        let counter = clerk.get("/staff/pickups");
        let code = counter
            .body
            .split("action=\"/staff/pickups/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("a cancel button on the counter")
            .to_owned();
        let cancelled = clerk.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", &counter.csrf())],
        );
        assert_eq!(cancelled.status, 200, "{}", cancelled.body);
        let page = reserve_from(&mut customer(), &s.store.id, "1", "0912-345-678");
        assert_eq!(page.status, 303, "{backend:?}: {}", page.body);
    }
}

#[test]
fn store_staff_cancel_a_reservation_and_its_units_are_free_again() {
    for backend in backends() {
        let s = shop(backend, "2");
        let code = code_of(&reserve(&s.app, &s.store.id, "1", "王小明"));
        assert_eq!(units_held(&s.app), 1);
        assert_eq!(
            reserve(&s.app, &s.store.id, "1", "Bo").status,
            409,
            "half of 2 is held"
        );
        let log = s.app.log_size();
        let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
        let open = clerk.get(&format!("/staff/pickups/{code}"));
        assert!(open.body.contains("id=\"cancel-form\""), "{}", open.body);
        // Not without the form's token, not by another store.
        let forged = clerk.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", "0123456789abcdef0123456789abcdef")],
        );
        assert_eq!(forged.status, 403);
        let other = s.app.org("Green Leaf Da'an", &["retailer"]);
        let mut stranger = staff(&s.app, &other, "li@greenleaf.tw");
        let token = stranger.get("/account").csrf();
        let refused = stranger.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", &token)],
        );
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(units_held(&s.app), 1, "still held");

        let done = clerk.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(
            done.body
                .contains("cancelled: the 1 pcs it held are free again"),
            "{}",
            done.body
        );
        assert!(
            done.body.contains("data-standing=\"cancelled\""),
            "{}",
            done.body
        );
        assert!(
            !done.body.contains("id=\"confirm-form\""),
            "no handover of a cancelled reservation"
        );
        assert_eq!(units_held(&s.app), 0);
        assert_eq!(s.app.log_size(), log, "a cancellation signs nothing");
        // The customer's page says so, in their language.
        let page = Browser::new(s.app.address()).get(&format!("/pickup/{code}"));
        assert!(
            page.body.contains("data-standing=\"cancelled\"")
                && page.body.contains("The store cancelled this reservation"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("id=\"qr\""),
            "no code to show at the counter"
        );
        let page = Browser::new(s.app.address())
            .zh()
            .get(&format!("/pickup/{code}"));
        assert!(page.body.contains("門市已取消此預約"), "{}", page.body);
        // Neither cancelled again nor handed over.
        let again = clerk.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(again.status, 409, "{}", again.body);
        assert!(again.body.contains("was cancelled"), "{}", again.body);
        let late = clerk.post(
            &format!("/staff/pickups/{code}/confirm"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(late.status, 409, "{}", late.body);
        assert_eq!(s.app.log_size(), log);
        // Its unit can be reserved again, and a picked-up reservation cannot be cancelled.
        let code = code_of(&reserve(&s.app, &s.store.id, "1", "Bo"));
        let open = clerk.get(&format!("/staff/pickups/{code}"));
        let handed = clerk.post(
            &format!("/staff/pickups/{code}/confirm"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(handed.status, 200, "{}", handed.body);
        let refused = clerk.post(
            &format!("/staff/pickups/{code}/cancel"),
            &[("csrf", &open.csrf())],
        );
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(
            refused.body.contains("already picked up"),
            "{}",
            refused.body
        );
        assert_eq!(s.app.log_size(), log + 1, "only the handover's sale");
    }
}

/// Moves a reservation's expiry into the past, as if its time had run out.
fn expire(app: &TestApp, code: &str) {
    use diesel::{Connection, RunQueryDsl};
    let path = app.database_url.strip_prefix("sqlite://").unwrap();
    let mut conn = diesel::SqliteConnection::establish(path).unwrap();
    let n = diesel::sql_query(format!(
        "UPDATE reservations SET expires_at = '2000-01-01 00:00:00' WHERE code = '{code}'"
    ))
    .execute(&mut conn)
    .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn two_consumers_racing_for_the_last_unit_exactly_one_gets_it() {
    for backend in backends() {
        let s = shop(backend, "1");
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (base, store, barrier) = (
                    s.app.address().to_owned(),
                    s.store.id.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let mut consumer = Browser::new(&base);
                    let token = consumer.get(&format!("/shop/{RICE}/pickup")).csrf();
                    barrier.wait();
                    let name = format!("Consumer {i}");
                    consumer
                        .post(
                            &format!("/shop/{RICE}/pickup"),
                            &[
                                ("csrf", &token),
                                ("store", &store),
                                ("quantity", "1"),
                                ("name", &name),
                                ("phone", "0912345678"),
                            ],
                        )
                        .status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        statuses.sort_unstable();
        let mut expected = vec![303];
        expected.extend(std::iter::repeat_n(409, n - 1));
        assert_eq!(statuses, expected, "{backend:?}");
    }
}

#[test]
fn one_phone_reserving_two_lots_at_once_is_still_held_to_its_limit() {
    for backend in backends() {
        let s = shop(backend, "299");
        // A second lot of the product at the same store: reservations of the two lots do not
        // wait for each other's lot, only for the holder's.
        let mut harvest = harvest(&s.farm, RICE, "R2", 40);
        harvest["new_lots"][0]["quantity"] = json!({"amount": "299", "unit": "H87"});
        assert_eq!(s.app.submit(&sign(&s.farm.key, &harvest)).status, 201);
        let mut ship = on_lot("ship", &s.farm, RICE, "R2", &record_id(&harvest), 41);
        ship["to"] = json!(s.store.id);
        assert_eq!(s.app.submit(&sign(&s.farm.key, &ship)).status, 201);
        let receive = on_lot("receive", &s.store, RICE, "R2", &record_id(&ship), 42);
        assert_eq!(s.app.submit(&sign(&s.store.key, &receive)).status, 201);
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (base, store, barrier) = (
                    s.app.address().to_owned(),
                    s.store.id.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let mut consumer = Browser::new(&base);
                    let token = consumer.get(&format!("/shop/{RICE}/pickup")).csrf();
                    barrier.wait();
                    consumer
                        .post(
                            &format!("/shop/{RICE}/pickup"),
                            &[
                                ("csrf", &token),
                                ("store", &store),
                                ("lot", ["R1", "R2"][i % 2]),
                                ("quantity", "20"),
                                ("name", "Same Phone"),
                                ("phone", "0977-000-000"),
                            ],
                        )
                        .status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        statuses.sort_unstable();
        let mut expected = vec![303];
        expected.extend(std::iter::repeat_n(409, n - 1));
        assert_eq!(statuses, expected, "{backend:?}");
        assert_eq!(units_held(&s.app), 20, "{backend:?}");
    }
}

#[test]
fn embeds_the_ombed_endpoint_and_the_provenance_json() {
    let s = shop(Backend::Sqlite, "3");
    let mut b = Browser::new(s.app.address());
    let card = b.get(&format!("/embed/01/{RICE}/10/R1"));
    assert_eq!(card.status, 200);
    assert_eq!(card.headers["content-security-policy"], "frame-ancestors *");
    assert!(
        card.body.contains("data-state=\"verified\"") && card.body.contains("truetrace:height")
    );
    assert!(
        !card.body.contains("class=\"top\""),
        "no outer chrome in the iframe"
    );
    assert_eq!(
        b.get(&format!("/embed/01/{RICE}")).status,
        200,
        "a product's latest lot"
    );
    assert_eq!(b.get(&format!("/embed/01/{RICE}/10/NOPE")).status, 404);
    assert_eq!(
        b.get("/embed/01/04712345000023/10/R1").status,
        400,
        "bad check digit"
    );

    // The brand restricts who may frame its cards.
    let products = s
        .app
        .get(&format!("/api/v1/lots/{RICE}/R1/provenance"))
        .body["product"]
        .clone();
    let brand_id = products["brand_org"].as_str().unwrap().to_owned();
    let put = |body: Value| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .put(&s.app.url(&format!("/api/v1/orgs/{brand_id}/embed-origins")))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(&body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(put(json!({"origins": ["https://shop.example.com"]})), 200);
    assert_eq!(put(json!({"origins": ["javascript:alert(1)"]})), 422);
    let card = b.get(&format!("/embed/01/{RICE}/10/R1"));
    assert_eq!(
        card.headers["content-security-policy"],
        "frame-ancestors 'self' https://shop.example.com"
    );

    let page_url = s.app.url(&format!("/01/{RICE}/10/R1"));
    let oembed = s
        .app
        .get(&format!("/oembed?url={}", percent_encode(&page_url)));
    assert_eq!(oembed.status, 200, "{:?}", oembed.body);
    assert_eq!(oembed.body["type"], "rich");
    assert!(
        oembed.body["html"]
            .as_str()
            .unwrap()
            .contains(&format!("/embed/01/{RICE}/10/R1\""))
    );
    assert_eq!(
        s.app
            .get(&format!(
                "/oembed?url={}&format=xml",
                percent_encode(&page_url)
            ))
            .status,
        501
    );
    assert_eq!(
        s.app
            .get("/oembed?url=https%3A%2F%2Felsewhere.example%2F01%2F04712345000022")
            .status,
        404
    );
    assert_eq!(s.app.get("/oembed").status, 400);

    let p = provenance(&s.app);
    assert_eq!(p["verified"], true);
    assert_eq!(p["steps"].as_array().unwrap().len(), 3);
    assert_eq!(p["origins"][0]["name"], "Chishang Farm");
    assert_eq!(p["stores_in_stock"][0]["name"], "Green Leaf Xinyi");
    assert!(b.get("/static/embed.js").body.contains("truetrace:height"));
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn staff_accounts_invitations_sessions_and_the_dashboard() {
    for backend in backends() {
        let s = shop(backend, "3");
        let mut visitor = Browser::new(s.app.address());
        let gate = visitor.get("/dashboard");
        assert_eq!(
            (gate.status, gate.location.as_str()),
            (303, "/login?next=%2Fdashboard")
        );
        let login = visitor.get("/login");
        let wrong = visitor.post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("email", "nobody@x.tw"),
                ("password", "whatever123"),
            ],
        );
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("wrong e-mail address or password"));

        // Invitations: a short password is refused and the invitation stays usable; then once only.
        let invite = s.app.admin_post(
            &format!("/api/v1/orgs/{}/invites", s.farm.id),
            &json!({"email": "Lin@Farm.tw"}),
        );
        let path = invite.body["url"]
            .as_str()
            .unwrap()
            .strip_prefix(s.app.address())
            .unwrap()
            .to_owned();
        let form = visitor.get(&path);
        let short = visitor.post(
            &path,
            &[
                ("csrf", &form.csrf()),
                ("name", "Lin"),
                ("password", "short"),
            ],
        );
        assert_eq!(short.status, 422);
        let ok = visitor.post(
            &path,
            &[
                ("csrf", &form.csrf()),
                ("name", "Lin"),
                ("password", "a long enough password"),
            ],
        );
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert_eq!(
            Browser::new(s.app.address()).get(&path).status,
            404,
            "used once"
        );
        assert_eq!(
            s.app
                .admin_post(
                    &format!("/api/v1/orgs/{}/invites", s.farm.id),
                    &json!({"email": "lin@farm.tw"})
                )
                .status,
            409
        );
        // Lin is not an admin: cannot invite.
        let account = visitor.get("/account");
        assert!(account.body.contains("Lin") && !account.body.contains("id=\"invite-staff\""));
        let refused = visitor.post(
            "/account/invites",
            &[("csrf", &account.csrf()), ("email", "x@farm.tw")],
        );
        assert_eq!(refused.status, 403);

        // Scans by channel, then the dashboards of the farm (its lot) and the store (its shelf).
        let mut phone = Browser::new(s.app.address());
        for query in ["?src=qr", "?src=qr", "", &format!("?store={}", s.store.id)] {
            assert_eq!(phone.get(&format!("/01/{RICE}/10/R1{query}")).status, 200);
        }
        let click = phone.get(&format!("/go/{RICE}?lot=R1&ch=qr"));
        assert_eq!(click.status, 303);
        assert!(click.location.starts_with("https://shop.example.com/rice?gtin=04712345000022&utm_source=truetrace&utm_medium=qr&lot=R1"));
        let farm_dash = visitor.get("/dashboard?days=7");
        assert_eq!(farm_dash.status, 200, "{}", farm_dash.body);
        assert!(
            farm_dash.body.contains("id=\"total-scans\">4<"),
            "{}",
            farm_dash.body
        );
        assert!(farm_dash.body.contains("<svg id=\"chart\"") && farm_dash.body.contains("<rect"));
        assert!(
            farm_dash
                .body
                .contains("data-channel=\"qr\"><td data-label=\"Channel\">QR on the package</td><td data-label=\"Views\">2</td><td data-label=\"Online clicks\">1</td>"),
            "{}",
            farm_dash.body
        );
        let csv = visitor.get("/dashboard.csv?days=7");
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        assert!(
            csv.body.contains(",04712345000022,R1,,,scan,qr,2\r\n"),
            "{}",
            csv.body
        );
        assert!(!csv.body.contains("0912"), "no personal data");
        assert_eq!(visitor.get("/dashboard?days=0").status, 422);

        let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
        let store_dash = clerk.get("/dashboard?days=7");
        assert!(
            store_dash.body.contains("id=\"total-scans\">1<"),
            "only its shelf tag's scan: {}",
            store_dash.body
        );

        // Logging out ends the session.
        let account = clerk.get("/account");
        let out = clerk.post("/logout", &[("csrf", &account.csrf())]);
        assert_eq!(out.status, 303);
        assert_eq!(clerk.get("/dashboard").status, 303);
    }
}

/// Runs `f` on a connection of its own to the app's database.
fn with_db<T>(app: &TestApp, f: impl FnOnce(&mut truetrace::db::DbConn) -> T) -> T {
    let url = truetrace::db::DatabaseUrl::parse(&app.database_url).unwrap();
    let pool = truetrace::db::connect(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    f(&mut conn)
}

/// Every counter in the database: (GTIN, lot, store, kind, channel, count).
fn counters(app: &TestApp) -> Vec<(String, String, String, String, String, i64)> {
    use diesel::RunQueryDsl;
    use truetrace::db::schema::activity_daily::dsl as a;
    with_db(app, |conn| {
        diesel::QueryDsl::select(
            a::activity_daily,
            (a::gtin, a::lot, a::store, a::kind, a::channel, a::count),
        )
        .load(conn)
        .unwrap()
    })
}

#[test]
fn scans_of_lots_that_do_not_exist_leave_nothing_on_any_dashboard() {
    for backend in backends() {
        let s = shop(backend, "3");
        let mut phone = Browser::new(s.app.address());
        // Made-up lots of a registered product (one claiming a shelf tag of the store that has
        // the product), and a GTIN nobody registered: 404s, counted nowhere.
        for path in [
            format!("/01/{RICE}/10/NOPE?src=qr"),
            format!("/01/{RICE}/10/FAKE-1?store={}", s.store.id),
            format!("/01/{RICE}/10/FAKE-2"),
            "/01/04712345000053/10/X1?src=qr".to_owned(),
            format!("/embed/01/{RICE}/10/NOPE"),
        ] {
            assert_eq!(phone.get(&path).status, 404, "{path}");
        }
        assert_eq!(phone.get(&format!("/01/{RICE}/10/R1?src=qr")).status, 200);
        // A click naming a made-up lot counts for the product alone (the lot is not passed on).
        let click = phone.get(&format!("/go/{RICE}?lot=NOPE&ch=qr"));
        assert_eq!(click.status, 303);
        assert!(!click.location.contains("lot="), "{}", click.location);

        for (org, email, scans) in [
            (&s.brand, "brand@chishang.tw", 1),
            (&s.farm, "farm@chishang.tw", 1),
            (&s.store, "mei@greenleaf.tw", 0),
        ] {
            let mut staff = staff(&s.app, org, email);
            let dash = staff.get("/dashboard?days=7");
            assert_eq!(dash.status, 200, "{}", dash.body);
            assert!(
                dash.body.contains(&format!("id=\"total-scans\">{scans}<")),
                "{email}: {}",
                dash.body
            );
            for fake in ["NOPE", "FAKE-1", "FAKE-2", "X1"] {
                assert!(
                    !dash
                        .body
                        .contains(&format!("<code><bdi>{fake}</bdi></code>")),
                    "{email}: {fake} listed: {}",
                    dash.body
                );
            }
            let csv = staff.get("/dashboard.csv?days=7");
            assert_eq!(csv.status, 200);
            for fake in ["NOPE", "FAKE", "X1", "04712345000053"] {
                assert!(!csv.body.contains(fake), "{email}: {fake} in {}", csv.body);
            }
        }
        let mut stored = counters(&s.app);
        stored.sort();
        let row = |lot: &str, kind: &str, n| {
            (
                RICE.to_owned(),
                lot.to_owned(),
                String::new(),
                kind.to_owned(),
                "qr".to_owned(),
                n,
            )
        };
        assert_eq!(
            stored,
            vec![row("", "listing_click", 1), row("R1", "scan", 1)],
            "{backend:?}: only the real lot's scan and the product's click are counters"
        );
    }
}

#[test]
fn a_shelf_scan_counts_for_a_store_only_when_that_store_received_the_lot() {
    for backend in backends() {
        let s = shop(backend, "3");
        // A store that never held any of the product.
        let corner = s.app.org("Corner Shop", &["retailer"]);
        // A carrier that received a lot of it: not a store.
        let carrier = s.app.org("East Coast Cold Chain", &["carrier"]);
        let mut harvest = harvest(&s.farm, RICE, "R9", 40);
        harvest["new_lots"][0]["quantity"] = json!({"amount": "5", "unit": "H87"});
        assert_eq!(s.app.submit(&sign(&s.farm.key, &harvest)).status, 201);
        let mut ship = on_lot("ship", &s.farm, RICE, "R9", &record_id(&harvest), 41);
        ship["to"] = json!(carrier.id);
        assert_eq!(s.app.submit(&sign(&s.farm.key, &ship)).status, 201);
        let receive = on_lot("receive", &carrier, RICE, "R9", &record_id(&ship), 42);
        assert_eq!(s.app.submit(&sign(&carrier.key, &receive)).status, 201);
        let mut phone = Browser::new(s.app.address());
        for (lot, query) in [
            ("R1", format!("?store={}", corner.id)),
            ("R1", format!("?src=qr&store={}", corner.id)),
            ("R1", format!("?store={}", s.store.id)),
            ("R9", format!("?store={}", carrier.id)),
        ] {
            assert_eq!(
                phone.get(&format!("/01/{RICE}/10/{lot}{query}")).status,
                200
            );
        }
        for query in [
            format!("lot=R1&ch=qr&store={}", corner.id),
            format!("store={}", corner.id),
            format!("store={}", s.store.id),
        ] {
            assert_eq!(
                phone.get(&format!("/go/{RICE}?{query}")).status,
                303,
                "{query}"
            );
        }

        let corner_dash = staff(&s.app, &corner, "kim@corner.tw").get("/dashboard?days=7");
        assert!(
            corner_dash.body.contains("id=\"total-scans\">0<")
                && !corner_dash.body.contains("id=\"by-store\"")
                && !corner_dash.body.contains("<code><bdi>R1</bdi></code>"),
            "nothing is counted for a store that never held the lot: {}",
            corner_dash.body
        );
        let store_dash = staff(&s.app, &s.store, "mei@greenleaf.tw").get("/dashboard?days=7");
        assert!(
            store_dash.body.contains("id=\"total-scans\">1<"),
            "the shelf scan of the store that received the lot: {}",
            store_dash.body
        );
        let csv = staff(&s.app, &s.brand, "brand@chishang.tw").get("/dashboard.csv?days=7");
        assert!(
            !csv.body.contains(&corner.id) && !csv.body.contains(&carrier.id),
            "{}",
            csv.body
        );
        let store = &s.store.id;
        for line in [
            // Counted as the visit would have been without `store=`.
            format!(",{RICE},R1,,,scan,direct,1\r\n"),
            format!(",{RICE},R1,,,scan,qr,1\r\n"),
            format!(",{RICE},R1,,,listing_click,qr,1\r\n"),
            format!(",{RICE},R9,,,scan,direct,1\r\n"),
            format!(",{RICE},,,,listing_click,direct,1\r\n"),
            // The store that received the lot keeps its shelf scan and its product's click.
            format!(",{RICE},R1,{store},Green Leaf Xinyi,scan,shelf,1\r\n"),
            format!(",{RICE},,{store},Green Leaf Xinyi,listing_click,shelf,1\r\n"),
        ] {
            assert!(
                csv.body.contains(&line),
                "{backend:?}: {line:?} in {}",
                csv.body
            );
        }
        assert_eq!(csv.body.lines().count(), 8, "nothing else: {}", csv.body);
    }
}

#[test]
fn counts_stored_before_the_upgrade_are_checked_once_and_the_dashboards_built_again() {
    for backend in backends() {
        let s = shop(backend, "3");
        let corner = s.app.org("Corner Shop", &["retailer"]);
        let today = chrono::Utc::now().date_naive();
        let scans = |gtin: &str, lot: &str, store: &str, count| truetrace::db::rows::ActivityRow {
            day: today,
            gtin: gtin.into(),
            lot: lot.into(),
            store: store.into(),
            kind: "scan".into(),
            channel: "shelf".into(),
            count,
        };
        let forget = |name: &str| {
            with_db(&s.app, |conn| truetrace::db::kv::delete(conn, name)).unwrap();
        };
        // What earlier versions let anyone store: scans of made-up lots (one for the store that
        // holds the product), of a GTIN nobody registered, and for a store that never held the
        // lot; beside them real shelf scans. Their roll-ups were built from them.
        with_db(&s.app, |conn| {
            truetrace::db::activity::add(
                conn,
                &[
                    scans(RICE, "NOPE", "", 5),
                    scans(RICE, "FAKE", &s.store.id, 2),
                    scans("04712345000053", "X1", "", 3),
                    scans(RICE, "R1", &corner.id, 4),
                    scans(RICE, "R1", &s.store.id, 1),
                    scans(RICE, "R1", "", 1),
                ],
            )
            .unwrap();
        });
        forget("dashboard_rollups");
        let before = serve(&s.app.database_url);
        let mut brand = staff(&s.app, &s.brand, "brand@chishang.tw");
        brand.base = before.to_string();
        let dash = brand.get("/dashboard?days=7");
        assert!(
            dash.body.contains("id=\"total-scans\">13<")
                && dash.body.contains("<code><bdi>NOPE</bdi></code>"),
            "{backend:?}: the made-up counts were on the dashboard: {}",
            dash.body
        );
        drop(before);

        // The first start after the upgrade checks them, once.
        forget("activity_checked");
        let after = serve(&s.app.database_url);
        brand.base = after.to_string();
        let dash = brand.get("/dashboard?days=7");
        assert!(
            dash.body.contains("id=\"total-scans\">6<")
                && !dash.body.contains("NOPE")
                && !dash.body.contains("FAKE"),
            "{backend:?}: {}",
            dash.body
        );
        let csv = brand.get("/dashboard.csv?days=7");
        let store = &s.store.id;
        assert!(
            csv.body.contains(&format!(",{RICE},R1,,,scan,shelf,5\r\n"))
                && csv.body.contains(&format!(
                    ",{RICE},R1,{store},Green Leaf Xinyi,scan,shelf,1\r\n"
                ))
                && csv.body.lines().count() == 3,
            "{backend:?}: {}",
            csv.body
        );
        let mut clerk = staff(&s.app, &s.store, "mei@greenleaf.tw");
        clerk.base = after.to_string();
        assert!(
            clerk
                .get("/dashboard?days=7")
                .body
                .contains("id=\"total-scans\">1<")
        );
        let mut kim = staff(&s.app, &corner, "kim@corner.tw");
        kim.base = after.to_string();
        assert!(
            kim.get("/dashboard?days=7")
                .body
                .contains("id=\"total-scans\">0<")
        );
        let mut stored = counters(&s.app);
        stored.sort();
        assert_eq!(stored.len(), 2, "{stored:?}");
        assert_eq!(
            with_db(&s.app, truetrace::omo::activity::check_stored).unwrap(),
            0,
            "checked once"
        );
    }
}

#[test]
fn bad_input_to_the_new_admin_calls_and_pages_is_refused_with_a_message() {
    let s = shop(Backend::Sqlite, "3");
    let unknown = "01890000-0000-7000-8000-000000000009";
    let bad_email = s.app.admin_post(
        &format!("/api/v1/orgs/{}/invites", s.store.id),
        &json!({"email": "nobody"}),
    );
    assert_eq!((bad_email.status, bad_email.code()), (422, "invalid_field"));
    let extra = s.app.admin_post(
        &format!("/api/v1/orgs/{}/invites", s.store.id),
        &json!({"email": "a@b.tw", "role": "boss"}),
    );
    assert_eq!(
        extra.status, 400,
        "unknown fields are refused: {:?}",
        extra.body
    );
    assert_eq!(
        s.app
            .admin_post(
                &format!("/api/v1/orgs/{unknown}/invites"),
                &json!({"email": "a@b.tw"})
            )
            .status,
        404
    );
    assert_eq!(
        s.app
            .admin_post(&format!("/api/v1/orgs/{unknown}/hosted-key"), &json!({}))
            .status,
        404
    );
    let no_token = s
        .app
        .post_raw(&format!("/api/v1/orgs/{}/hosted-key", s.store.id), b"{}");
    assert_eq!((no_token.status, no_token.code()), (401, "unauthorized"));

    let mut b = Browser::new(s.app.address());
    for (path, status, message) in [
        ("/go/04712345000023", 400, "check digit"),
        (&format!("/go/{GREENS}") as &str, 404, "no online listing"),
        ("/go/04712345000053", 404, "no product with GTIN"),
        ("/shop/04712345000023", 400, "check digit"),
        ("/shop/04712345000053", 404, "no product with GTIN"),
        ("/stores/nope", 404, "no store"),
        ("/pickup/ABCDE-FGHJK", 404, "no reservation has this code"),
        (
            "/invite/made-up-token",
            404,
            "unknown, already used or expired",
        ),
    ] {
        let page = b.get(path);
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.body.contains(message), "{path}: {}", page.body);
    }
    // A lot code that is not one is dropped from the click, not passed on to the shop.
    let click = b.get(&format!("/go/{RICE}?lot=%3Cscript%3E&ch=qr"));
    assert_eq!(click.status, 303);
    assert!(!click.location.contains("lot="), "{}", click.location);
}
