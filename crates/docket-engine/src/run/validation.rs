//! The validation stage: setup and validation commands in the checkout
//! (`run.validation` per attempt), and, when the agent can repair, bounded repairs —
//! the agent gets the failures as a report, and its new change is judged again.

use std::path::Path;

use docket_agents::process::{CommandSpec, OUTPUT_LIMIT, StdinSpec, minimal_env, run_command};
use docket_core::config::Mode;
use docket_core::record::{RunOutcome, RunRecord, RunStatus, ValidationCommand, kinds};
use docket_core::secrets::SecretScanner;
use docket_git::Worktree;
use serde_json::{Value, json};

use super::agent::{self, AgentCall, cancelled};
use super::change::{self, Made, failed_rules};
use super::start::mode_str;
use super::state::{Authorised, Change, Flow, RunScope, Validated};
use crate::error::{EngineError, io_err};
use crate::recorder::Recorder;

/// One failed validation command.
struct ValidationFailure {
    summary: String,
    detail: Value,
}

/// Validates the change; on failure, repairs it (when the agent can, at most
/// `repair_attempts` times) and judges the repaired change again.
pub(crate) async fn validate(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    authorised: &Authorised,
    mut change: Change,
) -> Result<Flow<Validated>, EngineError> {
    let config = &scope.governed.config;
    let mut attempt_no = 1u32;
    loop {
        let failures = commands(scope, rec, run, &wt.path, attempt_no).await?;
        if scope.cancelled() {
            run.outcome = cancelled();
            return Ok(Flow::Closed);
        }
        if failures.is_empty() || config.validation.mode == Mode::Advisory {
            return Ok(Flow::Next(Validated(change)));
        }
        let can_repair = config.agent.repair && attempt_no <= config.validation.repair_attempts;
        if !can_repair {
            let mut reasons = failed_rules(run);
            reasons.extend(
                failures
                    .iter()
                    .map(|f| format!("validation failed: {}", f.summary)),
            );
            run.outcome = RunOutcome {
                status: RunStatus::Blocked,
                reasons,
            };
            return Ok(Flow::Closed);
        }
        let report = scope
            .run_dir
            .join(format!("validation-report-{attempt_no}.json"));
        let body = json!({
            "run_id": run.run_id,
            "attempt": attempt_no,
            "failures": failures.iter().map(|f| &f.detail).collect::<Vec<_>>(),
        });
        std::fs::write(
            &report,
            serde_json::to_vec_pretty(&body).unwrap_or_default(),
        )
        .map_err(io_err(&report))?;
        attempt_no += 1;
        let acted = agent::act(
            scope,
            rec,
            run,
            AgentCall {
                dir: &wt.path,
                purpose: "repair",
                attempt: attempt_no,
                report: Some(&report),
                conversation: change.conversation.take(),
                run_input: &authorised.run_input,
            },
        )
        .await?;
        change = match change::judge(rec, run, wt, acted, &config.rules, Made::Repair).await? {
            Flow::Next(change) => change,
            Flow::Closed => return Ok(Flow::Closed),
        };
    }
}

/// Runs setup and validation commands; returns each failure (for the outcome and
/// for the repair report).
async fn commands(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    dir: &Path,
    attempt: u32,
) -> Result<Vec<ValidationFailure>, EngineError> {
    let config = &scope.governed.config;
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
                    ("DOCKET_RUN_ID".to_owned(), run.run_id.clone()),
                    ("DOCKET_WORKTREE".to_owned(), dir.display().to_string()),
                ],
            ),
            timeout: config.validation.timeout,
            stdin: StdinSpec::Null,
            output_limit: OUTPUT_LIMIT,
        };
        let outcome = run_command(&spec, &mut scope.cancel.clone()).await?;
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
        run.validation.push(command);
        if !outcome.success() {
            let tail = |b: &[u8]| {
                let text =
                    String::from_utf8_lossy(&b[b.len().saturating_sub(16 << 10)..]).into_owned();
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
