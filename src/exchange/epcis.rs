//! EPCIS 2.0 import: a document checked against the official JSON schema, then each event mapped
//! to a truetrace record of the importing organization, or refused with the reason when
//! truetrace cannot express it. Mapping is pure over a `Lookup` (lot heads, organizations by
//! identifier); the server (`capture`) and `truetrace epcis import` give it their own.
//!
//! What maps (the reverse of `trace::epcis`, docs/standards.md):
//! - ObjectEvent and TransformationEvent on lots: `quantityList`, `inputQuantityList`,
//!   `outputQuantityList` entries whose `epcClass` is a lot (Digital Link `/01/{gtin}/10/{lot}` or
//!   `urn:epc:class:lgtin:`); a quantity without `uom` counts pieces (`H87`).
//! - The event: `tt:event` when the document uses truetrace's namespace; otherwise
//!   TransformationEvent is `transform` (`pack` with bizStep packing), ObjectEvent ADD `harvest`,
//!   DELETE `dispose`, OBSERVE by bizStep: shipping `ship`, receiving `receive`, holding `cool`,
//!   storing `store`, retail_selling `sell`, destroying `dispose`, sensor_reporting and other
//!   `note`.
//! - eventTime in its eventTimeZoneOffset; readPoint (else bizLocation) as a GLN, named by the
//!   actor's location with that GLN; a ship's `to` from its destination (owning party, else
//!   possessing party, else location), which must name an organization here; a Temperature
//!   sensor report as `temperature_c`; the first business transaction as the reference document;
//!   `cbvmda:harvestStartDate` as `harvest_date` (and a later `harvestEndDate` as
//!   `harvest_end_date`); every `tt:` term as the key data element of the
//!   same name; the eventID as `epcis_event_id` (a `tt:epcis_event_id` a truetrace export carries
//!   keeps the first importer's).
//! - An event the organization has recorded before (the same `epcis_event_id`), or met earlier in
//!   the same document, is not mapped again: it answers the record already stored.
//!
//! Refused, naming the event: other event types, error declarations (a record is never changed:
//! append a note), serialised items (`epcList` and the like: truetrace records lots), classes
//! that are not lots, business steps without a truetrace event, ships to an unknown party, lots
//! that do not exist here.

use crate::domain::epcis::{
    EVENT_ID_KDE, NAMESPACE, NOTE_STEPS, cbv_term, gln_of, lot_of_class, transaction_number,
};
use crate::domain::{EventType, LotKey, OrgId, Quantity, RecordId};
use crate::ledger::record::{Location, LotRefJson, NewLotJson, RECORD_TYPE, RecordJson};
use chrono::{DateTime, FixedOffset, Timelike};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The most events one document may hold (as a batch of envelopes).
pub const MAX_EVENTS: usize = crate::ledger::ingest::MAX_BATCH_ENVELOPES;

/// The official schema files, as published (schemas/epcis/README.md).
const SCHEMA_FILES: [&str; 15] = [
    include_str!("../../schemas/epcis/EPCIS-JSON-Schema-root.json"),
    include_str!("../../schemas/epcis/EPCIS-Event-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/AggregationEvent-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/AssociationEvent-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/ObjectEvent-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/TransactionEvent-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/TransformationEvent-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/bizStep-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/bizTransaction-type-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/component-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/definitions-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/disposition-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/error-reason-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/event-definitions-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/measurement-type-JSON-Schema.json"),
];
const MORE_SCHEMA_FILES: [&str; 3] = [
    DOCUMENT_SCHEMA,
    include_str!("../../schemas/epcis/schemas/sensor-alert-type-JSON-Schema.json"),
    include_str!("../../schemas/epcis/schemas/source-dest-type-JSON-Schema.json"),
];
const DOCUMENT_SCHEMA: &str = include_str!("../../schemas/epcis/EPCIS-Document-JSON-Schema.json");

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let parse = |text: &str| {
                serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("a built-in EPCIS schema is not JSON: {e}"))
            };
            let mut registry = jsonschema::Registry::new();
            for text in SCHEMA_FILES.iter().chain(&MORE_SCHEMA_FILES) {
                let schema = parse(text)?;
                let id = schema["$id"]
                    .as_str()
                    .ok_or("a built-in EPCIS schema has no $id")?
                    .to_owned();
                registry = registry
                    .add(id, schema)
                    .map_err(|e| format!("a built-in EPCIS schema: {e}"))?;
            }
            let registry = registry
                .prepare()
                .map_err(|e| format!("the built-in EPCIS schemas: {e}"))?;
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .with_registry(&registry)
                .build(&parse(DOCUMENT_SCHEMA)?)
                .map_err(|e| format!("the built-in EPCIS document schema: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Checks a document against the official EPCIS 2.0 JSON schema. The error is the schema's
/// complaint (the first few, each at its place in the document) for a 400; the outer error is a
/// schema that cannot be built (never, with the files built in).
pub fn check_schema(document: &Value) -> Result<Result<(), String>, String> {
    let validator = validator()?;
    if validator.is_valid(document) {
        return Ok(Ok(()));
    }
    // The deepest complaints say what is wrong; those at the top only that something below is.
    let evaluation = validator.evaluate(document);
    let mut found: Vec<(String, String)> = evaluation
        .iter_errors()
        .map(|entry| {
            let mut message = entry.error.to_string();
            message.truncate(300);
            (entry.instance_location.to_string(), message)
        })
        .collect();
    found.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
    found.dedup();
    let mut complaints: Vec<String> = found
        .into_iter()
        .take(3)
        .map(|(at, message)| format!("at {}: {message}", if at.is_empty() { "/" } else { &at }))
        .collect();
    if complaints.is_empty() {
        complaints.push("it is not valid".into());
    }
    Ok(Err(format!(
        "the document does not meet the EPCIS 2.0 JSON schema: {}",
        complaints.join("; ")
    )))
}

/// What mapping needs to know of the ledger here.
pub trait Lookup {
    /// The lot's current head, if the lot exists.
    fn head(&mut self, key: &LotKey) -> Result<Option<RecordId>, String>;
    /// The organization a party or location identifier names: `urn:uuid:{id}`, or a GLN (Digital
    /// Link 414/417, `urn:epc:id:sgln:`/`pgln:`) of an organization or of one of its locations.
    fn org(&mut self, uri: &str) -> Result<Option<OrgId>, String>;
    /// The name of the organization's location with this GLN.
    fn location_name(&mut self, org: OrgId, gln: &str) -> Result<Option<String>, String>;
    /// The record `actor` already has of the EPCIS event `event_id` (its `kde.epcis_event_id`).
    fn recorded(&mut self, actor: OrgId, event_id: &str) -> Result<Option<Recorded>, String>;
}

/// A record stored before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: RecordId,
    pub log_index: i64,
}

/// One event's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// The record to sign: its payload bytes (once `signed`, its envelope's).
    Record(Vec<u8>),
    /// The organization recorded this event before, as this record: nothing to sign or send.
    Recorded(Recorded),
    /// Why the event cannot be expressed, naming it (`event 2 (<eventID>): ...`).
    Refused(String),
}

impl Mapped {
    /// The outcome with its record signed by `key`: the envelope's JSON bytes in place of the
    /// payload, as the record endpoints take them.
    pub fn signed(self, key: &ed25519_dalek::SigningKey) -> Result<Self, String> {
        Ok(match self {
            Self::Record(payload) => Self::Record(
                serde_json::to_vec(&crate::ledger::envelope::sign(key, &payload).to_json())
                    .map_err(|e| format!("cannot write an envelope: {e}"))?,
            ),
            other => other,
        })
    }
}

/// The events of a schema-valid document, each mapped to a record of `actor` in order: a later
/// event on a lot names the record an earlier one maps to as its `prev`. The outer error is the
/// document's shape (400) or a lookup that failed.
pub fn map_document(
    document: &Value,
    actor: OrgId,
    lookup: &mut impl Lookup,
) -> Result<Vec<Mapped>, MapError> {
    let events = document["epcisBody"]["eventList"]
        .as_array()
        .ok_or_else(|| MapError::Document("the document has no epcisBody.eventList".into()))?;
    if events.len() > MAX_EVENTS {
        return Err(MapError::Document(format!(
            "the document has {} events; at most {MAX_EVENTS} are imported at once",
            events.len()
        )));
    }
    let prefixes = namespace_prefixes(document);
    let mut heads: HashMap<LotKey, RecordId> = HashMap::new();
    let mut mapped: Vec<Mapped> = Vec::with_capacity(events.len());
    // Each event id met so far, with the index of its first event.
    let mut met: HashMap<String, usize> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        let name = format!(
            "event {i} ({})",
            event["eventID"].as_str().unwrap_or("no eventID")
        );
        let event_id = event_id(event, &prefixes);
        if let Some(id) = &event_id {
            // The same record again signs to the same envelope, which the ledger answers as
            // already stored; the heads stay where the first left them.
            if let Some(first) = met.get(id) {
                mapped.push(match &mapped[*first] {
                    Mapped::Refused(_) => Mapped::Refused(format!(
                        "{name}: the same event as event {first}, which cannot be expressed"
                    )),
                    same => same.clone(),
                });
                continue;
            }
            met.insert(id.clone(), i);
            if let Some(recorded) = lookup.recorded(actor, id).map_err(MapError::Lookup)? {
                mapped.push(Mapped::Recorded(recorded));
                continue;
            }
        }
        let outcome = match map_event(event, actor, &prefixes, &mut heads, lookup) {
            Ok(record) => {
                let payload = serde_json::to_vec(&record)
                    .map_err(|e| MapError::Lookup(format!("cannot write a record: {e}")))?;
                let id = RecordId::of_payload(&payload);
                for lot in &record.lots {
                    set_head(&mut heads, &lot.gtin, &lot.lot, id);
                }
                for lot in &record.new_lots {
                    set_head(&mut heads, &lot.gtin, &lot.lot, id);
                }
                Mapped::Record(payload)
            }
            Err(Refusal::Lookup(e)) => return Err(MapError::Lookup(e)),
            Err(Refusal::Inexpressible(reason)) => Mapped::Refused(format!("{name}: {reason}")),
        };
        mapped.push(outcome);
    }
    Ok(mapped)
}

/// The EPCIS event an event is, as its record names it in `kde.epcis_event_id`: the
/// `tt:epcis_event_id` a truetrace export carries (the event where it was first captured; earlier
/// exports put it in the ILMD of an event that makes lots), else its `eventID`.
fn event_id(event: &Value, prefixes: &[String]) -> Option<String> {
    let carried = |object: Option<&Map<String, Value>>| {
        object.and_then(|o| {
            own_terms(o, prefixes)
                .get(EVENT_ID_KDE)
                .and_then(|v| text(v))
        })
    };
    carried(event.as_object())
        .or_else(|| carried(event["ilmd"].as_object()))
        .or_else(|| event["eventID"].as_str().map(str::to_owned))
}

/// Why a document could not be mapped at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// Its shape (400).
    Document(String),
    /// A lookup failed (the database, the server).
    Lookup(String),
}

enum Refusal {
    Inexpressible(String),
    Lookup(String),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Self::Inexpressible(reason)
    }
}

fn set_head(heads: &mut HashMap<LotKey, RecordId>, gtin: &str, lot: &str, id: RecordId) {
    if let (Ok(gtin), Ok(lot)) = (
        crate::domain::Gtin::parse(gtin),
        crate::domain::LotCode::parse(lot),
    ) {
        heads.insert(LotKey { gtin, lot }, id);
    }
}

/// The prefixes the document's context binds to truetrace's namespace.
fn namespace_prefixes(document: &Value) -> Vec<String> {
    let mut prefixes = Vec::new();
    let contexts = match &document["@context"] {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for context in contexts {
        if let Value::Object(map) = context {
            for (prefix, iri) in map {
                if iri.as_str() == Some(NAMESPACE) {
                    prefixes.push(prefix.clone());
                }
            }
        }
    }
    prefixes
}

/// The members of `object` in truetrace's namespace, by their local name.
fn own_terms<'a>(
    object: &'a Map<String, Value>,
    prefixes: &[String],
) -> BTreeMap<String, &'a Value> {
    object
        .iter()
        .filter_map(|(key, value)| {
            let local = key.strip_prefix(NAMESPACE).or_else(|| {
                prefixes
                    .iter()
                    .find_map(|p| key.strip_prefix(p.as_str())?.strip_prefix(':'))
            })?;
            Some((local.to_owned(), value))
        })
        .collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number as a decimal string: `1200`, `3.4`.
fn decimal(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let mut s = format!("{value:.6}");
        while s.ends_with('0') {
            s.pop();
        }
        s.trim_end_matches('.').to_owned()
    }
}

/// A lot and the quantity an EPCIS quantity element states.
fn quantity_element(
    element: &Value,
    list: &str,
    j: usize,
) -> Result<(LotKey, Option<Quantity>), String> {
    let class = element["epcClass"].as_str().unwrap_or_default();
    let key = lot_of_class(class).ok_or_else(|| {
        format!(
            "{list}[{j}] names {class:?}, which is not a lot (a GTIN with a lot number): truetrace records lots"
        )
    })?;
    let quantity = match element["quantity"].as_f64() {
        Some(amount) => {
            let unit = element["uom"].as_str().unwrap_or("H87");
            Some(Quantity::parse(&decimal(amount), unit).map_err(|e| format!("{list}[{j}]: {e}"))?)
        }
        None => None,
    };
    Ok((key, quantity))
}

fn quantities(event: &Value, list: &str) -> Result<Vec<(LotKey, Option<Quantity>)>, String> {
    event[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(j, e)| quantity_element(e, list, j))
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}

/// The truetrace event an EPCIS event is.
fn event_type(
    event: &Value,
    kind: &str,
    own: &BTreeMap<String, &Value>,
) -> Result<EventType, String> {
    if let Some(named) = own.get("event").and_then(|v| v.as_str()) {
        return named.parse();
    }
    let step = event["bizStep"].as_str().map(|s| cbv_term(s, "BizStep"));
    let action = event["action"].as_str().unwrap_or_default();
    Ok(match (kind, action, step) {
        ("TransformationEvent", _, Some("packing")) => EventType::Pack,
        ("TransformationEvent", _, _) => EventType::Transform,
        (_, "ADD", None | Some("commissioning" | "creating_class_instance")) => EventType::Harvest,
        (_, "ADD", Some(step)) => {
            return Err(format!(
                "an ADD with bizStep {step:?}: truetrace creates lots without inputs only by a harvest (commissioning)"
            ));
        }
        (_, "DELETE", _) => EventType::Dispose,
        (_, _, Some("shipping")) => EventType::Ship,
        (_, _, Some("receiving")) => EventType::Receive,
        (_, _, Some("holding")) => EventType::Cool,
        (_, _, Some("storing")) => EventType::Store,
        (_, _, Some("retail_selling")) => EventType::Sell,
        (_, _, Some("destroying")) => EventType::Dispose,
        (_, _, None) => EventType::Note,
        (_, _, Some(step)) if NOTE_STEPS.contains(&step) => EventType::Note,
        (_, _, Some(step)) => {
            return Err(format!(
                "bizStep {step:?} has no truetrace event (shipping, receiving, holding, storing, \
                 retail_selling, destroying, or an observation such as inspecting or \
                 sensor_reporting; commissioning for a harvest, packing for a pack)"
            ));
        }
    })
}

/// The first Temperature report in Celsius (Fahrenheit converted).
fn temperature(event: &Value) -> Option<String> {
    for element in event["sensorElementList"].as_array()? {
        for report in element["sensorReport"].as_array().into_iter().flatten() {
            let kind = report["type"].as_str().unwrap_or_default();
            let kind = kind
                .strip_prefix("gs1:")
                .or_else(|| kind.strip_prefix("https://gs1.org/voc/"))
                .unwrap_or(kind);
            if kind != "Temperature" && kind != "MT-Temperature" {
                continue;
            }
            let value = report["value"].as_f64().or(report["meanValue"].as_f64())?;
            let celsius = match report["uom"].as_str() {
                Some("CEL") | None => value,
                Some("FAH") => (value - 32.0) * 5.0 / 9.0,
                Some("KEL") => value - 273.15,
                Some(_) => continue,
            };
            return Some(decimal((celsius * 100.0).round() / 100.0));
        }
    }
    None
}

fn map_event(
    event: &Value,
    actor: OrgId,
    prefixes: &[String],
    heads: &mut HashMap<LotKey, RecordId>,
    lookup: &mut impl Lookup,
) -> Result<RecordJson, Refusal> {
    let empty = Map::new();
    let object = event.as_object().unwrap_or(&empty);
    let kind = event["type"].as_str().unwrap_or_default();
    if kind != "ObjectEvent" && kind != "TransformationEvent" {
        return Err(format!(
            "{kind}s are not expressible: truetrace records events on lots (ObjectEvent, TransformationEvent)"
        )
        .into());
    }
    if object.contains_key("errorDeclaration") {
        return Err("an error declaration is not expressible: a truetrace record is never changed; append a note instead"
            .to_owned()
            .into());
    }
    for list in ["epcList", "inputEPCList", "outputEPCList"] {
        if event[list].as_array().is_some_and(|l| !l.is_empty()) {
            return Err(format!(
                "{list} names serialised items: truetrace records lots (quantityList with a GTIN and lot)"
            )
            .into());
        }
    }
    let own = own_terms(object, prefixes);
    let event_type = event_type(event, kind, &own)?;
    let (inputs, outputs) = if kind == "TransformationEvent" {
        (
            quantities(event, "inputQuantityList")?,
            quantities(event, "outputQuantityList")?,
        )
    } else if event_type == EventType::Harvest {
        (Vec::new(), quantities(event, "quantityList")?)
    } else {
        (quantities(event, "quantityList")?, Vec::new())
    };
    if inputs.is_empty() && outputs.is_empty() {
        return Err("it names no lot (quantityList with a GTIN and lot)"
            .to_owned()
            .into());
    }
    let mut lots = Vec::with_capacity(inputs.len());
    for (key, quantity) in inputs {
        let head = match heads.get(&key) {
            Some(head) => Some(*head),
            None => lookup.head(&key).map_err(Refusal::Lookup)?,
        };
        let head = head.ok_or_else(|| format!("lot {key} does not exist here"))?;
        lots.push(LotRefJson {
            gtin: key.gtin.to_string(),
            lot: key.lot.to_string(),
            prev: head.to_hex(),
            quantity,
        });
    }
    let new_lots = outputs
        .into_iter()
        .map(|(key, quantity)| NewLotJson {
            gtin: key.gtin.to_string(),
            lot: key.lot.to_string(),
            quantity,
        })
        .collect();
    let time = event_time(event)?;
    let location = location(event, actor, &own, lookup)?;
    let to = if event_type == EventType::Ship {
        Some(destination(event, &own, lookup)?)
    } else {
        None
    };
    let mut kde = BTreeMap::new();
    for (key, value) in &own {
        if matches!(
            key.as_str(),
            "record" | "event" | "actor" | "to" | "location" | "latitude" | "longitude"
        ) {
            continue;
        }
        if let Some(value) = text(value) {
            kde.insert(key.clone(), value);
        }
    }
    if let Some(ilmd) = event["ilmd"].as_object() {
        let day = |term: &str| -> Option<String> {
            Some(ilmd.get(term)?.as_str()?.chars().take(10).collect())
        };
        if let Some(start) = day("cbvmda:harvestStartDate") {
            // A range (a fishing trip's days) keeps its last day too.
            if let Some(end) = day("cbvmda:harvestEndDate").filter(|end| *end != start) {
                kde.insert("harvest_end_date".into(), end);
            }
            kde.insert("harvest_date".into(), start);
        }
        for (key, value) in own_terms(ilmd, prefixes) {
            if let Some(value) = text(value) {
                kde.insert(key, value);
            }
        }
    }
    if let Some(celsius) = temperature(event) {
        kde.insert("temperature_c".into(), celsius);
    }
    if let Some(first) = event["bizTransactionList"]
        .as_array()
        .and_then(|l| l.first())
    {
        let uri = first["bizTransaction"].as_str().unwrap_or_default();
        kde.insert(
            "reference_document_number".into(),
            transaction_number(uri).unwrap_or_else(|| uri.to_owned()),
        );
        if let Some(kind) = first["type"].as_str() {
            kde.insert(
                "reference_document_type".into(),
                cbv_term(kind, "BTT").to_owned(),
            );
        }
    }
    if event_type == EventType::Note
        && let Some(step) = event["bizStep"].as_str().map(|s| cbv_term(s, "BizStep"))
        && step
            != crate::domain::epcis::biz_step(EventType::Note, kde.contains_key("temperature_c")).0
        && !own.contains_key("biz_step")
    {
        kde.insert("biz_step".into(), step.to_owned());
    }
    if let Some(id) = event_id(event, prefixes) {
        kde.insert(EVENT_ID_KDE.into(), id);
    }
    Ok(RecordJson {
        record_type: RECORD_TYPE.into(),
        event: event_type.as_str().into(),
        actor: actor.to_string(),
        time,
        location,
        lots,
        new_lots,
        to: to.map(|o| o.to_string()),
        kde,
    })
}

/// eventTime written in its eventTimeZoneOffset, to the microsecond.
fn event_time(event: &Value) -> Result<String, String> {
    let at = event["eventTime"].as_str().unwrap_or_default();
    let time = DateTime::parse_from_rfc3339(at)
        .map_err(|_| format!("eventTime {at:?} is not an RFC 3339 time"))?;
    let offset = event["eventTimeZoneOffset"].as_str().unwrap_or("+00:00");
    let zone = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{offset}"))
        .map(|t| *t.offset())
        .map_err(|_| format!("eventTimeZoneOffset {offset:?} is not an offset such as +08:00"))?;
    let local: DateTime<FixedOffset> = time.with_timezone(&zone);
    let micros = local
        .with_nanosecond(local.nanosecond() / 1000 * 1000)
        .unwrap_or(local);
    Ok(micros.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
}

fn location(
    event: &Value,
    actor: OrgId,
    own: &BTreeMap<String, &Value>,
    lookup: &mut impl Lookup,
) -> Result<Option<Location>, Refusal> {
    let id = event["readPoint"]["id"]
        .as_str()
        .or(event["bizLocation"]["id"].as_str());
    let gln = id.and_then(gln_of);
    let name = match (own.get("location").and_then(|v| v.as_str()), &gln) {
        (Some(name), _) => Some(name.to_owned()),
        (None, Some(gln)) => lookup
            .location_name(actor, gln.as_str())
            .map_err(Refusal::Lookup)?,
        (None, None) => None,
    };
    let lat = own.get("latitude").and_then(|v| v.as_f64());
    let lon = own.get("longitude").and_then(|v| v.as_f64());
    if gln.is_none() && name.is_none() {
        return Ok(None);
    }
    Ok(Some(Location {
        name,
        gln: gln.map(|g| g.to_string()),
        lat: lat.filter(|_| lon.is_some()),
        lon: lon.filter(|_| lat.is_some()),
    }))
}

/// The organization a ship goes to: `tt:to`, else its destination list's owning party,
/// possessing party or location, in that order.
fn destination(
    event: &Value,
    own: &BTreeMap<String, &Value>,
    lookup: &mut impl Lookup,
) -> Result<OrgId, Refusal> {
    let mut candidates: Vec<String> = own
        .get("to")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .into_iter()
        .collect();
    for kind in ["owning_party", "possessing_party", "location"] {
        for entry in event["destinationList"].as_array().into_iter().flatten() {
            if entry["type"].as_str().map(|t| cbv_term(t, "SDT")) == Some(kind)
                && let Some(id) = entry["destination"].as_str()
            {
                candidates.push(id.to_owned());
            }
        }
    }
    for candidate in &candidates {
        if let Some(org) = lookup.org(candidate).map_err(Refusal::Lookup)? {
            return Ok(org);
        }
    }
    Err(format!(
        "a shipping event needs a destination that names an organization here (a GLN of it or of one of its locations); {}",
        if candidates.is_empty() {
            "it has no destinationList".to_owned()
        } else {
            format!("none of {} does", candidates.join(", "))
        }
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Here {
        heads: HashMap<LotKey, RecordId>,
        orgs: HashMap<String, OrgId>,
        recorded: HashMap<(OrgId, String), Recorded>,
    }

    impl Lookup for Here {
        fn head(&mut self, key: &LotKey) -> Result<Option<RecordId>, String> {
            Ok(self.heads.get(key).copied())
        }
        fn org(&mut self, uri: &str) -> Result<Option<OrgId>, String> {
            let gln = gln_of(uri).map(|g| g.to_string()).unwrap_or(uri.to_owned());
            Ok(self.orgs.get(&gln).copied())
        }
        fn location_name(&mut self, _: OrgId, gln: &str) -> Result<Option<String>, String> {
            Ok((gln == "4712345000077").then(|| "Block B".to_owned()))
        }
        fn recorded(&mut self, actor: OrgId, event_id: &str) -> Result<Option<Recorded>, String> {
            Ok(self.recorded.get(&(actor, event_id.to_owned())).cloned())
        }
    }

    fn payload(mapped: &Mapped) -> &[u8] {
        match mapped {
            Mapped::Record(payload) => payload,
            other => panic!("not a record: {other:?}"),
        }
    }

    fn refusal(mapped: &Mapped) -> &str {
        match mapped {
            Mapped::Refused(reason) => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    fn lot(code: &str) -> LotKey {
        lot_of_class(&format!("https://id.gs1.org/01/04712345000046/10/{code}")).unwrap()
    }

    fn document(events: Value) -> Value {
        json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"tt": NAMESPACE}],
               "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-20T00:00:00Z",
               "epcisBody": {"eventList": events}})
    }

    #[test]
    fn events_map_to_records_and_chain_within_the_document() {
        let actor = OrgId::new();
        let store = OrgId::new();
        let mut here = Here {
            heads: HashMap::from([(lot("A"), RecordId::of_payload(b"head"))]),
            orgs: HashMap::from([("4712345000053".to_owned(), store)]),
            recorded: HashMap::new(),
        };
        let doc = document(json!([
            {"type": "ObjectEvent", "eventID": "urn:uuid:1", "action": "OBSERVE", "bizStep": "shipping",
             "eventTime": "2026-11-20T01:00:00.123456789Z", "eventTimeZoneOffset": "+08:00",
             "readPoint": {"id": "urn:epc:id:sgln:4712345.00007.0"},
             "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A", "quantity": 10, "uom": "KGM"}],
             "destinationList": [{"type": "owning_party", "destination": "https://id.gs1.org/417/4712345000053"}],
             "bizTransactionList": [{"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:4712345000077:BOL-7"}],
             "tt:vehicle": "TPE-1"},
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "sensor_reporting",
             "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
             "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A"}],
             "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 39.2, "uom": "FAH"}]}]},
            {"type": "AggregationEvent", "eventID": "urn:uuid:3", "action": "ADD",
             "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00"},
        ]));
        let mapped = map_document(&doc, actor, &mut here).unwrap();
        let ship: RecordJson = serde_json::from_slice(payload(&mapped[0])).unwrap();
        assert_eq!(ship.event, "ship");
        assert_eq!(ship.time, "2026-11-20T09:00:00.123456+08:00");
        assert_eq!(ship.to, Some(store.to_string()));
        let place = ship.location.unwrap();
        assert_eq!(place.gln.as_deref(), Some("4712345000077"));
        assert_eq!(place.name.as_deref(), Some("Block B"));
        assert_eq!(ship.lots[0].quantity.as_ref().unwrap().amount, "10");
        assert_eq!(ship.kde["reference_document_number"], "BOL-7");
        assert_eq!(ship.kde["reference_document_type"], "bol");
        assert_eq!(ship.kde["vehicle"], "TPE-1");
        assert_eq!(ship.kde["epcis_event_id"], "urn:uuid:1");
        let note: RecordJson = serde_json::from_slice(payload(&mapped[1])).unwrap();
        assert_eq!(note.event, "note");
        assert_eq!(note.kde["temperature_c"], "4");
        assert_eq!(
            note.lots[0].prev,
            RecordId::of_payload(payload(&mapped[0])).to_hex(),
            "the second event follows the first"
        );
        let refused = refusal(&mapped[2]);
        assert!(
            refused.starts_with("event 2 (urn:uuid:3): AggregationEvents are not expressible"),
            "{refused}"
        );
    }

    #[test]
    fn an_event_recorded_before_or_met_again_is_not_mapped_twice() {
        let actor = OrgId::new();
        let stored = Recorded {
            id: RecordId::of_payload(b"stored"),
            log_index: 7,
        };
        let mut here = Here {
            heads: HashMap::from([(lot("A"), RecordId::of_payload(b"head"))]),
            orgs: HashMap::new(),
            recorded: HashMap::from([((actor, "urn:uuid:old".to_owned()), stored.clone())]),
        };
        let note = |id: &str| {
            json!({"type": "ObjectEvent", "eventID": id, "action": "OBSERVE", "bizStep": "inspecting",
                   "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
                   "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A"}]})
        };
        let mut again = note("urn:uuid:new");
        again["eventTime"] = json!("2026-11-20T03:00:00Z");
        let mut bad = note("urn:uuid:bad");
        bad["bizStep"] = json!("repairing");
        let doc = document(json!([
            note("urn:uuid:old"),
            note("urn:uuid:new"),
            again,
            note("urn:uuid:next"),
            bad.clone(),
            bad
        ]));
        let mapped = map_document(&doc, actor, &mut here).unwrap();
        assert_eq!(mapped[0], Mapped::Recorded(stored), "recorded before");
        assert_eq!(
            mapped[2], mapped[1],
            "the same event again is the same record, so the same envelope once signed"
        );
        let first: RecordJson = serde_json::from_slice(payload(&mapped[1])).unwrap();
        assert_eq!(first.kde[EVENT_ID_KDE], "urn:uuid:new");
        assert_eq!(first.lots[0].prev, RecordId::of_payload(b"head").to_hex());
        let next: RecordJson = serde_json::from_slice(payload(&mapped[3])).unwrap();
        assert_eq!(
            next.lots[0].prev,
            RecordId::of_payload(payload(&mapped[1])).to_hex(),
            "neither the event recorded before nor the repeat moved the lot's head"
        );
        assert!(refusal(&mapped[4]).contains("has no truetrace event"));
        assert_eq!(
            refusal(&mapped[5]),
            "event 5 (urn:uuid:bad): the same event as event 4, which cannot be expressed"
        );
    }

    #[test]
    fn an_exported_event_keeps_the_event_id_it_was_imported_with() {
        let mut here = Here {
            heads: HashMap::new(),
            orgs: HashMap::new(),
            recorded: HashMap::new(),
        };
        let harvest = json!({"type": "ObjectEvent", "eventID": "https://a.example/api/v1/records/1",
            "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
            "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/NEW"}],
            "tt:record": "ab", "ilmd": {"tt:epcis_event_id": "urn:uuid:partner"}});
        let mut written = harvest.clone();
        written["ilmd"] = json!({});
        let mapped = map_document(
            &document(json!([harvest, written])),
            OrgId::new(),
            &mut here,
        )
        .unwrap();
        let kept: RecordJson = serde_json::from_slice(payload(&mapped[0])).unwrap();
        assert_eq!(kept.kde[EVENT_ID_KDE], "urn:uuid:partner");
        let own: RecordJson = serde_json::from_slice(payload(&mapped[1])).unwrap();
        assert_eq!(
            own.kde[EVENT_ID_KDE], "https://a.example/api/v1/records/1",
            "an event truetrace wrote is known by its eventID too"
        );
    }

    #[test]
    fn a_harvest_date_range_keeps_its_last_day() {
        let mut here = Here {
            heads: HashMap::new(),
            orgs: HashMap::new(),
            recorded: HashMap::new(),
        };
        let landed = |end: &str| {
            json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
                "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/F"}],
                "ilmd": {"cbvmda:harvestStartDate": "2026-11-01", "cbvmda:harvestEndDate": end}})
        };
        let mapped = map_document(
            &document(json!([landed("2026-11-04"), landed("2026-11-01")])),
            OrgId::new(),
            &mut here,
        )
        .unwrap();
        let range: RecordJson = serde_json::from_slice(payload(&mapped[0])).unwrap();
        assert_eq!(
            (
                range.kde["harvest_date"].as_str(),
                range.kde.get("harvest_end_date").map(String::as_str)
            ),
            ("2026-11-01", Some("2026-11-04"))
        );
        let day: RecordJson = serde_json::from_slice(payload(&mapped[1])).unwrap();
        assert!(!day.kde.contains_key("harvest_end_date"), "one day");
    }

    #[test]
    fn what_truetrace_cannot_say_is_refused_with_the_reason() {
        let mut here = Here {
            heads: HashMap::new(),
            orgs: HashMap::new(),
            recorded: HashMap::new(),
        };
        let base = json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
            "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A"}]});
        let mut with = |change: &dyn Fn(&mut Value)| {
            let mut event = base.clone();
            change(&mut event);
            let mapped = map_document(&document(json!([event])), OrgId::new(), &mut here).unwrap();
            refusal(&mapped[0]).to_owned()
        };
        for (change, reason) in [
            (
                &(|e: &mut Value| e["epcList"] = json!(["urn:epc:id:sgtin:4012345.011122.25"]))
                    as &dyn Fn(&mut Value),
                "serialised items",
            ),
            (
                &|e: &mut Value| {
                    e["quantityList"][0]["epcClass"] = json!("urn:epc:idpat:sgtin:4012345.066666.*")
                },
                "not a lot",
            ),
            (
                &|e: &mut Value| {
                    e["errorDeclaration"] = json!({"declarationTime": "2026-11-20T02:00:00Z"})
                },
                "error declaration",
            ),
            (
                &|e: &mut Value| e["bizStep"] = json!("repairing"),
                "has no truetrace event",
            ),
            (&|_: &mut Value| {}, "does not exist here"),
            (
                &|e: &mut Value| e["bizStep"] = json!("shipping"),
                "does not exist here",
            ),
            (
                &|e: &mut Value| e["quantityList"] = json!([]),
                "names no lot",
            ),
        ] {
            let refused = with(change);
            assert!(refused.contains(reason), "{refused}");
            assert!(refused.starts_with("event 0 (no eventID): "), "{refused}");
        }
    }

    #[test]
    fn the_official_schema_is_built_in_and_names_what_is_wrong() {
        let good = document(json!([{"type": "ObjectEvent", "action": "OBSERVE",
            "eventTime": "2026-11-20T02:00:00Z", "eventTimeZoneOffset": "+08:00",
            "quantityList": [{"epcClass": "https://id.gs1.org/01/04712345000046/10/A"}]}]));
        assert_eq!(check_schema(&good), Ok(Ok(())));
        let mut bad = good.clone();
        bad["epcisBody"]["eventList"][0]["action"] = json!("TELEPORT");
        let complaint = check_schema(&bad).unwrap().unwrap_err();
        assert!(complaint.contains("/epcisBody/eventList/0"), "{complaint}");
        let mut no_time = good;
        no_time["epcisBody"]["eventList"][0]
            .as_object_mut()
            .unwrap()
            .remove("eventTime");
        assert!(check_schema(&no_time).unwrap().is_err());
    }

    #[test]
    fn numbers_are_written_as_decimals() {
        assert_eq!(decimal(1200.0), "1200");
        assert_eq!(decimal(3.4), "3.4");
        assert_eq!(decimal(-0.5), "-0.5");
        assert_eq!(decimal(0.1 + 0.2), "0.3");
    }
}
