//! The golden path end to end: `docket run` takes tickets through real git
//! repositories with a shell agent, and each test checks what a user can see
//! afterwards — the exit code, branches and commit trailers, the run record, ledger
//! entries, the files under DOCKET_HOME, and a working tree nobody touched. This
//! module holds the helpers that read those; the tests are in one module per topic.

mod checks;
mod configuration;
mod intake;
mod isolation;
mod policy;
mod processes;
mod publish;
mod rules;
mod validation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::git;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn status(record: &Value) -> &str {
    record["outcome"]["status"].as_str().unwrap()
}

fn reasons(record: &Value) -> Vec<String> {
    record["outcome"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn rule<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {:#}", record["rules"]))
}

fn check<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#}", record["checks"]))
}

fn run_id(record: &Value) -> String {
    record["run_id"].as_str().unwrap().to_owned()
}

fn decisions(record: &Value) -> Vec<(String, String)> {
    record["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["point"].as_str().unwrap().to_owned(),
                d["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every file under `dir` (recursively, not following symlinks), with its bytes.
fn files_under(dir: &Path, skip: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if skip.iter().any(|s| relative == Path::new(s)) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, skip, out);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(relative, target.into_os_string().into_encoded_bytes());
            } else {
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// What the user sees of their repository: status, HEAD, current branch, index,
/// stashes, worktrees and every file's bytes outside `.git`.
fn user_view(repo: &Path) -> BTreeMap<String, String> {
    let mut view = BTreeMap::new();
    for (name, args) in [
        (
            "status",
            &["status", "--porcelain=v2", "--untracked-files=all"][..],
        ),
        ("head", &["rev-parse", "HEAD"][..]),
        ("current branch", &["symbolic-ref", "HEAD"][..]),
        ("index", &["ls-files", "--stage"][..]),
        ("staged diff", &["diff", "--cached"][..]),
        ("stashes", &["stash", "list"][..]),
        ("worktrees", &["worktree", "list", "--porcelain"][..]),
        ("main", &["rev-parse", "refs/heads/main"][..]),
    ] {
        view.insert(name.to_owned(), git(repo, args));
    }
    for (path, bytes) in files_under(repo, &[".git"]) {
        view.insert(
            format!("file {}", path.display()),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
    }
    view
}
