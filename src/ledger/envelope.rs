//! DSSE envelopes: parsing, the pre-authentication encoding (PAE), Ed25519 signing and strict
//! verification, and key ids. See docs/signing.md for the wire format.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The payload type of a record.
pub const PAYLOAD_TYPE: &str = "application/vnd.truetrace.record+json";
/// The payload type of a recall notice (and of the lift that ends one).
pub const RECALL_PAYLOAD_TYPE: &str = "application/vnd.truetrace.recall+json";

/// What an envelope carries; the signature covers it (through the PAE), so a record cannot be
/// passed off as a recall notice or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    Record,
    Recall,
}

impl PayloadType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Record => PAYLOAD_TYPE,
            Self::Recall => RECALL_PAYLOAD_TYPE,
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            PAYLOAD_TYPE => Ok(Self::Record),
            RECALL_PAYLOAD_TYPE => Ok(Self::Recall),
            other => Err(format!(
                "payloadType must be {PAYLOAD_TYPE:?} or {RECALL_PAYLOAD_TYPE:?}, got {other:?}"
            )),
        }
    }

    /// The payload type of a stored log entry, from its `event` column: a recall notice is
    /// stored with the event `recall` or `lift`, which no record has.
    pub fn of_stored_event(event: &str) -> Self {
        match event {
            "recall" | "lift" => Self::Recall,
            _ => Self::Record,
        }
    }
}

/// An envelope as it travels on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeJson {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<SignatureJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureJson {
    pub keyid: String,
    pub sig: String,
}

/// A key id: the lowercase hex SHA-256 of the 32 raw public-key bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(key: &VerifyingKey) -> Self {
        Self(hex::encode(Sha256::digest(key.as_bytes())))
    }

    pub fn parse(input: &str) -> Result<Self, String> {
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            Ok(Self(input.to_owned()))
        } else {
            Err(format!("a keyid is 64 lowercase hex digits, got {input:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed envelope: the raw payload bytes, which key claims to have signed them, and the signature.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub payload_type: PayloadType,
    pub payload: Vec<u8>,
    pub keyid: KeyId,
    pub signature: [u8; 64],
}

/// `DSSEv1 SP len(type) SP type SP len(payload) SP payload`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// `Envelope::verify` over an envelope's parts where they are stored apart (a record row), so
/// that the payload need not be copied into an `Envelope` first.
pub fn verify_parts(
    payload_type: PayloadType,
    payload: &[u8],
    keyid: &KeyId,
    signature: &[u8; 64],
    key: &VerifyingKey,
) -> Result<(), String> {
    key.verify_strict(
        &pae(payload_type.as_str(), payload),
        &Signature::from_bytes(signature),
    )
    .map_err(|_| format!("the signature does not verify with key {keyid}"))
}

impl Envelope {
    /// Parses the JSON envelope. Every error names the problem; all of them are "malformed" (400).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value = crate::ledger::strict_json::parse(body)
            .map_err(|e| format!("the envelope is not valid JSON: {e}"))?;
        let json: EnvelopeJson = serde_json::from_value(value)
            .map_err(|e| format!("the envelope is not of the expected shape: {e}"))?;
        Self::from_json(&json)
    }

    pub fn from_json(json: &EnvelopeJson) -> Result<Self, String> {
        let payload_type = PayloadType::parse(&json.payload_type)?;
        let payload = B64
            .decode(&json.payload)
            .map_err(|e| format!("payload is not standard base64: {e}"))?;
        let [signature] = json.signatures.as_slice() else {
            return Err(format!(
                "an envelope carries exactly one signature, this one has {}",
                json.signatures.len()
            ));
        };
        let keyid = KeyId::parse(&signature.keyid)?;
        let sig_bytes = B64
            .decode(&signature.sig)
            .map_err(|e| format!("sig is not standard base64: {e}"))?;
        let signature: [u8; 64] = sig_bytes.try_into().map_err(|v: Vec<u8>| {
            format!("an Ed25519 signature is 64 bytes, this one has {}", v.len())
        })?;
        Ok(Self {
            payload_type,
            payload,
            keyid,
            signature,
        })
    }

    /// Strict Ed25519 verification over the PAE: refuses non-canonical signatures and small-order keys.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), String> {
        verify_parts(
            self.payload_type,
            &self.payload,
            &self.keyid,
            &self.signature,
            key,
        )
    }

    pub fn to_json(&self) -> EnvelopeJson {
        EnvelopeJson {
            payload_type: self.payload_type.as_str().to_owned(),
            payload: B64.encode(&self.payload),
            signatures: vec![SignatureJson {
                keyid: self.keyid.to_string(),
                sig: B64.encode(self.signature),
            }],
        }
    }
}

/// Signs a record's `payload` with `key` into an envelope.
pub fn sign(key: &SigningKey, payload: &[u8]) -> Envelope {
    sign_as(PayloadType::Record, key, payload)
}

/// Signs `payload` of the given type with `key` into an envelope.
pub fn sign_as(payload_type: PayloadType, key: &SigningKey, payload: &[u8]) -> Envelope {
    let signature = key.sign(&pae(payload_type.as_str(), payload));
    Envelope {
        payload_type,
        payload: payload.to_vec(),
        keyid: KeyId::of(&key.verifying_key()),
        signature: signature.to_bytes(),
    }
}

/// Decodes and checks a public key for enrollment: 32 bytes of standard base64, a valid curve
/// point and not of small order (a weak key would let signatures verify for many messages).
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, String> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|e| format!("public_key is not standard base64: {e}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
        format!(
            "an Ed25519 public key is 32 bytes, this one has {}",
            v.len()
        )
    })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "public_key is not a valid Ed25519 point".to_owned())?;
    if key.is_weak() {
        return Err("public_key is a weak (small-order) Ed25519 key and cannot be enrolled".into());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The DSSE protocol document's example: type "http://example.com/HelloWorld", body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_then_parse_then_verify() {
        let k = key(7);
        let env = sign(&k, b"{\"a\":1}");
        let wire = serde_json::to_vec(&env.to_json()).unwrap();
        let parsed = Envelope::parse(&wire).unwrap();
        assert_eq!(parsed.payload, b"{\"a\":1}");
        assert_eq!(parsed.keyid, KeyId::of(&k.verifying_key()));
        parsed.verify(&k.verifying_key()).unwrap();
        assert!(parsed.verify(&key(8).verifying_key()).is_err());
    }

    #[test]
    fn the_payload_type_is_signed() {
        let k = key(4);
        let mut env = sign_as(PayloadType::Recall, &k, b"{}");
        let wire = serde_json::to_vec(&env.to_json()).unwrap();
        let parsed = Envelope::parse(&wire).unwrap();
        assert_eq!(parsed.payload_type, PayloadType::Recall);
        parsed.verify(&k.verifying_key()).unwrap();
        // The same bytes and signature presented as a record do not verify.
        env.payload_type = PayloadType::Record;
        assert!(env.verify(&k.verifying_key()).is_err());
    }

    #[test]
    fn malformed_envelopes_name_their_problem() {
        let env = sign(&key(1), b"x").to_json();
        let mut wrong_type = env.clone();
        wrong_type.payload_type = "text/plain".into();
        assert!(
            Envelope::from_json(&wrong_type)
                .unwrap_err()
                .contains("payloadType")
        );
        let mut bad_b64 = env.clone();
        bad_b64.payload = "***".into();
        assert!(
            Envelope::from_json(&bad_b64)
                .unwrap_err()
                .contains("base64")
        );
        let mut two = env.clone();
        two.signatures.push(two.signatures[0].clone());
        assert!(
            Envelope::from_json(&two)
                .unwrap_err()
                .contains("exactly one")
        );
        let mut short = env;
        short.signatures[0].sig = B64.encode([0u8; 10]);
        assert!(
            Envelope::from_json(&short)
                .unwrap_err()
                .contains("64 bytes")
        );
    }

    #[test]
    fn non_canonical_signature_is_refused() {
        // s + l (the group order) verifies under a lax verifier but is a malleated signature.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let k = key(3);
        let mut env = sign(&k, b"payload");
        let mut carry = 0u16;
        for (byte, l) in env.signature[32..].iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(env.verify(&k.verifying_key()).is_err());
    }

    #[test]
    fn weak_and_invalid_keys_are_refused() {
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(
            parse_public_key(&B64.encode(identity))
                .unwrap_err()
                .contains("weak")
        );
        assert!(
            parse_public_key(&B64.encode([1u8; 31]))
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(parse_public_key(&B64.encode(key(9).verifying_key().as_bytes())).is_ok());
    }

    proptest! {
        #[test]
        fn any_single_bit_flip_in_the_payload_breaks_the_signature(payload in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
            let k = key(5);
            let mut env = sign(&k, &payload);
            prop_assert!(env.verify(&k.verifying_key()).is_ok());
            let i = bit % (payload.len() * 8);
            env.payload[i / 8] ^= 1 << (i % 8);
            prop_assert!(env.verify(&k.verifying_key()).is_err());
        }
    }
}
