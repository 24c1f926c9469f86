//! Choosing the page language: `?lang=` (remembered in a cookie), then the cookie, then
//! `Accept-Language`; Traditional Chinese when nothing says otherwise (the first market is Taiwan).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

pub const COOKIE: &str = "lang";

/// The language chosen, and the cookie to set when the request asked for one explicitly.
pub struct Choice {
    pub zh: bool,
    pub remember: Option<Cookie<'static>>,
}

fn parse_tag(tag: &str) -> Option<bool> {
    let tag = tag.trim().to_ascii_lowercase();
    if tag.starts_with("zh") {
        Some(true)
    } else if tag.starts_with("en") {
        Some(false)
    } else {
        None
    }
}

pub fn choose(req: &HttpRequest, explicit: Option<&str>) -> Choice {
    if let Some(zh) = explicit.and_then(parse_tag) {
        let value = if zh { "zh-Hant" } else { "en" };
        let cookie = Cookie::build(COOKIE, value)
            .path("/")
            .max_age(Duration::days(365))
            .same_site(SameSite::Lax)
            .http_only(true)
            .finish();
        return Choice {
            zh,
            remember: Some(cookie),
        };
    }
    if let Some(zh) = req.cookie(COOKIE).and_then(|c| parse_tag(c.value())) {
        return Choice { zh, remember: None };
    }
    from_header(req)
}

/// For a card embedded in another site's page: `?lang=`, then `Accept-Language`; the cookie is
/// neither read nor set, so that one card's language never changes the other cards on the page.
pub fn choose_unremembered(req: &HttpRequest, explicit: Option<&str>) -> Choice {
    match explicit.and_then(parse_tag) {
        Some(zh) => Choice { zh, remember: None },
        None => from_header(req),
    }
}

/// `Accept-Language`, honouring q-values; Traditional Chinese when it names nothing we speak.
fn from_header(req: &HttpRequest) -> Choice {
    let header = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut best: Option<(f32, bool)> = None;
    let mut refused_zh = false;
    for (position, item) in header.split(',').enumerate() {
        let mut parts = item.split(';');
        let Some(zh) = parts.next().and_then(parse_tag) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        // q=0 means "not this language" (RFC 9110), and so does a q-value that cannot be read.
        if q <= 0.0 {
            refused_zh |= zh;
            continue;
        }
        // Earlier entries win ties.
        let q = q - position as f32 * 1e-4;
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, zh));
        }
    }
    Choice {
        // Nothing we speak asked for: Traditional Chinese, unless the visitor refused it.
        zh: best.map_or(!refused_zh, |(_, zh)| zh),
        remember: None,
    }
}

/// The link that switches the page to the other language. `path` should be the page's canonical
/// path; one that is not a plain same-site path (a request's `//host/...` or `/\\host/...`) is
/// left out, so the link only changes the query of the page the browser shows.
pub fn switch_link(path: &str, zh: bool) -> String {
    let query = format!("?lang={}", if zh { "en" } else { "zh-Hant" });
    match crate::domain::site_path::same_site_path(path) {
        Some(path) => format!("{path}{query}"),
        None => query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn explicit_then_cookie_then_header() {
        let req = TestRequest::default()
            .insert_header(("Accept-Language", "en-US,en;q=0.9,zh-TW;q=0.8"))
            .to_http_request();
        assert!(!choose(&req, None).zh);
        let req = TestRequest::default()
            .insert_header(("Accept-Language", "zh-TW,zh;q=0.9,en;q=0.8"))
            .to_http_request();
        assert!(choose(&req, None).zh);
        let req = TestRequest::default()
            .insert_header(("Accept-Language", "fr, en;q=0.5"))
            .to_http_request();
        assert!(!choose(&req, None).zh);
        assert!(
            choose(&TestRequest::default().to_http_request(), None).zh,
            "Taiwan first"
        );
        let req = TestRequest::default()
            .cookie(Cookie::new(COOKIE, "en"))
            .insert_header(("Accept-Language", "zh-TW"))
            .to_http_request();
        assert!(!choose(&req, None).zh);
        let chosen = choose(&req, Some("zh-Hant"));
        assert!(chosen.zh && chosen.remember.is_some());
    }

    #[test]
    fn an_embedded_card_neither_reads_nor_sets_the_cookie() {
        let req = TestRequest::default()
            .cookie(Cookie::new(COOKIE, "en"))
            .insert_header(("Accept-Language", "zh-TW"))
            .to_http_request();
        let chosen = choose_unremembered(&req, None);
        assert!(
            chosen.zh && chosen.remember.is_none(),
            "the header, not the cookie"
        );
        let chosen = choose_unremembered(&req, Some("en"));
        assert!(
            !chosen.zh && chosen.remember.is_none(),
            "asked for, not remembered"
        );
        let chosen = choose_unremembered(&req, Some("fr"));
        assert!(
            chosen.zh,
            "a language we do not speak falls back to the header"
        );
    }

    #[test]
    fn a_language_with_q_zero_is_never_chosen() {
        for (header, zh) in [
            ("en;q=0", true),
            ("en;q=0, zh-TW;q=0.1", true),
            ("zh-TW;q=0, en;q=0.2", false),
            ("zh;q=0.0, fr", false),
            ("zh-Hant;q=0.3, en;q=0.9", false),
            ("en;q=0.5, zh-TW;q=0.8", true),
            ("en;q=bogus", true),
        ] {
            let req = TestRequest::default()
                .insert_header(("Accept-Language", header))
                .to_http_request();
            assert_eq!(choose(&req, None).zh, zh, "{header}");
        }
    }

    #[test]
    fn the_switch_link_never_leaves_the_site() {
        assert_eq!(switch_link("/shop", true), "/shop?lang=en");
        for path in [
            "//evil.example/01/1",
            "/\\evil.example/01/1",
            "/%2F/evil",
            "/a\tb",
        ] {
            assert_eq!(switch_link(path, false), "?lang=zh-Hant", "{path}");
        }
    }
}
