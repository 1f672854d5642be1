//! docket's domain, free of IO: tickets, the `docket.toml` configuration, repository
//! path rules, secret detection and the run record (the versioned shape of a run's
//! evidence, shared by the pipeline, the agents and the evidence an auditor reads). Callers read files and pass text in; this crate
//! returns values and typed errors.

pub mod ai_markers;
pub mod config;
pub mod intake;
pub mod paths;
pub mod record;
pub mod secrets;
pub mod ticket;
