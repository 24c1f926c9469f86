//! Integrity and security hardening of the pages and the HTTP server (issue 14), tested as an
//! attacker would try them: crafted paths and redirect targets, password guessing, request bodies
//! that trickle, framing, and text that tries to reorder a page.

use crate::helpers::*;
use crate::omo::{Browser, staff};
use crate::pages::get_with;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const PASSWORD: &str = "a long enough password";

/// Sends raw bytes (a request a well-behaved client would not make) and reads the answer until
/// the server closes the connection or `wait` passes; the answer's text and whether it closed.
fn raw(address: &str, request: &[u8], wait: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream.write_all(request).unwrap();
    read_answer(&mut stream, wait)
}

fn read_answer(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let deadline = Instant::now() + wait;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// A farm's lot of rice, for the pages.
fn rice_lot(app: &TestApp) -> Org {
    app.product(RICE);
    let farm = app.org("Chishang Farm", &["producer"]);
    assert_eq!(
        app.submit(&sign(&farm.key, &harvest(&farm, RICE, "R1", 0)))
            .status,
        201
    );
    farm
}

#[test]
fn a_crafted_prefix_before_01_never_puts_an_off_site_link_into_a_page() {
    let app = spawn_app(Backend::Sqlite);
    rice_lot(&app);
    let canonical = format!("/01/{RICE}/10/R1");
    for crafted in [
        format!("/\\evil.example{canonical}"),
        format!("/\\\\evil.example{canonical}"),
        format!("//evil.example{canonical}"),
        format!("/%09/evil.example{canonical}"),
    ] {
        let request = format!(
            "GET {crafted} HTTP/1.1\r\nHost: {}\r\nAccept-Language: en\r\nConnection: close\r\n\r\n",
            app.address().trim_start_matches("http://")
        );
        let (answer, _) = raw(app.address(), request.as_bytes(), Duration::from_secs(10));
        let status = status_of(&answer);
        assert!(
            [200, 400].contains(&status),
            "{crafted}: a page or a bad link, never a 500: {answer}"
        );
        assert!(
            !body_of(&answer).contains("evil.example"),
            "{crafted}: the answer links off-site: {answer}"
        );
        // The page everybody gets next, from the cache, is the canonical one.
        let (status, headers, page) = get_with(&app, &canonical, &[("Accept-Language", "en")]);
        assert_eq!(status, 200);
        assert!(
            !page.contains("evil.example") && !page.contains("href=\"//"),
            "{crafted} poisoned the cached page: {page}"
        );
        // Kept by browsers and CDNs, but asked again each time: a recall must not wait out a copy.
        assert_eq!(headers["cache-control"], "public, no-cache");
        if status_of(&answer) == 200 {
            assert_eq!(
                body_of(&answer),
                page,
                "{crafted}: every spelling of the link gets the same page"
            );
        }
    }
    assert!(
        get_with(&app, &canonical, &[("Accept-Language", "en")])
            .2
            .contains(&format!("href=\"{canonical}?lang=zh-Hant\"")),
        "the language switch is built from the canonical path"
    );
}

/// A staff account on its own organization: its e-mail address.
fn account(app: &TestApp) -> &'static str {
    let store = app.org("Green Leaf", &["retailer"]);
    staff(app, &store, "mei@greenleaf.tw");
    "mei@greenleaf.tw"
}

fn log_in(browser: &mut Browser, email: &str, password: &str, next: &str) -> crate::omo::Page {
    let form = browser.get("/login");
    assert_eq!(form.status, 200);
    browser.post(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("email", email),
            ("password", password),
            ("next", next),
        ],
    )
}

#[test]
fn login_follows_only_same_site_next_paths() {
    let app = spawn_app(Backend::Sqlite);
    let email = account(&app);
    for hostile in [
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example/x",
        "https://evil.example/x",
        "/%2F/evil.example/x",
        "/%09/evil.example/x",
        " //evil.example/x",
    ] {
        let mut browser = Browser::new(app.address());
        let done = log_in(&mut browser, email, PASSWORD, hostile);
        assert_eq!(
            (done.status, done.location.as_str()),
            (303, "/account"),
            "{hostile:?}: {}",
            done.body
        );
        let encoded: String = hostile.bytes().map(|b| format!("%{b:02X}")).collect();
        let form = Browser::new(app.address()).get(&format!("/login?next={encoded}"));
        assert!(
            form.body.contains("name=\"next\" value=\"/account\""),
            "{hostile:?}: the form carries the fallback"
        );
    }
    let mut browser = Browser::new(app.address());
    let done = log_in(&mut browser, email, PASSWORD, "/dashboard?days=7");
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/dashboard?days=7")
    );
}

fn sessions(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let query = diesel::sql_query("SELECT COUNT(*) AS n FROM sessions");
    let rows: Vec<Count> = match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            let mut conn =
                <diesel::SqliteConnection as diesel::Connection>::establish(path).unwrap();
            diesel::RunQueryDsl::load(query, &mut conn).unwrap()
        }
        Backend::Postgres => {
            let mut conn =
                <diesel::PgConnection as diesel::Connection>::establish(&app.database_url).unwrap();
            diesel::RunQueryDsl::load(query, &mut conn).unwrap()
        }
    };
    rows[0].n
}

#[test]
fn a_login_whose_next_holds_cr_lf_or_del_redirects_and_opens_a_session_only_on_success() {
    for backend in backends() {
        let app = spawn_app(backend);
        let email = account(&app);
        for next in [
            "/account\r\nSet-Cookie: evil=1",
            "/dashboard\n",
            "/x\u{7f}y",
            "/\r/evil.example",
        ] {
            let before = sessions(&app);
            let wrong = log_in(
                &mut Browser::new(app.address()),
                email,
                "not the password",
                next,
            );
            assert_eq!(wrong.status, 401, "{next:?} {backend:?}: {}", wrong.body);
            assert_eq!(sessions(&app), before, "{next:?}: no session on failure");
            let done = log_in(&mut Browser::new(app.address()), email, PASSWORD, next);
            assert_eq!(
                (done.status, done.location.as_str()),
                (303, "/account"),
                "{next:?} {backend:?}: {}",
                done.body
            );
            assert!(!done.headers.contains_key("evil"));
            assert_eq!(sessions(&app), before + 1, "{next:?}: exactly one session");
        }
    }
}

#[test]
fn password_guessing_is_slowed_down_and_the_owner_gets_in_after_the_wait() {
    for backend in backends() {
        let app = spawn_app(backend);
        let email = account(&app);
        let mut guesser = Browser::new(app.address());
        let mut statuses = Vec::new();
        let mut retry_after = None;
        for i in 0..12 {
            let answer = log_in(
                &mut guesser,
                email,
                &format!("guess number {i}"),
                "/account",
            );
            statuses.push(answer.status);
            if answer.status == 429 {
                retry_after = answer.headers.get("retry-after").cloned();
                assert!(
                    answer.body.contains("Too many failed attempts"),
                    "{}",
                    answer.body
                );
                assert!(answer.body.contains("id=\"retry-after\""));
            }
        }
        assert_eq!(
            &statuses[..5],
            &[401; 5],
            "the first few failures are free: {statuses:?}"
        );
        assert!(
            statuses[5..].iter().all(|s| *s == 429),
            "{statuses:?} {backend:?}"
        );
        let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        // The right password while the account waits is not even checked.
        let before = sessions(&app);
        let mut owner = Browser::new(app.address());
        owner.get("/login?lang=zh-Hant");
        let early = log_in(&mut owner, email, PASSWORD, "/account");
        assert_eq!(early.status, 429, "{}", early.body);
        assert!(
            early.body.contains("秒後再試"),
            "in the person's language: {}",
            early.body
        );
        assert_eq!(sessions(&app), before);
        // After the wait, the owner gets in.
        let wait: u64 = early.headers["retry-after"].parse().unwrap();
        std::thread::sleep(Duration::from_millis(wait * 1000 + 200));
        let done = log_in(&mut owner, email, PASSWORD, "/account");
        assert_eq!(
            (done.status, done.location.as_str()),
            (303, "/account"),
            "{}",
            done.body
        );
        assert_eq!(sessions(&app), before + 1);
    }
}

#[test]
fn login_fields_with_control_characters_are_refused_with_a_message() {
    let app = spawn_app(Backend::Sqlite);
    let email = account(&app);
    let mut browser = Browser::new(app.address());
    let refused = log_in(&mut browser, "mei\u{7}@greenleaf.tw", PASSWORD, "/account");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("control character"),
        "{}",
        refused.body
    );
    browser.get("/login?lang=zh-Hant");
    let refused = log_in(
        &mut browser,
        email,
        "a long\u{1b}enough password",
        "/account",
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("控制字元"), "{}", refused.body);
    // A new password may not hold one either.
    let store = app.org("Other Store", &["retailer"]);
    let invite = app.admin_post(
        &format!("/api/v1/orgs/{}/invites", store.id),
        &json!({"email": "lin@other.tw"}),
    );
    let path = invite.body["url"]
        .as_str()
        .unwrap()
        .strip_prefix(app.address())
        .unwrap()
        .to_owned();
    let mut invited = Browser::new(app.address());
    let form = invited.get(&path);
    let refused = invited.post(
        &path,
        &[
            ("csrf", &form.csrf()),
            ("name", "Lin"),
            ("password", "long enough\u{8}password"),
        ],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("control characters"),
        "{}",
        refused.body
    );
}

/// Sends a request's head and the start of its body, then trickles the rest (`trickle` bytes,
/// one every `every`); the answer, whether the server closed, and how long it took.
fn trickle(
    address: &str,
    head: &str,
    start: &[u8],
    trickle: usize,
    every: Duration,
    wait: Duration,
) -> (String, bool, Duration) {
    let began = Instant::now();
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(start).unwrap();
    stream.set_read_timeout(Some(every)).unwrap();
    let mut sent = 0;
    let mut buf = [0u8; 1024];
    while sent < trickle && began.elapsed() < wait {
        match stream.read(&mut buf) {
            Ok(0) => return (String::new(), true, began.elapsed()),
            Ok(n) => {
                // The server answered before the body was complete.
                let (rest, closed) = read_answer(&mut stream, wait - began.elapsed().min(wait));
                let answer = String::from_utf8_lossy(&buf[..n]).into_owned() + &rest;
                return (answer, closed, began.elapsed());
            }
            Err(_) => {}
        }
        if stream.write_all(b" ").is_err() {
            break;
        }
        sent += 1;
    }
    let (answer, closed) = read_answer(&mut stream, wait.saturating_sub(began.elapsed()));
    (answer, closed, began.elapsed())
}

#[test]
fn a_request_body_that_trickles_is_answered_408_and_its_connection_closed() {
    // Short limits, so the test does not wait for the defaults (5 s idle, 30 s in all).
    let dir = tempfile::tempdir().unwrap();
    let server = crate::spawn::spawn(truetrace::settings::Settings {
        body_idle_timeout: 1,
        body_timeout: 3,
        ..settings(&fresh_database(Backend::Sqlite, &dir))
    })
    .unwrap();
    let address = format!("127.0.0.1:{}", server.port);
    let routes = [
        ("/api/v1/records", "application/json", ""),
        (
            "/api/v1/orgs",
            "application/json",
            "Authorization: Bearer test-admin-token\r\n",
        ),
        ("/login", "application/x-www-form-urlencoded", ""),
        (
            "/shop/04712345000022/pickup",
            "application/x-www-form-urlencoded",
            "",
        ),
    ];
    for (path, content_type, extra) in routes {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAccept-Language: en\r\nContent-Type: {content_type}\r\n{extra}Content-Length: 1000\r\n\r\n"
        );
        // A body that stops arriving: answered after the idle limit.
        let (answer, closed, took) = trickle(
            &address,
            &head,
            b"{\"a",
            0,
            Duration::from_millis(100),
            Duration::from_secs(15),
        );
        assert_eq!(status_of(&answer), 408, "{path}: {answer}");
        assert!(closed, "{path}: the connection is closed");
        assert!(
            took < Duration::from_secs(3),
            "{path}: idle limit, {took:?}"
        );
        if path.starts_with("/api/") {
            assert!(body_of(&answer).contains("\"timeout\""), "{answer}");
        } else {
            assert!(
                answer.contains("The request took too long to arrive"),
                "{answer}"
            );
        }
        // A byte every 400 ms never trips the idle limit, but the whole body is due in 3 s.
        let (answer, closed, took) = trickle(
            &address,
            &head,
            b"{\"a",
            100,
            Duration::from_millis(400),
            Duration::from_secs(15),
        );
        assert_eq!(status_of(&answer), 408, "{path}: {answer}");
        assert!(closed, "{path}: the connection is closed");
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(6),
            "{path}: total limit, {took:?}"
        );
    }
    // A chunked body that stalls, on a form.
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (answer, closed, _) = trickle(
        &address,
        &head,
        b"5\r\nemail",
        0,
        Duration::from_millis(100),
        Duration::from_secs(15),
    );
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(
        closed,
        "the chunked body is not drained: the connection is closed"
    );
    // A chunked body trickling to a page that does not read it does not hold the connection.
    let head =
        format!("POST /health HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let (answer, closed, took) = trickle(
        &address,
        &head,
        b"1\r\na\r\n",
        100,
        Duration::from_millis(400),
        Duration::from_secs(15),
    );
    assert!(closed, "{answer}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    // The server still serves everyone else, and a body that arrives in time works.
    let created = agent()
        .post(&format!("http://{address}/api/v1/orgs"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(json!({"name": "Farm", "roles": ["producer"]}))
        .unwrap();
    assert_eq!(created.status(), 201);
    server.stop();
}

#[test]
fn pages_forbid_framing_except_the_embed_cards() {
    let app = spawn_app(Backend::Sqlite);
    let brand = app.org("Chishang Rice Co.", &["brand"]);
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": RICE, "name": "Chishang rice 2 kg", "brand_org": brand.id}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let farm = app.org("Chishang Farm", &["producer"]);
    assert_eq!(
        app.submit(&sign(&farm.key, &harvest(&farm, RICE, "R1", 0)))
            .status,
        201
    );
    let denied = |path: &str| {
        let (status, headers, _) = get_with(&app, path, &[]);
        assert_eq!(headers["x-frame-options"], "DENY", "{path} ({status})");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    };
    for path in [
        "/login",
        "/account",
        "/dashboard",
        "/staff/pickups",
        "/shop",
        &format!("/01/{RICE}/10/R1"),
        &format!("/embed/x/01/{RICE}/10/R1"),
        "/api/v1/log",
        "/no/such/page",
    ] {
        denied(path);
    }
    let card = format!("/embed/01/{RICE}/10/R1");
    let (status, headers, _) = get_with(&app, &card, &[]);
    assert_eq!(status, 200);
    assert_eq!(headers["content-security-policy"], "frame-ancestors *");
    assert!(!headers.contains_key("x-frame-options"));
    let set = agent()
        .put(&app.url(&format!("/api/v1/orgs/{}/embed-origins", brand.id)))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(json!({"origins": ["https://shop.example.com"]}))
        .unwrap();
    assert_eq!(set.status(), 200);
    let (_, headers, _) = get_with(&app, &card, &[]);
    assert_eq!(
        headers["content-security-policy"],
        "frame-ancestors 'self' https://shop.example.com"
    );
    assert!(!headers.contains_key("x-frame-options"));
}

const RLO: char = '\u{202E}';

/// Every right-to-left override in the page sits inside a `<bdi>` element, a FIRST STRONG
/// ISOLATE ... POP DIRECTIONAL ISOLATE pair (titles, attributes) or a script's data, so it cannot
/// reorder the text around it; and the page does show the hostile text.
fn assert_isolated(what: &str, html: &str) {
    let inside = |before: &str, open: &str, close: &str| {
        before
            .rfind(open)
            .is_some_and(|o| before.rfind(close).is_none_or(|c| c < o))
    };
    let mut seen = 0;
    for (i, _) in html.match_indices(RLO) {
        seen += 1;
        let before = &html[..i];
        let context: String = before
            .chars()
            .rev()
            .take(120)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(
            inside(before, "<bdi>", "</bdi>")
                || inside(before, "\u{2068}", "\u{2069}")
                || inside(before, "<script", "</script>"),
            "{what}: an override outside any isolation after …{context}"
        );
    }
    assert!(seen > 0, "{what}: the page shows the hostile text: {html}");
}

#[test]
fn text_people_wrote_is_isolated_so_an_override_cannot_reorder_a_page() {
    let app = spawn_app(Backend::Sqlite);
    let evil = |s: &str| format!("{s} {RLO}lacigolonhcet");
    let brand = app.admin_post(
        "/api/v1/orgs",
        &json!({"name": "Brand", "roles": ["brand"]}),
    );
    assert_eq!(brand.status, 201, "{:?}", brand.body);
    let created = app.admin_post(
        "/api/v1/products",
        &json!({"gtin": RICE, "name": "Rice", "name_zh": "米", "description": "Grown",
                "price": "380", "listing_url": "https://shop.example.com/rice", "brand_org": brand.body["id"]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let farm = app.org("Farm", &["producer"]);
    let store = app.org("Store", &["retailer"]);
    // The ledger and the admin API refuse overrides now (tests/api/integrity.rs); a store may
    // still hold names written before that rule, and the pages must isolate them.
    let sql = format!(
        "UPDATE organizations SET name = name || ' {RLO}lacigolonhcet', name_zh = '品牌 {RLO}lacigolonhcet'; \
         UPDATE products SET name = name || ' {RLO}lacigolonhcet', name_zh = '米 {RLO}lacigolonhcet', \
                             description = 'Grown {RLO}lacigolonhcet';"
    );
    let path = app.database_url.trim_start_matches("sqlite://");
    diesel::connection::SimpleConnection::batch_execute(
        &mut <diesel::SqliteConnection as diesel::Connection>::establish(path).unwrap(),
        &sql,
    )
    .unwrap();
    let mut h = harvest(&farm, RICE, "R1", 0);
    h["new_lots"][0]["quantity"] = json!({"amount": "5", "unit": "H87"});
    assert_eq!(app.submit(&sign(&farm.key, &h)).status, 201);
    let mut ship = on_lot("ship", &farm, RICE, "R1", &record_id(&h), 1);
    ship["to"] = json!(store.id);
    assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
    let receive = on_lot("receive", &store, RICE, "R1", &record_id(&ship), 2);
    assert_eq!(app.submit(&sign(&store.key, &receive)).status, 201);
    let hosted = app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", store.id), &json!({}));
    assert_eq!(hosted.status, 201);

    // A consumer reserves under a hostile name; a clerk with a hostile name hands it over.
    let mut consumer = Browser::new(app.address());
    let form = consumer.get(&format!("/shop/{RICE}/pickup"));
    assert_isolated("pickup form", &form.body);
    let reserved = consumer.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", &store.id),
            ("quantity", "1"),
            ("name", &format!("{RLO}Ana")),
            ("phone", "0912345678"),
            ("ch", "qr"),
            ("lot", "R1"),
        ],
    );
    assert_eq!(reserved.status, 303, "{}", reserved.body);
    let reservation = consumer.get(&reserved.location);
    assert_isolated("reservation", &reservation.body);
    let code = reserved.location.trim_start_matches("/pickup/").to_owned();

    let invite = app.admin_post(
        &format!("/api/v1/orgs/{}/invites", store.id),
        &json!({"email": "mei@store.tw", "admin": true}),
    );
    let path = invite.body["url"]
        .as_str()
        .unwrap()
        .strip_prefix(app.address())
        .unwrap()
        .to_owned();
    let mut clerk = Browser::new(app.address());
    let form = clerk.get(&path);
    assert_isolated("invitation", &form.body);
    let joined = clerk.post(
        &path,
        &[
            ("csrf", &form.csrf()),
            ("name", &evil("Mei")),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(joined.status, 303, "{}", joined.body);
    let account = clerk.get("/account");
    let invited = clerk.post(
        "/account/invites",
        &[
            ("csrf", &account.csrf()),
            ("email", &format!("{RLO}lin@store.tw")),
        ],
    );
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert_isolated("account", &invited.body);

    let pages = [
        format!("/01/{RICE}/10/R1"),
        format!("/01/{RICE}"),
        "/shop".to_owned(),
        format!("/shop/{RICE}"),
        format!("/stores/{}", store.id),
        format!("/embed/01/{RICE}/10/R1"),
        format!("/labels/01/{RICE}/10/R1"),
        "/stores/%E2%80%AEx".to_owned(),
    ];
    for lang in ["en", "zh-Hant"] {
        for page in &pages {
            let sep = if page.contains('?') { '&' } else { '?' };
            let (_, _, html) = get_with(&app, &format!("{page}{sep}lang={lang}"), &[]);
            assert_isolated(&format!("{page} ({lang})"), &html);
        }
        clerk.get(&format!("/account?lang={lang}"));
        for page in [
            "/staff/pickups",
            &format!("/staff/pickups/{code}"),
            "/dashboard",
            "/account",
        ] {
            let html = clerk.get(page);
            assert_eq!(html.status, 200, "{page}");
            assert_isolated(&format!("{page} ({lang})"), &html.body);
        }
    }
}
