//! Commits: a checkout's content, or exactly the tree a [`Diff`] judged, on top of the
//! checkout's base, written with `commit-tree` under the identity given (never one
//! from the environment or config), the message taken byte for byte. No hook runs,
//! nothing is signed, no ref moves; publishing is `publish`'s.

use crate::command::{GitCall, parse_object_id};
use crate::{Diff, GitError, Worktree};

impl Worktree {
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
}

/// Refuses an identity git would silently alter or reject.
pub(crate) fn validate_identity(name: &str, email: &str) -> Result<(), GitError> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command as StdCommand;

    use super::*;
    use crate::test_support::*;

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
        // The test's name as libtest knows it: its module path without the crate name.
        let (_crate, this_test) = concat!(
            module_path!(),
            "::commit_works_without_any_configured_identity"
        )
        .split_once("::")
        .unwrap();
        let home = tempfile::tempdir().unwrap();
        let output = StdCommand::new(std::env::current_exe().unwrap())
            .args(["--exact", this_test, "--nocapture", "--test-threads=1"])
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
}
