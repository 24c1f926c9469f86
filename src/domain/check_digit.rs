//! The GS1 mod-10 check digit shared by GTIN, GLN and SSCC.

/// The check digit for `digits` (the data digits, without the check digit).
/// Weights 3 and 1 alternate from the rightmost data digit.
pub fn gs1_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Parses an all-digit string of exactly `len` characters whose last digit is the GS1 check digit.
/// The error says what is wrong, for a person.
pub fn parse_gs1_number(input: &str, len: usize, what: &str) -> Result<(), String> {
    if input.len() != len || !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{what} must be exactly {len} digits, got {input:?}"
        ));
    }
    let digits: Vec<u8> = input.bytes().map(|b| b - b'0').collect();
    let (data, check) = digits.split_at(len - 1);
    let expected = gs1_check_digit(data);
    if check[0] != expected {
        return Err(format!(
            "{what} {input} has a wrong check digit: expected {expected}, found {}",
            check[0]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_gs1_examples() {
        // GS1 General Specifications worked example: 629104150021 -> 3.
        let data: Vec<u8> = "629104150021".bytes().map(|b| b - b'0').collect();
        assert_eq!(gs1_check_digit(&data), 3);
        assert!(parse_gs1_number("6291041500213", 13, "GLN").is_ok());
        assert!(parse_gs1_number("6291041500214", 13, "GLN").is_err());
        assert!(parse_gs1_number("09506000134352", 14, "GTIN").is_ok());
    }

    #[test]
    fn wrong_shapes_are_named() {
        let err = parse_gs1_number("12a", 13, "GLN").unwrap_err();
        assert!(err.contains("exactly 13 digits"), "{err}");
    }
}
