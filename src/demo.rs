//! The demo story, seeded through the same signed submission path a real client uses: every
//! record is signed with the organization's own key, and the envelopes go through the ledger's
//! parsing, verification and rules like any client's, committed together as one batch.
//!
//! Chishang rice: two farms harvest paddy, a mill receives both lots and mills them into 2 kg
//! bags, a cold-chain carrier moves the bags with temperature notes, two Taipei stores receive
//! them. Leafy greens (FSMA 204): a Yilan farm harvests romaine, cools it, packs it into a new
//! lot (initial packing), and ships it through the carrier to a store.

use crate::admin;
use crate::api::{NewOrgRequest, NewProductRequest};
use crate::db::{DbConn, settings};
use crate::domain::RecordId;
use crate::envelope;
use crate::keyfile::{self, KeyFile};
use crate::record::{LotRefJson, NewLotJson, RECORD_TYPE, RecordJson};
use crate::startup::Services;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const SEEDED: &str = "demo_summary";
pub const RICE_GTIN: &str = "04712345000022";
pub const GREENS_GTIN: &str = "04712345000046";

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
            out.push_str(&format!(
                "  {label}\n    page (what the QR code opens): {base}/01/{gtin}/10/{lot}\n    labels to print:               {base}/labels/01/{gtin}/10/{lot}\n    records (JSON):                {base}/api/v1/lots/{gtin}/{lot}/upstream\n"
            ));
        }
        out.push_str(&format!(
            "Storefront: {base}/shop\nEmbed card:  {base}/embed/01/{RICE_GTIN}/10/RICE-2611-01 (how to paste it: docs/embed.md)\n"
        ));
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

struct Actor {
    id: String,
    key: SigningKey,
}

/// The story as it is written: each line signed at once, all of them submitted together at the end.
struct Story {
    actors: HashMap<&'static str, Actor>,
    heads: HashMap<String, String>,
    start: DateTime<Utc>,
    envelopes: Vec<Vec<u8>>,
}

fn taipei(t: DateTime<Utc>) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

impl Story {
    /// Signs one record `hours` after the story's start; returns its id.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per story line reads best with every field in view"
    )]
    fn record(
        &mut self,
        actor: &str,
        event: &str,
        hours: i64,
        location: (&str, &str, f64, f64),
        lots: &[(&str, &str)],
        new_lots: &[(&str, &str, &str, &str)],
        to: Option<&str>,
        kde: &[(&str, &str)],
    ) -> Result<String, String> {
        let signer = &self.actors[actor];
        let json = RecordJson {
            record_type: RECORD_TYPE.into(),
            event: event.into(),
            actor: signer.id.clone(),
            time: taipei(self.start + Duration::hours(hours)),
            location: Some(crate::record::Location {
                name: Some(location.0.into()),
                gln: Some(location.1.into()),
                lat: Some(location.2),
                lon: Some(location.3),
            }),
            lots: lots
                .iter()
                .map(|(gtin, lot)| LotRefJson {
                    gtin: (*gtin).into(),
                    lot: (*lot).into(),
                    prev: self.heads[&format!("{gtin}/{lot}")].clone(),
                    quantity: None,
                })
                .collect(),
            new_lots: new_lots
                .iter()
                .map(|(gtin, lot, amount, unit)| NewLotJson {
                    gtin: (*gtin).into(),
                    lot: (*lot).into(),
                    quantity: Some(crate::domain::Quantity {
                        amount: (*amount).into(),
                        unit: (*unit).into(),
                    }),
                })
                .collect(),
            to: to.map(|t| self.actors[t].id.clone()),
            kde: kde
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        };
        let payload = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
        let envelope = envelope::sign(&signer.key, &payload);
        self.envelopes
            .push(serde_json::to_vec(&envelope.to_json()).map_err(|e| e.to_string())?);
        let id = RecordId::of_payload(&payload).to_hex();
        for (gtin, lot) in lots
            .iter()
            .copied()
            .chain(new_lots.iter().map(|(g, l, _, _)| (*g, *l)))
        {
            self.heads.insert(format!("{gtin}/{lot}"), id.clone());
        }
        Ok(id)
    }
}

struct DemoOrg {
    slug: &'static str,
    name: &'static str,
    name_zh: &'static str,
    roles: &'static [&'static str],
    gln: &'static str,
}

const ORGS: &[DemoOrg] = &[
    DemoOrg {
        slug: "chishang-farm",
        name: "Chishang Farm",
        name_zh: "池上農場",
        roles: &["producer"],
        gln: "4712345000015",
    },
    DemoOrg {
        slug: "guanshan-farm",
        name: "Guanshan Terrace Farm",
        name_zh: "關山梯田農場",
        roles: &["producer"],
        gln: "4712345000022",
    },
    DemoOrg {
        slug: "chishang-mill",
        name: "Chishang Rice Mill",
        name_zh: "池上碾米廠",
        roles: &["processor", "brand"],
        gln: "4712345000039",
    },
    DemoOrg {
        slug: "east-coast-cold-chain",
        name: "East Coast Cold Chain",
        name_zh: "東岸冷鏈物流",
        roles: &["carrier"],
        gln: "4712345000046",
    },
    DemoOrg {
        slug: "green-leaf-xinyi",
        name: "Green Leaf Market Xinyi",
        name_zh: "綠葉超市 信義店",
        roles: &["retailer"],
        gln: "4712345000053",
    },
    DemoOrg {
        slug: "green-leaf-daan",
        name: "Green Leaf Market Da'an",
        name_zh: "綠葉超市 大安店",
        roles: &["retailer"],
        gln: "4712345000060",
    },
    DemoOrg {
        slug: "yilan-greens",
        name: "Lanyang Greens Farm",
        name_zh: "蘭陽青蔬農場",
        roles: &["producer", "brand"],
        gln: "4712345000077",
    },
];

fn products(brand_of: impl Fn(&str) -> Option<String>) -> Vec<NewProductRequest> {
    let p = |gtin: &str,
             name: &str,
             name_zh: &str,
             description: &str,
             price: Option<&str>,
             listing: Option<&str>| NewProductRequest {
        gtin: gtin.into(),
        name: name.into(),
        name_zh: Some(name_zh.into()),
        description: Some(description.into()),
        image_url: match gtin {
            RICE_GTIN | "04712345000015" => Some("/static/img/rice.svg".into()),
            _ => Some("/static/img/greens.svg".into()),
        },
        price: price.map(Into::into),
        currency: price.map(|_| "TWD".into()),
        listing_url: listing.map(Into::into),
        brand_org: brand_of(gtin),
    };
    vec![
        p(
            "04712345000015",
            "Paddy rice (unmilled)",
            "稻穀（未碾）",
            "Freshly harvested Tainung No. 71 paddy from the Chishang valley.",
            None,
            None,
        ),
        p(
            RICE_GTIN,
            "Chishang rice 2 kg",
            "池上米 2 公斤",
            "Single-origin Chishang rice, milled within a week of harvest.",
            Some("380"),
            Some("https://shop.example.com/products/chishang-rice-2kg"),
        ),
        p(
            "04712345000039",
            "Romaine lettuce (field)",
            "蘿蔓萵苣（田間）",
            "Romaine lettuce harvested in the Lanyang plain.",
            None,
            None,
        ),
        p(
            GREENS_GTIN,
            "Romaine hearts 300 g",
            "蘿蔓心 300 公克",
            "Washed romaine hearts, cooled within two hours of harvest.",
            Some("65"),
            Some("https://shop.example.com/products/romaine-hearts-300g"),
        ),
    ]
}

/// Seeds the story once; a second call returns what the first made.
pub fn seed(services: &Services, dir: &Path) -> Result<Summary, String> {
    let pool = services.ledger.pool().clone();
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    if let Some(stored) = settings::get(&mut conn, SEEDED).map_err(|e| e.to_string())? {
        return serde_json::from_str(&stored)
            .map_err(|e| format!("the stored demo summary is unreadable: {e}"));
    }
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)
        .map_err(|e| format!("cannot create {}: {e}", keys_dir.display()))?;
    let mut actors = HashMap::new();
    let mut org_list = Vec::new();
    for org in ORGS {
        let (id, key) = create_org(&mut conn, org, &keys_dir)?;
        org_list.push((format!("{} {}", org.name_zh, org.name), id.clone()));
        actors.insert(org.slug, Actor { id, key });
    }
    let brand_of = |gtin: &str| {
        let slug = if gtin == RICE_GTIN {
            "chishang-mill"
        } else {
            "yilan-greens"
        };
        actors.get(slug).map(|a: &Actor| a.id.clone())
    };
    for product in products(brand_of) {
        admin::register_product(&mut conn, &product).map_err(|e| format!("demo product: {e}"))?;
    }
    drop(conn);

    let mut story = Story {
        actors,
        heads: HashMap::new(),
        start: Utc::now() - Duration::days(12),
        envelopes: Vec::new(),
    };
    tell_rice(&mut story)?;
    tell_greens(&mut story)?;
    // Judged one by one, in order, and committed together like any batch of client submissions.
    for (i, verdict) in services
        .ledger
        .submit_all_blocking(&story.envelopes)
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

    let accounts = demo_staff(services, &story.actors, dir)?;
    let summary = Summary {
        lots: vec![
            (
                "Chishang rice 2 kg, Xinyi store (池上米)".into(),
                RICE_GTIN.into(),
                "RICE-2611-01".into(),
            ),
            (
                "Chishang rice 2 kg, Da'an store".into(),
                RICE_GTIN.into(),
                "RICE-2611-02".into(),
            ),
            (
                "Romaine hearts 300 g (蘿蔓心)".into(),
                GREENS_GTIN.into(),
                "RH-1123-P1".into(),
            ),
        ],
        orgs: org_list,
        records: story.envelopes.len(),
        key_dir: dir.display().to_string(),
        accounts,
    };
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let json = serde_json::to_string(&summary).map_err(|e| e.to_string())?;
    settings::put(&mut conn, SEEDED, &json).map_err(|e| e.to_string())?;
    Ok(summary)
}

/// One staff login per organization (an admin of it), with a random password written to
/// accounts.txt in the demo folder, and hosted keys for the two stores so that pickups can be
/// handed over from the browser.
fn demo_staff(
    services: &Services,
    actors: &HashMap<&'static str, Actor>,
    dir: &Path,
) -> Result<Vec<(String, String, String)>, String> {
    let mut conn = services
        .ledger
        .pool()
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let sealer = crate::hosted::Sealer::load(&services.settings)?;
    let mut accounts = Vec::new();
    for org in ORGS {
        let id = &actors[org.slug].id;
        let password = crate::accounts::random_token().map_err(|e| e.to_string())?[..16].to_owned();
        let email = format!("{}@demo.truetrace.tw", org.slug);
        crate::accounts::create_user(
            &mut conn,
            id,
            &email,
            &format!("{} staff", org.name),
            &password,
            true,
        )
        .map_err(|e| format!("demo account: {e}"))?;
        if org.roles.contains(&"retailer") {
            crate::hosted::enable(&mut conn, &sealer, id)
                .map_err(|e| format!("demo hosted key: {e}"))?;
        }
        accounts.push((format!("{} {}", org.name_zh, org.name), email, password));
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
    let req = NewOrgRequest {
        name: org.name.into(),
        name_zh: Some(org.name_zh.into()),
        roles: org.roles.iter().map(|r| (*r).to_owned()).collect(),
        gln: Some(org.gln.into()),
    };
    let row = admin::create_org(conn, &req)
        .map_err(|e| format!("demo organization {}: {e}", org.name))?;
    let key = keyfile::generate()?;
    let file = KeyFile::new(&key, Some(row.id.clone()));
    admin::enroll_key(conn, &row.id, &file.public_key, false)
        .map_err(|e| format!("demo key: {e}"))?;
    file.write(&keys_dir.join(format!("{}.json", org.slug)), true)?;
    Ok((row.id, key))
}

const PADDY: &str = "04712345000015";

fn tell_rice(s: &mut Story) -> Result<(), String> {
    let chishang = (
        "Field 3, Chishang, Taitung",
        "4712345000015",
        23.1187,
        121.2206,
    );
    let guanshan = (
        "Terrace 7, Guanshan, Taitung",
        "4712345000022",
        23.0474,
        121.1632,
    );
    let mill = (
        "Chishang Rice Mill, line 2",
        "4712345000039",
        23.1002,
        121.2189,
    );
    let truck = (
        "Truck TPE-3321, Provincial Hwy 9",
        "4712345000046",
        23.75,
        121.5,
    );
    let xinyi = (
        "Green Leaf Market Xinyi, Taipei",
        "4712345000053",
        25.0330,
        121.5654,
    );
    let daan = (
        "Green Leaf Market Da'an, Taipei",
        "4712345000060",
        25.0264,
        121.5436,
    );
    s.record(
        "chishang-farm",
        "harvest",
        0,
        chishang,
        &[],
        &[(PADDY, "PADDY-2611-A", "1200", "KGM")],
        None,
        &[
            ("harvest_date", "2026-11-11"),
            ("field", "Field 3"),
            ("variety", "Tainung No. 71"),
            ("moisture_pct", "22"),
        ],
    )?;
    s.record(
        "guanshan-farm",
        "harvest",
        3,
        guanshan,
        &[],
        &[(PADDY, "PADDY-2611-B", "800", "KGM")],
        None,
        &[
            ("harvest_date", "2026-11-11"),
            ("field", "Terrace 7"),
            ("variety", "Tainung No. 71"),
        ],
    )?;
    s.record(
        "chishang-farm",
        "ship",
        20,
        chishang,
        &[(PADDY, "PADDY-2611-A")],
        &[],
        Some("chishang-mill"),
        &[("vehicle", "Farm truck 2")],
    )?;
    s.record(
        "guanshan-farm",
        "ship",
        22,
        guanshan,
        &[(PADDY, "PADDY-2611-B")],
        &[],
        Some("chishang-mill"),
        &[],
    )?;
    s.record(
        "chishang-mill",
        "receive",
        24,
        mill,
        &[(PADDY, "PADDY-2611-A")],
        &[],
        None,
        &[("moisture_pct", "21.5")],
    )?;
    s.record(
        "chishang-mill",
        "receive",
        25,
        mill,
        &[(PADDY, "PADDY-2611-B")],
        &[],
        None,
        &[],
    )?;
    s.record(
        "chishang-mill",
        "note",
        48,
        mill,
        &[(PADDY, "PADDY-2611-A"), (PADDY, "PADDY-2611-B")],
        &[],
        None,
        &[("note", "Dried to 14.5% moisture")],
    )?;
    s.record(
        "chishang-mill",
        "transform",
        72,
        mill,
        &[(PADDY, "PADDY-2611-A"), (PADDY, "PADDY-2611-B")],
        &[
            (RICE_GTIN, "RICE-2611-01", "300", "H87"),
            (RICE_GTIN, "RICE-2611-02", "300", "H87"),
        ],
        None,
        &[
            (
                "process",
                "hulling, milling, polishing, packing in 2 kg bags",
            ),
            ("yield_pct", "68"),
        ],
    )?;
    s.record(
        "chishang-mill",
        "ship",
        96,
        mill,
        &[(RICE_GTIN, "RICE-2611-01"), (RICE_GTIN, "RICE-2611-02")],
        &[],
        Some("east-coast-cold-chain"),
        &[],
    )?;
    s.record(
        "east-coast-cold-chain",
        "receive",
        97,
        truck,
        &[(RICE_GTIN, "RICE-2611-01"), (RICE_GTIN, "RICE-2611-02")],
        &[],
        None,
        &[("vehicle", "TPE-3321")],
    )?;
    s.record(
        "east-coast-cold-chain",
        "note",
        101,
        truck,
        &[(RICE_GTIN, "RICE-2611-01"), (RICE_GTIN, "RICE-2611-02")],
        &[],
        None,
        &[("temperature_c", "16.5"), ("humidity_pct", "58")],
    )?;
    s.record(
        "east-coast-cold-chain",
        "ship",
        104,
        truck,
        &[(RICE_GTIN, "RICE-2611-01")],
        &[],
        Some("green-leaf-xinyi"),
        &[],
    )?;
    s.record(
        "east-coast-cold-chain",
        "ship",
        105,
        truck,
        &[(RICE_GTIN, "RICE-2611-02")],
        &[],
        Some("green-leaf-daan"),
        &[],
    )?;
    s.record(
        "green-leaf-xinyi",
        "receive",
        106,
        xinyi,
        &[(RICE_GTIN, "RICE-2611-01")],
        &[],
        None,
        &[("temperature_c", "17.0")],
    )?;
    s.record(
        "green-leaf-daan",
        "receive",
        107,
        daan,
        &[(RICE_GTIN, "RICE-2611-02")],
        &[],
        None,
        &[],
    )?;
    s.record(
        "green-leaf-xinyi",
        "store",
        108,
        xinyi,
        &[(RICE_GTIN, "RICE-2611-01")],
        &[],
        None,
        &[("shelf", "Aisle 4, rice and grains")],
    )?;
    Ok(())
}

const ROMAINE_FIELD: &str = "04712345000039";

fn tell_greens(s: &mut Story) -> Result<(), String> {
    let field = (
        "Block B, Sanxing, Yilan",
        "4712345000077",
        24.6671,
        121.6550,
    );
    let truck = (
        "Reefer TPE-8810, National Hwy 5",
        "4712345000046",
        24.85,
        121.75,
    );
    let xinyi = (
        "Green Leaf Market Xinyi, Taipei",
        "4712345000053",
        25.0330,
        121.5654,
    );
    s.record(
        "yilan-greens",
        "harvest",
        200,
        field,
        &[],
        &[(ROMAINE_FIELD, "RL-1123-B", "450", "KGM")],
        None,
        &[
            ("harvest_date", "2026-11-19"),
            ("field", "Block B"),
            ("commodity", "romaine lettuce"),
        ],
    )?;
    s.record(
        "yilan-greens",
        "cool",
        201,
        field,
        &[(ROMAINE_FIELD, "RL-1123-B")],
        &[],
        None,
        &[
            ("cooling_method", "vacuum cooling"),
            ("temperature_c", "2.0"),
        ],
    )?;
    s.record(
        "yilan-greens",
        "pack",
        203,
        field,
        &[(ROMAINE_FIELD, "RL-1123-B")],
        &[(GREENS_GTIN, "RH-1123-P1", "1200", "H87")],
        None,
        &[
            ("packing", "initial packing, 300 g bags"),
            ("pack_date", "2026-11-19"),
        ],
    )?;
    s.record(
        "yilan-greens",
        "ship",
        205,
        field,
        &[(GREENS_GTIN, "RH-1123-P1")],
        &[],
        Some("east-coast-cold-chain"),
        &[],
    )?;
    s.record(
        "east-coast-cold-chain",
        "receive",
        206,
        truck,
        &[(GREENS_GTIN, "RH-1123-P1")],
        &[],
        None,
        &[("temperature_c", "3.1")],
    )?;
    s.record(
        "east-coast-cold-chain",
        "note",
        207,
        truck,
        &[(GREENS_GTIN, "RH-1123-P1")],
        &[],
        None,
        &[("temperature_c", "3.4")],
    )?;
    s.record(
        "east-coast-cold-chain",
        "ship",
        208,
        truck,
        &[(GREENS_GTIN, "RH-1123-P1")],
        &[],
        Some("green-leaf-xinyi"),
        &[],
    )?;
    s.record(
        "green-leaf-xinyi",
        "receive",
        209,
        xinyi,
        &[(GREENS_GTIN, "RH-1123-P1")],
        &[],
        None,
        &[("temperature_c", "3.8")],
    )?;
    Ok(())
}
