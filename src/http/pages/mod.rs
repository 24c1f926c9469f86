//! Server-rendered pages and the GS1 Digital Link resolver.

pub mod account;
pub mod embed;
pub mod field;
pub mod fsma;
pub mod home;
pub mod lang;
pub mod pickup;
pub mod product_ld;
pub mod qr;
pub mod recall;
pub mod resolver;
pub mod shop;
pub mod trace;

use crate::error::AppError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use lang::Choice;

/// `Cache-Control` of every answer that can carry a recall (the provenance page and JSON, embed
/// cards, the shop): browsers and CDNs keep it but ask again each time (a 304 while it is
/// current), so that a recall never waits out a kept copy.
pub const RECALLABLE: &str = "public, no-cache";

/// The navigation of every staff page: where a staff member goes next, and logging out.
#[derive(Debug, Clone)]
pub struct StaffNav {
    /// For the log-out form.
    pub csrf: String,
    /// The organization is a store: its pickup counter.
    pub store: bool,
}

impl StaffNav {
    pub fn of(page: &Page, staff: &crate::http::session::Staff) -> Result<Self, PageError> {
        Ok(Self {
            csrf: page.csrf()?.token,
            store: staff.org.has_role(crate::domain::Role::Retailer),
        })
    }
}

pub use crate::domain::time::Reader;

/// An HTML response in the chosen language (remembering an explicit choice in a cookie).
pub fn html_builder(status: StatusCode, choice: &Choice) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_LANGUAGE,
            if choice.zh { "zh-Hant" } else { "en" },
        ))
        .insert_header((header::VARY, "Accept, Accept-Language, Cookie"));
    if let Some(cookie) = &choice.remember {
        builder.cookie(cookie.clone());
    }
    builder
}

/// Renders a template into an HTML response with the given status.
pub fn html(
    status: StatusCode,
    choice: &Choice,
    body: Result<String, askama::Error>,
) -> HttpResponse {
    match body {
        Ok(body) => html_builder(status, choice).body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub fn error_page(
    req: &HttpRequest,
    choice: &Choice,
    status: StatusCode,
    detail: String,
) -> HttpResponse {
    let page = ErrorPage::new(choice.zh, req.path(), status, detail);
    html(status, choice, page.render())
}

/// An error on a page route: answered as the error page, in the visitor's language, with the
/// application error's status and message. Handlers return it with `?` (see `failing`).
#[derive(Debug)]
pub struct PageError {
    error: AppError,
    zh: bool,
    path: String,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = self.error.internal_cause() {
            tracing::error!(code = self.error.code(), %cause, "page failed");
        }
        let status = self.status_code();
        let page = ErrorPage::new(self.zh, &self.path, status, self.error.to_string());
        let choice = Choice {
            zh: self.zh,
            remember: None,
        };
        html(status, &choice, page.render())
    }
}

/// The opening every page handler shares: the request, the visitor's language (from `?lang=`, the
/// cookie or `Accept-Language`) and the site, with the CSRF token of its forms and its error page.
pub struct Page {
    pub req: HttpRequest,
    pub choice: Choice,
    pub site: actix_web::web::Data<crate::http::state::Site>,
}

impl actix_web::FromRequest for Page {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(crate::http::state::shared(req).map(|site| Page {
            req: req.clone(),
            choice: choose_lang(req),
            site,
        }))
    }
}

impl Page {
    /// Turns application errors into this request's error page: `.map_err(page.fail())?`.
    pub fn fail(&self) -> impl Fn(AppError) -> PageError + use<> {
        failing(&self.req, &self.choice)
    }

    /// The CSRF token for a form on this page (and its cookie, for a visitor without a session).
    pub fn csrf(&self) -> Result<crate::http::session::Csrf, PageError> {
        crate::http::session::csrf_for(&self.req, self.site.secure_cookies).map_err(self.fail())
    }

    /// Who reads this page: its language and the site's offset for times.
    pub fn reader(&self) -> Reader {
        Reader {
            zh: self.choice.zh,
            offset: self.site.offset,
        }
    }

    /// Refuses a form whose CSRF token is not the one this browser was given.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        crate::http::session::check_csrf(&self.req, submitted)
            .map_err(|e| match e {
                AppError::Forbidden(_) if self.choice.zh => AppError::Forbidden(
                    "表單的安全驗證碼（CSRF）遺失或不符：請重新整理頁面後再送出一次".into(),
                ),
                other => other,
            })
            .map_err(self.fail())
    }
}

/// Turns application errors into error pages for this request: `.map_err(&fail)?`.
pub fn failing(req: &HttpRequest, choice: &Choice) -> impl Fn(AppError) -> PageError + use<> {
    let (zh, path) = (choice.zh, req.path().to_owned());
    move |error| PageError {
        error,
        zh,
        path: path.clone(),
    }
}

/// A product's name in the page's language, and its name in the other language when it has one.
pub fn names(product: &crate::db::rows::ProductRow, zh: bool) -> (String, Option<String>) {
    match (&product.name_zh, zh) {
        (Some(name_zh), true) => (name_zh.clone(), Some(product.name.clone())),
        (Some(name_zh), false) => (product.name.clone(), Some(name_zh.clone())),
        (None, _) => (product.name.clone(), None),
    }
}

/// The answer for a GTIN no product has, in the page's language.
pub fn no_product(gtin: &impl std::fmt::Display, zh: bool) -> AppError {
    AppError::NotFound(if zh {
        format!("沒有商品編號（GTIN）為 {gtin} 的產品")
    } else {
        format!("no product with GTIN {gtin}")
    })
}

/// The answer for a lot code a product has no lot of, in the page's language.
pub fn no_lot(gtin: &impl std::fmt::Display, lot: &impl std::fmt::Display, zh: bool) -> AppError {
    AppError::NotFound(if zh {
        format!("商品編號（GTIN）{gtin} 沒有批號 {lot}")
    } else {
        format!("no lot {lot} of GTIN {gtin}")
    })
}

/// A GTIN from a page's path; a malformed one is the visitor's error (400).
pub fn path_gtin(text: &str) -> Result<crate::domain::Gtin, AppError> {
    crate::domain::Gtin::parse(text).map_err(AppError::Malformed)
}

#[derive(serde::Deserialize)]
struct LangParam {
    lang: Option<String>,
}

/// The page language for a request, from its `?lang=`, cookie or `Accept-Language`.
pub fn choose_lang(req: &HttpRequest) -> Choice {
    lang::choose(req, asked_lang(req).as_deref())
}

/// The `?lang=` of a request, if any.
fn asked_lang(req: &HttpRequest) -> Option<String> {
    actix_web::web::Query::<LangParam>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().lang)
}

/// The language of an embedded card: `?lang=` or `Accept-Language`, never the cookie.
pub fn embed_lang(req: &HttpRequest) -> Choice {
    lang::choose_unremembered(req, asked_lang(req).as_deref())
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub zh: bool,
    pub lang_switch: String,
    pub status: u16,
    pub detail: String,
    /// The detail's own language: the messages pages make are in the page's language, but a
    /// detail from deeper down (a GS1 syntax rule) may be English only, and is marked as such.
    pub detail_zh: bool,
    pub reader: ErrorReader,
}

/// Who meets an error page, for its heading and its advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReader {
    /// Someone who scanned or typed a product's code (a Digital Link).
    Scanner,
    /// A staff member on a staff page.
    Staff,
    /// Anyone else: a shopper in the shop, a customer with a reservation.
    Visitor,
}

impl ErrorReader {
    fn of(path: &str) -> Self {
        const STAFF: [&str; 7] = [
            "/staff",
            "/account",
            "/dashboard",
            "/recalls",
            "/fsma204",
            "/field",
            "/labels",
        ];
        if STAFF.iter().any(|prefix| path.starts_with(prefix)) {
            Self::Staff
        } else if path.contains("/01/") {
            Self::Scanner
        } else {
            Self::Visitor
        }
    }
}

impl ErrorPage {
    pub fn new(zh: bool, path: &str, status: StatusCode, detail: String) -> Self {
        Self {
            zh,
            lang_switch: lang::switch_link(path, zh),
            status: status.as_u16(),
            detail_zh: crate::domain::text::has_han(&detail),
            detail,
            reader: ErrorReader::of(path),
        }
    }

    pub fn scanned(&self) -> bool {
        self.reader == ErrorReader::Scanner
    }

    pub fn staff(&self) -> bool {
        self.reader == ErrorReader::Staff
    }
}

/// Filters the templates use beside askama's own.
pub mod filters {
    /// Text a person wrote, for a place where no `<bdi>` element can go (`<title>`, an
    /// attribute): wrapped in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE, so that a
    /// right-to-left override inside it cannot reorder the text around it.
    pub fn isolate<T: std::fmt::Display>(
        text: T,
        _: &dyn askama::Values,
    ) -> askama::Result<String> {
        Ok(format!("\u{2068}{text}\u{2069}"))
    }

    /// A key data element's name that has no translation, read as words: `storage_room` →
    /// "Storage room" (a key another client chose; never shown as a raw key).
    pub fn humanize<T: std::fmt::Display>(
        key: T,
        _: &dyn askama::Values,
    ) -> askama::Result<String> {
        let words = key.to_string().replace('_', " ");
        let mut chars = words.chars();
        Ok(match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => words,
        })
    }
}

/// JSON for a `<script type="application/ld+json">` element: HTML-significant characters escaped.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let out = script_json(&serde_json::json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!out.contains('<') && !out.contains('>'));
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
    }
}
