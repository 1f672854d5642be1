//! `docket policy`, `docket approve`, `docket exception` and `docket publish`:
//! policies as code, and the grants that let a held run publish.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use docket_engine::governance::{self, POLICY_DIR};
use docket_engine::held::{ExceptionRequest, GrantReport};
use docket_engine::run::{Engine, RunReport};
use docket_policy::{Bundle, Decision, Limits, Point, Policy, Verdict};

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the policies' own `test_*` rules, like `opa test`. Exit 1 when any fails
    /// or none is found.
    Test(TestArgs),
    /// Evaluate one decision on an input document and print the verdict, its
    /// messages and the bundle digest. Exit 0 allow, 1 deny or approval required.
    Eval(EvalArgs),
    /// List the files of a policy bundle and its digest.
    Show(BundleArgs),
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Folder of `.rego` policies and `.json` data files (default:
    /// `.docket/policies` of the current directory, as in the working tree). Files
    /// enter the bundle as `.docket/policies/<path in DIR>`, as a run names them, so
    /// the digest of a repository's folder is the one its runs record.
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Leave docket's built-in default policies out of the bundle.
    #[arg(long)]
    no_builtin: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Folder of policies and their tests (default: `.docket/policies`).
    dir: Option<PathBuf>,
    /// Leave docket's built-in default policies out of the bundle.
    #[arg(long)]
    no_builtin: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Decision point: intake, run, publish or approve.
    #[arg(long, value_name = "POINT")]
    point: Point,
    /// The input document (JSON); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    bundle: BundleArgs,
    /// Time limit of the evaluation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The held run (a unique prefix of its id is enough).
    run: String,
    /// Who approves (email or user name; mapped to a person and roles by the
    /// people file).
    #[arg(long = "as", value_name = "USER")]
    approver: String,
    /// Why (recorded with the approval).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// Let one failed rule pass for one held run. The `approve` decision must allow
    /// it (by default: not self-granted, never for secrets). Exit 1 when refused.
    Grant(GrantArgs),
    /// List the exceptions (and approvals) recorded for a run.
    List {
        /// The run (a unique prefix of its id is enough).
        #[arg(long)]
        run: String,
    },
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[arg(long)]
    run: String,
    /// The rule that may fail, as the run record or the publish denial names it (e.g. `forbidden-paths`, or `prod-terraform` from `prod-terraform: …`).
    #[arg(long)]
    rule: String,
    /// Who grants it.
    #[arg(long = "as", value_name = "APPROVER")]
    approver: String,
    /// Why the rule may fail for this run (required).
    #[arg(long)]
    reason: String,
    /// How long the exception holds: e.g. `90m`, `24h`, `7d`. Default: no expiry.
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The held run (a unique prefix of its id is enough).
    run: String,
    /// Push the published branch to this remote.
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// Remove the held checkout without publishing, and record that.
    #[arg(long, conflicts_with = "push")]
    discard: bool,
    /// Why it is discarded (with --discard).
    #[arg(long, requires = "discard")]
    reason: Option<String>,
}

fn bundle_from(dir: Option<&Path>, no_builtin: bool) -> anyhow::Result<(Bundle, PathBuf)> {
    let dir = dir.map_or_else(|| PathBuf::from(POLICY_DIR), Path::to_path_buf);
    let mut bundle = if no_builtin {
        Bundle::empty()
    } else {
        Bundle::builtin()
    };
    if dir.exists() {
        let mut files = Vec::new();
        collect(&dir, &dir, &mut files)?;
        files.sort();
        for (rel, path) in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            bundle.add(format!("{POLICY_DIR}/{rel}"), bytes)?;
        }
    } else if no_builtin {
        bail!("{} does not exist", dir.display());
    }
    Ok((bundle, dir))
}

/// Policy files under `dir` (relative path, full path); symlinks are refused.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            bail!(
                "{} is a symlink; policies must be plain files in the repository",
                path.display()
            );
        }
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rego" || e == "json") {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
    Ok(())
}

pub fn policy(cmd: PolicyCommand, out: &Output) -> anyhow::Result<Outcome> {
    match cmd {
        PolicyCommand::Test(args) => {
            let (bundle, dir) = bundle_from(args.dir.as_deref(), args.no_builtin)?;
            let policy = Policy::compile(&bundle, Limits::default());
            if !policy.compile_errors().is_empty() {
                for e in policy.compile_errors() {
                    out.note(format!("error: {e}"));
                }
                bail!("the policies in {} do not compile", dir.display());
            }
            let report = policy.run_tests();
            if out.json() {
                out.json_value(&serde_json::json!({
                    "bundle_digest": policy.digest(),
                    "report": report,
                }))?;
            } else {
                for case in &report.cases {
                    let status = if case.passed { "PASS" } else { "FAIL" };
                    out.line(format!("{status} {}.{}", case.package, case.name));
                    if let Some(e) = &case.error {
                        out.line(format!("     {e}"));
                    }
                }
                out.line(format!(
                    "{} passed, {} failed (bundle {})",
                    report.passed,
                    report.failed,
                    policy.digest()
                ));
            }
            if report.cases.is_empty() {
                out.note(format!("no test_ rules found in {}", dir.display()));
                return Ok(Outcome::Failed);
            }
            Ok(if report.failed == 0 {
                Outcome::Success
            } else {
                Outcome::Failed
            })
        }
        PolicyCommand::Eval(args) => {
            let (bundle, _) = bundle_from(args.bundle.policies.as_deref(), args.bundle.no_builtin)?;
            let text = if args.input.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&args.input)
                    .with_context(|| format!("cannot read {}", args.input.display()))?
            };
            let input: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", args.input.display()))?;
            let limits = Limits {
                timeout: Duration::from_millis(args.timeout_ms),
                ..Limits::default()
            };
            let policy = Policy::compile(&bundle, limits);
            let decision = policy.decide(args.point, &input);
            print_decision(&decision, out)?;
            Ok(if decision.allowed() {
                Outcome::Success
            } else {
                Outcome::Failed
            })
        }
        PolicyCommand::Show(args) => {
            let (bundle, _) = bundle_from(args.policies.as_deref(), args.no_builtin)?;
            if out.json() {
                out.json_value(&serde_json::json!({
                    "digest": bundle.digest(),
                    "files": bundle.paths(),
                }))?;
            } else {
                for path in bundle.paths() {
                    out.line(path);
                }
                out.line(format!("digest {}", bundle.digest()));
            }
            Ok(Outcome::Success)
        }
    }
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::ApprovalRequired => "approval-required",
    }
}

fn print_decision(decision: &Decision, out: &Output) -> anyhow::Result<()> {
    if out.json() {
        return out.json_value(decision);
    }
    out.line(format!(
        "{} {}",
        decision.point.as_str(),
        verdict_str(decision.verdict)
    ));
    for e in &decision.errors {
        out.line(format!("  error     {e}"));
    }
    for d in &decision.deny {
        out.line(format!("  deny      {d}"));
    }
    for a in &decision.approval {
        out.line(format!("  approval  {a}"));
    }
    for w in &decision.warn {
        out.line(format!("  warn      {w}"));
    }
    out.line(format!("  bundle    {}", decision.bundle_digest));
    out.line(format!("  input     {}", decision.input_digest));
    Ok(())
}

pub(crate) async fn with_engine<T>(
    global: &GlobalArgs,
    f: impl AsyncFnOnce(&Engine) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let ledger = Arc::new(global.open_ledger().await?);
    let engine = Engine {
        ledger: ledger.clone(),
        home: global.home()?,
    };
    let result = f(&engine).await;
    drop(engine);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close().await;
    }
    result
}

fn print_grant(report: &GrantReport, what: &str, out: &Output) -> anyhow::Result<Outcome> {
    if out.json() {
        out.json_value(&serde_json::json!({
            "run_id": report.run_id,
            "granted": report.grant.is_some(),
            "decision": report.decision,
            "decision_entry": report.decision_index,
            "grant_entry": report.grant_index,
            "grant": report.grant,
        }))?;
    } else if let Some(index) = report.grant_index {
        out.line(format!(
            "{what} recorded for run {} (ledger entry {index}; decision entry {})",
            report.run_id, report.decision_index
        ));
        for w in &report.decision.warn {
            out.line(format!("  warn      {w}"));
        }
        out.note(format!(
            "next: `docket publish {}` decides again and publishes when allowed",
            report.run_id
        ));
    } else {
        out.line(format!(
            "{what} refused for run {} (decision entry {})",
            report.run_id, report.decision_index
        ));
        for r in report.decision.reasons() {
            out.line(format!("  deny      {r}"));
        }
        out.line(format!("  bundle    {}", report.decision.bundle_digest));
    }
    Ok(if report.grant.is_some() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

pub async fn approve(
    args: ApproveArgs,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let report = with_engine(global, async |engine| {
        Ok(engine
            .approve(&args.run, &args.approver, args.reason.clone())
            .await?)
    })
    .await?;
    print_grant(&report, "approval", out)
}

/// `90m`, `24h`, `7d`, `2w`, or plain seconds.
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("invalid duration {text:?}: use e.g. 90m, 24h, 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("invalid duration {text:?}: the unit must be s, m, h, d or w"),
    };
    if n == 0 {
        bail!("invalid duration {text:?}: an exception that expires at once grants nothing");
    }
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

pub async fn exception(
    cmd: ExceptionCommand,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    match cmd {
        ExceptionCommand::Grant(args) => {
            let expires = args.expires.as_deref().map(parse_duration).transpose()?;
            let request = ExceptionRequest {
                run: args.run,
                rule: args.rule,
                approver: args.approver,
                reason: args.reason,
                expires,
            };
            let report = with_engine(global, async |engine| {
                Ok(engine.grant_exception(request.clone()).await?)
            })
            .await?;
            print_grant(&report, "exception", out)
        }
        ExceptionCommand::List { run } => {
            let (approvals, exceptions, run_id) = with_engine(global, async |engine| {
                let record = engine.find_run(&run).await?;
                let (a, e) = governance::grants(&engine.ledger, &record.run_id).await?;
                Ok((a, e, record.run_id))
            })
            .await?;
            if out.json() {
                out.json_value(&serde_json::json!({
                    "run_id": run_id,
                    "approvals": approvals.iter().map(|(i, g)| serde_json::json!({"entry": i, "grant": g})).collect::<Vec<_>>(),
                    "exceptions": exceptions.iter().map(|(i, g)| serde_json::json!({"entry": i, "grant": g})).collect::<Vec<_>>(),
                }))?;
            } else if approvals.is_empty() && exceptions.is_empty() {
                out.note(format!(
                    "no approvals or exceptions recorded for run {run_id}"
                ));
            } else {
                for (i, g) in &exceptions {
                    out.line(format!(
                        "exception  entry {i}  rule {}  by {}  at {}  until {}  — {}",
                        g.rule.as_deref().unwrap_or("?"),
                        g.approver.name,
                        g.at,
                        g.expires_at.as_deref().unwrap_or("no expiry"),
                        g.reason.as_deref().unwrap_or("")
                    ));
                }
                for (i, g) in &approvals {
                    out.line(format!(
                        "approval   entry {i}  by {}  at {}  diff {}",
                        g.approver.name,
                        g.at,
                        g.diff_digest.as_deref().unwrap_or("?")
                    ));
                }
            }
            Ok(Outcome::Success)
        }
    }
}

pub async fn publish(
    args: PublishArgs,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let report: RunReport = with_engine(global, async |engine| {
        Ok(if args.discard {
            engine.discard_held(&args.run, args.reason.clone()).await?
        } else {
            engine.publish_held(&args.run, args.push.clone()).await?
        })
    })
    .await?;
    let record = &report.record;
    if out.json() {
        out.json_value(record)?;
    } else {
        crate::run_cmd::print_record(record, out);
        if let Some(path) = &report.review_path {
            out.line(format!("review request  {}", path.display()));
        }
    }
    let done = matches!(
        record.outcome.status,
        docket_core::record::RunStatus::Published | docket_core::record::RunStatus::Discarded
    );
    Ok(if done {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The run (its id or a unique prefix). It must have used an agent that calls a
    /// model (claude-code, codex, api, or the fixer with planner = "model"), whose
    /// exchanges are recorded.
    pub run: String,
}

/// `docket replay RUN`: the run's agent again, served its recorded model responses.
pub async fn replay(
    args: ReplayArgs,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let report = with_engine(global, async |engine| Ok(engine.replay(&args.run).await?)).await?;
    if out.json() {
        out.json_value(&report)?;
    } else {
        out.line(format!("run        {}", report.run_id));
        out.line(format!("replay     {}", report.outcome));
        out.line(format!("  {}", report.detail));
        out.line(format!(
            "exchanges  {} recorded, {} served",
            report.recorded, report.served
        ));
        out.line(format!("evidence   ledger entry {}", report.ledger_index));
    }
    Ok(if report.reproduced() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
