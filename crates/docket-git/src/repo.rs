//! The user's repository: opening it from any directory inside its working tree, and
//! reading from it — commits, files and folders of a commit's tree, refs, config. Every
//! read is of committed content; the working tree is never looked at.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::GitError;
use crate::command::{GitCall, parse_object_id};

/// The user's repository, identified by the top level of its working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub(crate) root: PathBuf,
    /// The object directory shared by all of the repository's worktrees.
    pub(crate) objects: PathBuf,
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
}

/// Resolves `rev` to the full id of the commit it names, in the repository at `dir`.
pub(crate) async fn resolve_commit(dir: &Path, rev: &str) -> Result<String, GitError> {
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

/// Whether `reference` exists in the repository at `dir`.
pub(crate) async fn ref_exists(dir: &Path, reference: &str) -> Result<bool, GitError> {
    let call = GitCall::new(dir).args(["rev-parse", "--verify", "--quiet", reference]);
    let args = call.display_args();
    let output = call.output().await?;
    match output.code {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(output.into_error(args, dir)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

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
}
