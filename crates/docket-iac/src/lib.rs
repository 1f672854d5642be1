//! docket's infrastructure-as-code engine for Terraform.
//!
//! The edges hand this crate the text of a workspace's `.tf` files as a
//! [`source::SourceSet`]; it returns findings, edits and plans as values. It never
//! reads or writes files, runs commands or talks to a network.

pub mod catalog;
pub mod custom;
mod edit;
pub mod eval;
pub mod fix;
mod hit;
pub mod model;
pub mod plan;
pub mod render;
mod rule;
pub mod sarif;
pub mod scan;
pub mod source;

use thiserror::Error;

/// Errors of the IaC engine. Each names the file, rule or parameter involved.
#[derive(Debug, Clone, Error)]
pub enum IacError {
    #[error("rule {id}: {message}")]
    Rule { id: String, message: String },
}
