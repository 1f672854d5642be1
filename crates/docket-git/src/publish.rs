//! Publishing: the writes docket makes to the user's repository. A commit made in a
//! checkout has its new objects copied into the user's object store, then a branch
//! (or, for a run held at the publish point, a ref outside `refs/heads`) is created
//! create-only with `update-ref`; nothing is checked out there. Pushes are never
//! forced and run no hooks.

use std::path::Path;

use crate::command::{GitCall, redact_credentials};
use crate::repo::{ref_exists, resolve_commit};
use crate::{GitError, Repo, Worktree};

impl Repo {
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

    /// Deletes `reference` if it still points at `commit`.
    pub async fn delete_ref(&self, reference: &str, commit: &str) -> Result<(), GitError> {
        GitCall::new(&self.root)
            .args(["update-ref", "-d", "--", reference, commit])
            .run()
            .await
            .map(|_| ())
    }

    /// Pushes `refs/heads/<branch>` to the same name on `remote`.
    ///
    /// Never forces: a push that is not a fast-forward fails, because docket does not
    /// rewrite history. Pre-push hooks do not run.
    pub async fn push(&self, remote: &str, branch: &str) -> Result<(), GitError> {
        self.check_remote(remote)?;
        validate_branch_name(&self.root, branch).await?;
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        self.push_refspec(remote, &refspec).await?;
        tracing::info!(remote = %redact_credentials(remote), %branch, "pushed branch");
        Ok(())
    }

    /// Refuses a remote git would read as an option (or could not be given at all).
    pub(crate) fn check_remote(&self, remote: &str) -> Result<(), GitError> {
        if remote.is_empty() || remote.starts_with('-') || remote.contains('\0') {
            return Err(GitError::InvalidRemote {
                remote: redact_credentials(remote),
                repo: self.root.clone(),
            });
        }
        Ok(())
    }

    /// Pushes `refspec` to a remote that passed [`Repo::check_remote`]: not forced, no
    /// tags, no submodules, no pre-push hook.
    pub(crate) async fn push_refspec(&self, remote: &str, refspec: &str) -> Result<(), GitError> {
        GitCall::new(&self.root)
            .config("push.followTags=false")
            .config("push.recurseSubmodules=no")
            .args(["push", "--no-verify", "--quiet", "--", remote, refspec])
            .run()
            .await
            .map(|_| ())
    }
}

impl Worktree {
    /// Creates branch `branch` at `commit` in the user's repository, after copying the
    /// commit's new objects there. Refuses to overwrite an existing branch; never checks
    /// the branch out, so the user's working tree, index and `HEAD` stay as they are.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

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
}
