//! The FDA's electronic sortable spreadsheet (FSMA 204, 21 CFR part 1 subpart S): one row per
//! critical tracking event and traceability lot, with the key data elements the rule asks for,
//! for a set of lots (with their trace closure, or as given: a recall's covered set) or a date
//! range; and the completeness report, which names every required key data element an event
//! lacks.
//!
//! The required elements of each event follow the rule's text (eCFR, 21 CFR part 1 subpart S):
//! - Harvesting, § 1.1325(a)(1); cooling before initial packing, § 1.1325(b)(1);
//! - Initial packing of a raw agricultural commodity, § 1.1330(a);
//! - First land-based receiving of a food obtained from a fishing vessel, § 1.1335: a record
//!   that makes lots and states the day they were landed (`kde.landing_date`);
//! - Shipping, § 1.1340(a); receiving, § 1.1345(a);
//! - Transformation, § 1.1350(a); of a raw agricultural commodity not packed before, § 1.1350(b),
//!   which asks for the initial packer's elements (§ 1.1330(a)).
//!
//! An element counts as present when a record states it or it follows from the signed records
//! and the organizations' master data (the event's date from its time, a quantity shipped from
//! the lot's quantity when made, a location description from the organization's name, phone and
//! address). A transporter is never a previous source or a subsequent recipient (the rule says
//! "other than a transporter"); its own ships and receives are not events of the sheet.

use super::closure::{Direction, MAX_REACH, steps, walk};
use super::directory::Directory;
use crate::db::rows::{ProductRow, RecordRow};
use crate::db::{DbConn, products, records};
use crate::domain::{EventType, LotKey, OrgId, Quantity};
use crate::ledger::record::{Location, Record};
use chrono::{NaiveDate, NaiveTime};
use diesel::QueryResult;
use std::collections::{BTreeSet, HashMap};

/// The most events one sheet holds; past it the sheet says it was cut.
pub const MAX_EVENTS: usize = 50_000;

/// A critical tracking event of FSMA 204.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cte {
    Harvesting,
    Cooling,
    InitialPacking,
    FirstLandBasedReceiving,
    Transformation,
    /// A transformation of a raw agricultural commodity that was not initially packed before.
    TransformationOfRawCommodity,
    Shipping,
    Receiving,
}

impl Cte {
    pub fn label(self) -> &'static str {
        match self {
            Self::Harvesting => "Harvesting",
            Self::Cooling => "Cooling",
            Self::InitialPacking => "Initial packing",
            Self::FirstLandBasedReceiving => "First land-based receiving",
            Self::Transformation | Self::TransformationOfRawCommodity => "Transformation",
            Self::Shipping => "Shipping",
            Self::Receiving => "Receiving",
        }
    }

    /// Its name in Traditional Chinese, for the pages.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Harvesting => "採收",
            Self::Cooling => "預冷",
            Self::InitialPacking => "初次包裝",
            Self::FirstLandBasedReceiving => "首次陸上收貨",
            Self::Transformation | Self::TransformationOfRawCommodity => "轉換",
            Self::Shipping => "出貨",
            Self::Receiving => "收貨",
        }
    }

    /// The section of 21 CFR that lists its key data elements.
    pub fn section(self) -> &'static str {
        match self {
            Self::Harvesting => "§ 1.1325(a)",
            Self::Cooling => "§ 1.1325(b)",
            Self::InitialPacking => "§ 1.1330(a)",
            Self::FirstLandBasedReceiving => "§ 1.1335",
            Self::Transformation => "§ 1.1350(a)",
            Self::TransformationOfRawCommodity => "§ 1.1350(b)",
            Self::Shipping => "§ 1.1340(a)",
            Self::Receiving => "§ 1.1345(a)",
        }
    }

    /// The key data elements the rule requires for this event.
    pub fn required(self) -> &'static [Kde] {
        use Kde::*;
        match self {
            Self::Harvesting => &[
                SubsequentRecipient,
                Commodity,
                Quantity,
                Farm,
                Field,
                HarvestDate,
                ReferenceDocument,
            ],
            Self::Cooling => &[
                SubsequentRecipient,
                Commodity,
                Quantity,
                Location,
                EventDate,
                Farm,
                ReferenceDocument,
            ],
            // § 1.1350(b): "the information specified in § 1.1330(a)".
            Self::InitialPacking | Self::TransformationOfRawCommodity => &[
                Commodity,
                DateReceived,
                QuantityReceived,
                Farm,
                Field,
                Harvester,
                HarvestDate,
                Cooling,
                TraceabilityLotCode,
                ProductDescription,
                Quantity,
                TlcSource,
                EventDate,
                ReferenceDocument,
            ],
            Self::FirstLandBasedReceiving => &[
                TraceabilityLotCode,
                ProductDescription,
                Quantity,
                Trip,
                TlcSource,
                LandingDate,
                ReferenceDocument,
            ],
            Self::Transformation => &[
                InputLots,
                TraceabilityLotCode,
                TlcSource,
                EventDate,
                ProductDescription,
                Quantity,
                ReferenceDocument,
            ],
            Self::Shipping => &[
                TraceabilityLotCode,
                Quantity,
                ProductDescription,
                SubsequentRecipient,
                Location,
                EventDate,
                TlcSource,
                ReferenceDocument,
            ],
            Self::Receiving => &[
                TraceabilityLotCode,
                Quantity,
                ProductDescription,
                PreviousSource,
                Location,
                EventDate,
                TlcSource,
                ReferenceDocument,
            ],
        }
    }
}

/// A key data element, as a column of the sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kde {
    TraceabilityLotCode,
    ProductDescription,
    Commodity,
    Variety,
    Quantity,
    /// Where the event happened, as a location description (business name, phone, address).
    Location,
    Farm,
    Field,
    Harvester,
    HarvestDate,
    /// Where and when the food was cooled, when it was (initial packing).
    Cooling,
    DateReceived,
    QuantityReceived,
    EventDate,
    TlcSource,
    PreviousSource,
    SubsequentRecipient,
    InputLots,
    /// The harvest date range and locations of a fishing trip (§ 1.1335(d)).
    Trip,
    LandingDate,
    ReferenceDocument,
}

impl Kde {
    /// The element's name in the completeness report and the dashboard's to-do list.
    pub fn label(self) -> &'static str {
        match self {
            Self::TraceabilityLotCode => "traceability lot code",
            Self::ProductDescription => "product description",
            Self::Commodity => "commodity",
            Self::Variety => "variety",
            Self::Quantity => "quantity and unit of measure",
            Self::Location => "location description of where it happened",
            Self::Farm => "location description of the farm where it was harvested",
            Self::Field => "name of the field or growing area",
            Self::Harvester => "business name and phone of the harvester",
            Self::HarvestDate => "date of harvesting",
            Self::Cooling => "location description and date of cooling",
            Self::DateReceived => "date the packer received the food",
            Self::QuantityReceived => "quantity and unit of measure received",
            Self::EventDate => "date of the event",
            Self::TlcSource => "traceability lot code source",
            Self::PreviousSource => "immediate previous source (other than a transporter)",
            Self::SubsequentRecipient => {
                "immediate subsequent recipient (other than a transporter)"
            }
            Self::InputLots => "traceability lot codes, products and quantities of the food used",
            Self::Trip => "harvest date range and locations of the trip",
            Self::LandingDate => "date the food was landed",
            Self::ReferenceDocument => "reference document type and number",
        }
    }
}

impl Kde {
    /// Its name in Traditional Chinese, for the pages.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::TraceabilityLotCode => "追溯批號",
            Self::ProductDescription => "產品描述",
            Self::Commodity => "品項",
            Self::Variety => "品種",
            Self::Quantity => "數量與單位",
            Self::Location => "事件地點描述",
            Self::Farm => "採收農場的地點描述",
            Self::Field => "田區或栽培區名稱",
            Self::Harvester => "採收者的商號與電話",
            Self::HarvestDate => "採收日期",
            Self::Cooling => "預冷地點與日期",
            Self::DateReceived => "包裝者收貨日期",
            Self::QuantityReceived => "收貨數量與單位",
            Self::EventDate => "事件日期",
            Self::TlcSource => "追溯批號指定地點",
            Self::PreviousSource => "前一來源（運輸業者除外）",
            Self::SubsequentRecipient => "下一收貨者（運輸業者除外）",
            Self::InputLots => "所用原料的批號、產品與數量",
            Self::Trip => "該航次的捕撈日期範圍與海域",
            Self::LandingDate => "卸岸日期",
            Self::ReferenceDocument => "參考單據類型與號碼",
        }
    }
}

fn lack_zh(lack: &str) -> &str {
    match lack {
        "phone" => "電話",
        "address" => "地址",
        "type" => "類型",
        "number" => "號碼",
        "quantity" => "數量",
        "dates" => "日期",
        "locations" => "海域",
        other => other,
    }
}

/// One value of the sheet: what is known, and whether it meets the rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Value {
    pub text: String,
    /// What a location description or a pair still lacks ("phone", "address", ...); empty when
    /// complete. A value with no text lacks everything.
    pub lacks: Vec<&'static str>,
}

impl Value {
    fn of(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            lacks: Vec::new(),
        }
    }

    fn none() -> Self {
        Self::default()
    }

    pub fn is_complete(&self) -> bool {
        !self.text.is_empty() && self.lacks.is_empty()
    }
}

/// One row: a critical tracking event on one traceability lot.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cte: Cte,
    pub record_id: String,
    pub log_index: i64,
    pub actor: OrgId,
    pub actor_name: String,
    pub time: chrono::DateTime<chrono::FixedOffset>,
    pub lot: LotKey,
    pub values: HashMap<Kde, Value>,
    /// The reference document's type and number, as the record states them.
    pub reference: (String, String),
}

impl Row {
    pub fn value(&self, kde: Kde) -> &str {
        self.values.get(&kde).map_or("", |v| v.text.as_str())
    }

    /// The required elements this event lacks, each with what is missing of it.
    pub fn missing(&self) -> Vec<(Kde, String)> {
        self.cte
            .required()
            .iter()
            .filter_map(|kde| {
                let value = self.values.get(kde);
                match value {
                    Some(v) if v.is_complete() => None,
                    Some(v) if !v.text.is_empty() => Some((
                        *kde,
                        format!("{} (no {})", kde.label(), v.lacks.join(", no ")),
                    )),
                    _ => Some((*kde, kde.label().to_owned())),
                }
            })
            .collect()
    }
}

impl Row {
    /// `missing` in the page's language.
    pub fn missing_in(&self, zh: bool) -> Vec<String> {
        if !zh {
            return self.missing().into_iter().map(|(_, m)| m).collect();
        }
        self.cte
            .required()
            .iter()
            .filter_map(|kde| match self.values.get(kde) {
                Some(v) if v.is_complete() => None,
                Some(v) if !v.text.is_empty() => Some(format!(
                    "{}（缺{}）",
                    kde.label_zh(),
                    v.lacks
                        .iter()
                        .map(|l| lack_zh(l))
                        .collect::<Vec<_>>()
                        .join("、")
                )),
                _ => Some(kde.label_zh().to_owned()),
            })
            .collect()
    }
}

/// The sheet: its rows in log order, and whether it was cut at `MAX_EVENTS`.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub rows: Vec<Row>,
    pub truncated: bool,
}

/// A date range, both ends included; an event's date is its day in its own offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dates {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Which lots around the given ones the sheet covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// The lots as given (a recall's covered set is closed already).
    AsGiven,
    /// The lots, what they were made from and what was made from them.
    Both,
}

/// The sheet of the events on `lots` (and, with `Closure::Both`, on every lot of their trace
/// closure), optionally only those within `dates`. The entry point for any set of lots: a
/// request by lot, a recall's covered set.
pub fn for_lots(
    conn: &mut DbConn,
    start: &[LotKey],
    closure: Closure,
    dates: Option<Dates>,
) -> QueryResult<Sheet> {
    let mut keys: BTreeSet<(String, String)> = start
        .iter()
        .map(|k| (k.gtin.to_string(), k.lot.to_string()))
        .collect();
    if closure == Closure::Both {
        for key in start {
            for direction in [Direction::Backward, Direction::Forward] {
                let start = (key.gtin.to_string(), key.lot.to_string());
                let walked = walk(start, MAX_REACH, |frontier| {
                    steps(conn, frontier, direction)
                })?;
                keys.extend(walked.lots.into_iter().map(|r| r.key));
            }
        }
    }
    let keys: Vec<(String, String)> = keys.into_iter().collect();
    let indexes: BTreeSet<i64> = records::indexes_naming(conn, &keys)?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    build(conn, indexes, |record| {
        dates.is_none_or(|d| within(record, d))
    })
}

/// The sheet of every event whose date falls within `dates`.
pub fn for_dates(conn: &mut DbConn, dates: Dates) -> QueryResult<Sheet> {
    // A day in any offset lies within a day on either side in UTC.
    let from = dates
        .from
        .checked_sub_days(chrono::Days::new(1))
        .unwrap_or(dates.from);
    let until = dates
        .to
        .checked_add_days(chrono::Days::new(2))
        .unwrap_or(dates.to);
    let (from, until) = (
        from.and_time(NaiveTime::MIN),
        until.and_time(NaiveTime::MIN),
    );
    let indexes = records::indexes_between(conn, from, until, MAX_EVENTS as i64 * 2)?;
    build(conn, indexes.into_iter().collect(), |record| {
        within(record, dates)
    })
}

/// The sheet of an organization's latest events (at most `limit` records): the producer's
/// dashboard lists what they lack.
pub fn for_actor(conn: &mut DbConn, actor: OrgId, limit: i64) -> QueryResult<Sheet> {
    let indexes = records::recent_indexes_of_actor(conn, &actor.to_string(), limit)?;
    build(conn, indexes.into_iter().collect(), |record| {
        record.actor == actor
    })
}

fn within(record: &Record, dates: Dates) -> bool {
    let day = record.time.date_naive();
    dates.from <= day && day <= dates.to
}

/// Reads the selected records, every record on the lots they name (for sources, recipients
/// and what the harvest said), the organizations and products; then builds the rows.
fn build(
    conn: &mut DbConn,
    selected: BTreeSet<i64>,
    keep: impl Fn(&Record) -> bool,
) -> QueryResult<Sheet> {
    let chosen = records::at_indexes(conn, &selected.iter().copied().collect::<Vec<_>>())?;
    let chosen: Vec<(RecordRow, Record)> = parsed(chosen)
        .into_iter()
        .filter(|(_, r)| keep(r))
        .collect();
    let named: BTreeSet<(String, String)> = chosen
        .iter()
        .flat_map(|(_, r)| lot_keys(r))
        .map(|k| (k.gtin.to_string(), k.lot.to_string()))
        .collect();
    let named: Vec<(String, String)> = named.into_iter().collect();
    let context: Vec<i64> = records::indexes_naming(conn, &named)?
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| !selected.contains(i))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut all = parsed(records::at_indexes(conn, &context)?);
    all.extend(chosen.iter().cloned());
    all.sort_by_key(|(row, _)| row.log_index);
    let directory = Directory::load(conn, all.iter().map(|(_, r)| r))?;
    let gtins: BTreeSet<String> = all
        .iter()
        .flat_map(|(_, r)| lot_keys(r))
        .map(|k| k.gtin.to_string())
        .collect();
    let products: HashMap<String, ProductRow> =
        products::by_gtins(conn, &gtins.into_iter().collect::<Vec<_>>())?
            .into_iter()
            .map(|p| (p.gtin.clone(), p))
            .collect();
    let ledger = Ledger::new(&all);
    let mut sheet = Sheet::default();
    for (row, record) in &chosen {
        for new in rows_of(row, record, &ledger, &directory, &products) {
            if sheet.rows.len() == MAX_EVENTS {
                sheet.truncated = true;
                return Ok(sheet);
            }
            sheet.rows.push(new);
        }
    }
    sheet
        .rows
        .sort_by(|a, b| (a.log_index, &a.lot).cmp(&(b.log_index, &b.lot)));
    Ok(sheet)
}

fn parsed(rows: Vec<RecordRow>) -> Vec<(RecordRow, Record)> {
    rows.into_iter()
        .filter_map(|row| {
            let record = Record::from_payload(&row.payload).ok()?;
            Some((row, record))
        })
        .collect()
}

fn lot_keys(record: &Record) -> impl Iterator<Item = &LotKey> {
    record
        .lots
        .iter()
        .map(|l| &l.key)
        .chain(record.new_lots.iter().map(|l| &l.key))
}

/// The records at hand, each lot's chain in log order.
struct Ledger<'a> {
    records: &'a [(RecordRow, Record)],
    chains: HashMap<&'a LotKey, Vec<usize>>,
}

impl<'a> Ledger<'a> {
    fn new(records: &'a [(RecordRow, Record)]) -> Self {
        let mut chains: HashMap<&LotKey, Vec<usize>> = HashMap::new();
        for (i, (_, record)) in records.iter().enumerate() {
            for key in lot_keys(record) {
                chains.entry(key).or_default().push(i);
            }
        }
        Self { records, chains }
    }

    fn chain(&self, key: &LotKey) -> impl Iterator<Item = &'a (RecordRow, Record)> + '_ {
        self.chains
            .get(key)
            .into_iter()
            .flatten()
            .map(|i| &self.records[*i])
    }

    /// The record that made the lot.
    fn made(&self, key: &LotKey) -> Option<&'a Record> {
        self.chain(key)
            .map(|(_, r)| r)
            .find(|r| r.new_lots.iter().any(|n| &n.key == key))
    }

    fn made_quantity(&self, key: &LotKey) -> Option<&'a Quantity> {
        self.made(key)?
            .new_lots
            .iter()
            .find(|n| &n.key == key)?
            .quantity
            .as_ref()
    }

    /// The first organization after `index` in the lot's chain that takes it and is not a
    /// transporter: the `to` of a ship, or the maker of a lot from it.
    fn next_holder(&self, key: &LotKey, index: i64, directory: &Directory) -> Option<OrgId> {
        for (row, record) in self.chain(key) {
            if row.log_index <= index {
                continue;
            }
            if record.event == EventType::Ship
                && let Some(to) = record.to
                && !directory.is_transporter(to)
            {
                return Some(to);
            }
            if !record.new_lots.is_empty() && record.lots.iter().any(|l| &l.key == key) {
                return Some(record.actor);
            }
        }
        None
    }

    /// The last organization before `index` that shipped the lot and is not a transporter.
    fn previous_source(&self, key: &LotKey, index: i64, directory: &Directory) -> Option<OrgId> {
        self.chain(key)
            .filter(|(row, record)| {
                row.log_index < index
                    && record.event == EventType::Ship
                    && !directory.is_transporter(record.actor)
            })
            .last()
            .map(|(_, r)| r.actor)
    }

    /// The harvest that made the lot, when the lot is a raw agricultural commodity as harvested
    /// (not packed, transformed or landed from a fishing vessel since).
    fn harvest_of(&self, key: &LotKey) -> Option<&'a Record> {
        self.made(key)
            .filter(|made| made.event == EventType::Harvest && !landed(made))
    }

    fn cooling_of(&self, key: &LotKey) -> Option<&'a Record> {
        self.chain(key)
            .map(|(_, r)| r)
            .find(|r| r.event == EventType::Cool)
    }

    /// When `actor` came to hold the lot: its receive, or the harvest when it harvested it.
    fn received_by(&self, key: &LotKey, actor: OrgId) -> Option<NaiveDate> {
        self.chain(key)
            .map(|(_, r)| r)
            .find(|r| {
                r.actor == actor
                    && (r.event == EventType::Receive
                        || (r.event == EventType::Harvest
                            && r.new_lots.iter().any(|n| &n.key == key)))
            })
            .map(|r| {
                r.kde
                    .get("harvest_date")
                    .filter(|_| r.event == EventType::Harvest)
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .unwrap_or(r.time.date_naive())
            })
    }
}

/// Whether a record that makes lots is their first land-based receiving from a fishing vessel
/// (§ 1.1335): it states the day they were landed.
fn landed(record: &Record) -> bool {
    record.kde.contains_key("landing_date")
}

/// The CTE a record is, for one of its lots, or None when it is not one (or a transporter's).
fn cte_of(record: &Record, ledger: &Ledger, directory: &Directory) -> Option<Cte> {
    // Every lot it acts on is a raw agricultural commodity not yet packed.
    let raw = !record.lots.is_empty()
        && record
            .lots
            .iter()
            .all(|l| ledger.harvest_of(&l.key).is_some());
    match record.event {
        EventType::Harvest if landed(record) => Some(Cte::FirstLandBasedReceiving),
        EventType::Harvest => Some(Cte::Harvesting),
        // Cooling is an event before initial packing only (§ 1.1325(b)).
        EventType::Cool if raw => Some(Cte::Cooling),
        EventType::Pack if raw && !record.new_lots.is_empty() => Some(Cte::InitialPacking),
        EventType::Transform if raw && !record.new_lots.is_empty() => {
            Some(Cte::TransformationOfRawCommodity)
        }
        EventType::Pack | EventType::Transform if !record.new_lots.is_empty() => {
            Some(Cte::Transformation)
        }
        // Before a raw agricultural commodity is initially packed, its shipping and receiving
        // are not events (§ 1.1340(c), § 1.1345(c)): the initial packer records the harvest.
        EventType::Ship | EventType::Receive if raw => None,
        EventType::Ship if !directory.is_transporter(record.actor) => Some(Cte::Shipping),
        EventType::Receive if !directory.is_transporter(record.actor) => Some(Cte::Receiving),
        _ => None,
    }
}

fn quantity_text(q: Option<&Quantity>) -> Value {
    q.map_or_else(Value::none, |q| {
        Value::of(format!("{} {}", q.amount, q.unit))
    })
}

/// A location description (21 CFR 1.1310): the business name, phone and the place's address
/// (a location's own, else the organization's; coordinates serve for a field).
fn place(directory: &Directory, org: OrgId, at: Option<&Location>) -> Value {
    let Some(row) = directory.org(org) else {
        return Value::none();
    };
    let location = directory.location_of(org, at);
    let mut parts = vec![row.name.clone()];
    let name = at
        .and_then(|l| l.name.clone())
        .or_else(|| location.map(|l| l.name.clone()));
    if let Some(name) = &name {
        parts.push(name.clone());
    }
    let address = location
        .and_then(|l| l.address.clone())
        .or_else(|| row.address.clone());
    let coordinates = at.and_then(|l| Some(format!("{}, {}", l.lat?, l.lon?)));
    let mut lacks = Vec::new();
    match (&address, &coordinates) {
        (Some(a), _) => parts.push(a.clone()),
        (None, Some(c)) => parts.push(c.clone()),
        (None, None) => lacks.push("address"),
    }
    match &row.phone {
        Some(p) => parts.push(format!("tel. {p}")),
        None => lacks.push("phone"),
    }
    let gln = at
        .and_then(|l| l.gln.clone())
        .or_else(|| location.and_then(|l| l.gln.clone()));
    if let Some(gln) = gln {
        parts.push(format!("GLN {gln}"));
    }
    Value {
        text: parts.join("; "),
        lacks,
    }
}

/// A party named by its organization's master data (its own address, not a place's).
fn party(directory: &Directory, org: Option<OrgId>) -> Value {
    org.map_or_else(Value::none, |o| place(directory, o, None))
}

fn reference(record: &Record) -> Value {
    let kind = record.kde.get("reference_document_type");
    let number = record.kde.get("reference_document_number");
    let mut lacks = Vec::new();
    if kind.is_none() {
        lacks.push("type");
    }
    if number.is_none() {
        lacks.push("number");
    }
    let text = [kind, number]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    Value { text, lacks }
}

fn date_of(record: &Record, key: &str) -> Value {
    Value::of(
        record
            .kde
            .get(key)
            .cloned()
            .unwrap_or_else(|| record.time.date_naive().to_string()),
    )
}

/// The TLC source of a lot: the `tlc_source` of the record that made it (a GLN or a place of
/// its maker), else where that record happened.
fn tlc_source(ledger: &Ledger, directory: &Directory, key: &LotKey) -> Value {
    let Some(made) = ledger.made(key) else {
        return Value::none();
    };
    match made.kde.get("tlc_source") {
        Some(source) => match directory.named_location(made.actor, source) {
            Some(location) => place(
                directory,
                made.actor,
                Some(&Location {
                    name: Some(location.name.clone()),
                    gln: location.gln.clone(),
                    lat: None,
                    lon: None,
                }),
            ),
            None if made.location.as_ref().and_then(|l| l.name.as_deref())
                == Some(source.as_str()) =>
            {
                place(directory, made.actor, made.location.as_ref())
            }
            // A GLN names the place by itself.
            None => Value::of(format!("GLN {source}")),
        },
        None if made.location.is_some() => place(directory, made.actor, made.location.as_ref()),
        None => Value::none(),
    }
}

fn product_text(products: &HashMap<String, ProductRow>, key: &LotKey) -> Value {
    products
        .get(key.gtin.as_str())
        .map_or_else(Value::none, |p| Value::of(p.name.clone()))
}

fn commodity(
    record: Option<&Record>,
    products: &HashMap<String, ProductRow>,
    key: &LotKey,
) -> (Value, Value) {
    let kde = |name: &str| record.and_then(|r| r.kde.get(name)).cloned();
    let commodity = kde("commodity").map_or_else(|| product_text(products, key), Value::of);
    (
        commodity,
        kde("variety").map_or_else(Value::none, Value::of),
    )
}

fn rows_of(
    row: &RecordRow,
    record: &Record,
    ledger: &Ledger,
    directory: &Directory,
    products: &HashMap<String, ProductRow>,
) -> Vec<Row> {
    let Some(cte) = cte_of(record, ledger, directory) else {
        return Vec::new();
    };
    let keys: Vec<(&LotKey, Option<&Quantity>)> = if record.new_lots.is_empty() {
        record
            .lots
            .iter()
            .map(|l| (&l.key, l.quantity.as_ref()))
            .collect()
    } else {
        record
            .new_lots
            .iter()
            .map(|l| (&l.key, l.quantity.as_ref()))
            .collect()
    };
    keys.into_iter()
        .map(|(key, stated)| {
            let mut values: HashMap<Kde, Value> = HashMap::new();
            let mut put = |kde: Kde, value: Value| {
                values.insert(kde, value);
            };
            put(
                Kde::TraceabilityLotCode,
                Value::of(format!("(01){}(10){}", key.gtin, key.lot)),
            );
            put(Kde::ProductDescription, product_text(products, key));
            put(
                Kde::EventDate,
                Value::of(record.time.date_naive().to_string()),
            );
            put(
                Kde::Location,
                place(directory, record.actor, record.location.as_ref()),
            );
            put(Kde::ReferenceDocument, reference(record));
            let quantity = stated.or_else(|| ledger.made_quantity(key));
            put(Kde::Quantity, quantity_text(quantity));
            put(Kde::TlcSource, tlc_source(ledger, directory, key));
            match cte {
                Cte::Harvesting => {
                    let (c, v) = commodity(Some(record), products, key);
                    put(Kde::Commodity, c);
                    put(Kde::Variety, v);
                    put(
                        Kde::Farm,
                        place(directory, record.actor, record.location.as_ref()),
                    );
                    put(Kde::Field, field(record));
                    put(Kde::HarvestDate, date_of(record, "harvest_date"));
                    put(Kde::EventDate, date_of(record, "harvest_date"));
                    put(
                        Kde::SubsequentRecipient,
                        party(directory, ledger.next_holder(key, row.log_index, directory)),
                    );
                }
                Cte::Cooling => {
                    let harvest = ledger.harvest_of(key);
                    let (c, v) = commodity(harvest, products, key);
                    put(Kde::Commodity, c);
                    put(Kde::Variety, v);
                    put(Kde::EventDate, date_of(record, "cooling_date"));
                    put(
                        Kde::Farm,
                        harvest.map_or_else(Value::none, |h| {
                            place(directory, h.actor, h.location.as_ref())
                        }),
                    );
                    put(
                        Kde::SubsequentRecipient,
                        party(directory, ledger.next_holder(key, row.log_index, directory)),
                    );
                }
                Cte::InitialPacking | Cte::TransformationOfRawCommodity => {
                    // Each input's elements; a row lacks one when any input does.
                    let inputs: Vec<(&LotKey, Option<&Quantity>)> = record
                        .lots
                        .iter()
                        .map(|l| (&l.key, l.quantity.as_ref()))
                        .collect();
                    let harvests: Vec<(&LotKey, Option<&Record>)> = inputs
                        .iter()
                        .map(|(k, _)| (*k, ledger.harvest_of(k)))
                        .collect();
                    let from_harvest = |value: &dyn Fn(&Record) -> Value| {
                        joined(
                            harvests
                                .iter()
                                .map(|(_, h)| h.map_or_else(Value::none, value)),
                        )
                    };
                    let (commodities, varieties): (Vec<Value>, Vec<Value>) = harvests
                        .iter()
                        .map(|(k, h)| commodity(*h, products, k))
                        .unzip();
                    put(Kde::Commodity, joined(commodities));
                    put(Kde::Variety, joined(varieties));
                    put(Kde::EventDate, date_of(record, "pack_date"));
                    put(
                        Kde::DateReceived,
                        joined(inputs.iter().map(|(k, _)| {
                            ledger
                                .received_by(k, record.actor)
                                .map_or_else(Value::none, |d| Value::of(d.to_string()))
                        })),
                    );
                    put(
                        Kde::QuantityReceived,
                        joined(inputs.iter().map(|(k, stated)| {
                            quantity_text(stated.or_else(|| ledger.made_quantity(k)))
                        })),
                    );
                    put(
                        Kde::Farm,
                        from_harvest(&|h| place(directory, h.actor, h.location.as_ref())),
                    );
                    put(Kde::Field, from_harvest(&field));
                    put(
                        Kde::HarvestDate,
                        from_harvest(&|h| date_of(h, "harvest_date")),
                    );
                    put(
                        Kde::Harvester,
                        from_harvest(&|h| {
                            // A business name and a phone: no address is asked for.
                            let harvester = party(directory, Some(h.actor));
                            Value {
                                lacks: harvester
                                    .lacks
                                    .iter()
                                    .copied()
                                    .filter(|l| *l == "phone")
                                    .collect(),
                                text: harvester.text,
                            }
                        }),
                    );
                    // Where and when it was cooled, only when it was (the rule: "if applicable").
                    put(
                        Kde::Cooling,
                        joined(inputs.iter().map(|(k, _)| {
                            ledger.cooling_of(k).map_or_else(
                                || Value::of("not cooled"),
                                |c| {
                                    let at = place(directory, c.actor, c.location.as_ref());
                                    let date = date_of(c, "cooling_date").text;
                                    Value {
                                        text: format!("{}; {date}", at.text),
                                        lacks: at.lacks,
                                    }
                                },
                            )
                        })),
                    );
                    put(Kde::InputLots, inputs_used(record, ledger, products));
                }
                Cte::FirstLandBasedReceiving => {
                    put(Kde::Trip, trip(record));
                    put(Kde::LandingDate, date_of(record, "landing_date"));
                    put(Kde::EventDate, date_of(record, "landing_date"));
                }
                Cte::Transformation => {
                    put(Kde::InputLots, inputs_used(record, ledger, products));
                }
                Cte::Shipping => {
                    let to = record.to.filter(|t| !directory.is_transporter(*t));
                    let to = to.or_else(|| ledger.next_holder(key, row.log_index, directory));
                    put(Kde::SubsequentRecipient, party(directory, to));
                }
                Cte::Receiving => {
                    put(
                        Kde::PreviousSource,
                        party(
                            directory,
                            ledger.previous_source(key, row.log_index, directory),
                        ),
                    );
                }
            }
            Row {
                cte,
                record_id: row.id.clone(),
                log_index: row.log_index,
                actor: record.actor,
                actor_name: directory.name(record.actor),
                time: record.time,
                lot: key.clone(),
                values,
                reference: (
                    record
                        .kde
                        .get("reference_document_type")
                        .cloned()
                        .unwrap_or_default(),
                    record
                        .kde
                        .get("reference_document_number")
                        .cloned()
                        .unwrap_or_default(),
                ),
            }
        })
        .collect()
}

/// The field or growing area: the `field` the harvest names, else its location's name.
fn field(harvest: &Record) -> Value {
    harvest
        .kde
        .get("field")
        .cloned()
        .or_else(|| harvest.location.as_ref().and_then(|l| l.name.clone()))
        .map_or_else(Value::none, Value::of)
}

/// One value for several inputs: their texts (each once) and what any of them lacks; none when
/// an input has none, since the rule asks for it of each.
fn joined(values: impl IntoIterator<Item = Value>) -> Value {
    let mut texts: Vec<String> = Vec::new();
    let mut lacks: Vec<&'static str> = Vec::new();
    for value in values {
        if value.text.is_empty() {
            return Value::none();
        }
        if !texts.contains(&value.text) {
            texts.push(value.text);
        }
        for lack in value.lacks {
            if !lacks.contains(&lack) {
                lacks.push(lack);
            }
        }
    }
    Value {
        text: texts.join(" | "),
        lacks,
    }
}

/// A fishing trip's harvest date range (`harvest_date` to `harvest_end_date`) and locations
/// (`catch_area`, as a widely recognized standard names it: an FAO major fishing area, say).
fn trip(record: &Record) -> Value {
    let kde = |key: &str| record.kde.get(key);
    let dates = kde("harvest_date").map(|from| match kde("harvest_end_date") {
        Some(to) if to != from => format!("{from} to {to}"),
        _ => from.clone(),
    });
    let mut lacks = Vec::new();
    if dates.is_none() {
        lacks.push("dates");
    }
    if kde("catch_area").is_none() {
        lacks.push("locations");
    }
    let text = [dates, kde("catch_area").cloned()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    Value { text, lacks }
}

/// The food used: each input lot's code, product and quantity.
fn inputs_used(record: &Record, ledger: &Ledger, products: &HashMap<String, ProductRow>) -> Value {
    let mut lacks = Vec::new();
    let parts: Vec<String> = record
        .lots
        .iter()
        .map(|l| {
            let quantity = l.quantity.as_ref().or_else(|| ledger.made_quantity(&l.key));
            if quantity.is_none() && !lacks.contains(&"quantity") {
                lacks.push("quantity");
            }
            let product = product_text(products, &l.key).text;
            format!(
                "(01){}(10){} {product} {}",
                l.key.gtin,
                l.key.lot,
                quantity.map_or(String::new(), |q| format!("{} {}", q.amount, q.unit))
            )
            .trim_end()
            .to_owned()
        })
        .collect();
    Value {
        text: parts.join(" | "),
        lacks,
    }
}

/// The sheet's columns, in order. The key data elements are headed with the rule's own words
/// (21 CFR 1.1325–1.1350); the rest say which event, record and business a row is, and what it
/// lacks.
pub const COLUMNS: [&str; 31] = [
    "Critical tracking event",
    "Event date",
    "Event time",
    "Traceability lot code",
    "GTIN",
    "Lot",
    "Product description",
    "Commodity",
    "Variety",
    "Quantity and unit of measure",
    "Location description for where the event took place",
    "Location description for the farm where the food was harvested",
    "Name of the field or other growing area",
    "Business name and phone number for the harvester",
    "Date of harvesting",
    "Location description for where the food was cooled, and date of cooling",
    "Date the food was received (initial packing)",
    "Quantity and unit of measure of the food received",
    "Location description for the traceability lot code source",
    "Location description for the immediate previous source (other than a transporter)",
    "Location description for the immediate subsequent recipient (other than a transporter)",
    "Traceability lot code, product description and quantity of each food used",
    "Harvest date range and locations for the trip",
    "Date the food was landed",
    "Reference document type",
    "Reference document number",
    "Business",
    "Record id",
    "Rule",
    "Missing key data elements",
    "Complete",
];

impl Row {
    /// The row's cells, in `COLUMNS` order.
    pub fn cells(&self) -> Vec<String> {
        let v = |kde: Kde| self.value(kde).to_owned();
        let missing = self.missing();
        vec![
            self.cte.label().to_owned(),
            v(Kde::EventDate),
            self.time.to_rfc3339(),
            v(Kde::TraceabilityLotCode),
            self.lot.gtin.to_string(),
            self.lot.lot.to_string(),
            v(Kde::ProductDescription),
            v(Kde::Commodity),
            v(Kde::Variety),
            v(Kde::Quantity),
            v(Kde::Location),
            v(Kde::Farm),
            v(Kde::Field),
            v(Kde::Harvester),
            v(Kde::HarvestDate),
            v(Kde::Cooling),
            v(Kde::DateReceived),
            v(Kde::QuantityReceived),
            v(Kde::TlcSource),
            v(Kde::PreviousSource),
            v(Kde::SubsequentRecipient),
            v(Kde::InputLots),
            v(Kde::Trip),
            v(Kde::LandingDate),
            self.reference.0.clone(),
            self.reference.1.clone(),
            self.actor_name.clone(),
            self.record_id.clone(),
            format!("21 CFR {}", self.cte.section()),
            missing
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            if missing.is_empty() { "yes" } else { "no" }.to_owned(),
        ]
    }
}

/// The sheet as an XLSX workbook: one worksheet with a header row, filters and a frozen header.
pub fn xlsx(sheet: &Sheet) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| format!("cannot write the XLSX workbook: {e}");
    let mut workbook = Workbook::new();
    let worksheet = workbook.add_worksheet();
    worksheet.set_name("FSMA 204").map_err(fail)?;
    let bold = Format::new().set_bold();
    for (c, header) in COLUMNS.iter().enumerate() {
        worksheet
            .write_string_with_format(0, c as u16, *header, &bold)
            .map_err(fail)?;
        worksheet.set_column_width(c as u16, 18).map_err(fail)?;
    }
    for (r, row) in sheet.rows.iter().enumerate() {
        for (c, cell) in row.cells().iter().enumerate() {
            // Strings, never formulas, whatever a record says.
            worksheet
                .write_string((r + 1) as u32, c as u16, cell)
                .map_err(fail)?;
        }
    }
    worksheet
        .autofilter(0, 0, sheet.rows.len() as u32, (COLUMNS.len() - 1) as u16)
        .map_err(fail)?;
    worksheet.set_freeze_panes(1, 0).map_err(fail)?;
    workbook.save_to_buffer().map_err(fail)
}

/// The sheet as CSV (RFC 4180, UTF-8 with a byte-order mark so that spreadsheet programs read
/// the Chinese names right).
pub fn csv(sheet: &Sheet) -> String {
    let mut out = String::from("\u{feff}");
    let line = |cells: &mut dyn Iterator<Item = String>| {
        cells
            .map(|cell| csv_cell(&cell))
            .collect::<Vec<_>>()
            .join(",")
    };
    out.push_str(&line(&mut COLUMNS.iter().map(|c| (*c).to_owned())));
    out.push_str("\r\n");
    for row in &sheet.rows {
        out.push_str(&line(&mut row.cells().into_iter()));
        out.push_str("\r\n");
    }
    out
}

/// A CSV cell: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or `@`
/// is prefixed with `'` so no spreadsheet runs it as a formula.
fn csv_cell(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '@'])
        || (cell.starts_with('-') && cell.parse::<f64>().is_err())
    {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}
