//! Server-rendered pages and the GS1 Digital Link resolver.

pub mod lang;
pub mod qr;
pub mod resolver;
