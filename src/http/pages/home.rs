//! The home page (`/`): find a lot by its GTIN and lot code, or scan a package with the phone's
//! camera (static/home.js); the way to the shop. `/find` takes the form.

use super::{Page, PageError, html};
use crate::db::DbPool;
use crate::domain::digital_link::{lot_path, parse_lot_reference};
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    gtin: String,
    #[serde(default)]
    lot: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub zh: bool,
    pub lang_switch: String,
    pub gtin: String,
    pub lot: String,
    pub error: Option<String>,
}

/// `GET /`
pub async fn home(page: Page) -> HttpResponse {
    render(&page, StatusCode::OK, FindQuery::default(), None)
}

fn render(
    page: &Page,
    status: StatusCode,
    typed: FindQuery,
    error: Option<String>,
) -> HttpResponse {
    let zh = page.choice.zh;
    let body = HomePage {
        zh,
        lang_switch: super::lang::switch_link("/", zh),
        gtin: typed.gtin,
        lot: typed.lot,
        error,
    }
    .render();
    let mut response = html(status, &page.choice, body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, no-cache"),
    );
    response
}

/// What is wrong with what was typed, in the page's language.
fn problem(zh: bool, en: String, zh_text: String) -> Option<String> {
    Some(if zh { zh_text } else { en })
}

/// `GET /find?gtin=&lot=`: to the lot's page when it exists; otherwise the home page again with
/// what was typed and what is wrong. A whole Digital Link (or `GTIN/LOT`) pasted into either
/// field is read as such.
pub async fn find(
    page: Page,
    pool: web::Data<DbPool>,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, PageError> {
    let typed = query.into_inner();
    let zh = page.choice.zh;
    let (gtin_text, lot_text) = (typed.gtin.trim(), typed.lot.trim());
    let pasted = [gtin_text, lot_text]
        .into_iter()
        .find(|t| t.contains('/'))
        .map(parse_lot_reference);
    let key = match pasted {
        Some(Ok(key)) => Ok((key.gtin, key.lot)),
        Some(Err(e)) => Err((
            StatusCode::BAD_REQUEST,
            problem(zh, e.clone(), format!("無法讀取這個連結：{e}")),
        )),
        None if gtin_text.is_empty() || lot_text.is_empty() => Err((
            StatusCode::BAD_REQUEST,
            problem(
                zh,
                "type both the GTIN (the number under the barcode) and the lot code printed on the package".into(),
                "請輸入 GTIN（條碼下方的數字）與包裝上印的批號".into(),
            ),
        )),
        None => match (
            Gtin::parse_any_length(gtin_text),
            LotCode::parse(lot_text),
        ) {
            (Ok(gtin), Ok(lot)) => Ok((gtin, lot)),
            (Err(e), _) => Err((
                StatusCode::BAD_REQUEST,
                problem(zh, format!("GTIN: {e}"), format!("GTIN 無效：{e}")),
            )),
            (_, Err(e)) => Err((
                StatusCode::BAD_REQUEST,
                problem(zh, format!("lot code: {e}"), format!("批號無效：{e}")),
            )),
        },
    };
    let (gtin, lot) = match key {
        Ok(key) => key,
        Err((status, error)) => return Ok(render(&page, status, typed, error)),
    };
    let (g, l) = (gtin.clone(), lot.clone());
    let (product, found) = crate::db::run(&pool, move |conn| {
        let product = crate::db::products::find(conn, g.as_str())?;
        let found = crate::db::lots::find(conn, g.as_str(), l.as_str())?.is_some();
        Ok::<_, AppError>((product, found))
    })
    .await
    .map_err(page.fail())?;
    if found {
        let mut location = lot_path(gtin.as_str(), lot.as_str());
        if page.req.query_string().contains("lang=") {
            location.push_str(if zh { "?lang=zh-Hant" } else { "?lang=en" });
        }
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish());
    }
    let error = match product {
        Some(p) => problem(
            zh,
            format!(
                "{} has no lot {lot}: check the lot code on the package",
                p.name
            ),
            format!(
                "{}沒有批號 {lot} 的紀錄，請核對包裝上的批號",
                p.name_zh.unwrap_or(p.name)
            ),
        ),
        None => problem(
            zh,
            format!("no product has the GTIN {gtin} here: check the number under the barcode"),
            format!("找不到 GTIN 為 {gtin} 的產品，請核對條碼下方的數字"),
        ),
    };
    Ok(render(&page, StatusCode::NOT_FOUND, typed, error))
}
