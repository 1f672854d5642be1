//! `docket init`, `docket intake`, `docket run` and `docket runs`: the golden path
//! from the command line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use docket_core::record::{RunRecord, RunStatus, kinds};
use docket_engine::governance;
use docket_engine::run::{Engine, RunOptions, evaluate, list_tickets, load_governed};
use docket_ledger::{EntryFilter, NewEntry};
use docket_policy::{Identity, Point};
use serde_json::json;

use crate::context::GlobalArgs;
use crate::log_cmd::EntryView;
use crate::output::{Output, untrusted};
use crate::{Format, Outcome, timearg};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The git repository to govern (default: the current directory).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Repository alias used for routing (`repo-<alias>` labels). Default: the folder name.
    #[arg(long)]
    alias: Option<String>,
    /// Base ref runs start from. Default: the current branch.
    #[arg(long)]
    base_ref: Option<String>,
}

#[derive(Debug, Args)]
pub struct IntakeArgs {
    /// The governed repository (default: the current directory).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The base ref whose committed docket.toml governs (default: the one named by
    /// the docket.toml committed at HEAD).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A ticket file, or the id of a ticket in the configured tickets folder.
    #[arg(long, value_name = "PATH|ID")]
    ticket: String,
    /// Who starts the run (default: git config user.email).
    #[arg(long = "as", value_name = "USER")]
    initiator: Option<String>,
    /// Keep the run's worktree (its path is printed) instead of removing it.
    #[arg(long)]
    keep_worktree: bool,
    /// Push the published branch to this remote.
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// The governed repository (default: the current directory).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The base ref to start from; its committed docket.toml governs the run (default:
    /// the one named by the docket.toml committed at HEAD).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, oldest first.
    ///
    /// Lists the runs every given filter matches. `--format csv` writes a header and
    /// one row per run, with its requester, initiator, approvers, agent and model.
    List(Box<RunsListArgs>),
    /// Show one run's record and its stage entries.
    Show {
        /// Run id (a unique prefix is enough).
        run: String,
    },
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Runs of this ticket (its id).
    #[arg(long, value_name = "ID")]
    ticket: Option<String>,
    /// Runs whose ticket names this requester (any case).
    #[arg(long, value_name = "USER")]
    requester: Option<String>,
    /// Runs this user started (`docket run --as`; any case).
    #[arg(long, value_name = "USER")]
    initiator: Option<String>,
    /// Runs a recorded approval names this approver (`docket approve --as`, or the
    /// person's id; any case).
    #[arg(long, value_name = "USER")]
    approver: Option<String>,
    /// Runs of this agent kind (exec, claude-code, codex, api, fixer).
    #[arg(long, value_name = "KIND")]
    agent: Option<String>,
    /// Runs whose agent asked for this model.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Runs in this repository: its alias, or its path.
    #[arg(long, value_name = "ALIAS|PATH")]
    repo: Option<String>,
    /// Runs that ended with this outcome.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(STATUSES.map(|s| s.as_str())))]
    outcome: Option<String>,
    /// Runs started at or after TIME: RFC 3339, a date (UTC midnight) or an age (7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Runs started before TIME: RFC 3339, a date (UTC midnight) or an age (7d).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// Every way a run can end, in the order `--outcome` lists them.
const STATUSES: [RunStatus; 6] = [
    RunStatus::Published,
    RunStatus::AwaitingApproval,
    RunStatus::Blocked,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Discarded,
];

/// The `runs list` filters, resolved: times parsed, a repository path made absolute.
struct RunFilter {
    args: RunsListArgs,
    since: Option<jiff::Timestamp>,
    until: Option<jiff::Timestamp>,
    repo_path: Option<PathBuf>,
}

/// People are matched whatever the case of their names (emails, user names).
fn same_person(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

impl RunFilter {
    fn new(args: RunsListArgs) -> anyhow::Result<RunFilter> {
        Ok(RunFilter {
            since: args.since.as_deref().map(timearg::parse_time).transpose()?,
            until: args.until.as_deref().map(timearg::parse_time).transpose()?,
            repo_path: args
                .repo
                .as_deref()
                .and_then(|r| std::fs::canonicalize(r).ok()),
            args,
        })
    }

    fn matches(&self, r: &RunRecord, approvers: &[Identity]) -> bool {
        let a = &self.args;
        let started: Option<jiff::Timestamp> = r.started_at.parse().ok();
        a.ticket.as_ref().is_none_or(|t| &r.ticket.id == t)
            && a.requester.as_ref().is_none_or(|q| {
                r.ticket
                    .requester
                    .as_deref()
                    .is_some_and(|x| same_person(x, q))
            })
            && a.initiator
                .as_ref()
                .is_none_or(|i| same_person(&r.initiator, i))
            && a.approver.as_ref().is_none_or(|p| {
                approvers
                    .iter()
                    .any(|x| same_person(&x.name, p) || same_person(&x.id, p))
            })
            && a.agent.as_ref().is_none_or(|k| &r.agent.kind == k)
            && a.model
                .as_ref()
                .is_none_or(|m| r.agent.model.as_ref() == Some(m))
            && a.repo.as_ref().is_none_or(|repo| {
                &r.repository.alias == repo
                    || Path::new(&r.repository.root) == Path::new(repo)
                    || self
                        .repo_path
                        .as_deref()
                        .is_some_and(|p| Path::new(&r.repository.root) == p)
            })
            && a.outcome
                .as_ref()
                .is_none_or(|o| r.outcome.status.as_str() == o)
            && self.since.is_none_or(|s| started.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| started.is_some_and(|t| t < u))
    }
}

fn current_branch(repo: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["symbolic-ref", "--short", "-q", "HEAD"])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !name.is_empty()).then_some(name)
}

fn repo_root(path: &Path) -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "{} is not inside a git repository; run `git init` first",
            path.display()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

pub async fn init(args: InitArgs, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let root = repo_root(&args.repo)?;
    let file = root.join(docket_engine::run::CONFIG_FILE);
    if file.exists() {
        bail!(
            "{} already exists; edit it instead (it is reviewed like code)",
            file.display()
        );
    }
    let alias = args.alias.unwrap_or_else(|| {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let cleaned: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let cleaned = cleaned.trim_matches('-').to_owned();
        if cleaned.is_empty() {
            "repo".into()
        } else {
            cleaned
        }
    });
    let base_ref = args
        .base_ref
        .or_else(|| current_branch(&root))
        .unwrap_or_else(|| "main".into());
    let text = docket_core::config::render_template(&alias, &base_ref);
    docket_core::config::parse_config("docket.toml", &text)
        .with_context(|| format!("`{alias}` or `{base_ref}` cannot be used"))?;
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    let ledger = global.open_ledger().await?;
    let key = ledger.signing_key().await?;
    let home = global.home()?;
    ledger.close().await;
    if out.json() {
        out.json_value(&json!({"config": file, "alias": alias, "base_ref": base_ref, "home": home, "key": key.to_string()}))?;
    } else {
        out.line(format!(
            "wrote {} (alias `{alias}`, base ref `{base_ref}`)",
            file.display()
        ));
        out.line(format!(
            "DOCKET_HOME is {}; ledger key {key}",
            home.display()
        ));
        out.note("next: set [agent] kind and command, put tickets in .docket/tickets/, then commit docket.toml —");
        out.note("      docket reads its configuration from the base ref, so only reviewed configuration governs runs.");
    }
    Ok(Outcome::Success)
}

pub async fn intake(
    args: IntakeArgs,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let governed = load_governed(&args.repo, args.base.as_deref()).await?;
    let gov = governance::load(&governed.repo, &governed.base_commit, &governed.config).await?;
    let ledger = global.open_ledger().await?;
    let mut rows = Vec::new();
    for (path, parsed) in list_tickets(governed.repo.root(), &governed.config)? {
        let shown = path
            .strip_prefix(governed.repo.root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let row = match parsed {
            Ok(ticket) => {
                let reasons = docket_core::intake::skip_reasons(&ticket, &governed.config);
                let appended = ledger
                    .append(NewEntry::new(
                        kinds::INTAKE,
                        json!({"ticket": {"id": ticket.id, "digest": ticket.digest, "source": shown}, "eligible": reasons.is_empty(), "reasons": reasons}),
                    ))
                    .await?;
                // The intake policy decides; docket.toml's rules are its input.
                let input = governance::intake_input(
                    &governed.config,
                    &governed.base_commit,
                    &gov,
                    &ticket,
                    &reasons,
                );
                let (decision, mut payload, blob) =
                    evaluate(&gov, Point::Intake, &input, ledger.blobs())?;
                payload["ticket"] = json!({"id": ticket.id, "source": shown});
                let decided = ledger
                    .append(
                        NewEntry::new(kinds::POLICY, payload)
                            .with_blobs(vec![blob])
                            .with_links(vec![(appended.index, appended.leaf_hash)]),
                    )
                    .await?;
                json!({
                    "ticket": ticket.id, "title": ticket.title, "path": shown,
                    "eligible": decision.allowed(),
                    "reasons": decision.reasons(),
                    "warnings": decision.warn,
                    "bundle_digest": decision.bundle_digest,
                    "ledger_index": decided.index,
                })
            }
            Err(e) => {
                let appended = ledger
                    .append(NewEntry::new(kinds::INTAKE, json!({"ticket": {"source": shown}, "eligible": false, "error": e.to_string()})))
                    .await?;
                json!({"ticket": null, "path": shown, "eligible": false, "reasons": [e.to_string()], "ledger_index": appended.index})
            }
        };
        rows.push(row);
    }
    ledger.close().await;
    if out.json() {
        out.json_value(&rows)?;
    } else if rows.is_empty() {
        out.note(format!(
            "no tickets in {}",
            governed
                .repo
                .root()
                .join(&governed.config.intake.tickets)
                .display()
        ));
    } else {
        for r in &rows {
            let status = if r["eligible"] == true {
                "eligible"
            } else {
                "skipped "
            };
            let id = untrusted(r["ticket"].as_str().unwrap_or("(invalid)"));
            let reasons: Vec<&str> = r["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let why = if reasons.is_empty() {
                String::new()
            } else {
                format!("  — {}", untrusted(&reasons.join("; ")))
            };
            out.line(format!(
                "{status}  {id:<28} {}{why}",
                untrusted(r["path"].as_str().unwrap_or(""))
            ));
        }
    }
    Ok(Outcome::Success)
}

/// Stops the run's agent and records the run as cancelled on SIGINT or SIGTERM.
fn cancel_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = docket_agents::process::cancel_channel();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(true);
    });
    rx
}

pub async fn run(args: RunArgs, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    // A ticket given as a path must exist (ids name no folder and no `.md`).
    if (args.ticket.contains('/') || args.ticket.ends_with(".md"))
        && !std::path::Path::new(&args.ticket).exists()
    {
        anyhow::bail!(
            "ticket file {} does not exist\nhint: pass an existing ticket file, or the id of a ticket in the tickets folder",
            args.ticket
        );
    }
    let ledger = Arc::new(global.open_ledger().await?);
    let engine = Engine {
        ledger: ledger.clone(),
        home: global.home()?,
    };
    let options = RunOptions {
        repo: args.repo,
        ticket: args.ticket,
        initiator: args.initiator,
        keep_worktree: args.keep_worktree,
        push: args.push,
        base: args.base,
    };
    let report = engine.run(options, cancel_on_signals()).await;
    drop(engine);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close().await;
    }
    let report = report?;
    let record = &report.record;
    if out.json() {
        out.json_value(record)?;
    } else {
        print_record(record, out);
        if let Some(path) = &report.review_path {
            out.line(format!("review request  {}", path.display()));
        }
        if let Some(path) = &report.kept_worktree {
            out.line(format!("worktree kept   {}", path.display()));
        }
    }
    Ok(if record.outcome.status == RunStatus::Published {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

pub(crate) fn print_record(r: &RunRecord, out: &Output) {
    out.line(format!("run        {}", r.run_id));
    out.line(format!(
        "ticket     {} — {} ({})",
        untrusted(&r.ticket.id),
        untrusted(&r.ticket.title),
        r.ticket.digest
    ));
    out.line(format!("initiator  {}", untrusted(&r.initiator)));
    out.line(format!(
        "agent      {} {}",
        untrusted(&r.agent.kind),
        untrusted(&r.agent.command.join(" "))
    ));
    if let Some(base) = &r.base_commit {
        out.line(format!(
            "base       {} ({})",
            untrusted(&r.repository.base_ref),
            untrusted(base.get(..12).unwrap_or(base))
        ));
    }
    for a in &r.attempts {
        let exit = match (a.timed_out, a.exit_code) {
            (true, _) => "timed out".to_owned(),
            (_, Some(c)) => format!("exit {c}"),
            _ => "killed".to_owned(),
        };
        out.line(format!(
            "agent run  {} #{}: {exit} in {} ms",
            untrusted(&a.purpose),
            a.attempt,
            a.duration_ms
        ));
    }
    if let Some(d) = &r.diff {
        out.line(format!(
            "diff       {} files, +{} -{} ({})",
            d.files_changed, d.lines_added, d.lines_removed, d.digest
        ));
        for f in &d.files {
            out.line(format!(
                "             {:<9} {}",
                untrusted(&f.status),
                untrusted(&f.path)
            ));
        }
    }
    for rule in &r.rules {
        out.line(format!(
            "rule       {:<16} {:<4} {}",
            untrusted(&rule.rule),
            untrusted(&rule.outcome),
            untrusted(&rule.detail)
        ));
    }
    for v in &r.validation {
        let exit = if v.timed_out {
            "timed out".to_owned()
        } else {
            v.exit_code
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into())
        };
        out.line(format!(
            "validate   #{} {} `{}`: {exit} in {} ms",
            v.attempt,
            untrusted(&v.phase),
            untrusted(&v.argv.join(" ")),
            v.duration_ms
        ));
    }
    for c in &r.checks {
        out.line(format!(
            "check      {} ({}): {} — {}",
            untrusted(&c.check),
            untrusted(&c.mode),
            untrusted(&c.outcome),
            untrusted(&c.detail)
        ));
    }
    for d in &r.decisions {
        out.line(format!(
            "policy     {:<8} {:<17} bundle {}",
            untrusted(&d.point),
            untrusted(&d.verdict),
            untrusted(&d.bundle_digest)
        ));
        for m in &d.messages {
            out.line(format!("             {}", untrusted(m)));
        }
    }
    out.line(format!("outcome    {}", r.outcome.status.as_str()));
    for reason in &r.outcome.reasons {
        out.line(format!("  reason   {}", untrusted(reason)));
    }
    if let Some(o) = &r.output {
        out.line(format!(
            "branch     {} ({})",
            untrusted(&o.branch),
            untrusted(o.commit.get(..12).unwrap_or(&o.commit))
        ));
        if let Some(remote) = &o.pushed_to {
            out.line(format!("pushed to  {}", untrusted(remote)));
        }
    }
    if let Some(held) = &r.held {
        out.line(format!(
            "held       {} ({})",
            untrusted(&held.reference),
            untrusted(held.commit.get(..12).unwrap_or(&held.commit))
        ));
        let next = if r.outcome.status == RunStatus::AwaitingApproval {
            format!("docket approve {} --as APPROVER", r.run_id)
        } else {
            format!(
                "docket exception grant --run {} --rule RULE --as APPROVER --reason TEXT",
                r.run_id
            )
        };
        out.line(format!(
            "next       {next}; then `docket publish {}` (or `--discard`)",
            r.run_id
        ));
    }
    if let Some(index) = r.ledger.index {
        out.line(format!(
            "evidence   ledger entry {index}, closing {} stage entries",
            r.ledger.stages.len()
        ));
    }
}

async fn load_records(
    global: &GlobalArgs,
) -> anyhow::Result<(docket_ledger::Ledger, Vec<RunRecord>)> {
    let ledger = global.open_ledger().await?;
    let filter = EntryFilter {
        kind: Some(kinds::RECORD.into()),
        ..EntryFilter::default()
    };
    // A held run that is later published or discarded has a later record; the
    // latest one is the run's state, listed where the run first appeared.
    let mut records: Vec<RunRecord> = Vec::new();
    for stored in ledger.list(&filter).await? {
        let entry = stored.decode()?;
        let mut record: RunRecord = serde_json::from_value(entry.payload)
            .with_context(|| format!("ledger entry {} is not a run record", stored.index))?;
        record.ledger.index = Some(stored.index);
        match records.iter_mut().find(|r| r.run_id == record.run_id) {
            Some(earlier) => *earlier = record,
            None => records.push(record),
        }
    }
    Ok((ledger, records))
}

/// The approvers each run's `run.approval` entries name, by run id (`docket approve`
/// records one only when the `approve` decision allowed it).
async fn approvers(
    ledger: &docket_ledger::Ledger,
) -> anyhow::Result<HashMap<String, Vec<Identity>>> {
    let filter = EntryFilter {
        kind: Some(kinds::APPROVAL.into()),
        ..EntryFilter::default()
    };
    let mut by_run: HashMap<String, Vec<Identity>> = HashMap::new();
    for stored in ledger.list(&filter).await? {
        let entry = stored.decode()?;
        // As `docket publish` counts them: an entry that is no approval counts for none.
        if let Ok(grant) = serde_json::from_value::<governance::Grant>(entry.payload) {
            by_run.entry(grant.run_id).or_default().push(grant.approver);
        }
    }
    Ok(by_run)
}

pub async fn runs(cmd: RunsCommand, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let (ledger, records) = load_records(global).await?;
    match cmd {
        RunsCommand::List(args) => {
            let filter = RunFilter::new(*args)?;
            let csv = out.format == Format::Csv;
            let approvers = if csv || filter.args.approver.is_some() {
                approvers(&ledger).await?
            } else {
                HashMap::new()
            };
            let approvers_of = |r: &RunRecord| -> &[Identity] {
                approvers.get(&r.run_id).map(Vec::as_slice).unwrap_or(&[])
            };
            let selected: Vec<&RunRecord> = records
                .iter()
                .filter(|r| filter.matches(r, approvers_of(r)))
                .collect();
            if out.json() {
                out.json_value(&selected)?;
            } else if csv {
                out.csv_row(&[
                    "run",
                    "started",
                    "outcome",
                    "ticket",
                    "requester",
                    "initiator",
                    "approvers",
                    "agent",
                    "model",
                    "branch",
                ]);
                for r in selected {
                    let mut names: Vec<&str> = Vec::new();
                    for a in approvers_of(r) {
                        if !names.contains(&a.name.as_str()) {
                            names.push(&a.name);
                        }
                    }
                    out.csv_row(&[
                        r.run_id.as_str(),
                        &r.started_at,
                        r.outcome.status.as_str(),
                        &r.ticket.id,
                        r.ticket.requester.as_deref().unwrap_or(""),
                        &r.initiator,
                        &names.join("; "),
                        &r.agent.kind,
                        r.agent.model.as_deref().unwrap_or(""),
                        r.output.as_ref().map(|o| o.branch.as_str()).unwrap_or(""),
                    ]);
                }
            } else if selected.is_empty() {
                out.note("no runs match");
            } else {
                for r in selected {
                    let branch = r.output.as_ref().map(|o| o.branch.as_str()).unwrap_or("");
                    out.line(format!(
                        "{}  {}  {:<10} {:<24} {:<24} {}",
                        r.run_id,
                        r.started_at,
                        r.outcome.status.as_str(),
                        untrusted(&r.ticket.id),
                        untrusted(&r.initiator),
                        untrusted(branch),
                    ));
                }
            }
        }
        RunsCommand::Show { run } => {
            let matches: Vec<&RunRecord> = records
                .iter()
                .filter(|r| r.run_id.starts_with(&run))
                .collect();
            let record = match matches.as_slice() {
                [one] => *one,
                [] => bail!("no run `{run}` in the ledger; `docket runs list` shows them"),
                many => bail!("`{run}` matches {} runs; give more of the id", many.len()),
            };
            let mut stages = Vec::new();
            for index in &record.ledger.stages {
                stages.push(EntryView::from_stored(&ledger.entry(*index).await?)?);
            }
            if out.json() {
                let mut value = serde_json::to_value(record)?;
                value["stage_entries"] = serde_json::to_value(&stages)?;
                out.json_value(&value)?;
            } else {
                print_record(record, out);
                let mut totals = (0u64, 0u64, 0u64, 0.0f64);
                let mut replayed = 0u64;
                for s in &stages {
                    let detail = if s.kind == "model.exchange" && s.payload["outcome"] == "replayed"
                    {
                        // Served from the recording by the reproducibility check: no
                        // provider was called, nothing was spent.
                        replayed += 1;
                        format!(
                            "  {} replayed from exchange {} (no provider call)",
                            untrusted(s.payload["model"].as_str().unwrap_or("?")),
                            s.payload["replay_of"],
                        )
                    } else if s.kind == "model.exchange" {
                        let p = &s.payload;
                        let tokens = |k: &str| p["usage"][k].as_u64().unwrap_or(0);
                        let cost = p["cost_usd"].as_f64().unwrap_or(0.0);
                        totals = (
                            totals.0 + 1,
                            totals.1 + tokens("input_tokens"),
                            totals.2 + tokens("output_tokens"),
                            totals.3 + cost,
                        );
                        format!(
                            "  {} {} {} in / {} out tokens, ${cost:.4}",
                            untrusted(p["model"].as_str().unwrap_or("?")),
                            p["status"],
                            tokens("input_tokens"),
                            tokens("output_tokens"),
                        )
                    } else {
                        String::new()
                    };
                    out.line(format!(
                        "  entry {:>6}  {}  {}{detail}",
                        s.index,
                        untrusted(&s.time),
                        untrusted(&s.kind)
                    ));
                }
                if totals.0 > 0 {
                    let replays = if replayed > 0 {
                        format!(" ({replayed} more replayed by the reproducibility check)")
                    } else {
                        String::new()
                    };
                    out.line(format!(
                        "model      {} exchanges, {} in / {} out tokens, ${:.4}{replays}",
                        totals.0, totals.1, totals.2, totals.3
                    ));
                }
            }
        }
    }
    ledger.close().await;
    Ok(Outcome::Success)
}
