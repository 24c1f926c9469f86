//! Staff accounts: log in and out, accept an invitation, the account page (an organization's
//! admins invite staff there), and the dashboard with its CSV download.

use super::filters;
use super::lang::Choice;
use super::pickup::ReservationView;
use super::{Page, PageError, html_builder};
use crate::accounts::devices::{self, DeviceView};
use crate::accounts::staff;
use crate::accounts::throttle;
use crate::accounts::throttle::LoginThrottle;
use crate::db::DbPool;
use crate::db::rows::{InviteRow, UserRow};
use crate::db::rows::{OrgRow, ProductRow};
use crate::db::{accounts as users, hosted_keys, orgs, products, reservations};
use crate::domain::Role;
use crate::error::AppError;
use crate::http::session::{self, Staff};
use crate::omo::activity::Activity;
use crate::omo::dashboard::{self, Coverage};
use crate::omo::dashboard::{Counts, Summary};
use crate::trace::provenance::OrgView;
use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use std::collections::HashMap;

/// A page that must not be cached (it holds a CSRF token or an account's data).
fn respond(
    choice: &Choice,
    status: StatusCode,
    body: String,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, PageError> {
    let mut builder = html_builder(status, choice);
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = cookie {
        builder.cookie(cookie);
    }
    Ok(builder.body(body))
}

/// Where to go after login: `next` when it is a path on this site (`same_site_path`), else the
/// account page. Percent-encoded where a header may not carry it as is, so that the `Location`
/// can always be sent.
fn safe_next(next: Option<&str>) -> String {
    const NOT_IN_A_LOCATION: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`');
    next.and_then(crate::domain::site_path::same_site_path)
        .map_or_else(
            || "/account".to_owned(),
            |next| percent_encoding::utf8_percent_encode(next, NOT_IN_A_LOCATION).to_string(),
        )
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

fn login_page(
    page: &Page,
    status: StatusCode,
    email: String,
    next: String,
    problem: Option<LoginProblem>,
) -> Result<HttpResponse, PageError> {
    let Page { choice, .. } = page;
    let csrf = page.csrf()?;
    let template = LoginPage {
        zh: choice.zh,
        lang_switch: super::lang::switch_link("/login", choice.zh),
        csrf: csrf.token,
        next,
        email,
        problem,
    };
    let body = template
        .render()
        .map_err(|e| page.fail()(AppError::internal(e)))?;
    let mut response = respond(choice, status, body, csrf.cookie)?;
    if let Some(LoginProblem::Wait(seconds)) = problem
        && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(page: Page, q: web::Query<NextQuery>) -> Result<HttpResponse, PageError> {
    login_page(
        &page,
        StatusCode::OK,
        String::new(),
        safe_next(q.next.as_deref()),
        None,
    )
}

/// `POST /login`. The throttle (accounts::throttle) is asked first; the account is looked up, the
/// connection given back, and the password checked on a blocking thread; a session is opened
/// only for the right password, once the redirect is known to be sendable.
pub async fn login(
    page: Page,
    pool: web::Data<DbPool>,
    logins: web::Data<LoginThrottle>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let Page { req, site, .. } = &page;
    let fail = page.fail();
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let location = header::HeaderValue::from_str(&next)
        .unwrap_or_else(|_| header::HeaderValue::from_static("/account"));
    page.check_csrf(&form.csrf)?;
    let again = |status, problem| {
        login_page(
            &page,
            status,
            form.email.clone(),
            next.clone(),
            Some(problem),
        )
    };
    if staff::has_control(&form.email) || staff::has_control(&form.password) {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            LoginProblem::ControlCharacter,
        );
    }
    let account_key = throttle::account_key(&form.email);
    let address = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if let Err(wait) = logins.admit(&account_key, address) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            LoginProblem::Wait(wait.seconds()),
        );
    }
    let email = form.email.clone();
    let account = crate::db::run(&pool, move |conn| staff::login_account(conn, &email))
        .await
        .map_err(&fail)?;
    let matches = {
        let _turn = logins
            .argon2
            .acquire()
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
        let (account, password) = (account.clone(), form.password.clone());
        tokio::task::spawn_blocking(move || staff::password_matches(account.as_ref(), &password))
            .await
            .map_err(|e| fail(e.into()))?
    };
    let user = match account {
        Some(user) if matches => user,
        _ => {
            return match logins.failed(&account_key, address) {
                Some(wait) => again(
                    StatusCode::TOO_MANY_REQUESTS,
                    LoginProblem::Wait(wait.seconds()),
                ),
                None => again(StatusCode::UNAUTHORIZED, LoginProblem::Wrong),
            };
        }
    };
    logins.succeeded(&account_key);
    let token = crate::db::run(&pool, move |conn| staff::open_session(conn, &user.id))
        .await
        .map_err(&fail)?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::session_cookie(&token, site.secure_cookies))
        .insert_header((header::LOCATION, location))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    page.check_csrf(&form.csrf)?;
    let session = staff.session.clone();
    crate::db::run(&pool, move |conn| staff::logout(conn, &session))
        .await
        .map_err(page.fail())?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::expired_session_cookie())
        .insert_header((header::LOCATION, "/login"))
        .finish())
}

#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn invite_page(
    page: &Page,
    pool: &DbPool,
    token: String,
    status: StatusCode,
    name: String,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = page;
    let csrf = page.csrf()?;
    let (zh, switch, csrf_token) = (
        choice.zh,
        super::lang::switch_link(req.path(), choice.zh),
        csrf.token.clone(),
    );
    let body = crate::db::run(pool, move |conn| {
        let invite = staff::find_invite(conn, &token)?;
        let org = crate::accounts::registry::find_org(conn, &invite.org_id)?;
        InvitePage {
            zh,
            lang_switch: switch,
            csrf: csrf_token,
            org: OrgView::from(&org),
            email: invite.email,
            name,
            error,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    respond(choice, status, body, csrf.cookie)
}

pub async fn invite_form(
    page: Page,
    pool: web::Data<DbPool>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    invite_page(
        &page,
        &pool,
        token.into_inner(),
        StatusCode::OK,
        String::new(),
        None,
    )
    .await
}

pub async fn accept_invite(
    page: Page,
    pool: web::Data<DbPool>,
    logins: web::Data<LoginThrottle>,
    token: web::Path<String>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let Page { site, .. } = &page;
    let form = form.into_inner();
    page.check_csrf(&form.csrf)?;
    let token = token.into_inner();
    let created: Result<String, AppError> = async {
        let name = staff::display_name(&form.name)?;
        staff::check_new_password(&form.password)?;
        // The link first, so a made-up one costs no argon2 work; the hash is made without a
        // database connection held.
        let t = token.clone();
        crate::db::run(&pool, move |conn| staff::find_invite(conn, &t)).await?;
        let password_hash = {
            let _turn = logins.argon2.acquire().await.map_err(AppError::internal)?;
            let password = form.password.clone();
            tokio::task::spawn_blocking(move || staff::hash_password(&password)).await??
        };
        let t = token.clone();
        crate::db::run(&pool, move |conn| {
            let user = staff::accept_invite(conn, &t, &name, password_hash)?;
            staff::open_session(conn, &user.id)
        })
        .await
    }
    .await;
    match created {
        Ok(session) => Ok(HttpResponse::SeeOther()
            .cookie(session::session_cookie(&session, site.secure_cookies))
            .insert_header((header::LOCATION, "/account"))
            .finish()),
        Err(e @ AppError::InvalidField(_)) => {
            let status = actix_web::ResponseError::status_code(&e);
            invite_page(&page, &pool, token, status, form.name, Some(e.to_string())).await
        }
        Err(e) => Err(page.fail()(e)),
    }
}

/// What the account page shows once, after a form: an invitation link, or a new API token.
enum Shown {
    Nothing,
    Invite(String),
    Token(String),
}

/// The account page after an admin's action: what it made, shown once; or, for a field that is
/// not valid or a clash with what exists, the refusal on the page with its status. Any other
/// error is the error page.
async fn after_action(
    page: &Page,
    pool: &DbPool,
    staff: &Staff,
    done: Result<Shown, AppError>,
) -> Result<HttpResponse, PageError> {
    match done {
        Ok(shown) => account_page(page, pool, staff, StatusCode::OK, shown, None).await,
        Err(e @ (AppError::InvalidField(_) | AppError::Conflict(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            account_page(
                page,
                pool,
                staff,
                status,
                Shown::Nothing,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(page.fail()(e)),
    }
}

async fn account_page(
    page: &Page,
    pool: &DbPool,
    staff: &Staff,
    status: StatusCode,
    shown: Shown,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = page;
    let csrf = page.csrf()?.token;
    let (zh, switch) = (choice.zh, super::lang::switch_link(req.path(), choice.zh));
    let reader = page.reader();
    let nav = super::StaffNav::of(page, staff)?;
    let (user, org) = (staff.user.clone(), staff.org.clone());
    let body = crate::db::run(pool, move |conn| {
        let (staff_list, invites, tokens) = if user.is_admin {
            (
                users::users_of_org(conn, &org.id)?,
                users::open_invites_of_org(conn, &org.id, Utc::now().naive_utc())?,
                crate::accounts::api_tokens::list(conn, &org.id)?
                    .into_iter()
                    .map(crate::http::api::orgs::TokenResponse::from)
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let (new_invite, new_token) = match shown {
            Shown::Nothing => (None, None),
            Shown::Invite(url) => (Some(url), None),
            Shown::Token(token) => (None, Some(token)),
        };
        AccountPage {
            nav,
            zh,
            reader,
            lang_switch: switch,
            is_store: org.has_role(Role::Retailer),
            hosted_key: hosted_keys::of_org(conn, &org.id)?.map(|k| k.keyid),
            devices: devices::of_org(conn, &org.id)?
                .into_iter()
                .filter(|d| user.is_admin || d.owner_id == user.id)
                .collect(),
            org: OrgView::from(&org),
            user,
            staff: staff_list,
            invites,
            new_invite,
            tokens,
            new_token,
            error,
            csrf,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    respond(choice, status, body, None)
}

pub async fn account(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
) -> Result<HttpResponse, PageError> {
    account_page(&page, &pool, &staff, StatusCode::OK, Shown::Nothing, None).await
}

#[derive(Deserialize)]
pub struct NewInviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// `POST /account/invites`: an organization's admin invites a colleague; the page shows the
/// link to send them (this server sends no e-mail).
pub async fn invite(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    form: web::Form<NewInviteForm>,
) -> Result<HttpResponse, PageError> {
    let Page { site, .. } = &page;
    page.check_csrf(&form.csrf)?;
    if !staff.user.is_admin {
        return Err(page.fail()(AppError::Forbidden(if page.choice.zh {
            "只有貴組織的管理員可以邀請員工".into()
        } else {
            "only your organization's admins can invite staff".into()
        })));
    }
    let (org, email, admin, public_url) = (
        staff.org.id.clone(),
        form.email.clone(),
        form.admin.is_some(),
        site.public_url.clone(),
    );
    match crate::db::run(&pool, move |conn| {
        staff::invite(conn, &org, &email, admin, &public_url)
    })
    .await
    {
        Ok(invitation) => {
            after_action(&page, &pool, &staff, Ok(Shown::Invite(invitation.url))).await
        }
        Err(e) => after_action(&page, &pool, &staff, Err(e)).await,
    }
}

/// What an account page's device button does.
#[derive(Clone, Copy)]
pub enum DeviceAction {
    Approve,
    Revoke,
}

/// `POST /account/devices/{keyid}/approve` and `.../revoke`: an admin approves a pending device
/// or revokes one; anyone may revoke their own.
async fn device_action(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    keyid: web::Path<String>,
    form: web::Form<CsrfForm>,
    action: DeviceAction,
) -> Result<HttpResponse, PageError> {
    page.check_csrf(&form.csrf)?;
    let (user, zh) = (staff.user.clone(), page.choice.zh);
    let done = crate::db::run(&pool, move |conn| match action {
        DeviceAction::Approve => devices::approve(conn, &user, &keyid, zh),
        DeviceAction::Revoke => devices::revoke(conn, &user, &keyid, zh),
    })
    .await;
    match done {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/account#devices"))
            .finish()),
        Err(e @ (AppError::Conflict(_) | AppError::Forbidden(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            account_page(
                &page,
                &pool,
                &staff,
                status,
                Shown::Nothing,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(page.fail()(e)),
    }
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    csrf: String,
}

fn admins_only(page: &Page, staff: &Staff) -> Result<(), PageError> {
    if staff.user.is_admin {
        Ok(())
    } else {
        Err(page.fail()(AppError::Forbidden(if page.choice.zh {
            "只有貴組織的管理員可以管理 API 權杖".into()
        } else {
            "only your organization's admins can manage API tokens".into()
        })))
    }
}

/// `POST /account/tokens`: an organization's admin makes an API token for a partner system
/// (EPCIS capture); the page shows it this once.
pub async fn create_token(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    form: web::Form<NewTokenForm>,
) -> Result<HttpResponse, PageError> {
    page.check_csrf(&form.csrf)?;
    admins_only(&page, &staff)?;
    let (org, user, label) = (
        staff.org.id.clone(),
        staff.user.id.clone(),
        form.label.clone(),
    );
    match crate::db::run(&pool, move |conn| {
        crate::accounts::api_tokens::create(conn, &org, &label, Some(&user))
    })
    .await
    {
        Ok(made) => after_action(&page, &pool, &staff, Ok(Shown::Token(made.token))).await,
        Err(e) => after_action(&page, &pool, &staff, Err(e)).await,
    }
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    page.check_csrf(&form.csrf)?;
    admins_only(&page, &staff)?;
    let org = staff.org.id.clone();
    crate::db::run(&pool, move |conn| {
        crate::accounts::api_tokens::revoke(conn, &org, &id)
    })
    .await
    .map_err(page.fail())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account#tokens"))
        .finish())
}

pub async fn approve_device(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    keyid: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    device_action(page, pool, staff, keyid, form, DeviceAction::Approve).await
}

pub async fn revoke_device(
    page: Page,
    pool: web::Data<DbPool>,
    staff: Staff,
    keyid: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    device_action(page, pool, staff, keyid, form, DeviceAction::Revoke).await
}

#[derive(Deserialize)]
pub struct DaysQuery {
    days: Option<u32>,
}

fn days(q: &DaysQuery, zh: bool) -> Result<u32, AppError> {
    match q.days.unwrap_or(30) {
        d @ 1..=366 => Ok(d),
        d => Err(AppError::InvalidField(if zh {
            format!("days={d}：天數必須介於 1 到 366 之間")
        } else {
            format!("days={d} must be from 1 to 366")
        })),
    }
}

/// `GET /dashboard`: the organization's activity over the last `days` days.
pub async fn dashboard(
    page: Page,
    pool: web::Data<DbPool>,
    activity: web::Data<Activity>,
    staff: Staff,
    q: web::Query<DaysQuery>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = &page;
    let days = days(&q, page.choice.zh).map_err(page.fail())?;
    let csrf = page.csrf()?.token;
    if let Err(e) = activity.flush() {
        tracing::warn!(error = %e, "flushing counts before the dashboard failed");
    }
    let (zh, switch, org) = (
        choice.zh,
        super::lang::switch_link(req.path(), choice.zh),
        staff.org.clone(),
    );
    let reader = page.reader();
    let nav = super::StaffNav::of(&page, &staff)?;
    let body = crate::db::run(&pool, move |conn| {
        let today = Utc::now().date_naive();
        let coverage = Coverage::of(&org);
        let summary = coverage.summary(conn, today, days)?;
        let names = Names::load(conn, &summary)?;
        // Where the lots it made went: who holds each now.
        let held = coverage.lots(conn, 100)?;
        let custodians: Vec<String> = held.iter().map(|l| l.custodian.clone()).collect();
        let holders: HashMap<String, OrgRow> = orgs::by_ids(conn, &custodians)?
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        let went = held
            .iter()
            .map(|row| {
                let holder = holders.get(&row.custodian);
                WentRow {
                    product: names.product(&row.gtin, zh),
                    lot: row.lot.clone(),
                    href: crate::domain::digital_link::lot_path(&row.gtin, &row.lot),
                    holder: holder.map(OrgView::from),
                    is_store: holder.is_some_and(|h| h.has_role(Role::Retailer)),
                }
            })
            .collect();
        // FSMA 204: the organization's latest events that lack a key data element.
        let todo = match crate::domain::OrgId::parse(&org.id) {
            Ok(id) => {
                let sheet = crate::trace::fsma::for_actor(conn, id, TODO_RECORDS)?;
                let mut rows: Vec<_> = super::fsma::EventRow::of_sheet(&sheet, zh)
                    .into_iter()
                    .filter(|e| !e.missing.is_empty())
                    .collect();
                rows.reverse();
                rows.truncate(50);
                rows
            }
            Err(_) => Vec::new(),
        };
        let (reservations, pull) = if org.has_role(Role::Retailer) {
            let mut views = Vec::new();
            for r in reservations::of_store(conn, &org.id, 20)? {
                let standing = crate::omo::pickup::standing_now(conn, &r, Utc::now().naive_utc())?;
                views.push(super::pickup::view(
                    &r,
                    names.product(&r.gtin, zh),
                    standing,
                    reader,
                ));
            }
            (views, super::recall::pull_lines(conn, &org, zh)?)
        } else {
            (Vec::new(), Vec::new())
        };
        DashboardPage {
            nav,
            zh,
            lang_switch: switch,
            org: OrgView::from(&org),
            days,
            lot_rows: summary
                .by_lot
                .iter()
                .take(50)
                .map(|((g, l), c)| (names.product(g, zh), l.clone(), *c))
                .collect(),
            store_rows: summary
                .by_store
                .iter()
                .filter(|(s, _)| !s.is_empty())
                .take(50)
                .map(|(s, c)| (names.store(s, zh), *c))
                .collect(),
            s: summary,
            went,
            reservations,
            pull,
            todo,
            csrf,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    respond(choice, StatusCode::OK, body, None)
}

/// Product and store names for the dashboard's tables.
struct Names {
    products: HashMap<String, ProductRow>,
    stores: HashMap<String, OrgRow>,
}

impl Names {
    fn load(conn: &mut crate::db::DbConn, summary: &dashboard::Summary) -> Result<Self, AppError> {
        let products = products::all(conn)?
            .into_iter()
            .map(|p| (p.gtin.clone(), p))
            .collect();
        let ids: Vec<String> = summary
            .by_store
            .iter()
            .map(|(s, _)| s.clone())
            .filter(|s| !s.is_empty())
            .collect();
        let stores = orgs::by_ids(conn, &ids)?
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        Ok(Self { products, stores })
    }

    fn product(&self, gtin: &str, zh: bool) -> String {
        self.products
            .get(gtin)
            .map_or_else(|| gtin.to_owned(), |p| super::names(p, zh).0)
    }

    fn store(&self, id: &str, zh: bool) -> String {
        self.stores.get(id).map_or_else(
            || id.to_owned(),
            |o| {
                if zh {
                    o.name_zh.clone().unwrap_or_else(|| o.name.clone())
                } else {
                    o.name.clone()
                }
            },
        )
    }
}

/// `GET /dashboard.csv`: the counters behind the dashboard.
pub async fn dashboard_csv(
    page: Page,
    pool: web::Data<DbPool>,
    activity: web::Data<Activity>,
    staff: Staff,
    q: web::Query<DaysQuery>,
) -> Result<HttpResponse, PageError> {
    let days = days(&q, page.choice.zh).map_err(page.fail())?;
    if let Err(e) = activity.flush() {
        tracing::warn!(error = %e, "flushing counts before the CSV failed");
    }
    let org = staff.org.clone();
    let csv = crate::db::run(&pool, move |conn| {
        let today = Utc::now().date_naive();
        let rows = Coverage::of(&org).counters(conn, dashboard::first_day(today, days))?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.store.clone())
            .filter(|s| !s.is_empty())
            .collect();
        let names = orgs::by_ids(conn, &ids)?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        Ok(dashboard::csv(&rows, &names))
    })
    .await
    .map_err(page.fail())?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"truetrace-activity-{days}d.csv\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(csv))
}

/// Why the login form is shown again; the template says it in the page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProblem {
    /// Wrong e-mail address or password (the same answer for both).
    Wrong,
    /// Too many failed attempts: the next one is checked after this many seconds.
    Wait(u64),
    /// A field held a control character.
    ControlCharacter,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub zh: bool,
    pub lang_switch: String,
    pub csrf: String,
    pub next: String,
    pub email: String,
    pub problem: Option<LoginProblem>,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub zh: bool,
    pub lang_switch: String,
    pub csrf: String,
    pub org: OrgView,
    pub email: String,
    pub name: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub reader: super::Reader,
    pub lang_switch: String,
    pub user: UserRow,
    pub org: OrgView,
    pub is_store: bool,
    pub hosted_key: Option<String>,
    /// The organization's devices for an admin; the staff member's own otherwise.
    pub devices: Vec<DeviceView>,
    pub staff: Vec<UserRow>,
    pub invites: Vec<InviteRow>,
    pub new_invite: Option<String>,
    /// The organization's API tokens (admins only), and one just made, shown this once.
    pub tokens: Vec<crate::http::api::orgs::TokenResponse>,
    pub new_token: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
}

/// Where one of an organization's lots is now.
pub struct WentRow {
    pub product: String,
    pub lot: String,
    pub href: String,
    pub holder: Option<OrgView>,
    pub is_store: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    pub org: OrgView,
    pub days: u32,
    pub s: Summary,
    /// (product name, lot, counts)
    pub lot_rows: Vec<(String, String, Counts)>,
    /// (store name, counts)
    pub store_rows: Vec<(String, Counts)>,
    pub went: Vec<WentRow>,
    pub reservations: Vec<ReservationView>,
    /// A store's stock under a recall in force.
    pub pull: Vec<super::recall::PullLine>,
    /// FSMA 204 events of the organization's that lack key data elements, newest first.
    pub todo: Vec<super::fsma::EventRow>,
    pub csrf: String,
}

/// How many of its latest records the dashboard's FSMA 204 to-do list looks at.
const TODO_RECORDS: i64 = 200;
