//! Isolated checkouts: each run works in a repository of its own under DOCKET_HOME,
//! outside the user's checkout, that borrows the user's objects read-only through
//! `objects/info/alternates`. Not a linked worktree: those share refs and config with
//! the user's repository. Removal deletes only what [`Repo::add_worktree`] made.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::command::GitCall;
use crate::{GitError, Repo};

/// An isolated checkout that docket created for one run, detached at `base`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Worktree {
    /// Canonical absolute path of the worktree directory.
    pub path: PathBuf,
    /// Full id of the commit the worktree was created at.
    pub base: String,
}

impl Repo {
    /// Creates an isolated checkout at `path`, detached at `commit`.
    ///
    /// `path` must lie outside the repository (docket keeps worktrees under DOCKET_HOME),
    /// so the user's `git status` never sees it.
    pub async fn add_worktree(&self, path: &Path, commit: &str) -> Result<Worktree, GitError> {
        // A full object id was resolved by the caller; `checkout` fails on an unknown one.
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
    /// A checkout whose directory is already gone is not an error: the user's
    /// repository keeps no entry for it, so nothing is left to remove. Docket never runs
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
}

impl Worktree {
    /// The checkout's own `.git` directory. Anything else (a `.git` file or symlink an
    /// agent put there to point git elsewhere) is refused.
    pub(crate) async fn own_git_dir(&self) -> Result<PathBuf, GitError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

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
}
