//! The consumer's and the store's pages in a real headless Chromium, at 390 px (a phone) and
//! 1280 px (a desktop), in both languages: nothing scrolls sideways, no code breaks across lines
//! or is clipped, no unit code (KGM, H87) and no raw key (`sale_channel`) reaches a person, no
//! time is said in bare UTC, and each page is in its own language. Embedded cards size themselves
//! to their content, fit the documented fallback height, and keep their own language. Screenshots
//! in target/screenshots/consumer-*.png.

use crate::chrome::*;
use crate::helpers::*;
use headless_chrome::Tab;
use serde_json::Value;

const LANGS: [&str; 2] = ["zh-Hant", "en"];

/// What every page must hold, whatever its size and language; `what` names it in failures.
fn check_page(tab: &Tab, what: &str, lang: &str) -> Value {
    let found = eval(
        tab,
        r#"const text = document.body.innerText;
           const shown = [...document.querySelectorAll('code')].filter(c => c.offsetParent !== null);
           return {
             lang: document.documentElement.lang,
             width: document.documentElement.scrollWidth,
             inner: innerWidth,
             bareUtc: (text.match(/.{0,20}UTC(?![+-]).{0,20}/g) || []),
             units: (text.match(/\b(KGM|H87|GRM|LTR|MTR)\b/g) || []),
             keys: (text.match(/\b[a-z]+_[a-z_]+\b/g) || []),
             broken: shown.filter(c => !c.classList.contains('long') && c.getClientRects().length > 1).map(c => c.innerText),
             clipped: shown.filter(c => c.getBoundingClientRect().right > innerWidth + 1).map(c => c.innerText),
             offLeft: [...document.body.querySelectorAll('*')]
               .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().left + scrollX < -1)
               .map(e => e.tagName + '.' + e.className),
             title: document.title,
           };"#,
    );
    let zh = lang.starts_with("zh");
    let page_lang = found["lang"].as_str().unwrap_or_default();
    assert_eq!(
        page_lang.starts_with("zh"),
        zh,
        "{what}: in {lang}: {found}"
    );
    assert!(
        found["width"].as_u64() <= found["inner"].as_u64(),
        "{what}: nothing scrolls sideways: {found}"
    );
    for list in ["units", "keys", "broken", "clipped", "offLeft"] {
        assert_eq!(found[list], Value::Array(vec![]), "{what}: {list}: {found}");
    }
    if zh {
        assert_eq!(
            found["bareUtc"],
            Value::Array(vec![]),
            "{what}: times in the place's offset: {found}"
        );
    }
    found
}

/// Opens `path` in both languages at the tab's size, checks it, and keeps a screenshot.
fn tour(demo: &Demo, tab: &Tab, size: &str, name: &str, path: &str) {
    for lang in LANGS {
        let sep = if path.contains('?') { '&' } else { '?' };
        goto(tab, &format!("{}{path}{sep}lang={lang}", demo.base));
        // Labels are printed in both languages, whichever the staff member reads.
        let page_lang = if name == "labels" { "zh-Hant" } else { lang };
        check_page(tab, &format!("{name} ({size}, {lang})"), page_lang);
        demo.shot(tab, &format!("{name}-{size}-{lang}"));
    }
}

#[test]
fn every_consumer_and_store_page_reads_naturally_on_a_phone_and_a_desktop_in_both_languages() {
    let Some(demo) = Demo::start("consumer") else {
        return;
    };
    let xinyi = demo.org_id("Xinyi");
    let consumer_pages = [
        ("home", "/".to_owned()),
        ("shop", "/shop".to_owned()),
        ("shop-rice", format!("/shop/{RICE}")),
        ("store", format!("/stores/{xinyi}")),
        ("provenance", format!("/01/{RICE}/10/RICE-2611-01")),
        (
            "pickup-form",
            format!("/shop/{RICE}/pickup?lot=RICE-2611-01"),
        ),
        ("unknown-lot", format!("/01/{RICE}/10/NO-SUCH-LOT")),
        ("bad-link", "/01/04712345000023".to_owned()),
    ];
    let browser = demo.phone("tour", None);
    let tab = phone_tab(&browser);
    for (size, wide) in [("phone", false), ("desktop", true)] {
        if wide {
            desktop(&tab);
        }
        for (name, path) in &consumer_pages {
            tour(&demo, &tab, size, name, path);
        }
    }

    // A consumer reserves on the phone; the store's staff at two counters.
    resize(&tab, PHONE_WIDTH, 844, true);
    goto(
        &tab,
        &format!(
            "{}/shop/{RICE}/pickup?lot=RICE-2611-01&lang=zh-Hant",
            demo.base
        ),
    );
    click(&tab, &format!("input[name=store][value='{xinyi}']"));
    fill(&tab, "input[name=quantity]", "1");
    fill(&tab, "input[name=name]", "林小姐");
    fill(&tab, "input[name=phone]", "0912-345-678");
    click(&tab, "#reserve");
    wait_until(
        &tab,
        "location.pathname.startsWith('/pickup/')",
        "the reservation page",
    );
    let code = eval(&tab, "return location.pathname.split('/')[2];");
    let code = code.as_str().unwrap().to_owned();
    let reservation = check_page(&tab, "reservation (phone, zh-Hant)", "zh-Hant");
    assert!(
        text(&tab, "body").contains("(UTC+08:00)"),
        "the deadline in Taiwan's offset: {reservation}"
    );
    demo.shot(&tab, "reservation-phone-zh-Hant");

    let store_browser = demo.phone("counter", None);
    let counter = phone_tab(&store_browser);
    let (email, password) = demo.account("Xinyi");
    login(&counter, &demo.base, &email, &password, "/staff/pickups");
    let nav = text(&counter, "nav.staff-nav");
    for (size, wide) in [("phone", false), ("desktop", true)] {
        if wide {
            desktop(&counter);
        }
        for (name, path) in [
            ("counter", "/staff/pickups".to_owned()),
            ("staff-reservation", format!("/staff/pickups/{code}")),
            ("dashboard-store", "/dashboard".to_owned()),
            ("account", "/account".to_owned()),
        ] {
            tour(&demo, &counter, size, name, &path);
        }
    }
    assert!(
        ["Dashboard", "Pickup counter", "Account", "Log out"]
            .iter()
            .all(|link| nav.contains(link))
            || ["儀表板", "取貨櫃台", "帳號", "登出"]
                .iter()
                .all(|link| nav.contains(link)),
        "the staff pages' navigation: {nav}"
    );

    // Two counters open the same reservation; one cancels, then the other tries: the refusal is
    // in the second counter's language, with the time in the store's offset.
    let second = phone_tab(&store_browser);
    resize(&counter, PHONE_WIDTH, 844, true);
    for (tab, lang) in [(&counter, "en"), (&second, "zh-Hant")] {
        goto(
            tab,
            &format!("{}/staff/pickups/{code}?lang={lang}", demo.base),
        );
    }
    click(&counter, "#cancel");
    wait_until(
        &counter,
        "document.getElementById('message') !== null",
        "the cancellation",
    );
    click(&second, "#cancel");
    wait_until(
        &second,
        "document.getElementById('form-error') !== null",
        "the refusal",
    );
    let refusal = text(&second, "#form-error");
    assert!(
        refusal.contains("此預約已於") && refusal.contains("(UTC+08:00) 取消"),
        "{refusal}"
    );
    check_page(&second, "a refusal at the counter", "zh-Hant");
    demo.shot(&second, "counter-refusal-phone-zh-Hant");

    // The brand's staff: labels to print, its dashboard, recalls, the FDA spreadsheet page.
    let brand_browser = demo.phone("brand", None);
    let brand = phone_tab(&brand_browser);
    let (email, password) = demo.account("Rice Mill");
    login(&brand, &demo.base, &email, &password, "/dashboard");
    for (size, wide) in [("phone", false), ("desktop", true)] {
        if wide {
            desktop(&brand);
        }
        for (name, path) in [
            ("labels", format!("/labels/01/{RICE}/10/RICE-2611-01")),
            ("dashboard-brand", "/dashboard".to_owned()),
            ("recalls", "/recalls".to_owned()),
        ] {
            tour(&demo, &brand, size, name, &path);
        }
    }
}

/// The height a card's document needs, at a given frame width.
fn card_height(tab: &Tab, url: &str, width: u32) -> u64 {
    resize(tab, width, 600, true);
    goto(tab, url);
    eval(
        tab,
        "return Math.ceil(document.body.getBoundingClientRect().height);",
    )
    .as_u64()
    .unwrap()
}

#[test]
fn embedded_cards_fit_their_content_and_the_fallback_and_keep_their_own_language() {
    let Some(demo) = Demo::start("consumer-embed") else {
        return;
    };
    let fallback = truetrace::http::pages::embed::CARD_HEIGHT;
    let browser = demo.phone("embed", None);
    let tab = phone_tab(&browser);

    // Every lot of the story, in both languages, at the narrowest and widest frame the oEmbed
    // endpoint gives: no card without a recall is taller than the fallback.
    let mut tallest = (0, String::new());
    for (_, gtin, lot) in &demo.summary.lots {
        for lang in LANGS {
            for width in [240, 360] {
                let url = format!("{}/embed/01/{gtin}/10/{lot}?lang={lang}", demo.base);
                let height = card_height(&tab, &url, width);
                eprintln!("card {lot} {lang} at {width} px: {height} px");
                if height > tallest.0 {
                    tallest = (height, format!("{lot} {lang} at {width} px"));
                }
            }
        }
    }
    eprintln!("the tallest card: {} px ({})", tallest.0, tallest.1);
    assert!(
        tallest.0 <= u64::from(fallback),
        "the fallback height {fallback} px fits every card: {tallest:?}"
    );

    // A brand's page with two one-line snippets (one asks for English, one says nothing) and an
    // oEmbed snippet: each frame takes its card's height, and the English card does not make
    // the others English.
    let oembed: Value = serde_json::from_str(
        &demo
            .agent
            .get(&format!(
                "{}/oembed?url={}",
                demo.base,
                urlencoding(&format!("{}/01/04712345000046/10/RH-1123-P1", demo.base))
            ))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    // The brand's page on an origin of its own.
    let shop = serve_html(format!(
        "<!doctype html><html><body><h1>Brand shop</h1>
         <script src=\"{base}/static/embed.js\" data-gtin=\"{RICE}\" data-lot=\"RICE-2611-01\" data-lang=\"en\"></script>
         <script src=\"{base}/static/embed.js\" data-gtin=\"{RICE}\" data-lot=\"RICE-2611-02\"></script>
         {html}</body></html>",
        base = demo.base,
        html = oembed["html"].as_str().unwrap()
    ));
    // Tall enough for the three frames, which load lazily when they come into view.
    resize(&tab, PHONE_WIDTH, 1600, true);
    goto(&tab, &shop);
    wait_until(
        &tab,
        &format!(
            "[...document.querySelectorAll('iframe')].length === 3 && [...document.querySelectorAll('iframe')].every(f => f.getBoundingClientRect().height !== {fallback})"
        ),
        "every frame to take its card's height",
    );
    let frames = eval(
        &tab,
        "return [...document.querySelectorAll('iframe')].map(f => ({src: f.src, height: Math.round(f.getBoundingClientRect().height)}));",
    );
    demo.shot(&tab, "brand-page");
    let frames = frames.as_array().unwrap();
    for frame in frames {
        // Each frame is 360 px wide on this page (the script's and the oEmbed snippet's width).
        let src = frame["src"].as_str().unwrap();
        let needed = card_height(&browser.new_tab().unwrap(), src, 360);
        assert_eq!(frame["height"].as_u64(), Some(needed), "{frame}");
    }
    // The cards' own languages, with a browser that holds `lang=en` from the main site: the card
    // that asked for English is English and remembers nothing; the others follow the browser's
    // languages (Traditional Chinese first), not the cookie.
    for (frame, lang) in frames.iter().zip(["en", "zh-Hant", "zh-Hant"]) {
        let src = frame["src"].as_str().unwrap();
        let card = demo
            .agent
            .get(src)
            .header("Cookie", "lang=en")
            .call()
            .unwrap();
        let said = card
            .headers()
            .get("content-language")
            .and_then(|v| v.to_str().ok());
        assert_eq!(said, Some(lang), "{src}: the cookie is not read");
        assert!(
            card.headers().get("set-cookie").is_none(),
            "{src}: no cookie set"
        );
    }
}

fn urlencoding(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn the_home_page_opens_a_scanned_package_and_keeps_where_its_code_was_printed() {
    let Some(demo) = Demo::start("consumer-scan") else {
        return;
    };
    let label = format!("{}/01/{RICE}/10/RICE-2611-01?src=qr", demo.base);
    let camera = demo.dir.path().join("label.y4m");
    qr_video(&label, &camera);
    let browser = demo.phone("scanner", Some(&camera));
    let tab = phone_tab(&browser);
    goto(&tab, &format!("{}/?lang=zh-Hant", demo.base));
    click(&tab, "#scan-start");
    wait_until(
        &tab,
        &format!("location.pathname === '/01/{RICE}/10/RICE-2611-01'"),
        "the scanned package's page",
    );
    assert_eq!(eval(&tab, "return location.search;"), "?src=qr");
    check_page(&tab, "a scanned package's page", "zh-Hant");
    demo.shot(&tab, "scanned-zh-Hant");
}
