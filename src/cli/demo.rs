//! The demo story, seeded through the same signed submission path a real client uses: every
//! record is signed with the organization's own key, and the envelopes go through the ledger's
//! parsing, verification and rules like any client's, committed together as one batch.
//!
//! The story is data, in demo_story.json beside this file (built into the binary): Chishang rice
//! (two farms harvest paddy, a mill receives both lots and mills them into 2 kg bags, a cold-chain
//! carrier moves the bags with temperature notes, two Taipei stores receive them) and leafy greens
//! for FSMA 204 (a Yilan farm harvests romaine, cools it, packs it into a new lot, and ships it
//! through the carrier to a store).
//!
//! The file: `orgs` (a `slug` to name each in the records, what `POST /api/v1/orgs` takes, and
//! `master_data`: address, phone and locations, as `PATCH /api/v1/orgs/{id}` takes them),
//! `products` (what `POST /api/v1/products` takes, with `brand` a slug), `places` (record
//! locations by name), `records` in story order, each `hours` after the story's start (`days_ago`
//! days before the seeding, written in the `offset_hours` time zone) with `lots` (their `prev` is
//! filled in), `new_lots` (`amount` and `unit`), `to` (a slug) and `kde`, where the value `{date}`
//! stands for the record's own date, so that a harvest or pack date always agrees with its event
//! time; and `show`, the lots the server's banner prints.

use crate::accounts::registry;
use crate::accounts::registry::{KeyHolder, MasterDataRequest, NewOrgRequest, NewProductRequest};
use crate::db::{DbConn, kv};
use crate::domain::digital_link::{lot_path, path_segment};
use crate::domain::{Quantity, RecordId};
use crate::ledger::envelope;
use crate::ledger::keyfile::{self, KeyFile};
use crate::ledger::record::{Location, LotRefJson, NewLotJson, RECORD_TYPE, RecordJson};
use crate::startup::Services;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const SEEDED: &str = "demo_summary";
const STORY: &str = include_str!("demo_story.json");

/// What the demo made, kept in the database so a second start prints the same thing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub lots: Vec<(String, String, String)>,
    pub orgs: Vec<(String, String)>,
    pub records: usize,
    pub key_dir: String,
    /// Staff logins made for the demo: (organization, e-mail, password).
    #[serde(default)]
    pub accounts: Vec<(String, String, String)>,
}

impl Summary {
    pub fn describe(&self, base: &str) -> String {
        let mut out = format!(
            "Demo story: {} signed records; the organizations' signing keys are in {}/keys\n",
            self.records, self.key_dir
        );
        for (label, gtin, lot) in &self.lots {
            let path = lot_path(gtin, lot);
            out.push_str(&format!(
                "  {label}\n    page (what the QR code opens): {base}{path}\n    labels to print:               {base}/labels{path}\n    records (JSON):                {base}/api/v1/lots/{gtin}/{}/upstream\n",
                path_segment(lot)
            ));
        }
        out.push_str(&format!("Storefront: {base}/shop\n"));
        out.push_str(&format!(
            "Field app (farmers, processors, carriers; log in first): {base}/field\n"
        ));
        if let Some((_, gtin, lot)) = self.lots.first() {
            out.push_str(&format!(
                "Embed card:  {base}/embed{} (how to paste it: docs/embed.md)\n",
                lot_path(gtin, lot)
            ));
        }
        if !self.accounts.is_empty() {
            out.push_str(&format!(
                "Staff logins at {base}/login (also in {}/accounts.txt):\n",
                self.key_dir
            ));
            for (org, email, password) in &self.accounts {
                out.push_str(&format!("  {org}: {email} / {password}\n"));
            }
        }
        out.push_str("Organizations:\n");
        for (name, id) in &self.orgs {
            out.push_str(&format!("  {name}: {base}/api/v1/orgs/{id}\n"));
        }
        out.push_str("Check the whole store at any time: truetrace verify");
        out
    }
}

pub fn save_admin_token(dir: &Path, token: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("admin-token");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, token.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn load_admin_token(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("admin-token"))
        .ok()
        .map(|t| t.trim().to_owned())
}

/// The story file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoryFile {
    #[serde(rename = "about")]
    _about: String,
    days_ago: i64,
    offset_hours: i32,
    orgs: Vec<DemoOrg>,
    hosted_keys_for_roles: Vec<String>,
    products: Vec<DemoProduct>,
    places: HashMap<String, Location>,
    records: Vec<StoryRecord>,
    show: Vec<ShownLot>,
}

/// Unknown fields are refused by the flattened request (serde cannot refuse them out here too).
#[derive(Deserialize)]
struct DemoOrg {
    slug: String,
    /// Address, phone and locations (FSMA 204 location descriptions), as `PATCH /api/v1/orgs/{id}`.
    #[serde(default)]
    master_data: Option<MasterDataRequest>,
    #[serde(flatten)]
    request: NewOrgRequest,
}

#[derive(Deserialize)]
struct DemoProduct {
    brand: String,
    #[serde(flatten)]
    request: NewProductRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoryRecord {
    actor: String,
    event: String,
    hours: i64,
    place: String,
    #[serde(default)]
    lots: Vec<StoryLot>,
    #[serde(default)]
    new_lots: Vec<StoryNewLot>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    kde: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoryLot {
    gtin: String,
    lot: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoryNewLot {
    gtin: String,
    lot: String,
    amount: String,
    unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShownLot {
    label: String,
    gtin: String,
    lot: String,
}

struct Actor {
    id: String,
    key: SigningKey,
}

impl StoryFile {
    fn read() -> Result<Self, String> {
        serde_json::from_str(STORY).map_err(|e| format!("the demo story file is not valid: {e}"))
    }

    /// Signs every record of the story in order, each naming the head the one before left.
    fn sign(
        &self,
        actors: &HashMap<String, Actor>,
        start: DateTime<Utc>,
    ) -> Result<Vec<Vec<u8>>, String> {
        let zone = FixedOffset::east_opt(self.offset_hours * 3600)
            .ok_or_else(|| format!("offset_hours {} is not a time zone", self.offset_hours))?;
        let actor = |slug: &str| {
            actors
                .get(slug)
                .ok_or_else(|| format!("the demo story names no organization {slug:?}"))
        };
        let mut heads: HashMap<(String, String), String> = HashMap::new();
        let mut envelopes = Vec::with_capacity(self.records.len());
        for (i, line) in self.records.iter().enumerate() {
            let time = (start + Duration::hours(line.hours)).with_timezone(&zone);
            let date = time.date_naive().to_string();
            let place = self
                .places
                .get(&line.place)
                .ok_or_else(|| format!("demo record {i} names no place {:?}", line.place))?;
            let lots = line
                .lots
                .iter()
                .map(|l| {
                    let prev = heads.get(&(l.gtin.clone(), l.lot.clone())).ok_or_else(|| {
                        format!("demo record {i} acts on lot {} before it exists", l.lot)
                    })?;
                    Ok(LotRefJson {
                        gtin: l.gtin.clone(),
                        lot: l.lot.clone(),
                        prev: prev.clone(),
                        quantity: None,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let signer = actor(&line.actor)?;
            let json = RecordJson {
                record_type: RECORD_TYPE.into(),
                event: line.event.clone(),
                actor: signer.id.clone(),
                time: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                location: Some(place.clone()),
                lots,
                new_lots: line
                    .new_lots
                    .iter()
                    .map(|l| NewLotJson {
                        gtin: l.gtin.clone(),
                        lot: l.lot.clone(),
                        quantity: Some(Quantity {
                            amount: l.amount.clone(),
                            unit: l.unit.clone(),
                        }),
                    })
                    .collect(),
                to: line
                    .to
                    .as_deref()
                    .map(actor)
                    .transpose()?
                    .map(|a| a.id.clone()),
                kde: line
                    .kde
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            if v == "{date}" {
                                date.clone()
                            } else {
                                v.clone()
                            },
                        )
                    })
                    .collect(),
            };
            let payload = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
            let id = RecordId::of_payload(&payload).to_hex();
            for (gtin, lot) in line
                .lots
                .iter()
                .map(|l| (&l.gtin, &l.lot))
                .chain(line.new_lots.iter().map(|l| (&l.gtin, &l.lot)))
            {
                heads.insert((gtin.clone(), lot.clone()), id.clone());
            }
            let envelope = envelope::sign(&signer.key, &payload);
            envelopes.push(serde_json::to_vec(&envelope.to_json()).map_err(|e| e.to_string())?);
        }
        Ok(envelopes)
    }
}

/// Seeds the story once; a second call returns what the first made.
pub fn seed(services: &Services, dir: &Path) -> Result<Summary, String> {
    let pool = services.ledger.pool().clone();
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    if let Some(stored) = kv::get(&mut conn, SEEDED).map_err(|e| e.to_string())? {
        return serde_json::from_str(&stored)
            .map_err(|e| format!("the stored demo summary is unreadable: {e}"));
    }
    let story = StoryFile::read()?;
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)
        .map_err(|e| format!("cannot create {}: {e}", keys_dir.display()))?;
    let mut actors = HashMap::new();
    let mut org_list = Vec::new();
    for org in &story.orgs {
        let (id, key) = create_org(&mut conn, org, &keys_dir)?;
        org_list.push((org_label(org), id.clone()));
        actors.insert(org.slug.clone(), Actor { id, key });
    }
    for product in &story.products {
        let brand = actors
            .get(&product.brand)
            .ok_or_else(|| format!("the demo story names no brand {:?}", product.brand))?;
        let request = NewProductRequest {
            brand_org: Some(brand.id.clone()),
            ..product.request.clone()
        };
        registry::register_product(&mut conn, &request)
            .map_err(|e| format!("demo product: {e}"))?;
    }
    drop(conn);

    let envelopes = story.sign(&actors, Utc::now() - Duration::days(story.days_ago))?;
    // Judged one by one, in order, and committed together like any batch of client submissions.
    for (i, verdict) in services
        .ledger
        .submit_all_blocking(&envelopes)
        .into_iter()
        .enumerate()
    {
        match verdict {
            Ok(submitted) if submitted.created => {}
            Ok(_) => {
                return Err(format!(
                    "demo record {i} was already stored: is this database half-seeded?"
                ));
            }
            Err(e) => return Err(format!("demo record {i} was refused: {e} ({})", e.code())),
        }
    }

    let accounts = demo_staff(services, &story, &actors, dir)?;
    let summary = Summary {
        lots: story
            .show
            .iter()
            .map(|l| (l.label.clone(), l.gtin.clone(), l.lot.clone()))
            .collect(),
        orgs: org_list,
        records: envelopes.len(),
        key_dir: dir.display().to_string(),
        accounts,
    };
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let json = serde_json::to_string(&summary).map_err(|e| e.to_string())?;
    kv::put(&mut conn, SEEDED, &json).map_err(|e| e.to_string())?;
    Ok(summary)
}

fn org_label(org: &DemoOrg) -> String {
    match &org.request.name_zh {
        Some(zh) => format!("{zh} {}", org.request.name),
        None => org.request.name.clone(),
    }
}

/// One staff login per organization (an admin of it), with a random password written to
/// accounts.txt in the demo folder, and hosted keys for the two stores so that pickups can be
/// handed over from the browser.
fn demo_staff(
    services: &Services,
    story: &StoryFile,
    actors: &HashMap<String, Actor>,
    dir: &Path,
) -> Result<Vec<(String, String, String)>, String> {
    let mut conn = services
        .ledger
        .pool()
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let sealer = crate::accounts::hosted_keys::Sealer::load(&services.settings)?;
    let mut accounts = Vec::new();
    for org in &story.orgs {
        let id = &actors[&org.slug].id;
        let password = crate::random::token().map_err(|e| e.to_string())?[..16].to_owned();
        let email = format!("{}@demo.truetrace.tw", org.slug);
        crate::accounts::staff::create_user(
            &mut conn,
            id,
            &email,
            &format!("{} staff", org.request.name),
            &password,
            true,
        )
        .map_err(|e| format!("demo account: {e}"))?;
        if org
            .request
            .roles
            .iter()
            .any(|role| story.hosted_keys_for_roles.contains(role))
        {
            crate::accounts::hosted_keys::enable(&mut conn, &sealer, id)
                .map_err(|e| format!("demo hosted key: {e}"))?;
        }
        accounts.push((org_label(org), email, password));
    }
    let text: String = accounts
        .iter()
        .map(|(org, email, password)| format!("{org}\t{email}\t{password}\n"))
        .collect();
    let path = dir.join("accounts.txt");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        text.as_bytes(),
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(accounts)
}

fn create_org(
    conn: &mut DbConn,
    org: &DemoOrg,
    keys_dir: &Path,
) -> Result<(String, SigningKey), String> {
    let row = registry::create_org(conn, &org.request)
        .map_err(|e| format!("demo organization {}: {e}", org.request.name))?;
    if let Some(master) = &org.master_data {
        registry::set_master_data(conn, &row.id, master)
            .map_err(|e| format!("demo organization {}: {e}", org.request.name))?;
    }
    let key = keyfile::generate()?;
    let file = KeyFile::new(&key, Some(row.id.clone()));
    registry::enroll_key(conn, &row.id, &file.public_key, KeyHolder::Organization)
        .map_err(|e| format!("demo key: {e}"))?;
    file.write(&keys_dir.join(format!("{}.json", org.slug)), true)?;
    Ok((row.id, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::Record;

    #[test]
    fn every_story_record_is_valid_and_its_dates_agree_with_its_time() {
        let story = StoryFile::read().unwrap();
        let actors: HashMap<String, Actor> = story
            .orgs
            .iter()
            .enumerate()
            .map(|(i, org)| {
                let id = format!("01936f4e-0000-7000-8000-{i:012}");
                let key = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                (org.slug.clone(), Actor { id, key })
            })
            .collect();
        // Just before midnight in Taipei, so that a date taken in UTC would be a day off.
        let start = DateTime::parse_from_rfc3339("2026-11-10T23:30:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let envelopes = story.sign(&actors, start).unwrap();
        assert_eq!(envelopes.len(), story.records.len());
        let mut dated = 0;
        for body in &envelopes {
            let envelope = envelope::Envelope::parse(body).unwrap();
            let record = Record::from_payload(&envelope.payload).unwrap();
            for key in ["harvest_date", "pack_date", "cooling_date"] {
                if let Some(date) = record.kde.get(key) {
                    assert_eq!(*date, record.time.date_naive().to_string(), "{key}");
                    dated += 1;
                }
            }
        }
        assert_eq!(
            dated, 5,
            "three harvests, a cooling and a pack carry their dates"
        );
        assert!(story.show.iter().all(|shown| story.records.iter().any(|r| {
            r.new_lots
                .iter()
                .any(|l| l.gtin == shown.gtin && l.lot == shown.lot)
        })));
    }
}
