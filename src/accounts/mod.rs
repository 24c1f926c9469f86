//! Who may do what: organizations, their keys and products (`registry`), the admin token
//! (`admin_token`), staff accounts and their sessions (`staff`), the login throttle (`throttle`),
//! the signing keys the platform holds for organizations (`hosted_keys`) and the keys staff
//! members' browsers hold (`devices`).

pub mod admin_token;
pub mod api_tokens;
pub mod devices;
pub mod hosted_keys;
pub mod registry;
pub mod staff;
pub mod throttle;
