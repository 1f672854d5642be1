//! The `docket` binary: parses arguments, resolves them into a validated context,
//! runs one command, and maps its outcome to an exit code (0 ok, 1 failed/blocked,
//! 2 error).

mod attest_cmd;
mod bench;
mod blob_cmd;
mod context;
mod export_cmd;
mod gate_cmd;
mod gitref;
mod iac_cmd;
mod key_cmd;
mod log_cmd;
mod output;
mod policy_cmd;
mod quickstart;
mod run_cmd;
mod timearg;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::output::Output;

/// docket makes AI-written code governable: one controlled path from ticket to pull
/// request, with evidence an auditor can verify offline.
#[derive(Debug, Parser)]
#[command(name = "docket", version, about, long_about = None, max_term_width = 100)]
#[command(after_help = "Exit codes: 0 success, 1 verification failed / blocked / denied, 2 error.")]
struct Cli {
    /// State directory (ledger, keys, blobs). Defaults to the platform data directory.
    #[arg(long, global = true, env = "DOCKET_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// Ledger database: a SQLite path or postgres://user@host/db. Defaults to
    /// DOCKET_HOME/ledger.sqlite3. Prefer the DOCKET_DATABASE_URL variable for URLs
    /// with passwords: arguments are visible to other users.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// Output format (sarif: only for `scan` and `gate`; csv: only for `runs list`).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Log more (repeat for more detail); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    // SARIF 2.1.0, only for `scan` and `gate` (code-scanning uploaders read it).
    Sarif,
    // RFC 4180 CSV, only for `runs list` (one row per run, for a spreadsheet).
    Csv,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Govern a git repository: write a commented docket.toml and prepare DOCKET_HOME.
    Init(run_cmd::InitArgs),
    /// List the repository's tickets as eligible or skipped, with the reason; each
    /// decision is recorded in the ledger.
    Intake(run_cmd::IntakeArgs),
    /// Take a ticket through a governed run to a reviewable branch, with evidence.
    /// Exit 0 published, 1 blocked, failed or cancelled, 2 docket's own error.
    Run(run_cmd::RunArgs),
    /// Query the evidence of past runs.
    #[command(subcommand)]
    Runs(run_cmd::RunsCommand),
    /// Record, list, prove and verify evidence in the ledger.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// Show or rotate the ledger's signing key.
    #[command(subcommand)]
    Key(key_cmd::KeyCommand),
    /// Store, read and shred content-addressed blobs.
    #[command(subcommand)]
    Blob(blob_cmd::BlobCommand),
    /// Measure docket on this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Scan Terraform for rule violations. Exit 0 clean, 1 findings at or above
    /// --fail-on, 2 nothing could be scanned.
    Scan(iac_cmd::ScanArgs),
    /// Fix rule violations in Terraform with format-preserving edits. Exit 0 done or
    /// nothing to do, 1 with --check when files would change.
    Fix(iac_cmd::FixArgs),
    /// Turn a remediation ticket into a fix plan (JSON): rules, targets, parameters,
    /// and needs-human items with their reasons.
    Plan(iac_cmd::PlanArgs),
    /// The IaC rule catalog.
    #[command(subcommand)]
    Rules(iac_cmd::RulesCommand),
    /// Policies as code: test them, evaluate one decision, show a bundle's digest.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Approve a run held for approval. The `approve` decision must allow it (by
    /// default the approver neither requested nor started the run). Exit 1 refused.
    Approve(policy_cmd::ApproveArgs),
    /// Grant or list exceptions: one failed rule may pass for one held run.
    #[command(subcommand)]
    Exception(policy_cmd::ExceptionCommand),
    /// Complete a held run: decide again with its approvals and exceptions and
    /// publish when allowed (or discard it). Exit 0 published, 1 still held.
    Publish(policy_cmd::PublishArgs),
    /// Re-run a model agent's run (its first attempt and repairs) with the gateway
    /// serving its recorded responses, and compare the diff. Exit 0 reproduced, 1
    /// diverged (with where).
    Replay(policy_cmd::ReplayArgs),
    /// Check the signed attestation a published run attached to its commit.
    #[command(subcommand)]
    Attest(attest_cmd::AttestCommand),
    /// Write an audit package (zip): the selected runs' ledger entries with proofs,
    /// blobs, attestations, keys, a manifest and a standalone report.html.
    Export(export_cmd::ExportArgs),
    /// Verify an audit package offline with only the package and a public key.
    /// Exit 0 verified, 1 names the first failure.
    VerifyPackage(export_cmd::VerifyPackageArgs),
    /// CI check for a pull request: every AI-marked commit in BASE..HEAD must carry a
    /// valid docket attestation. Exit 1 when the range must not merge.
    Gate(gate_cmd::GateArgs),
    /// A guided tour in a throw-away directory: a governed demo repository where one
    /// ticket publishes and one is blocked, then the evidence is proven and verified.
    Quickstart(quickstart::QuickstartArgs),
}

/// How a command ended, when it did not fail with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Verification failed, or something was blocked or denied: exit 1.
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let out = Output::new(cli.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error(&anyhow::anyhow!("cannot start the async runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli, &out));
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) => {
            out.error(&err);
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,sqlx=warn",
        2 => "debug,sqlx=info",
        _ => "trace",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("DOCKET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // aws-sigv4 logs its signing parameters (the access key id among them) at trace
    // level; no setting lets that reach the log.
    if let Ok(cap) = "aws_sigv4=debug".parse() {
        filter = filter.add_directive(cap);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli, out: &Output) -> anyhow::Result<Outcome> {
    // Commands that only read never create a home, a ledger or a key.
    let access = match &cli.command {
        Command::Log(cmd) if cmd.only_reads() => context::LedgerAccess::ReadOnly,
        Command::Runs(_) | Command::Attest(_) | Command::Export(_) => {
            context::LedgerAccess::ReadOnly
        }
        _ => context::LedgerAccess::ReadWrite,
    };
    let global = context::GlobalArgs {
        home: cli.home,
        database_url: cli.database_url,
        access,
    };
    if cli.format == Format::Sarif && !matches!(cli.command, Command::Scan(_) | Command::Gate(_)) {
        anyhow::bail!(
            "--format sarif is only for `docket scan` and `docket gate`; use text or json here"
        );
    }
    if cli.format == Format::Csv
        && !matches!(cli.command, Command::Runs(run_cmd::RunsCommand::List(_)))
    {
        anyhow::bail!("--format csv is only for `docket runs list`; use text or json here");
    }
    match cli.command {
        Command::Init(args) => run_cmd::init(args, &global, out).await,
        Command::Intake(args) => run_cmd::intake(args, &global, out).await,
        Command::Run(args) => run_cmd::run(args, &global, out).await,
        Command::Runs(cmd) => run_cmd::runs(cmd, &global, out).await,
        Command::Log(cmd) => log_cmd::run(cmd, &global, out).await,
        Command::Key(cmd) => key_cmd::run(cmd, &global, out).await,
        Command::Blob(cmd) => blob_cmd::run(cmd, &global, out).await,
        Command::Bench(cmd) => bench::run(cmd, &global, out).await,
        Command::Quickstart(args) => quickstart::run(args, out).await,
        Command::Scan(args) => iac_cmd::scan(args, out),
        Command::Fix(args) => iac_cmd::fix(args, out),
        Command::Plan(args) => iac_cmd::plan(args, out),
        Command::Rules(cmd) => iac_cmd::rules(cmd, out),
        Command::Policy(cmd) => policy_cmd::policy(cmd, out),
        Command::Approve(args) => policy_cmd::approve(args, &global, out).await,
        Command::Exception(cmd) => policy_cmd::exception(cmd, &global, out).await,
        Command::Publish(args) => policy_cmd::publish(args, &global, out).await,
        Command::Replay(args) => policy_cmd::replay(args, &global, out).await,
        Command::Attest(cmd) => attest_cmd::run(cmd, &global, out).await,
        Command::Export(args) => export_cmd::export(args, &global, out).await,
        Command::VerifyPackage(args) => export_cmd::verify_package(args, out).await,
        Command::Gate(args) => gate_cmd::gate(args, &global, out).await,
    }
}
