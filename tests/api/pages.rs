//! The consumer's provenance page and the GS1 Digital Link resolver.

use crate::helpers::*;
use serde_json::json;

pub(crate) fn get_with(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, ureq::http::HeaderMap, String) {
    let mut request = agent().get(&app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().expect("answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// A farm lot shipped to a mill and milled into a rice lot, with a listing URL and hostile text.
pub(crate) fn milled(app: &TestApp) -> (Org, Org, String) {
    app.product(PADDY);
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": RICE, "name": "Chishang rice 2 kg",
        "name_zh": "池上米 2 公斤", "listing_url": "https://shop.example.com/rice"}),
    );
    assert_eq!(created.status, 201);
    let farm = app.org("Farm <b>A</b>", &["producer"]);
    let mill = app.org("Mill", &["processor"]);
    let mut h = harvest(&farm, PADDY, "P<script>", 0);
    h["kde"]["note"] = json!("<script>alert(1)</script>");
    assert_eq!(app.submit(&sign(&farm.key, &h)).status, 201);
    let mut ship = on_lot("ship", &farm, PADDY, "P<script>", &record_id(&h), 1);
    ship["to"] = json!(mill.id);
    assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
    let receive = on_lot("receive", &mill, PADDY, "P<script>", &record_id(&ship), 2);
    assert_eq!(app.submit(&sign(&mill.key, &receive)).status, 201);
    let transform = json!({"type": "truetrace.record/v1", "event": "transform", "actor": mill.id, "time": at(3),
        "lots": [{"gtin": PADDY, "lot": "P<script>", "prev": record_id(&receive)}],
        "new_lots": [{"gtin": RICE, "lot": "R1", "quantity": {"amount": "300", "unit": "H87"}}]});
    assert_eq!(app.submit(&sign(&mill.key, &transform)).status, 201);
    (farm, mill, record_id(&transform))
}

#[test]
fn the_page_shows_the_journey_verification_and_both_ways_onward_in_both_languages() {
    for backend in backends() {
        let app = spawn_app(backend);
        milled(&app);
        let (status, headers, zh) = get_with(
            &app,
            &format!("/01/{RICE}/10/R1"),
            &[("Accept-Language", "zh-TW,zh;q=0.9")],
        );
        assert_eq!(status, 200);
        assert_eq!(headers["content-language"], "zh-Hant");
        assert_eq!(
            zh.matches("<li class=\"step ok\"").count(),
            4,
            "harvest, ship, receive, transform"
        );
        assert!(zh.contains("data-state=\"verified\""));
        assert!(zh.contains("池上米 2 公斤") && zh.contains("線上購買") && zh.contains("門市取貨"));
        // "Buy online" goes through /go, which counts the click and redirects to the listing.
        assert!(
            zh.contains("href=\"/go/04712345000022?lot=R1&#38;ch=direct\""),
            "{zh}"
        );
        assert!(zh.contains("\"hasGS1DigitalLink\""));
        let (_, headers, en) = get_with(
            &app,
            &format!("/01/{RICE}/10/R1"),
            &[("Accept-Language", "en-US")],
        );
        assert_eq!(headers["content-language"], "en");
        assert!(
            en.contains("This package's journey is genuine")
                && en.contains("Buy online")
                && en.contains("Pick up in store")
        );
        assert!(en.contains("Harvested") && en.contains("Processed"));
        // Switching language is remembered in a cookie.
        let (_, headers, _) = get_with(
            &app,
            &format!("/01/{RICE}/10/R1?lang=en"),
            &[("Accept-Language", "zh-TW")],
        );
        assert!(
            headers["set-cookie"]
                .to_str()
                .unwrap()
                .starts_with("lang=en")
        );
        let (_, _, remembered) = get_with(
            &app,
            &format!("/01/{RICE}/10/R1"),
            &[("Accept-Language", "zh-TW"), ("Cookie", "lang=en")],
        );
        assert!(remembered.contains("This package's journey is genuine"));
    }
}

#[test]
fn text_a_producer_wrote_is_escaped() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (status, _, page) = get_with(
        &app,
        &format!("/01/{PADDY}/10/P%3Cscript%3E"),
        &[("Accept-Language", "en")],
    );
    assert_eq!(status, 200);
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "kde value must be escaped"
    );
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(
        !page.contains("<code id=\"lot-code\">P<script>"),
        "lot code must be escaped"
    );
    assert!(!page.contains("<b>A</b>"), "organization names are escaped");
    // The JSON-LD and the page's own "verify it yourself" script, and no other script element.
    let scripts: Vec<&str> = page
        .match_indices("<script")
        .map(|(at, _)| &page[at..at + page[at..].find('>').unwrap_or(0) + 1])
        .collect();
    assert_eq!(
        scripts,
        [
            "<script type=\"application/ld+json\">",
            "<script src=\"/static/verify/bundle.js\" defer>"
        ],
        "only the JSON-LD and the verification script elements"
    );
}

#[test]
fn a_tampered_record_shows_the_warning() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let path = app.database_url.trim_start_matches("sqlite://").to_owned();
    let mut conn = <diesel::SqliteConnection as diesel::Connection>::establish(&path).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "DROP TRIGGER records_no_update; UPDATE records SET payload = CAST(REPLACE(CAST(payload AS TEXT), '\"100\"', '\"900\"') AS BLOB) WHERE log_index = 0;",
    )
    .unwrap();
    let (status, _, page) = get_with(
        &app,
        &format!("/01/{RICE}/10/R1"),
        &[("Accept-Language", "en")],
    );
    assert_eq!(status, 200);
    assert!(
        page.contains("data-state=\"broken\""),
        "the verification panel warns"
    );
    assert!(page.contains("Part of this package's journey cannot be trusted"));
    assert!(page.contains("payload was altered"));
    assert_eq!(page.matches("<li class=\"step bad\"").count(), 1);
}

#[test]
fn malformed_links_are_400_and_unknown_ones_404_never_500() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for path in [
        "/01/04712345000023/10/R1",
        "/01/04712345000022/10/ABCDEFGHIJKLMNOPQRSTU",
        "/01/04712345000022/10/A%20B",
        "/01/04712345000022/21/S/10/R1",
        "/01//10/R1",
        "/01/04712345000022/10/R%00",
        "/01/04712345000022/10",
    ] {
        let (status, headers, body) = get_with(&app, path, &[("Accept-Language", "en")]);
        assert_eq!(status, 400, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body.contains("This code's link is not valid"), "{path}");
    }
    let (status, headers, body) = get_with(
        &app,
        &format!("/01/{RICE}/10/NOPE"),
        &[("Accept-Language", "zh-TW")],
    );
    assert_eq!(status, 404);
    assert!(body.contains("找不到這個產品或批次"));
    assert!(headers.contains_key("link"));
    assert_eq!(get_with(&app, "/01/04712345000039", &[]).0, 404);
    let (status, _, body) = get_with(&app, &format!("/01/{RICE}"), &[("Accept-Language", "en")]);
    assert_eq!(status, 200);
    assert!(
        body.contains("/01/04712345000022/10/R1"),
        "the product page lists its lots"
    );
}

#[test]
fn resolver_link_types_headers_and_methods() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let page = format!("/01/{RICE}/10/R1");
    let (status, headers, body) = get_with(&app, &format!("{page}?linkType=linkset"), &[]);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/linkset+json");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let linkset: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        linkset["linkset"][0]["https://gs1.org/voc/pip"][0]["href"]
            .as_str()
            .unwrap()
            .contains("lot=R1")
    );
    let (_, _, by_accept) = get_with(&app, &page, &[("Accept", "application/linkset+json")]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&by_accept).unwrap(),
        linkset
    );
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let response = no_redirects
        .get(&app.url(&format!("{page}?linkType=gs1:pip")))
        .call()
        .unwrap();
    assert_eq!(response.status(), 307);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://shop.example.com/rice?gtin=")
    );
    let (status, _, _) = get_with(&app, &format!("{page}?linkType=gs1:traceability"), &[]);
    assert_eq!(status, 200);
    let head = agent().head(&app.url(&page)).call().unwrap();
    assert_eq!(head.status(), 200);
    assert!(
        head.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"linkset\"")
    );
    let options = agent().options(&app.url(&page)).call().unwrap();
    assert_eq!(options.status(), 204);
    assert!(
        options.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("HEAD")
    );
    let (status, _, body) = get_with(&app, "/.well-known/gs1resolver", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("supportedPrimaryKeys"));
}

#[test]
fn the_etag_changes_when_any_upstream_lot_gets_a_record() {
    let app = spawn_app(Backend::Sqlite);
    let (_, mill, _) = milled(&app);
    let page = format!("/01/{RICE}/10/R1");
    let (_, headers, _) = get_with(&app, &page, &[("Accept-Language", "en")]);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = get_with(
        &app,
        &page,
        &[("Accept-Language", "en"), ("If-None-Match", &etag)],
    );
    assert_eq!(status, 304);
    // A note on the upstream paddy lot (the transform is its head) changes the rice page's ETag.
    let head = app.head(PADDY, "P%3Cscript%3E");
    let note = on_lot("note", &mill, PADDY, "P<script>", &head, 4);
    assert_eq!(app.submit(&sign(&mill.key, &note)).status, 201);
    let (status, headers, _) = get_with(
        &app,
        &page,
        &[("Accept-Language", "en"), ("If-None-Match", &etag)],
    );
    assert_eq!(status, 200);
    assert_ne!(headers["etag"].to_str().unwrap(), etag);
}

#[test]
fn qr_codes_encode_the_digital_link() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (status, headers, svg) = get_with(
        &app,
        &format!("/api/v1/lots/{RICE}/R1/qr.svg?size=200"),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    let mut png = agent()
        .get(&app.url(&format!("/api/v1/lots/{RICE}/R1/qr.png")))
        .call()
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.body_mut().read_to_vec().unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (status, _, body) = get_with(&app, &format!("/api/v1/lots/{RICE}/R1/qr.png?size=5"), &[]);
    assert_eq!(status, 422);
    assert!(body.contains("between 64 and 2048"));
    assert_eq!(
        get_with(&app, "/api/v1/lots/04712345000023/R1/qr.svg", &[]).0,
        400
    );
}

#[test]
fn epcis_events_validate_against_the_official_schema() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (status, headers, by_link_type) =
        get_with(&app, &format!("/01/{RICE}/10/R1?linkType=gs1:epcis"), &[]);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/ld+json");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let document: serde_json::Value = serde_json::from_str(&by_link_type).unwrap();
    assert_eq!(document["type"], "EPCISDocument");
    assert_eq!(
        document["epcisBody"]["eventList"][0]["type"],
        "TransformationEvent"
    );
    let (_, _, paddy) = get_with(
        &app,
        &format!("/01/{PADDY}/10/P%3Cscript%3E"),
        &[("Accept", "application/ld+json")],
    );
    let paddy: serde_json::Value = serde_json::from_str(&paddy).unwrap();
    let steps: Vec<&str> = paddy["epcisBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["bizStep"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["commissioning", "shipping", "receiving", "commissioning"]
    );

    for body in [by_link_type, paddy.to_string()] {
        if let Some(errors) = epcis_schema_errors(&body) {
            assert!(errors.is_empty(), "EPCIS schema errors:\n{errors}");
        }
    }
}

#[test]
fn a_lot_has_a_printable_label_sheet() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (status, headers, sheet) =
        get_with(&app, &format!("/labels/01/{RICE}/10/R1?count=42"), &[]);
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(sheet.matches("class=\"label\"").count(), 42);
    assert!(
        sheet.contains("池上米 2 公斤")
            && sheet.contains("Chishang rice 2 kg")
            && sheet.contains("/qr.svg")
    );
    let (_, _, page) = get_with(
        &app,
        &format!("/01/{RICE}/10/R1"),
        &[("Accept-Language", "en")],
    );
    assert!(
        page.contains(&format!("href=\"/labels/01/{RICE}/10/R1\"")),
        "reachable from the lot's page"
    );
    let too_many = format!("/labels/01/{RICE}/10/R1?count=1000");
    let (status, _, body) = get_with(&app, &too_many, &[("Accept-Language", "en")]);
    assert_eq!(status, 422);
    assert!(body.contains("between 1 and 210"), "{body}");
    let (status, _, body) = get_with(&app, &too_many, &[("Accept-Language", "zh-TW")]);
    assert_eq!(status, 422);
    assert!(
        body.contains("必須介於 1 到 210 之間"),
        "an error page in Chinese: {body}"
    );
    assert_eq!(
        get_with(&app, &format!("/labels/01/{RICE}/10/NOPE"), &[]).0,
        404
    );
}

/// The vendored QR decoder is the published file, byte for byte: its SHA-256 is the one
/// static/vendor/jsqr/README.md records (and says how to update).
#[test]
fn vendored_files_match_their_recorded_checksums() {
    use sha2::Digest as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/vendor/jsqr");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let recorded = readme
        .lines()
        .find_map(|line| line.strip_prefix("- SHA-256 of `jsQR.js`: `"))
        .and_then(|rest| rest.split('`').next())
        .expect("the README records the checksum");
    let actual = hex::encode(sha2::Sha256::digest(
        std::fs::read(dir.join("jsQR.js")).unwrap(),
    ));
    assert_eq!(actual, recorded);
    assert!(
        dir.join("LICENSE").exists(),
        "the licence is vendored beside it"
    );
}

/// Cached pages stay fresh: a record on a lot, or on a lot upstream of it, or a receipt of the
/// product by a store, shows on the next request (not only after the cache's 5 seconds); a
/// record on an unrelated lot changes nothing on the page.
#[test]
fn cached_pages_show_every_record_on_their_lots_and_upstream_at_once() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        app.product(RICE);
        let farm = app.org("Chishang Farm", &["producer", "processor"]);
        let store = app.org("Green Leaf", &["retailer"]);
        let paddy = harvest(&farm, PADDY, "P1", 0);
        assert_eq!(app.submit(&sign(&farm.key, &paddy)).status, 201);
        let made = json!({"type": "truetrace.record/v1", "event": "transform", "actor": farm.id, "time": at(10),
            "lots": [{"gtin": PADDY, "lot": "P1", "prev": record_id(&paddy)}],
            "new_lots": [{"gtin": RICE, "lot": "R1", "quantity": {"amount": "5", "unit": "H87"}}]});
        assert_eq!(app.submit(&sign(&farm.key, &made)).status, 201);
        let page = |app: &TestApp| {
            let mut r = agent()
                .get(&app.url(&format!("/01/{RICE}/10/R1")))
                .header("Accept-Language", "en")
                .call()
                .unwrap();
            r.body_mut().read_to_string().unwrap()
        };
        let first = page(&app);
        assert_eq!(first.matches("class=\"step ok\"").count(), 2);
        assert_eq!(page(&app), first, "served from the cache");
        // Unrelated: a harvest of another lot leaves the page as it was.
        assert_eq!(
            app.submit(&sign(&farm.key, &harvest(&farm, PADDY, "P2", 20)))
                .status,
            201
        );
        assert_eq!(page(&app), first);
        // Upstream: a note on the paddy the rice came from.
        let note = json!({"type": "truetrace.record/v1", "event": "note", "actor": farm.id, "time": at(30),
            "lots": [{"gtin": PADDY, "lot": "P1", "prev": record_id(&made)}], "kde": {"note": "sample kept"}});
        assert_eq!(app.submit(&sign(&farm.key, &note)).status, 201);
        let second = page(&app);
        assert!(
            second.contains("sample kept"),
            "the upstream note shows at once"
        );
        // The lot itself shipped and received by a store: the page lists the store at once.
        let ship = json!({"type": "truetrace.record/v1", "event": "ship", "actor": farm.id, "time": at(40), "to": store.id,
            "lots": [{"gtin": RICE, "lot": "R1", "prev": record_id(&made)}]});
        assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
        let receive = on_lot("receive", &store, RICE, "R1", &record_id(&ship), 50);
        assert_eq!(app.submit(&sign(&store.key, &receive)).status, 201);
        let third = page(&app);
        assert_eq!(third.matches("class=\"step ok\"").count(), 5, "{third}");
        assert!(third.contains("Green Leaf"));
    }
}
