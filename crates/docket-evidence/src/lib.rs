//! What an auditor and CI use: the run attestation (in-toto in DSSE, kept as a git
//! note), audit packages with their HTML report and control mapping, and `docket gate`.
//! Reads the ledger and git; knows nothing about how a run is executed.

pub mod attest;
mod contents;
pub mod gate;
pub mod package;
pub mod report;
