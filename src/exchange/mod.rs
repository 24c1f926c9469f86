//! Standard documents coming in: EPCIS 2.0 mapped to records (`epcis`), and the capture of a
//! partner's document, signed with its organization's hosted key and submitted as a batch
//! (`capture`). Nothing here knows HTTP.

pub mod capture;
pub mod epcis;
