//! The staff page of a trace: a lot's closure forward or backward drawn as an indented tree
//! (what came from where), with the stores that received a covered lot and what each still
//! holds; printable. It shows the API's answer (`http::api::lots::trace_body`).

use super::{Page, PageError, filters};
use crate::db::DbPool;
use crate::domain::digital_link::lot_path;
use crate::domain::{Gtin, LotCode, Quantity};
use crate::error::AppError;
use crate::http::api::lots::{OrgRef, TraceQuery, TraceResponse, trace_body};
use crate::http::session::Staff;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

/// `GET /trace/01/{gtin}/10/{lot}?direction=forward|backward&cursor=C`, for staff.
pub async fn show(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    path: web::Path<(String, String)>,
    q: web::Query<TraceQuery>,
) -> Result<HttpResponse, PageError> {
    let (gtin, lot) = path.into_inner();
    let gtin = Gtin::parse(&gtin)
        .map_err(AppError::Malformed)
        .map_err(page.fail())?;
    let lot = LotCode::parse(&lot)
        .map_err(AppError::Malformed)
        .map_err(page.fail())?;
    let asked = q.parse().map_err(page.fail())?;
    let public_url = page.site.public_url.clone();
    let here = format!("/trace{}", lot_path(gtin.as_str(), lot.as_str()));
    let body = crate::db::run(&pool, move |conn| {
        trace_body(conn, &gtin, &lot, asked, &public_url)
    })
    .await
    .map_err(page.fail())?;
    let nav = super::StaffNav::of(&page, &staff)?;
    let view = TracePage::new(&body, page.choice.zh, &here, nav);
    Ok(super::html(StatusCode::OK, &page.choice, view.render()))
}

fn org_name(org: &OrgRef, zh: bool) -> String {
    let name = org.name.clone().unwrap_or_else(|| org.id.clone());
    if zh {
        org.name_zh.clone().unwrap_or(name)
    } else {
        name
    }
}

fn amount(q: Option<&Quantity>, zh: bool) -> String {
    q.map_or_else(String::new, |q| q.words(zh))
}

/// One line of the tree.
pub struct TreeRow {
    pub depth: u32,
    /// Left indentation in em.
    pub indent: u32,
    pub gtin: String,
    pub lot: String,
    pub product: String,
    pub custodian: String,
    pub quantity: String,
    pub event: String,
    /// The lot's own trace, the same way.
    pub href: String,
    /// The lot's provenance page.
    pub page: String,
}

/// One lot a store received.
pub struct StoreRow {
    pub store: String,
    pub gtin: String,
    pub lot: String,
    pub in_stock: bool,
    pub on_hand: String,
    pub received_at: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
pub struct TracePage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    pub forward: bool,
    pub gtin: String,
    pub lot: String,
    /// The lot code as it goes in a query string.
    pub lot_query: String,
    pub product: String,
    pub rows: Vec<TreeRow>,
    pub has_stores: bool,
    pub stores: Vec<StoreRow>,
    pub truncated: bool,
    pub limit: usize,
    /// The other direction, and the next page, when there is one.
    pub other: String,
    pub next: Option<String>,
}

impl TracePage {
    fn new(body: &TraceResponse, zh: bool, here: &str, nav: super::StaffNav) -> Self {
        let forward = body.direction == "forward";
        let direction = body.direction;
        let lang = if zh { "en" } else { "zh-Hant" };
        let product_of = |l: &crate::http::api::lots::TraceLot| {
            l.product.as_ref().map_or_else(
                || l.gtin.clone(),
                |p| {
                    if zh {
                        p.name_zh.clone().unwrap_or_else(|| p.name.clone())
                    } else {
                        p.name.clone()
                    }
                },
            )
        };
        let rows = body
            .tree()
            .into_iter()
            .map(|l| TreeRow {
                depth: l.depth,
                indent: l.depth.min(20) * 2,
                gtin: l.gtin.clone(),
                lot: l.lot.clone(),
                product: product_of(l),
                custodian: org_name(&l.custodian, zh),
                quantity: amount(l.quantity.as_ref(), zh),
                event: l
                    .created_by
                    .as_ref()
                    .map_or_else(String::new, |c| c.event.clone()),
                href: format!("/trace{}?direction={direction}", lot_path(&l.gtin, &l.lot)),
                page: lot_path(&l.gtin, &l.lot),
            })
            .collect();
        let stores = body
            .stores
            .iter()
            .flatten()
            .flat_map(|s| {
                s.lots.iter().map(|h| StoreRow {
                    store: org_name(&s.store, zh),
                    gtin: h.gtin.clone(),
                    lot: h.lot.clone(),
                    in_stock: h.in_stock,
                    on_hand: amount(h.on_hand.as_ref(), zh),
                    // As the store signed it, in its own offset.
                    received_at: chrono::DateTime::parse_from_rfc3339(&h.received_at).map_or_else(
                        |_| h.received_at.clone(),
                        |t| crate::domain::time::for_people(&t),
                    ),
                })
            })
            .collect();
        let other = if forward { "backward" } else { "forward" };
        Self {
            nav,
            zh,
            lang_switch: format!("{here}?direction={direction}&lang={lang}"),
            forward,
            product: body
                .lots
                .iter()
                .find(|l| l.depth == 0)
                .map_or_else(|| body.gtin.clone(), product_of),
            gtin: body.gtin.clone(),
            lot: body.lot.clone(),
            lot_query: percent_encoding::utf8_percent_encode(
                &body.lot,
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string(),
            rows,
            has_stores: body.stores.is_some(),
            stores,
            truncated: body.truncated,
            limit: body.limit,
            other: format!("{here}?direction={other}"),
            next: body
                .next_cursor
                .as_ref()
                .map(|c| format!("{here}?direction={direction}&cursor={c}")),
        }
    }
}
