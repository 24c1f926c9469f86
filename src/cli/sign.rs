//! `keygen` and `sign`: what a producer's own system does, without the server's code.

use super::read_input;
use crate::ledger::envelope;
use crate::ledger::keyfile::{self, KeyFile};
use crate::ledger::record::{self, Record};
use std::path::Path;

pub fn keygen(out: &Path, force: bool) -> Result<(), String> {
    let key = keyfile::generate()?;
    let file = KeyFile::new(&key, None);
    file.write(out, force)?;
    println!("wrote {} (keep it secret; mode 0600)", out.display());
    println!("public_key: {}", file.public_key);
    println!("keyid:      {}", file.keyid);
    println!(
        "enroll it:  truetrace admin enroll-key --org ORG_ID --public-key {}",
        file.public_key
    );
    Ok(())
}

pub fn sign(key_path: &Path, record_path: Option<&Path>, now: bool) -> Result<(), String> {
    let key = KeyFile::read(key_path)?.signing_key()?;
    let input = read_input(record_path)?;
    let mut value = record::parse_json(&input)?;
    if now {
        value["time"] = serde_json::Value::String(
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        );
    }
    // Refuse locally what the server would refuse, with the same message.
    Record::from_value(value.clone()).map_err(|e| format!("the record is not valid: {e}"))?;
    let payload = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let envelope = envelope::sign(&key, &payload);
    let id = crate::domain::RecordId::of_payload(&payload);
    println!(
        "{}",
        serde_json::to_string(&envelope.to_json()).map_err(|e| e.to_string())?
    );
    eprintln!("record id: {id}");
    Ok(())
}
