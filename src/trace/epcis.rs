//! EPCIS 2.0 JSON-LD export of records (GS1 EPCIS/CBV 2.0), in standard terms wherever one
//! exists. Each record becomes one event: an ObjectEvent, or a TransformationEvent when it turns
//! lots into new lots (transform, pack).
//!
//! - Lots are GS1 Digital Link class URIs (`https://id.gs1.org/01/{gtin}/10/{lot}`) with the
//!   quantity stated, or on a movement the lot's quantity when made.
//! - Places are `https://id.gs1.org/414/{gln}` (readPoint, bizLocation, source and destination
//!   `location`) where the record or the actor's master data gives a GLN; parties are
//!   `https://id.gs1.org/417/{gln}` where the organization has a GLN, `urn:uuid:{id}` otherwise.
//! - A ship and a receive carry sourceList and destinationList: owning_party, possessing_party and
//!   location. A carrier (a transporter, see `Directory::is_transporter`) possesses, never owns.
//! - recordTime is when the ledger accepted the record; `temperature_c` is a sensorElementList
//!   report; the reference document is a bizTransactionList entry; the harvest date is
//!   `cbvmda:harvestStartDate`/`harvestEndDate` in the ILMD of the lots a harvest creates.
//! - Everything else rides in truetrace's namespace (`domain::epcis::NAMESPACE`, prefix `tt`):
//!   the record id and event, the actor, the location's name and coordinates, other key data
//!   elements.

use super::directory::Directory;
use crate::db::rows::RecordRow;
use crate::domain::epcis::{
    CONTEXT, EVENT_ID_KDE, NAMESPACE, NOTE_STEPS, PREFIX, biz_step, biz_transaction_type,
    location_uri, lot_class_uri, party_uri,
};
use crate::domain::{EventType, LotKey, OrgId, Quantity};
use crate::ledger::record::Record;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Key data elements that become standard terms (so not `tt:` extensions).
const STANDARD_KDES: [&str; 6] = [
    "biz_step",
    "temperature_c",
    "reference_document_type",
    "reference_document_number",
    "harvest_date",
    "harvest_end_date",
];

/// A record read back for the export, with when the ledger accepted it.
pub struct Stored {
    pub id: String,
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    pub record: Record,
}

impl Stored {
    /// The stored rows whose payloads are records, in the given order.
    pub fn from_rows(rows: &[RecordRow]) -> Vec<Self> {
        rows.iter()
            .filter_map(|row| {
                Some(Self {
                    id: row.id.clone(),
                    accepted_at: row.accepted_at.and_utc(),
                    record: Record::from_payload(&row.payload).ok()?,
                })
            })
            .collect()
    }
}

/// What the export remembers of each lot while it walks the records in log order: its quantity
/// when made, who owns it (its creator, then each receiver that is not a transporter) and who
/// shipped it last.
#[derive(Default)]
struct Lots {
    made: HashMap<LotKey, Quantity>,
    owner: HashMap<LotKey, OrgId>,
    shipper: HashMap<LotKey, OrgId>,
}

fn party(directory: &Directory, org: OrgId) -> String {
    directory
        .org(org)
        .and_then(|o| o.gln.as_deref())
        .map_or_else(|| format!("urn:uuid:{org}"), party_uri)
}

fn quantity_element(key: &LotKey, q: Option<&Quantity>) -> Value {
    let mut element = json!({ "epcClass": lot_class_uri(key) });
    if let Some(q) = q
        && let Ok(amount) = q.amount.parse::<f64>()
    {
        element["quantity"] = json!(amount);
        element["uom"] = json!(q.unit);
    }
    element
}

fn tt(name: &str) -> String {
    format!("{PREFIX}:{name}")
}

/// One EPCIS event for a stored record. `lots` carries what earlier records of the same export
/// said about the lots.
fn event(stored: &Stored, directory: &Directory, lots: &mut Lots, public_url: &str) -> Value {
    let record = &stored.record;
    let temperature = record
        .kde
        .get("temperature_c")
        .and_then(|t| t.parse::<f64>().ok());
    let (mut step, disposition) = biz_step(record.event, temperature.is_some());
    let noted_step = record
        .kde
        .get("biz_step")
        .and_then(|s| NOTE_STEPS.iter().find(|n| **n == s.as_str()))
        .filter(|_| record.event == EventType::Note);
    if let Some(noted) = noted_step {
        step = noted;
    }
    let movement = matches!(record.event, EventType::Ship | EventType::Receive);
    let inputs: Vec<Value> = record
        .lots
        .iter()
        .map(|l| {
            let stated = l
                .quantity
                .as_ref()
                .or_else(|| movement.then(|| lots.made.get(&l.key)).flatten());
            quantity_element(&l.key, stated)
        })
        .collect();
    let outputs: Vec<Value> = record
        .new_lots
        .iter()
        .map(|l| quantity_element(&l.key, l.quantity.as_ref()))
        .collect();
    let mut event = Map::new();
    let time = record.time;
    if !inputs.is_empty() && !outputs.is_empty() {
        event.insert("type".into(), json!("TransformationEvent"));
    } else {
        event.insert("type".into(), json!("ObjectEvent"));
    }
    event.insert(
        "eventID".into(),
        json!(format!("{public_url}/api/v1/records/{}", stored.id)),
    );
    event.insert("eventTime".into(), json!(time.to_rfc3339()));
    event.insert(
        "eventTimeZoneOffset".into(),
        json!(time.format("%:z").to_string()),
    );
    event.insert(
        "recordTime".into(),
        json!(
            stored
                .accepted_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    );
    if !inputs.is_empty() && !outputs.is_empty() {
        event.insert("inputQuantityList".into(), json!(inputs));
        event.insert("outputQuantityList".into(), json!(outputs));
    } else {
        let action = match record.event {
            _ if !outputs.is_empty() => "ADD",
            EventType::Dispose => "DELETE",
            _ => "OBSERVE",
        };
        event.insert("action".into(), json!(action));
        event.insert(
            "quantityList".into(),
            json!(if outputs.is_empty() { inputs } else { outputs }),
        );
    }
    event.insert("bizStep".into(), json!(step));
    event.insert("disposition".into(), json!(disposition));
    let place = directory.place_gln(record).map(|g| location_uri(&g));
    if let Some(place) = &place {
        event.insert("readPoint".into(), json!({ "id": place }));
        // Goods on a truck are at no business location.
        if record.event != EventType::Ship {
            event.insert("bizLocation".into(), json!({ "id": place }));
        }
    }
    if let Some(value) = record.kde.get("reference_document_number") {
        let kind = record
            .kde
            .get("reference_document_type")
            .and_then(|t| biz_transaction_type(t));
        let mut entry =
            json!({ "bizTransaction": transaction_uri(directory, record.actor, value) });
        if let Some(kind) = kind {
            entry["type"] = json!(kind);
        }
        event.insert("bizTransactionList".into(), json!([entry]));
    }
    let (sources, destinations) = movement_lists(stored, directory, lots, place.as_deref());
    if !sources.is_empty() {
        event.insert("sourceList".into(), json!(sources));
    }
    if !destinations.is_empty() {
        event.insert("destinationList".into(), json!(destinations));
    }
    if let Some(celsius) = temperature {
        event.insert(
            "sensorElementList".into(),
            json!([{
                "sensorMetadata": { "time": time.to_rfc3339() },
                "sensorReport": [{ "type": "Temperature", "value": celsius, "uom": "CEL" }],
            }]),
        );
    }
    let mut ilmd = Map::new();
    if !record.new_lots.is_empty()
        && let Some(date) = record.kde.get("harvest_date")
    {
        let end = record.kde.get("harvest_end_date").unwrap_or(date);
        ilmd.insert("cbvmda:harvestStartDate".into(), json!(date));
        ilmd.insert("cbvmda:harvestEndDate".into(), json!(end));
    }
    let mut extensions = Map::new();
    extensions.insert(tt("record"), json!(stored.id));
    extensions.insert(tt("event"), json!(record.event.as_str()));
    extensions.insert(tt("actor"), json!(format!("urn:uuid:{}", record.actor)));
    if let Some(to) = record.to {
        extensions.insert(tt("to"), json!(format!("urn:uuid:{to}")));
    }
    if let Some(location) = &record.location {
        if let Some(name) = &location.name {
            extensions.insert(tt("location"), json!(name));
        }
        if let (Some(lat), Some(lon)) = (location.lat, location.lon) {
            extensions.insert(tt("latitude"), json!(lat));
            extensions.insert(tt("longitude"), json!(lon));
        }
    }
    let kind = record.kde.get("reference_document_type");
    for (key, value) in &record.kde {
        let standard = STANDARD_KDES.contains(&key.as_str())
            && !(key == "reference_document_type"
                && kind.and_then(|k| biz_transaction_type(k)).is_none())
            && !(key == "temperature_c" && temperature.is_none())
            && !(key == "biz_step" && noted_step.is_none())
            && !((key == "harvest_date" || key == "harvest_end_date")
                && (record.new_lots.is_empty() || !record.kde.contains_key("harvest_date")));
        if standard {
            continue;
        }
        // Where EPCIS allows ILMD (the event makes lots), the lots' own data goes there; the
        // event the record is (its EPCIS eventID where it was first captured) is the event's.
        if record.new_lots.is_empty() || key == EVENT_ID_KDE {
            extensions.insert(tt(key), json!(value));
        } else {
            ilmd.insert(tt(key), json!(value));
        }
    }
    if !ilmd.is_empty() {
        event.insert("ilmd".into(), Value::Object(ilmd));
    }
    event.extend(extensions);
    remember(record, lots, directory);
    Value::Object(event)
}

/// What a URI keeps as it is: letters, digits and RFC 3986's other unreserved characters.
const URI_TEXT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The reference document as a URI: the CBV business transaction id
/// `urn:epcglobal:cbv:bt:{gln}:{number}` when the actor has a GLN, a tag URI (RFC 4151) under
/// truetrace's namespace authority otherwise.
fn transaction_uri(directory: &Directory, actor: OrgId, number: &str) -> String {
    let number: String = percent_encoding::utf8_percent_encode(number, URI_TEXT).to_string();
    match directory.org(actor).and_then(|o| o.gln.as_deref()) {
        Some(gln) => format!("urn:epcglobal:cbv:bt:{gln}:{number}"),
        None => format!("tag:truetrace.dev,2026:bt:{actor}:{number}"),
    }
}

/// sourceList and destinationList of a ship or a receive.
fn movement_lists(
    stored: &Stored,
    directory: &Directory,
    lots: &Lots,
    place: Option<&str>,
) -> (Vec<Value>, Vec<Value>) {
    let record = &stored.record;
    let first = record.lots.first().map(|l| &l.key);
    let owner = first
        .and_then(|k| lots.owner.get(k).copied())
        .unwrap_or(record.actor);
    let source = |kind: &str, id: String| json!({ "type": kind, "source": id });
    let destination = |kind: &str, id: String| json!({ "type": kind, "destination": id });
    let mut sources = Vec::new();
    let mut destinations = Vec::new();
    match (record.event, record.to) {
        (EventType::Ship, Some(to)) => {
            sources.push(source("owning_party", party(directory, owner)));
            sources.push(source("possessing_party", party(directory, record.actor)));
            if let Some(place) = place {
                sources.push(source("location", place.to_owned()));
            }
            if !directory.is_transporter(to) {
                destinations.push(destination("owning_party", party(directory, to)));
            }
            destinations.push(destination("possessing_party", party(directory, to)));
        }
        (EventType::Receive, _) => {
            sources.push(source("owning_party", party(directory, owner)));
            if let Some(shipper) = first.and_then(|k| lots.shipper.get(k)) {
                sources.push(source("possessing_party", party(directory, *shipper)));
            }
            let new_owner = if directory.is_transporter(record.actor) {
                owner
            } else {
                record.actor
            };
            destinations.push(destination("owning_party", party(directory, new_owner)));
            destinations.push(destination(
                "possessing_party",
                party(directory, record.actor),
            ));
            if let Some(place) = place {
                destinations.push(destination("location", place.to_owned()));
            }
        }
        _ => {}
    }
    (sources, destinations)
}

fn remember(record: &Record, lots: &mut Lots, directory: &Directory) {
    for new in &record.new_lots {
        if let Some(q) = &new.quantity {
            lots.made.insert(new.key.clone(), q.clone());
        }
        lots.owner.insert(new.key.clone(), record.actor);
    }
    for lot in &record.lots {
        match record.event {
            EventType::Ship => {
                lots.shipper.insert(lot.key.clone(), record.actor);
            }
            EventType::Receive if !directory.is_transporter(record.actor) => {
                lots.owner.insert(lot.key.clone(), record.actor);
            }
            _ => {}
        }
    }
}

/// The events of the given records, in order.
pub fn events(records: &[Stored], directory: &Directory, public_url: &str) -> Vec<Value> {
    let mut lots = Lots::default();
    records
        .iter()
        .map(|stored| event(stored, directory, &mut lots, public_url))
        .collect()
}

/// An EPCISDocument with the events of the given records, in order.
pub fn document(records: &[Stored], directory: &Directory, public_url: &str) -> Value {
    json!({
        "@context": [CONTEXT, { PREFIX: NAMESPACE }],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "epcisBody": { "eventList": events(records, directory, public_url) },
    })
}

/// The EPCIS document of a lot's chain, read from the database.
pub fn lot_document(
    conn: &mut crate::db::DbConn,
    gtin: &str,
    lot: &str,
    public_url: &str,
) -> diesel::QueryResult<Value> {
    let rows = crate::db::records::chain_of(conn, gtin, lot)?;
    let records = Stored::from_rows(&rows);
    let directory = Directory::load(conn, records.iter().map(|s| &s.record))?;
    Ok(document(&records, &directory, public_url))
}
