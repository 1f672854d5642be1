//! What docket runs and what it reports back: the command spec with its stdin, and the
//! outcome of one command. Plain values; running them is `supervise`'s job.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Bytes of command output kept per stream.
pub const OUTPUT_LIMIT: usize = 16 << 20;

/// What the child reads on stdin.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum StdinSpec {
    /// `/dev/null`: the child sees end of file at once.
    #[default]
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
}

impl fmt::Debug for StdinSpec {
    // The bytes may be ticket text or a prompt; logs get the length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// One command to run. See the module docs for the contract on `argv` and `env`.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// Program and arguments, passed to the program as they are; no shell.
    pub argv: Vec<String>,
    /// Working directory of the child.
    pub cwd: PathBuf,
    /// The complete environment of the child; nothing else is inherited.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit, measured from the start of the child.
    pub timeout: Duration,
    /// What the child reads on stdin.
    pub stdin: StdinSpec,
    /// Maximum bytes kept per stream (stdout and stderr separately).
    pub output_limit: usize,
}

impl fmt::Debug for CommandSpec {
    // Environment values can be credentials (passed-through API keys); show names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("CommandSpec")
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field("env", &env_names)
            .field("timeout", &self.timeout)
            .field("stdin", &self.stdin)
            .field("output_limit", &self.output_limit)
            .finish()
    }
}

/// What happened when a command ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The argv that was run, as given.
    pub argv: Vec<String>,
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number, when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Docket stopped the command because it ran past its timeout.
    pub timed_out: bool,
    /// Docket stopped the command (or never started it) because the run was cancelled.
    pub cancelled: bool,
    /// Wall-clock time from start until docket finished supervising the command.
    pub duration: Duration,
    /// The first `output_limit` bytes of stdout.
    pub stdout: Vec<u8>,
    /// The first `output_limit` bytes of stderr.
    pub stderr: Vec<u8>,
    /// Stdout was longer than `output_limit` (or could not be read to its end).
    pub stdout_truncated: bool,
    /// Stderr was longer than `output_limit` (or could not be read to its end).
    pub stderr_truncated: bool,
}

impl CommandOutcome {
    /// The command exited with code 0 and docket did not have to stop it.
    ///
    /// A command that traps SIGTERM and exits 0 after a timeout still failed.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }
}
