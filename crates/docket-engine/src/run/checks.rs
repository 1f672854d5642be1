//! The governance checks stage: reproducibility (the agent again from the base, or
//! for a model agent its recorded exchanges replayed) and idempotency (the agent again
//! on its own result), each a `run.check` entry; a required check that fails blocks
//! the run.

use docket_core::config::Mode;
use docket_core::record::{CheckResult, RunOutcome, RunRecord, RunStatus, kinds};
use docket_git::{Diff, Worktree};
use serde_json::json;

use super::agent::{self, AgentCall, cancelled};
use super::change::failed_rules;
use super::start::mode_str;
use super::state::{Authorised, Checked, Flow, RunScope, Validated};
use crate::error::EngineError;
use crate::recorder::Recorder;
use crate::replay::Replayed;

/// Runs the configured checks on the validated change.
pub(crate) async fn check(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    judged: &Worktree,
    authorised: &Authorised,
    validated: Validated,
) -> Result<Flow<Checked>, EngineError> {
    let Validated(change) = validated;
    let config = &scope.governed.config;
    let mut blocked = Vec::new();
    for (check, mode) in [
        ("reproducibility", config.checks.reproducibility),
        ("idempotency", config.checks.idempotency),
    ] {
        if mode == Mode::Off {
            continue;
        }
        let result = one(
            scope,
            rec,
            run,
            (check, mode),
            judged,
            authorised,
            &change.diff,
        )
        .await?;
        if scope.cancelled() {
            run.outcome = cancelled();
            return Ok(Flow::Closed);
        }
        if result.outcome == "fail" && mode == Mode::Required {
            blocked.push(format!("{check} check failed: {}", result.detail));
        }
    }
    if !blocked.is_empty() {
        let mut reasons = failed_rules(run);
        reasons.extend(blocked);
        run.outcome = RunOutcome {
            status: RunStatus::Blocked,
            reasons,
        };
        return Ok(Flow::Closed);
    }
    Ok(Flow::Next(Checked(change)))
}

/// One check: the agent re-run in a fresh checkout (from the base, or with the
/// change applied for idempotency), or for a model agent's reproducibility a replay.
async fn one(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    (check, mode): (&str, Mode),
    judged: &Worktree,
    authorised: &Authorised,
    original: &Diff,
) -> Result<CheckResult, EngineError> {
    let governed = scope.governed;
    if check == "reproducibility" && governed.config.agent.calls_model() {
        return by_replay(scope, rec, run, mode, judged, authorised, original).await;
    }
    let path = scope
        .engine
        .home
        .join("worktrees")
        .join(format!("{}-{check}", run.run_id));
    let wt = governed
        .repo
        .add_worktree(&path, &governed.base_commit)
        .await?;
    let outcome = async {
        if check == "idempotency" {
            wt.apply_patch(&original.patch).await?;
        }
        let call = AgentCall {
            dir: &wt.path,
            purpose: check,
            attempt: 1,
            report: None,
            conversation: None,
            run_input: &authorised.run_input,
        };
        let acted = agent::act(scope, rec, run, call).await?;
        if let Some(stop) = acted.stop {
            return Ok::<_, EngineError>((
                "fail",
                format!("the agent did not finish: {}", stop.reasons.join("; ")),
            ));
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
    governed.repo.remove_worktree(&wt).await?;
    let (verdict, detail) = outcome?;
    record(rec, run, check, mode, verdict, detail).await
}

async fn record(
    rec: &mut Recorder,
    run: &mut RunRecord,
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
    run.checks.push(result.clone());
    Ok(result)
}

/// Reproducibility of a model-calling agent: the recorded exchanges replayed from
/// the base must give the same diff. Re-asking the live model would cost money and
/// prove nothing about this change; the replay proves the recorded answers, and only
/// they, produced it.
async fn by_replay(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    mode: Mode,
    judged: &Worktree,
    authorised: &Authorised,
    original: &Diff,
) -> Result<CheckResult, EngineError> {
    let config = &scope.governed.config;
    let Some(kind) = config.agent.kind else {
        return Err(EngineError::Config("no agent is configured".into()));
    };
    rec.settle().await?;
    let replayed = Replayed {
        kind,
        config,
        run_id: &run.run_id,
        run_dir: &scope.run_dir,
        ticket_file: &scope.ticket_file,
        attempts: run
            .attempts
            .iter()
            .filter(|a| matches!(a.purpose.as_str(), "initial" | "repair"))
            .cloned()
            .collect(),
        started_at: &run.started_at,
        policy: Some(agent::wire_policy(scope, &authorised.run_input)),
    };
    let mut stop = scope.cancel.clone();
    let (verdict, summary) = scope
        .engine
        .reproduce_by_replay(
            &replayed,
            scope.governed,
            judged,
            &original.digest,
            &mut stop,
        )
        .await?;
    rec.stages
        .extend(docket_agents::model_agent::linked_entries(&summary));
    let verdict_word = if verdict.reproduced { "pass" } else { "fail" };
    record(
        rec,
        run,
        "reproducibility",
        mode,
        verdict_word,
        verdict.detail,
    )
    .await
}
