//! Recalls on pages: the banner every page of a covered lot carries at the top (provenance,
//! embed, shop, store), in the page's language; a store's pull list; and the staff page that lists
//! the recalls in force and issues or lifts one (`/recalls`).

use super::filters;
use crate::ledger::envelope::PayloadType;
use crate::ledger::recall::{Notice, NoticeJson, NoticeLotJson, RECALL_TYPE};
use crate::trace::closure::Key;
use crate::trace::recall::{Covered, Recall};
use actix_web::web;
use askama::Template;

/// One recall as a banner says it, in one language.
#[derive(Debug, Clone)]
pub struct RecallBanner {
    pub in_force: bool,
    /// The notice's record id (its signed envelope is at `/api/v1/records/{id}`).
    pub id: String,
    pub class: &'static str,
    /// What the class means, in words.
    pub class_words: &'static str,
    pub reason: Option<String>,
    pub instructions: Option<String>,
    pub contact: Option<String>,
    pub issuer: String,
    /// When it was issued, as signed: `2026-12-01 09:00 (UTC+08:00)`.
    pub issued: String,
    pub issued_iso: String,
    pub lifted: Option<String>,
    pub lifted_iso: Option<String>,
    /// The lots concerned, as the page names them.
    pub lots: Vec<String>,
    /// On the page of one lot (which the recall covers), rather than of a product or a store
    /// that holds covered lots among others.
    pub this_lot: bool,
    /// False when the stored notice does not verify.
    pub verified: bool,
}

/// The text in the page's language, or in the other one when the issuer gave only that.
fn in_language(zh: bool, en: &Option<String>, zh_text: &Option<String>) -> Option<String> {
    if zh {
        zh_text.clone().or_else(|| en.clone())
    } else {
        en.clone().or_else(|| zh_text.clone())
    }
}

impl RecallBanner {
    /// `lots`: the lot codes the banner names (the covered lots a page shows, or the named ones).
    pub fn of(recall: &Recall, zh: bool, lots: Vec<String>) -> Self {
        let n = &recall.notice;
        let class = n.class.map_or("", |c| c.as_str());
        let class_words = match (class, zh) {
            ("I", false) => "could cause serious health problems or death",
            ("I", true) => "可能造成嚴重健康危害或死亡",
            ("II", false) => "may cause temporary or reversible health problems",
            ("II", true) => "可能造成暫時性或可恢復的健康影響",
            ("III", false) => "unlikely to cause health problems, but breaks the rules",
            ("III", true) => "不太可能造成健康危害，但不符合規定",
            _ => "",
        };
        let issuer = recall.issuer.as_ref().map_or_else(
            || n.actor.to_string(),
            |o| match (&o.name_zh, zh) {
                (Some(name), true) => name.clone(),
                _ => o.name.clone(),
            },
        );
        Self {
            in_force: recall.in_force(),
            id: recall.id.clone(),
            class,
            class_words,
            reason: in_language(zh, &n.reason, &n.reason_zh),
            instructions: in_language(zh, &n.instructions, &n.instructions_zh),
            contact: n.contact.clone(),
            issuer,
            issued: crate::domain::time::for_people(&n.time),
            issued_iso: n.time.to_rfc3339(),
            lifted: recall
                .lifted
                .as_ref()
                .map(|l| crate::domain::time::for_people(&l.time)),
            lifted_iso: recall.lifted.as_ref().map(|l| l.time.to_rfc3339()),
            lots,
            this_lot: false,
            verified: recall.problems.is_empty(),
        }
    }

    /// The banners for one lot's page: recalls in force first, then lifted ones, latest first;
    /// each names the lots of its notice through which it reaches the page's lot.
    pub fn for_lot(recalls: &[Recall], zh: bool) -> Vec<Self> {
        let mut banners: Vec<Self> = recalls
            .iter()
            .rev()
            .map(|r| Self {
                this_lot: true,
                ..Self::of(r, zh, r.via.iter().map(|(_, lot)| lot.clone()).collect())
            })
            .collect();
        banners.sort_by_key(|b| !b.in_force);
        banners
    }
}

/// The banners for a page showing many lots (a product in the shop, a store's shelves): one per
/// recall in force covering any of `shown`, naming the shown lots it covers.
pub fn for_lots<'a>(
    covered: &Covered,
    shown: impl IntoIterator<Item = &'a Key>,
    zh: bool,
) -> Vec<RecallBanner> {
    let mut by_recall: Vec<(&Recall, Vec<String>)> = Vec::new();
    for key in shown {
        for recall in covered.of(key) {
            match by_recall
                .iter_mut()
                .find(|(r, _)| r.log_index == recall.log_index)
            {
                Some((_, lots)) => {
                    if !lots.contains(&key.1) {
                        lots.push(key.1.clone());
                    }
                }
                None => by_recall.push((recall, vec![key.1.clone()])),
            }
        }
    }
    by_recall.sort_by_key(|(r, _)| std::cmp::Reverse(r.log_index));
    by_recall
        .into_iter()
        .map(|(r, lots)| RecallBanner::of(r, zh, lots))
        .collect()
}

/// One line of a store's pull list: a lot it holds under a recall in force.
#[derive(Debug, Clone)]
pub struct PullLine {
    pub product_name: String,
    pub gtin: String,
    pub lot: String,
    /// How much the store holds, in words (`12 pcs`), or None when no record says.
    pub on_hand: Option<String>,
    pub href: String,
    pub recalls: Vec<RecallBanner>,
}

/// The pull list of a store: every lot it holds that a recall in force covers.
pub fn pull_lines(
    conn: &mut crate::db::DbConn,
    store: &crate::db::rows::OrgRow,
    zh: bool,
) -> diesel::QueryResult<Vec<PullLine>> {
    let covered = Covered::load(conn)?;
    if covered.is_empty() {
        return Ok(Vec::new());
    }
    let stock = crate::omo::stock::of_store(conn, store)?;
    let mut lines = Vec::new();
    for (line, recalls) in crate::trace::recall::pull_list(&covered, &stock) {
        let product = crate::db::products::find(conn, &line.lot.gtin)?;
        lines.push(PullLine {
            product_name: product.map_or_else(|| line.lot.gtin.clone(), |p| super::names(&p, zh).0),
            href: crate::domain::digital_link::lot_path(&line.lot.gtin, &line.lot.lot),
            on_hand: line.holding.describe(zh),
            recalls: recalls
                .into_iter()
                .map(|r| RecallBanner::of(r, zh, vec![line.lot.lot.clone()]))
                .collect(),
            gtin: line.lot.gtin,
            lot: line.lot.lot,
        });
    }
    Ok(lines)
}

/// A recall in force as the staff page lists it.
pub struct RecallRow {
    pub banner: RecallBanner,
    /// How many lots it covers now (the named ones and all made from them).
    pub covered: usize,
    /// Its named lots as `GTIN/LOT` lines, for the lift form, when this organization issued it.
    pub lift_lots: Option<String>,
    /// The forward trace of each named lot: (lot code, trace page).
    pub traces: Vec<(String, String)>,
}

/// The recall form as typed, kept when it is shown again with an error.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct RecallForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub lots: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub reason_zh: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub instructions_zh: String,
    #[serde(default)]
    pub contact: String,
}

#[derive(askama::Template)]
#[template(path = "recalls.html")]
pub struct RecallsPage {
    pub nav: super::StaffNav,
    pub zh: bool,
    pub lang_switch: String,
    pub org: crate::trace::provenance::OrgView,
    pub org_id: String,
    pub user_id: String,
    /// Only an organization's admins issue and lift recalls here.
    pub is_admin: bool,
    pub in_force: Vec<RecallRow>,
    pub pull: Vec<PullLine>,
    pub form: RecallForm,
    pub csrf: String,
    pub message: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct RecallsQuery {
    /// A lot to put in the form (`GTIN/LOT`), from a trace or provenance page.
    lot: Option<String>,
    /// The record id of a notice just stored.
    done: Option<String>,
}

/// `GET /recalls`: the recalls in force, the store's pull list, and (for admins) the form.
pub async fn staff_page(
    page: super::Page,
    pool: web::Data<crate::db::DbPool>,
    staff: crate::http::session::Staff,
    q: web::Query<RecallsQuery>,
) -> Result<actix_web::HttpResponse, super::PageError> {
    let q = q.into_inner();
    let form = RecallForm {
        lots: q.lot.unwrap_or_default(),
        ..RecallForm::default()
    };
    let message = q.done.map(|id| {
        let short = id.chars().take(12).collect::<String>();
        if page.choice.zh {
            format!("已簽署並記錄（通知 {short}）：所有相關頁面現在都會顯示。")
        } else {
            format!("Signed and recorded (notice {short}): every page concerned shows it now.")
        }
    });
    render(
        &page,
        &pool,
        &staff,
        form,
        actix_web::http::StatusCode::OK,
        message,
        None,
    )
    .await
}

async fn render(
    page: &super::Page,
    pool: &crate::db::DbPool,
    staff: &crate::http::session::Staff,
    form: RecallForm,
    status: actix_web::http::StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Result<actix_web::HttpResponse, super::PageError> {
    let zh = page.choice.zh;
    let csrf = page.csrf()?.token;
    let nav = super::StaffNav::of(page, staff)?;
    let switch = super::lang::switch_link(page.req.path(), zh);
    let org = staff.org.clone();
    let (user_id, is_admin) = (staff.user.id.clone(), staff.user.is_admin);
    let body = crate::db::run(pool, move |conn| {
        let covered = Covered::load(conn)?;
        let in_force = covered
            .recalls
            .iter()
            .rev()
            .map(|r| RecallRow {
                banner: RecallBanner::of(r, zh, r.via.iter().map(|(_, l)| l.clone()).collect()),
                covered: covered.covered_by(r.log_index).len(),
                lift_lots: (r.notice.actor.to_string() == org.id).then(|| {
                    r.via
                        .iter()
                        .map(|(g, l)| format!("{g}/{l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
                traces: r
                    .via
                    .iter()
                    .map(|(g, l)| {
                        let path = crate::domain::digital_link::lot_path(g, l);
                        (l.clone(), format!("/trace{path}?direction=forward"))
                    })
                    .collect(),
            })
            .collect();
        let pull = if org.has_role(crate::domain::Role::Retailer) {
            pull_lines(conn, &org, zh)?
        } else {
            Vec::new()
        };
        RecallsPage {
            nav,
            zh,
            lang_switch: switch,
            org: crate::trace::provenance::OrgView::from(&org),
            org_id: org.id.clone(),
            user_id,
            is_admin,
            in_force,
            pull,
            form,
            csrf,
            message,
            error,
        }
        .render()
        .map_err(crate::error::AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    let mut builder = super::html_builder(status, &page.choice);
    builder.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    Ok(builder.body(body))
}

/// The notice a form asks for, in the signer's JSON, or what is wrong with the form.
fn notice_of(form: &RecallForm, actor: &str, lift: bool) -> Result<NoticeJson, String> {
    let lots = form
        .lots
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(crate::domain::digital_link::parse_lot_reference)
        .collect::<Result<Vec<_>, _>>()?;
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let json = NoticeJson {
        notice_type: RECALL_TYPE.to_owned(),
        action: if lift { "lift" } else { "recall" }.to_owned(),
        actor: actor.to_owned(),
        time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        lots: lots
            .iter()
            .map(|k| NoticeLotJson {
                gtin: k.gtin.to_string(),
                lot: k.lot.to_string(),
            })
            .collect(),
        class: if lift { None } else { text(&form.class) },
        reason: text(&form.reason),
        reason_zh: text(&form.reason_zh),
        instructions: text(&form.instructions),
        instructions_zh: text(&form.instructions_zh),
        contact: text(&form.contact),
    };
    let value = serde_json::to_value(&json).map_err(|e| e.to_string())?;
    Notice::from_value(value).map_err(|e| e.to_string())?;
    Ok(json)
}

/// `POST /recalls` (issue) and `POST /recalls/lift`: the notice signed with the organization's
/// platform-held key and submitted like any envelope. (A browser with a registered device key
/// signs it itself and posts it to `/api/v1/records`: static/recall.js.)
async fn submit_form(
    page: super::Page,
    ledger: web::Data<crate::ledger::Ledger>,
    hosted: web::Data<crate::http::state::HostedKeys>,
    staff: crate::http::session::Staff,
    form: RecallForm,
    lift: bool,
) -> Result<actix_web::HttpResponse, super::PageError> {
    use crate::error::AppError;
    use actix_web::http::StatusCode;
    page.check_csrf(&form.csrf)?;
    let pool = ledger.pool().clone();
    let zh = page.choice.zh;
    if !staff.user.is_admin {
        let error = if zh {
            "只有組織管理員可以發布或解除回收。"
        } else {
            "only an organization admin can issue or lift a recall"
        };
        return render(
            &page,
            &pool,
            &staff,
            form,
            StatusCode::FORBIDDEN,
            None,
            Some(error.into()),
        )
        .await;
    }
    let json = match notice_of(&form, &staff.org.id, lift) {
        Ok(json) => json,
        Err(e) => {
            let error = if zh { format!("表單有誤：{e}") } else { e };
            return render(
                &page,
                &pool,
                &staff,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error),
            )
            .await;
        }
    };
    let sealer = hosted.sealer().map_err(page.fail())?;
    let payload = serde_json::to_vec(&json)
        .map_err(AppError::internal)
        .map_err(page.fail())?;
    let org = staff.org.id.clone();
    let envelope = crate::db::run(&pool, move |conn| {
        let key = crate::accounts::hosted_keys::signing_key(conn, &sealer, &org)?;
        let signed = crate::ledger::envelope::sign_as(PayloadType::Recall, &key, &payload);
        serde_json::to_vec(&signed.to_json()).map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    match ledger.submit(&envelope).await {
        Ok(done) => Ok(actix_web::HttpResponse::SeeOther()
            .insert_header((
                actix_web::http::header::LOCATION,
                format!("/recalls?done={}", done.id),
            ))
            .finish()),
        Err(e) => {
            if let Some(cause) = e.internal_cause() {
                tracing::error!(%cause, "recall failed");
            }
            let status = actix_web::ResponseError::status_code(&e);
            let error = if zh {
                format!("未記錄：{e}")
            } else {
                format!("not recorded: {e}")
            };
            render(&page, &pool, &staff, form, status, None, Some(error)).await
        }
    }
}

pub async fn issue(
    page: super::Page,
    ledger: web::Data<crate::ledger::Ledger>,
    hosted: web::Data<crate::http::state::HostedKeys>,
    staff: crate::http::session::Staff,
    form: web::Form<RecallForm>,
) -> Result<actix_web::HttpResponse, super::PageError> {
    submit_form(page, ledger, hosted, staff, form.into_inner(), false).await
}

pub async fn lift(
    page: super::Page,
    ledger: web::Data<crate::ledger::Ledger>,
    hosted: web::Data<crate::http::state::HostedKeys>,
    staff: crate::http::session::Staff,
    form: web::Form<RecallForm>,
) -> Result<actix_web::HttpResponse, super::PageError> {
    submit_form(page, ledger, hosted, staff, form.into_inner(), true).await
}

#[derive(serde::Deserialize)]
pub struct DraftQuery {
    #[serde(default)]
    lift: bool,
}

/// `POST /recalls/draft`: the notice the form asks for, unsigned, for a browser that signs it
/// with its device key (the lots are read here, as for a form signed with the hosted key). The
/// form's CSRF field must match; 422 names what is wrong.
pub async fn draft(
    page: super::Page,
    staff: crate::http::session::Staff,
    q: web::Query<DraftQuery>,
    form: web::Form<RecallForm>,
) -> Result<actix_web::HttpResponse, crate::error::AppError> {
    crate::http::session::check_csrf(&page.req, &form.csrf)?;
    if !staff.user.is_admin {
        return Err(crate::error::AppError::Forbidden(
            "only an organization admin can issue or lift a recall".into(),
        ));
    }
    let notice =
        notice_of(&form, &staff.org.id, q.lift).map_err(crate::error::AppError::InvalidField)?;
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "notice": notice })))
}
