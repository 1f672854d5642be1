//! docket's domain, free of IO: tickets, the `docket.toml` configuration, repository
//! path rules and secret detection. Callers read files and pass text in; this crate
//! returns values and typed errors.

pub mod ai_markers;
pub mod config;
pub mod intake;
pub mod paths;
pub mod secrets;
pub mod ticket;
