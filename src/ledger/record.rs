//! The record payload: a JSON object describing one event on one or more lots.
//!
//! Parsing has two stages so that every client sees the errors in the order DESIGN.md fixes:
//! JSON syntax first (400 `malformed`), then fields, limits and event shapes (422 `invalid_record`),
//! which are only reported after the signature and actor checks.

use crate::domain::{EventType, Gln, Gtin, LotCode, LotKey, OrgId, Quantity, RecordId, text};
use crate::ledger::strict_json;
use chrono::{DateTime, FixedOffset, Timelike};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

pub const RECORD_TYPE: &str = "truetrace.record/v1";
/// At most this many lots (`lots` plus `new_lots`) in one record.
pub const MAX_LOTS: usize = 1000;
/// At most this many bytes in any string of a record (keys included).
pub const MAX_STRING_BYTES: usize = 1024;
/// At most this many digits in the fraction of a second of `time`.
pub const MAX_FRACTION_DIGITS: usize = 6;

/// A record whose every field is valid and whose shape fits its event.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub event: EventType,
    pub actor: OrgId,
    pub time: DateTime<FixedOffset>,
    pub location: Option<Location>,
    pub lots: Vec<LotRef>,
    pub new_lots: Vec<NewLot>,
    pub to: Option<OrgId>,
    pub kde: BTreeMap<String, String>,
}

/// An existing lot the event acts on, with the head the signer saw.
#[derive(Debug, Clone, PartialEq)]
pub struct LotRef {
    pub key: LotKey,
    pub prev: RecordId,
    pub quantity: Option<Quantity>,
}

/// A lot the event creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLot {
    pub key: LotKey,
    pub quantity: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gln: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// The JSON shape of a record, as the signer writes it. Also used to build records (CLI, demo).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordJson {
    #[serde(rename = "type")]
    pub record_type: String,
    pub event: String,
    pub actor: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<LotRefJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_lots: Vec<NewLotJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kde: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotRefJson {
    pub gtin: String,
    pub lot: String,
    pub prev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLotJson {
    pub gtin: String,
    pub lot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// Stage one: the payload must be UTF-8 JSON holding an object, with no member name twice in one
/// object and nesting bounded (`strict_json`). Errors are `malformed`.
pub fn parse_json(payload: &[u8]) -> Result<Value, String> {
    let value =
        strict_json::parse(payload).map_err(|e| format!("the payload is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the payload must be a JSON object".into());
    }
    Ok(value)
}

/// Why a payload is not a valid record: its `time` (`invalid_time`) or anything else
/// (`invalid_record`). The message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Field(String),
    Time(String),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field(m) | Self::Time(m) => f.write_str(m),
        }
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Self::Field(message)
    }
}

/// The actor a payload claims, if it names a well-formed one; used for the key-to-actor check,
/// which comes before field validation.
pub fn claimed_actor(value: &Value) -> Option<OrgId> {
    value
        .get("actor")?
        .as_str()
        .and_then(|s| OrgId::parse(s).ok())
}

impl Record {
    /// A stored payload read back (pages, exports, the audit): both stages, one message.
    pub fn from_payload(payload: &[u8]) -> Result<Self, String> {
        Self::from_value(parse_json(payload)?).map_err(|e| e.to_string())
    }

    /// Stage two: limits, fields and the event's shape. Errors name the field.
    pub fn from_value(value: Value) -> Result<Self, Invalid> {
        check_strings(&value, &String::new)?;
        let count = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let total = count("lots") + count("new_lots");
        if total > MAX_LOTS {
            return Err(Invalid::Field(format!(
                "a record names at most {MAX_LOTS} lots (lots and new_lots together); this one names {total}"
            )));
        }
        let json: RecordJson =
            serde_json::from_value(value).map_err(|e| format!("invalid record: {e}"))?;
        Self::from_json(json)
    }

    fn from_json(json: RecordJson) -> Result<Self, Invalid> {
        if json.record_type != RECORD_TYPE {
            return Err(Invalid::Field(format!(
                "type must be {RECORD_TYPE:?}, got {:?}",
                json.record_type
            )));
        }
        let event: EventType = json.event.parse()?;
        let actor = OrgId::parse(&json.actor).map_err(|e| format!("actor: {e}"))?;
        let time = parse_time(&json.time).map_err(Invalid::Time)?;
        let to = json
            .to
            .as_deref()
            .map(OrgId::parse)
            .transpose()
            .map_err(|e| format!("to: {e}"))?;
        if let Some(location) = &json.location {
            check_location(location)?;
        }
        let lots = json
            .lots
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let key = lot_key(&l.gtin, &l.lot).map_err(|e| format!("lots[{i}]: {e}"))?;
                let prev = RecordId::parse(&l.prev).map_err(|e| format!("lots[{i}].prev: {e}"))?;
                let quantity =
                    check_quantity(l.quantity.as_ref()).map_err(|e| format!("lots[{i}]: {e}"))?;
                Ok(LotRef {
                    key,
                    prev,
                    quantity,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let new_lots = json
            .new_lots
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let key = lot_key(&l.gtin, &l.lot).map_err(|e| format!("new_lots[{i}]: {e}"))?;
                let quantity = check_quantity(l.quantity.as_ref())
                    .map_err(|e| format!("new_lots[{i}]: {e}"))?;
                Ok(NewLot { key, quantity })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let record = Self {
            event,
            actor,
            time,
            location: json.location,
            lots,
            new_lots,
            to,
            kde: json.kde,
        };
        record.check_shape()?;
        Ok(record)
    }

    /// Which lists each event needs, `to` on ship, and no lot named twice.
    fn check_shape(&self) -> Result<(), String> {
        let event = self.event;
        let (has_lots, has_new) = (!self.lots.is_empty(), !self.new_lots.is_empty());
        match event {
            EventType::Harvest if has_lots => {
                return Err("a harvest only creates lots: use new_lots, not lots".into());
            }
            EventType::Harvest if !has_new => return Err("a harvest needs new_lots".into()),
            EventType::Transform if !(has_lots && has_new) => {
                return Err(
                    "a transform needs both lots (its inputs) and new_lots (its outputs)".into(),
                );
            }
            EventType::Harvest | EventType::Transform => {}
            EventType::Pack if !has_lots => return Err("a pack needs lots".into()),
            EventType::Pack => {}
            _ if !has_lots => return Err(format!("a {event} record needs lots")),
            _ if has_new => {
                return Err(format!(
                    "a {event} record cannot create lots; only harvest, pack and transform have new_lots"
                ));
            }
            _ => {}
        }
        if event == EventType::Ship && self.to.is_none() {
            return Err("a ship record needs to, the receiving organization".into());
        }
        let mut seen = HashSet::new();
        for key in self
            .lots
            .iter()
            .map(|l| &l.key)
            .chain(self.new_lots.iter().map(|l| &l.key))
        {
            if !seen.insert(key) {
                return Err(format!("lot {key} appears more than once in the record"));
            }
        }
        Ok(())
    }
}

fn lot_key(gtin: &str, lot: &str) -> Result<LotKey, String> {
    Ok(LotKey {
        gtin: Gtin::parse(gtin)?,
        lot: LotCode::parse(lot)?,
    })
}

fn check_quantity(q: Option<&Quantity>) -> Result<Option<Quantity>, String> {
    q.map(|q| Quantity::parse(&q.amount, &q.unit)).transpose()
}

fn check_location(location: &Location) -> Result<(), String> {
    if let Some(gln) = &location.gln {
        Gln::parse(gln).map_err(|e| format!("location.gln: {e}"))?;
    }
    if location
        .lat
        .is_some_and(|lat| !(-90.0..=90.0).contains(&lat))
    {
        return Err("location.lat must be between -90 and 90".into());
    }
    if location
        .lon
        .is_some_and(|lon| !(-180.0..=180.0).contains(&lon))
    {
        return Err("location.lon must be between -180 and 180".into());
    }
    Ok(())
}

/// Parses `time`: RFC 3339 with an offset, seconds 00-59 and at most microseconds, so that both
/// engines store exactly the instant that was signed (PostgreSQL keeps microseconds; a leap second
/// has no stored form). The message is for `invalid_time`.
pub(crate) fn parse_time(time: &str) -> Result<DateTime<FixedOffset>, String> {
    let parsed = DateTime::parse_from_rfc3339(time).map_err(|_| {
        format!("time {time:?} must be RFC 3339 with an offset, such as 2026-11-20T06:30:00+08:00")
    })?;
    // In a valid RFC 3339 time a dot can only start the fraction of a second.
    let fraction_digits = time.split_once('.').map_or(0, |(_, rest)| {
        rest.bytes().take_while(u8::is_ascii_digit).count()
    });
    if fraction_digits > MAX_FRACTION_DIGITS {
        return Err(format!(
            "time {time:?} has {fraction_digits} fractional digits; at most {MAX_FRACTION_DIGITS} (microseconds) are kept"
        ));
    }
    if parsed.nanosecond() >= 1_000_000_000 {
        return Err(format!(
            "time {time:?} is a leap second; seconds run from 00 to 59"
        ));
    }
    Ok(parsed)
}

/// Every string and member name of a record: its length, and no forbidden character.
/// `path` spells out where `value` is, called only for the message when a string is refused:
/// building it for every value of every record cost more than the rest of this check.
pub(crate) fn check_strings(value: &Value, path: &dyn Fn() -> String) -> Result<(), String> {
    let check = |what: &dyn Fn() -> String, s: &str| {
        if s.len() > MAX_STRING_BYTES {
            return Err(format!(
                "{} is {} bytes; strings in a record are limited to {MAX_STRING_BYTES} bytes",
                what(),
                s.len()
            ));
        }
        if let Some(c) = s.chars().find(|c| !text::is_allowed_char(*c)) {
            return Err(format!(
                "{} holds the control character U+{:04X}; strings in a record may hold no control characters but tab and newline",
                what(),
                u32::from(c)
            ));
        }
        Ok(())
    };
    match value {
        Value::String(s) => check(&|| format!("the string at {:?}", path()), s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_strings(v, &|| format!("{}[{i}]", path()))),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check(&|| format!("a key in {:?}", path()), k)?;
            check_strings(v, &|| format!("{}.{k}", path()))
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORG: &str = "01936f4e-0000-7000-8000-000000000001";
    const PREV: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn harvest() -> Value {
        json!({"type": RECORD_TYPE, "event": "harvest", "actor": ORG, "time": "2026-11-20T06:30:00+08:00",
               "new_lots": [{"gtin": "04712345000015", "lot": "PADDY-A", "quantity": {"amount": "980.5", "unit": "KGM"}}],
               "kde": {"harvest_date": "2026-11-20"}})
    }

    fn parse(v: Value) -> Result<Record, String> {
        Record::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_harvest_parses() {
        let r = parse(harvest()).unwrap();
        assert_eq!(r.event, EventType::Harvest);
        assert_eq!(r.new_lots[0].key.lot.as_str(), "PADDY-A");
    }

    #[test]
    fn syntax_errors_are_malformed_not_invalid() {
        assert!(parse_json(b"{\"a\":").is_err());
        assert!(parse_json(b"[1]").unwrap_err().contains("object"));
        assert!(parse_json(b"{\"a\":\"\xff\"}").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse_json(format!("{{\"a\":{deep}").as_bytes()).is_err());
    }

    #[test]
    fn field_errors_name_the_field() {
        let mut v = harvest();
        v["new_lots"][0]["gtin"] = json!("04712345000016");
        assert!(parse(v).unwrap_err().contains("check digit"));
        let mut v = harvest();
        v["new_lots"][0]["lot"] = json!("<script>");
        assert!(parse(v).is_ok(), "< and > are in character set 82");
        let mut v = harvest();
        v["new_lots"][0]["lot"] = json!("LOT WITH SPACE");
        assert!(parse(v).unwrap_err().contains("character set 82"));
        let mut v = harvest();
        v["time"] = json!("2026-11-20T06:30:00");
        assert!(parse(v).unwrap_err().contains("offset"));
        for (time, part) in [
            ("2026-11-20T06:30:00.1234567+08:00", "7 fractional digits"),
            ("2026-11-20T23:59:60Z", "leap second"),
        ] {
            let mut v = harvest();
            v["time"] = json!(time);
            assert_eq!(
                Record::from_value(v),
                Err(Invalid::Time(format!(
                    "time {time:?} {}",
                    if part == "leap second" {
                        "is a leap second; seconds run from 00 to 59".to_owned()
                    } else {
                        format!("has {part}; at most 6 (microseconds) are kept")
                    }
                )))
            );
        }
        let mut v = harvest();
        v["time"] = json!("2026-11-20T06:30:00.123456+08:00");
        assert_eq!(parse(v).unwrap().time.timestamp_subsec_micros(), 123_456);
        let mut v = harvest();
        v["surprise"] = json!(1);
        assert!(parse(v).unwrap_err().contains("surprise"));
        let mut v = harvest();
        v["event"] = json!("teleport");
        assert!(parse(v).unwrap_err().contains("unknown event"));
    }

    #[test]
    fn limits_are_named() {
        let mut v = harvest();
        v["kde"]["note"] = json!("x".repeat(MAX_STRING_BYTES + 1));
        let message = parse(v).unwrap_err();
        assert!(message.contains("1024 bytes"), "{message}");
        assert!(
            message.contains(r#"the string at ".kde.note""#),
            "{message}"
        );
        let mut v = harvest();
        v["new_lots"][0]["lot"] = json!("L".repeat(MAX_STRING_BYTES + 1));
        let message = parse(v).unwrap_err();
        assert!(
            message.contains(r#"the string at ".new_lots[0].lot""#),
            "{message}"
        );
        let lots: Vec<Value> = (0..1001)
            .map(|i| json!({"gtin": "04712345000015", "lot": format!("L{i}")}))
            .collect();
        let mut v = harvest();
        v["new_lots"] = json!(lots);
        assert!(parse(v).unwrap_err().contains("at most 1000 lots"));
    }

    #[test]
    fn event_shapes() {
        let mut v = harvest();
        v["lots"] = json!([{"gtin": "04712345000015", "lot": "OLD", "prev": PREV}]);
        assert!(parse(v).unwrap_err().contains("only creates"));
        let ship = json!({"type": RECORD_TYPE, "event": "ship", "actor": ORG, "time": "2026-11-20T06:30:00Z",
                          "lots": [{"gtin": "04712345000015", "lot": "A", "prev": PREV}]});
        assert!(parse(ship.clone()).unwrap_err().contains("needs to"));
        let mut with_to = ship.clone();
        with_to["to"] = json!(ORG);
        assert!(parse(with_to).is_ok());
        let mut twice = ship;
        twice["to"] = json!(ORG);
        twice["lots"] = json!([{"gtin": "04712345000015", "lot": "A", "prev": PREV},
                               {"gtin": "04712345000015", "lot": "A", "prev": PREV}]);
        assert!(parse(twice).unwrap_err().contains("more than once"));
    }
}
