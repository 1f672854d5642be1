//! The engine's handle and what a caller asks of a run: the ledger evidence goes
//! into, DOCKET_HOME for checkouts and per-run files, the run's options and report.

use std::path::PathBuf;
use std::sync::Arc;

use docket_core::record::RunRecord;
use docket_ledger::Ledger;

/// The engine: the ledger evidence goes into, and DOCKET_HOME for worktrees and
/// per-run files.
pub struct Engine {
    pub ledger: Arc<Ledger>,
    pub home: PathBuf,
}

/// What `docket run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Any directory inside the governed repository.
    pub repo: PathBuf,
    /// A ticket file path, or a ticket id from the configured tickets folder.
    pub ticket: String,
    pub initiator: Option<String>,
    pub keep_worktree: bool,
    pub push: Option<String>,
    /// The base ref to govern from; default: the one the committed configuration names.
    pub base: Option<String>,
}

#[derive(Debug)]
pub struct RunReport {
    pub record: RunRecord,
    pub review_path: Option<PathBuf>,
    pub kept_worktree: Option<PathBuf>,
}
