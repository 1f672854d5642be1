//! The agent stage: one invocation of the configured agent in a checkout — an `exec`
//! command, a model agent behind a gateway started for the invocation, or the IaC
//! fixer — and its `run.agent` entry. The pipeline calls it for the first change and
//! for each repair; the governance checks call it to re-run the agent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use docket_agents::model_agent::{self, InvocationInput, Invoked};
use docket_agents::model_client::Message;
use docket_agents::process::{
    CommandOutcome, CommandSpec, OUTPUT_LIMIT, StdinSpec, minimal_env, run_command,
};
use docket_core::config::AgentKind;
use docket_core::record::{AgentAttempt, ModelUsage, RunOutcome, RunRecord, RunStatus, kinds};
use docket_gateway::{Gateway, GatewaySummary, RequestPolicy};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::state::{Acted, RunScope};
use crate::error::{EngineError, io_err};
use crate::recorder::Recorder;
use crate::wire_policy::WirePolicy;

/// One invocation of the agent: where, why, and what it is given.
pub(crate) struct AgentCall<'a> {
    pub(crate) dir: &'a Path,
    /// `initial`, `repair`, `idempotency`, `reproducibility`.
    pub(crate) purpose: &'a str,
    pub(crate) attempt: u32,
    /// A repair's validation report file.
    pub(crate) report: Option<&'a Path>,
    /// The `api` agent's conversation a repair continues.
    pub(crate) conversation: Option<Vec<Message>>,
    /// The run decision's input, decided again at the wire for every model.
    pub(crate) run_input: &'a Value,
}

/// Runs the agent once and records the attempt.
pub(crate) async fn act(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    call: AgentCall<'_>,
) -> Result<Acted, EngineError> {
    let config = &scope.governed.config;
    let mut extra = vec![
        ("DOCKET_RUN_ID".to_owned(), run.run_id.clone()),
        (
            "DOCKET_TICKET_FILE".to_owned(),
            scope.ticket_file.display().to_string(),
        ),
        ("DOCKET_WORKTREE".to_owned(), call.dir.display().to_string()),
    ];
    if let Some(report) = call.report {
        extra.push((
            "DOCKET_VALIDATION_REPORT".to_owned(),
            report.display().to_string(),
        ));
    }
    if config.agent.kind == Some(AgentKind::Fixer) {
        return fixer(scope, rec, run, &call).await;
    }
    if let Some(kind) = config.agent.kind
        && kind.uses_model()
    {
        return model(scope, rec, run, kind, call, &extra).await;
    }
    let spec = CommandSpec {
        argv: config.agent.command.clone(),
        cwd: call.dir.to_owned(),
        env: minimal_env(&config.agent.env, &extra),
        timeout: config.agent.timeout,
        stdin: StdinSpec::Null,
        output_limit: OUTPUT_LIMIT,
    };
    let outcome = run_command(&spec, &mut scope.cancel.clone()).await?;
    let evidence = AttemptEvidence {
        report: call.report,
        ..AttemptEvidence::default()
    };
    record_attempt(rec, run, call.purpose, call.attempt, &outcome, evidence).await?;
    Ok(Acted {
        stop: agent_stop(&outcome, config.agent.timeout),
        trouble: None,
        conversation: None,
        fixer: None,
    })
}

/// A model agent (Claude Code, Codex, docket's `api` agent) behind a gateway
/// started for this invocation.
async fn model(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    kind: AgentKind,
    call: AgentCall<'_>,
    extra: &[(String, String)],
) -> Result<Acted, EngineError> {
    let config = &scope.governed.config;
    let gateway = start_gateway(scope, run, call.run_input).await?;
    // A repair continues the `api` agent's conversation; checks start afresh.
    let conversation = match call.purpose {
        "repair" => call.conversation,
        _ => None,
    };
    let input = InvocationInput {
        kind,
        config,
        dir: call.dir,
        scratch: model_agent::scratch_dir(&scope.run_dir, call.purpose, call.attempt),
        ticket_file: &scope.ticket_file,
        docket_env: extra,
        report: call.report,
        conversation,
    };
    let (invoked, summary) = supervised(scope, gateway, input).await;
    let mut invoked = invoked?;
    let conversation = match call.purpose {
        "initial" | "repair" => invoked.conversation.take(),
        _ => None,
    };
    let evidence = model_agent::evidence(kind, config.agent.model.as_deref(), &invoked, &summary);
    let (stop, trouble) = account(rec, &summary, invoked.problem.take()).await?;
    if summary.stop.is_some() {
        // Stopped by a limit, not by the user: say so rather than "cancelled".
        invoked.outcome.cancelled = scope.cancelled();
    }
    let evidence = AttemptEvidence {
        model: Some((evidence, model_agent::model_usage(&summary))),
        fixer: None,
        report: call.report,
    };
    record_attempt(
        rec,
        run,
        call.purpose,
        call.attempt,
        &invoked.outcome,
        evidence,
    )
    .await?;
    Ok(Acted {
        stop: stop.or_else(|| agent_stop(&invoked.outcome, config.agent.timeout)),
        trouble,
        conversation,
        fixer: None,
    })
}

/// A gateway for one invocation of this run: what is left of the run's limits,
/// and the run decision taken again for every model a request asks for.
async fn start_gateway(
    scope: &RunScope<'_>,
    run: &RunRecord,
    run_input: &Value,
) -> Result<Gateway, EngineError> {
    let policy = wire_policy(scope, run_input);
    Gateway::start(
        model_agent::gateway_config(
            &scope.governed.config,
            // Limits are per run: what the run's earlier attempts used counts.
            &ModelUsage::total(&run.attempts),
            Some(policy),
        ),
        scope.engine.ledger.clone(),
        &run.run_id,
    )
    .await
    .map_err(|e| EngineError::Config(format!("cannot start the model gateway: {e}")))
}

/// The run decision, taken again by the gateway for every model a request names.
pub(crate) fn wire_policy(scope: &RunScope<'_>, run_input: &Value) -> Arc<dyn RequestPolicy> {
    Arc::new(WirePolicy::new(
        scope.gov.clone(),
        run_input.clone(),
        scope.engine.ledger.blobs().clone(),
    ))
}

/// Runs one invocation against `gateway`, stopping it when the run is cancelled
/// or the gateway reaches a limit; returns it with the gateway's summary (every
/// exchange durable).
async fn supervised(
    scope: &RunScope<'_>,
    gateway: Gateway,
    input: InvocationInput<'_>,
) -> (Result<Invoked, EngineError>, GatewaySummary) {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut run_cancel = scope.cancel.clone();
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
    let invoked = model_agent::invoke(input, &gateway, &mut stop_rx)
        .await
        .map_err(EngineError::from);
    forward.abort();
    let summary = gateway.shutdown().await;
    (invoked, summary)
}

/// Links an invocation's gateway entries; returns why a limit stopped it (the run
/// is then blocked) and what went wrong with the provider or the agent. Its usage
/// is recorded with its attempt.
async fn account(
    rec: &mut Recorder,
    summary: &GatewaySummary,
    problem: Option<String>,
) -> Result<(Option<RunOutcome>, Option<String>), EngineError> {
    let troubles: Vec<String> = problem
        .into_iter()
        .chain(model_agent::trouble(summary))
        .collect();
    let trouble = (!troubles.is_empty()).then(|| troubles.join("; "));
    let stop = summary.stop.as_ref().map(|reason| RunOutcome {
        status: RunStatus::Blocked,
        reasons: vec![format!("model limit: {reason}")],
    });
    rec.settle().await?;
    rec.stages.extend(model_agent::linked_entries(summary));
    Ok((stop, trouble))
}

/// The built-in `fixer` agent: plans from the ticket (deterministically, or by
/// asking the model through the gateway for a plan it then checks) and applies
/// the plan in `dir`, in-process. Its report is the attempt's stdout, so the plan,
/// the rule references and every finding's status are evidence. The engine, never
/// the model, writes the code.
async fn fixer(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    call: &AgentCall<'_>,
) -> Result<Acted, EngineError> {
    let started = std::time::Instant::now();
    let ticket = std::fs::read_to_string(&scope.ticket_file).map_err(io_err(&scope.ticket_file))?;
    let config = &scope.governed.config;
    let mut model = None;
    let mut planned = None;
    let mut trouble = None;
    let mut limit = None;
    if config.agent.planner == docket_core::config::Planner::Model {
        let gateway = start_gateway(scope, run, call.run_input).await?;
        let input = InvocationInput {
            kind: AgentKind::Fixer,
            config,
            dir: call.dir,
            scratch: model_agent::scratch_dir(&scope.run_dir, call.purpose, call.attempt),
            ticket_file: &scope.ticket_file,
            docket_env: &[],
            report: None,
            conversation: None,
        };
        let (invoked, summary) = supervised(scope, gateway, input).await;
        let mut invoked = invoked?;
        model = Some((
            model_agent::evidence(
                AgentKind::Fixer,
                config.agent.model.as_deref(),
                &invoked,
                &summary,
            ),
            model_agent::model_usage(&summary),
        ));
        let (stop, planner_trouble) = account(rec, &summary, None).await?;
        trouble = planner_trouble;
        limit = stop;
        if invoked.plan.is_none() {
            // Stopped (cancelled, a limit, the timeout) before a plan came back.
            let outcome = invoked.outcome;
            let evidence = AttemptEvidence {
                model,
                ..AttemptEvidence::default()
            };
            record_attempt(rec, run, call.purpose, call.attempt, &outcome, evidence).await?;
            return Ok(Acted {
                stop: limit.or_else(|| agent_stop(&outcome, config.agent.timeout)),
                trouble,
                conversation: None,
                fixer: None,
            });
        }
        planned = invoked.plan.take();
    }
    let dir = call.dir.to_owned();
    let report = tokio::task::spawn_blocking(move || match planned {
        Some(plan) => docket_agents::fixer::apply_planned(&dir, plan),
        None => docket_agents::fixer::run_fixer(&dir, &ticket),
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
    if report.outcome.applied.is_empty() && !report.plan.needs_human.is_empty() {
        // Nothing was changed because the plan needs a human: say why, so that a
        // "no change" run names the reason.
        let reasons: Vec<String> = report
            .plan
            .needs_human
            .iter()
            .map(|n| format!("needs-human: {}: {}", n.subject, n.reason))
            .chain(trouble.take())
            .collect();
        trouble = Some(reasons.join("; "));
    }
    let evidence = AttemptEvidence {
        model,
        fixer: Some(fixer.clone()),
        report: None,
    };
    record_attempt(rec, run, call.purpose, call.attempt, &outcome, evidence).await?;
    Ok(Acted {
        stop: limit.or_else(|| agent_stop(&outcome, config.agent.timeout)),
        trouble,
        conversation: None,
        fixer: Some(fixer),
    })
}

/// What an attempt's stage entry carries beyond the command's outcome.
#[derive(Default)]
struct AttemptEvidence<'a> {
    /// A model-calling agent's evidence (CLI or agent version, result, gateway
    /// totals) and its usage.
    model: Option<(Value, ModelUsage)>,
    /// The fixer's report.
    fixer: Option<Value>,
    /// A repair's validation report file.
    report: Option<&'a Path>,
}

/// Stores an agent invocation's output (and a repair's report), appends its
/// `run.agent` stage entry (with the model evidence of a model agent) and adds it to
/// the record.
async fn record_attempt(
    rec: &mut Recorder,
    run: &mut RunRecord,
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
    run.attempts.push(attempt.clone());
    Ok(attempt)
}

pub(crate) fn cancelled() -> RunOutcome {
    RunOutcome {
        status: RunStatus::Cancelled,
        reasons: vec!["cancelled by signal".into()],
    }
}

/// Why an agent's invocation stops the run: cancelled, timed out or failed.
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
