//! Black-box tests of the HTTP API and the CLI: the real server on a random port, on SQLite and,
//! when TRUETRACE_TEST_POSTGRES_URL is set, on PostgreSQL too.
#![expect(
    clippy::unwrap_used,
    reason = "helpers and worker threads of tests fail loudly"
)]

mod admin;
mod batch;
mod browser;
mod chrome;
mod cli;
mod concurrency;
mod consumer;
mod consumer_browser;
mod devices;
mod epcis_import;
mod field_browser;
mod hardening;
mod helpers;
mod integrity;
mod lots;
mod master_data;
mod omo;
mod openapi;
mod other_language;
mod pages;
mod recall;
mod records;
mod resolver;
mod snapshots;
#[path = "../support/spawn.rs"]
mod spawn;
mod standards;
mod tlog;
mod tlog_browser;
mod trace;
