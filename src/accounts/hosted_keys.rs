//! Hosted keys (DESIGN.md): for actions people take in the web UI, such as a store's pickup
//! handover, the platform holds one signing key per organization. The key is enrolled like any
//! other, flagged `hosted` (the provenance page says so), and its seed is stored sealed with
//! ChaCha20-Poly1305 under the server's secret key, bound to the organization and key id. The
//! secret key lives outside the database: `TRUETRACE_SECRET_KEY` or the file
//! `TRUETRACE_SECRET_KEY_FILE` (created with mode 0600 on first use).

use crate::accounts::registry;
use crate::db::rows::HostedKeyRow;
use crate::db::{DbConn, hosted_keys, keys};
use crate::error::{AppError, AppResult};
use crate::settings::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::SigningKey;
use std::io::Write as _;
use zeroize::Zeroizing;

/// The server's secret key, which seals hosted signing keys.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn decode_key(text: &str, source: &str) -> Result<Sealer, String> {
    let bytes = Zeroizing::new(
        B64.decode(text.trim())
            .map_err(|_| format!("{source} is not standard base64"))?,
    );
    if bytes.len() != 32 {
        return Err(format!(
            "{source} must be 32 bytes of base64 (it is {} bytes)",
            bytes.len()
        ));
    }
    Ok(Sealer {
        cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
    })
}

impl Sealer {
    /// The configured secret key, else the key file, else a new key file.
    pub fn load(settings: &Settings) -> Result<Self, String> {
        if let Some(text) = settings.secret_key.as_deref().filter(|t| !t.is_empty()) {
            return decode_key(text, "TRUETRACE_SECRET_KEY");
        }
        let path = &settings.secret_key_file;
        match std::fs::read_to_string(path) {
            Ok(text) => decode_key(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = Zeroizing::new([0u8; 32]);
                crate::random::fill(seed.as_mut()).map_err(|e| e.to_string())?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(format!("{}\n", B64.encode(seed.as_ref())).as_bytes())
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        tracing::info!(file = %path.display(), "created the secret key that seals hosted signing keys; back it up");
                        decode_key(&B64.encode(seed.as_ref()), "the new secret key")
                    }
                    // Another server created it meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path)
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                        decode_key(&text, &path.display().to_string())
                    }
                    Err(e) => Err(format!("cannot create {}: {e}", path.display())),
                }
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn aad(org: &str, keyid: &str) -> Vec<u8> {
        format!("truetrace hosted key\n{org}\n{keyid}").into_bytes()
    }

    fn seal(&self, seed: &[u8; 32], org: &str, keyid: &str) -> AppResult<([u8; 12], Vec<u8>)> {
        let mut nonce = [0u8; 12];
        crate::random::fill(&mut nonce)?;
        let aad = Self::aad(org, keyid);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: seed,
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::internal("sealing a hosted key failed"))?;
        Ok((nonce, sealed))
    }

    fn open(&self, row: &HostedKeyRow) -> AppResult<SigningKey> {
        let aad = Self::aad(&row.org_id, &row.keyid);
        if row.nonce.len() != 12 {
            return Err(AppError::internal("a hosted key's nonce is corrupt"));
        }
        let seed = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&row.nonce),
                    Payload {
                        msg: &row.sealed_seed,
                        aad: &aad,
                    },
                )
                .map_err(|_| {
                    AppError::internal(
                        "a hosted key cannot be opened: the server's secret key is not the one it was sealed with",
                    )
                })?,
        );
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| AppError::internal("a hosted key's seed is not 32 bytes"))?;
        Ok(SigningKey::from_bytes(&seed))
    }
}

/// Gives an organization a hosted key, or returns the key id of the one it has. A hosted key
/// that was revoked is replaced by a new one.
pub fn enable(conn: &mut DbConn, sealer: &Sealer, org_id: &str) -> AppResult<String> {
    let org = registry::find_org(conn, org_id)?;
    if let Some(existing) = hosted_keys::of_org(conn, &org.id)? {
        let revoked = keys::find(conn, &existing.keyid)?.is_none_or(|k| k.revoked_at.is_some());
        if !revoked {
            return Ok(existing.keyid);
        }
        hosted_keys::delete(conn, &org.id)?;
    }
    let key = crate::ledger::keyfile::generate().map_err(AppError::internal)?;
    let public = B64.encode(key.verifying_key().as_bytes());
    let (row, _) = registry::enroll_key(conn, &org.id, &public, registry::KeyHolder::Platform)?;
    let (nonce, sealed_seed) = sealer.seal(&key.to_bytes(), &org.id, &row.keyid)?;
    hosted_keys::insert(
        conn,
        &HostedKeyRow {
            org_id: org.id,
            keyid: row.keyid.clone(),
            nonce: nonce.to_vec(),
            sealed_seed,
            created_at: chrono::Utc::now().naive_utc(),
        },
    )?;
    Ok(row.keyid)
}

/// The organization's hosted signing key; a clear error when it has none or it was revoked.
pub fn signing_key(conn: &mut DbConn, sealer: &Sealer, org_id: &str) -> AppResult<SigningKey> {
    let none = || {
        AppError::Conflict(
            "this organization has no hosted signing key: the operator enables one with \
             `truetrace admin enable-hosted-key` or POST /api/v1/orgs/{id}/hosted-key"
                .into(),
        )
    };
    let row = hosted_keys::of_org(conn, org_id)?.ok_or_else(none)?;
    if keys::find(conn, &row.keyid)?.is_none_or(|k| k.revoked_at.is_some()) {
        return Err(none());
    }
    sealer.open(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        decode_key(&B64.encode([byte; 32]), "test").unwrap()
    }

    #[test]
    fn sealed_seeds_open_only_with_the_same_key_org_and_keyid() {
        let seed = [7u8; 32];
        let (nonce, sealed_seed) = sealer(1).seal(&seed, "org-a", "kid").unwrap();
        let row = HostedKeyRow {
            org_id: "org-a".into(),
            keyid: "kid".into(),
            nonce: nonce.to_vec(),
            sealed_seed,
            created_at: chrono::Utc::now().naive_utc(),
        };
        assert_eq!(sealer(1).open(&row).unwrap().to_bytes(), seed);
        assert!(sealer(2).open(&row).is_err(), "another server key");
        let moved = HostedKeyRow {
            org_id: "org-b".into(),
            ..row.clone()
        };
        assert!(
            sealer(1).open(&moved).is_err(),
            "moved to another organization"
        );
        assert!(
            !row.sealed_seed.windows(32).any(|w| w == seed),
            "the seed is not stored in the clear"
        );
    }

    #[test]
    fn secret_keys_must_be_32_bytes_of_base64() {
        assert!(decode_key("not base64!", "x").is_err());
        assert!(
            decode_key(&B64.encode([1u8; 16]), "x")
                .unwrap_err()
                .contains("32 bytes")
        );
    }
}
