//! `docket quickstart`: a guided tour of the ledger in a throw-away DOCKET_HOME. Every
//! step runs the real `docket` binary and prints the command it ran, so the output
//! doubles as a copy-paste tutorial.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Directory to use as DOCKET_HOME (created; must be empty or absent). Defaults to
    /// a new temporary directory that is kept so you can explore it.
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

pub async fn run(args: QuickstartArgs, out: &Output) -> anyhow::Result<Outcome> {
    let root = prepare_dir(args.dir)?;
    let tour = Tour {
        exe: std::env::current_exe().context("cannot find the docket executable")?,
        home: root.join("home"),
        out,
    };
    let files = root.join("files");
    std::fs::create_dir_all(&files)?;
    let home = tour.home.display().to_string();

    tour.step("Record a piece of evidence: a manual approval from another system.");
    tour.run(
        &[
            "log",
            "append",
            "--kind",
            "approval",
            "--data",
            r#"{"change":"PR 42","approver":"alice@example.com","decision":"approved"}"#,
        ],
        0,
    )?;

    tour.step("Large evidence goes to the content-addressed blob store; the entry references it.");
    let ci_log = files.join("ci.log");
    write(
        &ci_log,
        "cargo test\ntest result: ok. 112 passed; 0 failed\n",
    )?;
    let ci_log_arg = ci_log.display().to_string();
    tour.run(
        &[
            "log",
            "append",
            "--kind",
            "ci.result",
            "--data",
            r#"{"pipeline":"build-981","status":"passed"}"#,
            "--attach",
            &ci_log_arg,
        ],
        0,
    )?;

    tour.step("Sign the tree head and keep a copy outside the ledger, as an auditor would.");
    let saved = files.join("checkpoint.note");
    let saved_arg = saved.display().to_string();
    tour.run(&["log", "checkpoint", "--out", &saved_arg], 0)?;

    tour.step("The public key is all a third party needs to check proofs.");
    let key = tour.run(&["key", "show"], 0)?;
    let key_file = files.join("ledger.pub");
    write(&key_file, &key)?;
    let key_arg = format!("@{}", key_file.display());

    tour.step("Prove that entry 1 is in the log, and check the proof offline with only the key.");
    let proof = files.join("proof-1.json");
    let proof_arg = proof.display().to_string();
    tour.run(&["log", "prove", "1", "--out", &proof_arg], 0)?;
    tour.run(&["log", "check-proof", &proof_arg, "--key", &key_arg], 0)?;

    tour.step("Retention: shred the CI log's content. The shred itself becomes evidence.");
    let digest = tour.run(&["blob", "put", &ci_log_arg], 0)?;
    tour.run(
        &[
            "blob",
            "shred",
            digest.trim(),
            "--reason",
            "retention: CI logs kept 30 days",
        ],
        0,
    )?;

    tour.step("Verify everything: hashes, tree, signatures, the saved checkpoint, blobs.");
    tour.run(&["log", "verify", "--blobs", "--checkpoint", &saved_arg], 0)?;

    tour.step("List the evidence.");
    tour.run(&["log", "list"], 0)?;

    out.line(format!("Done. Your ledger lives in {home}. Try:"));
    out.line(format!("  docket --home {home} log show 2"));
    out.line(format!("  docket --home {home} log list --format json"));
    out.line(format!("  docket --home {home} key rotate"));
    Ok(Outcome::Success)
}
