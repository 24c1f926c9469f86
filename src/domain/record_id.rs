//! Record ids: the lowercase hex SHA-256 of a record's payload bytes.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 32]);

impl RecordId {
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(Sha256::digest(payload).into())
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(input: &str) -> Result<Self, String> {
        let valid = input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(format!(
                "a record id is 64 lowercase hex digits, got {input:?}"
            ));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(input, &mut bytes).map_err(|e| e.to_string())?;
        Ok(Self(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_sha256_hex_and_round_trips() {
        let id = RecordId::of_payload(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(RecordId::parse(&id.to_hex()).unwrap(), id);
        assert!(RecordId::parse(&id.to_hex().to_uppercase()).is_err());
        assert!(RecordId::parse("abc").is_err());
    }
}
