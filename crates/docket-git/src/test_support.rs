//! What the tests of every module share: a throwaway home with a user's repository in
//! it, git run directly for setup and inspection, and the agent's edits most tests make.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::Repo;

pub(crate) const AUTHOR: &str = "Docket Bot";
pub(crate) const AUTHOR_EMAIL: &str = "bot@docket.example";

/// Runs git synchronously for test setup and inspection; panics on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
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

pub(crate) fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A temporary home with `repo/` (a repository with one commit) beside `docket/`
/// (where worktrees go, outside the repository).
pub(crate) struct Fixture {
    pub(crate) home: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new(with_identity: bool) -> Fixture {
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

    pub(crate) fn repo_path(&self) -> PathBuf {
        self.home.path().join("repo")
    }

    pub(crate) fn worktree_path(&self, name: &str) -> PathBuf {
        self.home.path().join("docket").join("worktrees").join(name)
    }

    pub(crate) async fn repo(&self) -> Repo {
        Repo::open(&self.repo_path()).await.unwrap()
    }

    /// Leaves the user's checkout dirty in every way git tracks, so that tests can
    /// prove docket leaves all of it alone.
    pub(crate) fn dirty_user_checkout(&self) {
        let repo = self.repo_path();
        write(&repo.join("modify.txt"), b"user edit, unstaged\n");
        write(&repo.join("staged.txt"), b"user edit, staged\n");
        git(&repo, &["add", "staged.txt"]);
        write(&repo.join("untracked.txt"), b"user scratch\n");
    }

    /// Installs hooks that record that they ran and fail.
    pub(crate) fn install_failing_hooks(&self) -> PathBuf {
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
                format!("#!/bin/sh\necho {hook} >> '{}'\nexit 1\n", marker.display()).as_bytes(),
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        marker
    }

    /// Everything about the user's checkout docket must not change.
    pub(crate) fn user_state(&self) -> String {
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
pub(crate) fn make_every_kind_of_change(worktree: &Path) {
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
