//! Runs one external command (an agent or a validation command) under docket's
//! supervision and reports what happened: exit status, captured output, timing, and
//! whether docket had to stop it.
//!
//! # Contract
//!
//! - **No shell, no interpolation.** [`run_command`] executes `argv` exactly as given:
//!   `argv[0]` is the program, the rest are its arguments, and nothing is parsed, split,
//!   expanded or quoted. This module never builds argv from ticket text or any other
//!   untrusted data; callers must not either. Untrusted text reaches a command only
//!   through stdin ([`StdinSpec::Bytes`]) or files, never through argv or a shell string.
//! - **The environment is complete.** The child starts from an empty environment and
//!   gets exactly [`CommandSpec::env`]. Use [`minimal_env`] to build one that passes on
//!   only what the command needs.
//! - **Program lookup uses the child's PATH.** A bare `argv[0]` is looked up in the
//!   `PATH` of [`CommandSpec::env`], skipping relative entries (`.`, empty, `bin`), because
//!   those would resolve inside the worktree that the agent controls. A `argv[0]` with a
//!   `/` is used as a path, relative to [`CommandSpec::cwd`].
//! - **The whole process group is supervised.** The child leads its own process group.
//!   On timeout or cancellation the group gets SIGTERM, then SIGKILL after a grace
//!   period of two seconds. When the leader exits on its own, whatever it left running
//!   in its group is killed at once: a background process that outlives the command
//!   could keep changing the worktree after docket has recorded its evidence.
//! - **Output is bounded.** Each stream keeps its first [`CommandSpec::output_limit`]
//!   bytes; the rest is read and discarded so the child never blocks on a full pipe.
//!
//! # Limits
//!
//! A process that leaves the group (`setsid`, double fork into a new group) escapes
//! process-group signals; containing those needs cgroups or namespaces, which this
//! module does not use. If such a process keeps stdout or stderr open, docket stops
//! reading after a short drain window instead of waiting for it.
//!
//! # Layout
//!
//! `spec` holds the values (what to run, what happened), `env` builds the minimal
//! environment, `spawn` starts the child in its own process group, `group` signals
//! that group, `output` feeds stdin and reads the capped output, and `supervise` runs
//! one command to its end under its timeout and cancellation. Each uses its siblings
//! directly, never this module's re-exports, so the modules form no circle.

mod env;
mod error;
mod group;
mod output;
mod spawn;
mod spec;
mod supervise;
#[cfg(test)]
mod tests;

pub use env::minimal_env;
pub use error::ProcessError;
pub use spec::{CommandOutcome, CommandSpec, OUTPUT_LIMIT, StdinSpec};
pub use supervise::{cancel_channel, run_command};
