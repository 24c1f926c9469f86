//! The read side of provenance: a lot's chain and its upstream through transforms (`lineage`), the
//! consumer's view of it with every record verified (`provenance`), the closure of a lot forward
//! or backward with the stores holding it (`closure`), the recalls covering a lot and what stores
//! must pull (`recall`), the parties and places records name with their master data
//! (`directory`), the EPCIS 2.0 export (`epcis`), and the provenance bundle an auditor or a
//! browser checks offline (`bundle`).
//! Nothing here knows HTTP.

pub mod bundle;
pub mod closure;
pub mod directory;
pub mod epcis;
pub mod fsma;
pub mod lineage;
pub mod provenance;
pub mod recall;
