//! Request and response bodies of the JSON API (docs/api.md). Kept apart from database rows:
//! a row is converted here, never serialized as it is.

use crate::db::rows::{KeyRow, OrgRow, ProductRow, RecordRow};
use crate::ledger::envelope::{EnvelopeJson, PAYLOAD_TYPE, SignatureJson};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// RFC 3339 in UTC, as every time in a response is written.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgResponse {
    pub id: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub roles: Vec<String>,
    pub gln: Option<String>,
    pub created_at: String,
    pub keys: Vec<KeyResponse>,
}

impl OrgResponse {
    pub fn new(row: OrgRow, keys: Vec<KeyRow>) -> Self {
        Self {
            roles: row.roles.split(',').map(str::to_owned).collect(),
            id: row.id,
            name: row.name,
            name_zh: row.name_zh,
            gln: row.gln,
            created_at: rfc3339(row.created_at),
            keys: keys.into_iter().map(KeyResponse::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollKeyRequest {
    pub public_key: String,
    /// The platform holds this key for the organization (web UI actions).
    #[serde(default)]
    pub hosted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyResponse {
    pub keyid: String,
    pub org_id: String,
    pub public_key: String,
    pub hosted: bool,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
}

impl From<KeyRow> for KeyResponse {
    fn from(row: KeyRow) -> Self {
        Self {
            public_key: B64.encode(&row.public_key),
            keyid: row.keyid,
            org_id: row.org_id,
            hosted: row.hosted,
            enrolled_at: rfc3339(row.enrolled_at),
            revoked_at: row.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductResponse {
    pub gtin: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub currency: Option<String>,
    pub listing_url: Option<String>,
    pub brand_org: Option<String>,
    pub created_at: String,
}

impl From<ProductRow> for ProductResponse {
    fn from(row: ProductRow) -> Self {
        Self {
            gtin: row.gtin,
            name: row.name,
            name_zh: row.name_zh,
            description: row.description,
            image_url: row.image_url,
            price: row.price,
            currency: row.currency,
            listing_url: row.listing_url,
            brand_org: row.brand_org,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmitResponse {
    pub id: String,
    pub log_index: i64,
}

/// A stored record: the envelope as signed, its place in the log and its decoded payload.
#[derive(Debug, Clone, Serialize)]
pub struct RecordResponse {
    pub id: String,
    pub log_index: i64,
    pub accepted_at: String,
    pub envelope: EnvelopeJson,
    pub record: Value,
}

impl From<RecordRow> for RecordResponse {
    fn from(row: RecordRow) -> Self {
        Self {
            record: serde_json::from_slice(&row.payload).unwrap_or(Value::Null),
            envelope: EnvelopeJson {
                payload_type: PAYLOAD_TYPE.to_owned(),
                payload: B64.encode(&row.payload),
                signatures: vec![SignatureJson {
                    keyid: row.keyid,
                    sig: B64.encode(&row.sig),
                }],
            },
            id: row.id,
            log_index: row.log_index,
            accepted_at: rfc3339(row.accepted_at),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: Option<String>,
    pub name_zh: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LotResponse {
    pub gtin: String,
    pub lot: String,
    pub digital_link: String,
    pub product: Option<ProductResponse>,
    pub custodian: OrgRef,
    pub shipped_to: Option<OrgRef>,
    pub head: String,
    pub chain: Vec<RecordResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageEdge {
    pub gtin: String,
    pub lot: String,
    pub input_gtin: String,
    pub input_lot: String,
    pub record_log_index: i64,
}

/// A lot's upstream DAG: its chain and, through transforms, the chains of every lot it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamResponse {
    pub gtin: String,
    pub lot: String,
    pub lots: Vec<LotResponse>,
    pub edges: Vec<LineageEdge>,
    /// True when the DAG was larger than the response limit and was cut.
    pub truncated: bool,
}
