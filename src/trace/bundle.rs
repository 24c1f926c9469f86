//! A lot's provenance bundle (`ledger::bundle`), loaded from the database: the latest signed
//! checkpoint, the records of the lot and of every lot upstream of it that the checkpoint
//! covers, each with its inclusion proof, and the keys and organizations they name.

use crate::db::{DbConn, keys, orgs, tlog as log_queries};
use crate::domain::Roles;
use crate::error::AppError;
use crate::ledger::bundle::{Bundle, BundleKey, BundleLot, BundleOrg, BundleRecord};
use crate::ledger::envelope::{Envelope, KeyId};
use crate::ledger::merkle::{self, ProofError};
use crate::ledger::tlog::StoredTree;
use crate::trace::lineage;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::NaiveDateTime;
use std::collections::BTreeMap;

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The bundle of lot (`gtin`, `lot`); None when there is no such lot.
pub fn load(conn: &mut DbConn, gtin: &str, lot: &str) -> Result<Option<Bundle>, AppError> {
    let Some((size, note)) = log_queries::checkpoint(conn)? else {
        return Err(AppError::Unavailable(
            "the log has not signed a checkpoint yet".into(),
        ));
    };
    let Some(upstream) = lineage::upstream(conn, gtin, lot)? else {
        return Ok(None);
    };
    let mut rows = BTreeMap::new();
    for chain in upstream.lots {
        for row in chain.records {
            rows.insert(row.log_index, row);
        }
    }
    let size = size.max(0) as u64;
    let pending = rows.range(size as i64..).count() as u64;
    let covered: Vec<_> = rows
        .into_values()
        .filter(|r| (r.log_index as u64) < size)
        .collect();
    let mut records = Vec::with_capacity(covered.len());
    // Keys and organizations in the order the journey first names them.
    let mut keyids: Vec<String> = Vec::new();
    {
        let mut tree = StoredTree::new(conn, size);
        for row in &covered {
            let proof = merkle::inclusion_proof(&mut tree, row.log_index as u64, size).map_err(
                |e| match e {
                    ProofError::Source(e) => AppError::Database(e),
                    ProofError::Arguments(m) => AppError::internal(m),
                },
            )?;
            let signature: [u8; 64] = row
                .sig
                .as_slice()
                .try_into()
                .map_err(|_| AppError::internal("a stored signature is not 64 bytes"))?;
            let keyid = KeyId::parse(&row.keyid).map_err(AppError::Internal)?;
            let envelope = Envelope {
                payload_type: crate::ledger::envelope::PayloadType::of_stored_event(&row.event),
                payload: row.payload.clone(),
                keyid,
                signature,
            };
            if !keyids.contains(&row.keyid) {
                keyids.push(row.keyid.clone());
            }
            records.push(BundleRecord {
                log_index: row.log_index as u64,
                id: row.id.clone(),
                accepted_at: rfc3339(row.accepted_at),
                envelope: envelope.to_json(),
                inclusion: proof.iter().map(|h| B64.encode(h)).collect(),
            });
        }
    }
    let mut bundle_keys = Vec::new();
    let mut org_ids: Vec<String> = Vec::new();
    for keyid in keyids {
        if let Some(key) = keys::find(conn, &keyid)? {
            if !org_ids.contains(&key.org_id) {
                org_ids.push(key.org_id.clone());
            }
            bundle_keys.push(BundleKey {
                keyid: key.keyid,
                org: key.org_id,
                public_key: B64.encode(&key.public_key),
                enrolled_at: rfc3339(key.enrolled_at),
                revoked_at: key.revoked_at.map(rfc3339),
                hosted: key.hosted,
                device: key.device,
            });
        }
    }
    let mut rows = orgs::by_ids(conn, &org_ids)?;
    rows.sort_by_key(|o| org_ids.iter().position(|id| *id == o.id));
    let bundle_orgs = rows
        .into_iter()
        .map(|o| BundleOrg {
            roles: Roles::from_stored(&o.roles)
                .map(|r| r.names().into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            id: o.id,
            name: o.name,
            name_zh: o.name_zh,
        })
        .collect();
    Ok(Some(Bundle {
        lot: BundleLot {
            gtin: gtin.to_owned(),
            lot: lot.to_owned(),
        },
        checkpoint: note,
        records,
        keys: bundle_keys,
        orgs: bundle_orgs,
        pending,
    }))
}
