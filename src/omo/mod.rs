//! Online merged with offline: what stores hold (`stock`), in-store pickup (`pickup`), the scans,
//! clicks and reservations counted per channel (`activity`), and the organizations' dashboards
//! over them (`dashboard`).

pub mod activity;
pub mod dashboard;
pub mod pickup;
pub mod stock;
