//! Device keys: the Ed25519 key a staff member's browser makes with WebCrypto (non-extractable,
//! kept in the browser's IndexedDB) and enrolls for the organization. An organization admin's
//! own device becomes a signing key at once; anyone else's stays pending until an admin approves
//! it. Revoking a device revokes its signing key, so the ledger refuses its next record.

use crate::accounts::registry::{self, KeyHolder};
use crate::db::rows::{DeviceRow, UserRow};
use crate::db::{DbConn, accounts as users, devices, keys, records, write_transaction};
use crate::domain::text::said;
use crate::error::{AppError, AppResult};
use crate::ledger::envelope::{KeyId, parse_public_key};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{NaiveDateTime, Utc};

const MAX_LABEL_CHARS: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Enrolled by someone who is not an admin: an admin must approve it before it can sign.
    Pending,
    /// A signing key of the organization.
    Active,
    Revoked,
}

impl DeviceStatus {
    pub fn of(row: &DeviceRow) -> Self {
        if row.revoked_at.is_some() {
            Self::Revoked
        } else if row.approved_at.is_some() {
            Self::Active
        } else {
            Self::Pending
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// A device as the account pages and the field app show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceView {
    pub keyid: String,
    pub label: String,
    pub owner_id: String,
    pub owner: String,
    pub status: DeviceStatus,
    pub created_at: NaiveDateTime,
    /// When a record signed on the device was last accepted.
    pub last_used: Option<NaiveDateTime>,
}

/// A device's label ("Ana's phone"): trimmed, 1 to 60 characters, no control characters.
pub fn label(text: &str) -> AppResult<String> {
    let text = text.trim();
    let length = text.chars().count();
    if length == 0 || length > MAX_LABEL_CHARS {
        return Err(AppError::InvalidField(format!(
            "the device name must be 1 to {MAX_LABEL_CHARS} characters long; it has {length}"
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !crate::domain::text::is_allowed_char(*c) || *c == '\n' || *c == '\t')
    {
        return Err(AppError::InvalidField(format!(
            "the device name may not contain the control or direction character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(text.to_owned())
}

/// Enrolls the browser's public key for the staff member's organization. The same key enrolled
/// again by the same person answers its current state (`false`); a key already known otherwise
/// is a conflict.
pub fn enroll(
    conn: &mut DbConn,
    user: &UserRow,
    public_key: &str,
    label_text: &str,
) -> AppResult<(DeviceRow, bool)> {
    let label = label(label_text)?;
    let key = parse_public_key(public_key).map_err(AppError::InvalidField)?;
    let keyid = KeyId::of(&key).to_string();
    write_transaction(conn, |conn| {
        if let Some(existing) = devices::find(conn, &keyid)? {
            if existing.user_id != user.id {
                return Err(AppError::Conflict(format!(
                    "key {keyid} is already enrolled as another person's device"
                )));
            }
            return Ok((existing, false));
        }
        if keys::find(conn, &keyid)?.is_some() {
            return Err(AppError::Conflict(format!(
                "key {keyid} is already enrolled as a signing key"
            )));
        }
        let now = Utc::now().naive_utc();
        let mut row = DeviceRow {
            keyid: keyid.clone(),
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            label,
            public_key: key.as_bytes().to_vec(),
            created_at: now,
            approved_at: None,
            approved_by: None,
            revoked_at: None,
            revoked_by: None,
        };
        devices::insert(conn, &row)?;
        if user.is_admin {
            activate(conn, &row, user, now)?;
            row.approved_at = Some(now);
            row.approved_by = Some(user.id.clone());
        }
        Ok((row, true))
    })
}

fn activate(conn: &mut DbConn, row: &DeviceRow, by: &UserRow, at: NaiveDateTime) -> AppResult<()> {
    registry::enroll_key(
        conn,
        &row.org_id,
        &B64.encode(&row.public_key),
        KeyHolder::Device,
    )?;
    devices::approve(conn, &row.keyid, &by.id, at)?;
    Ok(())
}

/// A device of the staff member's organization, or 404 (another organization's devices are not
/// there for them).
pub fn find(conn: &mut DbConn, user: &UserRow, keyid: &str, zh: bool) -> AppResult<DeviceRow> {
    devices::find(conn, keyid)?
        .filter(|d| d.org_id == user.org_id)
        .ok_or_else(|| {
            AppError::NotFound(said(
                zh,
                format!("your organization has no device {keyid}"),
                format!("貴組織沒有裝置 {keyid}"),
            ))
        })
}

/// An admin approves a pending device: its key becomes a signing key of the organization.
/// Approving an active device again changes nothing. Refusals are said in the admin's language.
pub fn approve(conn: &mut DbConn, admin: &UserRow, keyid: &str, zh: bool) -> AppResult<DeviceRow> {
    if !admin.is_admin {
        return Err(AppError::Forbidden(said(
            zh,
            "only your organization's admins can approve devices",
            "只有貴組織的管理員可以核准裝置",
        )));
    }
    write_transaction(conn, |conn| {
        let row = find(conn, admin, keyid, zh)?;
        match DeviceStatus::of(&row) {
            DeviceStatus::Active => {}
            DeviceStatus::Revoked => {
                return Err(AppError::Conflict(said(
                    zh,
                    format!(
                        "device {} was revoked and cannot be approved; enroll it again from the phone",
                        row.label
                    ),
                    format!("裝置「{}」已撤銷，無法核准；請從手機重新登錄", row.label),
                )));
            }
            DeviceStatus::Pending => activate(conn, &row, admin, Utc::now().naive_utc())?,
        }
        find(conn, admin, keyid, zh)
    })
}

/// Revokes a device (an admin, or the device's owner for their own): its key signs nothing
/// from now on. Revoking twice keeps the first time.
pub fn revoke(conn: &mut DbConn, user: &UserRow, keyid: &str, zh: bool) -> AppResult<DeviceRow> {
    write_transaction(conn, |conn| {
        let row = find(conn, user, keyid, zh)?;
        if !user.is_admin && row.user_id != user.id {
            return Err(AppError::Forbidden(said(
                zh,
                "only an admin or the device's owner can revoke a device",
                "只有管理員或裝置的持有人可以撤銷裝置",
            )));
        }
        if DeviceStatus::of(&row) == DeviceStatus::Active {
            registry::revoke_key(conn, &row.org_id, &row.keyid)?;
        }
        devices::revoke(conn, &row.keyid, &user.id, Utc::now().naive_utc())?;
        find(conn, user, keyid, zh)
    })
}

/// The organization's devices with their owners' names and last use, oldest first.
pub fn of_org(conn: &mut DbConn, org_id: &str) -> AppResult<Vec<DeviceView>> {
    let staff = users::users_of_org(conn, org_id)?;
    devices::of_org(conn, org_id)?
        .into_iter()
        .map(|row| {
            let status = DeviceStatus::of(&row);
            let last_used = match status {
                DeviceStatus::Pending => None,
                _ => records::last_signed_with(conn, &row.keyid)?,
            };
            let owner = staff
                .iter()
                .find(|u| u.id == row.user_id)
                .map_or_else(String::new, |u| u.display_name.clone());
            Ok(DeviceView {
                keyid: row.keyid,
                label: row.label,
                owner_id: row.user_id,
                owner,
                status,
                created_at: row.created_at,
                last_used,
            })
        })
        .collect()
}
