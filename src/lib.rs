//! truetrace: farm-to-shelf traceability. Ed25519-signed, SHA-256 hash-chained records of what
//! happened to a lot, behind GS1 Digital Link QR codes. See README.md and docs/.

pub mod accounts;
pub mod activity;
pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod domain;
pub mod envelope;
pub mod epcis;
pub mod error;
pub mod hosted;
pub mod keyfile;
pub mod ledger;
pub mod pages;
pub mod pickup;
pub mod provenance;
pub mod record;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod stock;
pub mod trace;
