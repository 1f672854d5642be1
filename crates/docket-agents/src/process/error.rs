//! Why docket could not run or supervise a command, as opposed to a command that ran
//! and failed.

use std::io;
use std::path::PathBuf;

/// Docket could not run or supervise the command. A command that ran and failed is
/// not an error: it is a [`CommandOutcome`](crate::process::CommandOutcome) whose
/// [`success`](crate::process::CommandOutcome::success) is false.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The command spec had an empty argv.
    #[error("cannot run a command with an empty argv; give at least the program name")]
    EmptyArgv,
    /// The program could not be started: not found, not executable, bad working
    /// directory, or an invalid environment.
    #[error("could not start `{program}` in {}: {source}", .cwd.display())]
    Spawn {
        /// `argv[0]` as given.
        program: String,
        /// The working directory the command was to run in.
        cwd: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Waiting for the started program failed; its process group has been killed.
    #[error("lost track of `{program}` while waiting for it to exit: {source}")]
    Wait {
        /// `argv[0]` as given.
        program: String,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}
