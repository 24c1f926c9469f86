//! Signing key files as `truetrace keygen` writes them: JSON, readable by the owner only (0600).

use crate::ledger::envelope::KeyId;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub const KEY_FILE_TYPE: &str = "truetrace.key/v1";

#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    #[serde(rename = "type")]
    pub file_type: String,
    pub keyid: String,
    /// Standard base64 of the 32 raw public-key bytes: what `enroll` takes.
    pub public_key: String,
    /// Standard base64 of the 32-byte Ed25519 seed. Keep secret.
    pub secret_key: String,
    /// The organization the key is enrolled for, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

pub fn generate() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    crate::random::fill(&mut seed).map_err(|e| e.to_string())?;
    Ok(SigningKey::from_bytes(&seed))
}

impl KeyFile {
    pub fn new(key: &SigningKey, org: Option<String>) -> Self {
        let public = key.verifying_key();
        Self {
            file_type: KEY_FILE_TYPE.to_owned(),
            keyid: KeyId::of(&public).to_string(),
            public_key: B64.encode(public.as_bytes()),
            secret_key: B64.encode(key.to_bytes()),
            org,
        }
    }

    /// Writes the file with mode 0600; refuses to overwrite unless `force`.
    pub fn write(&self, path: &Path, force: bool) -> Result<(), String> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                )
            }
            _ => format!("cannot write {}: {e}", path.display()),
        })?;
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        file.write_all(json.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
        let file: Self = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a truetrace key file: {e}", path.display()))?;
        if file.file_type != KEY_FILE_TYPE {
            return Err(format!(
                "{} is not a {KEY_FILE_TYPE} key file",
                path.display()
            ));
        }
        Ok(file)
    }

    pub fn signing_key(&self) -> Result<SigningKey, String> {
        let seed: [u8; 32] = B64
            .decode(&self.secret_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("secret_key in the key file is not 32 bytes of base64")?;
        let key = SigningKey::from_bytes(&seed);
        if KeyId::of(&key.verifying_key()).as_str() != self.keyid {
            return Err("the key file's keyid does not match its secret key".into());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_with_owner_only_permissions_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let key = generate().unwrap();
        KeyFile::new(&key, None).write(&path, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(
            KeyFile::new(&key, None)
                .write(&path, false)
                .unwrap_err()
                .contains("--force")
        );
        let back = KeyFile::read(&path).unwrap().signing_key().unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }
}
