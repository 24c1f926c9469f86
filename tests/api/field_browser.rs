//! The field app in a real headless Chromium at phone size (390 px), driven over the DevTools
//! protocol: a phone makes its WebCrypto key and enrolls it, an admin approves it, records are
//! signed in the page and found in the ledger under the phone's keyid, a QR code is read through
//! Chromium's fake camera, records made offline are sent after reconnecting, a 409 is resolved by
//! signing again, a revoked phone is refused, and the demo story's supply side is walked through
//! on phones alone. Screenshots in target/screenshots/field-*.png.

use crate::chrome::*;
use crate::helpers::*;
use headless_chrome::Tab;
use serde_json::{Value, json};
use std::path::Path;

const PADDY_GTIN: &str = "04712345000015";
const RICE_GTIN: &str = "04712345000022";

/// The keyid of the key this phone made for the logged-in person (from its IndexedDB).
fn phone_keyid(tab: &Tab) -> String {
    eval(
        tab,
        "const d = await new Promise((ok, no) => { const r = indexedDB.open('truetrace-field'); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
         const keys = await new Promise((ok) => { const r = d.transaction('keys').objectStore('keys').getAll(); r.onsuccess = () => ok(r.result); });
         return keys.map((k) => k.keyid);",
    )[0]
    .as_str()
    .expect("a key in IndexedDB")
    .to_owned()
}

/// Opens the field home in `lang` and enrolls this phone under `label`; waits for `status`.
fn enroll_phone(tab: &Tab, base: &str, lang: &str, label: &str, status: &str) {
    goto(tab, &format!("{base}/field?lang={lang}"));
    wait_until(
        tab,
        "!document.getElementById('device-setup').hidden",
        "the set-up form",
    );
    fill(tab, "#device-label", label);
    click(tab, "#device-create");
    wait_until(
        tab,
        &format!("document.getElementById('device').dataset.status === '{status}'"),
        "the device's status",
    );
}

fn harvest_on_phone(tab: &Tab, base: &str, gtin: &str, lot: &str, amount: &str) {
    harvest_on_phone_then(tab, base, gtin, lot, amount, || {});
}

/// A harvest filled in on the phone; `before_sending` runs just before the person taps send.
fn harvest_on_phone_then(
    tab: &Tab,
    base: &str,
    gtin: &str,
    lot: &str,
    amount: &str,
    before_sending: impl FnOnce(),
) {
    goto(tab, &format!("{base}/field/harvest"));
    wait_until(
        tab,
        "document.getElementById('field').dataset.ready === '1'",
        "the app",
    );
    select(tab, "#h-product", gtin);
    fill(tab, "#h-lot", lot);
    wait_until(
        tab,
        "['free', 'offline'].includes(document.getElementById('h-lot-help').dataset.checked)",
        "the lot code to be checked",
    );
    fill(tab, "#h-amount", amount);
    fill(tab, "#h-place", "Field 5, Chishang");
    fill(tab, "#h-variety", "Tainung No. 71");
    before_sending();
    click(tab, "#h-submit");
    wait_until(
        tab,
        "!document.getElementById('h-done').hidden",
        "the harvest's result",
    );
}

/// Looks a lot up on the scan page by typing its code, then records `event` with the action
/// form as `prepare` fills it.
fn record_on_lot(tab: &Tab, base: &str, lot: &str, event: &str, prepare: impl FnOnce(&Tab)) {
    goto(tab, &format!("{base}/field/scan"));
    wait_until(
        tab,
        "document.getElementById('field').dataset.ready === '1'",
        "the app",
    );
    fill(tab, "#typed", lot);
    click(tab, "#typed-find");
    wait_until(
        tab,
        &format!("document.querySelector('#events [data-event={event}]')"),
        &format!("the {event} button for {lot}"),
    );
    click(tab, &format!("#events [data-event={event}]"));
    wait_until(
        tab,
        "document.getElementById('action-form')",
        "the action form",
    );
    prepare(tab);
    click(tab, "#a-submit");
    wait_until(
        tab,
        "!document.getElementById('result').hidden",
        "the record's result",
    );
}

fn expect_stored(tab: &Tab, what: &str) {
    let result = text(tab, "#result");
    assert!(
        result.contains("Recorded") || result.contains("已記錄"),
        "{what}: {result}"
    );
}

#[test]
fn a_phone_enrolls_waits_for_approval_signs_a_harvest_and_is_refused_once_revoked() {
    let Some(demo) = Demo::start("field") else {
        return;
    };
    let base = demo.base.to_string();
    let (email, password) = demo.account("Chishang Farm");

    // The farm's admin: the phone's key is active at once.
    let admin_phone = demo.phone("farm-admin", None);
    let admin = phone_tab(&admin_phone);
    login(&admin, &base, &email, &password, "/field");
    enroll_phone(&admin, &base, "zh-Hant", "Office phone", "active");
    demo.shot(&admin, "home-zh");

    // A colleague joins by invitation and enrolls a phone: it waits for approval.
    goto(&admin, &format!("{base}/account"));
    fill(
        &admin,
        "#invite-staff input[name=email]",
        "ana@chishang.example",
    );
    click(&admin, "#invite-staff button");
    wait_until(
        &admin,
        "document.getElementById('invite-link')",
        "the invitation link",
    );
    let link = eval(
        &admin,
        "return document.querySelector('#invite-link code').innerText;",
    );
    let colleague_phone = demo.phone("farm-ana", None);
    let ana = phone_tab(&colleague_phone);
    goto(&ana, link.as_str().unwrap());
    fill(&ana, "input[name=name]", "Ana Lin");
    fill(&ana, "input[name=password]", "a long enough password");
    click(&ana, "form button[type=submit]");
    wait_until(&ana, "location.pathname === '/account'", "the new account");
    enroll_phone(&ana, &base, "en", "Ana's phone", "pending");
    let waiting = text(&ana, "#device-state");
    assert!(waiting.contains("Waiting for approval"), "{waiting}");
    demo.shot(&ana, "pending-en");
    let keyid = phone_keyid(&ana);
    // Not yet a signing key: nothing signed on the phone would be accepted.
    assert_eq!(demo.get(&format!("/api/v1/records/{keyid}")).0, 404);

    // The admin approves it on the account page; the waiting phone notices by itself.
    goto(&admin, &format!("{base}/account?lang=en"));
    wait_until(
        &admin,
        &format!("document.querySelector('[data-keyid=\"{keyid}\"] .approve')"),
        "the approve button",
    );
    demo.shot(&admin, "account-devices-en");
    click(&admin, &format!("[data-keyid=\"{keyid}\"] .approve"));
    wait_until(
        &admin,
        &format!("document.querySelector('[data-keyid=\"{keyid}\"]').dataset.status === 'active'"),
        "the approved device",
    );
    wait_until(
        &ana,
        "document.getElementById('device').dataset.status === 'active'",
        "the phone to learn of its approval",
    );

    // A harvest signed on the phone, stored under the phone's keyid.
    harvest_on_phone(&ana, &base, PADDY_GTIN, "PADDY-PHONE-1", "640.5");
    let done = text(&ana, "#h-done");
    assert!(done.contains("Recorded"), "{done}");
    assert!(
        eval(
            &ana,
            "return Boolean(document.querySelector('#h-done img.lot-qr'));"
        )
        .as_bool()
        .unwrap()
    );
    demo.shot(&ana, "harvest-done-en");
    let stored = demo.head_record(PADDY_GTIN, "PADDY-PHONE-1");
    assert_eq!(stored["envelope"]["signatures"][0]["keyid"], keyid.as_str());
    assert_eq!(stored["record"]["event"], "harvest");
    assert_eq!(
        stored["record"]["new_lots"][0]["quantity"],
        json!({"amount": "640.5", "unit": "KGM"})
    );
    assert_eq!(stored["record"]["kde"]["variety"], "Tainung No. 71");
    assert_eq!(stored["record"]["location"]["name"], "Field 5, Chishang");
    // The provenance page says the record was signed on a registered device.
    let page = demo
        .agent
        .get(&format!("{base}/01/{PADDY_GTIN}/10/PADDY-PHONE-1?lang=en"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("signed on a registered device"), "{page}");

    // The same pages on a desktop: the field home in English, the account page in Chinese, and
    // the lot's provenance page.
    let office = demo.phone("farm-office", None);
    let desk = phone_tab(&office);
    login(&desk, &base, &email, &password, "/field");
    desktop(&desk);
    goto(&desk, &format!("{base}/field?lang=en"));
    wait_until(
        &desk,
        "document.getElementById('device-setup') && !document.getElementById('device-setup').hidden",
        "the set-up form",
    );
    demo.shot(&desk, "desktop-home-en");
    goto(&desk, &format!("{base}/account?lang=zh-Hant"));
    demo.shot(&desk, "desktop-account-zh");
    goto(
        &desk,
        &format!("{base}/01/{PADDY_GTIN}/10/PADDY-PHONE-1?lang=en"),
    );
    demo.shot(&desk, "desktop-provenance-en");
    let small = phone_tab(&office);
    goto(
        &small,
        &format!("{base}/01/{PADDY_GTIN}/10/PADDY-PHONE-1?lang=zh-Hant"),
    );
    demo.shot(&small, "provenance-zh");

    // Revoked from the account page while Ana fills in her next harvest: the server refuses the
    // record the phone signs, and nothing is stored.
    let size = demo.log_size();
    harvest_on_phone_then(&ana, &base, PADDY_GTIN, "PADDY-PHONE-2", "10", || {
        goto(&admin, &format!("{base}/account"));
        click(&admin, &format!("[data-keyid=\"{keyid}\"] .revoke"));
        wait_until(
            &admin,
            &format!(
                "document.querySelector('[data-keyid=\"{keyid}\"]').dataset.status === 'revoked'"
            ),
            "the revoked device",
        );
    });
    let refused = text(&ana, "#h-done");
    assert!(!refused.contains("null"), "nothing but words: {refused}");
    assert!(
        refused.contains("This phone's key was revoked"),
        "{refused}"
    );
    assert_eq!(demo.log_size(), size);
    assert_eq!(
        demo.get(&format!("/api/v1/lots/{PADDY_GTIN}/PADDY-PHONE-2"))
            .0,
        404
    );
    goto(&ana, &format!("{base}/field"));
    wait_until(
        &ana,
        "document.getElementById('device').dataset.status === 'revoked'",
        "the phone to show its key revoked",
    );
}

/// A phone of the organization whose name contains `who`, logged in as its admin, its key
/// enrolled (active at once for an admin), showing pages in `lang`.
fn admin_phone(
    demo: &Demo,
    who: &str,
    lang: &str,
    camera: Option<&Path>,
) -> (headless_chrome::Browser, std::sync::Arc<Tab>) {
    let browser = demo.phone(&who.replace(' ', "-"), camera);
    let tab = phone_tab(&browser);
    let (email, password) = demo.account(who);
    login(&tab, &demo.base, &email, &password, "/field");
    enroll_phone(&tab, &demo.base, lang, &format!("{who} phone"), "active");
    (browser, tab)
}

fn lot_state(demo: &Demo, gtin: &str, lot: &str) -> Value {
    let (status, found) = demo.get(&format!("/api/v1/lots/{gtin}/{lot}"));
    assert_eq!(status, 200, "{lot}: {found}");
    found
}

/// Every step of the demo story that is not a consumer's, done on phones only: harvests, a scan
/// through the camera, ship, receive, a temperature note, a transform into two lots, a shipment of
/// both, the carrier's pickup of the whole shipment, a reading in transit and the hand-over, the
/// store's receipt and storage; and the lettuce farm's harvest, cooling and packing.
#[test]
fn the_demo_story_supply_side_is_done_on_phones_alone() {
    let Some(demo) = Demo::start("field") else {
        return;
    };
    let base = demo.base.to_string();
    let (mill, carrier, xinyi) = (
        demo.org_id("Rice Mill"),
        demo.org_id("Cold Chain"),
        demo.org_id("Xinyi"),
    );

    // The farm harvests, then scans the lot's QR code with the camera and ships it to the mill.
    let camera = demo.dir.path().join("paddy-t1.y4m");
    qr_video(&format!("{base}/01/{PADDY_GTIN}/10/PADDY-T1"), &camera);
    let (_farm_phone, farm) = admin_phone(&demo, "Chishang Farm", "zh-Hant", Some(&camera));
    harvest_on_phone(&farm, &base, PADDY_GTIN, "PADDY-T1", "1200");
    demo.shot(&farm, "harvest-done-zh");
    goto(&farm, &format!("{base}/field/scan"));
    wait_until(
        &farm,
        "document.getElementById('field').dataset.ready === '1'",
        "the app",
    );
    click(&farm, "#camera-start");
    wait_until(
        &farm,
        "document.getElementById('lot-code') && document.getElementById('lot-code').innerText === 'PADDY-T1'",
        "the camera to read the lot's QR code",
    );
    let decoder = eval(
        &farm,
        "return document.getElementById('field').dataset.decoder;",
    );
    assert!(
        decoder == "jsQR" || decoder == "BarcodeDetector",
        "{decoder}"
    );
    click(&farm, "#camera-start"); // stop the camera
    demo.shot(&farm, "scan-lot-zh");
    click(&farm, "#events [data-event=ship]");
    wait_until(
        &farm,
        "document.getElementById('action-form')",
        "the ship form",
    );
    select(&farm, "#a-to", &mill);
    fill(&farm, "#a-doc", "BOL-2611-07");
    demo.shot(&farm, "ship-form-zh");
    click(&farm, "#a-submit");
    wait_until(
        &farm,
        "!document.getElementById('result').hidden",
        "the shipment's result",
    );
    assert!(
        text(&farm, "#result").contains("已記錄"),
        "{}",
        text(&farm, "#result")
    );
    assert_eq!(
        lot_state(&demo, PADDY_GTIN, "PADDY-T1")["shipped_to"]["id"],
        mill.as_str()
    );

    // The mill receives, notes the moisture, and mills the paddy into two lots of rice.
    let (_mill_browser, mill_tab) = admin_phone(&demo, "Rice Mill", "en", None);
    record_on_lot(&mill_tab, &base, "PADDY-T1", "receive", |_| {});
    expect_stored(&mill_tab, "receive");
    record_on_lot(&mill_tab, &base, "PADDY-T1", "note", |tab| {
        fill(tab, "#a-temperature", "18.5");
        fill(tab, "#a-note", "Dried to 14.5% moisture");
    });
    expect_stored(&mill_tab, "note");
    record_on_lot(&mill_tab, &base, "PADDY-T1", "transform", |tab| {
        select(tab, ".output[data-n='0'] .out-product", RICE_GTIN);
        fill(tab, ".output[data-n='0'] .out-lot", "RICE-T1-01");
        fill(tab, ".output[data-n='0'] .out-amount", "300");
        click(tab, "#add-output");
        select(tab, ".output[data-n='1'] .out-product", RICE_GTIN);
        fill(tab, ".output[data-n='1'] .out-lot", "RICE-T1-02");
        fill(tab, ".output[data-n='1'] .out-amount", "300");
        fill(tab, "#a-process", "hulling, milling, packing in 2 kg bags");
        demo.shot(tab, "transform-form-en");
    });
    expect_stored(&mill_tab, "transform");
    let made = demo.head_record(RICE_GTIN, "RICE-T1-02");
    assert_eq!(made["record"]["event"], "transform");
    assert_eq!(made["record"]["lots"][0]["lot"], "PADDY-T1");
    assert_eq!(made["record"]["new_lots"].as_array().unwrap().len(), 2);

    // One shipment of both rice lots to the carrier, scanned in one after the other.
    goto(&mill_tab, &format!("{base}/field/ship"));
    wait_until(
        &mill_tab,
        "document.getElementById('field').dataset.ready === '1'",
        "the app",
    );
    for lot in ["RICE-T1-01", "RICE-T1-02"] {
        fill(&mill_tab, "#typed", lot);
        click(&mill_tab, "#typed-find");
        wait_until(
            &mill_tab,
            &format!(
                "[...document.querySelectorAll('.ship-lot bdi')].some((b) => b.innerText === '{lot}')"
            ),
            "the lot in the shipment",
        );
    }
    select(&mill_tab, "#ship-to", &carrier);
    fill(&mill_tab, "#ship-vehicle", "TPE-3321");
    demo.shot(&mill_tab, "shipment-en");
    click(&mill_tab, "#ship-submit");
    wait_until(
        &mill_tab,
        "!document.getElementById('result').hidden",
        "the shipment's result",
    );
    expect_stored(&mill_tab, "shipment");
    let shipped = demo.head_record(RICE_GTIN, "RICE-T1-01");
    assert_eq!(shipped["record"]["event"], "ship");
    assert_eq!(shipped["record"]["lots"].as_array().unwrap().len(), 2);
    assert_eq!(shipped["record"]["kde"]["vehicle"], "TPE-3321");

    // The carrier scans one of them and picks up the whole shipment, notes a reading in transit,
    // and hands one lot over to the store.
    let (_carrier_browser, truck) = admin_phone(&demo, "Cold Chain", "zh-Hant", None);
    record_on_lot(&truck, &base, "RICE-T1-02", "receive", |tab| {
        assert!(text(tab, "#events").contains("取貨"), "the carrier's words");
        assert_eq!(
            eval(
                tab,
                "return document.querySelectorAll('.receive-lot:checked').length;"
            ),
            json!(2),
            "both lots of the shipment offered"
        );
        demo.shot(tab, "carrier-pickup-zh");
    });
    expect_stored(&truck, "pickup");
    for lot in ["RICE-T1-01", "RICE-T1-02"] {
        assert_eq!(
            lot_state(&demo, RICE_GTIN, lot)["custodian"]["id"],
            carrier.as_str(),
            "{lot}"
        );
    }
    record_on_lot(&truck, &base, "RICE-T1-01", "note", |tab| {
        fill(tab, "#a-temperature", "16.5")
    });
    expect_stored(&truck, "reading in transit");
    record_on_lot(&truck, &base, "RICE-T1-01", "ship", |tab| {
        select(tab, "#a-to", &xinyi)
    });
    expect_stored(&truck, "hand-over");

    // The store receives the lot and puts it on the shelf.
    let (_store_browser, store) = admin_phone(&demo, "Xinyi", "en", None);
    record_on_lot(&store, &base, "RICE-T1-01", "receive", |tab| {
        fill(tab, "#a-temperature", "17.0")
    });
    expect_stored(&store, "store receipt");
    record_on_lot(&store, &base, "RICE-T1-01", "store", |tab| {
        fill(tab, "#a-shelf", "Aisle 4")
    });
    expect_stored(&store, "store");
    assert_eq!(
        lot_state(&demo, RICE_GTIN, "RICE-T1-01")["custodian"]["id"],
        xinyi.as_str()
    );

    // The mill's trace of the paddy, forward: both rice lots, the carrier, the store that holds
    // one; on a phone in Chinese and on a desktop in English.
    goto(
        &mill_tab,
        &format!("{base}/trace/01/{PADDY_GTIN}/10/PADDY-T1?direction=forward&lang=zh-Hant"),
    );
    wait_until(
        &mill_tab,
        "document.querySelectorAll('#tree li').length === 3",
        "the forward tree",
    );
    assert!(
        text(&mill_tab, "#stores").contains("綠葉超市 信義店"),
        "{}",
        text(&mill_tab, "#stores")
    );
    demo.shot(&mill_tab, "trace-forward-zh");
    desktop(&mill_tab);
    goto(
        &mill_tab,
        &format!("{base}/trace/01/{RICE_GTIN}/10/RICE-T1-01?lang=en"),
    );
    wait_until(
        &mill_tab,
        "document.querySelector('#tree li[data-lot=\"PADDY-T1\"]')",
        "the backward tree",
    );
    demo.shot(&mill_tab, "desktop-trace-backward-en");

    // The lettuce farm: harvest, cool, pack.
    let (_greens_browser, greens) = admin_phone(&demo, "Lanyang", "zh-Hant", None);
    harvest_on_phone(&greens, &base, "04712345000039", "RL-T1", "450");
    record_on_lot(&greens, &base, "RL-T1", "cool", |tab| {
        fill(tab, "#a-temperature", "2.0");
        fill(tab, "#a-cooling", "vacuum cooling");
    });
    expect_stored(&greens, "cool");
    record_on_lot(&greens, &base, "RL-T1", "pack", |tab| {
        select(tab, ".output[data-n='0'] .out-product", "04712345000046");
        fill(tab, ".output[data-n='0'] .out-lot", "RH-T1-P1");
        fill(tab, ".output[data-n='0'] .out-amount", "1200");
    });
    expect_stored(&greens, "pack");
    let packed = demo.head_record("04712345000046", "RH-T1-P1");
    assert_eq!(
        packed["record"]["kde"]["pack_date"].as_str().map(str::len),
        Some(10)
    );

    // The consumer's page of the store's lot: every step, each signed on a registered device.
    let page = demo
        .agent
        .get(&format!("{base}/01/{RICE_GTIN}/10/RICE-T1-01?lang=en"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains(&format!(
            "href=\"/field/scan#01/{RICE_GTIN}/10/RICE-T1-01\""
        )),
        "the page leads staff to the field app"
    );
    let steps = page.matches("class=\"step ok\"").count();
    // The rice lot's 7 (transform, ship, pickup, reading, hand-over, receive, store) and the
    // paddy's 4 before the transform (harvest, ship, receive, note).
    assert_eq!(steps, 11);
    assert_eq!(page.matches("signed on a registered device").count(), steps);
}

/// Signs `record` with the demo organization's key file (its own systems, beside the phones).
fn sign_with_key_file(demo: &Demo, slug: &str, record: &Value) -> Vec<u8> {
    let file = truetrace::ledger::keyfile::KeyFile::read(
        &demo.dir.path().join(format!("demo/keys/{slug}.json")),
    )
    .unwrap();
    sign(&file.signing_key().unwrap(), record)
}

fn post_json(demo: &Demo, path: &str, body: &[u8]) -> (u16, Value) {
    let mut response = demo
        .agent
        .post(&format!("{}{path}", demo.base))
        .content_type("application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// What the phone's outbox holds, from its IndexedDB: [{state, id, envelope}].
fn outbox(tab: &Tab) -> Value {
    eval(
        tab,
        "const d = await new Promise((ok, no) => { const r = indexedDB.open('truetrace-field'); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
         return await new Promise((ok) => { const r = d.transaction('queue').objectStore('queue').getAll(); r.onsuccess = () => ok(r.result.map((i) => ({state: i.state, id: i.id, envelope: i.envelope}))); });",
    )
}

/// No network in the field: the pages open from the service worker, a harvest and a cooling are
/// signed and kept on the phone, and both are sent, in order, once the network is back; sending
/// them again stores nothing twice. Then another system moves the lot's head while the phone
/// looks at it: the phone's record comes back 409, the page says what changed, and one tap signs
/// it again on the new head.
#[test]
fn records_made_offline_are_sent_on_reconnecting_and_a_stale_record_is_signed_again() {
    let Some(demo) = Demo::start("field") else {
        return;
    };
    let relay = Relay::start(&demo.base);
    let base = relay.base.clone();
    let farm_id = demo.org_id("Chishang Farm");
    let browser = demo.phone("offline-farm", None);
    let phone = phone_tab(&browser);
    let (email, password) = demo.account("Chishang Farm");
    login(&phone, &base, &email, &password, "/field");
    enroll_phone(&phone, &base, "en", "Field phone", "active");
    let keyid = phone_keyid(&phone);
    goto(&phone, &format!("{base}/field/harvest"));
    wait_until(
        &phone,
        "navigator.serviceWorker.controller && caches.match('/field/scan').then(Boolean)",
        "the service worker to keep the field pages",
    );
    wait_until(
        &phone,
        "caches.match('/field/harvest').then(Boolean)",
        "the harvest page kept",
    );

    // The network goes away, for the page and for real.
    relay.set_offline(true);
    set_offline(&phone, true);
    let size = demo.log_size();
    harvest_on_phone(&phone, &base, PADDY_GTIN, "OFF-1", "75");
    assert!(
        text(&phone, "#h-done").contains("Saved on this phone"),
        "{}",
        text(&phone, "#h-done")
    );
    assert_eq!(
        text(&phone, "#net"),
        "Offline: records are kept on this phone"
    );
    record_on_lot(&phone, &base, "OFF-1", "cool", |tab| {
        fill(tab, "#a-temperature", "4")
    });
    assert!(text(&phone, "#result").contains("Saved on this phone"));
    goto(&phone, &format!("{base}/field"));
    wait_until(
        &phone,
        "document.getElementById('queue-count').innerText === '2'",
        "two records waiting",
    );
    demo.shot(&phone, "offline-queue-en");
    // The account page was never kept: offline, it does not open, so the field pages above came
    // from the service worker.
    assert!(
        phone
            .navigate_to(&format!("{base}/account"))
            .and_then(|t| t.wait_until_navigated())
            .is_err()
            || eval(&phone, "return location.protocol;") == "chrome-error:",
        "an uncached page offline"
    );
    assert_eq!(demo.log_size(), size, "nothing reached the server");

    // Back online: both are sent, in order, and the home page shows them sent.
    goto(&phone, &format!("{base}/field"));
    relay.set_offline(false);
    set_offline(&phone, false);
    wait_until(
        &phone,
        "document.querySelectorAll('.queue-item[data-state=sent]').length === 2 && document.getElementById('queue-badge').hidden",
        "the queue to be sent",
    );
    demo.shot(&phone, "sent-queue-en");
    assert_eq!(demo.log_size(), size + 2);
    let cool = demo.head_record(PADDY_GTIN, "OFF-1");
    assert_eq!(cool["record"]["event"], "cool");
    assert_eq!(cool["record"]["kde"]["temperature_c"], "4");
    assert_eq!(cool["envelope"]["signatures"][0]["keyid"], keyid.as_str());
    let queued = outbox(&phone);
    let harvest_id = queued[0]["id"].as_str().unwrap();
    assert_eq!(cool["record"]["lots"][0]["prev"], harvest_id);
    // Sending the same envelopes again stores nothing new: each is "already stored" (200).
    let envelopes: Vec<Value> = queued
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["envelope"].clone())
        .collect();
    for envelope in &envelopes {
        let (status, body) = post_json(
            &demo,
            "/api/v1/records",
            &serde_json::to_vec(envelope).unwrap(),
        );
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(demo.log_size(), size + 2);

    // The phone shows the lot; meanwhile the farm's own system appends a note to it.
    goto(
        &phone,
        &format!("{base}/field/scan#01/{PADDY_GTIN}/10/OFF-1"),
    );
    wait_until(
        &phone,
        "document.querySelector('#events [data-event=note]')",
        "the lot's events",
    );
    let head = cool["id"].as_str().unwrap();
    let elsewhere = json!({"type": "truetrace.record/v1", "event": "note", "actor": farm_id,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "lots": [{"gtin": PADDY_GTIN, "lot": "OFF-1", "prev": head}], "kde": {"note": "moved to shed 2"}});
    let (status, stored) = post_json(
        &demo,
        "/api/v1/records",
        &sign_with_key_file(&demo, "chishang-farm", &elsewhere),
    );
    assert_eq!(status, 201, "{stored}");
    let other_head = stored["id"].as_str().unwrap().to_owned();
    click(&phone, "#events [data-event=note]");
    wait_until(
        &phone,
        "document.getElementById('action-form')",
        "the note form",
    );
    fill(&phone, "#a-temperature", "5.5");
    click(&phone, "#a-submit");
    wait_until(
        &phone,
        "document.querySelector('#result .stale .resign')",
        "the stale record's card",
    );
    wait_until(
        &phone,
        "document.querySelector('#result .stale-what').innerText.includes('Chishang Farm')",
        "what changed, and who changed it",
    );
    demo.shot(&phone, "stale-en");
    let size = demo.log_size();
    click(&phone, "#result .resign");
    wait_until(
        &phone,
        "document.querySelector('#result .alert.ok')",
        "the record signed again",
    );
    assert_eq!(demo.log_size(), size + 1);
    let mine = demo.head_record(PADDY_GTIN, "OFF-1");
    assert_eq!(mine["record"]["event"], "note");
    assert_eq!(mine["record"]["kde"]["temperature_c"], "5.5");
    assert_eq!(mine["record"]["lots"][0]["prev"], other_head.as_str());
}

/// A browser without WebCrypto Ed25519: the page says so and the store's records are signed with
/// its platform-held key instead, through the same rules.
#[test]
fn a_browser_without_ed25519_records_with_the_hosted_key_and_says_so() {
    let Some(demo) = Demo::start("field") else {
        return;
    };
    let base = demo.base.to_string();
    let (farm_id, xinyi) = (demo.org_id("Chishang Farm"), demo.org_id("Xinyi"));
    // A lot shipped to the store by the farm's own system.
    let when = |minutes: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    let harvested = json!({"type": "truetrace.record/v1", "event": "harvest", "actor": farm_id, "time": when(30),
        "new_lots": [{"gtin": PADDY_GTIN, "lot": "HOSTED-1", "quantity": {"amount": "20", "unit": "KGM"}}]});
    let (status, first) = post_json(
        &demo,
        "/api/v1/records",
        &sign_with_key_file(&demo, "chishang-farm", &harvested),
    );
    assert_eq!(status, 201, "{first}");
    let shipped = json!({"type": "truetrace.record/v1", "event": "ship", "actor": farm_id, "time": when(20), "to": xinyi,
        "lots": [{"gtin": PADDY_GTIN, "lot": "HOSTED-1", "prev": first["id"]}]});
    let (status, second) = post_json(
        &demo,
        "/api/v1/records",
        &sign_with_key_file(&demo, "chishang-farm", &shipped),
    );
    assert_eq!(status, 201, "{second}");

    let browser = demo.phone("no-ed25519", None);
    let phone = phone_tab(&browser);
    phone
        .call_method(headless_chrome::protocol::cdp::Page::AddScriptToEvaluateOnNewDocument {
            source: "const make = crypto.subtle.generateKey.bind(crypto.subtle);
                     crypto.subtle.generateKey = (algorithm, ...rest) =>
                       (algorithm && (algorithm.name || algorithm) === 'Ed25519')
                         ? Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'))
                         : make(algorithm, ...rest);"
                .into(),
            world_name: None,
            include_command_line_api: None,
            run_immediately: None,
        })
        .unwrap();
    let (email, password) = demo.account("Xinyi");
    login(&phone, &base, &email, &password, "/field");
    goto(&phone, &format!("{base}/field?lang=zh-Hant"));
    wait_until(
        &phone,
        "document.getElementById('device').dataset.status === 'hosted'",
        "the fallback",
    );
    assert!(
        text(&phone, "#device-state").contains("平台代管"),
        "{}",
        text(&phone, "#device-state")
    );
    demo.shot(&phone, "hosted-fallback-zh");
    record_on_lot(&phone, &base, "HOSTED-1", "receive", |_| {});
    assert!(
        text(&phone, "#result").contains("已記錄"),
        "{}",
        text(&phone, "#result")
    );
    let received = demo.head_record(PADDY_GTIN, "HOSTED-1");
    assert_eq!(received["record"]["event"], "receive");
    assert_eq!(received["record"]["actor"], xinyi.as_str());
    let page = demo
        .agent
        .get(&format!("{base}/01/{PADDY_GTIN}/10/HOSTED-1?lang=en"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(
        page.matches("signed with a platform-hosted key").count(),
        1,
        "the receipt only"
    );
}

/// A recall issued on the farm admin's phone (signed with its device key) shows at the top of the
/// rice's provenance page, embed card and shop page on a consumer's phone in both languages,
/// the store's counter lists what to pull, and the lift shows. Screenshots: recall-*.png.
#[test]
fn a_recall_signed_on_a_phone_shows_at_the_top_of_every_page_in_both_languages() {
    let Some(demo) = Demo::start("field") else {
        return;
    };
    let rice_page = format!("{}/01/{RICE}/10/RICE-2611-01", demo.base);
    let (_farm_phone, farm) = admin_phone(&demo, "Chishang Farm", "zh-Hant", None);
    let keyid = phone_keyid(&farm);
    goto(
        &farm,
        &format!(
            "{}/recalls?lot={PADDY}/PADDY-2611-A&lang=zh-Hant",
            demo.base
        ),
    );
    wait_until(
        &farm,
        "document.getElementById('signer').dataset.signer === 'device'",
        "the page to find the device key",
    );
    select(&farm, "#recall-form select[name=class]", "I");
    fill(
        &farm,
        "#recall-form input[name=reason]",
        "Listeria monocytogenes found in a mill sample",
    );
    fill(
        &farm,
        "#recall-form input[name=reason_zh]",
        "碾米廠樣品檢出李斯特菌",
    );
    fill(
        &farm,
        "#recall-form input[name=instructions]",
        "Do not eat it; bring it back for a full refund",
    );
    fill(
        &farm,
        "#recall-form input[name=instructions_zh]",
        "請勿食用，可持商品回門市全額退款",
    );
    fill(&farm, "#recall-form input[name=contact]", "0800-888-123");
    click(&farm, "#issue-recall");
    wait_until(
        &farm,
        "location.search.startsWith('?done=')",
        "the notice to be stored",
    );
    let id = eval(
        &farm,
        "return new URLSearchParams(location.search).get('done');",
    );
    let (status, notice) = demo.get(&format!("/api/v1/records/{}", id.as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(
        notice["envelope"]["signatures"][0]["keyid"],
        keyid.as_str(),
        "signed with the phone's own key"
    );
    assert_eq!(
        notice["envelope"]["payloadType"],
        "application/vnd.truetrace.recall+json"
    );
    demo.shot(&farm, "recall-staff-zh");

    // A consumer's phone: the banner first, in the page's language, and nothing wider than it.
    let consumer_browser = demo.phone("consumer", None);
    let consumer = phone_tab(&consumer_browser);
    for (lang, words) in [
        ("zh-Hant", "碾米廠樣品檢出李斯特菌"),
        ("en", "Listeria monocytogenes found"),
    ] {
        goto(&consumer, &format!("{rice_page}?lang={lang}"));
        let layout = eval(
            &consumer,
            "const b = document.querySelector('[data-recall=in-force]'); const p = document.getElementById('product-name');
             return {banner: b ? b.getBoundingClientRect().top : null, product: p.getBoundingClientRect().top,
                     width: document.documentElement.scrollWidth, text: b ? b.innerText : ''};",
        );
        assert!(
            layout["banner"].as_f64().unwrap() < layout["product"].as_f64().unwrap(),
            "{lang}: {layout}"
        );
        assert!(
            layout["width"].as_u64().unwrap() <= u64::from(PHONE_WIDTH),
            "{lang}: no sideways scrolling: {layout}"
        );
        assert!(
            layout["text"].as_str().unwrap().contains(words),
            "{lang}: {layout}"
        );
        demo.shot(&consumer, &format!("recall-provenance-{lang}"));
    }
    goto(
        &consumer,
        &format!("{}/embed/01/{RICE}/10/RICE-2611-01?lang=zh-Hant", demo.base),
    );
    assert!(text(&consumer, ".tt-recall").contains("第 I 級回收"));
    demo.shot(&consumer, "recall-embed-zh");
    goto(&consumer, &format!("{}/shop/{RICE}?lang=en", demo.base));
    assert!(text(&consumer, "[data-recall=in-force]").contains("Class I recall"));
    demo.shot(&consumer, "recall-shop-en");

    // The store's counter on its phone: what to pull, and how much.
    let store_browser = demo.phone("store", None);
    let store = phone_tab(&store_browser);
    let (email, password) = demo.account("Xinyi");
    login(&store, &demo.base, &email, &password, "/staff/pickups");
    assert!(text(&store, "#pull-list").contains("RICE-2611-01"));
    demo.shot(&store, "recall-pull-en");

    // The recall page on a desktop browser holding the same key, and the lift from it.
    desktop(&farm);
    goto(&farm, &format!("{}/recalls?lang=en", demo.base));
    wait_until(
        &farm,
        "document.getElementById('signer').dataset.signer === 'device'",
        "the page to find the device key",
    );
    demo.shot(&farm, "recall-staff-desktop-en");
    click(&farm, ".lift-form button[type=submit]");
    wait_until(
        &farm,
        "location.search.startsWith('?done=')",
        "the lift to be stored",
    );
    goto(&consumer, &format!("{rice_page}?lang=en"));
    assert!(text(&consumer, "[data-recall=lifted]").contains("was lifted on"));
    demo.shot(&consumer, "recall-lifted-en");
}
