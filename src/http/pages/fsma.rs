//! The staff page of the FSMA 204 sortable spreadsheet: ask for a set of lots, a recall in force
//! (every lot it covers) or a date range, see the completeness report (every event and what it
//! lacks), download the sheet as CSV or XLSX. The sheet is `trace::fsma`'s, the query and the
//! files the API's (`http::api::fsma`); the recalls on offer are `trace::recall`'s.

use super::filters;
use super::recall::RecallBanner;
use super::{Page, PageError};
use crate::db::DbPool;
use crate::domain::digital_link::lot_path;
use crate::http::api::fsma::{SheetQuery, respond};
use crate::http::session::Staff;
use crate::trace::fsma::Sheet;
use crate::trace::recall::Covered;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

/// One event of the completeness report.
pub struct EventRow {
    pub cte: &'static str,
    pub rule: &'static str,
    pub date: String,
    pub lot: String,
    pub href: String,
    pub actor: String,
    pub missing: Vec<String>,
}

impl EventRow {
    pub fn of_sheet(sheet: &Sheet, zh: bool) -> Vec<Self> {
        sheet
            .rows
            .iter()
            .map(|row| Self {
                cte: if zh {
                    row.cte.label_zh()
                } else {
                    row.cte.label()
                },
                rule: row.cte.section(),
                date: row.value(crate::trace::fsma::Kde::EventDate).to_owned(),
                lot: row.lot.lot.to_string(),
                href: lot_path(row.lot.gtin.as_str(), row.lot.lot.as_str()),
                actor: row.actor_name.clone(),
                missing: row.missing_in(zh),
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "fsma.html")]
pub struct FsmaPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    /// What the form holds: the lots (one `GTIN/LOT` a line), the dates, the closure.
    pub lots: String,
    pub from: String,
    pub to: String,
    pub closure: bool,
    /// The recalls in force, to ask for the sheet of one; and the one asked for, if any.
    pub recalls: Vec<RecallBanner>,
    pub recall: String,
    /// The query as asked, without a format (for the download links); empty before asking.
    pub query: String,
    pub events: Vec<EventRow>,
    pub incomplete: usize,
    pub truncated: bool,
}

/// `GET /fsma204?lots=...&from=&to=&closure=both|none` or `?recall=<notice id>`, for staff.
pub async fn show(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
) -> Result<HttpResponse, PageError> {
    let raw = page.req.query_string().to_owned();
    let zh = page.choice.zh;
    let mut view = FsmaPage {
        nav: super::StaffNav::of(&page, &staff)?,
        zh,
        lang_switch: super::lang::switch_link(page.req.path(), zh),
        lots: String::new(),
        from: String::new(),
        to: String::new(),
        closure: true,
        recalls: Vec::new(),
        recall: String::new(),
        query: String::new(),
        events: Vec::new(),
        incomplete: 0,
        truncated: false,
    };
    let recalls = crate::db::run(&pool, |conn| Ok(Covered::load(conn)?.recalls))
        .await
        .map_err(page.fail())?;
    view.recalls = recalls
        .iter()
        .rev()
        .map(|r| RecallBanner::of(r, zh, r.via.iter().map(|(_, l)| l.clone()).collect()))
        .collect();
    let asked = without(&raw, &["lang", "format"]);
    if !asked.is_empty() {
        let query = SheetQuery::parse(&asked).map_err(page.fail())?;
        view.recall = query.recall.map(|r| r.to_hex()).unwrap_or_default();
        view.lots = query
            .lots
            .iter()
            .map(|k| format!("{}/{}", k.gtin, k.lot))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(d) = query.dates {
            (view.from, view.to) = (d.from.to_string(), d.to.to_string());
        }
        view.closure = query.closure == crate::trace::fsma::Closure::Both;
        view.query = asked;
        let sheet = crate::db::run(&pool, move |conn| query.load(conn, zh))
            .await
            .map_err(page.fail())?;
        view.events = EventRow::of_sheet(&sheet, zh);
        view.incomplete = view.events.iter().filter(|e| !e.missing.is_empty()).count();
        view.truncated = sheet.truncated;
    }
    Ok(super::html(StatusCode::OK, &page.choice, view.render()))
}

/// `GET /fsma204/spreadsheet?...&format=csv|xlsx`, for staff: the file itself.
pub async fn download(
    page: Page,
    pool: web::Data<DbPool>,
    _staff: Staff,
) -> Result<HttpResponse, PageError> {
    let query =
        SheetQuery::parse(&without(page.req.query_string(), &["lang"])).map_err(page.fail())?;
    let (format, stem, zh) = (query.format, query.file_stem(), page.choice.zh);
    let sheet = crate::db::run(&pool, move |conn| query.load(conn, zh))
        .await
        .map_err(page.fail())?;
    respond(&sheet, format, &stem).map_err(page.fail())
}

/// The query without the parameters named (the page's language is not part of the sheet).
fn without(query: &str, names: &[&str]) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !names.iter().any(|n| p.split('=').next() == Some(n)))
        .collect::<Vec<_>>()
        .join("&")
}
