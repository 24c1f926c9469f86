//! Server-rendered pages and the GS1 Digital Link resolver.

pub mod account;
pub mod embed;
pub mod lang;
pub mod pickup;
pub mod qr;
pub mod resolver;
pub mod shop;

use crate::error::AppError;
use crate::pages::ErrorPage;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use lang::Choice;

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
    let page = ErrorPage {
        zh: choice.zh,
        lang_switch: lang::switch_link(req.path(), choice.zh),
        status: status.as_u16(),
        detail,
    };
    html(status, choice, page.render())
}

/// An application error as a page in the visitor's language.
pub fn error_of(req: &HttpRequest, choice: &Choice, e: &AppError) -> HttpResponse {
    if let AppError::Internal(cause) | AppError::Unavailable(cause) = e {
        tracing::error!(code = e.code(), %cause, "page failed");
    }
    error_page(req, choice, e.status_code(), e.to_string())
}

#[derive(serde::Deserialize)]
struct LangParam {
    lang: Option<String>,
}

/// The page language for a request, from its `?lang=`, cookie or `Accept-Language`.
pub fn choose_lang(req: &HttpRequest) -> Choice {
    let explicit = actix_web::web::Query::<LangParam>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().lang);
    lang::choose(req, explicit.as_deref())
}
