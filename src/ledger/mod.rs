//! The ledger: the chain, custody, role and time rules (pure, in `rules`), the database view and
//! append (in `store`), the group-commit ingest pipeline (in `ingest`) and the whole-store
//! verification (in `audit`); `strict_json` reads signed JSON so that it has one meaning. The log
//! holds records and recall notices (`entry`, `recall`).

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod entry;
pub mod envelope;
pub mod ingest;
pub mod keyfile;
pub mod merkle;
pub mod recall;
pub mod record;
pub mod rules;
pub mod store;
pub mod strict_json;
pub mod tiles;
pub mod tlog;

pub use ingest::Ledger;
pub use store::Submitted;
