//! Row structs, one per table, used to read and insert. Never serialized to clients as they are.
//! `None` is inserted as NULL (not DEFAULT) so that every insert has one SQL text and its
//! prepared statement is cached.

use super::schema::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub roles: String,
    pub gln: Option<String>,
    pub created_at: NaiveDateTime,
    /// Master data (FSMA 204 location descriptions): the postal address and the phone.
    pub address: Option<String>,
    pub phone: Option<String>,
}

/// One of an organization's locations: a field, a packhouse, a store.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = org_locations)]
pub struct LocationRow {
    pub org_id: String,
    pub name: String,
    pub gln: Option<String>,
    pub address: Option<String>,
}

/// An organization API token: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    pub id: String,
    pub org_id: String,
    pub label: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl OrgRow {
    /// Whether the organization holds a role (stored roles that do not parse hold none).
    pub fn has_role(&self, role: crate::domain::Role) -> bool {
        crate::domain::Roles::from_stored(&self.roles).is_ok_and(|r| r.contains(role))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub keyid: String,
    pub org_id: String,
    pub public_key: Vec<u8>,
    pub hosted: bool,
    pub enrolled_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// Made and held by a browser (WebCrypto), enrolled through accounts::devices.
    pub device: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = devices)]
pub struct DeviceRow {
    pub keyid: String,
    pub org_id: String,
    pub user_id: String,
    pub label: String,
    pub public_key: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub approved_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub gtin: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub currency: Option<String>,
    pub listing_url: Option<String>,
    pub brand_org: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = records)]
pub struct RecordRow {
    pub log_index: i64,
    pub id: String,
    pub payload: Vec<u8>,
    pub keyid: String,
    pub sig: Vec<u8>,
    pub event: String,
    pub actor: String,
    pub event_time: NaiveDateTime,
    pub accepted_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = record_lots)]
pub struct RecordLotRow {
    pub log_index: i64,
    pub position: i32,
    pub gtin: String,
    pub lot: String,
    pub prev: Option<String>,
}

/// A lot named by a recall notice, and the lift that ended the recall for it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = recall_lots)]
pub struct RecallLotRow {
    pub log_index: i64,
    pub gtin: String,
    pub lot: String,
    pub actor: String,
    pub lifted_log_index: Option<i64>,
}

/// The record of an organization that is the EPCIS event with this eventID (`kde.epcis_event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = epcis_events)]
pub struct EpcisEventRow {
    pub actor: String,
    pub event_id: String,
    pub log_index: i64,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = lots)]
pub struct LotRow {
    pub gtin: String,
    pub lot: String,
    pub custodian: String,
    pub head: String,
    pub head_time: NaiveDateTime,
    #[diesel(treat_none_as_null = true)]
    pub shipped_to: Option<String>,
    pub created_log_index: i64,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = lot_inputs)]
pub struct LotInputRow {
    pub gtin: String,
    pub lot: String,
    pub input_gtin: String,
    pub input_lot: String,
    pub log_index: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = invites)]
pub struct InviteRow {
    pub token_hash: String,
    pub org_id: String,
    pub email: String,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = hosted_keys)]
pub struct HostedKeyRow {
    pub org_id: String,
    pub keyid: String,
    pub nonce: Vec<u8>,
    pub sealed_seed: Vec<u8>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = reservations)]
pub struct ReservationRow {
    pub code: String,
    pub store_org: String,
    pub gtin: String,
    pub lot: String,
    pub quantity: i64,
    pub unit: String,
    pub customer_name: String,
    pub customer_phone: String,
    pub channel: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub confirmed_by: Option<String>,
    pub sell_record: Option<String>,
    /// The phone number's digits, for the limits on what one holder may hold.
    pub holder_phone: String,
    /// SHA-256 (hex) of the browser's form token.
    pub holder_browser: String,
    /// SHA-256 (hex) of the client's address (its IPv6 /64).
    pub holder_address: String,
    /// The staff member who cancelled it.
    pub cancelled_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = activity_daily)]
pub struct ActivityRow {
    pub day: chrono::NaiveDate,
    pub gtin: String,
    pub lot: String,
    pub store: String,
    pub kind: String,
    pub channel: String,
    pub count: i64,
}
