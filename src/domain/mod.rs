//! Validated domain types. Each exists only when valid ("parse, don't validate"):
//! no diesel, no actix, no I/O.

pub mod check_digit;
pub mod digital_link;
pub mod epcis;
pub mod event;
pub mod gln;
pub mod gs1_ai;
pub mod gtin;
pub mod ip_block;
pub mod lot_code;
pub mod org;
pub mod quantity;
pub mod record_id;
pub mod site_path;
pub mod text;
pub mod time;

pub use event::EventType;
pub use gln::Gln;
pub use gtin::Gtin;
pub use lot_code::LotCode;
pub use org::{OrgId, Role, Roles};
pub use quantity::Quantity;
pub use record_id::RecordId;

/// A lot: the GS1 pair (GTIN, batch/lot code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LotKey {
    pub gtin: Gtin,
    pub lot: LotCode,
}

impl LotKey {
    pub fn parse(gtin: &str, lot: &str) -> Result<Self, String> {
        Ok(Self {
            gtin: Gtin::parse(gtin)?,
            lot: LotCode::parse(lot)?,
        })
    }
}

impl std::fmt::Display for LotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(01){}(10){}", self.gtin, self.lot)
    }
}
