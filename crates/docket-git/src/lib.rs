//! Owns every conversation with the `git` CLI: opening the user's repository, giving an
//! agent an isolated checkout, collecting what the agent changed, committing it, and
//! publishing it on a new branch; attestation notes and the range reads of the gate.
//! It knows nothing about runs, tickets or policy: callers hand it commits, trees,
//! names and bytes.
//!
//! Architecture invariants:
//! - Docket never touches the user's working tree, index, `HEAD` or current branch. New
//!   commits are written with `commit-tree` and branches with `update-ref`; nothing is
//!   ever checked out in the user's repository.
//! - Git runs with argv only (no shell), a scrubbed environment (no inherited `GIT_DIR`,
//!   `GIT_INDEX_FILE`, identity or config injection), no system config, no terminal
//!   prompts, the C locale, and no hooks or fsmonitor (`core.hooksPath=/dev/null`).
//! - A diff is computed from trees, never from the worktree's own index: the worktree is
//!   staged into a private temporary index seeded from the base commit, written as a tree,
//!   and compared tree to tree. The same files give the same patch bytes and digest.
//! - Nothing here force-pushes, overwrites a branch, or rewrites history. The only
//!   writes to the user's repository are objects (a published commit's, a note's),
//!   refs created create-only (a new branch; a held run's ref, deleted only while it
//!   still points at its commit) and notes under [`NOTES_REF`].
//!
//! Modules, one concern each (every public item is re-exported here):
//! - `command` — running git: the fixed `-c` settings, the scrubbed environment, argv,
//!   errors with credentials redacted ([`redact_credentials`]).
//! - `repo` — [`Repo`]: opening the user's repository and reading commits, trees,
//!   refs and config from it.
//! - `checkout` — [`Worktree`]: isolated checkouts that borrow the user's objects
//!   through `objects/info/alternates`, and their removal.
//! - `diff` — [`Diff`], [`FileChange`]: what an agent changed, staged through a
//!   temporary index and compared tree to tree; the patch options every digest shares.
//! - `commit` — commits of exactly the judged tree, with the given identity.
//! - `publish` — the writes to the user's repository: copying a commit's objects,
//!   create-only branches, held refs, push.
//! - `notes` — notes under [`NOTES_REF`]: add, read, list, push.
//! - `range` — reads for the gate over a commit range: [`RangeCommit`], [`TreePair`].

mod checkout;
mod command;
mod commit;
mod diff;
mod notes;
mod publish;
mod range;
mod repo;
#[cfg(test)]
mod test_support;

pub use checkout::Worktree;
pub use command::redact_credentials;
pub use diff::{ChangeStatus, Diff, FileChange, TreeFile};
pub use notes::NOTES_REF;
pub use range::{RangeCommit, TreePair};
pub use repo::Repo;

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while driving git. Each variant names the repository or
/// worktree directory it happened in.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "could not run `git {}` in {}: {source}\nhint: check that git is installed and on PATH",
        display_args(.args),
        .dir.display()
    )]
    Spawn {
        args: Vec<String>,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`git {}` failed in {} ({}): {stderr}", display_args(.args), .dir.display(), display_code(.code))]
    Command {
        args: Vec<String>,
        dir: PathBuf,
        /// git's standard error, trimmed, with credentials in URLs redacted.
        stderr: String,
        /// The exit code, or `None` when git was killed by a signal.
        code: Option<i32>,
    },
    #[error(
        "{} is not inside a git working tree: {stderr}\nhint: run docket from a checkout of the repository",
        .path.display()
    )]
    NotARepository { path: PathBuf, stderr: String },
    #[error("cannot use {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{rev}` does not name a commit in {}", .repo.display())]
    UnknownRevision { rev: String, repo: PathBuf },
    #[error("`{name}` is not a valid branch name in {}: {reason}", .repo.display())]
    InvalidBranchName {
        name: String,
        repo: PathBuf,
        reason: String,
    },
    #[error(
        "branch `{branch}` already exists in {}\nhint: docket never overwrites a branch; choose another name or delete the old branch",
        .repo.display()
    )]
    BranchExists { branch: String, repo: PathBuf },
    #[error("`{remote}` is not a usable remote name or URL for {}", .repo.display())]
    InvalidRemote { remote: String, repo: PathBuf },
    #[error(
        "refusing to create a worktree at {}: it is inside the repository {}\nhint: worktrees belong under DOCKET_HOME, outside the user's checkout",
        .path.display(),
        .repo.display()
    )]
    WorktreeInsideRepository { path: PathBuf, repo: PathBuf },
    #[error("refusing to create a worktree at {}: the path must not contain `..`", .path.display())]
    WorktreePathNotNormal { path: PathBuf },
    #[error("invalid commit identity `{name} <{email}>`: {reason}")]
    InvalidIdentity {
        name: String,
        email: String,
        reason: String,
    },
    #[error("nothing to commit in worktree {}: its files match the base commit {base}", .worktree.display())]
    NothingToCommit { worktree: PathBuf, base: String },
    #[error("unexpected output from `git {}` in {}: {detail}", display_args(.args), .dir.display())]
    UnexpectedOutput {
        args: Vec<String>,
        dir: PathBuf,
        detail: String,
    },
}

pub(crate) fn display_args(args: &[String]) -> String {
    args.join(" ")
}

fn display_code(code: &Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}
