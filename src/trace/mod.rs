//! The read side of provenance: a lot's chain and its upstream through transforms (`lineage`), the
//! consumer's view of it with every record verified (`provenance`), the closure of a lot forward
//! or backward with the stores holding it (`closure`), the parties and places records name with
//! their master data (`directory`), and the EPCIS 2.0 export (`epcis`).
//! Nothing here knows HTTP.

pub mod closure;
pub mod directory;
pub mod epcis;
pub mod fsma;
pub mod lineage;
pub mod provenance;
