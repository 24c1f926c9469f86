//! In-store pickup pages. Consumers (no account): the reservation form and the reservation's
//! own page with its code and QR. Store staff (logged in): the counter page where a code is
//! typed or scanned, and the handover confirmation that makes the store sign a `sell`.

use super::filters;
use super::names;
use super::shop::StoreStock;
use super::shop::{Visit, by_store};
use super::{Page, PageError, html_builder, path_gtin};
use crate::db::DbPool;
use crate::db::rows::{OrgRow, ReservationRow};
use crate::db::{orgs, products, reservations};
use crate::domain::ip_block::limit_key;
use crate::domain::quantity::in_words;
use crate::domain::{Gtin, Role};
use crate::error::AppError;
use crate::http::client_addr::client_ip;
use crate::http::session::Staff;
use crate::http::state::HostedKeys;
use crate::ledger::Ledger;
use crate::omo::activity::Activity;
use crate::omo::activity::{Channel, Kind};
use crate::omo::pickup::{self, Client, Handover, Refused, ReserveForm, Standing, Terms};
use crate::omo::stock;
use crate::settings::Settings;
use crate::trace::provenance::OrgView;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;

fn standing_name(s: Standing) -> &'static str {
    match s {
        Standing::Reserved => "reserved",
        Standing::Expired => "expired",
        Standing::HandingOver => "handing_over",
        Standing::PickedUp => "picked_up",
        Standing::Cancelled => "cancelled",
        Standing::Recalled => "recalled",
    }
}

/// A reservation as the pages show it; `standing` from `pickup::standing_now`.
pub fn view(
    row: &ReservationRow,
    product_name: String,
    standing: Standing,
    reader: super::Reader,
) -> ReservationView {
    let zh = reader.zh;
    ReservationView {
        code_display: pickup::display_code(&row.code),
        href: format!("/staff/pickups/{}", row.code),
        product_name,
        gtin: row.gtin.clone(),
        lot: row.lot.clone(),
        lot_href: crate::domain::digital_link::lot_path(&row.gtin, &row.lot),
        quantity: row.quantity,
        unit: crate::domain::quantity::unit_words(&row.unit).map_or_else(
            || row.unit.clone(),
            |(z, e)| if zh { z } else { e }.to_owned(),
        ),
        customer_name: row.customer_name.clone(),
        customer_phone: row.customer_phone.clone(),
        standing: standing_name(standing),
        created: reader.time(row.created_at),
        expires: reader.time(row.expires_at),
        code: row.code.clone(),
    }
}

/// Renders the reservation form, with the stores that have the product.
async fn form_page(
    page: &Page,
    pool: &DbPool,
    settings: &web::Data<Settings>,
    gtin: Gtin,
    form: ReserveForm,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = page;
    let fail = page.fail();
    let csrf = page.csrf()?;
    let zh = choice.zh;
    let switch = super::lang::switch_link(req.path(), zh);
    let visit = Visit {
        ch: Some(form.ch.clone()),
        store: None,
        lot: None,
    };
    let token = csrf.token.clone();
    let minutes = settings.reservation_minutes;
    // The form's largest quantity: 50, or less where one holder may hold less.
    let limits = &settings.pickup;
    let max_units = pickup::MAX_UNITS
        .min(i64::from(limits.holder_units))
        .min(i64::from(limits.address_units));
    let body = crate::db::run(pool, move |conn| {
        let product =
            products::find(conn, gtin.as_str())?.ok_or_else(|| super::no_product(&gtin, zh))?;
        // Stock under a recall in force is not offered.
        let covered = crate::trace::recall::Covered::load(conn)?;
        let lines: Vec<_> = stock::of_product(conn, gtin.as_str())?
            .into_iter()
            .filter(|l| !covered.covers(&l.lot.gtin, &l.lot.lot))
            .collect();
        PickupFormPage {
            zh,
            lang_switch: switch,
            product_name: names(&product, zh).0,
            gtin: gtin.to_string(),
            stores: by_store(&lines, gtin.as_str(), &visit, zh),
            form,
            csrf: token,
            error,
            max_units,
            minutes,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(&fail)?;
    let mut page = html_builder(status, choice);
    page.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = csrf.cookie {
        page.cookie(cookie);
    }
    Ok(page.body(body))
}

/// `GET /shop/{gtin}/pickup`: the reservation form.
pub async fn form(
    page: Page,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    gtin: web::Path<String>,
    visit: web::Query<Visit>,
) -> Result<HttpResponse, PageError> {
    let gtin = path_gtin(&gtin).map_err(page.fail())?;
    let form = ReserveForm {
        store: visit.store().unwrap_or_default().to_owned(),
        lot: visit.lot.clone().unwrap_or_default(),
        quantity: "1".into(),
        ch: visit.channel().as_str().to_owned(),
        ..Default::default()
    };
    form_page(&page, &pool, &settings, gtin, form, StatusCode::OK, None).await
}

/// `POST /shop/{gtin}/pickup`: reserves, then shows the reservation; a refusal shows the form
/// again with the message and everything the consumer typed. A limit on what may be held at once
/// is a 409 (the request conflicts with the reservations already held, and is fine once they
/// end), said in the consumer's language.
pub async fn reserve(
    page: Page,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    activity: web::Data<Activity>,
    gtin: web::Path<String>,
    form: web::Form<ReserveForm>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = &page;
    let fail = page.fail();
    let form = form.into_inner();
    let gtin = path_gtin(&gtin).map_err(&fail)?;
    page.check_csrf(&form.csrf)?;
    let client = Client {
        browser_token: form.csrf.clone(),
        address: client_ip(req, &settings.trusted_proxies)
            .map(limit_key)
            .unwrap_or_default(),
    };
    let (g, f, zh) = (gtin.to_string(), form.clone(), choice.zh);
    let (minutes, limits) = (settings.reservation_minutes, settings.pickup.clone());
    let reserved = crate::db::run(&pool, move |conn| {
        let terms = Terms {
            minutes,
            limits: &limits,
        };
        Ok(pickup::reserve(conn, &g, &f, &terms, &client, zh))
    })
    .await
    .map_err(&fail)?;
    let (status, message) = match reserved {
        Ok(row) => {
            let channel = Channel::parse(&row.channel).unwrap_or(Channel::Direct);
            activity.record(
                Kind::Reservation,
                channel,
                &row.gtin,
                &row.lot,
                &row.store_org,
            );
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/pickup/{}", row.code)))
                .finish());
        }
        Err(Refused::Limit(limit)) => (StatusCode::CONFLICT, limit.message(choice.zh)),
        Err(Refused::Error(e @ (AppError::InvalidField(_) | AppError::Conflict(_)))) => {
            (actix_web::ResponseError::status_code(&e), e.to_string())
        }
        Err(Refused::Error(e)) => return Err(fail(e)),
    };
    form_page(&page, &pool, &settings, gtin, form, status, Some(message)).await
}

/// `GET /pickup/{code}`: the consumer's reservation: its code and QR to show at the counter.
pub async fn reservation(
    page: Page,
    pool: web::Data<DbPool>,
    code: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, site } = &page;
    let zh = choice.zh;
    let reader = page.reader();
    let switch = super::lang::switch_link(req.path(), zh);
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        let row = pickup::find(conn, &code, zh)?;
        let product = products::find(conn, &row.gtin)?;
        let store = orgs::find(conn, &row.store_org)?
            .ok_or_else(|| AppError::internal("a reservation's store is missing"))?;
        let staff_url = format!("{public_url}/staff/pickups/{}", row.code);
        let qr = qrcode::QrCode::with_error_correction_level(&staff_url, qrcode::EcLevel::M)
            .map_err(AppError::internal)?
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build();
        let product_name = product.map_or_else(|| row.gtin.clone(), |p| names(&p, zh).0);
        ReservationPage {
            zh,
            lang_switch: switch,
            r: view(
                &row,
                product_name,
                pickup::standing_now(conn, &row, Utc::now().naive_utc())?,
                reader,
            ),
            store: OrgView::from(&store),
            store_href: format!("/stores/{}", store.id),
            qr_svg: qr,
            first_name: row.customer_name.chars().take(1).collect(),
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    Ok(html_builder(StatusCode::OK, choice)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body))
}

/// The staff member's organization, when it is a store.
fn staff_store(staff: &Staff, zh: bool) -> Result<OrgRow, AppError> {
    if !staff.org.has_role(Role::Retailer) {
        let org = &staff.org;
        return Err(AppError::Forbidden(if zh {
            format!(
                "{}不是門市：預約取貨由門市員工交付",
                org.name_zh.as_deref().unwrap_or(&org.name)
            )
        } else {
            format!(
                "{} is not a store: pickups are handed over by store staff",
                org.name
            )
        }));
    }
    Ok(staff.org.clone())
}

#[derive(serde::Deserialize)]
pub struct CodeQuery {
    code: Option<String>,
}

/// `GET /staff/pickups`: the counter: type or scan a code; the store's recent reservations.
pub async fn counter(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    query: web::Query<CodeQuery>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = &page;
    let fail = page.fail();
    if let Some(code) = query.code.as_deref() {
        // The typed code, forgiving about case and dashes.
        let code =
            pickup::normalize_code(code).ok_or_else(|| fail(pickup::unknown_code(choice.zh)))?;
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/staff/pickups/{code}")))
            .finish());
    }
    let store = staff_store(&staff, page.choice.zh).map_err(&fail)?;
    let csrf = page.csrf()?.token;
    let zh = choice.zh;
    let reader = page.reader();
    let nav = super::StaffNav::of(&page, &staff)?;
    let switch = super::lang::switch_link(req.path(), zh);
    let body = crate::db::run(&pool, move |conn| {
        let rows = reservations::of_store(conn, &store.id, 50)?;
        let mut recent = Vec::new();
        for row in &rows {
            let name = products::find(conn, &row.gtin)?
                .map_or_else(|| row.gtin.clone(), |p| names(&p, zh).0);
            let standing = pickup::standing_now(conn, row, Utc::now().naive_utc())?;
            recent.push(view(row, name, standing, reader));
        }
        StaffPickupsPage {
            nav,
            zh,
            lang_switch: switch,
            pull: super::recall::pull_lines(conn, &store, zh)?,
            store: OrgView::from(&store),
            recent,
            csrf,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(&fail)?;
    Ok(html_builder(StatusCode::OK, choice)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// One reservation at the store's counter, with what the last action did.
async fn staff_page(
    page: &Page,
    pool: &DbPool,
    staff: &Staff,
    code: String,
    status: StatusCode,
    outcome: Option<Result<String, String>>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = page;
    let fail = page.fail();
    let (message, error) = match outcome {
        Some(Ok(message)) => (Some(message), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    let store = staff_store(staff, page.choice.zh).map_err(&fail)?;
    let csrf = page.csrf()?.token;
    let zh = choice.zh;
    let reader = page.reader();
    let nav = super::StaffNav::of(page, staff)?;
    let switch = super::lang::switch_link(req.path(), zh);
    let body = crate::db::run(pool, move |conn| {
        let row = pickup::find_for_store(conn, &code, &store, zh)?;
        let name =
            products::find(conn, &row.gtin)?.map_or_else(|| row.gtin.clone(), |p| names(&p, zh).0);
        let standing = pickup::standing_now(conn, &row, Utc::now().naive_utc())?;
        let r = view(&row, name, standing, reader);
        StaffPickupPage {
            nav,
            zh,
            lang_switch: switch,
            // Confirmed or cancelled only while reserved: not while being handed over, nor
            // once picked up, expired or cancelled.
            can_confirm: r.standing == "reserved",
            r,
            csrf,
            message,
            error,
            sell_record: row.sell_record.clone(),
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(&fail)?;
    Ok(html_builder(status, choice)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `GET /staff/pickups/{code}`: one reservation, with the handover button.
pub async fn show(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    code: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let code = code.into_inner();
    staff_page(&page, &pool, &staff, code, StatusCode::OK, None).await
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /staff/pickups/{code}/confirm`: the handover. The store signs a `sell` record.
pub async fn confirm(
    page: Page,
    ledger: web::Data<Ledger>,
    activity: web::Data<Activity>,
    hosted: web::Data<HostedKeys>,
    staff: Staff,
    code: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let pool = ledger.pool();
    let fail = page.fail();
    page.check_csrf(&form.csrf)?;
    let store = staff_store(&staff, page.choice.zh).map_err(&fail)?;
    let sealer = hosted.sealer().map_err(&fail)?;
    let code = code.into_inner();
    let handover = Handover {
        ledger: &ledger,
        sealer: &sealer,
        activity: &activity,
    };
    let (status, outcome) =
        match pickup::confirm(handover, &code, &store, &staff.user.id, page.reader()).await {
            Ok(done) => {
                let record = done.sell_record.as_deref().unwrap_or_default();
                let record = &record[..12.min(record.len())];
                let amount = in_words(&done.quantity.to_string(), &done.unit, page.choice.zh);
                let message = if page.choice.zh {
                    format!("已交付：{amount}已記錄為售出（紀錄 {record}）")
                } else {
                    format!("handed over: {amount} recorded as sold (record {record})")
                };
                (StatusCode::OK, Ok(message))
            }
            Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_))) => return Err(fail(e)),
            Err(e) => {
                if let Some(cause) = e.internal_cause() {
                    tracing::error!(%cause, "handover failed");
                }
                (
                    actix_web::ResponseError::status_code(&e),
                    Err(e.to_string()),
                )
            }
        };
    staff_page(&page, pool, &staff, code, status, Some(outcome)).await
}

#[derive(Template)]
#[template(path = "pickup_form.html")]
pub struct PickupFormPage {
    pub zh: bool,
    pub lang_switch: String,
    pub product_name: String,
    pub gtin: String,
    pub stores: Vec<StoreStock>,
    pub form: ReserveForm,
    pub csrf: String,
    pub error: Option<String>,
    pub max_units: i64,
    pub minutes: u32,
}

/// A reservation as pages show it.
#[derive(Debug, Clone)]
pub struct ReservationView {
    pub code: String,
    pub code_display: String,
    pub href: String,
    pub product_name: String,
    pub gtin: String,
    pub lot: String,
    /// The lot's provenance page.
    pub lot_href: String,
    pub quantity: i64,
    pub unit: String,
    pub customer_name: String,
    pub customer_phone: String,
    /// reserved, expired, handing_over, picked_up, cancelled or recalled
    pub standing: &'static str,
    pub created: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "reservation.html")]
pub struct ReservationPage {
    pub zh: bool,
    pub lang_switch: String,
    pub r: ReservationView,
    pub store: OrgView,
    pub store_href: String,
    /// An SVG QR code of the staff link, made by the qrcode crate.
    pub qr_svg: String,
    /// Only the first character of the name is shown on a page reachable by its code.
    pub first_name: String,
}

#[derive(Template)]
#[template(path = "staff_pickups.html")]
pub struct StaffPickupsPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    pub store: OrgView,
    pub recent: Vec<ReservationView>,
    /// For the cancel buttons of reservations still held.
    pub csrf: String,
    /// What the store must take off its shelves: its stock under a recall in force.
    pub pull: Vec<super::recall::PullLine>,
}

#[derive(Template)]
#[template(path = "staff_pickup.html")]
pub struct StaffPickupPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    pub r: ReservationView,
    pub csrf: String,
    pub can_confirm: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    pub sell_record: Option<String>,
}

/// `POST /staff/pickups/{code}/cancel`: the store cancels a reservation (a customer who will not
/// come, or reservations made to hold its stock away); its units are free again at once and the
/// customer's page says the store cancelled it.
pub async fn cancel(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    code: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let fail = page.fail();
    page.check_csrf(&form.csrf)?;
    let store = staff_store(&staff, page.choice.zh).map_err(&fail)?;
    let code = code.into_inner();
    let (c, s, user, zh) = (code.clone(), store, staff.user.id.clone(), page.choice.zh);
    let reader = page.reader();
    let cancelled = crate::db::run(&pool, move |conn| {
        pickup::cancel(conn, &c, &s, &user, &reader)
    })
    .await;
    let (status, outcome) = match cancelled {
        Ok(done) => {
            let amount = in_words(&done.quantity.to_string(), &done.unit, zh);
            let message = if zh {
                format!("已取消：保留的 {amount}已釋出，顧客的預約頁會顯示門市已取消此預約。")
            } else {
                format!(
                    "cancelled: the {amount} it held are free again; the customer's reservation page says the store cancelled it"
                )
            };
            (StatusCode::OK, Ok(message))
        }
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_))) => return Err(fail(e)),
        Err(e) => (
            actix_web::ResponseError::status_code(&e),
            Err(e.to_string()),
        ),
    };
    staff_page(&page, &pool, &staff, code, status, Some(outcome)).await
}
