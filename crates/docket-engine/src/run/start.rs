//! The first stages: opening a run (committed configuration, policy, the ticket, the
//! record's first form), intake (eligibility and the `intake` decision) and
//! authorisation (the `run` decision, then `run.started`).

use std::sync::Arc;

use docket_core::config::Mode;
use docket_core::intake::skip_reasons;
use docket_core::record::{
    AgentRef, LedgerRef, RUN_SCHEMA, RepositoryRef, RunOutcome, RunRecord, RunStatus, TicketRef,
    WorkerRef, kinds,
};
use docket_policy::Point;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::state::{Admitted, Authorised, Flow, RunScope, Ticketed};
use crate::engine::{Engine, RunOptions};
use crate::error::{EngineError, io_err};
use crate::governance;
use crate::governed::{CONFIG_FILE, Governed, resolve_ticket};
use crate::recorder::Recorder;

/// Everything a run needs before its first ledger entry: the committed
/// configuration and policy, the ticket (written to the run's ticket file), the
/// initiator, and the record's first form. Nothing is recorded yet: a run that
/// cannot open is an error, not a run.
pub(crate) async fn open<'a>(
    engine: &'a Engine,
    opts: &'a RunOptions,
    governed: &'a Governed,
    cancel: watch::Receiver<bool>,
) -> Result<(RunScope<'a>, RunRecord, Ticketed, Recorder), EngineError> {
    let config = &governed.config;
    let gov = Arc::new(governance::load(&governed.repo, &governed.base_commit, config).await?);
    let history = governance::latest_records(&engine.ledger).await?;
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
    let run_dir = engine.home.join("runs").join(&run_id);
    std::fs::create_dir_all(&run_dir).map_err(io_err(&run_dir))?;
    let ticket_file = run_dir.join("ticket.md");
    std::fs::write(&ticket_file, &ticket.text).map_err(io_err(&ticket_file))?;

    let rec = Recorder::new(engine.ledger.clone(), &run_id, Vec::new());
    let text_blob = rec.blob(ticket.text.as_bytes())?;
    let key = engine.ledger.signing_key().await?.to_string();
    let record = RunRecord {
        schema: RUN_SCHEMA.into(),
        run_id,
        started_at: now(),
        finished_at: String::new(),
        ticket: TicketRef {
            id: ticket.id.clone(),
            title: ticket.title.clone(),
            source: ticket_path.display().to_string(),
            digest: ticket.digest.clone(),
            text_blob: Some(text_blob.to_string()),
            labels: ticket.labels.clone(),
            requester: ticket.requester.clone(),
            assignee: ticket.assignee.clone(),
        },
        initiator,
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
    let scope = RunScope {
        engine,
        opts,
        governed,
        gov,
        history,
        run_dir,
        ticket_file,
        cancel,
    };
    let ticketed = Ticketed {
        ticket,
        source: ticket_path,
        text_blob,
    };
    Ok((scope, record, ticketed, rec))
}

/// Intake: the ticket's eligibility (`intake.decision`) and the `intake` policy
/// decision.
pub(crate) async fn intake(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    ticketed: Ticketed,
) -> Result<Flow<Admitted>, EngineError> {
    let Ticketed {
        ticket,
        source,
        text_blob,
    } = ticketed;
    let config = &scope.governed.config;
    let reasons = skip_reasons(&ticket, config);
    rec.stage(
        kinds::INTAKE,
        json!({
            "ticket": {"id": ticket.id, "digest": ticket.digest, "source": source.display().to_string()},
            "eligible": reasons.is_empty(),
            "reasons": reasons,
        }),
        vec![],
    )
    .await?;
    let input = governance::intake_input(
        config,
        &scope.governed.base_commit,
        &scope.gov,
        &ticket,
        &reasons,
    );
    let decision = rec.decide(&scope.gov, Point::Intake, input, run).await?;
    if !decision.allowed() {
        run.outcome = RunOutcome {
            status: RunStatus::Blocked,
            reasons: decision.reasons(),
        };
        return Ok(Flow::Closed);
    }
    Ok(Flow::Next(Admitted { ticket, text_blob }))
}

/// Authorisation: may this initiator start this agent and model on this repository
/// for this ticket (the `run` decision, budgets included); then `run.started`.
pub(crate) async fn authorise(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    admitted: Admitted,
) -> Result<Flow<Authorised>, EngineError> {
    let Admitted { ticket, text_blob } = admitted;
    let gov = &scope.gov;
    let budget = governance::usage(&scope.history, &ticket.id, &run.run_id, None);
    let run_input = governance::with(
        common(scope, "run"),
        json!({
            "ticket": governance::ticket_input(&ticket, gov),
            "initiator": gov.identity(&run.initiator),
            "agent": run.agent,
            "budget": budget,
        }),
    );
    let decision = rec.decide(gov, Point::Run, run_input.clone(), run).await?;
    if !decision.allowed() {
        run.outcome = RunOutcome {
            status: RunStatus::Blocked,
            reasons: decision.reasons(),
        };
        return Ok(Flow::Closed);
    }
    rec.stage(
        kinds::STARTED,
        json!({
            "ticket": run.ticket,
            "initiator": run.initiator,
            "repository": run.repository,
            "base_commit": run.base_commit,
            "agent": run.agent,
            "worker": run.worker,
        }),
        vec![text_blob],
    )
    .await?;
    Ok(Flow::Next(Authorised { run_input }))
}

/// The fields every decision input of this run carries.
pub(crate) fn common(scope: &RunScope<'_>, point: &str) -> Value {
    governance::common(
        point,
        &scope.governed.config,
        &scope.governed.base_commit,
        &scope.gov,
    )
}

pub(crate) fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Off => "off",
        Mode::Advisory => "advisory",
        Mode::Required => "required",
    }
}

/// Now, as the ledger writes times.
pub(crate) fn now() -> String {
    docket_ledger::entry::format_time(jiff::Timestamp::now())
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
