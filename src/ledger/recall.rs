//! Recall notices: a signed statement in the global log that lots must come off the shelves
//! (`recall`), or that they may go back (`lift`). A notice is on no lot's chain: a brand or a
//! regulator is rarely the custodian of the lots it recalls. Parsed in the same two stages as a
//! record (JSON syntax, then fields), judged by `check` against the ledger's state.
//!
//! A recall covers the lots it names and everything made from them; which lots those are is read
//! when a page or a pickup asks (`trace::recall`), so that a lot made from a recalled one after
//! the notice is covered too.

use super::record::{Invalid, MAX_LOTS, check_strings, parse_time};
use super::rules::{CheckError, LedgerView, MAX_CLOCK_AHEAD, Rejection};
use crate::domain::{Gtin, LotKey, OrgId, Role};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

pub const RECALL_TYPE: &str = "truetrace.recall/v1";
/// The most lots upstream of a named lot the authority rule walks before it gives up (a
/// creator further up than this cannot recall by that right; a brand or regulator still can).
const MAX_AUTHORITY_WALK: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Recall,
    Lift,
}

impl Action {
    /// Also the `event` column of the stored entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recall => "recall",
            Self::Lift => "lift",
        }
    }
}

/// The FDA's recall classes: I, a reasonable probability of serious harm; II, temporary or
/// reversible harm; III, unlikely to cause harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    I,
    II,
    III,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::I => "I",
            Self::II => "II",
            Self::III => "III",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "I" => Ok(Self::I),
            "II" => Ok(Self::II),
            "III" => Ok(Self::III),
            other => Err(format!(
                "class must be \"I\", \"II\" or \"III\", got {other:?}"
            )),
        }
    }
}

/// A notice whose every field is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub action: Action,
    pub actor: OrgId,
    pub time: DateTime<FixedOffset>,
    pub lots: Vec<LotKey>,
    /// Always set on a recall; optional on a lift.
    pub class: Option<Class>,
    pub reason: Option<String>,
    pub reason_zh: Option<String>,
    pub instructions: Option<String>,
    pub instructions_zh: Option<String>,
    pub contact: Option<String>,
}

/// The JSON shape of a notice, as the signer writes it (DESIGN.md, "Recall notices"; the
/// `instructions_zh` member is ours, for the banner's Chinese side).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeJson {
    #[serde(rename = "type")]
    pub notice_type: String,
    pub action: String,
    pub actor: String,
    pub time: String,
    pub lots: Vec<NoticeLotJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeLotJson {
    pub gtin: String,
    pub lot: String,
}

impl Notice {
    /// A stored payload read back (pages, the audit): both stages, one message.
    pub fn from_payload(payload: &[u8]) -> Result<Self, String> {
        let value = super::record::parse_json(payload)?;
        Self::from_value(value).map_err(|e| e.to_string())
    }

    /// Stage two: limits and fields. Errors name the field.
    pub fn from_value(value: Value) -> Result<Self, Invalid> {
        check_strings(&value, &String::new)?;
        let count = value
            .get("lots")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count > MAX_LOTS {
            return Err(Invalid::Field(format!(
                "a recall notice names at most {MAX_LOTS} lots; this one names {count}"
            )));
        }
        let json: NoticeJson =
            serde_json::from_value(value).map_err(|e| format!("invalid recall notice: {e}"))?;
        Self::from_json(json)
    }

    fn from_json(json: NoticeJson) -> Result<Self, Invalid> {
        if json.notice_type != RECALL_TYPE {
            return Err(Invalid::Field(format!(
                "type must be {RECALL_TYPE:?}, got {:?}",
                json.notice_type
            )));
        }
        let action = match json.action.as_str() {
            "recall" => Action::Recall,
            "lift" => Action::Lift,
            other => {
                return Err(Invalid::Field(format!(
                    "action must be \"recall\" or \"lift\", got {other:?}"
                )));
            }
        };
        let actor = OrgId::parse(&json.actor).map_err(|e| format!("actor: {e}"))?;
        let time = parse_time(&json.time).map_err(Invalid::Time)?;
        if json.lots.is_empty() {
            return Err(Invalid::Field(
                "lots must name at least one lot to recall or lift".into(),
            ));
        }
        let mut seen = HashSet::new();
        let mut lots = Vec::with_capacity(json.lots.len());
        for (i, l) in json.lots.iter().enumerate() {
            let key = LotKey::parse(&l.gtin, &l.lot).map_err(|e| format!("lots[{i}]: {e}"))?;
            if !seen.insert(key.clone()) {
                return Err(Invalid::Field(format!(
                    "lot {key} appears more than once in the notice"
                )));
            }
            lots.push(key);
        }
        let class = json.class.as_deref().map(Class::parse).transpose()?;
        let text = |name: &str, value: Option<String>| -> Result<Option<String>, Invalid> {
            match value {
                Some(v) if v.trim().is_empty() => Err(Invalid::Field(format!(
                    "{name} is empty; leave it out or say something"
                ))),
                other => Ok(other),
            }
        };
        let notice = Self {
            action,
            actor,
            time,
            lots,
            class,
            reason: text("reason", json.reason)?,
            reason_zh: text("reason_zh", json.reason_zh)?,
            instructions: text("instructions", json.instructions)?,
            instructions_zh: text("instructions_zh", json.instructions_zh)?,
            contact: text("contact", json.contact)?,
        };
        if action == Action::Recall {
            if notice.class.is_none() {
                return Err(Invalid::Field(
                    "a recall needs class: \"I\", \"II\" or \"III\"".into(),
                ));
            }
            if notice.reason.is_none() && notice.reason_zh.is_none() {
                return Err(Invalid::Field(
                    "a recall needs reason (or reason_zh): why the lots are recalled".into(),
                ));
            }
        }
        Ok(notice)
    }

    pub fn to_json(&self) -> NoticeJson {
        NoticeJson {
            notice_type: RECALL_TYPE.to_owned(),
            action: self.action.as_str().to_owned(),
            actor: self.actor.to_string(),
            time: self.time.to_rfc3339(),
            lots: self
                .lots
                .iter()
                .map(|k| NoticeLotJson {
                    gtin: k.gtin.to_string(),
                    lot: k.lot.to_string(),
                })
                .collect(),
            class: self.class.map(|c| c.as_str().to_owned()),
            reason: self.reason.clone(),
            reason_zh: self.reason_zh.clone(),
            instructions: self.instructions.clone(),
            instructions_zh: self.instructions_zh.clone(),
            contact: self.contact.clone(),
        }
    }
}

/// What the authority rule and the lift rule read, beyond the records' view.
pub trait RecallView: LedgerView {
    /// The organization whose record created the lot.
    fn creator(&mut self, key: &LotKey) -> Result<Option<OrgId>, Self::Error>;
    /// The lots the lot was made from.
    fn inputs(&mut self, key: &LotKey) -> Result<Vec<LotKey>, Self::Error>;
    /// The brand organization of a product.
    fn brand(&mut self, gtin: &Gtin) -> Result<Option<OrgId>, Self::Error>;
    /// Whether `actor` has a recall in force naming the lot.
    fn in_force_by(&mut self, actor: OrgId, key: &LotKey) -> Result<bool, Self::Error>;
}

/// Checks a notice against the ledger, in DESIGN.md's order: fields and references (422: the
/// actor, the lots, for a lift a recall to end), authority (403), time (422).
pub fn check<V: RecallView>(
    notice: &Notice,
    view: &mut V,
    now: DateTime<Utc>,
) -> Result<(), CheckError<V::Error>> {
    let roles = view
        .org_roles(notice.actor)
        .map_err(CheckError::View)?
        .ok_or_else(|| {
            Rejection::Invalid(format!(
                "actor {} is not a known organization",
                notice.actor
            ))
        })?;
    for key in &notice.lots {
        if view.lot(key).map_err(CheckError::View)?.is_none() {
            return Err(Rejection::Invalid(format!("lot {key} does not exist")).into());
        }
    }
    match notice.action {
        Action::Lift => {
            for key in &notice.lots {
                if !view
                    .in_force_by(notice.actor, key)
                    .map_err(CheckError::View)?
                {
                    return Err(Rejection::Invalid(format!(
                        "lot {key} has no recall in force issued by {}: only the organization that issued a recall can lift it",
                        notice.actor
                    ))
                    .into());
                }
            }
        }
        Action::Recall if roles.contains(Role::Regulator) => {}
        Action::Recall => {
            for key in &notice.lots {
                if !may_recall(view, notice.actor, key).map_err(CheckError::View)? {
                    return Err(Rejection::RoleNotAllowed(format!(
                        "{} may not recall lot {key}: a recall is issued by the organization that created the lot or a lot it was made from, the brand of its product, or a regulator",
                        notice.actor
                    ))
                    .into());
                }
            }
        }
    }
    let time = notice.time.with_timezone(&Utc);
    if time > now + MAX_CLOCK_AHEAD {
        return Err(Rejection::InvalidTime(format!(
            "time {} is more than 5 minutes ahead of the server's clock ({})",
            notice.time.to_rfc3339(),
            now.to_rfc3339()
        ))
        .into());
    }
    Ok(())
}

/// Whether `actor` is the brand of the lot's product or created the lot or a lot upstream of it.
fn may_recall<V: RecallView>(view: &mut V, actor: OrgId, key: &LotKey) -> Result<bool, V::Error> {
    if view.brand(&key.gtin)? == Some(actor) {
        return Ok(true);
    }
    let mut seen = HashSet::from([key.clone()]);
    let mut stack = vec![key.clone()];
    while let Some(lot) = stack.pop() {
        if view.creator(&lot)? == Some(actor) {
            return Ok(true);
        }
        for input in view.inputs(&lot)? {
            if seen.len() < MAX_AUTHORITY_WALK && seen.insert(input.clone()) {
                stack.push(input);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notice(value: Value) -> Result<Notice, Invalid> {
        Notice::from_value(value)
    }

    fn base() -> Value {
        json!({"type": RECALL_TYPE, "action": "recall", "actor": "0190f000-0000-7000-8000-000000000001",
               "time": "2026-12-01T09:00:00+08:00",
               "lots": [{"gtin": "04712345000015", "lot": "PADDY-2611-A"}],
               "class": "II", "reason": "Aflatoxin above the limit", "instructions": "Return it", "contact": "0800-000-000"})
    }

    fn with(mut value: Value, name: &str, member: Value) -> Value {
        value[name] = member;
        value
    }

    fn without(mut value: Value, name: &str) -> Value {
        value.as_object_mut().unwrap().remove(name);
        value
    }

    fn refusal(value: Value) -> String {
        notice(value).unwrap_err().to_string()
    }

    #[test]
    fn a_full_notice_reads_and_writes_back_the_same() {
        let n = notice(base()).unwrap();
        assert_eq!(n.action, Action::Recall);
        assert_eq!(n.class, Some(Class::II));
        assert_eq!(n.lots[0].lot.as_str(), "PADDY-2611-A");
        let again = Notice::from_value(serde_json::to_value(n.to_json()).unwrap()).unwrap();
        assert_eq!(again, n);
    }

    #[test]
    fn a_lift_needs_no_class_or_reason() {
        let lift = without(
            without(with(base(), "action", json!("lift")), "class"),
            "reason",
        );
        assert_eq!(notice(lift).unwrap().action, Action::Lift);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(refusal(with(base(), "type", json!("truetrace.record/v1"))).contains("type"));
        assert!(refusal(with(base(), "action", json!("withdraw"))).contains("action"));
        assert!(refusal(with(base(), "class", json!("IV"))).contains("class"));
        assert!(refusal(without(base(), "class")).contains("class"));
        assert!(refusal(without(base(), "reason")).contains("reason"));
        assert!(refusal(with(base(), "reason", json!("  "))).contains("reason is empty"));
        assert!(refusal(with(base(), "lots", json!([]))).contains("at least one lot"));
        assert!(refusal(with(base(), "actor", json!("farm"))).contains("actor"));
        assert!(
            refusal(with(
                base(),
                "lots",
                json!([{"gtin": "04712345000016", "lot": "A"}])
            ))
            .contains("lots[0]")
        );
        let twice =
            json!([{"gtin": "04712345000015", "lot": "A"}, {"gtin": "04712345000015", "lot": "A"}]);
        assert!(refusal(with(base(), "lots", twice)).contains("more than once"));
        assert!(refusal(with(base(), "note", json!("x"))).contains("unknown field"));
        assert!(refusal(with(base(), "contact", json!("a\u{7}b"))).contains("U+0007"));
        assert!(matches!(
            notice(with(base(), "time", json!("2026-12-01 09:00"))),
            Err(Invalid::Time(_))
        ));
        let many: Vec<Value> = (0..=MAX_LOTS)
            .map(|i| json!({"gtin": "04712345000015", "lot": format!("L{i}")}))
            .collect();
        assert!(refusal(with(base(), "lots", Value::Array(many))).contains("at most 1000"));
    }
}
