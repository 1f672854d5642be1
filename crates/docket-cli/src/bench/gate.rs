//! `docket bench gate`: the gate over a generated range (10,000 commits, every 10th
//! a published run with a real signed attestation, some others AI-marked), timed in
//! process and as the whole `docket gate` command, so the figures in BENCHMARKS.md
//! can be reproduced.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use docket_core::record::AgentRef;
use docket_evidence::attest::{
    self, DiffDigest, LedgerPointer, PREDICATE_SCHEMA, PREDICATE_TYPE, PolicySummary,
    RepositorySummary, RunPredicate, TicketSummary, ValidationSummary, WorkerSummary,
};
use docket_evidence::gate::{self, GatePolicy, Outcome as GateOutcome};
use docket_git::{Repo, TreePair};
use docket_ledger::dsse::{Statement, Subject};
use docket_ledger::{Signer, Verifier};
use serde::Serialize;

use crate::Outcome;
use crate::gitref::git;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct GateBenchArgs {
    /// Commits in the range.
    #[arg(long, default_value_t = 10_000)]
    commits: u32,
    /// Of which this many are published runs with an attestation (spread evenly).
    #[arg(long, default_value_t = 1_000)]
    attested: u32,
    /// Timed gate runs in process (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: u32,
}

#[derive(Debug, Serialize)]
struct Figures {
    commits: usize,
    attested: usize,
    ai_marked: usize,
    plain: usize,
    notes: usize,
    setup_seconds: f64,
    /// `docket_evidence::gate::check` over the whole range, median.
    gate_median_seconds: f64,
    gate_min_seconds: f64,
    gate_max_seconds: f64,
    /// Parts of the median run.
    list_seconds: f64,
    notes_seconds: f64,
    verify_seconds: f64,
    diffs_seconds: f64,
    /// The whole `docket gate --format json` command (process start, output), median of 3.
    command_median_seconds: f64,
    goal_seconds: f64,
    goal_met: bool,
}

const GOAL: Duration = Duration::from_secs(5);
const FILES: u32 = 200;

pub async fn run(args: GateBenchArgs, out: &Output) -> anyhow::Result<Outcome> {
    ensure!(args.commits > 0, "--commits must be at least 1");
    ensure!(
        args.attested <= args.commits,
        "--attested ({}) cannot exceed --commits ({})",
        args.attested,
        args.commits
    );
    let scratch = tempfile::Builder::new()
        .prefix("docket-bench-gate-")
        .tempdir()?;
    let dir = scratch.path().join("repo");
    std::fs::create_dir_all(&dir)?;
    out.note(format!(
        "building a {}-commit range with {} attestations in {} ...",
        args.commits,
        args.attested,
        dir.display()
    ));
    let started = Instant::now();
    let signer = Signer::generate("bench-gate")?;
    let plan = Plan::new(args.commits, args.attested);
    build_history(&dir, &plan)?;
    let repo = Repo::open(&dir).await?;
    attach_attestations(&dir, &repo, &plan, &signer).await?;
    let setup = started.elapsed();

    let trusted = [signer.verifier()];
    let base = repo.resolve("main").await?;
    let head = repo.resolve("bench").await?;
    let policy = GatePolicy::default();
    let mut samples = Vec::new();
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let report = gate::check(&repo, &base, &head, &trusted).await?;
        let elapsed = started.elapsed();
        check_outcomes(&report, &plan)?;
        ensure!(report.failing(&policy).count() == plan.ai_marked());
        samples.push((elapsed, report.timings, report.notes));
    }
    samples.sort_by_key(|(elapsed, _, _)| *elapsed);
    let (median, timings, notes) = samples
        .get(samples.len() / 2)
        .copied()
        .context("no gate run")?;
    let min = samples.first().map(|s| s.0).unwrap_or_default();
    let max = samples.last().map(|s| s.0).unwrap_or_default();
    let command = time_command(&dir, &signer.verifier())?;

    let figures = Figures {
        commits: plan.commits as usize,
        attested: plan.attested(),
        ai_marked: plan.ai_marked(),
        plain: plan.commits as usize - plan.attested() - plan.ai_marked(),
        notes,
        setup_seconds: secs(setup),
        gate_median_seconds: secs(median),
        gate_min_seconds: secs(min),
        gate_max_seconds: secs(max),
        list_seconds: secs(timings.list),
        notes_seconds: secs(timings.notes),
        verify_seconds: secs(timings.verify),
        diffs_seconds: secs(timings.diffs),
        command_median_seconds: secs(command),
        goal_seconds: secs(GOAL),
        goal_met: median.max(command) < GOAL,
    };
    if out.json() {
        out.json_value(&figures)?;
    } else {
        out.line(format!(
            "range: {} commits ({} attested, {} AI-marked, {} plain), {} notes; setup {:.2} s",
            figures.commits,
            figures.attested,
            figures.ai_marked,
            figures.plain,
            figures.notes,
            figures.setup_seconds
        ));
        out.line(format!(
            "gate, in process:       {:.3} s median of {} (range {:.3}–{:.3} s): list {:.3} s, notes {:.3} s, verify {:.3} s, diffs {:.3} s",
            figures.gate_median_seconds,
            samples.len(),
            figures.gate_min_seconds,
            figures.gate_max_seconds,
            figures.list_seconds,
            figures.notes_seconds,
            figures.verify_seconds,
            figures.diffs_seconds
        ));
        out.line(format!(
            "docket gate, command:   {:.3} s median of 3",
            figures.command_median_seconds
        ));
        out.line(format!(
            "goal: under {:.0} s — {}",
            figures.goal_seconds,
            if figures.goal_met { "met" } else { "NOT met" }
        ));
    }
    Ok(Outcome::Success)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 1e4
}

/// Which commit is what: commit `i` (1-based) is attested when `i % step == 0`, else
/// AI-marked when `i.is_multiple_of(7)`, else plain.
struct Plan {
    commits: u32,
    step: u32,
}

impl Plan {
    fn new(commits: u32, attested: u32) -> Plan {
        let step = commits.checked_div(attested).map_or(u32::MAX, |s| s.max(1));
        Plan { commits, step }
    }

    fn is_attested(&self, i: u32) -> bool {
        i.is_multiple_of(self.step)
    }

    fn is_ai_marked(&self, i: u32) -> bool {
        !self.is_attested(i) && i.is_multiple_of(7)
    }

    fn attested(&self) -> usize {
        (1..=self.commits).filter(|i| self.is_attested(*i)).count()
    }

    fn ai_marked(&self) -> usize {
        (1..=self.commits).filter(|i| self.is_ai_marked(*i)).count()
    }

    fn run_id(i: u32) -> String {
        format!("bench-run-{i:06}")
    }

    fn message(&self, i: u32) -> String {
        if self.is_attested(i) {
            format!(
                "Ticket BENCH-{i}\n\nGoverned change for ticket BENCH-{i} made by docket run {run}.\n\nDocket-Run: {run}\nDocket-Ticket: BENCH-{i}\nAssisted-by: exec\nRequested-by: bench@example.com\n",
                run = Plan::run_id(i)
            )
        } else if self.is_ai_marked(i) {
            format!("Change {i}\n\nCo-authored-by: Claude <noreply@anthropic.com>\n")
        } else {
            format!("Change {i}\n\nWritten by hand.\n")
        }
    }
}

fn data(stream: &mut String, text: &str) {
    let _ = write!(stream, "data {}\n{text}\n", text.len());
}

/// `main` with one commit, and `bench` with the range on top, in one fast-import.
fn build_history(dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    git(dir, &["init", "-q", "-b", "main"], None)?;
    let mut stream = String::with_capacity(plan.commits as usize * 400);
    let ident = |t: u32| format!("Bench <bench@example.com> {} +0000", 1_700_000_000 + t);
    let _ = write!(
        stream,
        "commit refs/heads/main\nmark :1\nauthor {a}\ncommitter {a}\n",
        a = ident(0)
    );
    data(&mut stream, "base\n");
    stream.push_str("M 100644 inline README.md\n");
    data(&mut stream, "# bench\n");
    stream.push('\n');
    for i in 1..=plan.commits {
        let file = i % FILES;
        let _ = write!(
            stream,
            "commit refs/heads/bench\nmark :{}\nauthor {a}\ncommitter {a}\n",
            i + 1,
            a = ident(i)
        );
        data(&mut stream, &plan.message(i));
        let _ = writeln!(stream, "from :{i}");
        let _ = writeln!(
            stream,
            "M 100644 inline src/module{}/file{file}.txt",
            file % 10
        );
        let mut content = String::new();
        for line in 0..12 {
            let _ = writeln!(content, "file {file} line {line}");
        }
        let _ = writeln!(content, "last change: commit {i}");
        data(&mut stream, &content);
        stream.push('\n');
    }
    git(dir, &["fast-import", "--quiet"], Some(stream.as_bytes()))?;
    Ok(())
}

/// Signs one attestation per attested commit, as a published run would, and attaches
/// them all under refs/notes/docket with one fast-import.
async fn attach_attestations(
    dir: &Path,
    repo: &Repo,
    plan: &Plan,
    signer: &Signer,
) -> anyhow::Result<()> {
    let commits = repo.range_commits("main", "bench").await?;
    ensure!(
        commits.len() == plan.commits as usize,
        "expected {} commits, listed {}",
        plan.commits,
        commits.len()
    );
    let attested: Vec<(u32, &docket_git::RangeCommit)> = commits
        .iter()
        .zip(1..)
        .filter(|(_, i)| plan.is_attested(*i))
        .map(|(c, i)| (i, c))
        .collect();
    let pairs: Vec<TreePair> = attested
        .iter()
        .map(|(_, c)| TreePair {
            from: c.first_parent_tree.clone(),
            to: c.tree.clone(),
        })
        .collect();
    let digests = repo.tree_diff_digests(&pairs).await?;
    // The setup must attest exactly what a run would: spot-check against the
    // one-commit digest a run's own verification uses.
    for ((_, commit), digest) in attested.iter().zip(&digests).take(3) {
        let single = repo.commit_diff_digest(&commit.id).await?;
        if single != *digest {
            bail!("batch and single diff digests differ for {}", commit.id);
        }
    }
    let verifier = signer.verifier();
    let mut stream = String::with_capacity(attested.len() * 2500);
    stream.push_str(
        "commit refs/notes/docket\ncommitter Bench <bench@example.com> 1700000000 +0000\n",
    );
    data(&mut stream, "bench attestations\n");
    for ((i, commit), digest) in attested.iter().zip(&digests) {
        let statement = Statement::new(
            vec![
                Subject::new(attest::SUBJECT_COMMIT, "gitCommit", commit.id.clone()),
                Subject::new(attest::SUBJECT_TREE, "gitTree", commit.tree.clone()),
                Subject::new(
                    attest::SUBJECT_DIFF,
                    "sha256",
                    digest.trim_start_matches("sha256:"),
                ),
            ],
            PREDICATE_TYPE,
            predicate(*i, commit, digest, &verifier),
        );
        let envelope = attest::sign(&statement, signer)?;
        let _ = writeln!(stream, "N inline {}", commit.id);
        data(&mut stream, &envelope.to_json());
    }
    stream.push('\n');
    git(dir, &["fast-import", "--quiet"], Some(stream.as_bytes()))?;
    Ok(())
}

fn predicate(
    i: u32,
    commit: &docket_git::RangeCommit,
    digest: &str,
    verifier: &Verifier,
) -> RunPredicate {
    RunPredicate {
        schema: PREDICATE_SCHEMA.to_owned(),
        run_id: Plan::run_id(i),
        started_at: "2026-11-22T07:00:00Z".to_owned(),
        attested_at: "2026-11-22T07:00:05Z".to_owned(),
        ticket: TicketSummary {
            id: format!("BENCH-{i}"),
            title: format!("Ticket BENCH-{i}"),
            source: format!(".docket/tickets/BENCH-{i}.md"),
            digest: format!("sha256:{:064x}", i),
            requester: Some("bench@example.com".to_owned()),
            labels: vec!["docket".to_owned()],
        },
        initiator: "bench@example.com".to_owned(),
        repository: RepositorySummary {
            alias: "bench".to_owned(),
            base_ref: "main".to_owned(),
            base_commit: commit.parents.first().cloned(),
        },
        agent: AgentRef {
            kind: "exec".to_owned(),
            command: vec!["sh".to_owned(), "-c".to_owned(), "true".to_owned()],
            model: None,
        },
        worker: WorkerSummary {
            host: "bench".to_owned(),
            docket_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        diff: DiffDigest {
            digest: digest.to_owned(),
            tree: commit.tree.clone(),
            files_changed: 1,
            lines_added: 1,
            lines_removed: 1,
        },
        policy: PolicySummary { decisions: vec![] },
        rules: vec![],
        validation: ValidationSummary {
            mode: "off".to_owned(),
            results: vec![],
        },
        checks: vec![],
        fixer: None,
        ledger: LedgerPointer {
            origin: "docket.ledger/bench".to_owned(),
            entries: vec![u64::from(i)],
            key: verifier.to_string(),
        },
    }
}

/// The benchmark is only a measurement if the gate got every commit right.
fn check_outcomes(report: &gate::GateReport, plan: &Plan) -> anyhow::Result<()> {
    for (judged, i) in report.commits.iter().zip(1..) {
        let expected = if plan.is_attested(i) {
            GateOutcome::Governed
        } else if plan.is_ai_marked(i) {
            GateOutcome::UngovernedAi
        } else {
            GateOutcome::Plain
        };
        if judged.outcome != expected {
            bail!(
                "commit {i} ({}) was judged {} ({}), expected {expected}",
                judged.commit.id,
                judged.outcome,
                judged.reason
            );
        }
    }
    ensure!(report.commits.len() == plan.commits as usize);
    Ok(())
}

/// The whole command, as CI runs it: `docket gate --format json`, median of 3.
fn time_command(dir: &Path, key: &Verifier) -> anyhow::Result<Duration> {
    let exe = std::env::current_exe().context("cannot find the docket binary")?;
    let key = key.to_string();
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .args(["gate", "--base", "main", "--head", "bench", "--key", &key])
            .args(["--format", "json", "--repo"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run docket gate")?;
        samples.push(started.elapsed());
        // The AI-marked commits fail the range: exit 1 is the expected answer.
        ensure!(
            status.code() == Some(1),
            "docket gate exited with {status}, expected 1"
        );
    }
    samples.sort();
    samples.get(1).copied().context("no command run")
}
