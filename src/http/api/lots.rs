//! Lots: the chain of one lot, and its upstream DAG.

use super::products::ProductResponse;
use super::recalls::RecallResponse;
use super::records::RecordResponse;
pub use super::{OrgRef, parse_lot};
use crate::db::DbPool;
use crate::db::{DbConn, orgs, products};
use crate::domain::digital_link::lot_uri;
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::http::pages::RECALLABLE;
use crate::http::state::Site;
use crate::trace::closure::{self, Direction};
use crate::trace::lineage::{self, LotChain};
use crate::trace::provenance::VerdictCache;
use actix_web::{HttpResponse, Scope, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub fn scope() -> Scope {
    web::scope("/lots")
        .route("/{gtin}/{lot}", web::get().to(show))
        .route("/{gtin}/{lot}/upstream", web::get().to(upstream))
        .route("/{gtin}/{lot}/provenance", web::get().to(provenance_json))
        .route("/{gtin}/{lot}/trace", web::get().to(trace))
        .route(
            "/{gtin}/{lot}/recalls",
            web::get().to(super::recalls::of_lot),
        )
        .route("/{gtin}/{lot}/bundle", web::get().to(super::log::bundle))
}

async fn show(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        let chain = lineage::lot_chain(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let mut names = OrgNames::default();
        let key = (chain.lot.gtin.clone(), chain.lot.lot.clone());
        let mut body = lot_response(conn, chain, &mut names, &public_url)?;
        // The latest recall in force, while one is.
        body.recall = crate::trace::recall::of_lot(conn, &key)?
            .iter()
            .rev()
            .find(|r| r.in_force())
            .map(RecallResponse::from);
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn upstream(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        let dag = lineage::upstream(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let mut names = OrgNames::default();
        let lots = dag
            .lots
            .into_iter()
            .map(|chain| lot_response(conn, chain, &mut names, &public_url))
            .collect::<Result<Vec<_>, _>>()?;
        let edges = dag
            .edges
            .into_iter()
            .map(|e| LineageEdge {
                gtin: e.gtin,
                lot: e.lot,
                input_gtin: e.input_gtin,
                input_lot: e.input_lot,
                record_log_index: e.log_index,
            })
            .collect();
        Ok(UpstreamResponse {
            gtin: gtin.to_string(),
            lot: lot.to_string(),
            lots,
            edges,
            truncated: dag.truncated,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Organization names looked up once per response.
#[derive(Default)]
struct OrgNames(HashMap<String, OrgRef>);

impl OrgNames {
    fn get(&mut self, conn: &mut DbConn, id: &str) -> Result<OrgRef, AppError> {
        if let Some(found) = self.0.get(id) {
            return Ok(found.clone());
        }
        let org = orgs::find(conn, id)?;
        let reference = OrgRef {
            id: id.to_owned(),
            name: org.as_ref().map(|o| o.name.clone()),
            name_zh: org.and_then(|o| o.name_zh),
        };
        self.0.insert(id.to_owned(), reference.clone());
        Ok(reference)
    }
}

fn lot_response(
    conn: &mut DbConn,
    chain: LotChain,
    names: &mut OrgNames,
    public_url: &str,
) -> Result<LotResponse, AppError> {
    let lot = chain.lot;
    let product = products::find(conn, &lot.gtin)?.map(ProductResponse::from);
    let custodian = names.get(conn, &lot.custodian)?;
    let shipped_to = lot
        .shipped_to
        .as_deref()
        .map(|id| names.get(conn, id))
        .transpose()?;
    let digital_link = match (Gtin::parse(&lot.gtin), LotCode::parse(&lot.lot)) {
        (Ok(gtin), Ok(code)) => lot_uri(public_url, &gtin, &code),
        _ => {
            return Err(AppError::internal(format!(
                "stored lot ({}, {}) is not a valid key",
                lot.gtin, lot.lot
            )));
        }
    };
    Ok(LotResponse {
        digital_link,
        product,
        custodian,
        shipped_to,
        head: lot.head,
        chain: chain
            .records
            .into_iter()
            .map(RecordResponse::from)
            .collect(),
        gtin: lot.gtin,
        lot: lot.lot,
        recall: None,
    })
}

fn org_json(org: &crate::trace::provenance::OrgView) -> serde_json::Value {
    serde_json::json!({"id": org.id, "name": org.name, "name_zh": org.name_zh})
}

/// `GET /api/v1/lots/{gtin}/{lot}/provenance`: the provenance page's content as JSON, for
/// e-commerce pages that render their own (CORS open). Each step says whether its record
/// verified; the records themselves are under `/upstream` for checking without trusting us.
async fn provenance_json(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    verdicts: web::Data<VerdictCache>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let (public_url, verdicts) = (site.public_url.clone(), verdicts.clone());
    let body = crate::db::run(&pool, move |conn| {
        let p = crate::trace::provenance::load(conn, &gtin, &lot, &verdicts)?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
        let uri = lot_uri(&public_url, &gtin, &lot);
        let encoded = crate::domain::digital_link::path_segment(lot.as_str());
        let product = p.product.clone().map(ProductResponse::from);
        Ok(serde_json::json!({
            "gtin": p.gtin.as_str(),
            "lot": p.lot.as_str(),
            "digital_link": uri,
            "product": product,
            "recalled": !p.recalls_in_force().is_empty(),
            "recalls": p.recalls.iter().map(RecallResponse::from).collect::<Vec<_>>(),
            "verified": p.broken == 0,
            "records_checked": p.records_checked,
            "records_failing": p.broken,
            "truncated": p.truncated,
            "origins": p.origins.iter().map(org_json).collect::<Vec<_>>(),
            "stores_in_stock": p.stores.iter().map(org_json).collect::<Vec<_>>(),
            "steps": p.steps.iter().map(|s| serde_json::json!({
                "record_id": s.id,
                "event": s.event,
                "time": s.time_iso,
                "time_utc": s.time_iso,
                "time_signed": s.time_signed,
                "actor": s.actor.as_ref().map(org_json),
                "to": s.to.as_ref().map(org_json),
                "location": s.location,
                "lots": s.lots,
                "new_lots": s.new_lots,
                "quantities": s.quantities,
                "amounts": s.amounts,
                "kde": s.kde.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "hosted_key": s.hosted_key,
                "device_key": s.device_key,
                "verified": s.problems.is_empty(),
                "problems": s.problems,
            })).collect::<Vec<_>>(),
            "links": {
                "page": uri,
                "embed": format!("{public_url}/embed{}", crate::domain::digital_link::lot_path(p.gtin.as_str(), p.lot.as_str())),
                "records": format!("{public_url}/api/v1/lots/{}/{encoded}/upstream", p.gtin),
                "epcis": format!("{uri}?linkType=gs1:epcis"),
                "buy_online": p.product.as_ref().and_then(|pr| pr.listing_url.as_ref()).map(|_| format!("{public_url}/go/{}?lot={encoded}&ch=embed", p.gtin)),
                "pickup": format!("{public_url}/shop/{}/pickup?lot={encoded}&ch=embed", p.gtin),
            },
        }))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", RECALLABLE))
        .json(body))
}

#[derive(Debug, Clone, Serialize)]
pub struct LotResponse {
    pub gtin: String,
    pub lot: String,
    pub digital_link: String,
    pub product: Option<ProductResponse>,
    pub custodian: OrgRef,
    pub shipped_to: Option<OrgRef>,
    pub head: String,
    pub chain: Vec<RecordResponse>,
    /// The latest recall in force covering the lot (DESIGN.md), only in the lot's own answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageEdge {
    pub gtin: String,
    pub lot: String,
    pub input_gtin: String,
    pub input_lot: String,
    pub record_log_index: i64,
}

/// A lot's upstream DAG: its chain and, through transforms, the chains of every lot it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamResponse {
    pub gtin: String,
    pub lot: String,
    pub lots: Vec<LotResponse>,
    pub edges: Vec<LineageEdge>,
    /// True when the DAG was larger than the response limit and was cut.
    pub truncated: bool,
}

/// The query of a trace as sent: every part optional, each checked with a message naming it.
#[derive(Debug, Default, Deserialize)]
pub struct TraceQuery {
    pub direction: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One page of a trace, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracePage {
    pub direction: Direction,
    pub offset: usize,
    pub limit: usize,
}

impl TraceQuery {
    /// Backward unless `direction` says otherwise; `closure::DEFAULT_LIMIT` lots from the start
    /// unless `limit` and `cursor` (a `next_cursor` of an earlier answer) say otherwise.
    pub fn parse(&self) -> Result<TracePage, AppError> {
        let direction = match &self.direction {
            Some(d) => Direction::parse(d).map_err(AppError::Malformed)?,
            None => Direction::Backward,
        };
        let limit = match &self.limit {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=closure::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    AppError::Malformed(format!(
                        "limit must be a whole number from 1 to {}, not {text:?}",
                        closure::MAX_LIMIT
                    ))
                })?,
            None => closure::DEFAULT_LIMIT,
        };
        let offset = match &self.cursor {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n < closure::MAX_REACH)
                .ok_or_else(|| {
                    AppError::Malformed(format!(
                        "cursor {text:?} is not one a trace answer gave (next_cursor)"
                    ))
                })?,
            None => 0,
        };
        Ok(TracePage {
            direction,
            offset,
            limit,
        })
    }
}

/// `GET /api/v1/lots/{gtin}/{lot}/trace?direction=forward|backward&limit=N&cursor=C`: the
/// closure of the lot through transforms and packs, a page at a time. Public, like the
/// provenance.
async fn trace(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
    q: web::Query<TraceQuery>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = parse_lot(path.into_inner())?;
    let page = q.parse()?;
    let public_url = site.public_url.clone();
    let body = crate::db::run(&pool, move |conn| {
        trace_body(conn, &gtin, &lot, page, &public_url)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(body))
}

/// A trace's answer, as the API gives it (the CLI and the staff page show the same).
pub fn trace_body(
    conn: &mut DbConn,
    gtin: &Gtin,
    lot: &LotCode,
    page: TracePage,
    public_url: &str,
) -> Result<TraceResponse, AppError> {
    let start = (gtin.to_string(), lot.to_string());
    let found = closure::load(conn, &start, page.direction, page.offset, page.limit)?
        .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))?;
    let mut gtins: Vec<&str> = found.lots.iter().map(|l| l.lot.gtin.as_str()).collect();
    gtins.sort_unstable();
    gtins.dedup();
    let mut names: HashMap<String, ProductName> = HashMap::new();
    for g in gtins {
        if let Some(p) = products::find(conn, g)? {
            names.insert(
                p.gtin,
                ProductName {
                    name: p.name,
                    name_zh: p.name_zh,
                },
            );
        }
    }
    let org = |id: &str| match found.orgs.get(id) {
        Some(o) => OrgRef {
            id: o.id.clone(),
            name: Some(o.name.clone()),
            name_zh: o.name_zh.clone(),
        },
        None => OrgRef {
            id: id.to_owned(),
            name: None,
            name_zh: None,
        },
    };
    let record_id = |index: i64| found.link_records.get(&index).cloned().unwrap_or_default();
    let lots = found
        .lots
        .iter()
        .map(|t| {
            let (g, l) = &t.reached.key;
            TraceLot {
                depth: t.reached.depth,
                gtin: g.clone(),
                lot: l.clone(),
                digital_link: format!(
                    "{public_url}{}",
                    crate::domain::digital_link::lot_path(g, l)
                ),
                product: names.get(g).cloned(),
                custodian: org(&t.lot.custodian),
                created_by: t.created.as_ref().map(|c| TraceRecord {
                    record_id: c.record_id.clone(),
                    log_index: c.log_index,
                    event: c.event.clone(),
                    time: c.time.to_rfc3339(),
                }),
                quantity: t.created.as_ref().and_then(|c| c.quantity.clone()),
                links: t
                    .reached
                    .links
                    .iter()
                    .map(|s| TraceLink {
                        gtin: s.from.0.clone(),
                        lot: s.from.1.clone(),
                        record_id: record_id(s.log_index),
                        log_index: s.log_index,
                    })
                    .collect(),
            }
        })
        .collect();
    let stores = (page.direction == Direction::Forward).then(|| {
        let mut stores: Vec<TraceStore> = Vec::new();
        for r in &found.receipts {
            let line = TraceHolding {
                gtin: r.lot.0.clone(),
                lot: r.lot.1.clone(),
                received_at: r.received.to_rfc3339(),
                in_stock: r.holding.is_some(),
                on_hand: r.holding.as_ref().and_then(|h| {
                    Some(crate::domain::Quantity {
                        amount: crate::domain::quantity::format_micro(h.on_hand?),
                        unit: h.unit.clone()?,
                    })
                }),
            };
            match stores.last_mut() {
                Some(s) if s.store.id == r.store.id => s.lots.push(line),
                _ => stores.push(TraceStore {
                    store: org(&r.store.id),
                    lots: vec![line],
                }),
            }
        }
        stores
    });
    let end = page.offset + page.limit;
    Ok(TraceResponse {
        gtin: gtin.to_string(),
        lot: lot.to_string(),
        direction: page.direction.as_str(),
        limit: page.limit,
        cursor: (page.offset > 0).then(|| page.offset.to_string()),
        next_cursor: (found.more && end < closure::MAX_REACH).then(|| end.to_string()),
        truncated: found.more,
        lots,
        stores,
    })
}

/// One page of a lot's closure forward or backward.
#[derive(Debug, Clone, Serialize)]
pub struct TraceResponse {
    pub gtin: String,
    pub lot: String,
    pub direction: &'static str,
    /// The most lots this page holds.
    pub limit: usize,
    /// The cursor this page was asked with; null for the first.
    pub cursor: Option<String>,
    /// Where the next page starts; null on the last page.
    pub next_cursor: Option<String>,
    /// True when the closure holds more lots than this page and those before it.
    pub truncated: bool,
    /// The start (depth 0) and then each depth level, sorted by GTIN and lot.
    pub lots: Vec<TraceLot>,
    /// Forward only: every store that received a lot of this page, and what it still holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<Vec<TraceStore>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductName {
    pub name: String,
    pub name_zh: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceLot {
    pub depth: u32,
    pub gtin: String,
    pub lot: String,
    pub digital_link: String,
    pub product: Option<ProductName>,
    pub custodian: OrgRef,
    /// The record that created the lot (a harvest, transform or pack).
    pub created_by: Option<TraceRecord>,
    /// The quantity that record stated for the lot.
    pub quantity: Option<crate::domain::Quantity>,
    /// The lots one level nearer the start that lead here, each with the record linking them;
    /// the first is the lot's parent in a tree.
    pub links: Vec<TraceLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceRecord {
    pub record_id: String,
    pub log_index: i64,
    pub event: String,
    pub time: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceLink {
    pub gtin: String,
    pub lot: String,
    pub record_id: String,
    pub log_index: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceStore {
    pub store: OrgRef,
    pub lots: Vec<TraceHolding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceHolding {
    pub gtin: String,
    pub lot: String,
    pub received_at: String,
    pub in_stock: bool,
    /// What is left, when the records say how much.
    pub on_hand: Option<crate::domain::Quantity>,
}

impl TraceResponse {
    /// The lots in the order of an indented tree, each under its first link.
    pub fn tree(&self) -> Vec<&TraceLot> {
        let nodes: Vec<_> = self
            .lots
            .iter()
            .map(|l| {
                (
                    (l.gtin.as_str(), l.lot.as_str()),
                    l.links.first().map(|p| (p.gtin.as_str(), p.lot.as_str())),
                )
            })
            .collect();
        closure::tree_order(&nodes)
            .into_iter()
            .map(|i| &self.lots[i])
            .collect()
    }
}
