//! The record's event types: FSMA 204 critical tracking events plus retail and note events.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Harvest,
    Cool,
    Pack,
    Transform,
    Ship,
    Receive,
    Store,
    Sell,
    Dispose,
    Note,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        Self::Harvest,
        Self::Cool,
        Self::Pack,
        Self::Transform,
        Self::Ship,
        Self::Receive,
        Self::Store,
        Self::Sell,
        Self::Dispose,
        Self::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Harvest => "harvest",
            Self::Cool => "cool",
            Self::Pack => "pack",
            Self::Transform => "transform",
            Self::Ship => "ship",
            Self::Receive => "receive",
            Self::Store => "store",
            Self::Sell => "sell",
            Self::Dispose => "dispose",
            Self::Note => "note",
        }
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
                format!("unknown event {s:?}; expected one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
