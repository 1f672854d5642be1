//! The run pipeline: a ticket through intake, authorisation, an isolated checkout, the
//! agent with repairs, the diff, repository rules, validation, governance checks, the
//! publish decision and publishing, with each stage's evidence in the ledger; the
//! governance inputs of every decision, held runs, the review body and replay.

mod decision;
mod engine;
mod error;
pub mod governance;
mod governed;
pub mod held;
mod recorder;
pub mod replay;
pub mod review;
pub mod rules;
pub mod run;
mod wire_policy;

pub use error::EngineError;
