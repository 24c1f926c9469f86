//! Batch/lot codes (GS1 AI 10): 1 to 20 characters of the GS1 AI encodable character set 82.

/// What must be percent-encoded when a lot code is put in a URI path segment (GS1 Digital Link):
/// everything but the unreserved characters and the sub-delimiters a path segment may hold.
pub const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b':')
    .remove(b'=');

/// The characters of GS1 character set 82, besides ASCII letters and digits.
const CSET82_PUNCTUATION: &[u8] = b"!\"%&'()*+,-./:;<=>?_";

pub fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii() && CSET82_PUNCTUATION.contains(&(c as u8)))
}

/// A lot code, guaranteed 1..=20 characters of character set 82.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LotCode(String);

impl LotCode {
    pub const MAX_LEN: usize = 20;

    pub fn parse(input: &str) -> Result<Self, String> {
        if input.is_empty() {
            return Err("the lot code is empty".into());
        }
        let len = input.chars().count();
        if len > Self::MAX_LEN {
            return Err(format!(
                "the lot code {input:?} has {len} characters; GS1 allows at most {}",
                Self::MAX_LEN
            ));
        }
        if let Some(bad) = input.chars().find(|c| !is_cset82(*c)) {
            return Err(format!(
                "the lot code {input:?} contains {bad:?}, which is outside the GS1 character set 82"
            ));
        }
        if input == "." || input == ".." {
            return Err(format!(
                "the lot code {input:?} is a URL path segment that browsers remove (/10/{input}); choose another"
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LotCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_whole_set_and_refuses_others() {
        assert!(LotCode::parse("PADDY-2026/11_A").is_ok());
        assert!(LotCode::parse("!\"%&'()*+,-./:;<=>?").is_ok());
        assert!(LotCode::parse("").is_err());
        assert!(LotCode::parse("A B").unwrap_err().contains("' '"));
        assert!(
            LotCode::parse("批號")
                .unwrap_err()
                .contains("character set 82")
        );
        assert!(LotCode::parse("#1").is_err());
        assert!(
            LotCode::parse(&"A".repeat(21))
                .unwrap_err()
                .contains("at most 20")
        );
        assert!(LotCode::parse(&"A".repeat(20)).is_ok());
        assert!(LotCode::parse(".").unwrap_err().contains("browsers remove"));
        assert!(
            LotCode::parse("..")
                .unwrap_err()
                .contains("browsers remove")
        );
        assert!(LotCode::parse("...").is_ok());
        assert!(LotCode::parse(".A").is_ok());
    }

    proptest! {
        #[test]
        fn any_cset82_string_up_to_20_parses(s in "[A-Za-z0-9!\"%&'()*+,./:;<=>?_-]{1,20}".prop_filter("dot segments", |s| s != "." && s != "..")) {
            let parsed = LotCode::parse(&s).unwrap();
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }
    }
}
