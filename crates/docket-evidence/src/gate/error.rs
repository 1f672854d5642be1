//! What can stop the gate: git failing, an invalid policy file or keys file.

use std::path::PathBuf;

use docket_git::GitError;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("invalid gate policy {}: {reason}", .path.display())]
    Policy { path: PathBuf, reason: String },
    #[error("invalid key in {source_name} line {line}: {reason}")]
    KeysFile {
        source_name: String,
        line: usize,
        reason: String,
    },
}
