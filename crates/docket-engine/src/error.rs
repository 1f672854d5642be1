//! The engine's error: docket's own failures while running the pipeline. A blocked,
//! failed or cancelled run is not an error; it is a run record with that outcome.

use std::path::{Path, PathBuf};

use docket_git::GitError;
use docket_ledger::LedgerError;

use docket_agents::process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Ticket(#[from] docket_core::ticket::TicketError),
    #[error("no ticket `{id}` in {}: pass a ticket file path, or one of the ids `docket intake` lists", dir.display())]
    TicketNotFound { id: String, dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Agent(#[from] docket_agents::AgentError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot tell who starts this run: pass --as EMAIL or set git config user.email")]
    NoInitiator,
    #[error("invalid repository rules in docket.toml: {0}")]
    Rules(#[from] docket_core::paths::PathRuleError),
}

/// Maps an IO error on `path` to [`EngineError::Io`], naming the path.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_owned(),
        source,
    }
}
