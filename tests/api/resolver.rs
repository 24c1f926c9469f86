//! The GS1 Digital Link resolver against the conformance statements of the GS1-Conformant
//! Resolver standard (gs1/GS1DL-resolver-testsuite: Conformance1_2.txt and the checks of
//! GS1DigitalLinkResolverTestSuite.js), the URI syntax's key qualifiers and the data attributes
//! of the GS1 Barcode Syntax Dictionary (gs1/gs1-syntax-engine); and the public JSON API's CORS,
//! ETags and structured provenance. Each test names the statement it checks.

use crate::helpers::*;
use serde_json::{Value, json};
use ureq::http::HeaderMap;

/// An answer as sent: redirects are not followed.
struct Raw {
    status: u16,
    headers: HeaderMap,
    /// The body as text (empty when it is not UTF-8, as a gzipped one is), and as sent.
    body: String,
    bytes: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn no_redirects() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn call(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).unwrap();
    let mut response = no_redirects().run(request).expect("the server answers");
    let bytes = response.body_mut().read_to_vec().unwrap_or_default();
    Raw {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: String::from_utf8(bytes.clone()).unwrap_or_default(),
        bytes,
    }
}

fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Raw {
    call(app, "GET", path, headers)
}

const LINKSET: &str = "application/linkset+json";
const LOT: &str = "/01/04712345000022/10/R1";
const GTIN_LEVEL: &str = "/01/04712345000022";

/// A farm's paddy lot P1 milled into rice lot R1; the rice has a listing, the paddy none.
pub(crate) fn milled(app: &TestApp) -> (Org, Org) {
    app.product(PADDY);
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": RICE, "name": "Chishang rice 2 kg", "name_zh": "池上米 2 公斤",
                "listing_url": "https://shop.example.com/rice"}),
    );
    assert_eq!(created.status, 201);
    let farm = app.org("Chishang Farm", &["producer"]);
    let mill = app.org("Chishang Mill", &["processor"]);
    let h = harvest(&farm, PADDY, "P1", 0);
    assert_eq!(app.submit(&sign(&farm.key, &h)).status, 201);
    let mut ship = on_lot("ship", &farm, PADDY, "P1", &record_id(&h), 1);
    ship["to"] = json!(mill.id);
    assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
    let receive = on_lot("receive", &mill, PADDY, "P1", &record_id(&ship), 2);
    assert_eq!(app.submit(&sign(&mill.key, &receive)).status, 201);
    let transform = json!({"type": "truetrace.record/v1", "event": "transform", "actor": mill.id, "time": at(3),
        "lots": [{"gtin": PADDY, "lot": "P1", "prev": record_id(&receive)}],
        "new_lots": [{"gtin": RICE, "lot": "R1", "quantity": {"amount": "40", "unit": "H87"}}]});
    assert_eq!(app.submit(&sign(&mill.key, &transform)).status, 201);
    (farm, mill)
}

/// Checks what the standard asks of every linkset: RFC 9264 JSON, every href absolute, every
/// link with a title, one default link per anchor carrying no optional attribute. Returns the
/// anchors.
fn check_linkset(app: &TestApp, linkset: &Value) -> Vec<String> {
    let origin = app.url("/");
    let mut anchors = Vec::new();
    for level in linkset["linkset"].as_array().expect("a linkset array") {
        let anchor = level["anchor"].as_str().expect("an anchor").to_owned();
        assert!(anchor.starts_with(&origin), "absolute anchor {anchor}");
        let default = level["https://gs1.org/voc/defaultLink"]
            .as_array()
            .expect("a default link");
        assert_eq!(default.len(), 1, "exactly one default link at {anchor}");
        let keys: Vec<&String> = default[0].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["href", "title"],
            "no optional attribute on the default"
        );
        for (relation, links) in level.as_object().unwrap() {
            if relation == "anchor" || relation == "itemDescription" {
                continue;
            }
            assert!(relation.starts_with("https://gs1.org/voc/"), "{relation}");
            for link in links.as_array().unwrap() {
                let href = link["href"].as_str().unwrap();
                assert!(
                    href.starts_with("http://") || href.starts_with("https://"),
                    "absolute href {href} ({relation})"
                );
                assert!(
                    !link["title"].as_str().unwrap_or("").is_empty(),
                    "a title on {relation}"
                );
                // GS1's linkset schema takes two-letter tags with an optional two-letter
                // subtag (`zh-TW`, `en`), not `zh-Hant`.
                for tag in link["hreflang"].as_array().into_iter().flatten() {
                    let tag = tag.as_str().unwrap();
                    let parts: Vec<&str> = tag.split('-').collect();
                    assert!(
                        parts.len() <= 2 && parts.iter().all(|p| p.len() == 2),
                        "hreflang {tag}"
                    );
                }
            }
        }
        anchors.push(anchor);
    }
    anchors
}

#[test]
fn a_linkset_answers_at_every_level_by_link_type_and_by_accept_with_vary() {
    for backend in backends() {
        let app = spawn_app(backend);
        milled(&app);
        let lot_anchor = app.url(LOT);
        let gtin_anchor = app.url(GTIN_LEVEL);
        // (path, the anchors its linkset must hold: each level up to the primary key)
        let levels: [(&str, Vec<&str>); 6] = [
            (LOT, vec![&lot_anchor, &gtin_anchor]),
            (
                "/01/04712345000022/10/R1/21/S1",
                vec![&lot_anchor, &gtin_anchor],
            ),
            ("/01/04712345000022/10/R1/", vec![&lot_anchor, &gtin_anchor]),
            (GTIN_LEVEL, vec![&gtin_anchor]),
            ("/01/04712345000022/22/V1/10/R1", vec![&gtin_anchor]),
            ("/01/04712345000022/235/TPX1", vec![&gtin_anchor]),
        ];
        for (path, expected) in levels {
            let by_link_type = get(&app, &format!("{path}?linkType=linkset"), &[]);
            let by_all = get(&app, &format!("{path}?linkType=all"), &[]);
            let by_accept = get(&app, path, &[("Accept", LINKSET)]);
            for answer in [&by_link_type, &by_all, &by_accept] {
                assert_eq!(answer.status, 200, "{path}: {}", answer.body);
                assert_eq!(answer.header("content-type"), LINKSET, "{path}");
                assert!(answer.header("vary").contains("Accept"), "{path}");
                assert_eq!(answer.header("access-control-allow-origin"), "*");
                assert!(answer.header("link").contains("rel=\"linkset\""), "{path}");
                assert!(
                    answer.header("link").contains(
                        "<https://ref.gs1.org/standards/resolver/linkset-context>; \
                         rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
                    ),
                    "{path}: the JSON-LD context"
                );
                let anchors = check_linkset(&app, &answer.json());
                assert_eq!(anchors, expected, "{path}");
            }
            assert_eq!(by_link_type.json(), by_accept.json(), "{path}");
            assert_eq!(by_link_type.json(), by_all.json(), "{path}");
        }
        // The lot's linkset offers its EPCIS events and recall status.
        let linkset = get(&app, &format!("{LOT}?linkType=linkset"), &[]).json();
        assert_eq!(
            linkset["linkset"][0]["https://gs1.org/voc/epcis"][0],
            json!({"href": format!("{lot_anchor}?linkType=gs1:epcis"), "title": "EPCIS events",
                   "type": "application/ld+json"})
        );
        assert_eq!(
            linkset["linkset"][0]["https://gs1.org/voc/recallStatus"][0]["href"],
            app.url(&format!("/api/v1/lots/{RICE}/R1/recalls"))
        );
        // The page advertises the linkset at its own level and varies on Accept too.
        let page = get(&app, GTIN_LEVEL, &[]);
        assert_eq!(page.status, 200);
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(page.header("vary").contains("Accept"));
        assert!(
            page.header("link")
                .contains(&format!("<{gtin_anchor}?linkType=linkset>"))
        );
    }
}

#[test]
fn accept_q_values_are_honoured_and_q_zero_means_no() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for (accept, expected) in [
        (LINKSET, LINKSET),
        ("application/linkset+json;q=0, text/html", "text/html"),
        ("application/linkset+json;q=0", "text/html"),
        ("text/html;q=0.5, application/linkset+json", LINKSET),
        ("text/html, application/linkset+json;q=0.9", "text/html"),
        ("text/html;q=0, application/linkset+json;q=0.1", LINKSET),
        ("*/*", "text/html"),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html",
        ),
        ("application/json", "application/json"),
        ("application/ld+json", "application/ld+json"),
        ("application/ld+json;q=0, */*;q=0.1", "text/html"),
    ] {
        let answer = get(&app, LOT, &[("Accept", accept)]);
        assert_eq!(answer.status, 200, "{accept}");
        assert!(
            answer.header("content-type").starts_with(expected),
            "{accept}: {}",
            answer.header("content-type")
        );
    }
    // application/json gives the linkset itself.
    let json_answer = get(&app, LOT, &[("Accept", "application/json")]).json();
    assert!(json_answer["linkset"].is_array());
}

#[test]
fn accept_language_q_values_choose_the_page_language_and_q_zero_means_no() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for (languages, english) in [
        ("zh-TW;q=0, en;q=0.1", true),
        ("en;q=0", false),
        ("en;q=0.4, zh-TW;q=0.6", false),
        ("zh-TW;q=0.4, en", true),
        ("zh;q=0, fr", true),
    ] {
        let page = get(&app, LOT, &[("Accept-Language", languages)]);
        assert_eq!(page.status, 200);
        let lang = if english {
            "lang=\"en\""
        } else {
            "lang=\"zh-Hant-TW\""
        };
        assert!(page.body.contains(lang), "{languages}: wanted {lang}");
    }
}

#[test]
fn valid_key_qualifiers_walk_up_and_malformed_ones_are_400() {
    for backend in backends() {
        let app = spawn_app(backend);
        milled(&app);
        let gtin_linkset = format!("<{}?linkType=linkset>", app.url(GTIN_LEVEL));
        // (22) and (235), and a lot under a variant the lot table cannot know: the GTIN's page.
        for path in [
            "/01/04712345000022/22/V1",
            "/01/04712345000022/22/V1/10/R1",
            "/01/04712345000022/22/V1/10/R1/21/S1",
            "/01/04712345000022/235/TPX-0001",
        ] {
            let answer = get(&app, path, &[("Accept-Language", "en")]);
            assert_eq!(answer.status, 200, "{path}");
            assert!(
                answer.body.contains("Recent lots"),
                "{path}: the product page"
            );
            assert!(answer.header("link").contains(&gtin_linkset), "{path}");
        }
        // A serial walks up to its lot.
        let serial = get(&app, "/01/04712345000022/10/R1/21/S1", &[]);
        assert_eq!(serial.status, 200);
        assert!(serial.body.contains("R1"));
        // Asked for a link type, a lot the table does not know walks up to the GTIN; its page
        // stays 404 (a made-up lot code must not look like a real one), linking the GTIN's set.
        let unknown = get(&app, "/01/04712345000022/10/KL8G?linkType=linkset", &[]);
        assert_eq!(unknown.status, 200);
        assert_eq!(check_linkset(&app, &unknown.json()), [app.url(GTIN_LEVEL)]);
        let page = get(&app, "/01/04712345000022/10/KL8G", &[]);
        assert_eq!(page.status, 404);
        assert!(page.header("link").contains(&gtin_linkset));
        for path in [
            "/01/04712345000022/10/R1/22/V1",
            "/01/04712345000022/22/V1/235/T1",
            "/01/04712345000022/235/T1/21/S1",
            "/01/04712345000022/22/ABCDEFGHIJKLMNOPQRSTU",
            "/01/04712345000022/235/ABCDEFGHIJKLMNOPQRSTUVWXYZ123",
            "/01/04712345000022/254/X",
            "/01/04712345000022/10/R1/foo",
            "/01/04712345000022/22/V%20",
        ] {
            let answer = get(&app, path, &[("Accept-Language", "en")]);
            assert_eq!(answer.status, 400, "{path}");
            let json_answer = get(&app, path, &[("Accept", "application/json")]);
            assert_eq!(json_answer.status, 400, "{path}");
            assert_eq!(json_answer.json()["error"], "malformed", "{path}");
        }
    }
}

#[test]
fn every_advertised_link_type_redirects_or_answers_as_advertised() {
    for backend in backends() {
        let app = spawn_app(backend);
        milled(&app);
        for level in [LOT, GTIN_LEVEL] {
            let linkset = get(&app, &format!("{level}?linkType=linkset"), &[]).json();
            let own = &linkset["linkset"][0];
            assert_eq!(own["anchor"], app.url(level));
            for (relation, links) in own.as_object().unwrap() {
                let Some(term) = relation.strip_prefix("https://gs1.org/voc/") else {
                    continue;
                };
                let href = links[0]["href"].as_str().unwrap();
                // Asked as a CURIE and as the vocabulary's URI.
                for link_type in [format!("gs1:{term}"), relation.clone()] {
                    let asked = format!("{level}?linkType={link_type}");
                    let answer = get(&app, &asked, &[]);
                    let here = app.url(level);
                    if href == here || href.starts_with(&format!("{here}?")) {
                        assert_eq!(answer.status, 200, "{asked}");
                        if let Some(media) = links[0]["type"].as_str() {
                            assert!(answer.header("content-type").starts_with(media), "{asked}");
                        }
                    } else {
                        assert_eq!(answer.status, 307, "{asked}: {}", answer.body);
                        let location = answer.header("location");
                        assert!(location.starts_with(href), "{asked} -> {location}");
                        assert!(answer.header("link").contains("rel=\"linkset\""));
                        assert_eq!(answer.header("access-control-allow-origin"), "*");
                    }
                }
            }
        }
        // gs1:masterData of the lot leads to its records.
        let master = get(&app, &format!("{LOT}?linkType=gs1:masterData"), &[]);
        assert!(
            master
                .header("location")
                .starts_with(&app.url(&format!("/api/v1/lots/{RICE}/R1/upstream")))
        );
    }
}

#[test]
fn an_unavailable_link_type_is_404_as_json_or_page_and_never_the_page() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for path in [
        format!("{LOT}?linkType=gs1:certificationInfo"),
        // (The EPCIS link type's errors are JSON whatever the Accept, issue 18: tests/api/standards.rs.)
        format!("{GTIN_LEVEL}?linkType=gs1:defaultLinkMulti"),
        format!("/01/{PADDY}/10/P1?linkType=gs1:pip"),
        format!("/01/{PADDY}?linkType=https://gs1.org/voc/pip"),
    ] {
        let page = get(&app, &path, &[("Accept-Language", "en")]);
        assert_eq!(page.status, 404, "{path}");
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(
            !page.body.contains("Recent lots"),
            "{path}: not the product page"
        );
        assert!(page.header("link").contains("rel=\"linkset\""), "{path}");
        let json_answer = get(&app, &path, &[("Accept", "application/json")]);
        assert_eq!(json_answer.status, 404, "{path}");
        assert_eq!(json_answer.json()["error"], "not_found");
        assert!(
            json_answer.json()["message"]
                .as_str()
                .unwrap()
                .contains("no link of type")
        );
    }
}

#[test]
fn redirects_pass_the_query_on_carry_cors_and_the_linkset_link_and_tolerate_a_trailing_slash() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let plain = get(
        &app,
        &format!("{LOT}?linkType=gs1:pip&foo=bar&17=261231"),
        &[],
    );
    assert_eq!(plain.status, 307);
    let location = plain.header("location");
    assert!(
        location.starts_with("https://shop.example.com/rice?gtin=04712345000022&lot=R1"),
        "{location}"
    );
    assert!(
        location.ends_with("&linkType=gs1:pip&foo=bar&17=261231"),
        "{location}"
    );
    assert_eq!(plain.header("access-control-allow-origin"), "*");
    assert!(
        plain
            .header("link")
            .contains(&format!("<{}?linkType=linkset>", app.url(LOT)))
    );
    let slash = get(
        &app,
        &format!("{LOT}/?linkType=gs1:pip&foo=bar&17=261231"),
        &[],
    );
    assert_eq!((slash.status, slash.header("location")), (307, location));
    let recall = get(
        &app,
        &format!("{LOT}/?linkType=gs1:recallStatus&foo=bar"),
        &[],
    );
    assert_eq!(recall.status, 307);
    assert_eq!(
        recall.header("location"),
        app.url(&format!(
            "/api/v1/lots/{RICE}/R1/recalls?linkType=gs1:recallStatus&foo=bar"
        ))
    );
    let product = get(&app, &format!("{GTIN_LEVEL}?linkType=gs1:pip&foo=bar"), &[]);
    assert_eq!(
        product.header("location"),
        "https://shop.example.com/rice?linkType=gs1:pip&foo=bar"
    );
    // The page itself, with and without the slash, answers the same.
    assert_eq!(get(&app, &format!("{LOT}/"), &[]).status, 200);
    assert_eq!(get(&app, &format!("{GTIN_LEVEL}/"), &[]).status, 200);
}

#[test]
fn query_string_data_attributes_are_checked_against_the_syntax_dictionary() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for query in [
        "17=261231",
        "17=261200",
        "3103=000040",
        "99=ANY-1",
        "foo=bar",
    ] {
        assert_eq!(
            get(&app, &format!("{LOT}?{query}"), &[]).status,
            200,
            "{query}"
        );
    }
    for (query, named) in [
        ("17=261399", "not a date"),
        ("17=261231X", "too long"),
        ("99=", "empty"),
        ("01=04712345000022", "belongs in the path"),
        ("10=R1", "belongs in the path"),
        ("21=S1", "belongs in the path"),
        ("414=4712345000015", "belongs in the path"),
        ("37=5", "cannot be used with (01)"),
        ("7=1", "not a GS1 Application Identifier"),
    ] {
        let page = get(
            &app,
            &format!("{LOT}?{query}"),
            &[("Accept-Language", "en")],
        );
        assert_eq!(page.status, 400, "{query}");
        let answer = get(&app, &format!("{LOT}?{query}"), &[("Accept", LINKSET)]);
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.json()["error"], "malformed");
        let message = answer.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(named), "{query}: {message}");
    }
}

#[test]
fn the_resolver_description_answers_get_head_options_and_405_carries_allow() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let description = get(&app, "/.well-known/gs1resolver", &[]);
    assert_eq!(description.status, 200);
    assert_eq!(description.header("access-control-allow-origin"), "*");
    let body = description.json();
    assert_eq!(body["resolverRoot"], app.url(""));
    assert_eq!(
        body["supportedQualifiers"],
        json!(["22", "10", "21", "235"])
    );
    let head = call(&app, "HEAD", "/.well-known/gs1resolver", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for path in ["/.well-known/gs1resolver", LOT, GTIN_LEVEL] {
        let options = call(&app, "OPTIONS", path, &[]);
        assert_eq!(options.status, 204, "{path}");
        for allowed in ["GET", "HEAD", "OPTIONS"] {
            assert!(options.header("allow").contains(allowed), "{path}");
            assert!(
                options
                    .header("access-control-allow-methods")
                    .contains(allowed)
            );
        }
        assert_eq!(options.header("access-control-allow-origin"), "*");
        for method in ["POST", "DELETE", "PUT"] {
            let refused = call(&app, method, path, &[]);
            assert_eq!(refused.status, 405, "{method} {path}");
            assert_eq!(
                refused.header("allow"),
                "GET, HEAD, OPTIONS",
                "{method} {path}"
            );
        }
    }
    let head = call(&app, "HEAD", LOT, &[]);
    assert_eq!(head.status, 200);
    assert!(head.header("link").contains("rel=\"linkset\""));
}

/// Every public GET of the API, with what it answers.
fn public_gets(app: &TestApp, farm: &Org) -> Vec<String> {
    let record = app.get(&format!("/api/v1/lots/{PADDY}/P1")).body["chain"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    vec![
        format!("/api/v1/lots/{RICE}/R1"),
        format!("/api/v1/lots/{RICE}/R1/upstream"),
        format!("/api/v1/lots/{RICE}/R1/provenance"),
        format!("/api/v1/lots/{RICE}/R1/trace"),
        format!("/api/v1/lots/{PADDY}/P1/trace?direction=forward"),
        format!("/api/v1/lots/{RICE}/R1/recalls"),
        format!("/api/v1/records/{record}"),
        "/api/v1/recalls".to_owned(),
        "/api/v1/products".to_owned(),
        format!("/api/v1/products/{RICE}"),
        format!("/api/v1/orgs/{}", farm.id),
        "/api/v1/log".to_owned(),
        "/api/v1/openapi.json".to_owned(),
    ]
}

#[test]
fn every_public_get_of_the_api_is_open_to_other_sites_errors_and_preflight_included() {
    for backend in backends() {
        let app = spawn_app(backend);
        let (farm, _) = milled(&app);
        let origin = [("Origin", "https://shop.example.com")];
        for path in public_gets(&app, &farm).iter().map(String::as_str).chain([
            "/api/v1/lots/04712345000022/NOPE",
            "/api/v1/lots/04712345000023/R1/upstream",
            "/api/v1/records/nope",
            "/api/v1/lots/04712345000022/R1/trace?direction=sideways",
            "/api/v1/no-such-thing",
            "/api/v1/lots/04712345000022/R1/qr.svg",
        ]) {
            let answer = get(&app, path, &origin);
            assert_eq!(answer.header("access-control-allow-origin"), "*", "{path}");
            assert!(
                answer
                    .header("access-control-expose-headers")
                    .contains("ETag"),
                "{path}"
            );
            let preflight = call(
                &app,
                "OPTIONS",
                path,
                &[
                    ("Origin", "https://shop.example.com"),
                    ("Access-Control-Request-Method", "GET"),
                    ("Access-Control-Request-Headers", "if-none-match"),
                ],
            );
            assert_eq!(preflight.status, 204, "{path}");
            assert_eq!(preflight.header("access-control-allow-origin"), "*");
            assert!(
                preflight
                    .header("access-control-allow-methods")
                    .contains("GET")
            );
            assert!(
                preflight
                    .header("access-control-allow-headers")
                    .contains("If-None-Match")
            );
        }
        // Admin calls and submissions stay closed to other sites' scripts.
        for path in ["/api/v1/orgs", "/api/v1/products", "/api/v1/records"] {
            let preflight = call(
                &app,
                "OPTIONS",
                path,
                &[
                    ("Origin", "https://evil.example"),
                    ("Access-Control-Request-Method", "POST"),
                ],
            );
            assert_eq!(
                preflight.header("access-control-allow-origin"),
                "",
                "{path}"
            );
        }
        let created = call(&app, "POST", "/api/v1/orgs", &origin);
        assert_eq!(created.status, 401);
        assert_eq!(created.header("access-control-allow-origin"), "");
    }
}

#[test]
fn public_json_carries_an_etag_answers_304_and_recallable_answers_are_public_no_cache() {
    for backend in backends() {
        let app = spawn_app(backend);
        let (farm, mill) = milled(&app);
        let mut before = Vec::new();
        for path in public_gets(&app, &farm) {
            let answer = get(&app, &path, &[]);
            assert_eq!(answer.status, 200, "{path}");
            let etag = answer.header("etag").to_owned();
            assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
            let again = get(&app, &path, &[("If-None-Match", &etag)]);
            assert_eq!(again.status, 304, "{path}");
            assert!(again.body.is_empty());
            assert_eq!(again.header("etag"), etag);
            assert_eq!(again.header("access-control-allow-origin"), "*");
            let head = call(&app, "HEAD", &path, &[]);
            assert_eq!(head.status, 200, "HEAD {path}");
            assert!(head.body.is_empty(), "HEAD {path}");
            assert_eq!(head.header("etag"), etag, "HEAD {path}");
            assert_eq!(head.header("access-control-allow-origin"), "*");
            let other = get(&app, &path, &[("If-None-Match", "\"something-else\"")]);
            assert_eq!(other.status, 200, "{path}");
            let cache = answer.header("cache-control");
            if path.starts_with("/api/v1/lots/") || path == "/api/v1/recalls" {
                assert_eq!(cache, "public, no-cache", "{path}");
            }
            if path.starts_with("/api/v1/records/") {
                assert_eq!(cache, "public, max-age=86400", "{path}");
            }
            before.push((path, etag));
        }
        // A new record on the rice lot changes the ETag of everything that shows it.
        let head = app.head(RICE, "R1");
        let note = on_lot("note", &mill, RICE, "R1", &head, 5);
        assert_eq!(app.submit(&sign(&mill.key, &note)).status, 201);
        for (path, etag) in &before {
            // (A note changes no lot of the trace nor any recall.)
            if path.starts_with(&format!("/api/v1/lots/{RICE}/R1"))
                && !path.ends_with("/recalls")
                && !path.ends_with("/trace")
            {
                let answer = get(&app, path, &[("If-None-Match", etag)]);
                assert_eq!(answer.status, 200, "{path} changed");
                assert_ne!(answer.header("etag"), etag, "{path}");
            }
        }
    }
}

/// Pages travel gzipped to the browsers that ask (every phone browser does), compressed once
/// when rendered; clients that do not ask, or refuse gzip, get them as rendered. Each encoding
/// is its own representation: its own strong ETag, and `Vary: Accept-Encoding`.
#[test]
fn cached_pages_travel_gzipped_to_browsers_that_ask() {
    use std::io::Read as _;
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let browser = [("Accept-Encoding", "gzip, deflate, br, zstd")];
    for path in [LOT, &format!("/embed{LOT}"), "/shop"] {
        let plain = get(&app, path, &[]);
        assert_eq!(plain.status, 200, "{path}");
        assert_eq!(plain.header("content-encoding"), "", "{path}");
        let refused = get(&app, path, &[("Accept-Encoding", "gzip;q=0, br")]);
        assert_eq!(refused.header("content-encoding"), "", "{path}");
        assert_eq!(refused.body, plain.body, "{path}");
        let zipped = get(&app, path, &browser);
        assert_eq!(zipped.status, 200, "{path}");
        assert_eq!(zipped.header("content-encoding"), "gzip", "{path}");
        let vary: Vec<&str> = zipped
            .headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(str::trim)
            .collect();
        assert!(vary.contains(&"Accept-Encoding"), "{path}: {vary:?}");
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&zipped.bytes[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain.body, "{path}");
        assert!(
            zipped.bytes.len() < plain.bytes.len(),
            "{path}: {} bytes gzipped of {}",
            zipped.bytes.len(),
            plain.bytes.len()
        );
    }
    let (plain, zipped) = (get(&app, LOT, &[]), get(&app, LOT, &browser));
    let (plain_tag, zipped_tag) = (plain.header("etag"), zipped.header("etag"));
    assert_ne!(plain_tag, zipped_tag);
    let kept = [browser[0], ("If-None-Match", zipped_tag)];
    assert_eq!(get(&app, LOT, &kept).status, 304);
    // A client holding the gzip copy that now asks for the page as rendered gets it whole.
    let switched = get(&app, LOT, &[("If-None-Match", zipped_tag)]);
    assert_eq!(switched.status, 200);
    assert_eq!(switched.body, plain.body);
}

#[test]
fn the_provenance_json_states_quantities_as_data_and_times_with_their_offsets() {
    for backend in backends() {
        let app = spawn_app(backend);
        milled(&app);
        let provenance = app.get(&format!("/api/v1/lots/{RICE}/R1/provenance")).body;
        let steps = provenance["steps"].as_array().unwrap();
        let transform = steps.iter().find(|s| s["event"] == "transform").unwrap();
        assert_eq!(
            transform["amounts"],
            json!([{"gtin": RICE, "lot": "R1", "amount": "40", "unit": "H87"}])
        );
        assert_eq!(
            transform["quantities"],
            json!(["R1: 40 H87"]),
            "kept as it was"
        );
        let harvest = steps.iter().find(|s| s["event"] == "harvest").unwrap();
        assert_eq!(
            harvest["amounts"],
            json!([{"gtin": PADDY, "lot": "P1", "amount": "100", "unit": "KGM"}])
        );
        let signed = transform["time_signed"].as_str().unwrap();
        assert_eq!(signed, at(3), "the time as signed, with its +08:00 offset");
        let utc =
            chrono::DateTime::parse_from_rfc3339(transform["time_utc"].as_str().unwrap()).unwrap();
        assert_eq!(utc.offset().local_minus_utc(), 0);
        assert_eq!(utc, chrono::DateTime::parse_from_rfc3339(signed).unwrap());
        assert_eq!(transform["time"], transform["time_utc"], "kept as it was");
    }
}

#[test]
fn a_method_the_api_does_not_take_on_a_path_it_has_is_405_with_allow() {
    let app = spawn_app(Backend::Sqlite);
    for (method, path, allow) in [
        ("PUT", "/api/v1/records", "OPTIONS, POST"),
        (
            "DELETE",
            "/api/v1/lots/04712345000022/R%2F1",
            "GET, HEAD, OPTIONS",
        ),
        ("POST", "/api/v1/log", "GET, HEAD, OPTIONS"),
        ("PATCH", "/api/v1/products", "GET, HEAD, OPTIONS, POST"),
        ("DELETE", "/api/v1/orgs", "GET, HEAD, OPTIONS, POST"),
    ] {
        let answer = call(&app, method, path, &[]);
        assert_eq!(answer.status, 405, "{method} {path}");
        assert_eq!(answer.header("allow"), allow, "{method} {path}");
        assert_eq!(answer.json()["error"], "method_not_allowed");
        assert!(
            answer.json()["message"].as_str().unwrap().contains(allow),
            "{method} {path}"
        );
    }
    // A path the API does not have stays 404.
    assert_eq!(call(&app, "PUT", "/api/v1/nothing/here", &[]).status, 404);
    let odd = call(&app, "DELETE", "/api/v1/lots/04712345000022/01", &[]);
    assert_eq!(
        (odd.status, odd.header("allow")),
        (405, "GET, HEAD, OPTIONS")
    );
    // A method it takes, on a path it does not route (a trailing slash), is no 405.
    assert_eq!(call(&app, "GET", "/api/v1/products/", &[]).status, 404);
}
