//! `docket run`: one ticket through the golden path — intake, isolated worktree,
//! agent, diff, repository rules, validation with bounded repair, governance checks,
//! publish — with each stage appended to the ledger as it happens, so that a crash
//! leaves a visible partial trail.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use docket_core::config::{AgentKind, Config, Mode, parse_config};
use docket_core::intake::skip_reasons;
use docket_core::secrets::SecretScanner;
use docket_core::ticket::{Ticket, is_valid_ticket_id, parse_ticket};
use docket_ledger::{Digest256, Hash, Ledger, LedgerError, NewEntry};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::governance::{self, Governance};
use crate::{review, rules};
use docket_agents::process::{
    CommandOutcome, CommandSpec, ProcessError, StdinSpec, minimal_env, run_command,
};
use docket_core::record::{
    AgentAttempt, AgentRef, CheckResult, DiffFile, DiffSummary, LedgerRef, RUN_SCHEMA,
    RepositoryRef, RunOutcome, RunOutput, RunRecord, RunStatus, TicketRef, ValidationCommand,
    WorkerRef, kinds,
};
use docket_git::{Diff, GitError, Repo, Worktree};
use docket_policy::{Decision, Point, Verdict};

/// Bytes of command output kept per stream.
use docket_agents::process::OUTPUT_LIMIT;
pub const CONFIG_FILE: &str = "docket.toml";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Ticket(#[from] docket_core::ticket::TicketError),
    #[error("no ticket `{id}` in {}: pass a ticket file path, or one of the ids `docket intake` lists", dir.display())]
    TicketNotFound { id: String, dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Agent(#[from] docket_agents::AgentError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot tell who starts this run: pass --as EMAIL or set git config user.email")]
    NoInitiator,
    #[error("invalid repository rules in docket.toml: {0}")]
    Rules(#[from] docket_core::paths::PathRuleError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What `docket run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Any directory inside the governed repository.
    pub repo: PathBuf,
    /// A ticket file path, or a ticket id from the configured tickets folder.
    pub ticket: String,
    pub initiator: Option<String>,
    pub keep_worktree: bool,
    pub push: Option<String>,
    /// The base ref to govern from; default: the one the committed configuration names.
    pub base: Option<String>,
}

#[derive(Debug)]
pub struct RunReport {
    pub record: RunRecord,
    pub review_path: Option<PathBuf>,
    pub kept_worktree: Option<PathBuf>,
}

/// The governed repository: its git handle and the configuration committed on the
/// base ref.
pub struct Governed {
    pub repo: Repo,
    pub config: Config,
    pub base_commit: String,
}

/// Reads `docket.toml` from the base ref, never from the working tree: only
/// committed configuration governs runs. The base ref is `base` when given, else the
/// one named by the `docket.toml` committed at HEAD; the configuration on the base ref
/// must name that same ref.
pub async fn load_governed(path: &Path, base: Option<&str>) -> Result<Governed, EngineError> {
    let repo = Repo::open(path).await?;
    let (config, base_commit) = load_config(&repo, base).await?;
    Ok(Governed {
        repo,
        config,
        base_commit,
    })
}

/// The governed repository at a recorded base commit (a held run is completed
/// under the configuration it was judged by).
pub async fn load_governed_at(path: &Path, commit: &str) -> Result<Governed, EngineError> {
    let repo = Repo::open(path).await?;
    let bytes = repo.show_file(commit, CONFIG_FILE).await?.ok_or_else(|| {
        EngineError::Config(format!(
            "{CONFIG_FILE} is not in commit {commit} of {}",
            repo.root().display()
        ))
    })?;
    let config = parse_committed(&format!("{CONFIG_FILE}@{commit}"), &bytes)?;
    Ok(Governed {
        repo,
        config,
        base_commit: commit.to_owned(),
    })
}

fn parse_committed(label: &str, bytes: &[u8]) -> Result<Config, EngineError> {
    let text = String::from_utf8_lossy(bytes);
    parse_config(label, &text).map_err(|e| EngineError::Config(e.to_string()))
}

async fn load_config(repo: &Repo, base: Option<&str>) -> Result<(Config, String), EngineError> {
    let not_committed = || {
        let hint = if repo.root().join(CONFIG_FILE).exists() {
            format!(
                "{CONFIG_FILE} in {} is not committed; commit it first (runs are governed only by committed, reviewed configuration)",
                repo.root().display()
            )
        } else {
            format!(
                "no {CONFIG_FILE} in {}; run `docket init` there and commit it",
                repo.root().display()
            )
        };
        EngineError::Config(hint)
    };
    let mut head_config = None;
    let base_ref = match base {
        Some(base) => base.to_owned(),
        None => {
            let head = repo.resolve("HEAD").await.map_err(|_| not_committed())?;
            let bytes = repo
                .show_file(&head, CONFIG_FILE)
                .await?
                .ok_or_else(not_committed)?;
            let base_ref = parse_committed(&format!("{CONFIG_FILE}@HEAD"), &bytes)?
                .repository
                .base_ref;
            head_config = Some((head, bytes));
            base_ref
        }
    };
    let base_commit = repo.resolve(&base_ref).await?;
    let committed = match head_config {
        // Usually HEAD is the base: its file is already read.
        Some((head, bytes)) if head == base_commit => Some(bytes),
        _ => repo.show_file(&base_commit, CONFIG_FILE).await?,
    };
    let bytes = committed.ok_or_else(|| {
        EngineError::Config(format!(
            "{CONFIG_FILE} is not committed on `{base_ref}`; commit it there first (runs are governed only by committed, reviewed configuration)"
        ))
    })?;
    let config = parse_committed(&format!("{CONFIG_FILE}@{base_ref}"), &bytes)?;
    if config.repository.base_ref != base_ref {
        return Err(EngineError::Config(format!(
            "{CONFIG_FILE} on `{base_ref}` names base ref `{}`; run from a checkout whose committed configuration names `{base_ref}`, or pass --base {}",
            config.repository.base_ref, config.repository.base_ref
        )));
    }
    Ok((config, base_commit))
}

/// A ticket file and what parsing it gave: the ticket, or why it is unusable.
pub type ListedTicket = (PathBuf, Result<Ticket, String>);

/// A ticket that cannot be read or parsed is listed with the reason, not dropped.
pub fn list_tickets(repo_root: &Path, config: &Config) -> Result<Vec<ListedTicket>, EngineError> {
    let dir = repo_root.join(&config.intake.tickets);
    let mut files = Vec::new();
    collect_markdown(&dir, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| parse_ticket(&path, &text).map_err(|e| e.to_string()));
            (path, parsed)
        })
        .collect())
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EngineError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            collect_markdown(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn resolve_ticket(
    repo_root: &Path,
    config: &Config,
    arg: &str,
) -> Result<(PathBuf, Ticket), EngineError> {
    let path = PathBuf::from(arg);
    if path.is_file() {
        // Absolute, so that `REMEDIATION.md` given from its own folder still has a
        // parent folder to take its id from.
        let path = std::fs::canonicalize(&path).map_err(io_err(&path))?;
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let ticket = parse_ticket(&path, &text)?;
        return Ok((path, ticket));
    }
    let dir = repo_root.join(&config.intake.tickets);
    if is_valid_ticket_id(arg) {
        for (path, parsed) in list_tickets(repo_root, config)? {
            if let Ok(ticket) = parsed
                && ticket.id == arg
            {
                return Ok((path, ticket));
            }
        }
    }
    Err(EngineError::TicketNotFound {
        id: arg.to_owned(),
        dir,
    })
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (nanos as u64 ^ u64::from(std::process::id())).to_be_bytes();
    }
    hex::encode(bytes)
}

fn now() -> String {
    docket_ledger::entry::format_time(jiff::Timestamp::now())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Off => "off",
        Mode::Advisory => "advisory",
        Mode::Required => "required",
    }
}

/// Appends a run's stage entries and remembers them for the final record.
///
/// Each stage is appended as soon as it ends; the append's commit (an fsync) overlaps
/// the next stage's work, and the next append waits for it, so entries stay in stage
/// order and the final record is written only after every stage entry is durable.
pub(crate) struct Recorder {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) run_id: String,
    pub(crate) stages: Vec<(u64, Hash)>,
    pub(crate) pending:
        Option<tokio::task::JoinHandle<Result<docket_ledger::Appended, LedgerError>>>,
}

impl Recorder {
    async fn settle(&mut self) -> Result<(), EngineError> {
        if let Some(pending) = self.pending.take() {
            let appended = pending
                .await
                .map_err(|e| EngineError::Config(format!("ledger append task failed: {e}")))??;
            self.stages.push((appended.index, appended.leaf_hash));
        }
        Ok(())
    }

    async fn stage(
        &mut self,
        kind: &str,
        mut payload: Value,
        blobs: Vec<Digest256>,
    ) -> Result<(), EngineError> {
        self.settle().await?;
        if let Value::Object(map) = &mut payload {
            map.insert("run_id".into(), Value::String(self.run_id.clone()));
        }
        let entry = NewEntry::new(kind, payload).with_blobs(blobs);
        let ledger = self.ledger.clone();
        self.pending = Some(tokio::spawn(async move { ledger.append(entry).await }));
        Ok(())
    }

    /// Stores bytes in the blob store with secrets redacted.
    fn blob(&self, bytes: &[u8]) -> Result<Digest256, EngineError> {
        store_redacted(self.ledger.blobs(), bytes)
    }
}

/// Everything a run carries between stages.
pub(crate) struct RunCtx<'a> {
    pub(crate) opts: &'a RunOptions,
    pub(crate) governed: &'a Governed,
    pub(crate) home: &'a Path,
    pub(crate) run_dir: PathBuf,
    pub(crate) ticket_file: PathBuf,
    pub(crate) record: RunRecord,
    pub(crate) cancel: watch::Receiver<bool>,
    pub(crate) gov: Arc<Governance>,
    /// Latest record of every earlier run (budget usage).
    pub(crate) history: std::collections::BTreeMap<String, RunRecord>,
    /// The IaC fixer's report on its change, for the publish decision.
    pub(crate) findings: Option<Value>,
    /// The IaC fixer's whole report (its applied rules go into the attestation).
    pub(crate) fixer: Option<Value>,
    /// When the judged change was last collected.
    pub(crate) last_change_at: String,
    /// Set when the gateway stopped an invocation at a limit: the reason.
    pub(crate) model_stop: Option<String>,
    /// What went wrong between the agent and its model provider in the last
    /// invocation (errors, refusals), for the run's reasons when it fails.
    pub(crate) model_trouble: Option<String>,
    /// The `api` agent's conversation so far, which a repair continues.
    pub(crate) conversation: Option<Vec<docket_agents::model_client::Message>>,
    /// The run decision's input, which the gateway decides again for every model a
    /// request asks for.
    pub(crate) run_input: Option<Value>,
}

/// The engine: the ledger evidence goes into, and DOCKET_HOME for worktrees and
/// per-run files.
pub struct Engine {
    pub ledger: Arc<Ledger>,
    pub home: PathBuf,
}

impl Engine {
    /// Runs one ticket through the golden path. Errors are docket's own failures; a
    /// blocked, failed or cancelled run is a report with that outcome.
    pub async fn run(
        &self,
        opts: RunOptions,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunReport, EngineError> {
        let governed = load_governed(&opts.repo, opts.base.as_deref()).await?;
        let config = &governed.config;
        let gov = Arc::new(governance::load(&governed.repo, &governed.base_commit, config).await?);
        let history = governance::latest_records(&self.ledger).await?;
        let Some(agent_kind) = config.agent.kind else {
            return Err(EngineError::Config(format!(
                "{CONFIG_FILE} on `{}` configures no agent: set [agent] kind and command, commit, and run again",
                config.repository.base_ref
            )));
        };
        let (ticket_path, ticket) = resolve_ticket(governed.repo.root(), config, &opts.ticket)?;
        let initiator = match &opts.initiator {
            Some(who) => who.clone(),
            None => governed
                .repo
                .user_email()
                .await?
                .ok_or(EngineError::NoInitiator)?,
        };
        let run_id = random_id();
        let run_dir = self.home.join("runs").join(&run_id);
        std::fs::create_dir_all(&run_dir).map_err(io_err(&run_dir))?;
        let ticket_file = run_dir.join("ticket.md");
        std::fs::write(&ticket_file, &ticket.text).map_err(io_err(&ticket_file))?;

        let mut rec = Recorder {
            ledger: self.ledger.clone(),
            run_id: run_id.clone(),
            stages: Vec::new(),
            pending: None,
        };
        let ticket_blob = rec.blob(ticket.text.as_bytes())?;
        let key = self.ledger.signing_key().await?.to_string();
        let record = RunRecord {
            schema: RUN_SCHEMA.into(),
            run_id: run_id.clone(),
            started_at: now(),
            finished_at: String::new(),
            ticket: TicketRef {
                id: ticket.id.clone(),
                title: ticket.title.clone(),
                source: ticket_path.display().to_string(),
                digest: ticket.digest.clone(),
                text_blob: Some(ticket_blob.to_string()),
                labels: ticket.labels.clone(),
                requester: ticket.requester.clone(),
                assignee: ticket.assignee.clone(),
            },
            initiator: initiator.clone(),
            repository: RepositoryRef {
                alias: config.repository.alias.clone(),
                root: governed.repo.root().display().to_string(),
                base_ref: config.repository.base_ref.clone(),
            },
            base_commit: Some(governed.base_commit.clone()),
            worker: WorkerRef {
                host: hostname(),
                docket_version: env!("CARGO_PKG_VERSION").into(),
                key,
            },
            agent: AgentRef {
                kind: agent_kind.as_str().into(),
                command: config.agent.command.clone(),
                model: config
                    .agent
                    .calls_model()
                    .then(|| config.agent.model.clone())
                    .flatten(),
            },
            attempts: vec![],
            diff: None,
            rules: vec![],
            validation_mode: mode_str(config.validation.mode).into(),
            validation: vec![],
            checks: vec![],
            outcome: RunOutcome {
                status: RunStatus::Failed,
                reasons: vec![],
            },
            output: None,
            ledger: LedgerRef::default(),
            decisions: vec![],
            held: None,
        };
        let mut ctx = RunCtx {
            opts: &opts,
            governed: &governed,
            home: &self.home,
            run_dir,
            ticket_file,
            record,
            cancel,
            gov: gov.clone(),
            history,
            findings: None,
            fixer: None,
            model_stop: None,
            model_trouble: None,
            conversation: None,
            run_input: None,
            last_change_at: String::new(),
        };

        // 1. Intake.
        let reasons = skip_reasons(&ticket, config);
        rec.stage(
            kinds::INTAKE,
            json!({
                "ticket": {"id": ticket.id, "digest": ticket.digest, "source": ticket_path.display().to_string()},
                "eligible": reasons.is_empty(),
                "reasons": reasons,
            }),
            vec![],
        )
        .await?;
        let input =
            governance::intake_input(config, &governed.base_commit, &gov, &ticket, &reasons);
        let decision = self
            .decide(&mut ctx, &mut rec, Point::Intake, input)
            .await?;
        if !decision.allowed() {
            ctx.record.outcome = RunOutcome {
                status: RunStatus::Blocked,
                reasons: decision.reasons(),
            };
            return self.finish(ctx, rec, None, None).await;
        }
        let budget = governance::usage(&ctx.history, &ticket.id, &run_id, None);
        let input = governance::with(
            self.common(&ctx, "run"),
            json!({
                "ticket": governance::ticket_input(&ticket, &gov),
                "initiator": gov.identity(&initiator),
                "agent": ctx.record.agent,
                "budget": budget,
            }),
        );
        ctx.run_input = Some(input.clone());
        let decision = self.decide(&mut ctx, &mut rec, Point::Run, input).await?;
        if !decision.allowed() {
            ctx.record.outcome = RunOutcome {
                status: RunStatus::Blocked,
                reasons: decision.reasons(),
            };
            return self.finish(ctx, rec, None, None).await;
        }
        rec.stage(
            kinds::STARTED,
            json!({
                "ticket": ctx.record.ticket,
                "initiator": ctx.record.initiator,
                "repository": ctx.record.repository,
                "base_commit": ctx.record.base_commit,
                "agent": ctx.record.agent,
                "worker": ctx.record.worker,
            }),
            vec![ticket_blob],
        )
        .await?;

        // 2. Isolated worktree from the base commit.
        let worktree_path = self.home.join("worktrees").join(&run_id);
        let worktree = match governed
            .repo
            .add_worktree(&worktree_path, &governed.base_commit)
            .await
        {
            Ok(worktree) => worktree,
            Err(error) => return self.fail(ctx, rec, None, error.into()).await,
        };
        let result = self.govern(&mut ctx, &mut rec, &worktree).await;
        // Removing the checkout overlaps writing the final record.
        let (kept, removal) = if opts.keep_worktree {
            (Some(worktree.path.clone()), None)
        } else {
            let repo = governed.repo.clone();
            let worktree = worktree.clone();
            let removal = tokio::spawn(async move {
                if let Err(e) = repo.remove_worktree(&worktree).await {
                    tracing::warn!(error = %e, "could not remove the run's checkout");
                }
            });
            (None, Some(removal))
        };
        let finished = match result {
            Ok(review) => self.finish(ctx, rec, review, kept).await,
            Err(error) => self.fail(ctx, rec, kept, error).await,
        };
        if let Some(removal) = removal {
            let _ = removal.await;
        }
        finished
    }

    /// docket's own failure after intake: still close the run's evidence with a
    /// record that says so, then report the error.
    async fn fail(
        &self,
        mut ctx: RunCtx<'_>,
        rec: Recorder,
        kept: Option<PathBuf>,
        error: EngineError,
    ) -> Result<RunReport, EngineError> {
        ctx.record.outcome = RunOutcome {
            status: RunStatus::Failed,
            reasons: vec![format!("docket error: {error}")],
        };
        if let Err(e) = self.finish(ctx, rec, None, kept).await {
            tracing::warn!(error = %e, "could not record the failed run");
        }
        Err(error)
    }

    /// Stages 3–8 inside the worktree. Returns the review file when published.
    async fn govern(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        wt: &Worktree,
    ) -> Result<Option<PathBuf>, EngineError> {
        let config = &ctx.governed.config;
        let (outcome, _) = self
            .run_agent(ctx, rec, &wt.path, "initial", 1, None)
            .await?;
        if let Some(mut stop) =
            model_stop(ctx).or_else(|| agent_stop(&outcome, config.agent.timeout))
        {
            stop.reasons.extend(ctx.model_trouble.take());
            ctx.record.outcome = stop;
            return Ok(None);
        }
        let mut diff = self.collect_diff(ctx, rec, wt).await?;
        if diff.files.is_empty() {
            ctx.record.outcome = RunOutcome {
                status: RunStatus::Failed,
                reasons: std::iter::once(
                    "no change: the agent exited successfully but changed nothing".to_owned(),
                )
                .chain(ctx.model_trouble.take())
                .collect(),
            };
            return Ok(None);
        }
        self.apply_rules(ctx, rec, &diff).await?;

        // Validation, with bounded repair.
        let mut attempt_no = 1u32;
        loop {
            let failures = self.validate(ctx, rec, &wt.path, attempt_no).await?;
            if *ctx.cancel.borrow() {
                ctx.record.outcome = cancelled();
                return Ok(None);
            }
            if failures.is_empty() {
                break;
            }
            let mode = config.validation.mode;
            if mode == Mode::Advisory {
                break;
            }
            let can_repair = config.agent.repair && attempt_no <= config.validation.repair_attempts;
            if !can_repair {
                let mut reasons = failed_rules(&ctx.record);
                reasons.extend(
                    failures
                        .iter()
                        .map(|f| format!("validation failed: {}", f.summary)),
                );
                ctx.record.outcome = RunOutcome {
                    status: RunStatus::Blocked,
                    reasons,
                };
                return Ok(None);
            }
            let report = ctx
                .run_dir
                .join(format!("validation-report-{attempt_no}.json"));
            let body = json!({
                "run_id": ctx.record.run_id,
                "attempt": attempt_no,
                "failures": failures.iter().map(|f| &f.detail).collect::<Vec<_>>(),
            });
            std::fs::write(
                &report,
                serde_json::to_vec_pretty(&body).unwrap_or_default(),
            )
            .map_err(io_err(&report))?;
            attempt_no += 1;
            let (outcome, _) = self
                .run_agent(ctx, rec, &wt.path, "repair", attempt_no, Some(&report))
                .await?;
            if let Some(stop) =
                model_stop(ctx).or_else(|| agent_stop(&outcome, config.agent.timeout))
            {
                ctx.record.outcome = stop;
                return Ok(None);
            }
            diff = self.collect_diff(ctx, rec, wt).await?;
            if diff.files.is_empty() {
                ctx.record.outcome = RunOutcome {
                    status: RunStatus::Failed,
                    reasons: vec!["no change: the repair left nothing changed".into()],
                };
                return Ok(None);
            }
            self.apply_rules(ctx, rec, &diff).await?;
        }

        // Governance checks.
        let mut blocked = Vec::new();
        for (check, mode) in [
            ("reproducibility", config.checks.reproducibility),
            ("idempotency", config.checks.idempotency),
        ] {
            if mode == Mode::Off {
                continue;
            }
            let result = self.check(ctx, rec, check, mode, wt, &diff).await?;
            if *ctx.cancel.borrow() {
                ctx.record.outcome = cancelled();
                return Ok(None);
            }
            if result.outcome == "fail" && mode == Mode::Required {
                blocked.push(format!("{check} check failed: {}", result.detail));
            }
        }
        if !blocked.is_empty() {
            let mut reasons = failed_rules(&ctx.record);
            reasons.extend(blocked);
            ctx.record.outcome = RunOutcome {
                status: RunStatus::Blocked,
                reasons,
            };
            return Ok(None);
        }

        // The publish decision: rules, validation, checks, findings, budget.
        let last_change = ctx.last_change_at.clone();
        let summary = ctx.record.diff.clone().unwrap_or_else(empty_summary);
        let input = self.publish_input(ctx, &summary, &last_change, &[], &[])?;
        let decision = self.decide(ctx, rec, Point::Publish, input).await?;
        // A change with a secret in it is never kept: no exception can let it pass,
        // and a held commit would put the secret into the repository's objects.
        let secret = ctx
            .record
            .rules
            .iter()
            .any(|r| r.rule == "secrets" && r.outcome == "fail");
        match decision.verdict {
            Verdict::Allow => self
                .publish(ctx, rec, PublishFrom::Worktree(wt, &diff))
                .await
                .map(Some),
            verdict if secret => {
                ctx.record.outcome = held_outcome(&decision, verdict);
                ctx.record.outcome.status = RunStatus::Blocked;
                Ok(None)
            }
            verdict => {
                // Keep the judged commit under a ref of the governed repository, so
                // that `docket publish` can complete the run after approvals or
                // exceptions without keeping the checkout.
                let config = &ctx.governed.config;
                let commit = wt
                    .commit_diff(
                        &diff,
                        &commit_message(&ctx.record),
                        &config.publish.author_name,
                        &config.publish.author_email,
                    )
                    .await?;
                let reference = format!("refs/docket/held/{}", ctx.record.run_id);
                wt.hold(&ctx.governed.repo, &reference, &commit).await?;
                ctx.record.held = Some(docket_core::record::HeldRun {
                    reference,
                    commit,
                    tree: diff.tree.clone(),
                });
                ctx.record.outcome = held_outcome(&decision, verdict);
                Ok(None)
            }
        }
    }

    /// The fields every decision input of this run carries.
    fn common(&self, ctx: &RunCtx<'_>, point: &str) -> Value {
        governance::common(
            point,
            &ctx.governed.config,
            &ctx.governed.base_commit,
            &ctx.gov,
        )
    }

    /// The publish point's input document for this run's judged change.
    pub(crate) fn publish_input(
        &self,
        ctx: &RunCtx<'_>,
        diff: &docket_core::record::DiffSummary,
        last_change: &str,
        approvals: &[(u64, governance::Grant)],
        exceptions: &[(u64, governance::Grant)],
    ) -> Result<Value, EngineError> {
        let record = &ctx.record;
        let gov = &ctx.gov;
        let common = self.common(ctx, "publish");
        let time = common["time"].as_str().unwrap_or_default().to_owned();
        let (approvals, exceptions) = governance::grant_inputs(approvals, exceptions, &time);
        Ok(governance::with(
            common,
            json!({
                "ticket": {
                    "id": record.ticket.id,
                    "title": record.ticket.title,
                    "labels": record.ticket.labels,
                    "state": Value::Null,
                    "requester": record.ticket.requester.as_deref().map(|r| gov.identity(r)),
                    "digest": record.ticket.digest,
                },
                "run": {
                    "id": record.run_id,
                    "initiator": gov.identity(&record.initiator),
                    "requester": record.ticket.requester.as_deref().map(|r| gov.identity(r)),
                    "started_at": record.started_at,
                    "last_change_at": last_change,
                    "diff_digest": diff.digest,
                },
                "diff": {
                    "files_changed": diff.files_changed,
                    "lines_added": diff.lines_added,
                    "lines_removed": diff.lines_removed,
                    "digest": diff.digest,
                    "paths": diff.files.iter().flat_map(|f| std::iter::once(f.path.clone()).chain(f.old_path.clone())).collect::<Vec<_>>(),
                    "files": diff.files.iter().map(|f| json!({"path": f.path, "status": f.status, "old_path": f.old_path})).collect::<Vec<_>>(),
                },
                "rules": record.rules,
                "validation": {
                    "mode": record.validation_mode,
                    // The final change's validation: earlier attempts were repaired.
                    "results": record.validation.iter().filter(|v| Some(v.attempt) == record.validation.iter().map(|v| v.attempt).max()).map(|v| json!({
                        "phase": v.phase,
                        "argv": v.argv,
                        "exit_code": v.exit_code,
                        "timed_out": v.timed_out,
                        "outcome": if v.exit_code == Some(0) && !v.timed_out { "pass" } else { "fail" },
                    })).collect::<Vec<_>>(),
                },
                "checks": record.checks,
                "findings": ctx.findings,
                "approvals": approvals,
                "exceptions": exceptions,
                "budget": governance::usage(&ctx.history, &record.ticket.id, &record.run_id, Some(record)),
            }),
        ))
    }

    /// When the run's change last changed: the time of its last diff entry.
    pub(crate) async fn last_change_at(&self, record: &RunRecord) -> Result<String, EngineError> {
        let mut last = record.started_at.clone();
        for index in &record.ledger.stages {
            let entry = self
                .ledger
                .entry(*index)
                .await?
                .decode()
                .map_err(LedgerError::from)?;
            if entry.kind == kinds::DIFF {
                last = entry.time;
            }
        }
        Ok(last)
    }

    /// Takes one decision, stores its exact input (as a blob) and records it as a
    /// stage of the run.
    pub(crate) async fn decide(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        point: Point,
        input: Value,
    ) -> Result<Decision, EngineError> {
        let (decision, payload, blob) = evaluate(&ctx.gov, point, &input, rec.ledger.blobs())?;
        rec.stage(kinds::POLICY, payload, vec![blob]).await?;
        ctx.record.decisions.push(summary(&decision));
        Ok(decision)
    }

    async fn run_agent(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        dir: &Path,
        purpose: &str,
        attempt: u32,
        report: Option<&Path>,
    ) -> Result<(CommandOutcome, AgentAttempt), EngineError> {
        let config = &ctx.governed.config;
        let mut extra = vec![
            ("DOCKET_RUN_ID".to_owned(), ctx.record.run_id.clone()),
            (
                "DOCKET_TICKET_FILE".to_owned(),
                ctx.ticket_file.display().to_string(),
            ),
            ("DOCKET_WORKTREE".to_owned(), dir.display().to_string()),
        ];
        if let Some(report) = report {
            extra.push((
                "DOCKET_VALIDATION_REPORT".to_owned(),
                report.display().to_string(),
            ));
        }
        if config.agent.kind == Some(AgentKind::Fixer) {
            return self.run_fixer_agent(ctx, rec, dir, purpose, attempt).await;
        }
        if let Some(kind) = config.agent.kind
            && kind.uses_model()
        {
            let step = AgentStep {
                dir,
                purpose,
                attempt,
                report,
            };
            return self.run_model_agent(ctx, rec, kind, step, &extra).await;
        }
        let spec = CommandSpec {
            argv: config.agent.command.clone(),
            cwd: dir.to_owned(),
            env: minimal_env(&config.agent.env, &extra),
            timeout: config.agent.timeout,
            stdin: StdinSpec::Null,
            output_limit: OUTPUT_LIMIT,
        };
        let outcome = run_command(&spec, &mut ctx.cancel).await?;
        let evidence = AttemptEvidence {
            report,
            ..AttemptEvidence::default()
        };
        let attempt = record_attempt(ctx, rec, purpose, attempt, &outcome, evidence).await?;
        Ok((outcome, attempt))
    }

    /// A model agent (Claude Code, Codex, docket's `api` agent) behind a gateway
    /// started for this invocation.
    async fn run_model_agent(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        kind: AgentKind,
        step: AgentStep<'_>,
        extra: &[(String, String)],
    ) -> Result<(CommandOutcome, AgentAttempt), EngineError> {
        use docket_agents::model_agent;
        let config = &ctx.governed.config;
        let gateway = self.start_gateway(ctx).await?;
        // A repair continues the `api` agent's conversation; checks start afresh.
        let conversation = match step.purpose {
            "repair" => ctx.conversation.clone(),
            _ => None,
        };
        let input = model_agent::InvocationInput {
            kind,
            config,
            dir: step.dir,
            scratch: model_agent::scratch_dir(&ctx.run_dir, step.purpose, step.attempt),
            ticket_file: &ctx.ticket_file,
            docket_env: extra,
            report: step.report,
            conversation,
        };
        let (invoked, summary) = self.supervised(ctx, gateway, input).await;
        let mut invoked = invoked?;
        if matches!(step.purpose, "initial" | "repair") {
            ctx.conversation = invoked.conversation.take();
        }
        let evidence =
            model_agent::evidence(kind, config.agent.model.as_deref(), &invoked, &summary);
        self.account(ctx, rec, &summary, invoked.problem.take())
            .await?;
        if summary.stop.is_some() {
            // Stopped by a limit, not by the user: say so rather than "cancelled".
            invoked.outcome.cancelled = *ctx.cancel.borrow();
        }
        let evidence = AttemptEvidence {
            model: Some((evidence, docket_agents::model_agent::model_usage(&summary))),
            fixer: None,
            report: step.report,
        };
        let attempt = record_attempt(
            ctx,
            rec,
            step.purpose,
            step.attempt,
            &invoked.outcome,
            evidence,
        )
        .await?;
        Ok((invoked.outcome, attempt))
    }

    /// A gateway for one invocation of this run: what is left of the run's limits,
    /// and the run decision taken again for every model a request asks for.
    async fn start_gateway(
        &self,
        ctx: &RunCtx<'_>,
    ) -> Result<docket_gateway::Gateway, EngineError> {
        let policy = self.wire_policy(ctx);
        docket_gateway::Gateway::start(
            docket_agents::model_agent::gateway_config(
                &ctx.governed.config,
                // Limits are per run: what the run's earlier attempts used counts.
                &docket_core::record::ModelUsage::total(&ctx.record.attempts),
                policy,
            ),
            self.ledger.clone(),
            &ctx.record.run_id,
        )
        .await
        .map_err(|e| EngineError::Config(format!("cannot start the model gateway: {e}")))
    }

    /// The run decision, taken again by the gateway for every model a request names.
    fn wire_policy(&self, ctx: &RunCtx<'_>) -> Option<Arc<dyn docket_gateway::RequestPolicy>> {
        let input = ctx.run_input.clone()?;
        Some(Arc::new(crate::wire_policy::WirePolicy::new(
            ctx.gov.clone(),
            input,
            self.ledger.blobs().clone(),
        )))
    }

    /// Runs one invocation against `gateway`, stopping it when the run is cancelled
    /// or the gateway reaches a limit; returns it with the gateway's summary (every
    /// exchange durable).
    async fn supervised(
        &self,
        ctx: &RunCtx<'_>,
        gateway: docket_gateway::Gateway,
        input: docket_agents::model_agent::InvocationInput<'_>,
    ) -> (
        Result<docket_agents::model_agent::Invoked, EngineError>,
        docket_gateway::GatewaySummary,
    ) {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let mut run_cancel = ctx.cancel.clone();
        let mut limit = gateway.stopped();
        let forward = tokio::spawn(async move {
            loop {
                if *run_cancel.borrow() || limit.borrow().is_some() {
                    let _ = stop_tx.send(true);
                    return;
                }
                tokio::select! {
                    changed = run_cancel.changed() => if changed.is_err() { return },
                    changed = limit.changed() => if changed.is_err() { return },
                }
            }
        });
        let invoked = docket_agents::model_agent::invoke(input, &gateway, &mut stop_rx)
            .await
            .map_err(EngineError::from);
        forward.abort();
        let summary = gateway.shutdown().await;
        (invoked, summary)
    }

    /// Links an invocation's gateway entries and notes what went wrong with the
    /// provider or the agent (its usage is recorded with its attempt).
    async fn account(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        summary: &docket_gateway::GatewaySummary,
        problem: Option<String>,
    ) -> Result<(), EngineError> {
        use docket_agents::model_agent;
        let troubles: Vec<String> = problem
            .into_iter()
            .chain(model_agent::trouble(summary))
            .collect();
        ctx.model_trouble = (!troubles.is_empty()).then(|| troubles.join("; "));
        if let Some(reason) = &summary.stop {
            ctx.model_stop = Some(reason.clone());
        }
        rec.settle().await?;
        rec.stages.extend(model_agent::linked_entries(summary));
        Ok(())
    }

    /// The built-in `fixer` agent: plans from the ticket (deterministically, or by
    /// asking the model through the gateway for a plan it then checks) and applies
    /// the plan in `dir`, in-process. Its report is the attempt's stdout, so the plan,
    /// the rule references and every finding's status are evidence. The engine, never
    /// the model, writes the code.
    async fn run_fixer_agent(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        dir: &Path,
        purpose: &str,
        attempt: u32,
    ) -> Result<(CommandOutcome, AgentAttempt), EngineError> {
        let started = std::time::Instant::now();
        let ticket = std::fs::read_to_string(&ctx.ticket_file).map_err(io_err(&ctx.ticket_file))?;
        let config = &ctx.governed.config;
        let mut model = None;
        let mut planned = None;
        if config.agent.planner == docket_core::config::Planner::Model {
            let gateway = self.start_gateway(ctx).await?;
            let input = docket_agents::model_agent::InvocationInput {
                kind: AgentKind::Fixer,
                config,
                dir,
                scratch: docket_agents::model_agent::scratch_dir(&ctx.run_dir, purpose, attempt),
                ticket_file: &ctx.ticket_file,
                docket_env: &[],
                report: None,
                conversation: None,
            };
            let (invoked, summary) = self.supervised(ctx, gateway, input).await;
            let mut invoked = invoked?;
            model = Some((
                docket_agents::model_agent::evidence(
                    AgentKind::Fixer,
                    config.agent.model.as_deref(),
                    &invoked,
                    &summary,
                ),
                docket_agents::model_agent::model_usage(&summary),
            ));
            self.account(ctx, rec, &summary, None).await?;
            if invoked.plan.is_none() {
                // Stopped (cancelled, a limit, the timeout) before a plan came back.
                let outcome = invoked.outcome;
                let evidence = AttemptEvidence {
                    model,
                    ..AttemptEvidence::default()
                };
                let attempt =
                    record_attempt(ctx, rec, purpose, attempt, &outcome, evidence).await?;
                return Ok((outcome, attempt));
            }
            planned = invoked.plan.take();
        }
        let dir_owned = dir.to_owned();
        let report = tokio::task::spawn_blocking(move || match planned {
            Some(plan) => docket_agents::fixer::apply_planned(&dir_owned, plan),
            None => docket_agents::fixer::run_fixer(&dir_owned, &ticket),
        })
        .await
        .map_err(|e| EngineError::Config(format!("the fixer stopped unexpectedly: {e}")))??;
        let verdict = report.verdict;
        let stdout =
            serde_json::to_vec_pretty(&report).map_err(|e| EngineError::Config(e.to_string()))?;
        let summary = format!(
            "fixer: {} ({} fix(es) applied, {} needs-human item(s))\n",
            verdict,
            report.outcome.applied.len(),
            report.plan.needs_human.len()
        );
        let outcome = CommandOutcome {
            argv: vec!["docket-fixer".into()],
            exit_code: Some(if verdict == "failed" { 1 } else { 0 }),
            signal: None,
            timed_out: false,
            cancelled: false,
            duration: started.elapsed(),
            stdout,
            stderr: summary.into_bytes(),
            stdout_truncated: false,
            stderr_truncated: false,
        };
        let fixer = json!({
            "verdict": verdict,
            "planner": if model.is_some() { "model" } else { "rules" },
            "plan": report.plan,
            "applied": report.outcome.applied,
            "skipped": report.outcome.skipped,
            "new_findings": report.new_findings,
            "unresolved": report.unresolved,
        });
        ctx.findings = Some(fixer_findings(&fixer));
        ctx.fixer = Some(fixer.clone());
        if report.outcome.applied.is_empty() && !report.plan.needs_human.is_empty() {
            // Nothing was changed because the plan needs a human: say why, so that a
            // "no change" run names the reason.
            let reasons: Vec<String> = report
                .plan
                .needs_human
                .iter()
                .map(|n| format!("needs-human: {}: {}", n.subject, n.reason))
                .chain(ctx.model_trouble.take())
                .collect();
            ctx.model_trouble = Some(reasons.join("; "));
        }
        let evidence = AttemptEvidence {
            model,
            fixer: Some(fixer),
            report: None,
        };
        let attempt = record_attempt(ctx, rec, purpose, attempt, &outcome, evidence).await?;
        Ok((outcome, attempt))
    }

    async fn collect_diff(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        wt: &Worktree,
    ) -> Result<Diff, EngineError> {
        let diff = wt.collect_diff().await?;
        let patch_blob = rec.blob(&diff.patch)?;
        let summary = DiffSummary {
            digest: diff.digest.clone(),
            files: diff
                .files
                .iter()
                .map(|f| DiffFile {
                    path: f.path.clone(),
                    old_path: f.old_path.clone(),
                    status: format!("{:?}", f.status).to_lowercase(),
                    added: f.added_lines,
                    removed: f.removed_lines,
                    binary: f.binary,
                    old_mode: f.old_mode.clone(),
                    new_mode: f.new_mode.clone(),
                })
                .collect(),
            files_changed: diff.files.len() as u64,
            lines_added: diff.files.iter().map(|f| f.added_lines).sum(),
            lines_removed: diff.files.iter().map(|f| f.removed_lines).sum(),
            patch_blob: patch_blob.to_string(),
        };
        rec.stage(kinds::DIFF, json!({"diff": summary}), vec![patch_blob])
            .await?;
        ctx.record.diff = Some(summary);
        ctx.last_change_at = governance::now();
        Ok(diff)
    }

    /// Evaluates the repository rules on the change and records the results. A
    /// failed rule does not stop the run here: the publish decision judges it (an
    /// exception may let it pass), after validation and checks are on the record.
    async fn apply_rules(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        diff: &Diff,
    ) -> Result<(), EngineError> {
        let results = rules::evaluate(diff, &ctx.governed.config.rules)?;
        rec.stage(kinds::RULES, json!({"rules": results}), vec![])
            .await?;
        ctx.record.rules = results;
        Ok(())
    }

    /// Runs setup and validation commands; returns each failure (for the outcome
    /// and for the repair report).
    async fn validate(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        dir: &Path,
        attempt: u32,
    ) -> Result<Vec<ValidationFailure>, EngineError> {
        let config = &ctx.governed.config;
        if config.validation.mode == Mode::Off {
            return Ok(vec![]);
        }
        let mut failures = Vec::new();
        let phases = config
            .validation
            .setup
            .iter()
            .map(|c| ("setup", c))
            .chain(config.validation.commands.iter().map(|c| ("validate", c)));
        let mut commands = Vec::new();
        for (phase, argv) in phases {
            let spec = CommandSpec {
                argv: argv.clone(),
                cwd: dir.to_owned(),
                env: minimal_env(
                    &config.agent.env,
                    &[
                        ("DOCKET_RUN_ID".to_owned(), ctx.record.run_id.clone()),
                        ("DOCKET_WORKTREE".to_owned(), dir.display().to_string()),
                    ],
                ),
                timeout: config.validation.timeout,
                stdin: StdinSpec::Null,
                output_limit: OUTPUT_LIMIT,
            };
            let outcome = run_command(&spec, &mut ctx.cancel).await?;
            let mut output = outcome.stdout.clone();
            output.extend_from_slice(b"\n--- stderr ---\n");
            output.extend_from_slice(&outcome.stderr);
            let blob = rec.blob(&output)?;
            let command = ValidationCommand {
                phase: phase.into(),
                attempt,
                argv: argv.clone(),
                exit_code: outcome.exit_code,
                timed_out: outcome.timed_out,
                duration_ms: outcome.duration.as_millis() as u64,
                output_digest: blob.to_string(),
            };
            commands.push((command.clone(), blob));
            ctx.record.validation.push(command);
            if !outcome.success() {
                let tail = |b: &[u8]| {
                    let text = String::from_utf8_lossy(&b[b.len().saturating_sub(16 << 10)..])
                        .into_owned();
                    SecretScanner::builtin().redact(&text).0
                };
                let why = if outcome.timed_out {
                    "timed out".to_owned()
                } else {
                    match outcome.exit_code {
                        Some(code) => format!("exited with {code}"),
                        None => "was killed".to_owned(),
                    }
                };
                failures.push(ValidationFailure {
                    summary: format!("`{}` {why}", argv.join(" ")),
                    detail: json!({
                        "phase": phase,
                        "argv": argv,
                        "exit_code": outcome.exit_code,
                        "timed_out": outcome.timed_out,
                        "stdout_tail": tail(&outcome.stdout),
                        "stderr_tail": tail(&outcome.stderr),
                    }),
                });
                if phase == "setup" || outcome.cancelled {
                    break;
                }
            }
        }
        let blobs = commands.iter().map(|(_, b)| *b).collect();
        rec.stage(
            kinds::VALIDATION,
            json!({
                "attempt": attempt,
                "mode": mode_str(config.validation.mode),
                "passed": failures.is_empty(),
                "commands": commands.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            }),
            blobs,
        )
        .await?;
        Ok(failures)
    }

    async fn check(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        check: &str,
        mode: Mode,
        judged: &Worktree,
        original: &Diff,
    ) -> Result<CheckResult, EngineError> {
        if check == "reproducibility" && ctx.governed.config.agent.calls_model() {
            return self.check_by_replay(ctx, rec, mode, judged, original).await;
        }
        let path = ctx
            .home
            .join("worktrees")
            .join(format!("{}-{check}", ctx.record.run_id));
        let wt = ctx
            .governed
            .repo
            .add_worktree(&path, &ctx.governed.base_commit)
            .await?;
        let outcome = async {
            if check == "idempotency" {
                wt.apply_patch(&original.patch).await?;
            }
            let (agent, _) = self.run_agent(ctx, rec, &wt.path, check, 1, None).await?;
            if let Some(stop) = model_stop(ctx).or_else(|| agent_stop(&agent, ctx.governed.config.agent.timeout)) {
                return Ok::<_, EngineError>(("fail", format!("the agent did not finish: {}", stop.reasons.join("; "))));
            }
            let again = wt.collect_diff().await?;
            Ok(if again.digest == original.digest {
                ("pass", match check {
                    "idempotency" => "re-running the agent on its own result changed nothing".to_owned(),
                    _ => format!("re-running the agent from the base produced the same diff {}", again.digest),
                })
            } else {
                ("fail", match check {
                    "idempotency" => format!("re-running the agent on its own result changed it again (diff {} instead of {})", again.digest, original.digest),
                    _ => format!("re-running the agent from the base produced diff {} instead of {}", again.digest, original.digest),
                })
            })
        }
        .await;
        ctx.governed.repo.remove_worktree(&wt).await?;
        let (verdict, detail) = outcome?;
        self.record_check(ctx, rec, check, mode, verdict, detail)
            .await
    }

    async fn record_check(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        check: &str,
        mode: Mode,
        verdict: &str,
        detail: String,
    ) -> Result<CheckResult, EngineError> {
        let result = CheckResult {
            check: check.into(),
            mode: mode_str(mode).into(),
            outcome: verdict.into(),
            detail,
        };
        rec.stage(kinds::CHECK, json!({"check": result}), vec![])
            .await?;
        ctx.record.checks.push(result.clone());
        Ok(result)
    }

    /// Reproducibility of a model-calling agent: the recorded exchanges replayed
    /// from the base must give the same diff. Re-asking the live model would cost
    /// money and prove nothing about this change; the replay proves the recorded
    /// answers, and only they, produced it.
    async fn check_by_replay(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        mode: Mode,
        judged: &Worktree,
        original: &Diff,
    ) -> Result<CheckResult, EngineError> {
        let config = &ctx.governed.config;
        let Some(kind) = config.agent.kind else {
            return Err(EngineError::Config("no agent is configured".into()));
        };
        rec.settle().await?;
        let replayed = crate::replay::Replayed {
            kind,
            config,
            run_id: &ctx.record.run_id,
            run_dir: &ctx.run_dir,
            ticket_file: &ctx.ticket_file,
            attempts: ctx
                .record
                .attempts
                .iter()
                .filter(|a| matches!(a.purpose.as_str(), "initial" | "repair"))
                .cloned()
                .collect(),
            started_at: &ctx.record.started_at,
            policy: self.wire_policy(ctx),
        };
        let mut stop = ctx.cancel.clone();
        let (verdict, summary) = self
            .reproduce_by_replay(&replayed, ctx.governed, judged, &original.digest, &mut stop)
            .await?;
        rec.stages
            .extend(docket_agents::model_agent::linked_entries(&summary));
        let verdict_word = if verdict.reproduced { "pass" } else { "fail" };
        self.record_check(
            ctx,
            rec,
            "reproducibility",
            mode,
            verdict_word,
            verdict.detail,
        )
        .await
    }

    pub(crate) async fn publish(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        from: PublishFrom<'_>,
    ) -> Result<PathBuf, EngineError> {
        let config = &ctx.governed.config;
        let short = &ctx.record.run_id[..8];
        let branch = format!(
            "{}{}-{short}",
            config.publish.branch_prefix, ctx.record.ticket.id
        );
        // The review body describes the judged change; render and store it (an fsync)
        // while git commits and creates the branch.
        rec.settle().await?;
        let checkpoint = self.ledger.latest_checkpoint().await?.map(|c| c.checkpoint);
        let stages: Vec<u64> = rec.stages.iter().map(|(i, _)| *i).collect();
        let render = |record: &RunRecord, status: RunStatus, reasons: Vec<String>| {
            let mut preview = record.clone();
            preview.outcome = RunOutcome { status, reasons };
            preview.ledger.stages = stages.clone();
            review::render(&preview, checkpoint.as_ref())
        };
        let body = render(&ctx.record, RunStatus::Published, vec![]);
        let blobs = self.ledger.blobs().clone();
        let stored_review =
            tokio::task::spawn_blocking(move || store_redacted(&blobs, body.as_bytes()));
        let commit = match from {
            PublishFrom::Worktree(wt, diff) => {
                let commit = wt
                    .commit_diff(
                        diff,
                        &commit_message(&ctx.record),
                        &config.publish.author_name,
                        &config.publish.author_email,
                    )
                    .await?;
                wt.create_branch(&ctx.governed.repo, &branch, &commit)
                    .await?;
                commit
            }
            PublishFrom::Held(commit) => {
                ctx.governed.repo.create_branch_at(&branch, commit).await?;
                commit.to_owned()
            }
        };
        let mut review_blob = stored_review
            .await
            .map_err(|e| EngineError::Config(format!("storing the review body failed: {e}")))??;
        let attestation = self.attest(ctx, rec, &commit).await?;
        let mut pushed_to = None;
        let mut push_failure = None;
        if let Some(remote) = &ctx.opts.push {
            let repo = &ctx.governed.repo;
            match repo.push(remote, &branch).await {
                Ok(()) => match repo.push_notes(remote).await {
                    Ok(()) => pushed_to = Some(remote.clone()),
                    Err(e) => {
                        push_failure = Some(format!(
                            "{branch} was pushed to `{remote}`, but its attestation ({}) was not: {e}",
                            docket_git::NOTES_REF
                        ))
                    }
                },
                Err(e) => {
                    push_failure = Some(format!("push of {branch} to `{remote}` failed: {e}"))
                }
            }
        }
        ctx.record.outcome = match &push_failure {
            None => RunOutcome {
                status: RunStatus::Published,
                reasons: vec![],
            },
            Some(reason) => {
                // The review must not say "published" for a run that failed to push.
                let body = render(&ctx.record, RunStatus::Failed, vec![reason.clone()]);
                review_blob = rec.blob(body.as_bytes())?;
                RunOutcome {
                    status: RunStatus::Failed,
                    reasons: vec![reason.clone()],
                }
            }
        };
        let output = RunOutput {
            branch,
            commit,
            review_blob: review_blob.to_string(),
            pushed_to,
            attestation: Some(attestation.to_string()),
        };
        rec.stage(
            kinds::PUBLISHED,
            json!({"output": output, "push_error": push_failure}),
            vec![review_blob],
        )
        .await?;
        ctx.record.output = Some(output);
        Ok(self.ledger.blobs().path_of(&review_blob))
    }

    /// Signs the published commit's attestation, attaches it as the commit's note and
    /// records it; returns the envelope's blob digest.
    async fn attest(
        &self,
        ctx: &mut RunCtx<'_>,
        rec: &mut Recorder,
        commit: &str,
    ) -> Result<Digest256, EngineError> {
        rec.settle().await?;
        let repo = &ctx.governed.repo;
        let (tree, _) = repo.tree_and_parent(commit).await?;
        let verifier = self.ledger.signing_key().await?;
        let signer = self
            .ledger
            .keys()
            .find(&verifier)
            .map_err(|e| EngineError::Config(format!("cannot sign the attestation: {e}")))?;
        let fixer = ctx.fixer.as_ref();
        let statement = docket_evidence::attest::statement(
            &docket_evidence::attest::Published {
                record: &ctx.record,
                commit,
                tree: &tree,
                fixer,
                origin: self.ledger.origin(),
                entries: rec.stages.iter().map(|(i, _)| *i).collect(),
                attested_at: now(),
            },
            &verifier,
        );
        let envelope = docket_evidence::attest::sign(&statement, &signer)
            .map_err(|e| EngineError::Config(format!("cannot sign the attestation: {e}")))?;
        let bytes = envelope.to_json().into_bytes();
        // Stored exactly as signed: redaction would break the signature, and the
        // statement holds only what the run record already holds.
        let blob = self.ledger.blobs().put(&bytes).map_err(LedgerError::from)?;
        let publish = &ctx.governed.config.publish;
        repo.add_note(commit, &bytes, &publish.author_name, &publish.author_email)
            .await?;
        rec.stage(
            kinds::ATTESTATION,
            json!({
                "commit": commit,
                "tree": tree,
                "diff_digest": ctx.record.diff.as_ref().map(|d| d.digest.clone()),
                "predicate_type": docket_evidence::attest::PREDICATE_TYPE,
                "envelope": blob,
                "notes_ref": docket_git::NOTES_REF,
            }),
            vec![blob],
        )
        .await?;
        Ok(blob)
    }

    pub(crate) async fn finish(
        &self,
        mut ctx: RunCtx<'_>,
        mut rec: Recorder,
        review_path: Option<PathBuf>,
        kept: Option<PathBuf>,
    ) -> Result<RunReport, EngineError> {
        rec.settle().await?;
        ctx.record.finished_at = now();
        ctx.record
            .ledger
            .stages
            .extend(rec.stages.iter().map(|(i, _)| *i));
        let links = rec.stages.clone();
        let payload =
            serde_json::to_value(&ctx.record).map_err(|e| EngineError::Config(e.to_string()))?;
        let appended = self
            .ledger
            .append(NewEntry::new(kinds::RECORD, payload).with_links(links))
            .await?;
        ctx.record.ledger.index = Some(appended.index);
        let _ = std::fs::remove_dir_all(&ctx.run_dir);
        Ok(RunReport {
            record: ctx.record,
            review_path,
            kept_worktree: kept,
        })
    }
}

/// Where the published commit comes from: the run's checkout, or the commit a
/// held run kept.
pub(crate) enum PublishFrom<'a> {
    Worktree(&'a Worktree, &'a Diff),
    Held(&'a str),
}

/// The published commit's message. Trailer values come from the ticket and the
/// command line: one line each, so that no value can add a trailer of its own (a
/// forged `Docket-Run`).
fn commit_message(record: &RunRecord) -> String {
    let requested_by = trailer_value(
        record
            .ticket
            .requester
            .as_deref()
            .unwrap_or(&record.initiator),
    );
    let assisted = trailer_value(&match &record.agent.model {
        Some(model) => format!("{}:{model}", record.agent.kind),
        None => record.agent.kind.clone(),
    });
    let title: String = record
        .ticket
        .title
        .chars()
        .filter(|c| !c.is_control())
        .take(72)
        .collect();
    format!(
        "{title}\n\nGoverned change for ticket {} made by docket run {}.\n\nDocket-Run: {}\nDocket-Ticket: {}\nAssisted-by: {assisted}\nRequested-by: {requested_by}\n",
        record.ticket.id, record.run_id, record.run_id, record.ticket.id
    )
}

fn empty_summary() -> docket_core::record::DiffSummary {
    docket_core::record::DiffSummary {
        digest: String::new(),
        files: vec![],
        files_changed: 0,
        lines_added: 0,
        lines_removed: 0,
        patch_blob: String::new(),
    }
}

/// The repository rules the change failed, as reasons: a run stopped by validation
/// or a check before its publish decision still says what else was wrong.
fn failed_rules(record: &RunRecord) -> Vec<String> {
    record
        .rules
        .iter()
        .filter(|r| r.outcome == "fail")
        .map(|r| format!("{}: {}", r.rule, r.detail))
        .collect()
}

/// What a publish decision sees of the IaC fixer's report.
pub(crate) fn fixer_findings(fixer: &Value) -> Value {
    json!({
        "verdict": fixer["verdict"],
        "applied": fixer["applied"].as_array().map_or(0, Vec::len),
        "new_findings": fixer["new_findings"],
        "unresolved": fixer["unresolved"],
    })
}

/// The outcome of a run held at the publish point.
pub(crate) fn held_outcome(decision: &Decision, verdict: Verdict) -> RunOutcome {
    if verdict == Verdict::ApprovalRequired {
        RunOutcome {
            status: RunStatus::AwaitingApproval,
            reasons: decision
                .approval
                .iter()
                .map(|a| format!("approval required: {a}"))
                .collect(),
        }
    } else {
        RunOutcome {
            status: RunStatus::Blocked,
            reasons: decision.reasons(),
        }
    }
}

/// Evaluates one decision. Returns it with the `policy.decision` entry payload and
/// the blob holding the exact input bytes (canonical JSON, secrets redacted).
pub fn evaluate(
    gov: &Governance,
    point: Point,
    input: &Value,
    blobs: &docket_ledger::BlobStore,
) -> Result<(Decision, Value, Digest256), EngineError> {
    let canonical = docket_policy::canonical_input(input)
        .map_err(|e| EngineError::Config(format!("cannot encode the {point:?} input: {e}")))?;
    let decision = gov.policy.decide_canonical(point, &canonical);
    let blob = store_redacted(blobs, canonical.as_bytes())?;
    let payload = json!({
        "decision": decision,
        "bundle": {"digest": gov.policy.digest(), "files": gov.policy.paths()},
        "input_blob": blob.to_string(),
    });
    Ok((decision, payload, blob))
}

pub(crate) fn summary(decision: &Decision) -> docket_core::record::DecisionSummary {
    let mut messages = decision.reasons();
    messages.extend(
        decision
            .approval
            .iter()
            .map(|a| format!("approval required: {a}")),
    );
    messages.extend(decision.warn.iter().map(|w| format!("warning: {w}")));
    docket_core::record::DecisionSummary {
        point: decision.point.as_str().into(),
        verdict: match decision.verdict {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::ApprovalRequired => "approval-required",
        }
        .into(),
        messages,
        bundle_digest: decision.bundle_digest.clone(),
        input_digest: decision.input_digest.clone(),
    }
}

/// Stores bytes in the blob store, secrets redacted (only digests of originals are kept).
fn store_redacted(
    blobs: &docket_ledger::BlobStore,
    bytes: &[u8],
) -> Result<Digest256, EngineError> {
    let text = String::from_utf8_lossy(bytes);
    let (redacted, findings) = SecretScanner::builtin().redact(&text);
    let stored = if findings.is_empty() {
        bytes.to_vec()
    } else {
        redacted.into_bytes()
    };
    Ok(blobs.put(&stored).map_err(LedgerError::from)?)
}

/// A value safe on one trailer line: control characters (newlines included) become
/// spaces and runs of whitespace collapse.
fn trailer_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One failed validation command.
struct ValidationFailure {
    summary: String,
    detail: Value,
}

fn cancelled() -> RunOutcome {
    RunOutcome {
        status: RunStatus::Cancelled,
        reasons: vec!["cancelled by signal".into()],
    }
}

/// Where one agent invocation works, and why.
pub(crate) struct AgentStep<'a> {
    pub(crate) dir: &'a Path,
    /// `initial`, `repair`, `idempotency`, `reproducibility`.
    pub(crate) purpose: &'a str,
    pub(crate) attempt: u32,
    /// A repair's validation report file.
    pub(crate) report: Option<&'a Path>,
}

/// Stores an agent invocation's output (and a repair's report), appends its
/// `run.agent` stage entry (with the model evidence of a model agent) and adds it to
/// the record.
/// What an attempt's stage entry carries beyond the command's outcome.
#[derive(Default)]
struct AttemptEvidence<'a> {
    /// A model-calling agent's evidence (CLI or agent version, result, gateway
    /// totals) and its usage.
    model: Option<(Value, docket_core::record::ModelUsage)>,
    /// The fixer's report.
    fixer: Option<Value>,
    /// A repair's validation report file.
    report: Option<&'a Path>,
}

async fn record_attempt(
    ctx: &mut RunCtx<'_>,
    rec: &mut Recorder,
    purpose: &str,
    attempt: u32,
    outcome: &CommandOutcome,
    evidence: AttemptEvidence<'_>,
) -> Result<AgentAttempt, EngineError> {
    let AttemptEvidence {
        model,
        fixer,
        report,
    } = evidence;
    let stdout = rec.blob(&outcome.stdout)?;
    let stderr = rec.blob(&outcome.stderr)?;
    let mut blobs = vec![stdout, stderr];
    let report_blob = match report {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(io_err(path))?;
            let blob = rec.blob(&bytes)?;
            blobs.push(blob);
            Some(blob.to_string())
        }
        None => None,
    };
    let (model, model_usage) = match model {
        Some((evidence, usage)) => (Some(evidence), Some(usage)),
        None => (None, None),
    };
    let attempt = AgentAttempt {
        purpose: purpose.into(),
        attempt,
        argv: outcome.argv.clone(),
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        timed_out: outcome.timed_out,
        duration_ms: outcome.duration.as_millis() as u64,
        stdout_digest: stdout.to_string(),
        stderr_digest: stderr.to_string(),
        model_usage,
        validation_report: report_blob,
    };
    let mut payload = json!({"attempt": attempt, "cancelled": outcome.cancelled});
    if let Some(model) = model {
        payload["model"] = model;
    }
    if let Some(fixer) = fixer {
        payload["fixer"] = fixer;
    }
    rec.stage(kinds::AGENT, payload, blobs).await?;
    ctx.record.attempts.push(attempt.clone());
    Ok(attempt)
}

/// The run's outcome when the gateway stopped the agent at a per-run limit: blocked,
/// with the limit's reason (the budget decision is in the ledger).
fn model_stop(ctx: &mut RunCtx<'_>) -> Option<RunOutcome> {
    ctx.model_stop.take().map(|reason| RunOutcome {
        status: RunStatus::Blocked,
        reasons: vec![format!("model limit: {reason}")],
    })
}

fn agent_stop(outcome: &CommandOutcome, timeout: Duration) -> Option<RunOutcome> {
    if outcome.cancelled {
        return Some(cancelled());
    }
    if outcome.timed_out {
        return Some(RunOutcome {
            status: RunStatus::Failed,
            reasons: vec![format!(
                "agent timed out after {} s; its process group was killed",
                timeout.as_secs()
            )],
        });
    }
    if !outcome.success() {
        let why = match (outcome.exit_code, outcome.signal) {
            (Some(code), _) => format!("agent exited with code {code}"),
            (None, Some(sig)) => format!("agent was killed by signal {sig}"),
            _ => "agent failed".into(),
        };
        return Some(RunOutcome {
            status: RunStatus::Failed,
            reasons: vec![why],
        });
    }
    None
}
