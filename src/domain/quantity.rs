//! Quantities: a decimal amount as a string (never a float) and a UN/ECE Rec 20 unit code.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub amount: String,
    pub unit: String,
}

impl Quantity {
    /// Validates a positive decimal amount ("980.5") and a unit code such as KGM, LTR or H87.
    pub fn parse(amount: &str, unit: &str) -> Result<Self, String> {
        let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits_ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && (!amount.contains('.') || !frac.is_empty())
            && int.len() <= 15
            && frac.len() <= 6;
        if !digits_ok {
            return Err(format!(
                "quantity amount {amount:?} must be a decimal number such as \"980.5\" (up to 15 digits, 6 decimals)"
            ));
        }
        if int.bytes().chain(frac.bytes()).all(|b| b == b'0') {
            return Err(format!(
                "quantity amount {amount:?} must be greater than zero"
            ));
        }
        let unit_ok = (1..=3).contains(&unit.len())
            && unit
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !unit_ok {
            return Err(format!(
                "quantity unit {unit:?} must be a UN/ECE Recommendation 20 code such as KGM, LTR or H87"
            ));
        }
        Ok(Self {
            amount: amount.to_owned(),
            unit: unit.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_only() {
        assert!(Quantity::parse("980.5", "KGM").is_ok());
        assert!(Quantity::parse("12", "H87").is_ok());
        for bad in ["", "1.", ".5", "-1", "1e3", "0", "0.000", "1,5"] {
            assert!(Quantity::parse(bad, "KGM").is_err(), "{bad}");
        }
        assert!(Quantity::parse("1", "kg").is_err());
    }
}
