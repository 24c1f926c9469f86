//! The capture of a partner's EPCIS document: checked against the official schema, mapped to
//! records of the token's organization over the database (`DbLookup`), each signed with that
//! organization's hosted key. The caller submits the envelopes as one batch and answers each
//! event with its own result (an event recorded before with the record already stored).

use super::epcis::{Lookup, MapError, Mapped, Recorded, check_schema, map_document};
use crate::accounts::hosted_keys::{self, Sealer};
use crate::db::rows::OrgRow;
use crate::db::{DbConn, epcis_events, lots, orgs};
use crate::domain::epcis::gln_of;
use crate::domain::{LotKey, OrgId, RecordId};
use crate::error::{AppError, AppResult};
use serde_json::Value;

/// The ledger's state as the mapping asks for it.
pub struct DbLookup<'a> {
    pub conn: &'a mut DbConn,
}

impl Lookup for DbLookup<'_> {
    fn head(&mut self, key: &LotKey) -> Result<Option<RecordId>, String> {
        let row = lots::find(self.conn, key.gtin.as_str(), key.lot.as_str())
            .map_err(|e| e.to_string())?;
        row.map(|r| RecordId::parse(&r.head)).transpose()
    }

    fn org(&mut self, uri: &str) -> Result<Option<OrgId>, String> {
        if let Some(id) = uri.strip_prefix("urn:uuid:") {
            let Ok(id) = OrgId::parse(id) else {
                return Ok(None);
            };
            return Ok(orgs::find(self.conn, &id.to_string())
                .map_err(|e| e.to_string())?
                .map(|_| id));
        }
        let Some(gln) = gln_of(uri) else {
            return Ok(None);
        };
        let owner = match orgs::find_by_gln(self.conn, gln.as_str()).map_err(|e| e.to_string())? {
            Some(org) => Some(org.id),
            None => orgs::locations_by_gln(self.conn, gln.as_str())
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .map(|l| l.org_id),
        };
        Ok(owner.and_then(|id| OrgId::parse(&id).ok()))
    }

    fn location_name(&mut self, org: OrgId, gln: &str) -> Result<Option<String>, String> {
        Ok(orgs::locations_of(self.conn, &[org.to_string()])
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|l| l.gln.as_deref() == Some(gln))
            .map(|l| l.name))
    }

    fn recorded(&mut self, actor: OrgId, event_id: &str) -> Result<Option<Recorded>, String> {
        epcis_events::find(self.conn, &actor.to_string(), event_id)
            .map_err(|e| e.to_string())?
            .map(|(id, log_index)| {
                Ok(Recorded {
                    id: RecordId::parse(&id)?,
                    log_index,
                })
            })
            .transpose()
    }
}

/// Checks and maps a document for `org`, and signs every mapped record with its hosted key:
/// one outcome per event, the envelope's bytes, the record stored before, or why the event cannot
/// be expressed. A document that fails the schema is 400 `malformed` with the schema's complaint;
/// an organization without a hosted key is 409.
pub fn prepare(
    conn: &mut DbConn,
    sealer: &Sealer,
    org: &OrgRow,
    document: &Value,
) -> AppResult<Vec<Mapped>> {
    check_schema(document)
        .map_err(AppError::Internal)?
        .map_err(AppError::Malformed)?;
    let actor = OrgId::parse(&org.id).map_err(AppError::Internal)?;
    let key = hosted_keys::signing_key(conn, sealer, &org.id)?;
    let mapped = map_document(document, actor, &mut DbLookup { conn }).map_err(|e| match e {
        MapError::Document(m) => AppError::Malformed(m),
        MapError::Lookup(m) => AppError::Internal(m),
    })?;
    mapped
        .into_iter()
        .map(|outcome| outcome.signed(&key).map_err(AppError::Internal))
        .collect()
}
