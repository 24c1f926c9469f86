//! The only part that knows actix-web: the route table, the JSON API under /api/v1 (`api`), the
//! server-rendered pages and the Digital Link resolver (`pages`), the request and response bodies
//! (`bodies`), the page templates (`templates`) and the middleware every answer goes through.

pub mod api;
pub mod error;
pub mod middleware;
pub mod page_cache;
pub mod pages;
pub mod routes;
pub mod server;
pub mod session;
pub mod state;
