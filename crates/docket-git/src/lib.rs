//! Owns every conversation with the `git` CLI: opening the user's repository, giving an
//! agent a detached worktree, collecting what the agent changed, committing it, and
//! publishing it on a new branch.
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
//! - Nothing here force-pushes, overwrites a branch, or rewrites history.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Config given to every git command with `-c`, before the subcommand.
///
/// Hooks and fsmonitor would run user-controlled programs inside docket's own
/// operations, so they are switched off for every call, not just commits.
const BASE_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.quotePath=true",
    "gc.auto=0",
    "maintenance.auto=false",
    "commit.gpgSign=false",
    "i18n.commitEncoding=UTF-8",
];

/// Inherited `GIT_*` variables that may pass through to git; every other `GIT_*` variable
/// is removed. They only say how to reach a remote or where the global config lives;
/// anything that redirects the repository, the index, the identity or the config
/// (`GIT_DIR`, `GIT_INDEX_FILE`, `GIT_AUTHOR_*`, `GIT_CONFIG_PARAMETERS`, ...) must not.
const PASSED_GIT_VARS: &[&str] = &[
    "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL",
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
];
const PASSED_GIT_VAR_PREFIXES: &[&str] = &[
    "GIT_SSL_",
    "GIT_PROXY_",
    "GIT_HTTP_",
    "GIT_CURL_",
    "GIT_TRACE",
];

/// Options shared by every diff docket computes, spelled out so that neither the user's
/// config nor git's defaults changing can alter the patch bytes (and so the digest).
const DIFF_OPTIONS: &[&str] = &[
    "-r",
    "-M",
    "-l1000",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
];

/// How a diff is printed as a patch: the bytes whose sha256 is a run's diff digest.
const PATCH_OPTIONS: &[&str] = &[
    "-p",
    "--binary",
    "--full-index",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--unified=3",
    "--inter-hunk-context=0",
    "--diff-algorithm=myers",
    "--indent-heuristic",
];

/// Where docket attaches run attestations to commits.
pub const NOTES_REF: &str = "refs/notes/docket";

/// The empty tree (SHA-1 repositories): the "parent" of a root commit.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

const MODE_SYMLINK: &str = "120000";

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

fn display_args(args: &[String]) -> String {
    args.join(" ")
}

fn display_code(code: &Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// The user's repository, identified by the top level of its working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    root: PathBuf,
    /// The object directory shared by all of the repository's worktrees.
    objects: PathBuf,
}

/// A detached worktree that docket created for one run, checked out at `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// Canonical absolute path of the worktree directory.
    pub path: PathBuf,
    /// Full id of the commit the worktree was created at.
    pub base: String,
}

/// How one path changed between the base commit and the worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    /// The kind of entry changed, e.g. a regular file became a symlink.
    TypeChanged,
}

/// One changed path in a [`Diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path after the change (for a deletion, the deleted path), relative to the root.
    pub path: String,
    /// For renames, the path before the change.
    pub old_path: Option<String>,
    pub status: ChangeStatus,
    /// Git mode before the change (`100644`, `100755`, `120000`, `160000`); `None` if added.
    pub old_mode: Option<String>,
    /// Git mode after the change; `None` if deleted.
    pub new_mode: Option<String>,
    /// Git considers the content binary; line counts are then zero.
    pub binary: bool,
    pub added_lines: u64,
    pub removed_lines: u64,
    /// The path is a symlink after the change, or was one before a deletion.
    pub is_symlink: bool,
    /// Target of that symlink, as stored by git.
    pub symlink_target: Option<String>,
}

/// Everything an agent changed in a worktree, relative to the worktree's base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Changed paths, sorted by `path`.
    pub files: Vec<FileChange>,
    /// The full patch as produced by `git diff-tree -p --binary`; binary-safe.
    pub patch: Vec<u8>,
    /// `sha256:<hex>` of `patch`.
    pub digest: String,
    /// Id of the git tree that holds the worktree's content; `commit` commits this tree.
    pub tree: String,
}

impl Repo {
    /// Opens the repository whose working tree contains `path`.
    pub async fn open(path: &Path) -> Result<Repo, GitError> {
        tokio::fs::metadata(path)
            .await
            .map_err(|source| GitError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let output = GitCall::new(path)
            .args([
                "rev-parse",
                "--show-toplevel",
                "--path-format=absolute",
                "--git-common-dir",
            ])
            .output()
            .await?;
        if !output.success() {
            return Err(GitError::NotARepository {
                path: path.to_path_buf(),
                stderr: output.stderr_text(),
            });
        }
        let mut lines = output.stdout.split(|b| *b == b'\n');
        let root = path_from_output(lines.next().unwrap_or_default());
        let common = path_from_output(lines.next().unwrap_or_default());
        if root.as_os_str().is_empty() || common.as_os_str().is_empty() {
            return Err(GitError::NotARepository {
                path: path.to_path_buf(),
                stderr: "git printed no top-level directory".to_owned(),
            });
        }
        tracing::debug!(root = %root.display(), "opened git repository");
        Ok(Repo {
            root,
            objects: common.join("objects"),
        })
    }

    /// Top level of the repository's working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `rev` to the full id of the commit it names.
    pub async fn resolve(&self, rev: &str) -> Result<String, GitError> {
        resolve_commit(&self.root, rev).await
    }

    /// The bytes of `path` in `commit`'s tree, or `None` when the tree has no such
    /// file. Reads committed content, never the working tree.
    pub async fn show_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let call = GitCall::new(&self.root)
            .args(["cat-file", "blob"])
            .arg(format!("{commit}:{path}"));
        let args = call.display_args();
        let output = call.output().await?;
        if output.code == Some(0) {
            return Ok(Some(output.stdout));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("does not exist") || stderr.contains("exists on disk, but not in") {
            return Ok(None);
        }
        Err(output.into_error(args, &self.root))
    }

    /// The entries under folder `dir` of `commit`'s tree, recursively: (mode, path)
    /// with repository-relative paths. Empty when the folder does not exist.
    pub async fn list_tree(
        &self,
        commit: &str,
        dir: &str,
    ) -> Result<Vec<(String, String)>, GitError> {
        let call = GitCall::new(&self.root)
            .args(["ls-tree", "-r", "-z", "--full-tree", commit, "--"])
            .arg(format!("{}/", dir.trim_end_matches('/')));
        let args = call.display_args();
        let output = call.output().await?;
        if output.code != Some(0) {
            return Err(output.into_error(args, &self.root));
        }
        let mut out = Vec::new();
        for record in output.stdout.split(|b| *b == 0) {
            // `<mode> SP <type> SP <object> TAB <path>`
            let Some(tab) = record.iter().position(|b| *b == b'\t') else {
                continue;
            };
            let (meta, path) = record.split_at(tab);
            let mode =
                String::from_utf8_lossy(meta.split(|b| *b == b' ').next().unwrap_or_default());
            out.push((
                mode.into_owned(),
                String::from_utf8_lossy(&path[1..]).into_owned(),
            ));
        }
        Ok(out)
    }

    /// Creates `reference` at `commit`, refusing to overwrite one that exists.
    async fn create_ref(&self, reference: &str, commit: &str, name: &str) -> Result<(), GitError> {
        // The empty old value makes the update atomic "create only": git refuses to
        // overwrite an existing ref; only then do we look at why it refused.
        let result = GitCall::new(&self.root)
            .args(["update-ref", "-m"])
            .arg(format!("docket: create {name}"))
            .args(["--", reference, commit, ""])
            .run()
            .await;
        if let Err(error) = result {
            if ref_exists(&self.root, reference).await? {
                return Err(GitError::BranchExists {
                    branch: name.to_owned(),
                    repo: self.root.clone(),
                });
            }
            return Err(error);
        }
        Ok(())
    }

    /// Creates branch `branch` at a commit already in this repository (a held run's).
    pub async fn create_branch_at(&self, branch: &str, commit: &str) -> Result<(), GitError> {
        validate_branch_name(&self.root, branch).await?;
        self.create_ref(&format!("refs/heads/{branch}"), commit, branch)
            .await
    }

    /// The commit `reference` points at, if it exists.
    pub async fn ref_commit(&self, reference: &str) -> Result<Option<String>, GitError> {
        if !ref_exists(&self.root, reference).await? {
            return Ok(None);
        }
        resolve_commit(&self.root, reference).await.map(Some)
    }

    /// The tree and first parent of `commit`.
    pub async fn tree_and_parent(
        &self,
        commit: &str,
    ) -> Result<(String, Option<String>), GitError> {
        let call = GitCall::new(&self.root)
            .args(["rev-parse", "--verify"])
            .arg(format!("{commit}^{{tree}}"));
        let tree = parse_object_id(&call.run().await?).unwrap_or_default();
        let parent = resolve_commit(&self.root, &format!("{commit}^1"))
            .await
            .ok();
        Ok((tree, parent))
    }

    /// Deletes `reference` if it still points at `commit`.
    pub async fn delete_ref(&self, reference: &str, commit: &str) -> Result<(), GitError> {
        GitCall::new(&self.root)
            .args(["update-ref", "-d", "--", reference, commit])
            .run()
            .await
            .map(|_| ())
    }

    /// `user.email` as configured for this repository (local, global or included), if any.
    pub async fn user_email(&self) -> Result<Option<String>, GitError> {
        let call = GitCall::new(&self.root).args(["config", "--get", "user.email"]);
        let args = call.display_args();
        let output = call.output().await?;
        match output.code {
            Some(0) => {
                let email = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                Ok(if email.is_empty() { None } else { Some(email) })
            }
            // `git config --get` exits 1 when the key is not set.
            Some(1) => Ok(None),
            _ => Err(output.into_error(args, &self.root)),
        }
    }

    /// Creates a detached worktree at `path`, checked out at `commit`.
    ///
    /// `path` must lie outside the repository (docket keeps worktrees under DOCKET_HOME),
    /// so the user's `git status` never sees it.
    pub async fn add_worktree(&self, path: &Path, commit: &str) -> Result<Worktree, GitError> {
        // A full object id was resolved by the caller; `worktree add` fails on an unknown one.
        let base = if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            commit.to_ascii_lowercase()
        } else {
            self.resolve(commit).await?
        };
        let destination = canonical_destination(path)?;
        if destination.starts_with(&self.root) {
            return Err(GitError::WorktreeInsideRepository {
                path: destination,
                repo: self.root.clone(),
            });
        }
        // Not a linked worktree: those share refs and config with the user's
        // repository, so an agent's `git branch` or `git config` would land there.
        // An isolated repository that borrows the user's objects read-only (through
        // `objects/info/alternates`) keeps every ref, config and new object apart.
        let objects = self.objects.clone();
        GitCall::new(&self.root)
            .args(["init", "--quiet", "--template="])
            .arg(&destination)
            .run()
            .await?;
        let alternates = destination.join(".git/objects/info/alternates");
        let io_error = |source| GitError::Io {
            path: alternates.clone(),
            source,
        };
        if let Some(dir) = alternates.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
        }
        let mut line = objects.into_os_string().into_encoded_bytes();
        line.push(b'\n');
        tokio::fs::write(&alternates, line)
            .await
            .map_err(io_error)?;
        GitCall::new(&destination)
            .args(["checkout", "--quiet", "--detach"])
            .arg(&base)
            .run()
            .await?;
        let path = tokio::fs::canonicalize(&destination)
            .await
            .map_err(|source| GitError::Io {
                path: destination.clone(),
                source,
            })?;
        tracing::info!(worktree = %path.display(), %base, "created isolated checkout");
        Ok(Worktree { path, base })
    }

    /// Removes a worktree created by [`Repo::add_worktree`], discarding its changes.
    ///
    /// A worktree whose directory is already gone is not an error: only its
    /// administrative entry is removed. Docket deliberately does not run a blanket
    /// `git worktree prune`, which would also drop the entries of the user's own
    /// worktrees that are merely unreachable right now (e.g. on an unmounted disk).
    pub async fn remove_worktree(&self, wt: &Worktree) -> Result<(), GitError> {
        let io_error = |source| GitError::Io {
            path: wt.path.clone(),
            source,
        };
        if !path_exists(&wt.path).await? {
            return Ok(());
        }
        // Only ever delete what `add_worktree` made: a checkout with its own `.git`
        // directory, outside the user's repository.
        let own_git = tokio::fs::symlink_metadata(wt.path.join(".git"))
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if !own_git || wt.path.starts_with(&self.root) {
            return Err(GitError::UnexpectedOutput {
                args: vec!["remove".into()],
                dir: wt.path.clone(),
                detail: "not a docket checkout; refusing to delete it".into(),
            });
        }
        tokio::fs::remove_dir_all(&wt.path)
            .await
            .map_err(io_error)?;
        tracing::info!(worktree = %wt.path.display(), "removed isolated checkout");
        Ok(())
    }

    /// The diff digest of `commit`: `sha256:` of the patch from its first parent (the
    /// empty tree for a root commit), byte for byte as a run computes its own diff, so
    /// an attestation's digest can be checked against the commit alone.
    pub async fn commit_diff_digest(&self, commit: &str) -> Result<String, GitError> {
        let parent = resolve_commit(&self.root, &format!("{commit}^1"))
            .await
            .ok();
        let patch = GitCall::new(&self.root)
            .arg("diff-tree")
            .args(DIFF_OPTIONS)
            .args(PATCH_OPTIONS)
            .args([parent.as_deref().unwrap_or(EMPTY_TREE), commit])
            .run()
            .await?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&patch))))
    }

    /// Attaches `bytes` to `commit` as its note under [`NOTES_REF`], replacing an
    /// earlier note. The note's bytes are stored exactly (no message clean-up).
    pub async fn add_note(
        &self,
        commit: &str,
        bytes: &[u8],
        name: &str,
        email: &str,
    ) -> Result<(), GitError> {
        validate_identity(name, email)?;
        let blob = GitCall::new(&self.root)
            .args(["hash-object", "-w", "--stdin"])
            .stdin(bytes.to_vec())
            .run()
            .await?;
        let blob = parse_object_id(&blob).ok_or_else(|| GitError::UnexpectedOutput {
            args: vec!["hash-object".into()],
            dir: self.root.clone(),
            detail: "no object id".into(),
        })?;
        GitCall::new(&self.root)
            .args([
                "notes", "--ref", NOTES_REF, "add", "-f", "-C", &blob, commit,
            ])
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .run()
            .await?;
        Ok(())
    }

    /// `commit`'s note under [`NOTES_REF`], if it has one.
    pub async fn note(&self, commit: &str) -> Result<Option<Vec<u8>>, GitError> {
        let call = GitCall::new(&self.root).args(["notes", "--ref", NOTES_REF, "show", commit]);
        let args = call.display_args();
        let output = call.output().await?;
        match output.code {
            Some(0) => Ok(Some(output.stdout)),
            _ if String::from_utf8_lossy(&output.stderr).contains("no note found") => Ok(None),
            _ => Err(output.into_error(args, &self.root)),
        }
    }

    /// Every note under [`NOTES_REF`]: (annotated commit, note bytes), read in one batch.
    pub async fn notes(&self) -> Result<Vec<(String, Vec<u8>)>, GitError> {
        if !ref_exists(&self.root, NOTES_REF).await? {
            return Ok(Vec::new());
        }
        let listing = GitCall::new(&self.root)
            .args(["notes", "--ref", NOTES_REF, "list"])
            .run()
            .await?;
        let pairs: Vec<(String, String)> = String::from_utf8_lossy(&listing)
            .lines()
            .filter_map(|line| {
                let (blob, commit) = line.split_once(' ')?;
                Some((blob.to_owned(), commit.to_owned()))
            })
            .collect();
        let request: String = pairs.iter().map(|(blob, _)| format!("{blob}\n")).collect();
        let batch = GitCall::new(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(request.into_bytes())
            .run()
            .await?;
        let bad = |detail: String| GitError::UnexpectedOutput {
            args: vec!["cat-file".into(), "--batch".into()],
            dir: self.root.clone(),
            detail,
        };
        // Each object: `<oid> SP <type> SP <size> LF <content> LF`.
        let mut out = Vec::with_capacity(pairs.len());
        let mut rest = batch.as_slice();
        for (_, commit) in pairs {
            let header_end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| bad("truncated header".into()))?;
            let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad(format!("unexpected header `{header}`")))?;
            let start = header_end + 1;
            let content = rest
                .get(start..start + size)
                .ok_or_else(|| bad("truncated object".into()))?;
            out.push((commit, content.to_vec()));
            rest = rest.get(start + size + 1..).unwrap_or_default();
        }
        Ok(out)
    }

    /// Pushes [`NOTES_REF`] to `remote` (never forced).
    pub async fn push_notes(&self, remote: &str) -> Result<(), GitError> {
        if remote.is_empty() || remote.starts_with('-') || remote.contains('\0') {
            return Err(GitError::InvalidRemote {
                remote: redact_credentials(remote),
                repo: self.root.clone(),
            });
        }
        let refspec = format!("{NOTES_REF}:{NOTES_REF}");
        GitCall::new(&self.root)
            .config("push.followTags=false")
            .config("push.recurseSubmodules=no")
            .args(["push", "--no-verify", "--quiet", "--", remote, &refspec])
            .run()
            .await?;
        tracing::info!(remote = %redact_credentials(remote), "pushed attestation notes");
        Ok(())
    }

    /// Pushes `refs/heads/<branch>` to the same name on `remote`.
    ///
    /// Never forces: a push that is not a fast-forward fails, because docket does not
    /// rewrite history. Pre-push hooks do not run.
    pub async fn push(&self, remote: &str, branch: &str) -> Result<(), GitError> {
        if remote.is_empty() || remote.starts_with('-') || remote.contains('\0') {
            return Err(GitError::InvalidRemote {
                remote: redact_credentials(remote),
                repo: self.root.clone(),
            });
        }
        validate_branch_name(&self.root, branch).await?;
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        GitCall::new(&self.root)
            .config("push.followTags=false")
            .config("push.recurseSubmodules=no")
            .args(["push", "--no-verify", "--quiet", "--", remote, &refspec])
            .run()
            .await?;
        tracing::info!(remote = %redact_credentials(remote), %branch, "pushed branch");
        Ok(())
    }

    // --- gate --- (`docket gate`: one call per question over a whole commit range)

    /// Every commit of `base..head` (full commit ids), parents before children, from
    /// one `git log` call that also lists the boundary (the parents outside the range)
    /// so that every commit's first-parent tree is known without another call.
    pub async fn range_commits(
        &self,
        base: &str,
        head: &str,
    ) -> Result<Vec<RangeCommit>, GitError> {
        let call = GitCall::new(&self.root)
            .args([
                "log",
                "--boundary",
                "--topo-order",
                "--reverse",
                "-z",
                "--no-color",
                "--no-show-signature",
                "--no-notes",
                "--no-mailmap",
                "--format=%m%x00%H%x00%T%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%B",
            ])
            .arg(format!("{base}..{head}"))
            .arg("--");
        let args = call.display_args();
        let output = call.run().await?;
        parse_range(&output).map_err(|detail| GitError::UnexpectedOutput {
            args,
            dir: self.root.clone(),
            detail,
        })
    }

    /// The diff digest of each pair of trees, byte for byte as
    /// [`Repo::commit_diff_digest`] computes a commit's (same options, same patch), from
    /// one `git diff-tree --stdin` call.
    pub async fn tree_diff_digests(&self, pairs: &[TreePair]) -> Result<Vec<String>, GitError> {
        let call = GitCall::new(&self.root)
            .args(["diff-tree", "--stdin"])
            .args(DIFF_OPTIONS)
            .args(PATCH_OPTIONS);
        let parts = self.diff_tree_stdin(call, pairs).await?;
        Ok(parts
            .iter()
            .map(|patch| format!("sha256:{}", hex::encode(Sha256::digest(patch))))
            .collect())
    }

    /// The first path each pair of trees changes (`None` when nothing changed), added
    /// or modified paths before deleted ones, from one `git diff-tree --stdin` call.
    pub async fn first_changed_paths(
        &self,
        pairs: &[TreePair],
    ) -> Result<Vec<Option<String>>, GitError> {
        let call = GitCall::new(&self.root).args([
            "diff-tree",
            "--stdin",
            "-r",
            "--no-renames",
            "--raw",
            "-z",
            "--no-color",
            "--no-ext-diff",
        ]);
        let parts = self.diff_tree_stdin(call, pairs).await?;
        Ok(parts.iter().map(|raw| first_raw_path(raw)).collect())
    }

    /// Feeds `from to` lines to a `diff-tree --stdin` call and splits its output into
    /// one part per pair. git prints `from to\n` before each pair's output; no patch or
    /// raw line has that shape (a patch line starts with a space, `+`, `-`, `\`, `@`,
    /// a keyword or base85 data, which has no spaces), so the split is exact.
    async fn diff_tree_stdin(
        &self,
        call: GitCall<'_>,
        pairs: &[TreePair],
    ) -> Result<Vec<Vec<u8>>, GitError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let headers: Vec<String> = pairs
            .iter()
            .map(|p| format!("{} {}\n", p.from.as_deref().unwrap_or(EMPTY_TREE), p.to))
            .collect();
        let args = call.display_args();
        let output = call.stdin(headers.concat().into_bytes()).run().await?;
        split_by_headers(&output, &headers)
            .map(|parts| parts.into_iter().map(<[u8]>::to_vec).collect())
            .map_err(|detail| GitError::UnexpectedOutput {
                args,
                dir: self.root.clone(),
                detail,
            })
    }
}

// --- gate --- (types and parsing for the range methods above)

/// One commit of a range, as `docket gate` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCommit {
    pub id: String,
    pub tree: String,
    pub parents: Vec<String>,
    /// The first parent's tree; `None` for a root commit (its diff is from the empty tree).
    pub first_parent_tree: Option<String>,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    /// The raw message (subject, body, trailers).
    pub message: String,
}

/// Two trees to compare; `from: None` is the empty tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePair {
    pub from: Option<String>,
    pub to: String,
}

const RANGE_FIELDS: usize = 9;

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses `git log -z` records of [`Repo::range_commits`]' format: NUL-separated fields,
/// NUL-terminated records, boundary commits marked `-`.
fn parse_range(output: &[u8]) -> Result<Vec<RangeCommit>, String> {
    let mut fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    if fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    if !fields.len().is_multiple_of(RANGE_FIELDS) {
        return Err(format!(
            "{} fields do not make whole records of {RANGE_FIELDS} (a NUL byte in a commit message?)",
            fields.len()
        ));
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut trees: HashMap<String, String> = HashMap::new();
    let mut listed = Vec::new();
    for record in fields.chunks(RANGE_FIELDS) {
        let [mark, id, tree, parents, an, ae, cn, ce, message] = record else {
            return Err("a short record".into());
        };
        let (id, tree) = (text(id), text(tree));
        if !is_object_id(&id) || !is_object_id(&tree) {
            return Err(format!("`{id}` / `{tree}` are not object ids"));
        }
        trees.insert(id.clone(), tree.clone());
        if *mark == b"-" {
            continue;
        }
        let parents: Vec<String> = text(parents)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        listed.push(RangeCommit {
            id,
            tree,
            parents,
            first_parent_tree: None,
            author_name: text(an),
            author_email: text(ae),
            committer_name: text(cn),
            committer_email: text(ce),
            message: text(message),
        });
    }
    for commit in &mut listed {
        if let Some(parent) = commit.parents.first() {
            let tree = trees.get(parent).ok_or_else(|| {
                format!(
                    "the tree of {parent}, parent of {}, is not listed",
                    commit.id
                )
            })?;
            commit.first_parent_tree = Some(tree.clone());
        }
    }
    Ok(listed)
}

/// Splits `diff-tree --stdin` output at the header line printed before each pair.
fn split_by_headers<'a>(output: &'a [u8], headers: &[String]) -> Result<Vec<&'a [u8]>, String> {
    let mut parts = Vec::with_capacity(headers.len());
    let mut rest = output;
    for (i, header) in headers.iter().enumerate() {
        rest = rest
            .strip_prefix(header.as_bytes())
            .ok_or_else(|| format!("expected the header `{}` of pair {i}", header.trim_end()))?;
        let end = match headers.get(i + 1) {
            Some(next) => find_header(rest, next.as_bytes()).ok_or_else(|| {
                format!(
                    "the header `{}` of pair {} is missing",
                    next.trim_end(),
                    i + 1
                )
            })?,
            None => rest.len(),
        };
        let (part, next_rest) = rest.split_at(end);
        parts.push(part);
        rest = next_rest;
    }
    Ok(parts)
}

/// The first position in `bytes` where `header` starts a line (at the start, or after
/// a newline or a NUL).
fn find_header(bytes: &[u8], header: &[u8]) -> Option<usize> {
    if bytes.starts_with(header) {
        return Some(0);
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n' || **b == 0)
        .map(|(i, _)| i + 1)
        .find(|start| {
            bytes
                .get(*start..)
                .is_some_and(|tail| tail.starts_with(header))
        })
}

/// The first path of `diff-tree --raw -z` output, preferring a path that exists after
/// the change. Records are `:modes ids status NUL path NUL`.
fn first_raw_path(raw: &[u8]) -> Option<String> {
    let fields: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let mut first = None;
    for pair in fields.chunks(2) {
        let [meta, path] = pair else { break };
        let path = String::from_utf8_lossy(path).into_owned();
        if meta.ends_with(b"D") {
            first.get_or_insert(path);
        } else {
            return Some(path);
        }
    }
    first
}

impl Worktree {
    /// Collects everything the agent changed relative to `base`: modified, added
    /// (untracked files, respecting `.gitignore`), deleted, renamed, mode changes,
    /// binaries and symlinks.
    /// Applies a patch made by [`Worktree::collect_diff`] to this worktree's files
    /// (used to re-run an agent on its own result).
    pub async fn apply_patch(&self, patch: &[u8]) -> Result<(), GitError> {
        if patch.is_empty() {
            return Ok(());
        }
        let call = GitCall::new(&self.path)
            .args(["apply", "--binary", "--whitespace=nowarn", "-"])
            .stdin(patch.to_vec());
        let args = call.display_args();
        let output = call.output().await?;
        match output.code {
            Some(0) => Ok(()),
            _ => Err(output.into_error(args, &self.path)),
        }
    }

    pub async fn collect_diff(&self) -> Result<Diff, GitError> {
        let tree = self.stage_tree().await?;

        // Three independent reads of the same two trees: run them at once.
        let (raw, numstat, patch) = tokio::try_join!(
            self.diff_call(&tree).args(["--raw", "-z"]).run(),
            self.diff_call(&tree).args(["--numstat", "-z"]).run(),
            self.diff_call(&tree).args(PATCH_OPTIONS).run(),
        )?;

        let parse_error = |what: &str, detail: String| GitError::UnexpectedOutput {
            args: vec!["diff-tree".to_owned(), what.to_owned()],
            dir: self.path.clone(),
            detail,
        };
        let entries = parse_raw(&raw).map_err(|detail| parse_error("--raw", detail))?;
        let counts = parse_numstat(&numstat).map_err(|detail| parse_error("--numstat", detail))?;

        let counts: HashMap<String, Option<(u64, u64)>> = counts
            .into_iter()
            .map(|count| (count.path, count.lines))
            .collect();
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(&lines) = counts.get(&entry.path) else {
                return Err(parse_error(
                    "--numstat",
                    format!("no line counts for `{}`", entry.path),
                ));
            };
            let symlink_oid = match (&entry.new_mode, &entry.old_mode) {
                (Some(mode), _) if mode == MODE_SYMLINK => Some(&entry.new_oid),
                (None, Some(mode)) if mode == MODE_SYMLINK => Some(&entry.old_oid),
                _ => None,
            };
            let symlink_target = match symlink_oid {
                Some(oid) => Some(self.blob_text(oid).await?),
                None => None,
            };
            files.push(FileChange {
                path: entry.path,
                old_path: entry.old_path,
                status: entry.status,
                old_mode: entry.old_mode,
                new_mode: entry.new_mode,
                binary: lines.is_none(),
                added_lines: lines.map_or(0, |(added, _)| added),
                removed_lines: lines.map_or(0, |(_, removed)| removed),
                is_symlink: symlink_target.is_some(),
                symlink_target,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));

        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&patch)));
        tracing::info!(worktree = %self.path.display(), files = files.len(), %digest, "collected diff");
        Ok(Diff {
            files,
            patch,
            digest,
            tree,
        })
    }

    /// Commits the worktree's content (the same tree [`Worktree::collect_diff`] reports)
    /// on top of `base`, with the given author and committer and `message` verbatim.
    /// Returns the new commit id. No hooks run, no signing, no global identity needed;
    /// no ref is moved (see [`Worktree::create_branch`]).
    pub async fn commit(
        &self,
        message: &str,
        author_name: &str,
        author_email: &str,
    ) -> Result<String, GitError> {
        validate_identity(author_name, author_email)?;
        let tree = self.stage_tree().await?;
        let base_tree = GitCall::new(&self.path)
            .args(["rev-parse", "--verify"])
            .arg(format!("{}^{{tree}}", self.base))
            .run()
            .await?;
        if String::from_utf8_lossy(&base_tree).trim() == tree {
            return Err(GitError::NothingToCommit {
                worktree: self.path.clone(),
                base: self.base.clone(),
            });
        }
        self.commit_tree(&tree, message, author_name, author_email)
            .await
    }

    /// Commits exactly the tree of `diff` — the tree the repository rules, validation
    /// and checks judged — even if files changed in the worktree since.
    pub async fn commit_diff(
        &self,
        diff: &Diff,
        message: &str,
        author_name: &str,
        author_email: &str,
    ) -> Result<String, GitError> {
        validate_identity(author_name, author_email)?;
        if diff.files.is_empty() {
            return Err(GitError::NothingToCommit {
                worktree: self.path.clone(),
                base: self.base.clone(),
            });
        }
        self.commit_tree(&diff.tree, message, author_name, author_email)
            .await
    }

    async fn commit_tree(
        &self,
        tree: &str,
        message: &str,
        author_name: &str,
        author_email: &str,
    ) -> Result<String, GitError> {
        let tree = tree.to_owned();
        // `commit-tree` takes the message from stdin byte for byte: no cleanup, no
        // comment stripping, so trailers arrive exactly as written.
        let call = GitCall::new(&self.path)
            .args(["commit-tree", "--no-gpg-sign", "-p", &self.base, &tree])
            .env("GIT_AUTHOR_NAME", author_name)
            .env("GIT_AUTHOR_EMAIL", author_email)
            .env("GIT_COMMITTER_NAME", author_name)
            .env("GIT_COMMITTER_EMAIL", author_email)
            .stdin(message.as_bytes().to_vec());
        let args = call.display_args();
        let stdout = call.run().await?;
        let commit = parse_object_id(&stdout).ok_or_else(|| GitError::UnexpectedOutput {
            args,
            dir: self.path.clone(),
            detail: format!(
                "expected a commit id, got `{}`",
                String::from_utf8_lossy(&stdout).trim()
            ),
        })?;
        tracing::info!(worktree = %self.path.display(), %commit, %tree, "committed worktree");
        Ok(commit)
    }

    /// Creates branch `branch` at `commit` in the user's repository (which shares its
    /// object store with this worktree). Refuses to overwrite an existing branch; never
    /// checks the branch out, so the user's working tree, index and `HEAD` stay as they are.
    pub async fn create_branch(
        &self,
        repo: &Repo,
        branch: &str,
        commit: &str,
    ) -> Result<(), GitError> {
        // Checking the name and copying the objects are independent: do both at once.
        let (valid, copied) = tokio::join!(
            validate_branch_name(&repo.root, branch),
            self.copy_new_objects(repo, commit)
        );
        valid?;
        if let Err(error) = copied {
            // Name an unknown commit as such rather than as a failed listing.
            resolve_commit(&self.path, commit).await?;
            return Err(error);
        }
        repo.create_ref(&format!("refs/heads/{branch}"), commit, branch)
            .await?;
        tracing::info!(repo = %repo.root.display(), worktree = %self.path.display(), %branch, %commit, "created branch");
        Ok(())
    }

    /// Keeps `commit` in the user's repository under `reference` (outside
    /// `refs/heads`, so no branch appears): a run held at the publish point.
    pub async fn hold(&self, repo: &Repo, reference: &str, commit: &str) -> Result<(), GitError> {
        self.copy_new_objects(repo, commit).await?;
        repo.create_ref(reference, commit, reference).await
    }

    /// The checkout's own `.git` directory. Anything else (a `.git` file or symlink an
    /// agent put there to point git elsewhere) is refused.
    async fn own_git_dir(&self) -> Result<PathBuf, GitError> {
        let admin = self.path.join(".git");
        let is_dir = tokio::fs::symlink_metadata(&admin)
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if !is_dir {
            return Err(GitError::UnexpectedOutput {
                args: vec!["stage".into()],
                dir: self.path.clone(),
                detail: "the checkout's .git is no longer the directory docket created".into(),
            });
        }
        Ok(admin)
    }

    /// Copies the objects of `commit` that the base does not have (loose objects in
    /// the checkout's own store) into the user's object store, then falls back to
    /// `git fetch` if any of them is not loose.
    async fn copy_new_objects(&self, repo: &Repo, commit: &str) -> Result<(), GitError> {
        let listing = GitCall::new(&self.path)
            .args([
                "rev-list",
                "--objects",
                "--no-object-names",
                commit,
                "--not",
                &self.base,
            ])
            .run()
            .await?;
        let own = self.own_git_dir().await?.join("objects");
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GitError::Io { path, source }
        };
        for oid in String::from_utf8_lossy(&listing).split_whitespace() {
            if oid.len() < 3 || !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let (dir, file) = oid.split_at(2);
            let source = own.join(dir).join(file);
            let target_dir = repo.objects.join(dir);
            let target = target_dir.join(file);
            if tokio::fs::try_exists(&target).await.unwrap_or(false) {
                continue;
            }
            if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
                return self.fetch_into(repo, commit).await;
            }
            tokio::fs::create_dir_all(&target_dir)
                .await
                .map_err(io_error(&target_dir))?;
            // Copy under a temporary name, then rename: readers never see half an object.
            let partial = target_dir.join(format!("tmp_docket_{file}"));
            tokio::fs::copy(&source, &partial)
                .await
                .map_err(io_error(&partial))?;
            tokio::fs::rename(&partial, &target)
                .await
                .map_err(io_error(&target))?;
        }
        Ok(())
    }

    async fn fetch_into(&self, repo: &Repo, commit: &str) -> Result<(), GitError> {
        let publish_ref = "refs/docket/publish";
        GitCall::new(&self.path)
            .args(["update-ref", publish_ref, commit])
            .run()
            .await?;
        GitCall::new(&repo.root)
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
            ])
            .arg(&self.path)
            .arg(publish_ref)
            .run()
            .await?;
        Ok(())
    }

    /// Stages the whole worktree into a private temporary index seeded from `base` and
    /// writes it as a tree. The worktree's own index is neither read nor written.
    async fn stage_tree(&self) -> Result<String, GitError> {
        let admin = self.own_git_dir().await?;
        let index = TemporaryIndex::new(&admin);
        GitCall::new(&self.path)
            .args(["read-tree", &self.base])
            .env("GIT_INDEX_FILE", index.path())
            .run()
            .await?;
        // Mode changes and symlinks are part of what the agent did, whatever the user's
        // repository says about its own checkout's filesystem.
        GitCall::new(&self.path)
            .config("core.fileMode=true")
            .config("core.symlinks=true")
            .args(["add", "--all", "--", "."])
            .env("GIT_INDEX_FILE", index.path())
            .run()
            .await?;
        let call = GitCall::new(&self.path)
            .arg("write-tree")
            .env("GIT_INDEX_FILE", index.path());
        let args = call.display_args();
        let stdout = call.run().await?;
        parse_object_id(&stdout).ok_or_else(|| GitError::UnexpectedOutput {
            args,
            dir: self.path.clone(),
            detail: format!(
                "expected a tree id, got `{}`",
                String::from_utf8_lossy(&stdout).trim()
            ),
        })
    }

    fn diff_call(&self, tree: &str) -> GitCall<'_> {
        GitCall::new(&self.path)
            .arg("diff-tree")
            .args(DIFF_OPTIONS)
            .args([self.base.as_str(), tree])
    }

    async fn blob_text(&self, oid: &str) -> Result<String, GitError> {
        let content = GitCall::new(&self.path)
            .args(["cat-file", "blob", oid])
            .run()
            .await?;
        Ok(String::from_utf8_lossy(&content).into_owned())
    }
}

/// Removes credentials from every URL in `text`: `scheme://user:secret@host` becomes
/// `scheme://user:****@host`, and `scheme://token@host` becomes `scheme://****@host`
/// (a lone user name is often a token).
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after_scheme) = rest.split_at(start + 3);
        out.push_str(before);
        let authority_end = after_scheme
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\'' | '"' | '`' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(after_scheme.len());
        let (authority, remainder) = after_scheme.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                let (userinfo, host) = authority.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _secret)) => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    None => out.push_str("****"),
                }
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = remainder;
    }
    out.push_str(rest);
    out
}

/// One git invocation: `git -c <config>... <args>` in `dir` with a scrubbed environment.
struct GitCall<'a> {
    dir: &'a Path,
    config: Vec<&'static str>,
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    stdin: Option<Vec<u8>>,
}

struct GitOutput {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl GitOutput {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn stderr_text(&self) -> String {
        redact_credentials(String::from_utf8_lossy(&self.stderr).trim())
    }

    fn into_error(self, args: Vec<String>, dir: &Path) -> GitError {
        GitError::Command {
            stderr: self.stderr_text(),
            args,
            dir: dir.to_path_buf(),
            code: self.code,
        }
    }
}

impl<'a> GitCall<'a> {
    fn new(dir: &'a Path) -> Self {
        GitCall {
            dir,
            config: BASE_CONFIG.to_vec(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    fn config(mut self, setting: &'static str) -> Self {
        self.config.push(setting);
        self
    }

    fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    fn env(mut self, key: &'static str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key, value.as_ref().to_os_string()));
        self
    }

    fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// The command as shown in errors and logs: the subcommand and its arguments,
    /// without the fixed `-c` settings, with credentials redacted.
    fn display_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|arg| redact_credentials(&arg.to_string_lossy()))
            .collect()
    }

    fn command(&self) -> Command {
        let mut command = Command::new("git");
        for setting in &self.config {
            command.arg("-c").arg(setting);
        }
        command.args(&self.args).current_dir(self.dir);
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            let passed = PASSED_GIT_VARS.contains(&key)
                || PASSED_GIT_VAR_PREFIXES
                    .iter()
                    .any(|prefix| key.starts_with(prefix));
            if key.starts_with("GIT_") && !passed {
                command.env_remove(key);
            }
        }
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("LC_ALL", "C");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs git and returns its output whatever the exit status; only a failure to run
    /// git at all is an error.
    async fn output(self) -> Result<GitOutput, GitError> {
        let args = self.display_args();
        tracing::debug!(dir = %self.dir.display(), args = %display_args(&args), "running git");
        let spawn_error = |source: io::Error| GitError::Spawn {
            args: args.clone(),
            dir: self.dir.to_path_buf(),
            source,
        };
        let mut child = self.command().spawn().map_err(spawn_error)?;
        let pipe = child.stdin.take();
        let feed = async {
            if let (Some(mut pipe), Some(bytes)) = (pipe, self.stdin.as_deref()) {
                pipe.write_all(bytes).await?;
                pipe.shutdown().await?;
            }
            Ok::<(), io::Error>(())
        };
        // Write stdin while draining stdout and stderr, so neither side can block the
        // other on a full pipe.
        let ((), output) = tokio::try_join!(feed, child.wait_with_output()).map_err(spawn_error)?;
        Ok(GitOutput {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// Runs git and returns its stdout; a non-zero exit is a [`GitError::Command`].
    async fn run(self) -> Result<Vec<u8>, GitError> {
        let args = self.display_args();
        let dir = self.dir;
        let output = self.output().await?;
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(output.into_error(args, dir))
        }
    }
}

/// An index file private to one staging operation, deleted when dropped.
struct TemporaryIndex {
    path: PathBuf,
}

impl TemporaryIndex {
    /// Names a fresh index file in the worktree's administrative directory, which git
    /// owns and removes together with the worktree, so a crash leaves nothing behind in
    /// the user's checkout.
    fn new(admin_dir: &Path) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = admin_dir.join(format!("docket-index-{}-{sequence}", std::process::id()));
        TemporaryIndex { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TemporaryIndex {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(index = %self.path.display(), %error, "could not remove temporary index");
        }
    }
}

async fn resolve_commit(dir: &Path, rev: &str) -> Result<String, GitError> {
    let unknown = || GitError::UnknownRevision {
        rev: rev.to_owned(),
        repo: dir.to_path_buf(),
    };
    // A leading `-` would be read as an option.
    if rev.is_empty() || rev.starts_with('-') || rev.contains('\0') {
        return Err(unknown());
    }
    let call = GitCall::new(dir)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"));
    let args = call.display_args();
    let output = call.output().await?;
    match output.code {
        Some(0) => parse_object_id(&output.stdout).ok_or_else(|| GitError::UnexpectedOutput {
            args,
            dir: dir.to_path_buf(),
            detail: format!(
                "expected a commit id, got `{}`",
                String::from_utf8_lossy(&output.stdout).trim()
            ),
        }),
        Some(1) => Err(unknown()),
        _ => Err(output.into_error(args, dir)),
    }
}

async fn ref_exists(dir: &Path, reference: &str) -> Result<bool, GitError> {
    let call = GitCall::new(dir).args(["rev-parse", "--verify", "--quiet", reference]);
    let args = call.display_args();
    let output = call.output().await?;
    match output.code {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(output.into_error(args, dir)),
    }
}

/// Checks `name` with `git check-ref-format --branch`, and insists that git did not
/// expand it (`@{-1}` names some other branch; docket wants exactly the name it was given).
async fn validate_branch_name(dir: &Path, name: &str) -> Result<(), GitError> {
    let invalid = |reason: String| GitError::InvalidBranchName {
        name: name.to_owned(),
        repo: dir.to_path_buf(),
        reason,
    };
    if name.starts_with('-') || name.contains('\0') {
        return Err(invalid("a branch name must not start with `-`".to_owned()));
    }
    let output = GitCall::new(dir)
        .args(["check-ref-format", "--branch", name])
        .output()
        .await?;
    if !output.success() {
        return Err(invalid(output.stderr_text()));
    }
    let normalized = String::from_utf8_lossy(&output.stdout);
    if normalized.trim_end_matches('\n') != name {
        return Err(invalid(format!("git reads it as `{}`", normalized.trim())));
    }
    Ok(())
}

fn validate_identity(name: &str, email: &str) -> Result<(), GitError> {
    let invalid = |reason: &str| GitError::InvalidIdentity {
        name: name.to_owned(),
        email: email.to_owned(),
        reason: reason.to_owned(),
    };
    // Git would silently strip or reject these; fail here with a clear message instead
    // of publishing an identity other than the one asked for.
    let forbidden = |c: char| matches!(c, '<' | '>' | '\n' | '\r' | '\0');
    if name.trim().is_empty() {
        return Err(invalid("the name is empty"));
    }
    if email.trim().is_empty() {
        return Err(invalid("the email is empty"));
    }
    if name.contains(forbidden) || email.contains(forbidden) {
        return Err(invalid(
            "names and emails must not contain `<`, `>` or line breaks",
        ));
    }
    Ok(())
}

async fn path_exists(path: &Path) -> Result<bool, GitError> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(GitError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The absolute, canonical form of a worktree destination that may not exist yet: the
/// deepest existing ancestor is canonicalized and the missing components appended.
fn canonical_destination(path: &Path) -> Result<PathBuf, GitError> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(GitError::WorktreePathNotNormal {
            path: path.to_path_buf(),
        });
    }
    let io_error = |source| GitError::Io {
        path: path.to_path_buf(),
        source,
    };
    let absolute = std::path::absolute(path).map_err(io_error)?;
    let mut existing = absolute.as_path();
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut resolved) => {
                resolved.extend(missing.iter().rev());
                return Ok(resolved);
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                match (existing.file_name(), existing.parent()) {
                    (Some(name), Some(parent)) => {
                        missing.push(name);
                        existing = parent;
                    }
                    _ => return Err(io_error(error)),
                }
            }
            Err(error) => return Err(io_error(error)),
        }
    }
}

/// A path printed by git on one line (raw bytes, trailing newline removed).
fn path_from_output(stdout: &[u8]) -> PathBuf {
    let mut bytes = stdout.to_vec();
    while bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    PathBuf::from(OsString::from_vec(bytes))
}

/// A full object id (SHA-1 or SHA-256) on git's stdout.
fn parse_object_id(stdout: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stdout).ok()?.trim();
    let valid = matches!(text.len(), 40 | 64)
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| text.to_owned())
}

/// One record of `git diff-tree --raw -z`.
#[derive(Debug, PartialEq, Eq)]
struct RawEntry {
    path: String,
    old_path: Option<String>,
    status: ChangeStatus,
    old_mode: Option<String>,
    new_mode: Option<String>,
    old_oid: String,
    new_oid: String,
}

/// Parses `:<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0[<new path>\0]`.
/// Unknown statuses are errors: a change docket cannot classify is not published.
fn parse_raw(output: &[u8]) -> Result<Vec<RawEntry>, String> {
    let mut fields = output.split(|b| *b == 0).filter(|field| !field.is_empty());
    let mut entries = Vec::new();
    while let Some(meta) = fields.next() {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, old_oid, new_oid, status] = parts.as_slice() else {
            return Err(format!("malformed record `{meta}`"));
        };
        let mut next_path = || {
            fields
                .next()
                .map(|path| String::from_utf8_lossy(path).into_owned())
                .ok_or_else(|| format!("record `{meta}` has no path"))
        };
        let (status, old_path, path) = match status.chars().next() {
            Some('A') => (ChangeStatus::Added, None, next_path()?),
            Some('M') => (ChangeStatus::Modified, None, next_path()?),
            Some('D') => (ChangeStatus::Deleted, None, next_path()?),
            Some('T') => (ChangeStatus::TypeChanged, None, next_path()?),
            Some('R') => {
                let old = next_path()?;
                (ChangeStatus::Renamed, Some(old), next_path()?)
            }
            _ => return Err(format!("unsupported change status `{status}`")),
        };
        let mode = |mode: &str| (!mode.trim_start_matches('0').is_empty()).then(|| mode.to_owned());
        entries.push(RawEntry {
            path,
            old_path,
            status,
            old_mode: mode(old_mode),
            new_mode: mode(new_mode),
            old_oid: (*old_oid).to_owned(),
            new_oid: (*new_oid).to_owned(),
        });
    }
    Ok(entries)
}

/// One record of `git diff-tree --numstat -z`; `lines` is `None` for binary content.
#[derive(Debug, PartialEq, Eq)]
struct LineCount {
    path: String,
    lines: Option<(u64, u64)>,
}

/// Parses `<added>\t<removed>\t<path>\0`, or for renames
/// `<added>\t<removed>\t\0<old path>\0<new path>\0`; binary files count as `-`.
fn parse_numstat(output: &[u8]) -> Result<Vec<LineCount>, String> {
    let mut fields = output.split(|b| *b == 0);
    let mut counts = Vec::new();
    while let Some(record) = fields.next() {
        if record.is_empty() {
            continue;
        }
        let record = String::from_utf8_lossy(record);
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed record `{record}`"));
        };
        let path = if path.is_empty() {
            // A rename: the old and the new path follow as separate fields.
            let _old = fields.next();
            let new = fields
                .next()
                .ok_or_else(|| format!("rename record `{record}` has no new path"))?;
            String::from_utf8_lossy(new).into_owned()
        } else {
            path.to_owned()
        };
        let lines = match (added, removed) {
            ("-", "-") => None,
            (added, removed) => {
                let parse = |n: &str| {
                    n.parse::<u64>()
                        .map_err(|_| format!("bad line count in `{record}`"))
                };
                Some((parse(added)?, parse(removed)?))
            }
        };
        counts.push(LineCount { path, lines });
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command as StdCommand;

    const AUTHOR: &str = "Docket Bot";
    const AUTHOR_EMAIL: &str = "bot@docket.example";

    /// Runs git synchronously for test setup and inspection; panics on failure.
    fn git(dir: &Path, args: &[&str]) -> String {
        let output = StdCommand::new("git")
            .args([
                "-c",
                "user.name=Setup",
                "-c",
                "user.email=setup@example.com",
            ])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn write(path: &Path, content: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// A temporary home with `repo/` (a repository with one commit) beside `docket/`
    /// (where worktrees go, outside the repository).
    struct Fixture {
        home: tempfile::TempDir,
    }

    impl Fixture {
        fn new(with_identity: bool) -> Fixture {
            let home = tempfile::tempdir().unwrap();
            let repo = home.path().join("repo");
            std::fs::create_dir_all(&repo).unwrap();
            git(&repo, &["init", "-q", "-b", "main"]);
            if with_identity {
                git(&repo, &["config", "user.name", "Repo Owner"]);
                git(&repo, &["config", "user.email", "owner@example.com"]);
            } else {
                // Git must not guess an identity from the host name or $EMAIL either.
                git(&repo, &["config", "user.useConfigOnly", "true"]);
            }
            write(&repo.join("modify.txt"), b"one\ntwo\nthree\n");
            write(&repo.join("delete.txt"), b"gone\n");
            write(
                &repo.join("rename_me.txt"),
                b"a fairly long line so that rename detection has content\nsecond line\n",
            );
            write(&repo.join("script.sh"), b"#!/bin/sh\necho hi\n");
            write(&repo.join("target.txt"), b"target\n");
            write(&repo.join("becomes_link.txt"), b"plain\n");
            write(&repo.join(".gitignore"), b"*.log\nbuild/\n");
            git(&repo, &["add", "-A"]);
            git(&repo, &["commit", "-q", "-m", "initial"]);
            Fixture { home }
        }

        fn repo_path(&self) -> PathBuf {
            self.home.path().join("repo")
        }

        fn worktree_path(&self, name: &str) -> PathBuf {
            self.home.path().join("docket").join("worktrees").join(name)
        }

        async fn repo(&self) -> Repo {
            Repo::open(&self.repo_path()).await.unwrap()
        }

        /// Leaves the user's checkout dirty in every way git tracks, so that tests can
        /// prove docket leaves all of it alone.
        fn dirty_user_checkout(&self) {
            let repo = self.repo_path();
            write(&repo.join("modify.txt"), b"user edit, unstaged\n");
            write(&repo.join("staged.txt"), b"user edit, staged\n");
            git(&repo, &["add", "staged.txt"]);
            write(&repo.join("untracked.txt"), b"user scratch\n");
        }

        /// Installs hooks that record that they ran and fail.
        fn install_failing_hooks(&self) -> PathBuf {
            let marker = self.home.path().join("hook-ran");
            let hooks = self.repo_path().join(".git").join("hooks");
            for hook in [
                "post-checkout",
                "reference-transaction",
                "pre-commit",
                "commit-msg",
                "post-commit",
                "pre-push",
            ] {
                let path = hooks.join(hook);
                write(
                    &path,
                    format!("#!/bin/sh\necho {hook} >> '{}'\nexit 1\n", marker.display())
                        .as_bytes(),
                );
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            marker
        }

        /// Everything about the user's checkout docket must not change.
        fn user_state(&self) -> String {
            let repo = self.repo_path();
            let mut state = String::new();
            state += &git(&repo, &["rev-parse", "HEAD"]);
            state += &git(&repo, &["symbolic-ref", "HEAD"]);
            state += &git(
                &repo,
                &[
                    "status",
                    "--porcelain=v2",
                    "--branch",
                    "--untracked-files=all",
                ],
            );
            state += &git(&repo, &["ls-files", "--stage"]);
            let mut files = Vec::new();
            collect_files(&repo, &repo, &mut files);
            files.sort();
            for (path, content) in files {
                state += &format!("{path}: {content:?}\n");
            }
            state
        }
    }

    fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name() == Some(OsStr::new(".git")) {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                collect_files(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((relative, target.display().to_string().into_bytes()));
            } else {
                let mut content = std::fs::read(&path).unwrap();
                content.extend(format!(" mode={:o}", meta.permissions().mode()).bytes());
                out.push((relative, content));
            }
        }
    }

    /// The agent's edits used by most tests: one of every kind of change.
    fn make_every_kind_of_change(worktree: &Path) {
        write(&worktree.join("modify.txt"), b"one\nTWO\nthree\nfour\n");
        std::fs::remove_file(worktree.join("delete.txt")).unwrap();
        std::fs::rename(worktree.join("rename_me.txt"), worktree.join("renamed.txt")).unwrap();
        std::fs::set_permissions(
            worktree.join("script.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        write(&worktree.join("new/dir/file.txt"), b"hello\nworld\n");
        write(&worktree.join("image.bin"), &[0, 1, 2, 0, 255, 0]);
        std::os::unix::fs::symlink("target.txt", worktree.join("link")).unwrap();
        std::fs::remove_file(worktree.join("becomes_link.txt")).unwrap();
        std::os::unix::fs::symlink("target.txt", worktree.join("becomes_link.txt")).unwrap();
        // Ignored by .gitignore: must not appear anywhere.
        write(&worktree.join("debug.log"), b"noise\n");
        write(&worktree.join("build/out.txt"), b"artifact\n");
        write(&worktree.join("new/dir/trace.log"), b"noise\n");
    }

    fn change(path: &str, status: ChangeStatus) -> FileChange {
        FileChange {
            path: path.to_owned(),
            old_path: None,
            status,
            old_mode: Some("100644".to_owned()),
            new_mode: Some("100644".to_owned()),
            binary: false,
            added_lines: 0,
            removed_lines: 0,
            is_symlink: false,
            symlink_target: None,
        }
    }

    #[tokio::test]
    async fn open_finds_the_top_level_from_a_subdirectory() {
        let fixture = Fixture::new(true);
        let sub = fixture.repo_path().join("nested/deeper");
        std::fs::create_dir_all(&sub).unwrap();
        let repo = Repo::open(&sub).await.unwrap();
        assert_eq!(repo.root(), fixture.repo_path().canonicalize().unwrap());
    }

    #[tokio::test]
    async fn open_rejects_a_directory_that_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let error = Repo::open(dir.path()).await.unwrap_err();
        let GitError::NotARepository { path, .. } = &error else {
            panic!("expected NotARepository, got {error:?}");
        };
        assert_eq!(path, dir.path());
        assert!(
            error
                .to_string()
                .contains(&dir.path().display().to_string())
        );

        let missing = dir.path().join("missing");
        let error = Repo::open(&missing).await.unwrap_err();
        assert!(matches!(&error, GitError::Io { path, .. } if path == &missing));
    }

    #[tokio::test]
    async fn resolve_gives_full_ids_and_names_unknown_refs() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let head = git(&fixture.repo_path(), &["rev-parse", "HEAD"]);
        assert_eq!(repo.resolve("main").await.unwrap(), head.trim());
        assert_eq!(repo.resolve(&head.trim()[..8]).await.unwrap(), head.trim());

        for rev in ["no-such-branch", "--all", ""] {
            let error = repo.resolve(rev).await.unwrap_err();
            assert!(
                matches!(&error, GitError::UnknownRevision { rev: r, .. } if r == rev),
                "{rev}: {error:?}"
            );
            assert!(error.to_string().contains(&format!("`{rev}`")));
        }
    }

    #[tokio::test]
    async fn user_email_reads_repository_config() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        assert_eq!(
            repo.user_email().await.unwrap(),
            Some("owner@example.com".to_owned())
        );
    }

    #[tokio::test]
    async fn worktree_lifecycle_leaves_the_user_checkout_untouched() {
        let fixture = Fixture::new(true);
        fixture.dirty_user_checkout();
        let marker = fixture.install_failing_hooks();
        let before = fixture.user_state();
        let repo = fixture.repo().await;
        let head = repo.resolve("HEAD").await.unwrap();

        let wt = repo
            .add_worktree(&fixture.worktree_path("run-1"), "HEAD")
            .await
            .unwrap();
        assert_eq!(wt.base, head);
        assert_eq!(
            wt.path,
            fixture.worktree_path("run-1").canonicalize().unwrap()
        );
        assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]), format!("{head}\n"));
        assert_eq!(
            std::fs::read(wt.path.join("modify.txt")).unwrap(),
            b"one\ntwo\nthree\n"
        );
        assert_eq!(fixture.user_state(), before);

        make_every_kind_of_change(&wt.path);
        let diff = wt.collect_diff().await.unwrap();
        let commit = wt
            .commit("Change things\n", AUTHOR, AUTHOR_EMAIL)
            .await
            .unwrap();
        wt.create_branch(&repo, "docket/run-1", &commit)
            .await
            .unwrap();
        assert_eq!(
            git(&fixture.repo_path(), &["rev-parse", "docket/run-1^{tree}"]).trim(),
            diff.tree
        );
        assert_eq!(fixture.user_state(), before);

        repo.remove_worktree(&wt).await.unwrap();
        assert!(!wt.path.exists());
        assert_eq!(fixture.user_state(), before);
        let listed = git(&fixture.repo_path(), &["worktree", "list", "--porcelain"]);
        assert!(!listed.contains("run-1"), "{listed}");
        assert!(
            !marker.exists(),
            "a hook ran: {:?}",
            std::fs::read_to_string(&marker)
        );
    }

    #[tokio::test]
    async fn add_worktree_refuses_a_path_inside_the_repository() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let inside = fixture.repo_path().join("wt");
        let error = repo.add_worktree(&inside, "HEAD").await.unwrap_err();
        assert!(
            matches!(error, GitError::WorktreeInsideRepository { .. }),
            "{error:?}"
        );
        assert!(!inside.exists());

        let error = repo
            .add_worktree(&fixture.worktree_path("x"), "nope")
            .await
            .unwrap_err();
        assert!(
            matches!(error, GitError::UnknownRevision { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn remove_worktree_tolerates_an_already_deleted_directory() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let keep = repo
            .add_worktree(&fixture.worktree_path("keep"), "HEAD")
            .await
            .unwrap();
        let wt = repo
            .add_worktree(&fixture.worktree_path("gone"), "HEAD")
            .await
            .unwrap();
        std::fs::remove_dir_all(&wt.path).unwrap();

        repo.remove_worktree(&wt).await.unwrap();
        // Checkouts are separate repositories: the user's has no worktree entries.
        let listed = git(&fixture.repo_path(), &["worktree", "list", "--porcelain"]);
        assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");
        assert!(keep.path.join(".git").is_dir());
        // Removing it again is still fine.
        repo.remove_worktree(&wt).await.unwrap();
        repo.remove_worktree(&keep).await.unwrap();
    }

    #[tokio::test]
    async fn collect_diff_sees_every_kind_of_change() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        make_every_kind_of_change(&wt.path);
        let own_index_before = git(&wt.path, &["ls-files", "--stage"]);

        let diff = wt.collect_diff().await.unwrap();

        let expected = vec![
            FileChange {
                status: ChangeStatus::TypeChanged,
                new_mode: Some("120000".to_owned()),
                added_lines: 1,
                removed_lines: 1,
                is_symlink: true,
                symlink_target: Some("target.txt".to_owned()),
                ..change("becomes_link.txt", ChangeStatus::TypeChanged)
            },
            FileChange {
                new_mode: None,
                removed_lines: 1,
                ..change("delete.txt", ChangeStatus::Deleted)
            },
            FileChange {
                old_mode: None,
                binary: true,
                ..change("image.bin", ChangeStatus::Added)
            },
            FileChange {
                old_mode: None,
                new_mode: Some("120000".to_owned()),
                added_lines: 1,
                is_symlink: true,
                symlink_target: Some("target.txt".to_owned()),
                ..change("link", ChangeStatus::Added)
            },
            FileChange {
                added_lines: 2,
                removed_lines: 1,
                ..change("modify.txt", ChangeStatus::Modified)
            },
            FileChange {
                old_mode: None,
                added_lines: 2,
                ..change("new/dir/file.txt", ChangeStatus::Added)
            },
            FileChange {
                old_path: Some("rename_me.txt".to_owned()),
                ..change("renamed.txt", ChangeStatus::Renamed)
            },
            FileChange {
                new_mode: Some("100755".to_owned()),
                ..change("script.sh", ChangeStatus::Modified)
            },
        ];
        assert_eq!(diff.files, expected);

        let patch = String::from_utf8_lossy(&diff.patch);
        for needle in [
            "diff --git a/modify.txt b/modify.txt\n",
            "-two\n+TWO\n",
            "deleted file mode 100644\n",
            "GIT binary patch\n",
            "new file mode 120000\n",
            "similarity index 100%\nrename from rename_me.txt\nrename to renamed.txt\n",
            "old mode 100644\nnew mode 100755\n",
            "+++ b/new/dir/file.txt\n",
        ] {
            assert!(patch.contains(needle), "patch lacks {needle:?}:\n{patch}");
        }
        for ignored in ["debug.log", "build/", "trace.log"] {
            assert!(!patch.contains(ignored), "patch mentions {ignored}");
        }
        assert_eq!(
            diff.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&diff.patch)))
        );
        // The worktree's own index was neither used nor changed, and no temporary index
        // is left behind.
        assert_eq!(git(&wt.path, &["ls-files", "--stage"]), own_index_before);
        let admin = git(&wt.path, &["rev-parse", "--absolute-git-dir"]);
        let leftovers: Vec<_> = std::fs::read_dir(admin.trim())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("docket-index"))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new());
    }

    #[tokio::test]
    async fn collect_diff_of_an_untouched_worktree_is_empty() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("only-ignored.log"), b"noise\n");
        let diff = wt.collect_diff().await.unwrap();
        assert_eq!(diff.files, Vec::new());
        assert_eq!(diff.patch, Vec::<u8>::new());
        assert_eq!(
            diff.digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let error = wt
            .commit("nothing", AUTHOR, AUTHOR_EMAIL)
            .await
            .unwrap_err();
        assert!(
            matches!(error, GitError::NothingToCommit { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn identical_edits_give_identical_digests() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let first = repo
            .add_worktree(&fixture.worktree_path("a"), "HEAD")
            .await
            .unwrap();
        let second = repo
            .add_worktree(&fixture.worktree_path("b"), "HEAD")
            .await
            .unwrap();
        let third = repo
            .add_worktree(&fixture.worktree_path("c"), "HEAD")
            .await
            .unwrap();
        make_every_kind_of_change(&first.path);
        make_every_kind_of_change(&second.path);
        make_every_kind_of_change(&third.path);
        write(&third.path.join("modify.txt"), b"one\nTWO\nthree\nfive\n");

        let a = first.collect_diff().await.unwrap();
        let b = second.collect_diff().await.unwrap();
        let c = third.collect_diff().await.unwrap();
        assert_eq!(a.patch, b.patch);
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.tree, b.tree);
        assert_ne!(a.digest, c.digest);
        assert_ne!(a.tree, c.tree);
        // Collecting again gives the same answer.
        assert_eq!(first.collect_diff().await.unwrap(), a);
    }

    /// Reads a commit object: (headers, message).
    fn commit_object(dir: &Path, commit: &str) -> (String, String) {
        let object = git(dir, &["cat-file", "commit", commit]);
        let (headers, message) = object.split_once("\n\n").unwrap();
        (headers.to_owned(), message.to_owned())
    }

    #[tokio::test]
    async fn commit_and_branch_publish_exactly_the_collected_change() {
        let fixture = Fixture::new(true);
        let marker = fixture.install_failing_hooks();
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        make_every_kind_of_change(&wt.path);
        let diff = wt.collect_diff().await.unwrap();

        let message =
            "Fix the thing\n\n# not a comment\nBody line.\n\nDocket-Run: run-1\nDocket-Ticket: T-7";
        let commit = wt.commit(message, AUTHOR, AUTHOR_EMAIL).await.unwrap();
        wt.create_branch(&repo, "docket/fix-thing", &commit)
            .await
            .unwrap();

        let dir = fixture.repo_path();
        assert_eq!(
            git(&dir, &["rev-parse", "refs/heads/docket/fix-thing"]).trim(),
            commit
        );
        let (headers, stored_message) = commit_object(&dir, &commit);
        assert_eq!(stored_message, message);
        let headers: Vec<&str> = headers.lines().collect();
        assert_eq!(headers[0], format!("tree {}", diff.tree));
        assert_eq!(headers[1], format!("parent {}", wt.base));
        assert!(
            headers[2].starts_with(&format!("author {AUTHOR} <{AUTHOR_EMAIL}> ")),
            "{headers:?}"
        );
        assert!(
            headers[3].starts_with(&format!("committer {AUTHOR} <{AUTHOR_EMAIL}> ")),
            "{headers:?}"
        );
        assert_eq!(headers.len(), 4, "{headers:?}");

        assert_eq!(
            git(&dir, &["show", "docket/fix-thing:modify.txt"]),
            "one\nTWO\nthree\nfour\n"
        );
        assert_eq!(
            git(&dir, &["show", "docket/fix-thing:new/dir/file.txt"]),
            "hello\nworld\n"
        );
        let tree = git(&dir, &["ls-tree", "-r", "--name-only", "docket/fix-thing"]);
        assert_eq!(
            tree,
            ".gitignore\nbecomes_link.txt\nimage.bin\nlink\nmodify.txt\nnew/dir/file.txt\nrenamed.txt\nscript.sh\ntarget.txt\n"
        );
        // The published commit's patch is the one that was collected.
        let published = StdCommand::new("git")
            .args(["diff-tree", "-p", "--binary", "-M", "-r", "--full-index"])
            .arg(&wt.base)
            .arg(&commit)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(published.stdout, diff.patch);
        // The user is still on main, and the worktree's HEAD did not move.
        assert_eq!(git(&dir, &["symbolic-ref", "HEAD"]), "refs/heads/main\n");
        assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]).trim(), wt.base);
        assert!(
            !marker.exists(),
            "a hook ran: {:?}",
            std::fs::read_to_string(&marker)
        );
    }

    #[tokio::test]
    async fn commit_uses_the_given_identity_over_the_repository_one() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("modify.txt"), b"changed\n");
        let commit = wt
            .commit("m", "Other Bot", "other@docket.example")
            .await
            .unwrap();
        let (headers, message) = commit_object(&wt.path, &commit);
        assert_eq!(message, "m");
        assert!(
            headers.contains("\nauthor Other Bot <other@docket.example> "),
            "{headers}"
        );
        assert!(
            headers.contains("\ncommitter Other Bot <other@docket.example> "),
            "{headers}"
        );

        for (name, email) in [
            ("", "a@b"),
            ("Bot", ""),
            ("Bot <x>", "a@b"),
            ("Bot", "a@b\n"),
        ] {
            let error = wt.commit("m", name, email).await.unwrap_err();
            assert!(
                matches!(error, GitError::InvalidIdentity { .. }),
                "{error:?}"
            );
        }
    }

    const NO_IDENTITY_CHILD: &str = "DOCKET_GIT_TEST_NO_IDENTITY_CHILD";

    /// Runs itself again in a child process whose HOME, XDG config and global git config
    /// are empty, so no identity exists anywhere, and whose environment carries `GIT_*`
    /// variables that would redirect git; checks that the child passed.
    #[tokio::test]
    async fn commit_works_without_any_configured_identity() {
        if std::env::var_os(NO_IDENTITY_CHILD).is_some() {
            return commit_without_identity_in_child().await;
        }
        let home = tempfile::tempdir().unwrap();
        let output = StdCommand::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::commit_works_without_any_configured_identity",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(NO_IDENTITY_CHILD, "1")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("EMAIL")
            // As if docket ran inside a git hook or under a hostile environment: none of
            // this may reach docket's git commands.
            .env("GIT_DIR", "/nonexistent/git-dir")
            .env("GIT_INDEX_FILE", "/nonexistent/index")
            .env("GIT_AUTHOR_NAME", "Intruder")
            .env("GIT_COMMITTER_EMAIL", "intruder@evil.example")
            .env(
                "GIT_CONFIG_PARAMETERS",
                "'user.email'='intruder@evil.example'",
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn commit_without_identity_in_child() {
        let fixture = Fixture::new(false);
        let repo = fixture.repo().await;
        assert_eq!(repo.user_email().await.unwrap(), None);
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("new.txt"), b"x\n");
        let commit = wt
            .commit("No identity needed\n", AUTHOR, AUTHOR_EMAIL)
            .await
            .unwrap();
        wt.create_branch(&repo, "docket/no-identity", &commit)
            .await
            .unwrap();
        let (headers, message) = commit_object(&fixture.repo_path(), &commit);
        assert_eq!(message, "No identity needed\n");
        assert!(
            headers.contains(&format!("\nauthor {AUTHOR} <{AUTHOR_EMAIL}> ")),
            "{headers}"
        );
        assert!(
            headers.contains(&format!("\ncommitter {AUTHOR} <{AUTHOR_EMAIL}> ")),
            "{headers}"
        );
    }

    #[tokio::test]
    async fn create_branch_refuses_existing_and_invalid_names() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("modify.txt"), b"changed\n");
        let commit = wt.commit("m\n", AUTHOR, AUTHOR_EMAIL).await.unwrap();
        let main_before = git(&fixture.repo_path(), &["rev-parse", "main"]);

        wt.create_branch(&repo, "docket/once", &commit)
            .await
            .unwrap();
        for existing in ["docket/once", "main"] {
            let error = wt
                .create_branch(&repo, existing, &commit)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, GitError::BranchExists { branch, .. } if branch == existing),
                "{error:?}"
            );
        }
        assert_eq!(
            git(&fixture.repo_path(), &["rev-parse", "main"]),
            main_before
        );

        // `@{-1}` would expand to the previously checked-out branch.
        git(&fixture.repo_path(), &["checkout", "-q", "-b", "other"]);
        git(&fixture.repo_path(), &["checkout", "-q", "main"]);
        for bad in [
            "",
            "-x",
            "bad..name",
            "HEAD",
            "a:b",
            "x.lock",
            "@{-1}",
            "has space",
        ] {
            let error = wt.create_branch(&repo, bad, &commit).await.unwrap_err();
            assert!(
                matches!(&error, GitError::InvalidBranchName { name, .. } if name == bad),
                "{bad}: {error:?}"
            );
        }
        let error = wt
            .create_branch(
                &repo,
                "docket/missing-commit",
                "0123456789012345678901234567890123456789",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, GitError::UnknownRevision { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn push_publishes_the_branch_to_a_bare_remote() {
        let fixture = Fixture::new(true);
        let marker = fixture.install_failing_hooks();
        let remote = fixture.home.path().join("remote.git");
        git(
            fixture.home.path(),
            &["init", "-q", "--bare", remote.to_str().unwrap()],
        );
        git(
            &fixture.repo_path(),
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("modify.txt"), b"changed\n");
        let commit = wt.commit("m\n", AUTHOR, AUTHOR_EMAIL).await.unwrap();
        wt.create_branch(&repo, "docket/pushed", &commit)
            .await
            .unwrap();

        repo.push("origin", "docket/pushed").await.unwrap();
        assert_eq!(
            git(&remote, &["rev-parse", "refs/heads/docket/pushed"]).trim(),
            commit
        );
        // Only the one branch went out.
        assert_eq!(
            git(&remote, &["for-each-ref", "--format=%(refname)"]),
            "refs/heads/docket/pushed\n"
        );
        assert!(
            !marker.exists(),
            "a hook ran: {:?}",
            std::fs::read_to_string(&marker)
        );

        let error = repo
            .push("no-such-remote", "docket/pushed")
            .await
            .unwrap_err();
        let GitError::Command { stderr, .. } = &error else {
            panic!("expected Command, got {error:?}");
        };
        assert!(stderr.contains("no-such-remote"), "{stderr}");

        let error = repo.push("--mirror", "docket/pushed").await.unwrap_err();
        assert!(matches!(error, GitError::InvalidRemote { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn push_errors_redact_credentials() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        git(&fixture.repo_path(), &["branch", "docket/secret-test"]);
        let error = repo
            .push(
                "https://user:hunter2@127.0.0.1:1/repo.git",
                "docket/secret-test",
            )
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.contains("https://user:****@127.0.0.1:1/repo.git"),
            "{message}"
        );
    }

    #[test]
    fn redaction_truth_table() {
        let cases = [
            ("", ""),
            ("no urls here", "no urls here"),
            ("https://github.com/o/r.git", "https://github.com/o/r.git"),
            ("https://user:pass@host/r", "https://user:****@host/r"),
            ("https://user:pa:ss@host", "https://user:****@host"),
            ("https://user:p@ss@host/r", "https://user:****@host/r"),
            ("https://ghp_token@host/r", "https://****@host/r"),
            ("https://user:@host", "https://user:****@host"),
            (
                "fatal: 'https://a:b@x/y' and ssh://c:d@z",
                "fatal: 'https://a:****@x/y' and ssh://c:****@z",
            ),
            ("weird :// end", "weird :// end"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            (
                "user@example.com https://h/p?x=a@b",
                "user@example.com https://h/p?x=a@b",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_credentials(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn raw_and_numstat_parsers_reject_what_they_do_not_understand() {
        assert_eq!(parse_raw(b""), Ok(Vec::new()));
        assert_eq!(parse_numstat(b""), Ok(Vec::new()));
        assert!(parse_raw(b":100644 100644 a b C75\0x\0y\0").is_err());
        assert!(parse_raw(b":100644 100644 a b\0x\0").is_err());
        assert!(parse_raw(b":100644 100644 a b M\0").is_err());
        assert!(parse_numstat(b"x\t1\tpath\0").is_err());
        assert_eq!(
            parse_numstat(b"1\t2\t\0old\0new\0-\t-\tbin\0"),
            Ok(vec![
                LineCount {
                    path: "new".to_owned(),
                    lines: Some((1, 2))
                },
                LineCount {
                    path: "bin".to_owned(),
                    lines: None
                },
            ])
        );
    }
}
