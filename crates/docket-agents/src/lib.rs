//! Everything that runs an agent: process supervision (process groups, a minimal
//! environment, timeouts, cancellation), the `exec` agent's commands, the Claude Code
//! and Codex CLIs and docket's own `api` agent behind the recording gateway, the model
//! client and the `api` agent's file tools, and the IaC fixer with its model planner.
//! Knows nothing about the ledger's schema beyond what it is handed, nor about runs,
//! policy decisions or publishing.

use std::path::PathBuf;

pub mod api_agent;
pub mod fixer;
pub mod model_agent;
pub mod model_client;
pub mod model_planner;
pub mod process;
pub mod tools;

/// Why an agent could not be run: docket's own failures, never the agent's result
/// (a failing or timed-out agent is a [`process::CommandOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(String),
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] process::ProcessError),
}
