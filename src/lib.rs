//! truetrace: farm-to-shelf traceability. Ed25519-signed, SHA-256 hash-chained records of what
//! happened to a lot, behind GS1 Digital Link QR codes. See README.md, docs/ and, for how the
//! parts fit together, docs/architecture.md.

pub mod accounts;
pub mod cli;
pub mod db;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod http;
pub mod ledger;
pub mod omo;
pub mod random;
pub mod settings;
pub mod startup;
pub mod trace;
