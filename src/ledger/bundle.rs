//! The provenance bundle (DESIGN.md, "Transparency log"): a signed checkpoint, every envelope of
//! a lot's upstream journey with its log index and inclusion proof against that checkpoint, and
//! the keys and organizations they name. Its format, and its verification offline with nothing
//! but the log's verifier key: `truetrace verify-bundle` runs `verify`, and the provenance page
//! runs the same checks in the browser (static/verify/bundle.js).

use super::checkpoint::{self, Checkpoint, LogVerifier};
use super::envelope::{Envelope, EnvelopeJson, KeyId};
use super::merkle::{self, Hash};
use super::record::Record;
use super::tlog;
use crate::domain::RecordId;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    /// The lot the bundle is for.
    pub lot: BundleLot,
    /// The signed checkpoint every inclusion proof leads to.
    pub checkpoint: String,
    /// The lot's records and those of every lot upstream of it, in log order.
    pub records: Vec<BundleRecord>,
    pub keys: Vec<BundleKey>,
    pub orgs: Vec<BundleOrg>,
    /// Records of the journey accepted after the checkpoint was signed, left out of this bundle
    /// (ask again in a second).
    #[serde(default)]
    pub pending: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleLot {
    pub gtin: String,
    pub lot: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleRecord {
    pub log_index: u64,
    /// The record id (the SHA-256 of the payload), for reading; the verifier computes it.
    pub id: String,
    /// When the log accepted the record (RFC 3339, UTC): keys are judged valid at this time.
    pub accepted_at: String,
    pub envelope: EnvelopeJson,
    /// The inclusion proof in the checkpoint's tree, base64 hashes from the leaf up.
    pub inclusion: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleKey {
    pub keyid: String,
    pub org: String,
    /// Standard base64 of the 32 raw bytes.
    pub public_key: String,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub hosted: bool,
    #[serde(default)]
    pub device: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleOrg {
    pub id: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub roles: Vec<String>,
}

/// What kind of check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failed {
    /// The bundle is not a bundle (JSON, fields, an envelope that does not parse).
    Form,
    /// The checkpoint's signature by the log key, or its text.
    Checkpoint,
    /// A record's signature.
    Signature,
    /// A record's key: carried, matching its keyid, the actor's, valid when the record was accepted.
    KeyValidity,
    /// A lot's chain: every prev present, naming the lot, earlier in the log; no fork.
    ChainLink,
    /// A record's inclusion proof against the checkpoint.
    Inclusion,
}

impl Failed {
    pub fn label(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Checkpoint => "checkpoint signature",
            Self::Signature => "signature",
            Self::KeyValidity => "key validity",
            Self::ChainLink => "chain link",
            Self::Inclusion => "inclusion",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub check: Failed,
    pub log_index: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.log_index {
            Some(i) => write!(f, "{} of record #{i}: {}", self.check.label(), self.message),
            None => write!(f, "{}: {}", self.check.label(), self.message),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checkpoint: Option<Checkpoint>,
    pub records: usize,
    pub lots: usize,
    pub failures: Vec<Failure>,
}

impl Report {
    fn fail(&mut self, check: Failed, log_index: Option<u64>, message: impl Into<String>) {
        self.failures.push(Failure {
            check,
            log_index,
            message: message.into(),
        });
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.checkpoint.is_some()
    }
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Checks a bundle as sent with the log's verifier key, and names every failure.
pub fn verify(bytes: &[u8], verifier: &LogVerifier) -> Report {
    let mut report = Report::default();
    let bundle: Bundle = match serde_json::from_slice(bytes) {
        Ok(b) => b,
        Err(e) => {
            report.fail(Failed::Form, None, format!("not a provenance bundle: {e}"));
            return report;
        }
    };
    let checkpoint = match checkpoint::open(&bundle.checkpoint, verifier) {
        Ok(c) => Some(c),
        Err(e) => {
            report.fail(Failed::Checkpoint, None, e);
            None
        }
    };
    let keys: HashMap<&str, &BundleKey> =
        bundle.keys.iter().map(|k| (k.keyid.as_str(), k)).collect();
    // Record id -> (log index, lots it names).
    let mut named: HashMap<RecordId, (u64, HashSet<(String, String)>)> = HashMap::new();
    let mut links: Vec<(u64, (String, String), RecordId)> = Vec::new();
    let mut created: HashSet<(String, String)> = HashSet::new();
    for item in &bundle.records {
        let at = Some(item.log_index);
        let envelope = match Envelope::from_json(&item.envelope) {
            Ok(e) => e,
            Err(e) => {
                report.fail(Failed::Form, at, format!("its envelope: {e}"));
                continue;
            }
        };
        let id = RecordId::of_payload(&envelope.payload);
        if id.to_hex() != item.id {
            report.fail(
                Failed::Form,
                at,
                format!(
                    "its payload hashes to {id}, not to the id {} it is listed under",
                    item.id
                ),
            );
        }
        let record = match Record::from_payload(&envelope.payload) {
            Ok(r) => Some(r),
            Err(e) => {
                report.fail(
                    Failed::Form,
                    at,
                    format!("its payload is not a valid record: {e}"),
                );
                None
            }
        };
        check_key_and_signature(&mut report, item, &envelope, record.as_ref(), &keys);
        if let Some(checkpoint) = &checkpoint {
            check_inclusion(&mut report, item, &envelope, checkpoint);
        }
        if let Some(record) = record {
            let mut lots = HashSet::new();
            for l in &record.lots {
                let key = (l.key.gtin.to_string(), l.key.lot.to_string());
                links.push((item.log_index, key.clone(), l.prev));
                lots.insert(key);
            }
            for l in &record.new_lots {
                let key = (l.key.gtin.to_string(), l.key.lot.to_string());
                created.insert(key.clone());
                lots.insert(key);
            }
            named.insert(id, (item.log_index, lots));
        }
        report.records += 1;
    }
    check_chains(&mut report, &bundle, &named, &links, &created);
    report.checkpoint = checkpoint;
    report
}

fn check_key_and_signature(
    report: &mut Report,
    item: &BundleRecord,
    envelope: &Envelope,
    record: Option<&Record>,
    keys: &HashMap<&str, &BundleKey>,
) {
    let at = Some(item.log_index);
    let Some(key) = keys.get(envelope.keyid.as_str()) else {
        report.fail(
            Failed::KeyValidity,
            at,
            format!("the bundle does not carry key {}", envelope.keyid),
        );
        return;
    };
    let public = B64
        .decode(&key.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok());
    let Some(public) = public else {
        report.fail(
            Failed::KeyValidity,
            at,
            format!("key {} is not 32 bytes of a valid Ed25519 point", key.keyid),
        );
        return;
    };
    if KeyId::of(&public).as_str() != key.keyid {
        report.fail(
            Failed::KeyValidity,
            at,
            format!(
                "the public key listed for {} does not hash to that keyid",
                key.keyid
            ),
        );
        return;
    }
    if let Err(e) = envelope.verify(&public) {
        report.fail(Failed::Signature, at, e);
    }
    if let Some(record) = record
        && record.actor.to_string() != key.org
    {
        report.fail(
            Failed::KeyValidity,
            at,
            format!(
                "key {} belongs to organization {}, not to the record's actor {}",
                key.keyid, key.org, record.actor
            ),
        );
    }
    match (
        time(&item.accepted_at),
        time(&key.enrolled_at),
        key.revoked_at.as_deref().map(time),
    ) {
        (Some(accepted), Some(enrolled), revoked) => {
            if accepted < enrolled {
                report.fail(
                    Failed::KeyValidity,
                    at,
                    format!(
                        "key {} was enrolled at {}, after the record was accepted ({})",
                        key.keyid, key.enrolled_at, item.accepted_at
                    ),
                );
            }
            match revoked {
                Some(Some(revoked)) if revoked <= accepted => report.fail(
                    Failed::KeyValidity,
                    at,
                    format!(
                        "key {} was revoked at {}, before the record was accepted ({})",
                        key.keyid,
                        key.revoked_at.as_deref().unwrap_or_default(),
                        item.accepted_at
                    ),
                ),
                Some(None) => report.fail(
                    Failed::Form,
                    at,
                    format!("key {}: revoked_at is not an RFC 3339 time", key.keyid),
                ),
                _ => {}
            }
        }
        _ => report.fail(
            Failed::Form,
            at,
            "accepted_at or the key's enrolled_at is not an RFC 3339 time",
        ),
    }
}

fn check_inclusion(
    report: &mut Report,
    item: &BundleRecord,
    envelope: &Envelope,
    checkpoint: &Checkpoint,
) {
    let at = Some(item.log_index);
    let mut keyid = [0u8; 32];
    let _ = hex::decode_to_slice(envelope.keyid.as_str(), &mut keyid);
    let leaf = tlog::leaf_hash(&keyid, &envelope.signature, &envelope.payload);
    let proof: Option<Vec<Hash>> = item
        .inclusion
        .iter()
        .map(|h| B64.decode(h).ok().and_then(|b| Hash::try_from(b).ok()))
        .collect();
    let Some(proof) = proof else {
        report.fail(
            Failed::Inclusion,
            at,
            "its inclusion proof holds something that is not a 32-byte base64 hash",
        );
        return;
    };
    if let Err(e) = merkle::verify_inclusion(
        item.log_index,
        checkpoint.size,
        &leaf,
        &proof,
        &checkpoint.root,
    ) {
        report.fail(
            Failed::Inclusion,
            at,
            format!(
                "it is not leaf #{} of the checkpoint's tree of {} records: {e}",
                item.log_index, checkpoint.size
            ),
        );
    }
}

/// A lot as (GTIN, lot code).
type Lot = (String, String);

fn check_chains(
    report: &mut Report,
    bundle: &Bundle,
    named: &HashMap<RecordId, (u64, HashSet<Lot>)>,
    links: &[(u64, (String, String), RecordId)],
    created: &HashSet<(String, String)>,
) {
    // Lot -> prev -> the records that named it as prev: more than one is a fork.
    let mut successors: BTreeMap<(&str, &str, RecordId), Vec<u64>> = BTreeMap::new();
    for (index, lot, prev) in links {
        successors
            .entry((lot.0.as_str(), lot.1.as_str(), *prev))
            .or_default()
            .push(*index);
        match named.get(prev) {
            None => report.fail(
                Failed::ChainLink,
                Some(*index),
                format!(
                    "its prev {prev} on lot ({}, {}) is not in the bundle",
                    lot.0, lot.1
                ),
            ),
            Some((prev_index, lots)) if !lots.contains(lot) => report.fail(
                Failed::ChainLink,
                Some(*index),
                format!(
                    "its prev {prev} (#{prev_index}) does not name lot ({}, {})",
                    lot.0, lot.1
                ),
            ),
            Some((prev_index, _)) if prev_index >= index => report.fail(
                Failed::ChainLink,
                Some(*index),
                format!("its prev {prev} comes later in the log (#{prev_index})"),
            ),
            Some(_) => {}
        }
    }
    for ((gtin, lot, prev), indexes) in &successors {
        if indexes.len() > 1 {
            report.fail(
                Failed::ChainLink,
                indexes.last().copied(),
                format!("lot ({gtin}, {lot}) forks: records {indexes:?} all follow {prev}"),
            );
        }
    }
    let asked = (bundle.lot.gtin.clone(), bundle.lot.lot.clone());
    if !created.contains(&asked) {
        report.fail(
            Failed::ChainLink,
            None,
            format!(
                "no record in the bundle creates lot ({}, {}): its journey is not complete",
                asked.0, asked.1
            ),
        );
    }
    let mut lots: HashSet<&(String, String)> = created.iter().collect();
    lots.extend(links.iter().map(|(_, l, _)| l));
    report.lots = lots.len();
}
