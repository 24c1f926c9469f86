//! EPCIS 2.0 JSON-LD export of a lot's records (GS1 EPCIS/CBV 2.0). Each record becomes one
//! event: an ObjectEvent, or a TransformationEvent when it turns lots into new lots (transform,
//! pack). Lots are GS1 Digital Link class URIs; organizations are `urn:uuid:` parties; the
//! record's own id and event name ride along as `tt:` extensions.

use crate::db::rows::RecordRow;
use crate::domain::digital_link::lot_uri;
use crate::domain::{EventType, LotKey};
use crate::ledger::record::Record;
use serde_json::{Value, json};

/// The GS1 resolver root used for identifiers, so they mean the same everywhere.
const ID_ROOT: &str = "https://id.gs1.org";

fn biz_step(event: EventType) -> (&'static str, &'static str) {
    match event {
        EventType::Harvest => ("commissioning", "active"),
        EventType::Cool => ("holding", "in_progress"),
        EventType::Pack => ("packing", "in_progress"),
        EventType::Transform => ("commissioning", "in_progress"),
        EventType::Ship => ("shipping", "in_transit"),
        EventType::Receive => ("receiving", "in_progress"),
        EventType::Store => ("storing", "sellable_accessible"),
        EventType::Sell => ("retail_selling", "retail_sold"),
        EventType::Dispose => ("destroying", "destroyed"),
        EventType::Note => ("other", "in_progress"),
    }
}

fn quantity(key: &LotKey, q: Option<&crate::domain::Quantity>) -> Value {
    let mut element = json!({ "epcClass": lot_uri(ID_ROOT, &key.gtin, &key.lot) });
    if let Some(q) = q
        && let Ok(amount) = q.amount.parse::<f64>()
    {
        element["quantity"] = json!(amount);
        element["uom"] = json!(q.unit);
    }
    element
}

/// One EPCIS event for a stored record; None when its payload is not a valid record.
pub fn event(row: &RecordRow, public_url: &str) -> Option<Value> {
    let record = Record::from_payload(&row.payload).ok()?;
    let (step, disposition) = biz_step(record.event);
    let inputs: Vec<Value> = record
        .lots
        .iter()
        .map(|l| quantity(&l.key, l.quantity.as_ref()))
        .collect();
    let outputs: Vec<Value> = record
        .new_lots
        .iter()
        .map(|l| quantity(&l.key, l.quantity.as_ref()))
        .collect();
    let mut event = json!({
        "eventID": format!("{public_url}/api/v1/records/{}", row.id),
        "eventTime": record.time.to_rfc3339(),
        "eventTimeZoneOffset": record.time.format("%:z").to_string(),
        "bizStep": step,
        "disposition": disposition,
        "tt:record": row.id,
        "tt:event": record.event.as_str(),
        "tt:actor": format!("urn:uuid:{}", record.actor),
    });
    if !inputs.is_empty() && !outputs.is_empty() {
        event["type"] = json!("TransformationEvent");
        event["inputQuantityList"] = json!(inputs);
        event["outputQuantityList"] = json!(outputs);
    } else {
        event["type"] = json!("ObjectEvent");
        event["action"] = json!(if outputs.is_empty() { "OBSERVE" } else { "ADD" });
        event["quantityList"] = json!(if outputs.is_empty() { inputs } else { outputs });
    }
    if let Some(gln) = record.location.as_ref().and_then(|l| l.gln.as_ref()) {
        event["readPoint"] = json!({ "id": format!("{ID_ROOT}/414/{gln}") });
    }
    let party = |org: &crate::domain::OrgId| format!("urn:uuid:{org}");
    if record.event == EventType::Ship
        && let Some(to) = &record.to
    {
        event["sourceList"] = json!([{ "type": "owning_party", "source": party(&record.actor) }]);
        event["destinationList"] = json!([{ "type": "owning_party", "destination": party(to) }]);
    }
    // Key data elements: lot master data (ILMD) where the event creates lots, which is the only
    // place EPCIS allows ILMD; extension fields on the event otherwise.
    let kde = record
        .kde
        .iter()
        .map(|(k, v)| (format!("tt:{k}"), json!(v)));
    if record.new_lots.is_empty() {
        for (key, value) in kde {
            event[key] = value;
        }
    } else if !record.kde.is_empty() {
        event["ilmd"] = Value::Object(kde.collect());
    }
    Some(event)
}

/// An EPCISDocument with the events of the given records, in order.
pub fn document(rows: &[RecordRow], public_url: &str) -> Value {
    let events: Vec<Value> = rows
        .iter()
        .filter_map(|row| event(row, public_url))
        .collect();
    json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            { "tt": format!("{public_url}/voc/") }
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "epcisBody": { "eventList": events },
    })
}
