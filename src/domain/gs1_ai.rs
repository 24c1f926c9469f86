//! GS1 Application Identifiers as a Digital Link reads them: which AIs are primary keys and key
//! qualifiers (they belong in the path), which may be data attributes in the query string, and
//! the format of each value.
//!
//! The facts come from the GS1 Barcode Syntax Dictionary of gs1/gs1-syntax-engine (release
//! 2026-01-27, Apache-2.0), kept verbatim beside this file as `gs1-syntax-dictionary.txt`; this
//! module reads its table. Of the dictionary's linters (content checks) the ones a data
//! attribute of a food lot meets are applied (check digits, dates, times, yes/no, zero,
//! percent-encoding); the others (country and currency codes, coupon fields...) are not, and a
//! value is then checked for its character set and length only.

use super::check_digit::gs1_check_digit;
use super::lot_code::is_cset82;
use std::sync::LazyLock;

const DICTIONARY: &str = include_str!("gs1-syntax-dictionary.txt");

/// One component of an AI's value: its character set, length and linters.
#[derive(Debug, Clone)]
struct Component {
    /// `N` digits, `X` character set 82, `Y` set 39, `Z` set 64 (base64url).
    set: char,
    min: usize,
    max: usize,
    optional: bool,
    linters: Vec<String>,
}

/// One line of the dictionary: an AI or a range of AIs of the same length.
#[derive(Debug, Clone)]
struct Entry {
    first: String,
    last: String,
    data_attribute: bool,
    components: Vec<Component>,
    /// Present for primary keys: the alternative sequences of key qualifiers.
    primary_key: Option<Vec<Vec<String>>>,
    /// AIs (or patterns with `n` for any digit) this one may not be used with.
    excludes: Vec<String>,
    title: String,
}

impl Entry {
    fn covers(&self, ai: &str) -> bool {
        ai.len() == self.first.len() && self.first.as_str() <= ai && ai <= self.last.as_str()
    }
}

fn parse_component(spec: &str) -> Option<Component> {
    // `[X..17]` or `[X1],hyphen`: the brackets may close before the linters.
    let optional = spec.starts_with('[');
    let spec = spec.replace(['[', ']'], "");
    let mut parts = spec.split(',');
    let format = parts.next()?;
    let mut chars = format.chars();
    let set = chars.next()?;
    let length = chars.as_str();
    let (min, max) = match length.strip_prefix("..") {
        Some(max) => (1, max.parse().ok()?),
        None => {
            let n = length.parse().ok()?;
            (n, n)
        }
    };
    Some(Component {
        set,
        min,
        max,
        optional,
        linters: parts.map(str::to_owned).collect(),
    })
}

fn parse_line(line: &str) -> Option<Entry> {
    let (fields, title) = line.split_once('#').unwrap_or((line, ""));
    let mut words = fields.split_whitespace().peekable();
    let ais = words.next()?;
    let (first, last) = ais.split_once('-').unwrap_or((ais, ais));
    let mut data_attribute = false;
    if let Some(flags) = words.peek()
        && !flags.starts_with(['N', 'X', 'Y', 'Z', '['])
    {
        data_attribute = flags.contains('?');
        words.next();
    }
    let mut components = Vec::new();
    let mut primary_key = None;
    let mut excludes = Vec::new();
    for word in words {
        if let Some(rest) = word.strip_prefix("dlpkey") {
            let alternatives = rest
                .strip_prefix('=')
                .map(|list| {
                    list.split('|')
                        .map(|seq| seq.split(',').map(str::to_owned).collect())
                        .collect()
                })
                .unwrap_or_default();
            primary_key = Some(alternatives);
        } else if let Some(list) = word.strip_prefix("ex=") {
            excludes.extend(list.split(',').map(str::to_owned));
        } else if word.contains('=') {
            // req= and other attributes: pairings over the whole item, not checked here.
        } else {
            components.push(parse_component(word)?);
        }
    }
    Some(Entry {
        first: first.to_owned(),
        last: last.to_owned(),
        data_attribute,
        components,
        primary_key,
        excludes,
        title: title.trim().to_owned(),
    })
}

static TABLE: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    DICTIONARY
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
});

fn entry(ai: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.covers(ai))
}

/// Whether an AI pattern of the dictionary (`310n`, `35nn`, `01`) names `ai`.
fn pattern_matches(pattern: &str, ai: &str) -> bool {
    pattern.len() == ai.len()
        && pattern
            .bytes()
            .zip(ai.bytes())
            .all(|(p, a)| p == a || (p == b'n' && a.is_ascii_digit()))
}

/// The alternative sequences of key qualifiers of a primary key (`01`: `22,10,21` or `235`).
pub fn qualifiers_of(primary: &str) -> Vec<Vec<String>> {
    entry(primary)
        .and_then(|e| e.primary_key.clone())
        .unwrap_or_default()
}

/// The dictionary's title of an AI (`BATCH/LOT` for `10`), when it has one.
pub fn title(ai: &str) -> Option<&'static str> {
    entry(ai).map(|e| e.title.as_str())
}

/// Checks one query-string pair whose key is all digits as a data attribute of a Digital Link
/// whose primary key is `primary`: a known AI allowed in the query, not a key or key qualifier
/// (those belong in the path), not excluded with the primary key, its value in its format.
pub fn check_data_attribute(primary: &str, ai: &str, value: &str) -> Result<(), String> {
    let Some(found) = entry(ai) else {
        return Err(format!(
            "({ai}) in the query string is not a GS1 Application Identifier"
        ));
    };
    if found.primary_key.is_some() {
        return Err(format!(
            "({ai}) {} is a primary key: it belongs in the path of a Digital Link, not in its query string",
            found.title
        ));
    }
    if qualifiers_of(primary).iter().flatten().any(|q| q == ai) {
        return Err(format!(
            "({ai}) {} is a key qualifier of ({primary}): it belongs in the path (/{primary}/.../{ai}/...), not in the query string",
            found.title
        ));
    }
    if !found.data_attribute {
        return Err(format!(
            "({ai}) {} may not be a data attribute of a Digital Link",
            found.title
        ));
    }
    let primary_excludes = entry(primary).map(|e| e.excludes.as_slice()).unwrap_or(&[]);
    if found.excludes.iter().any(|p| pattern_matches(p, primary))
        || primary_excludes.iter().any(|p| pattern_matches(p, ai))
    {
        return Err(format!(
            "({ai}) {} cannot be used with ({primary})",
            found.title
        ));
    }
    check_value(found, value).map_err(|why| format!("({ai}) {} {value:?}: {why}", found.title))
}

fn check_value(entry: &Entry, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("the value is empty".into());
    }
    if !value.is_ascii() {
        return Err("the value holds characters outside the GS1 character sets".into());
    }
    let mut rest = value;
    for component in &entry.components {
        if rest.is_empty() {
            if component.optional {
                break;
            }
            return Err("the value is too short".into());
        }
        let take = rest.len().min(component.max);
        let (part, after) = rest.split_at(take);
        if part.len() < component.min {
            return Err(format!(
                "the value is too short: a part of {} characters is needed",
                component.min
            ));
        }
        check_set(component.set, part)?;
        for linter in &component.linters {
            lint(linter, part)?;
        }
        rest = after;
    }
    if !rest.is_empty() {
        return Err("the value is too long".into());
    }
    Ok(())
}

fn check_set(set: char, part: &str) -> Result<(), String> {
    let ok = match set {
        'N' => part.bytes().all(|b| b.is_ascii_digit()),
        'X' => part.chars().all(is_cset82),
        'Y' => part
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"#-/".contains(&b)),
        'Z' => part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match set {
            'N' => "digits only are allowed".into(),
            other => format!("a character is outside the GS1 character set of type {other}"),
        })
    }
}

fn two(part: &str, at: usize) -> u32 {
    part.get(at..at + 2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(99)
}

/// The dictionary's linters this resolver applies; any other passes.
fn lint(linter: &str, part: &str) -> Result<(), String> {
    let digits = || part.bytes().all(|b| b.is_ascii_digit());
    let date = |year_len: usize, day_zero: bool| {
        let (month, day) = (two(part, year_len), two(part, year_len + 2));
        digits()
            && part.len() == year_len + 4
            && (1..=12).contains(&month)
            && ((day_zero && day == 0) || (1..=31).contains(&day))
    };
    let (ok, what) = match linter {
        "csum" => {
            let d: Vec<u8> = part.bytes().map(|b| b - b'0').collect();
            let ok = digits()
                && d.split_last()
                    .is_some_and(|(check, data)| gs1_check_digit(data) == *check);
            (ok, "the check digit is wrong")
        }
        "yymmd0" => (date(2, true), "not a date YYMMDD (day 00 allowed)"),
        "yymmdd" => (date(2, false), "not a date YYMMDD"),
        "yyyymmdd" => (date(4, false), "not a date YYYYMMDD"),
        "yyyymmd0" => (date(4, true), "not a date YYYYMMDD"),
        "hhmi" => (
            digits() && part.len() == 4 && two(part, 0) < 24 && two(part, 2) < 60,
            "not a time HHMM",
        ),
        "hh" => (digits() && two(part, 0) < 24, "not an hour 00-23"),
        "mi" | "ss" => (
            digits() && two(part, 0) < 60,
            "not minutes or seconds 00-59",
        ),
        "yesno" => (part == "0" || part == "1", "must be 0 or 1"),
        "zero" => (part.bytes().all(|b| b == b'0'), "must be 0"),
        "nonzero" => (part.bytes().any(|b| b != b'0'), "must not be zero"),
        "nozeroprefix" => (
            part == "0" || !part.starts_with('0'),
            "must not start with 0",
        ),
        "hasnondigit" => (
            part.bytes().any(|b| !b.is_ascii_digit()),
            "must hold a character other than a digit",
        ),
        "pcenc" => {
            let ok = part.split('%').skip(1).all(|after| {
                after.len() >= 2 && after.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit)
            });
            (ok, "has a malformed percent-escape")
        }
        _ => (true, ""),
    };
    if ok { Ok(()) } else { Err(what.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_the_whole_dictionary() {
        let lines = DICTIONARY
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(TABLE.len(), lines, "every entry of the dictionary is read");
        assert_eq!(
            qualifiers_of("01"),
            vec![
                vec!["22".to_owned(), "10".into(), "21".into()],
                vec!["235".to_owned()]
            ]
        );
        assert_eq!(title("10"), Some("BATCH/LOT"));
        assert!(entry("3103").is_some() && entry("3106").is_none());
        assert!(entry("95").is_some(), "91-99 is a range");
    }

    #[test]
    fn data_attributes_are_checked_against_their_format() {
        for (ai, value) in [
            ("17", "261231"),
            ("17", "261200"),
            ("15", "270101"),
            ("3103", "001250"),
            ("99", "anything-82"),
            ("7003", "2612311530"),
            ("4330", "003500"),
        ] {
            assert_eq!(
                check_data_attribute("01", ai, value),
                Ok(()),
                "({ai}) {value}"
            );
        }
        for (ai, value, why) in [
            ("17", "261399", "not a date"),
            ("17", "261231X", "too long"),
            ("17", "261399X", "not a date"),
            ("17", "2613", "too short"),
            ("17", "26l231", "digits only"),
            ("99", "", "empty"),
            ("01", "04712345000022", "primary key"),
            ("414", "4712345000015", "primary key"),
            ("10", "LOT1", "key qualifier"),
            ("21", "S1", "key qualifier"),
            ("22", "C1", "key qualifier"),
            ("235", "T1", "key qualifier"),
            ("37", "5", "cannot be used with (01)"),
            ("5", "1", "not a GS1 Application Identifier"),
            ("3106", "000001", "not a GS1 Application Identifier"),
            ("99", "a b", "character set"),
        ] {
            let err = check_data_attribute("01", ai, value).unwrap_err();
            assert!(err.contains(why), "({ai}) {value:?}: {err}");
        }
    }
}
