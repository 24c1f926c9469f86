//! GTIN-14, the product identifier (GS1 AI 01).

use super::check_digit::{gs1_check_digit, parse_gs1_number};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A GTIN held in its 14-digit form with a verified check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-14 exactly (the form the ledger and the API use).
    pub fn parse(input: &str) -> Result<Self, String> {
        parse_gs1_number(input, 14, "GTIN")?;
        Ok(Self(input.to_owned()))
    }

    /// Parses a GTIN-8, -12, -13 or -14 and pads it to 14 digits with leading zeros,
    /// as GS1 Digital Link requires.
    pub fn parse_any_length(input: &str) -> Result<Self, String> {
        match input.len() {
            8 | 12 | 13 | 14 => Self::parse(&format!("{input:0>14}")),
            _ => Err(format!(
                "a GTIN has 8, 12, 13 or 14 digits, got {} characters in {input:?}",
                input.len()
            )),
        }
    }

    /// Completes a 13-digit GTIN body (indicator, company prefix, item reference) with its check digit.
    pub fn from_body(body: &str) -> Result<Self, String> {
        if body.len() != 13 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("a GTIN body is 13 digits, got {body:?}"));
        }
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        Ok(Self(format!("{body}{}", gs1_check_digit(&digits))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Gtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Gtin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Gtin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pads_short_gtins() {
        assert_eq!(
            Gtin::parse_any_length("9506000134352").unwrap().as_str(),
            "09506000134352"
        );
        assert_eq!(
            Gtin::parse_any_length("95012346").unwrap().as_str(),
            "00000095012346"
        );
        assert!(Gtin::parse_any_length("12345").is_err());
    }

    #[test]
    fn rejects_wrong_check_digit() {
        let err = Gtin::parse("09506000134353").unwrap_err();
        assert!(err.contains("check digit"), "{err}");
    }

    proptest! {
        #[test]
        fn completed_bodies_always_parse_and_any_other_last_digit_fails(body in "[0-9]{13}", other in 0u8..10) {
            let gtin = Gtin::from_body(&body).unwrap();
            prop_assert!(Gtin::parse(gtin.as_str()).is_ok());
            let check = gtin.as_str().as_bytes()[13] - b'0';
            if other != check {
                let altered = format!("{body}{other}");
                prop_assert!(Gtin::parse(&altered).is_err());
            }
        }
    }
}
