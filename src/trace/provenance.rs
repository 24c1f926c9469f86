//! The provenance of a lot as a consumer sees it: its journey through every upstream lot, each
//! record checked (id, key, signature, chain link), the stores that hold the product, and an
//! ETag that changes when any lot in the journey gets a new record. Loaded from the database;
//! rendered by the page templates and the JSON answers.

use crate::db::rows::{KeyRow, OrgRow, ProductRow, RecordRow};
use crate::db::{DbConn, keys, orgs, products};
use crate::domain::{Gtin, LotCode, LotKey};
use crate::ledger::audit::check_stored_record;
use crate::ledger::record::Record;
use crate::trace::lineage;
use crate::trace::recall::{self, Recall};
use diesel::QueryResult;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub name_zh: Option<String>,
}

impl From<&OrgRow> for OrgView {
    fn from(row: &OrgRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            name_zh: row.name_zh.clone(),
        }
    }
}

/// One event of the journey.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub event: String,
    /// The time as its signer wrote it, `2026-11-11 06:30 (UTC+08:00)`.
    pub time: String,
    pub time_iso: String,
    pub actor: Option<OrgView>,
    pub to: Option<OrgView>,
    pub location: Option<String>,
    pub lots: Vec<String>,
    pub new_lots: Vec<String>,
    /// `lot: amount unit`, as signed.
    pub quantities: Vec<String>,
    pub kde: Vec<(String, String)>,
    pub hosted_key: bool,
    /// Signed in a staff member's browser (a registered device key).
    pub device_key: bool,
    pub problems: Vec<String>,
    /// The quantities the record states, each with its lot: what `quantities` says, as data.
    pub amounts: Vec<StepQuantity>,
    /// The time as signed, RFC 3339 with the signer's offset (`2026-11-20T06:30:00+08:00`).
    pub time_signed: String,
}

/// A quantity a record states for one of its lots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepQuantity {
    pub gtin: String,
    pub lot: String,
    pub amount: String,
    pub unit: String,
}

impl StepQuantity {
    /// As a person reads it: `300 件`, `300 pcs`.
    pub fn words(&self, zh: bool) -> String {
        crate::domain::quantity::in_words(&self.amount, &self.unit, zh)
    }
}

#[derive(Debug, Clone)]
pub struct Provenance {
    pub gtin: Gtin,
    pub lot: LotCode,
    pub product: Option<ProductRow>,
    /// Every record of the lot and the lots it was made from, oldest first.
    pub steps: Vec<Step>,
    /// The producers whose harvests the lot came from.
    pub origins: Vec<OrgView>,
    pub records_checked: usize,
    pub broken: usize,
    /// Retailers holding a lot of this product now.
    pub stores: Vec<OrgView>,
    pub etag: String,
    pub truncated: bool,
    /// Every lot (GTIN, lot code) whose chain the steps come from: what a cached page shows.
    pub lots: Vec<(String, String)>,
    /// Every recall covering the lot, in force or lifted, oldest first.
    pub recalls: Vec<Recall>,
    /// The organization whose brand the product bears, when it names one.
    pub brand: Option<OrgView>,
}

impl Provenance {
    /// The recalls in force, latest first: the banners at the top of the page.
    pub fn recalls_in_force(&self) -> Vec<&Recall> {
        self.recalls.iter().rev().filter(|r| r.in_force()).collect()
    }

    /// The recalls that were lifted, latest first.
    pub fn recalls_lifted(&self) -> Vec<&Recall> {
        self.recalls
            .iter()
            .rev()
            .filter(|r| !r.in_force())
            .collect()
    }
}

/// Verdicts on stored records, keyed by a digest of everything the verdict depends on, so a row
/// edited behind the server's back misses the cache and is checked again.
#[derive(Default)]
pub struct VerdictCache(Mutex<HashMap<[u8; 32], Arc<Vec<String>>>>);

const VERDICT_CACHE_MAX: usize = 200_000;

impl VerdictCache {
    fn check(&self, row: &RecordRow, key: Option<&KeyRow>) -> Arc<Vec<String>> {
        let mut digest = Sha256::new();
        for part in [
            row.id.as_bytes(),
            &row.payload,
            &row.sig,
            row.keyid.as_bytes(),
        ] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part);
        }
        digest.update(row.accepted_at.and_utc().timestamp_micros().to_le_bytes());
        if let Some(key) = key {
            digest.update(&key.public_key);
            digest.update(
                key.revoked_at
                    .map_or(0, |t| t.and_utc().timestamp_micros())
                    .to_le_bytes(),
            );
        }
        let digest: [u8; 32] = digest.finalize().into();
        if let Some(found) = self
            .0
            .lock()
            .ok()
            .and_then(|cache| cache.get(&digest).cloned())
        {
            return found;
        }
        let verdict = Arc::new(check_stored_record(row, key));
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= VERDICT_CACHE_MAX {
                cache.clear();
            }
            cache.insert(digest, verdict.clone());
        }
        verdict
    }
}

/// Loads the provenance of a lot; None when the lot does not exist.
pub fn load(
    conn: &mut DbConn,
    gtin: &Gtin,
    lot: &LotCode,
    verdicts: &VerdictCache,
) -> QueryResult<Option<Provenance>> {
    let Some(dag) = lineage::upstream(conn, gtin.as_str(), lot.as_str())? else {
        return Ok(None);
    };
    let mut etag = Sha256::new();
    etag.update(b"provenance-v1");
    let mut rows: BTreeMap<i64, RecordRow> = BTreeMap::new();
    // Each payload parsed once, though a record may belong to several chains.
    let mut parsed: HashMap<String, Result<Record, String>> = HashMap::new();
    for chain in &dag.lots {
        etag.update(chain.lot.gtin.as_bytes());
        etag.update(chain.lot.lot.as_bytes());
        etag.update(chain.lot.head.as_bytes());
        for row in &chain.records {
            rows.entry(row.log_index).or_insert_with(|| row.clone());
            parsed
                .entry(row.id.clone())
                .or_insert_with(|| Record::from_payload(&row.payload));
        }
    }
    // For each record, the problems found in the chains it belongs to.
    let mut link_problems: HashMap<String, Vec<String>> = HashMap::new();
    for chain in &dag.lots {
        check_links(chain, &parsed, &mut link_problems);
    }
    let org_ids: Vec<String> = rows
        .values()
        .map(|r| r.actor.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let org_rows = orgs::by_ids(conn, &org_ids)?;
    let mut org_map: HashMap<String, OrgRow> =
        org_rows.into_iter().map(|o| (o.id.clone(), o)).collect();
    let mut key_map: HashMap<String, Option<KeyRow>> = HashMap::new();
    let mut steps = Vec::new();
    let mut origins: Vec<OrgView> = Vec::new();
    let mut broken = 0;
    for row in rows.values() {
        if !key_map.contains_key(&row.keyid) {
            key_map.insert(row.keyid.clone(), keys::find(conn, &row.keyid)?);
        }
        let key = key_map.get(&row.keyid).and_then(Option::as_ref);
        let mut problems: Vec<String> = verdicts.check(row, key).as_ref().clone();
        problems.extend(link_problems.remove(&row.id).unwrap_or_default());
        let step = match parsed.get(&row.id) {
            Some(Ok(record)) => step_of(row, record, &mut org_map, conn, key, problems)?,
            other => Step {
                id: row.id.clone(),
                event: row.event.clone(),
                time: String::new(),
                time_iso: String::new(),
                actor: org_map.get(&row.actor).map(OrgView::from),
                to: None,
                location: None,
                lots: Vec::new(),
                new_lots: Vec::new(),
                quantities: Vec::new(),
                kde: Vec::new(),
                hosted_key: false,
                device_key: false,
                amounts: Vec::new(),
                time_signed: String::new(),
                problems: vec![format!(
                    "its payload is not a valid record: {}",
                    other
                        .and_then(|r| r.as_ref().err())
                        .map_or("missing", String::as_str)
                )],
            },
        };
        if !step.problems.is_empty() {
            broken += 1;
        }
        if step.event == "harvest"
            && let Some(actor) = &step.actor
            && !origins.iter().any(|o| o.id == actor.id)
        {
            origins.push(actor.clone());
        }
        steps.push(step);
    }
    steps.sort_by(|a, b| a.time_iso.cmp(&b.time_iso));
    let product = products::find(conn, gtin.as_str())?;
    let brand = match product.as_ref().and_then(|p| p.brand_org.as_deref()) {
        Some(id) => orgs::find(conn, id)?.as_ref().map(OrgView::from),
        None => None,
    };
    let stores = stores_holding(conn, gtin)?;
    let lots: Vec<(String, String)> = dag
        .lots
        .iter()
        .map(|chain| (chain.lot.gtin.clone(), chain.lot.lot.clone()))
        .collect();
    let recalls = recall::naming(conn, &lots)?;
    for r in &recalls {
        etag.update(r.id.as_bytes());
        etag.update(r.lifted.as_ref().map_or("in force", |l| l.id.as_str()));
    }
    let etag = format!("\"{}\"", hex::encode(&etag.finalize()[..16]));
    Ok(Some(Provenance {
        gtin: gtin.clone(),
        lot: lot.clone(),
        product,
        records_checked: steps.len(),
        broken,
        steps,
        origins,
        stores,
        etag,
        truncated: dag.truncated,
        lots,
        recalls,
        brand,
    }))
}

/// Each record of a lot's chain must name the record before it as that lot's prev; the first
/// must create the lot.
fn check_links(
    chain: &lineage::LotChain,
    parsed: &HashMap<String, Result<Record, String>>,
    problems: &mut HashMap<String, Vec<String>>,
) {
    let names_this_lot =
        |key: &LotKey| key.gtin.as_str() == chain.lot.gtin && key.lot.as_str() == chain.lot.lot;
    let mut previous: Option<&str> = None;
    for row in &chain.records {
        let linked = match (previous, parsed.get(&row.id)) {
            (None, Some(Ok(record))) => record.new_lots.iter().any(|l| names_this_lot(&l.key)),
            (Some(before), Some(Ok(record))) => record
                .lots
                .iter()
                .any(|l| names_this_lot(&l.key) && l.prev.to_hex() == before),
            _ => false,
        };
        if !linked {
            problems.entry(row.id.clone()).or_default().push(format!(
                "the chain of lot {} is broken at this record",
                chain.lot.lot
            ));
        }
        previous = Some(&row.id);
    }
    if previous != Some(chain.lot.head.as_str())
        && let Some(last) = chain.records.last()
    {
        problems.entry(last.id.clone()).or_default().push(format!(
            "lot {}'s head is not its last record",
            chain.lot.lot
        ));
    }
}

fn step_of(
    row: &RecordRow,
    record: &Record,
    orgs_by_id: &mut HashMap<String, OrgRow>,
    conn: &mut DbConn,
    key: Option<&KeyRow>,
    mut problems: Vec<String>,
) -> QueryResult<Step> {
    let actor_id = record.actor.to_string();
    if actor_id != row.actor {
        problems.push("its stored actor differs from its signed payload".into());
    }
    let to = match record.to {
        Some(to) => {
            let id = to.to_string();
            if !orgs_by_id.contains_key(&id)
                && let Some(found) = orgs::find(conn, &id)?
            {
                orgs_by_id.insert(id.clone(), found);
            }
            orgs_by_id.get(&id).map(OrgView::from)
        }
        None => None,
    };
    let amounts: Vec<StepQuantity> = record
        .lots
        .iter()
        .map(|l| (&l.key, &l.quantity))
        .chain(record.new_lots.iter().map(|l| (&l.key, &l.quantity)))
        .filter_map(|(key, quantity)| {
            quantity.as_ref().map(|q| StepQuantity {
                gtin: key.gtin.to_string(),
                lot: key.lot.to_string(),
                amount: q.amount.clone(),
                unit: q.unit.clone(),
            })
        })
        .collect();
    let quantities = amounts
        .iter()
        .map(|q| format!("{}: {} {}", q.lot, q.amount, q.unit))
        .collect();
    Ok(Step {
        id: row.id.clone(),
        event: record.event.as_str().to_owned(),
        time: crate::domain::time::for_people(&record.time),
        time_iso: record.time.with_timezone(&chrono::Utc).to_rfc3339(),
        actor: orgs_by_id.get(&actor_id).map(OrgView::from),
        to,
        location: record.location.as_ref().and_then(|l| l.name.clone()),
        lots: record.lots.iter().map(|l| l.key.lot.to_string()).collect(),
        new_lots: record
            .new_lots
            .iter()
            .map(|l| l.key.lot.to_string())
            .collect(),
        quantities,
        kde: record
            .kde
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hosted_key: key.is_some_and(|k| k.hosted),
        device_key: key.is_some_and(|k| k.device),
        problems,
        amounts,
        time_signed: record
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
    })
}

/// Retailers that have this product in stock now (received and not sold out).
fn stores_holding(conn: &mut DbConn, gtin: &Gtin) -> QueryResult<Vec<OrgView>> {
    let mut stores: Vec<OrgView> = Vec::new();
    for line in crate::omo::stock::of_product(conn, gtin.as_str())? {
        if !stores.iter().any(|s| s.id == line.store.id) {
            stores.push(OrgView::from(&line.store));
        }
    }
    stores.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(stores)
}
