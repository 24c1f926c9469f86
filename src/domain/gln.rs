//! GLN, the GS1 Global Location Number (13 digits).

use super::check_digit::parse_gs1_number;

/// A 13-digit GLN with a verified check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gln(String);

impl Gln {
    pub fn parse(input: &str) -> Result<Self, String> {
        parse_gs1_number(input, 13, "GLN")?;
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Gln {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_names_the_problem() {
        assert!(Gln::parse("4712345000015").is_ok());
        assert!(
            Gln::parse("4712345000016")
                .unwrap_err()
                .contains("check digit")
        );
        assert!(
            Gln::parse("471234500001")
                .unwrap_err()
                .contains("13 digits")
        );
    }
}
