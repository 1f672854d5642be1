//! Everything that runs an agent: process supervision (process groups, a minimal
//! environment, timeouts, cancellation), the `exec` agent's commands, the Claude Code
//! and Codex CLIs and docket's own `api` agent behind the recording gateway, the model
//! client and the `api` agent's file tools, and the IaC fixer with its model planner.
//! Knows nothing about the ledger's schema beyond what it is handed, nor about runs,
//! policy decisions or publishing.

// The public modules are what docket-engine and docket-cli use. The `api` agent's
// loop, its file tools and the fixer's model planner are reached only through
// `model_agent`, so they stay private to this crate.
mod api_agent;
mod error;
pub mod fixer;
pub mod model_agent;
pub mod model_client;
mod model_planner;
pub mod process;
mod tools;

pub use error::AgentError;
