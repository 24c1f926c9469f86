//! The only part that knows actix-web: the route table, the JSON API under /api/v1 (`api`, with
//! its request and response bodies), the server-rendered pages and the Digital Link resolver
//! (`pages`, with their template structs), the shared state, sessions, the client's address, and
//! the middleware every answer goes through.

pub mod api;
pub mod client_addr;
pub mod error;
pub mod middleware;
pub mod page_cache;
pub mod pages;
pub mod routes;
pub mod server;
pub mod session;
pub mod state;
