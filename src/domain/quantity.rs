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

/// How a person reads a unit code, (Traditional Chinese, English): the codes the field app offers
/// and the packaging codes a retailer is likely to use. None for any other code.
pub fn unit_words(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "KGM" => ("公斤", "kg"),
        "GRM" => ("公克", "g"),
        "TNE" => ("公噸", "t"),
        "LTR" => ("公升", "L"),
        "MLT" => ("毫升", "mL"),
        "H87" => ("件", "pcs"),
        "XBX" => ("盒", "boxes"),
        "XBG" => ("袋", "bags"),
        "XCT" => ("箱", "cartons"),
        "XPK" => ("包", "packs"),
        "XBO" => ("瓶", "bottles"),
        "XCR" => ("籃", "crates"),
        _ => return None,
    })
}

/// An amount and its unit as a person reads them: `40 件`, `40 pcs`, `980.5 kg`; a unit code
/// without words is shown as it is.
pub fn in_words(amount: &str, unit: &str, zh: bool) -> String {
    match unit_words(unit) {
        Some((zh_word, _)) if zh => format!("{amount} {zh_word}"),
        Some((_, en_word)) => format!("{amount} {en_word}"),
        None => format!("{amount} {unit}"),
    }
}

impl Quantity {
    /// The quantity as a person reads it (`in_words`).
    pub fn words(&self, zh: bool) -> String {
        in_words(&self.amount, &self.unit, zh)
    }
}

/// One millionth of a unit: amounts have at most six decimals, so stock arithmetic on
/// micro-units is exact.
pub const MICRO: i128 = 1_000_000;

impl Quantity {
    /// The amount in micro-units; None when the amount is not a valid decimal.
    pub fn micro_units(&self) -> Option<i128> {
        let (int, frac) = self.amount.split_once('.').unwrap_or((&self.amount, ""));
        if frac.len() > 6 || int.len() > 15 {
            return None;
        }
        let whole: i128 = int.parse().ok()?;
        let mut fraction: i128 = 0;
        for (i, digit) in frac.bytes().enumerate() {
            if !digit.is_ascii_digit() {
                return None;
            }
            fraction += i128::from(digit - b'0') * 10i128.pow(5 - i as u32);
        }
        Some(whole * MICRO + fraction)
    }
}

/// Micro-units back to a decimal string without trailing zeros ("12", "0.5").
pub fn format_micro(value: i128) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let value = value.abs();
    let (whole, fraction) = (value / MICRO, value % MICRO);
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:06}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_read_as_words_in_both_languages() {
        assert_eq!(Quantity::parse("40", "H87").unwrap().words(true), "40 件");
        assert_eq!(Quantity::parse("40", "H87").unwrap().words(false), "40 pcs");
        assert_eq!(in_words("980.5", "KGM", true), "980.5 公斤");
        assert_eq!(in_words("980.5", "KGM", false), "980.5 kg");
        assert_eq!(in_words("3", "ZZ", false), "3 ZZ");
    }

    #[test]
    fn decimal_strings_only() {
        assert!(Quantity::parse("980.5", "KGM").is_ok());
        assert!(Quantity::parse("12", "H87").is_ok());
        for bad in ["", "1.", ".5", "-1", "1e3", "0", "0.000", "1,5"] {
            assert!(Quantity::parse(bad, "KGM").is_err(), "{bad}");
        }
        assert!(Quantity::parse("1", "kg").is_err());
    }

    #[test]
    fn micro_units_are_exact() {
        let q = |a: &str| Quantity::parse(a, "KGM").unwrap().micro_units().unwrap();
        assert_eq!(q("12"), 12 * MICRO);
        assert_eq!(q("0.5"), MICRO / 2);
        assert_eq!(q("980.000001"), 980 * MICRO + 1);
        assert_eq!(format_micro(q("980.5")), "980.5");
        assert_eq!(format_micro(q("3")), "3");
        assert_eq!(format_micro(-MICRO / 4), "-0.25");
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(micro in 1i128..1_000_000_000_000_000) {
            let text = format_micro(micro);
            let back = Quantity::parse(&text, "H87").unwrap().micro_units().unwrap();
            proptest::prop_assert_eq!(back, micro);
        }
    }
}
