//! `docket quickstart`: a guided tour in a throw-away directory — a small governed
//! repository with an exec agent and two tickets; one run publishes a branch, one is
//! blocked; then the evidence is listed, proven and verified. Every step runs the real
//! `docket` binary (or git) and prints the command, so the output doubles as a
//! copy-paste tutorial.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Directory for the demo repository and its DOCKET_HOME (created; must be empty
    /// or absent). Defaults to a new temporary directory that is kept for exploring.
    dir: Option<PathBuf>,
}

struct Tour<'a> {
    exe: PathBuf,
    home: PathBuf,
    out: &'a Output,
}

impl Tour<'_> {
    /// Runs `docket --home HOME ARGS…`, shows the command and its output, and returns
    /// its standard output.
    fn run(&self, args: &[&str], expect_code: i32) -> anyhow::Result<String> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains([' ', '{', '"']) {
                    format!("'{a}'")
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        self.out.line(format!(
            "$ docket --home {} {}",
            self.home.display(),
            shown.join(" ")
        ));
        let output = Command::new(&self.exe)
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove(crate::context::DATABASE_URL_ENV)
            .output()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        for line in stdout
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
        {
            self.out.line(format!("  {line}"));
        }
        let code = output.status.code().unwrap_or(-1);
        if code != expect_code {
            bail!(
                "`docket {}` exited with {code}, expected {expect_code}",
                args.join(" ")
            );
        }
        self.out.line("");
        Ok(stdout)
    }

    fn step(&self, text: &str) {
        self.out.line(format!("# {text}"));
    }
}

fn prepare_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match dir {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                bail!(
                    "{} is not empty; quickstart needs an empty or new directory",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Ok(dir)
        }
        None => Ok(tempfile::Builder::new()
            .prefix("docket-quickstart-")
            .tempdir()?
            .keep()),
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

const AGENT: &str = r#"#!/bin/sh
# A deterministic demo agent. It reads the ticket (a file, never argv) and appends
# the ticket's `line:` to the file named by its `file:`, once.
set -eu
file=$(sed -n 's/^file: *//p' "$DOCKET_TICKET_FILE" | head -n 1)
line=$(sed -n 's/^line: *//p' "$DOCKET_TICKET_FILE" | head -n 1)
mkdir -p "$(dirname "$file")"
touch "$file"
grep -qxF -- "$line" "$file" || printf '%s\n' "$line" >> "$file"
"#;

const CONFIG: &str = r#"# docket.toml for the quickstart repository (see `docket init` for every key).
[repository]
alias = "demo"
base_ref = "main"

[intake]
tickets = ".docket/tickets"
label = "docket"
ready_states = ["ready"]

[agent]
kind = "exec"
command = ["sh", ".docket/agent.sh"]
timeout = "60s"

[rules]
max_files = 10
max_lines = 200

[validation]
mode = "required"
commands = [["sh", "-c", "test -s docs/release-notes.md"]]
timeout = "30s"

[checks]
idempotency = "required"
reproducibility = "required"
"#;

const TICKET_NOTES: &str = "---\nid: NOTES-1\ntitle: Add a release-notes line\nlabels: [docket, repo-demo]\nstate: ready\nrequester: alice@example.com\n---\n# Add a release-notes line\n\nfile: docs/release-notes.md\nline: - Evidence for every AI change is now kept in docket's ledger.\n";

const TICKET_CI: &str = "---\nid: CI-2\ntitle: Make CI faster\nlabels: [docket, repo-demo]\nstate: ready\nrequester: bob@example.com\n---\n# Make CI faster\n\nfile: .github/workflows/ci.yml\nline: # cache everything\n";

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    crate::gitref::git(repo, args, None)
}

fn governed_repo(repo: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(repo.join(".docket/tickets"))?;
    git(repo, &["init", "-q", "-b", "main"])?;
    git(repo, &["config", "user.email", "dev@example.com"])?;
    git(repo, &["config", "user.name", "Quickstart"])?;
    write(
        &repo.join("README.md"),
        "# demo\n\nA repository governed by docket.\n",
    )?;
    write(&repo.join(".docket/agent.sh"), AGENT)?;
    write(&repo.join("docket.toml"), CONFIG)?;
    write(&repo.join(".docket/tickets/NOTES-1.md"), TICKET_NOTES)?;
    write(&repo.join(".docket/tickets/CI-2.md"), TICKET_CI)?;
    git(repo, &["add", "-A"])?;
    git(
        repo,
        &["commit", "-q", "-m", "Govern this repository with docket"],
    )?;
    Ok(())
}

pub async fn run(args: QuickstartArgs, out: &Output) -> anyhow::Result<Outcome> {
    let root = prepare_dir(args.dir)?;
    let tour = Tour {
        exe: std::env::current_exe().context("cannot find the docket executable")?,
        home: root.join("home"),
        out,
    };
    let repo = root.join("repo");
    let repo_arg = repo.display().to_string();
    let files = root.join("files");
    std::fs::create_dir_all(&files)?;
    let home = tour.home.display().to_string();

    tour.step(&format!(
        "A governed repository in {repo_arg}: docket.toml (committed, reviewed like code), an exec agent and two tickets."
    ));
    governed_repo(&repo)?;
    out.line("");

    tour.step("Intake: which tickets may run here, and why. Each decision is recorded.");
    tour.run(&["intake", "--repo", &repo_arg], 0)?;

    tour.step("Run the first ticket: worktree, agent, rules, validation, idempotency and reproducibility checks, branch.");
    let published = tour.run(
        &[
            "run",
            "--repo",
            &repo_arg,
            "--ticket",
            "NOTES-1",
            "--as",
            "dev@example.com",
        ],
        0,
    )?;
    let branch = published
        .lines()
        .find_map(|l| l.strip_prefix("branch     "))
        .and_then(|l| l.split_whitespace().next())
        .context("the run printed no branch")?
        .to_owned();
    out.line(format!("# The branch's commit carries the trailers a reviewer and `docket gate` rely on ({branch}):"));
    for line in git(&repo, &["log", "-1", "--format=%B", &branch])?.lines() {
        out.line(format!("  {line}"));
    }
    out.line("");

    tour.step("Run the second ticket: its agent edits CI configuration, which the repository rules forbid.");
    tour.run(
        &[
            "run",
            "--repo",
            &repo_arg,
            "--ticket",
            "CI-2",
            "--as",
            "dev@example.com",
        ],
        1,
    )?;

    tour.step("The evidence: every run, and every stage of it, is a ledger entry.");
    let list = tour.run(&["runs", "list"], 0)?;
    if let Some(run_id) = list
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
    {
        tour.run(&["runs", "show", run_id], 0)?;
    }

    tour.step(
        "Sign the ledger's head, keep it outside the ledger, and verify everything against it.",
    );
    let saved = files.join("checkpoint.note");
    let saved_arg = saved.display().to_string();
    tour.run(&["log", "checkpoint", "--out", &saved_arg], 0)?;
    tour.run(&["log", "verify", "--blobs", "--checkpoint", &saved_arg], 0)?;

    tour.step("Prove one entry to someone who has only the public key.");
    let key = tour.run(&["key", "show"], 0)?;
    let key_file = files.join("ledger.pub");
    write(&key_file, &key)?;
    let proof = files.join("proof-1.json");
    let proof_arg = proof.display().to_string();
    tour.run(&["log", "prove", "1", "--out", &proof_arg], 0)?;
    tour.run(
        &[
            "log",
            "check-proof",
            &proof_arg,
            "--key",
            &format!("@{}", key_file.display()),
        ],
        0,
    )?;

    out.line(format!(
        "Done. The repository is {repo_arg}; docket's state is {home}. Try:"
    ));
    out.line(format!("  git -C {repo_arg} log --all --oneline"));
    out.line(format!("  docket --home {home} runs list --format json"));
    out.line(format!("  docket --home {home} log list"));
    Ok(Outcome::Success)
}
