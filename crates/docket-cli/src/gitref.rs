//! Checkpoints published outside the writer: a chain of commits under
//! `refs/docket/checkpoints` in any git repository (the governed repository, or an
//! auditor's clone), written and read with the `git` command.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use docket_ledger::{Anchor, SignedCheckpoint};

pub const CHECKPOINT_REF: &str = "refs/docket/checkpoints";
const FILE_NAME: &str = "checkpoint";

/// Runs `git -C dir args…` with docket's identity, returning trimmed stdout; a failure
/// names the command, the directory and git's message.
pub fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    cmd.env("GIT_AUTHOR_NAME", "docket")
        .env("GIT_AUTHOR_EMAIL", "docket@localhost")
        .env("GIT_COMMITTER_NAME", "docket")
        .env("GIT_COMMITTER_EMAIL", "docket@localhost")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot run git; is it installed?")?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).context("cannot write to git")?;
    }
    let output = child.wait_with_output().context("git did not finish")?;
    if !output.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn current_tip(dir: &Path) -> anyhow::Result<Option<String>> {
    git(dir, &["rev-parse", "--git-dir"], None)
        .with_context(|| format!("{} is not a git repository", dir.display()))?;
    let tip = git(
        dir,
        &["rev-parse", "--verify", "--quiet", CHECKPOINT_REF],
        None,
    )
    .unwrap_or_default();
    Ok(Some(tip).filter(|t| !t.is_empty()))
}

/// Appends the checkpoint as a new commit on the ref; returns the commit id.
pub fn store_checkpoint(dir: &Path, cp: &SignedCheckpoint) -> anyhow::Result<String> {
    let parent = current_tip(dir)?;
    let blob = git(
        dir,
        &["hash-object", "-w", "--stdin"],
        Some(cp.note.as_bytes()),
    )?;
    let tree = git(
        dir,
        &["mktree"],
        Some(format!("100644 blob {blob}\t{FILE_NAME}\n").as_bytes()),
    )?;
    let message = format!(
        "docket checkpoint {} size {}",
        cp.checkpoint.origin, cp.checkpoint.size
    );
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message.as_str()];
    if let Some(p) = &parent {
        args.extend(["-p", p.as_str()]);
    }
    let commit = git(dir, &args, None)?;
    // Compare-and-swap: refuse to move the ref if someone else moved it meanwhile.
    let old = parent.unwrap_or_else(|| "0".repeat(40));
    git(dir, &["update-ref", CHECKPOINT_REF, &commit, &old], None)?;
    Ok(commit)
}

/// Every checkpoint ever stored on the ref, newest first.
pub fn load_checkpoints(dir: &Path) -> anyhow::Result<Vec<Anchor>> {
    let Some(_) = current_tip(dir)? else {
        bail!(
            "{} has no {CHECKPOINT_REF}; store one with `docket log checkpoint --git-ref`",
            dir.display()
        );
    };
    let commits = git(dir, &["rev-list", CHECKPOINT_REF], None)?;
    commits
        .lines()
        .map(|commit| {
            let note = git(
                dir,
                &["cat-file", "blob", &format!("{commit}:{FILE_NAME}")],
                None,
            )?;
            Ok(Anchor {
                label: format!("{}@{}", dir.display(), &commit[..commit.len().min(12)]),
                note: format!("{note}\n"),
            })
        })
        .collect()
}
