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

#[test]
fn the_demo_page_renders_in_chromium_on_a_phone_and_a_desktop_in_both_languages() {
    let Some(browser) = chromium() else {
        eprintln!("note: browser test skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let services = truetrace::startup::Services::open(&settings(&database_url)).unwrap();
    truetrace::demo::seed(&services, &dir.path().join("demo")).unwrap();
    drop(services);
    let base = serve(&database_url);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (lang, verified, buy, pickup, harvested) in [
        ("zh-Hant", "紀錄完整可信", "線上購買", "門市取貨", "採收"),
        (
            "en",
            "Records verified",
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
