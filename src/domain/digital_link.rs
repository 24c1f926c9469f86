//! GS1 Digital Link URIs: `[/stem]/01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}]` or
//! `[/stem]/01/{gtin}/235/{tpx}`, with data attributes in the query string (GS1 Digital Link URI
//! syntax, uncompressed form). The key qualifiers and the data attributes' formats are those of
//! the GS1 Barcode Syntax Dictionary (`super::gs1_ai`).

use super::LotKey;
use super::gs1_ai;
use super::gtin::Gtin;
use super::lot_code::{LotCode, PATH_SEGMENT, is_cset82};
use percent_encoding::{percent_decode_str, utf8_percent_encode};

/// A parsed Digital Link: the primary key (GTIN), its key qualifiers and the query's data attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalLink {
    pub gtin: Gtin,
    pub lot: Option<LotCode>,
    pub serial: Option<String>,
    /// (22) consumer product variant.
    pub cpv: Option<String>,
    /// (235) third-party controlled, serialised extension of the GTIN.
    pub tpx: Option<String>,
    /// Query parameters in their order, decoded (`linkType`, AI data attributes such as `17`).
    pub query: Vec<(String, String)>,
}

/// Decodes one path segment; refuses bad escapes, NUL, invalid UTF-8 and characters outside set 82.
fn decode(segment: &str, what: &str) -> Result<String, String> {
    if segment.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    // Every % must start an escape of two hex digits (percent_decode_str would pass it through).
    let escapes_ok = segment
        .split('%')
        .skip(1)
        .all(|after| after.len() >= 2 && after.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
    if !escapes_ok {
        return Err(format!(
            "the {what} {segment:?} has a malformed percent-escape"
        ));
    }
    let bytes: Vec<u8> = percent_decode_str(segment).collect();
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the {what} is not valid UTF-8 once decoded"))?;
    if let Some(bad) = text.chars().find(|c| !is_cset82(*c)) {
        return Err(format!(
            "the {what} {text:?} contains {bad:?}, which is outside the GS1 character set 82"
        ));
    }
    Ok(text)
}

impl DigitalLink {
    /// Parses the path (and optional query) of a request. An optional stem may come before `/01/`;
    /// one trailing slash is tolerated; qualifiers must come in the order 10 then 21.
    pub fn parse(path: &str, query: Option<&str>) -> Result<Self, String> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let start = segments
            .iter()
            .position(|s| *s == "01")
            .ok_or("a GS1 Digital Link path contains /01/ followed by a GTIN")?;
        if segments[..start].iter().any(|s| s.is_empty()) {
            return Err("the path stem has an empty segment".into());
        }
        let rest = &segments[start..];
        if !rest.len().is_multiple_of(2) {
            return Err("every application identifier in the path needs a value: /01/{gtin}/10/{lot}/21/{serial}".into());
        }
        let gtin_text = rest[1];
        if gtin_text.is_empty() {
            return Err("the GTIN is empty".into());
        }
        if !gtin_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the GTIN {gtin_text:?} must be digits only"));
        }
        let gtin = Gtin::parse_any_length(gtin_text)?;
        let mut link = Self {
            gtin,
            lot: None,
            serial: None,
            cpv: None,
            tpx: None,
            query: Vec::new(),
        };
        let sequences = gs1_ai::qualifiers_of("01");
        // Where each qualifier given stands in each allowed sequence: the path must follow one.
        let mut positions: Vec<Vec<Option<usize>>> = vec![Vec::new(); sequences.len()];
        for pair in rest[2..].chunks(2) {
            let (ai, value) = (pair[0], pair[1]);
            if ai.is_empty() {
                return Err("the path has an empty segment".into());
            }
            if !sequences.iter().flatten().any(|q| q == ai) {
                return Err(format!(
                    "application identifier ({ai}) is not a key qualifier of a GTIN; use (22) variant, (10) lot, (21) serial or (235) extension"
                ));
            }
            for (seq, at) in sequences.iter().zip(positions.iter_mut()) {
                at.push(seq.iter().position(|q| q == ai));
            }
            let long = |what: &str, max: usize| -> Result<String, String> {
                let text = decode(value, what)?;
                if text.chars().count() > max {
                    return Err(format!(
                        "the {what} {text:?} is longer than {max} characters"
                    ));
                }
                Ok(text)
            };
            match ai {
                "10" => link.lot = Some(LotCode::parse(&decode(value, "lot")?)?),
                "21" => link.serial = Some(long("serial", 20)?),
                "22" => link.cpv = Some(long("variant (22)", 20)?),
                _ => link.tpx = Some(long("extension (235)", 28)?),
            }
        }
        let in_order = positions
            .iter()
            .any(|at| at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]));
        if !in_order {
            return Err(
                "key qualifiers must come in the order (22) variant, (10) lot, (21) serial, each once, or (235) extension alone"
                    .into(),
            );
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode_query = |s: &str| {
                let plus_as_space = s.replace('+', " ");
                percent_decode_str(&plus_as_space)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| format!("the query parameter {key:?} is not valid UTF-8"))
            };
            let (key, value) = (decode_query(key)?, decode_query(value)?);
            if key.contains('\0') || value.contains('\0') {
                return Err("the query string contains a NUL character".into());
            }
            // A key of digits is an application identifier: a data attribute in its format.
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
                gs1_ai::check_data_attribute("01", &key, &value)?;
            }
            link.query.push((key, value));
        }
        Ok(link)
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The canonical URI at `origin` (no trailing slash; `""` for the path alone), without the
    /// query: whatever stem or trailing slash the request had is gone.
    pub fn uri(&self, origin: &str) -> String {
        let mut uri = format!("{origin}/01/{}", self.gtin);
        if let Some(cpv) = &self.cpv {
            uri.push_str(&format!("/22/{}", path_segment(cpv)));
        }
        if let Some(lot) = &self.lot {
            uri.push_str(&format!("/10/{}", path_segment(lot.as_str())));
        }
        if let Some(serial) = &self.serial {
            uri.push_str(&format!("/21/{}", path_segment(serial)));
        }
        if let Some(tpx) = &self.tpx {
            uri.push_str(&format!("/235/{}", path_segment(tpx)));
        }
        uri
    }

    /// The lot this link resolves to, when the lot table can know it: a (10) lot with no (22)
    /// variant (the table holds lots of a GTIN, not of a variant); a (21) serial walks up to its
    /// lot. `None` walks up to the GTIN.
    pub fn resolvable_lot(&self) -> Option<&LotCode> {
        self.lot.as_ref().filter(|_| self.cpv.is_none())
    }

    /// The `linkType` asked for, as a `gs1:` CURIE whatever namespace it was written in
    /// (`https://gs1.org/voc/pip`, `https://ref.gs1.org/voc/pip`); `all` is `linkset`.
    pub fn link_type(&self) -> Option<String> {
        let asked = self.param("linkType")?;
        for namespace in [
            "https://gs1.org/voc/",
            "https://ref.gs1.org/voc/",
            "https://www.gs1.org/voc/",
            "http://gs1.org/voc/",
        ] {
            if let Some(term) = asked.strip_prefix(namespace) {
                return Some(format!("gs1:{term}"));
            }
        }
        Some(if asked == "all" {
            "linkset".into()
        } else {
            asked.to_owned()
        })
    }
}

/// A lot as a person names it: `GTIN/LOT` (such as `04712345000015/PADDY-2611-A`) or the lot's
/// Digital Link (a URL or path holding `/01/{gtin}/10/{lot}`).
pub fn parse_lot_reference(text: &str) -> Result<LotKey, String> {
    let text = text.trim();
    let problem =
        |e: String| format!("{text:?} is not a lot: {e}; write GTIN/LOT or the lot's Digital Link");
    if let Some(at) = text.find("/01/") {
        let link = DigitalLink::parse(&text[at..], None).map_err(problem)?;
        let lot = link
            .lot
            .ok_or_else(|| problem("the link names no lot (/10/...)".into()))?;
        return Ok(LotKey {
            gtin: link.gtin,
            lot,
        });
    }
    let (gtin, lot) = text
        .split_once('/')
        .ok_or_else(|| problem("there is no / between the GTIN and the lot".into()))?;
    LotKey::parse(gtin, lot).map_err(problem)
}

/// A value (lot code, serial) as one percent-encoded path segment of a Digital Link.
pub fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// The Digital Link URI of a lot at `origin` (no trailing slash; `""` for a same-site link).
pub fn lot_uri(origin: &str, gtin: &Gtin, lot: &LotCode) -> String {
    format!("{origin}{}", lot_path(gtin.as_str(), lot.as_str()))
}

/// The canonical Digital Link path of a lot, `/01/{gtin}/10/{lot}` with the lot percent-encoded:
/// the one place that builds it. Every link on a page is built from it (never from the request's
/// path, which may carry a crafted stem), so a cached page is the same whatever path rendered it.
/// `gtin` and `lot` are a stored lot's (valid when stored).
pub fn lot_path(gtin: &str, lot: &str) -> String {
    format!("/01/{gtin}/10/{}", path_segment(lot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_lot_is_named_by_gtin_and_code_or_by_its_link() {
        let plain = parse_lot_reference("04712345000015/PADDY-2611-A").unwrap();
        assert_eq!(plain.lot.as_str(), "PADDY-2611-A");
        let link =
            parse_lot_reference(" https://tt.example/01/04712345000015/10/PADDY%2F2 ").unwrap();
        assert_eq!(link.lot.as_str(), "PADDY/2");
        assert!(
            parse_lot_reference("04712345000015")
                .unwrap_err()
                .contains("no /")
        );
        assert!(
            parse_lot_reference("04712345000016/A")
                .unwrap_err()
                .contains("not a lot")
        );
        let no_lot = parse_lot_reference("https://tt.example/01/04712345000015").unwrap_err();
        assert!(no_lot.contains("no lot"));
    }

    fn parse(path: &str) -> Result<DigitalLink, String> {
        DigitalLink::parse(path, None)
    }

    #[test]
    fn parses_keys_qualifiers_stems_and_queries() {
        let link = DigitalLink::parse(
            "/01/04712345000022/10/RICE-2611-01",
            Some("linkType=gs1:pip&17=261231"),
        )
        .unwrap();
        assert_eq!(link.gtin.as_str(), "04712345000022");
        assert_eq!(link.lot.as_ref().unwrap().as_str(), "RICE-2611-01");
        assert_eq!(link.param("linkType"), Some("gs1:pip"));
        assert_eq!(link.param("17"), Some("261231"));
        let link = parse("/shop/products/01/4712345000022/10/A%2FB/21/S1/").unwrap();
        assert_eq!(link.gtin.as_str(), "04712345000022", "GTIN-13 padded to 14");
        assert_eq!(link.lot.unwrap().as_str(), "A/B");
        assert_eq!(link.serial.as_deref(), Some("S1"));
        assert!(parse("/01/95012346").is_ok(), "GTIN-8");
        assert!(parse("/01/012345678905").is_ok(), "GTIN-12");
    }

    #[test]
    fn refuses_malformed_links_with_a_reason() {
        for (path, part) in [
            ("/01/04712345000023/10/A", "check digit"),
            ("/01/0471234500002X", "digits only"),
            ("/01/04712345000022/10/ABCDEFGHIJKLMNOPQRSTU", "at most 20"),
            ("/01/04712345000022/10/A%20B", "character set 82"),
            ("/01/04712345000022/10/A%00", "character set 82"),
            ("/01/04712345000022/21/S/10/A", "order"),
            ("/01/04712345000022/10/A/10/B", "order"),
            ("/01/04712345000022/10", "needs a value"),
            ("/01/04712345000022/10/", "needs a value"),
            ("/01//10/A", "empty"),
            ("/x//01/04712345000022", "empty segment"),
            ("/01/04712345000022/10/%E2%28", "UTF-8"),
            ("/01/04712345000022/10/A%2", "percent-escape"),
            ("/01/04712345000022/17/261231", "key qualifier"),
            ("/products/123", "/01/"),
        ] {
            let err = parse(path).unwrap_err();
            assert!(err.contains(part), "{path}: {err}");
        }
        assert!(DigitalLink::parse("/01/04712345000022", Some("a=%00")).is_err());
    }

    #[test]
    fn every_key_qualifier_of_a_gtin_parses_and_walks_up() {
        let full = parse("/01/04712345000022/22/V1/10/L1/21/S1").unwrap();
        assert_eq!(full.cpv.as_deref(), Some("V1"));
        assert_eq!(full.serial.as_deref(), Some("S1"));
        assert_eq!(
            full.resolvable_lot(),
            None,
            "a variant's lot walks up to the GTIN"
        );
        assert_eq!(full.uri(""), "/01/04712345000022/22/V1/10/L1/21/S1");
        let tpx = parse("/01/04712345000022/235/TPX-0001-ABCDEFGHIJKLMNOP").unwrap();
        assert!(tpx.tpx.is_some() && tpx.resolvable_lot().is_none());
        let serial = parse("/01/04712345000022/10/L1/21/S1/").unwrap();
        assert_eq!(serial.resolvable_lot().unwrap().as_str(), "L1");
        assert!(parse("/01/04712345000022/22/V1").unwrap().lot.is_none());
        for (path, part) in [
            ("/01/04712345000022/10/L1/22/V1", "order"),
            ("/01/04712345000022/22/V1/235/T", "order"),
            ("/01/04712345000022/235/T/21/S", "order"),
            (
                "/01/04712345000022/22/ABCDEFGHIJKLMNOPQRSTU",
                "longer than 20",
            ),
            (
                "/01/04712345000022/235/ABCDEFGHIJKLMNOPQRSTUVWXYZ123",
                "longer than 28",
            ),
            ("/01/04712345000022/254/X", "not a key qualifier"),
            ("/01/04712345000022/10/L1/foo", "needs a value"),
        ] {
            let err = parse(path).unwrap_err();
            assert!(err.contains(part), "{path}: {err}");
        }
    }

    #[test]
    fn query_data_attributes_are_checked_and_link_types_normalised() {
        let ok = DigitalLink::parse(
            "/01/04712345000022",
            Some("17=261231&linkType=https%3A%2F%2Fref.gs1.org%2Fvoc%2Fpip&foo=bar"),
        )
        .unwrap();
        assert_eq!(ok.link_type().as_deref(), Some("gs1:pip"));
        let all = DigitalLink::parse("/01/04712345000022", Some("linkType=all")).unwrap();
        assert_eq!(all.link_type().as_deref(), Some("linkset"));
        for (query, part) in [
            ("17=261399", "not a date"),
            ("17=261231X", "too long"),
            ("99=", "empty"),
            ("01=04712345000022", "primary key"),
            ("10=L1", "key qualifier"),
            ("7=1", "not a GS1 Application Identifier"),
        ] {
            let err = DigitalLink::parse("/01/04712345000022", Some(query)).unwrap_err();
            assert!(err.contains(part), "{query}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_valid_lot_round_trips_through_the_uri(lot in "[A-Za-z0-9!\"%&'()*+,./:;<=>?_-]{1,20}".prop_filter("dot segments are not lot codes", |s| s != "." && s != "..")) {
            let gtin = Gtin::parse("04712345000022").unwrap();
            let code = LotCode::parse(&lot).unwrap();
            let uri = lot_uri("", &gtin, &code);
            let back = parse(&uri).unwrap();
            let back_lot = back.lot.unwrap();
            prop_assert_eq!(back_lot.as_str(), lot.as_str());
            prop_assert_eq!(back.gtin, gtin);
        }
    }

    #[test]
    fn the_canonical_uri_drops_any_stem() {
        for path in [
            "/01/04712345000022/10/RICE-2611-01",
            "/\\evil.example/01/04712345000022/10/RICE-2611-01",
            "/shop/01/4712345000022/10/RICE-2611-01/",
        ] {
            assert_eq!(
                parse(path).unwrap().uri(""),
                "/01/04712345000022/10/RICE-2611-01",
                "{path}"
            );
        }
    }
}
