//! "Verify it yourself" on the provenance page, in a real headless Chromium: the page fetches the
//! lot's bundle and the log key, checks them with WebCrypto (Ed25519, SHA-256) and says what it
//! checked against which checkpoint; the same bundle altered in any byte of what it signs or
//! proves fails in the browser; a browser without Ed25519 is told so. Screenshots in
//! target/screenshots/verify-*.png.

use crate::chrome::*;
use crate::helpers::*;
use crate::tlog::{bundle_text, journey};
use std::path::PathBuf;

#[test]
fn the_provenance_page_checks_the_bundle_in_the_browser_and_any_altered_byte_fails() {
    let Some(binary) = chromium() else {
        eprintln!("note: browser test skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let j = journey(Backend::Sqlite);
    // The checkpoint covers the journey before the page is opened.
    let text = bundle_text(&j.app, j.rice);
    let profile = tempfile::tempdir().unwrap();
    let browser = launch(&binary, profile.path(), None);
    let tab = phone_tab(&browser);
    let page = j.app.url(&format!("/01/{RICE}/10/{}", j.rice));
    goto(&tab, &page);
    click(&tab, "#verify-button");
    wait_until(
        &tab,
        "['verified', 'failed', 'unsupported', 'error'].includes(document.getElementById('verify-yourself').dataset.state)",
        "the browser's verdict",
    );
    let said = text_of(&tab);
    assert_eq!(
        eval(
            &tab,
            "return document.getElementById('verify-yourself').dataset.state;"
        ),
        "verified",
        "{said}"
    );
    assert!(
        said.contains("Checked in this browser: 4 records on 2 lots"),
        "{said}"
    );
    assert!(said.contains("checkpoint of 9 records"), "{said}");
    assert!(
        said.contains(crate::spawn::TEST_LOG_VKEY),
        "the page names the key: {said}"
    );
    assert!(said.contains("Not checked here"), "{said}");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    full_page_screenshot(&tab, &shots, "verify-phone-en");

    // The same bundle, every byte of what it signs or proves changed in turn, in the page.
    let ready = eval(
        &tab,
        &format!(
            "window.bundleText = {text}; window.logKey = {key};
             const base = await truetraceVerifyBundle(window.bundleText, window.logKey);
             const t = window.bundleText;
             const spans = [];
             const re = /\"(checkpoint|log_index|id|payloadType|payload|keyid|sig|inclusion|public_key|org)\":/g;
             let m;
             while ((m = re.exec(t))) {{
               const s = re.lastIndex;
               let e = s;
               if (t[s] === '\"') {{ e = s + 1; while (t[e] !== '\"') {{ if (t[e] === '\\\\') e++; e++; }} e++; }}
               else if (t[s] === '[') {{ e = t.indexOf(']', s) + 1; }}
               else {{ while (/[0-9]/.test(t[e])) e++; }}
               if (m[1] === 'id' && !/^\"[0-9a-f]{{64}}\"$/.test(t.slice(s, e))) continue;
               for (let p = s; p < e; p++) spans.push(p);
             }}
             window.positions = spans;
             return {{ok: base.ok, positions: spans.length}};",
            text = serde_json::to_string(&text).unwrap(),
            key = serde_json::to_string(crate::spawn::TEST_LOG_VKEY).unwrap(),
        ),
    );
    assert_eq!(
        ready["ok"], true,
        "the bundle as served verifies in the page: {ready}"
    );
    let positions = ready["positions"].as_u64().unwrap();
    assert!(positions > 2000, "{positions} bytes to alter");
    let mut survived = Vec::new();
    let mut checked = 0;
    for from in (0..positions).step_by(250) {
        let result = eval(
            &tab,
            &format!(
                "const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
                 const t = window.bundleText;
                 const passed = [];
                 let n = 0;
                 for (const p of window.positions.slice({from}, {to})) {{
                   const c = t[p];
                   const i = alphabet.indexOf(c);
                   const alt = i >= 0 ? alphabet[(i + 1) % 64] : String.fromCharCode(c.charCodeAt(0) ^ 1);
                   const r = await truetraceVerifyBundle(t.slice(0, p) + alt + t.slice(p + 1), window.logKey);
                   n += 1;
                   if (r.ok) passed.push(p + ': ' + JSON.stringify(t.slice(Math.max(0, p - 30), p + 30)));
                 }}
                 return {{n, passed}};",
                to = from + 250
            ),
        );
        checked += result["n"].as_u64().unwrap();
        survived.extend(result["passed"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(checked, positions);
    eprintln!("{positions} single-byte alterations of the bundle checked in the browser");
    assert!(
        survived.is_empty(),
        "{} of {positions} altered bundles still verified in the browser: {survived:?}",
        survived.len()
    );

    // In Chinese, the same verdict in words a reader there reads.
    let zh = browser.new_tab().unwrap();
    goto(&zh, &format!("{page}?lang=zh-Hant"));
    click(&zh, "#verify-button");
    wait_until(
        &zh,
        "document.getElementById('verify-yourself').dataset.state === 'verified'",
        "the verdict in Chinese",
    );
    assert!(
        text_of(&zh).contains("已在這個瀏覽器中驗證"),
        "{}",
        text_of(&zh)
    );

    // A browser whose WebCrypto has no Ed25519 is told so, and nothing is claimed.
    let old = phone_tab(&browser);
    // English again (the language chosen above is remembered in a cookie).
    goto(&old, &format!("{page}?lang=en"));
    eval(
        &old,
        "const original = crypto.subtle.importKey.bind(crypto.subtle);
         crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
           (algorithm && algorithm.name === 'Ed25519')
             ? Promise.reject(new DOMException('Ed25519 is not supported', 'NotSupportedError'))
             : original(format, key, algorithm, ...rest);
         return true;",
    );
    click(&old, "#verify-button");
    wait_until(
        &old,
        "document.getElementById('verify-yourself').dataset.state === 'unsupported'",
        "the page saying it cannot check",
    );
    let said = text_of(&old);
    assert!(said.contains("cannot check Ed25519 signatures"), "{said}");
    assert!(!said.contains("Checked in this browser"), "{said}");
    full_page_screenshot(&old, &shots, "verify-phone-no-ed25519");
}

fn text_of(tab: &headless_chrome::Tab) -> String {
    text(tab, "#verify-yourself")
}
