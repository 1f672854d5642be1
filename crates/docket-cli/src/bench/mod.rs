//! `docket bench`: the subcommands, each measured the same way every time so the
//! figures in BENCHMARKS.md can be reproduced. This module holds `bench ledger` (the
//! ledger's speed on this machine) and `bench run`; every other harness is a submodule.

mod gate;
mod gateway;
mod package;
mod policy;
mod rattleback;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use docket_ledger::{Database, Ledger, LedgerConfig, NewEntry, VerifyOptions};
use serde::Serialize;
use serde_json::json;

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable appends per second (many tasks, and one process per append), verify
    /// time and proof latency. Uses a fresh temporary DOCKET_HOME.
    Ledger(LedgerBenchArgs),
    /// `docket run` around a trivial agent with no validation, against the raw git
    /// work a run must do (worktree add, commit, worktree remove), in the same process.
    Run(RunBenchArgs),
    /// Every rattleback-style scenario (a Terraform workspace with a REMEDIATION.md)
    /// through the golden path with the fixer agent, then re-scan, idempotency,
    /// reproducibility and untouched-file checks; one row per scenario.
    Rattleback(rattleback::RattlebackArgs),
    /// Policy decision latency: the built-in bundle plus a 20-rule repository
    /// bundle, compiled once, publish decisions with input serialisation.
    Policy(policy::PolicyBenchArgs),
    /// `docket gate` over a generated 10,000-commit range with 1,000 attested commits.
    Gate(gate::GateBenchArgs),
    /// `docket export` and `docket verify-package` of a ledger with 1,000 runs.
    Package(package::PackageBenchArgs),
    /// The model gateway's added latency against calling a fake upstream directly,
    /// and concurrent streams.
    Gateway(gateway::GatewayBenchArgs),
}

#[derive(Debug, Args)]
pub struct RunBenchArgs {
    /// Runs of each kind (the first of each is a warm-up and is not counted).
    #[arg(long, default_value_t = 30)]
    runs: u32,
}

#[derive(Debug, Args)]
pub struct LedgerBenchArgs {
    /// Entries appended by concurrent tasks in one process.
    #[arg(long, default_value_t = 200_000)]
    entries: u64,
    /// Concurrent appending tasks.
    #[arg(long, default_value_t = 512)]
    tasks: u64,
    /// Sequential `docket log append` processes, one entry each.
    #[arg(long, default_value_t = 50)]
    processes: u64,
    /// Size of the ledger for the verify and proof measurements (0 skips them).
    #[arg(long, default_value_t = 1_000_000)]
    verify_entries: u64,
    /// Inclusion proofs to time.
    #[arg(long, default_value_t = 2000)]
    proofs: u64,
    /// Run on PostgreSQL: a URL to a server where the benchmark may create and drop a
    /// scratch database (e.g. postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

#[derive(Debug, Serialize)]
struct Figures {
    backend: &'static str,
    concurrent_appends: u64,
    tasks: u64,
    concurrent_appends_per_sec: f64,
    process_appends: u64,
    process_appends_per_sec: f64,
    verify_entries: u64,
    verify_seconds: Option<f64>,
    /// Leaf and node hashes of the same number of entries of the same size, in memory:
    /// the floor verify cannot go below on this CPU.
    hashing_alone_seconds: Option<f64>,
    proof_size: u64,
    proof_median_us: Option<f64>,
    proof_p99_us: Option<f64>,
}

pub async fn run(cmd: BenchCommand, _global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let args = match cmd {
        BenchCommand::Ledger(args) => args,
        BenchCommand::Run(args) => return bench_run(&args, out).await,
        BenchCommand::Rattleback(args) => return rattleback::run(args, out).await,
        BenchCommand::Policy(args) => return policy::run(args, out),
        BenchCommand::Gate(args) => return gate::run(args, out).await,
        BenchCommand::Package(args) => return package::run(args, out).await,
        BenchCommand::Gateway(args) => return gateway::run(args, out).await,
    };
    let scratch = tempfile::Builder::new().prefix("docket-bench-").tempdir()?;
    let pg = match &args.postgres {
        Some(url) => Some(ScratchDb::create(url).await?),
        None => None,
    };
    let result = bench_ledger(&args, scratch.path(), pg.as_ref(), out).await;
    if let Some(pg) = pg {
        pg.drop_db().await?;
    }
    let figures = result?;
    if out.json() {
        out.json_value(&figures)?;
    } else {
        out.line(format!(
            "backend                         {}",
            figures.backend
        ));
        out.line(format!(
            "durable appends, {} tasks       {:.0} entries/s ({} entries)",
            figures.tasks, figures.concurrent_appends_per_sec, figures.concurrent_appends
        ));
        out.line(format!(
            "durable appends, one process each {:.1} entries/s ({} processes)",
            figures.process_appends_per_sec, figures.process_appends
        ));
        if let Some(s) = figures.verify_seconds {
            out.line(format!(
                "verify of {} entries        {s:.2} s",
                figures.verify_entries
            ));
        }
        if let (Some(m), Some(p)) = (figures.proof_median_us, figures.proof_p99_us) {
            out.line(format!(
                "inclusion proof, tree of {}   median {m:.0} µs, p99 {p:.0} µs",
                figures.proof_size
            ));
        }
    }
    Ok(Outcome::Success)
}

fn config(home: &Path, pg: Option<&ScratchDb>, name: &str) -> LedgerConfig {
    let home = home.join(name);
    match pg {
        Some(db) => LedgerConfig {
            database: Database::Postgres(db.url_for(name)),
            home,
        },
        None => LedgerConfig::sqlite_in(home),
    }
}

fn payload(i: u64) -> serde_json::Value {
    json!({"run": format!("r-{i:08}"), "stage": "validation", "exit_code": 0, "duration_ms": i % 997})
}

/// Appends `count` entries from `tasks` concurrent tasks; returns entries per second.
async fn fill(ledger: Arc<Ledger>, count: u64, tasks: u64, out: &Output) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let per_task = count.div_ceil(tasks.max(1));
    for t in 0..tasks {
        let ledger = ledger.clone();
        set.spawn(async move {
            for i in (t * per_task)..((t + 1) * per_task).min(count) {
                ledger
                    .append(NewEntry::new("bench.event", payload(i)))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let secs = start.elapsed().as_secs_f64();
    out.note(format!("  appended {count} entries in {secs:.2} s"));
    Ok(count as f64 / secs)
}

async fn bench_ledger(
    args: &LedgerBenchArgs,
    scratch: &Path,
    pg: Option<&ScratchDb>,
    out: &Output,
) -> anyhow::Result<Figures> {
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    out.note(format!(
        "ledger benchmark on {backend} in {}",
        scratch.display()
    ));

    out.note("1. concurrent durable appends");
    let cfg = config(scratch, pg, "concurrent");
    let ledger = Arc::new(Ledger::open(&cfg).await?);
    let concurrent = fill(ledger.clone(), args.entries, args.tasks, out).await?;
    close(ledger).await;

    out.note("2. one append per process");
    let cfg = config(scratch, pg, "processes");
    let exe = std::env::current_exe().context("cannot find the docket executable")?;
    // Create the ledger first so that process start-up is what is measured.
    close(Arc::new(Ledger::open(&cfg).await?)).await;
    let start = Instant::now();
    for i in 0..args.processes {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("--home").arg(&cfg.home);
        if let Database::Postgres(url) = &cfg.database {
            cmd.env(crate::context::DATABASE_URL_ENV, url);
        }
        let status = cmd
            .args(["log", "append", "--kind", "bench.event", "--data"])
            .arg(payload(i).to_string())
            .stdout(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("docket log append failed during the benchmark");
        }
    }
    let per_process = args.processes as f64 / start.elapsed().as_secs_f64();

    let (mut verify_seconds, mut proof_median_us, mut proof_p99_us) = (None, None, None);
    let mut hashing_alone = None;
    if args.verify_entries > 0 {
        out.note(format!(
            "3. verify a ledger of {} entries",
            args.verify_entries
        ));
        let cfg = config(scratch, pg, "verify");
        let ledger = Arc::new(Ledger::open(&cfg).await?);
        // The genesis entry counts, so append one fewer.
        fill(ledger.clone(), args.verify_entries - 1, args.tasks, out).await?;
        let start = Instant::now();
        let report = ledger.verify(&VerifyOptions::default()).await?;
        let elapsed = start.elapsed();
        if !report.ok() {
            bail!(
                "the benchmark ledger did not verify: {:?}",
                report.problems.first()
            );
        }
        verify_seconds = Some(elapsed.as_secs_f64());
        let sample = ledger.entry(1).await?.bytes;
        let start = Instant::now();
        let mut range = docket_ledger::merkle::CompactRange::new();
        let mut bytes = sample.clone();
        for i in 0..args.verify_entries {
            // Vary the bytes so nothing can be cached.
            bytes[0] = (i & 0xff) as u8;
            range.push(docket_ledger::hash::leaf_hash(&bytes), |_, _| {});
        }
        let _ = range.root();
        hashing_alone = Some(start.elapsed().as_secs_f64());

        out.note(format!("4. {} inclusion proofs", args.proofs));
        let size = ledger.size().await?;
        let mut samples: Vec<Duration> = Vec::with_capacity(args.proofs as usize);
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..args.proofs {
            // xorshift: spread the proofs over the whole tree.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let index = x % size;
            let start = Instant::now();
            let proof = ledger.inclusion_proof(index, size).await?;
            samples.push(start.elapsed());
            if proof.is_empty() && size > 1 {
                bail!("empty proof for entry {index}");
            }
        }
        samples.sort();
        let pick = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q) as usize)
                .map(|d| d.as_secs_f64() * 1e6)
        };
        proof_median_us = pick(0.5);
        proof_p99_us = pick(0.99);
        close(ledger).await;
    }

    Ok(Figures {
        backend,
        concurrent_appends: args.entries,
        tasks: args.tasks,
        concurrent_appends_per_sec: concurrent,
        process_appends: args.processes,
        process_appends_per_sec: per_process,
        verify_entries: args.verify_entries,
        verify_seconds,
        hashing_alone_seconds: hashing_alone,
        proof_size: args.verify_entries,
        proof_median_us,
        proof_p99_us,
    })
}

pub(crate) async fn close(ledger: Arc<Ledger>) {
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close().await;
    }
}

/// A scratch PostgreSQL database per benchmark phase, dropped at the end.
struct ScratchDb {
    admin_url: String,
    prefix: String,
}

impl ScratchDb {
    async fn create(admin_url: &str) -> anyhow::Result<ScratchDb> {
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        let prefix = format!("docket_bench_{}", hex::encode(rnd));
        let db = ScratchDb {
            admin_url: admin_url.to_owned(),
            prefix,
        };
        let mut conn = db.admin().await?;
        for name in ["concurrent", "processes", "verify"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {}_{name}",
                db.prefix
            )))
            .execute(&mut conn)
            .await
            .context("cannot create a scratch database")?;
        }
        Ok(db)
    }

    async fn admin(&self) -> anyhow::Result<sqlx::PgConnection> {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| {
                format!(
                    "cannot connect to {}",
                    docket_ledger::redact_url(&self.admin_url)
                )
            })
    }

    fn url_for(&self, name: &str) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.admin_url);
        format!("{base}/{}_{name}", self.prefix)
    }

    async fn drop_db(self) -> anyhow::Result<()> {
        let mut conn = self.admin().await?;
        for name in ["concurrent", "processes", "verify"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {}_{name} WITH (FORCE)",
                self.prefix
            )))
            .execute(&mut conn)
            .await?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct RunFigures {
    runs: u32,
    docket_median_ms: f64,
    raw_git_median_ms: f64,
    ratio: f64,
}

fn git_ok(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    crate::gitref::git(dir, args, None).map(|_| ())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

async fn bench_run(args: &RunBenchArgs, out: &Output) -> anyhow::Result<Outcome> {
    let scratch = tempfile::Builder::new()
        .prefix("docket-bench-run-")
        .tempdir()?;
    let repo = scratch.path().join("repo");
    std::fs::create_dir_all(repo.join(".docket/tickets"))?;
    git_ok(&repo, &["init", "-q", "-b", "main"])?;
    std::fs::write(repo.join("README.md"), "bench\n")?;
    std::fs::write(
        repo.join("docket.toml"),
        "[repository]\nalias = \"bench\"\n[intake]\nlabel = \"\"\nready_states = []\nrequire_routing = false\n[agent]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo change > bench.txt\"]\n",
    )?;
    std::fs::write(
        repo.join(".docket/tickets/BENCH-1.md"),
        "# Benchmark ticket\n",
    )?;
    git_ok(&repo, &["add", "-A"])?;
    git_ok(&repo, &["commit", "-q", "-m", "bench"])?;

    let home = scratch.path().join("home");
    let ledger = Arc::new(Ledger::open(&LedgerConfig::sqlite_in(&home)).await?);
    let engine = docket_engine::run::Engine {
        ledger: ledger.clone(),
        home: home.clone(),
    };
    out.note(format!(
        "timing {} governed runs and {} raw git sequences",
        args.runs, args.runs
    ));
    let mut docket_samples = Vec::new();
    let mut raw_samples = Vec::new();
    for i in 0..=args.runs {
        let (_tx, cancel) = docket_agents::process::cancel_channel();
        let options = docket_engine::run::RunOptions {
            repo: repo.clone(),
            ticket: "BENCH-1".into(),
            initiator: Some("bench@example.com".into()),
            keep_worktree: false,
            push: None,
            base: None,
        };
        let start = Instant::now();
        let report = engine.run(options, cancel).await?;
        let elapsed = start.elapsed();
        if report.record.outcome.status != docket_core::record::RunStatus::Published {
            bail!(
                "benchmark run did not publish: {:?}",
                report.record.outcome.reasons
            );
        }

        // The raw git work of one run: detached worktree, the change, commit, branch, removal.
        let wt = scratch.path().join(format!("raw-{i}"));
        let wt_arg = wt.display().to_string();
        let start = Instant::now();
        git_ok(
            &repo,
            &["worktree", "add", "-q", "--detach", &wt_arg, "main"],
        )?;
        std::fs::write(wt.join("bench.txt"), "change\n")?;
        git_ok(&wt, &["add", "-A"])?;
        git_ok(&wt, &["commit", "-q", "-m", "raw"])?;
        git_ok(&wt, &["branch", &format!("raw-{i}")])?;
        git_ok(&repo, &["worktree", "remove", "--force", &wt_arg])?;
        let raw = start.elapsed();
        if i > 0 {
            docket_samples.push(elapsed);
            raw_samples.push(raw);
        }
    }
    drop(engine);
    close(ledger).await;
    let (d, r) = (median_ms(docket_samples), median_ms(raw_samples));
    let figures = RunFigures {
        runs: args.runs,
        docket_median_ms: d,
        raw_git_median_ms: r,
        ratio: d / r,
    };
    if out.json() {
        out.json_value(&figures)?;
    } else {
        out.line(format!(
            "docket run (trivial agent, no validation)  median {d:.1} ms"
        ));
        out.line(format!(
            "raw git (worktree add, commit, branch, remove) median {r:.1} ms"
        ));
        out.line(format!(
            "ratio                                       {:.2}x",
            d / r
        ));
    }
    Ok(Outcome::Success)
}
