//! EPCIS 2.0 and CBV 2.0 terms that truetrace speaks, both ways: the business step and disposition
//! of each event, and the GS1 identifiers of lots, parties and places (Digital Link URIs and the
//! EPC URNs of the official examples). The export writes these; the import reads them back.

use super::check_digit::gs1_check_digit;
use super::digital_link::{DigitalLink, lot_uri};
use super::{EventType, Gln, Gtin, LotCode, LotKey};

/// The GS1 resolver root used for identifiers, so they mean the same everywhere.
pub const ID_ROOT: &str = "https://id.gs1.org";
/// The official EPCIS 2.0 JSON-LD context.
pub const CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// truetrace's own terms (record id, event name, key data elements without a standard term):
/// one stable namespace, the same on every deployment.
pub const NAMESPACE: &str = "https://truetrace.dev/ns/epcis/v1#";
/// The prefix bound to `NAMESPACE` in the documents truetrace writes.
pub const PREFIX: &str = "tt";
/// The key data element that names the EPCIS event a record is (its eventID): an organization
/// records each event once, so importing a document again answers the records already stored.
pub const EVENT_ID_KDE: &str = "epcis_event_id";

/// The CBV business step and disposition an event is exported with.
pub fn biz_step(event: EventType, has_temperature: bool) -> (&'static str, &'static str) {
    match event {
        EventType::Harvest => ("commissioning", "active"),
        EventType::Cool => ("holding", "in_progress"),
        EventType::Pack => ("packing", "in_progress"),
        EventType::Transform => ("commissioning", "in_progress"),
        EventType::Ship => ("shipping", "in_transit"),
        EventType::Receive => ("receiving", "in_progress"),
        EventType::Store => ("storing", "sellable_accessible"),
        EventType::Sell => ("retail_selling", "retail_sold"),
        EventType::Dispose => ("destroying", "destroyed"),
        EventType::Note if has_temperature => ("sensor_reporting", "in_progress"),
        EventType::Note => ("other", "in_progress"),
    }
}

/// CBV business steps that observe lots without moving, making or ending them: a truetrace
/// `note` carries one in `kde.biz_step` (an import keeps the partner's step; the export writes
/// it back).
pub const NOTE_STEPS: [&str; 14] = [
    "accepting",
    "arriving",
    "cycle_counting",
    "departing",
    "inspecting",
    "loading",
    "other",
    "picking",
    "sampling",
    "sensor_reporting",
    "staging_outbound",
    "stock_taking",
    "transporting",
    "unloading",
];

/// A CBV business step as EPCIS documents write it: a bare term (`shipping`), the CBV 2.0 URI
/// (`https://ref.gs1.org/cbv/BizStep-shipping`) or the CBV 1.x URN
/// (`urn:epcglobal:cbv:bizstep:shipping`); answers the bare term.
pub fn cbv_term<'a>(value: &'a str, kind: &str) -> &'a str {
    let uri_prefix = format!("https://ref.gs1.org/cbv/{kind}-");
    let urn_prefix = format!("urn:epcglobal:cbv:{}:", kind.to_ascii_lowercase());
    value
        .strip_prefix(uri_prefix.as_str())
        .or_else(|| value.strip_prefix(urn_prefix.as_str()))
        .unwrap_or(value)
}

/// The CBV 2.0 business transaction types, for `reference_document_type`.
pub const BIZ_TRANSACTION_TYPES: [&str; 13] = [
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

/// The CBV business transaction type a reference document type names, if any: the CBV term
/// itself in any case, or a common English name (bill of lading, invoice, purchase order,
/// advance ship notice).
pub fn biz_transaction_type(document_type: &str) -> Option<&'static str> {
    let lower = document_type.trim().to_ascii_lowercase();
    let lower = lower
        .strip_prefix("https://ref.gs1.org/cbv/btt-")
        .or_else(|| lower.strip_prefix("urn:epcglobal:cbv:btt:"))
        .unwrap_or(&lower);
    if let Some(found) = BIZ_TRANSACTION_TYPES.iter().find(|t| **t == lower) {
        return Some(found);
    }
    match lower {
        "bill of lading" | "b/l" => Some("bol"),
        "invoice" => Some("inv"),
        "purchase order" => Some("po"),
        "asn"
        | "advance ship notice"
        | "advanced shipping notice"
        | "despatch advice"
        | "dispatch advice" => Some("desadv"),
        "receiving advice" => Some("recadv"),
        "production order" => Some("prodorder"),
        _ => None,
    }
}

/// The number a business transaction URI carries, if truetrace wrote it (or a CBV `bt` URN).
pub fn transaction_number(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("urn:epcglobal:cbv:bt:")
        .or_else(|| uri.strip_prefix("tag:truetrace.dev,2026:bt:"))?;
    let (_, number) = rest.rsplit_once(':')?;
    percent_encoding::percent_decode_str(number)
        .decode_utf8()
        .ok()
        .map(|n| n.into_owned())
}

/// A physical location's URI: GS1 Digital Link with AI 414.
pub fn location_uri(gln: &str) -> String {
    format!("{ID_ROOT}/414/{gln}")
}

/// A party's URI: GS1 Digital Link with AI 417 (party GLN).
pub fn party_uri(gln: &str) -> String {
    format!("{ID_ROOT}/417/{gln}")
}

/// A lot's class URI, as every event names it.
pub fn lot_class_uri(key: &LotKey) -> String {
    lot_uri(ID_ROOT, &key.gtin, &key.lot)
}

/// The GLN a location or party identifier names: Digital Link `/414/` or `/417/` on any host,
/// `urn:epc:id:sgln:` with extension 0 (or none), `urn:epc:id:pgln:`. None for anything else.
pub fn gln_of(uri: &str) -> Option<Gln> {
    if let Some(rest) = uri
        .strip_prefix("urn:epc:id:sgln:")
        .or_else(|| uri.strip_prefix("urn:epc:id:pgln:"))
    {
        let mut parts = rest.split('.');
        let (company, reference) = (parts.next()?, parts.next()?);
        let extension = parts.next();
        if parts.next().is_some() || extension.is_some_and(|e| e != "0") {
            return None;
        }
        let data = format!("{company}{reference}");
        if data.len() != 12 || !data.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: Vec<u8> = data.bytes().map(|b| b - b'0').collect();
        return Gln::parse(&format!("{data}{}", gs1_check_digit(&digits))).ok();
    }
    let path = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let path = &path[path.find('/')?..];
    let mut segments = path.split('/').skip(1);
    while let Some(segment) = segments.next() {
        if segment == "414" || segment == "417" {
            let gln = segments.next()?;
            // `/414/{gln}/254/{extension}` names a sub-location: not one GLN.
            if segments.next().is_some() {
                return None;
            }
            return Gln::parse(gln).ok();
        }
    }
    None
}

/// The lot a class identifier names: a Digital Link `/01/{gtin}/10/{lot}` on any host, or
/// `urn:epc:class:lgtin:{company}.{indicator+item}.{lot}`. None for anything else (an instance
/// EPC, a pattern, a class without a lot).
pub fn lot_of_class(uri: &str) -> Option<LotKey> {
    if let Some(rest) = uri.strip_prefix("urn:epc:class:lgtin:") {
        let mut parts = rest.splitn(3, '.');
        let (company, item, lot) = (parts.next()?, parts.next()?, parts.next()?);
        let (indicator, item) = item.split_at_checked(1)?;
        let data = format!("{indicator}{company}{item}");
        if data.len() != 13 || !data.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: Vec<u8> = data.bytes().map(|b| b - b'0').collect();
        let gtin = Gtin::parse(&format!("{data}{}", gs1_check_digit(&digits))).ok()?;
        let lot = percent_encoding::percent_decode_str(lot)
            .decode_utf8()
            .ok()?;
        return Some(LotKey {
            gtin,
            lot: LotCode::parse(&lot).ok()?,
        });
    }
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = &path[path.find('/')?..];
    let link = DigitalLink::parse(path, query).ok()?;
    if link.serial.is_some() {
        return None;
    }
    Some(LotKey {
        gtin: link.gtin,
        lot: link.lot?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glns_from_every_form() {
        let expected = Gln::parse("4012345002256").unwrap();
        for uri in [
            "urn:epc:id:pgln:4012345.00225",
            "urn:epc:id:sgln:4012345.00225.0",
            "https://id.gs1.org/414/4012345002256",
            "https://example.com/stem/417/4012345002256",
        ] {
            assert_eq!(gln_of(uri), Some(expected.clone()), "{uri}");
        }
        for uri in [
            "urn:epc:id:sgln:4012345.00225.7",
            "urn:epc:id:sgln:4012345.0022.0",
            "https://id.gs1.org/414/4012345002257",
            "https://id.gs1.org/414/4012345002256/254/7",
            "urn:uuid:01936f4e-0000-7000-8000-000000000001",
        ] {
            assert_eq!(gln_of(uri), None, "{uri}");
        }
        assert_eq!(
            gln_of(&location_uri("4712345000015")).unwrap().as_str(),
            "4712345000015"
        );
    }

    #[test]
    fn lots_from_class_identifiers() {
        let lot = lot_of_class("urn:epc:class:lgtin:4012345.011111.4444").unwrap();
        assert_eq!(lot.gtin.as_str(), "04012345111118");
        assert_eq!(lot.lot.as_str(), "4444");
        let lot = lot_of_class("https://id.gs1.org/01/70614141123451/10/998877").unwrap();
        assert_eq!(lot.gtin.as_str(), "70614141123451");
        assert_eq!(lot_of_class(&lot_class_uri(&lot)), Some(lot));
        for uri in [
            "urn:epc:idpat:sgtin:4012345.066666.*",
            "urn:epc:id:sgtin:4012345.011122.25",
            "https://id.gs1.org/01/70614141123451",
            "https://id.gs1.org/01/70614141123451/10/9988/21/1",
        ] {
            assert_eq!(lot_of_class(uri), None, "{uri}");
        }
    }

    #[test]
    fn cbv_terms_in_every_spelling() {
        assert_eq!(
            cbv_term("https://ref.gs1.org/cbv/BizStep-shipping", "BizStep"),
            "shipping"
        );
        assert_eq!(
            cbv_term("urn:epcglobal:cbv:bizstep:shipping", "BizStep"),
            "shipping"
        );
        assert_eq!(cbv_term("shipping", "BizStep"), "shipping");
        assert_eq!(biz_transaction_type("BOL"), Some("bol"));
        assert_eq!(biz_transaction_type("Purchase order"), Some("po"));
        assert_eq!(
            biz_transaction_type("urn:epcglobal:cbv:btt:inv"),
            Some("inv")
        );
        assert_eq!(
            biz_transaction_type("https://ref.gs1.org/cbv/BTT-desadv"),
            Some("desadv")
        );
        assert_eq!(biz_transaction_type("weighbridge ticket"), None);
    }
}
