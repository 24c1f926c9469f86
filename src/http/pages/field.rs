//! The field app: the pages farmers, processors and carriers use on a phone (home, harvest,
//! scan, shipment), their service worker, and the JSON they read and write while logged in. The
//! records themselves are signed in the browser (static/field/) and sent to the ledger's own
//! endpoints; the JSON here only enrolls the browser's key and tells the page what it may record.
//! A browser without WebCrypto Ed25519 sends its records to `hosted`, signed with the
//! organization's platform-held key.

use super::{Page, PageError, html_builder};
use crate::accounts::devices::{self, DeviceStatus};
use crate::accounts::hosted_keys;
use crate::db::rows::ProductRow;
use crate::db::{DbPool, hosted_keys as hosted_key_rows, lots, orgs, products, records};
use crate::domain::{EventType, Gtin, LotCode, OrgId, Role, Roles};
use crate::error::AppError;
use crate::http::api::records::SubmitResponse;
use crate::http::session::{self, Staff};
use crate::http::state::HostedKeys;
use crate::ledger::Ledger;
use crate::ledger::record::RecordJson;
use crate::ledger::{rules, store};
use crate::trace::provenance::OrgView;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

/// The header the field app's JSON requests carry their CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// Which of the field pages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    Home,
    Harvest,
    Scan,
    Ship,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Harvest => "harvest",
            Self::Scan => "scan",
            Self::Ship => "ship",
        }
    }
}

#[derive(Template)]
#[template(path = "field.html")]
pub struct FieldPage {
    zh: bool,
    lang_switch: String,
    view: &'static str,
    csrf: String,
    org: OrgView,
    user_name: String,
    /// What the organization's roles let it do: harvest (producer), make (processor or producer).
    can_harvest: bool,
    is_carrier: bool,
    is_store: bool,
}

async fn field_page(page: Page, staff: Staff, view: View) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = &page;
    let csrf = page.csrf()?.token;
    let body = FieldPage {
        zh: choice.zh,
        lang_switch: super::lang::switch_link(req.path(), choice.zh),
        view: view.name(),
        csrf,
        org: OrgView::from(&staff.org),
        user_name: staff.user.display_name.clone(),
        can_harvest: staff.org.has_role(Role::Producer),
        is_carrier: staff.org.has_role(Role::Carrier),
        is_store: staff.org.has_role(Role::Retailer),
    }
    .render()
    .map_err(|e| page.fail()(AppError::internal(e)))?;
    Ok(html_builder(StatusCode::OK, choice)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub async fn home(page: Page, staff: Staff) -> Result<HttpResponse, PageError> {
    field_page(page, staff, View::Home).await
}

pub async fn harvest(page: Page, staff: Staff) -> Result<HttpResponse, PageError> {
    if !staff.org.has_role(Role::Producer) {
        return Err(page.fail()(AppError::Forbidden(crate::domain::text::said(
            page.choice.zh,
            "harvests are recorded by producers; your organization does not have that role",
            "採收由生產者記錄；貴組織沒有生產者的角色",
        ))));
    }
    field_page(page, staff, View::Harvest).await
}

pub async fn scan(page: Page, staff: Staff) -> Result<HttpResponse, PageError> {
    field_page(page, staff, View::Scan).await
}

pub async fn ship(page: Page, staff: Staff) -> Result<HttpResponse, PageError> {
    field_page(page, staff, View::Ship).await
}

/// The service worker of the field pages.
pub async fn service_worker(
    settings: web::Data<crate::settings::Settings>,
) -> Result<HttpResponse, AppError> {
    let path = settings.static_dir.join("field/sw.js");
    let script =
        std::fs::read(&path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    Ok(HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Its scope is `/field`, so that it covers /field itself as well as /field/...
        .insert_header(("Service-Worker-Allowed", "/field"))
        .body(script))
}

/// The logged-in staff member, or 401 in JSON (the field app's requests are not pages).
fn signed_in(staff: Option<Staff>) -> Result<Staff, AppError> {
    staff.ok_or_else(|| {
        AppError::Unauthorized("your session has ended: log in again to send records".into())
    })
}

/// A JSON request that changes something must carry the session's CSRF token in a header.
fn check_csrf_header(req: &HttpRequest) -> Result<(), AppError> {
    let submitted = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    session::check_csrf(req, submitted)
}

#[derive(Serialize)]
struct ProductChoice {
    gtin: String,
    name: String,
    name_zh: Option<String>,
}

impl From<ProductRow> for ProductChoice {
    fn from(row: ProductRow) -> Self {
        Self {
            gtin: row.gtin,
            name: row.name,
            name_zh: row.name_zh,
        }
    }
}

#[derive(Serialize)]
struct Partner {
    id: String,
    name: String,
    name_zh: Option<String>,
    roles: Vec<&'static str>,
}

#[derive(Serialize)]
struct AppContext {
    user: AppUser,
    org: Partner,
    csrf: String,
    products: Vec<ProductChoice>,
    /// Every other organization: where a shipment may go.
    partners: Vec<Partner>,
    /// Whether the platform holds a key for the organization (the fallback for a browser that
    /// cannot make Ed25519 keys).
    hosted_key: bool,
}

#[derive(Serialize)]
struct AppUser {
    id: String,
    name: String,
    is_admin: bool,
}

fn partner(row: &crate::db::rows::OrgRow) -> Partner {
    Partner {
        id: row.id.clone(),
        name: row.name.clone(),
        name_zh: row.name_zh.clone(),
        roles: Roles::from_stored(&row.roles)
            .map(|r| r.names())
            .unwrap_or_default(),
    }
}

/// `GET /field/app.json`: what the field pages need, cached by the app for offline use.
pub async fn context(
    req: HttpRequest,
    staff: Option<Staff>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    let site = crate::http::state::shared::<crate::http::state::Site>(&req)?;
    let csrf = session::csrf_for(&req, site.secure_cookies)?.token;
    let (user, org) = (staff.user, staff.org);
    let body = crate::db::run(&pool, move |conn| {
        let partners = orgs::all(conn)?
            .iter()
            .filter(|o| o.id != org.id)
            .map(partner)
            .collect();
        Ok(AppContext {
            user: AppUser {
                id: user.id,
                name: user.display_name,
                is_admin: user.is_admin,
            },
            org: partner(&org),
            csrf,
            products: products::all(conn)?.into_iter().map(Into::into).collect(),
            partners,
            hosted_key: hosted_key_rows::of_org(conn, &org.id)?.is_some(),
        })
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &body))
}

fn no_store_json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollDevice {
    public_key: String,
    label: String,
}

#[derive(Serialize)]
struct DeviceAnswer {
    keyid: String,
    label: String,
    status: DeviceStatus,
}

impl From<crate::db::rows::DeviceRow> for DeviceAnswer {
    fn from(row: crate::db::rows::DeviceRow) -> Self {
        Self {
            status: DeviceStatus::of(&row),
            keyid: row.keyid,
            label: row.label,
        }
    }
}

/// `POST /field/devices`: enrolls this browser's public key. 201 when new (active for an admin,
/// else pending), 200 with its current state when the same person enrolls it again.
pub async fn enroll_device(
    req: HttpRequest,
    staff: Option<Staff>,
    pool: web::Data<DbPool>,
    body: web::Json<EnrollDevice>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    check_csrf_header(&req)?;
    let body = body.into_inner();
    let (row, created) = crate::db::run(&pool, move |conn| {
        devices::enroll(conn, &staff.user, &body.public_key, &body.label)
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(no_store_json(status, &DeviceAnswer::from(row)))
}

/// `GET /field/devices/{keyid}`: whether the browser's key may sign yet (the page asks while it
/// waits for an admin's approval).
pub async fn device(
    staff: Option<Staff>,
    pool: web::Data<DbPool>,
    keyid: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    // A JSON answer: in English, like the API's (the field app says it in its own words).
    let row = crate::db::run(&pool, move |conn| {
        devices::find(conn, &staff.user, &keyid, false)
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &DeviceAnswer::from(row)))
}

/// A lot as the field app shows it: what it is, who holds it, its head (the `prev` of the next
/// record) and what this organization may record on it next.
#[derive(Serialize)]
struct FieldLot {
    gtin: String,
    lot: String,
    product: Option<ProductChoice>,
    custodian: Option<Partner>,
    head: String,
    head_event: Option<String>,
    head_time: String,
    shipped_to: Option<String>,
    open_events: Vec<&'static str>,
    /// When the lot waits for this organization to receive it: every lot of that shipment that
    /// still waits, with its head, so that one receive can take them all.
    shipment: Vec<ShippedLot>,
}

#[derive(Serialize)]
struct ShippedLot {
    gtin: String,
    lot: String,
    head: String,
}

fn field_lot(
    conn: &mut crate::db::DbConn,
    org: &crate::db::rows::OrgRow,
    gtin: &Gtin,
    lot: &LotCode,
) -> Result<FieldLot, AppError> {
    let row = lots::find(conn, gtin.as_str(), lot.as_str())?
        .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of product {gtin}")))?;
    let state = store::lot_state(&row)?;
    let org_id = OrgId::parse(&org.id).map_err(AppError::internal)?;
    let roles = Roles::from_stored(&org.roles).map_err(AppError::internal)?;
    let open_events: Vec<EventType> = rules::open_events(&state, org_id, &roles);
    let head = records::find(conn, &row.head)?;
    let mut shipment = Vec::new();
    if open_events.contains(&EventType::Receive)
        && let Some(head) = &head
    {
        for named in records::lots_of(conn, head.log_index)? {
            if let Some(other) = lots::find(conn, &named.gtin, &named.lot)?
                && other.head == head.id
                && other.shipped_to.as_deref() == Some(org.id.as_str())
            {
                shipment.push(ShippedLot {
                    gtin: other.gtin,
                    lot: other.lot,
                    head: other.head,
                });
            }
        }
    }
    Ok(FieldLot {
        product: products::find(conn, gtin.as_str())?.map(Into::into),
        custodian: orgs::find(conn, &row.custodian)?.as_ref().map(partner),
        head_event: head.map(|h| h.event),
        head_time: row.head_time.and_utc().to_rfc3339(),
        shipped_to: row.shipped_to,
        open_events: open_events.iter().map(|e| e.as_str()).collect(),
        shipment,
        gtin: row.gtin,
        lot: row.lot,
        head: row.head,
    })
}

/// `GET /field/lots/{gtin}/{lot}`.
pub async fn lot(
    staff: Option<Staff>,
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    let (gtin, lot) = path.into_inner();
    let gtin = Gtin::parse(&gtin).map_err(AppError::InvalidField)?;
    let lot = LotCode::parse(&lot).map_err(AppError::InvalidField)?;
    let found = crate::db::run(&pool, move |conn| field_lot(conn, &staff.org, &gtin, &lot)).await?;
    Ok(no_store_json(StatusCode::OK, &found))
}

#[derive(Deserialize)]
pub struct CodeQuery {
    code: String,
}

/// `GET /field/lots?code=`: the lots of every product with this lot code (a code typed without
/// its product).
pub async fn find_lots(
    staff: Option<Staff>,
    pool: web::Data<DbPool>,
    query: web::Query<CodeQuery>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    let lot = LotCode::parse(query.code.trim()).map_err(AppError::InvalidField)?;
    let found = crate::db::run(&pool, move |conn| {
        let mut found = Vec::new();
        for product in products::all(conn)? {
            let gtin = Gtin::parse(&product.gtin).map_err(AppError::internal)?;
            if lots::find(conn, gtin.as_str(), lot.as_str())?.is_some() {
                found.push(field_lot(conn, &staff.org, &gtin, &lot)?);
            }
        }
        Ok(found)
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &found))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedRecord {
    record: RecordJson,
}

/// `POST /field/hosted`: a record from a browser that cannot sign (no WebCrypto Ed25519), signed
/// with the organization's platform-held key and judged like any other. The actor must be the
/// staff member's organization. Answers as `POST /api/v1/records` does.
pub async fn hosted(
    req: HttpRequest,
    staff: Option<Staff>,
    ledger: web::Data<Ledger>,
    keys: web::Data<HostedKeys>,
    body: web::Json<HostedRecord>,
) -> Result<HttpResponse, AppError> {
    let staff = signed_in(staff)?;
    check_csrf_header(&req)?;
    let record = body.into_inner().record;
    if record.actor != staff.org.id {
        return Err(AppError::Forbidden(format!(
            "the record's actor {} is not your organization {}",
            record.actor, staff.org.id
        )));
    }
    let payload = serde_json::to_vec(&record).map_err(AppError::internal)?;
    let sealer = keys.sealer()?;
    let pool = ledger.pool().clone();
    let org = staff.org.id.clone();
    let envelope = crate::db::run(&pool, move |conn| {
        let key = hosted_keys::signing_key(conn, &sealer, &org)?;
        serde_json::to_vec(&crate::ledger::envelope::sign(&key, &payload).to_json())
            .map_err(AppError::internal)
    })
    .await?;
    let submitted = ledger.submit(&envelope).await?;
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(SubmitResponse {
        id: submitted.id,
        log_index: submitted.log_index,
    }))
}
