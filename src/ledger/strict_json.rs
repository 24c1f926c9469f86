//! JSON read so that a signed byte string has one meaning only.
//!
//! `serde_json::Value` keeps the last of two members with the same name, while other parsers keep
//! the first or refuse: an auditor could read other facts from the very bytes the ledger accepted.
//! This reader refuses duplicate member names at any depth and bounds nesting with a limit of our
//! own (serde_json's recursion limit does not apply to members it skips, such as unknown envelope
//! fields). Both the envelope and the record payload are read through it; its errors are
//! `malformed` (400).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use std::fmt;

/// The deepest nesting accepted: the top-level object or array is level 1.
pub const MAX_DEPTH: usize = 64;

/// Parses `bytes` as one JSON value, refusing duplicate member names and nesting deeper than
/// [`MAX_DEPTH`]. The message names the place of the problem.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut path = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { path: &mut path }
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Parses `bytes` as one JSON object whose members are kept as sent, each value unread: for a
/// document whose parts are judged on their own (a batch of envelopes, each read again by
/// [`parse`]). A member name twice is refused as [`parse`] refuses it.
pub fn members(bytes: &[u8]) -> Result<Vec<(String, &RawValue)>, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let members =
        de::Deserializer::deserialize_map(&mut deserializer, Members).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(members)
}

/// The visitor of [`members`].
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members: Self::Value = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if members.iter().any(|(seen, _)| *seen == name) {
                return Err(duplicate(&name, &[], "a request"));
            }
            let value = access.next_value()?;
            members.push((name, value));
        }
        Ok(members)
    }
}

/// A member name seen twice in the object at `path`, in a `what` that must have one meaning.
fn duplicate<E: de::Error>(name: &str, path: &[Step], what: &str) -> E {
    E::custom(format!(
        "duplicate member name {name:?} in the object at {}; {what} must have one meaning",
        describe(path)
    ))
}

/// One step from the top of a document down to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Member(String),
    Index(usize),
}

/// Spells out a path as `.new_lots[0].lot`; the top level is `the top level`.
pub fn describe(path: &[Step]) -> String {
    if path.is_empty() {
        return "the top level".into();
    }
    path.iter()
        .map(|step| match step {
            Step::Member(name) => format!(".{name}"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// Builds a `Value` like serde_json's own, with the two checks. `path` is where the value stands;
/// its length is the number of containers around it.
struct Strict<'p> {
    path: &'p mut Vec<Step>,
}

impl Strict<'_> {
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.path.len() >= MAX_DEPTH {
            return Err(E::custom(format!(
                "JSON nested deeper than {MAX_DEPTH} levels at {}",
                describe(self.path)
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or infinity, so this is never Null for parsed input.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.path.push(Step::Index(items.len()));
            let item = seq.next_element_seed(Strict { path: self.path })?;
            self.path.pop();
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(duplicate(&name, self.path, "a signed payload"));
            }
            self.path.push(Step::Member(name));
            let value = access.next_value_seed(Strict { path: self.path })?;
            if let Some(Step::Member(name)) = self.path.pop() {
                map.insert(name, value);
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn duplicate_member_names_are_refused_at_any_depth() {
        let top = parse(br#"{"event":"harvest","event":"dispose"}"#).unwrap_err();
        assert!(top.contains(r#"duplicate member name "event""#), "{top}");
        assert!(top.contains("the top level"), "{top}");
        let deep = parse(br#"{"new_lots":[{"lot":"A"},{"lot":"B","lot":"C"}]}"#).unwrap_err();
        assert!(deep.contains(r#"duplicate member name "lot""#), "{deep}");
        assert!(deep.contains(".new_lots[1]"), "{deep}");
        // The same name in two different objects is not a duplicate.
        assert!(parse(br#"{"a":{"x":1},"b":{"x":1}}"#).is_ok());
    }

    #[test]
    fn members_are_kept_as_sent_and_named_once() {
        let kept = members(br#" {"a": {"x" : [1, 2]}, "b":"\u0041", "c": {"d":1,"d":2}} "#)
            .expect("an object");
        let kept: Vec<(&str, &str)> = kept.iter().map(|(n, v)| (n.as_str(), v.get())).collect();
        // Values are not read: a duplicate inside one is for whoever reads it to refuse.
        assert_eq!(
            kept,
            [
                ("a", r#"{"x" : [1, 2]}"#),
                ("b", r#""\u0041""#),
                ("c", r#"{"d":1,"d":2}"#)
            ]
        );
        let e = members(br#"{"a":1,"\u0061":2}"#).unwrap_err();
        assert!(e.contains(r#"duplicate member name "a""#), "{e}");
        for not_an_object in [&b"[]"[..], b"1", b"\"x\"", b"{} {}", b"", b"{\"a\":"] {
            assert!(members(not_an_object).is_err(), "{not_an_object:?}");
        }
    }

    #[test]
    fn escaped_spellings_of_one_name_are_the_same_name() {
        let e = parse(br#"{"actor":"a","\u0061ctor":"b"}"#).unwrap_err();
        assert!(e.contains(r#"duplicate member name "actor""#), "{e}");
    }

    #[test]
    fn nesting_is_bounded_exactly_at_the_limit() {
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        let e = parse(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(e.contains("deeper than 64 levels"), "{e}");
        // Far past serde_json's own limit, inside an object.
        let deep = format!("{{\"x\":{}}}", nested(10_000));
        assert!(parse(deep.as_bytes()).unwrap_err().contains("deeper than"));
    }

    #[test]
    fn trailing_bytes_and_bad_syntax_are_refused() {
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(b"{\"a\":\"\xff\"}").is_err());
    }

    proptest! {
        /// Without duplicates or deep nesting, the strict reader reads what serde_json reads.
        #[test]
        fn agrees_with_serde_json_on_ordinary_documents(
            value in proptest::collection::btree_map("[a-z]{1,6}", prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::from),
                proptest::collection::vec(any::<u32>().prop_map(Value::from), 0..4).prop_map(Value::from),
            ], 0..8)
        ) {
            let text = serde_json::to_vec(&value).unwrap();
            prop_assert_eq!(parse(&text).unwrap(), serde_json::from_slice::<Value>(&text).unwrap());
        }
    }
}
