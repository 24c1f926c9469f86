//! The provenance page in a real headless Chromium: the demo lot at phone and desktop width, in
//! both languages, screenshots kept in target/screenshots, assertions on the rendered DOM.

use crate::helpers::*;
use std::path::PathBuf;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn headless(
    browser: &str,
    profile: &std::path::Path,
    extra: &[String],
    url: &str,
) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// A server over the seeded demo story, in a temporary directory; and where screenshots go.
fn demo_server() -> (tempfile::TempDir, Served, PathBuf) {
    let (dir, base, _) = serve_demo();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    (dir, base, shots)
}

#[test]
fn the_demo_page_renders_in_chromium_on_a_phone_and_a_desktop_in_both_languages() {
    let Some(browser) = chromium() else {
        eprintln!("note: browser test skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let (dir, base, shots) = demo_server();
    for (lang, verified, buy, pickup, harvested) in [
        (
            "zh-Hant",
            "這包商品的履歷真實完整",
            "線上購買",
            "門市取貨",
            "採收",
        ),
        (
            "en",
            "This package's journey is genuine",
            "Buy online",
            "Pick up in store",
            "Harvested",
        ),
    ] {
        let url = format!("{base}/01/04712345000022/10/RICE-2611-01?lang={lang}");
        let dom = headless(
            browser,
            &dir.path().join(format!("profile-dom-{lang}")),
            &["--dump-dom".into()],
            &url,
        );
        let dom = String::from_utf8_lossy(&dom.stdout);
        // 7 records on the rice lot, then 4 on paddy A and 3 on paddy B not already counted.
        assert_eq!(
            dom.matches("class=\"step ok\"").count(),
            14,
            "every upstream event in the timeline ({lang})"
        );
        assert!(
            dom.contains("data-state=\"verified\"") && dom.contains(verified),
            "{lang}"
        );
        assert!(
            dom.contains("id=\"buy-online\"") && dom.contains(buy),
            "{lang}"
        );
        assert!(
            dom.contains("id=\"pickup\"") && dom.contains(pickup),
            "{lang}"
        );
        assert!(dom.contains(harvested), "{lang}");
        for (name, size) in [("phone", "360,2400"), ("desktop", "1280,1600")] {
            let file = shots.join(format!("provenance-{lang}-{name}.png"));
            let out = headless(
                browser,
                &dir.path().join(format!("profile-{lang}-{name}")),
                &[
                    format!("--window-size={size}"),
                    format!("--screenshot={}", file.display()),
                ],
                &url,
            );
            assert!(
                file.exists(),
                "screenshot {} ({})",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                std::fs::metadata(&file).unwrap().len() > 10_000,
                "a real page, not a blank one"
            );
        }
    }
}

#[test]
fn the_shop_a_reservation_and_an_embedding_page_render_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("note: browser test skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let (dir, base, shots) = demo_server();
    let dom = |name: &str, url: &str| {
        let out = headless(
            browser,
            &dir.path().join(format!("profile-{name}")),
            &["--dump-dom".into()],
            url,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shot = |name: &str, url: &str| {
        let file = shots.join(format!("{name}.png"));
        headless(
            browser,
            &dir.path().join(format!("profile-shot-{name}")),
            &[
                "--window-size=360,1400".into(),
                format!("--screenshot={}", file.display()),
            ],
            url,
        );
        assert!(
            std::fs::metadata(&file).unwrap().len() > 10_000,
            "{name} is a real page"
        );
    };

    let shop = dom("shop", &format!("{base}/shop?lang=en"));
    // Rice and romaine hearts; paddy and field lettuce are made into them, not sold.
    assert_eq!(
        shop.matches("class=\"card shop-item\"").count(),
        2,
        "{shop}"
    );
    assert!(shop.contains("NT$380") && shop.contains("records verified"));
    shot("shop-en-phone", &format!("{base}/shop?lang=en"));
    shot("shop-zh-phone", &format!("{base}/shop?lang=zh-Hant"));
    let form = dom(
        "pickup",
        &format!("{base}/shop/04712345000022/pickup?lang=en&lot=RICE-2611-01"),
    );
    assert!(
        form.contains("id=\"reserve-form\"") && form.contains("Green Leaf Market Xinyi"),
        "{form}"
    );
    shot(
        "pickup-form-phone",
        &format!("{base}/shop/04712345000022/pickup?lang=zh-Hant"),
    );

    // A brand's page (on an origin of its own) with the one-line snippet: the script inserts
    // the iframe and sizes it to its card, which is shorter than the fallback.
    let shop = crate::chrome::serve_html(format!(
        "<!doctype html><html><body><h1>Brand shop</h1><script src=\"{base}/static/embed.js\" data-gtin=\"04712345000022\" data-lot=\"RICE-2611-01\" data-lang=\"en\"></script></body></html>"
    ));
    let out = headless(
        browser,
        &dir.path().join("profile-embed"),
        &["--dump-dom".into(), "--virtual-time-budget=5000".into()],
        &shop,
    );
    let embedded = String::from_utf8_lossy(&out.stdout);
    assert!(
        embedded.contains(&format!(
            "<iframe src=\"{base}/embed/01/04712345000022/10/RICE-2611-01?lang=en\""
        )),
        "{embedded}"
    );
    let fallback = format!("height: {}px", truetrace::http::pages::embed::CARD_HEIGHT);
    assert!(
        !embedded.contains(&fallback) && embedded.contains("height: "),
        "the iframe was resized to its card: {embedded}"
    );
    shot(
        "embed-card",
        &format!("{base}/embed/01/04712345000022/10/RICE-2611-01?lang=zh-Hant"),
    );
}
