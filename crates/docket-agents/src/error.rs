//! Why an agent could not be run: docket's own failures (configuration, files,
//! process supervision), kept apart from what the agent did. Its own module so that the
//! agent modules and the crate root do not use each other.

use std::path::PathBuf;

use crate::process;

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
