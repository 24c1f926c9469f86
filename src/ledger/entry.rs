//! An entry of the global log: a record on lots' chains, or a recall notice. The envelope's
//! payloadType says which, and the signature covers it.

use super::envelope::PayloadType;
use super::recall::Notice;
use super::record::{Invalid, Record};
use crate::domain::LotKey;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Record(Record),
    Recall(Notice),
}

impl Entry {
    /// Stage two of parsing (fields and limits), by payload type.
    pub fn from_value(payload_type: PayloadType, value: Value) -> Result<Self, Invalid> {
        match payload_type {
            PayloadType::Record => Record::from_value(value).map(Self::Record),
            PayloadType::Recall => Notice::from_value(value).map(Self::Recall),
        }
    }

    /// Every lot the entry names.
    pub fn lots(&self) -> Vec<&LotKey> {
        match self {
            Self::Record(record) => record
                .lots
                .iter()
                .map(|l| &l.key)
                .chain(record.new_lots.iter().map(|l| &l.key))
                .collect(),
            Self::Recall(notice) => notice.lots.iter().collect(),
        }
    }
}
