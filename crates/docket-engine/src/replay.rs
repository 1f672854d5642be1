//! `docket replay RUN`: re-runs a model-calling agent's run with the gateway serving
//! the recorded responses in order (matched on a normalized request digest), then
//! compares the diff with the original: `reproduced`, or `diverged` with where. The
//! result is a `run.replay` ledger entry: the reproducibility proof for a
//! model-written change. The run's reproducibility check uses the same replay.
//!
//! Every invocation that made the change is replayed in order — the first attempt,
//! then each repair with the validation report it was given (stored with the
//! attempt) — in the run's own paths (its checkout under `worktrees/<run>` and its
//! ticket under `runs/<run>`), so that CLIs, whose prompts name those paths, send the
//! same requests. After a run those paths are gone, and a replay refuses to start
//! while either exists; during the run's check the judged checkout is moved aside.

use std::path::{Path, PathBuf};

use docket_core::config::{AgentKind, Config};
use std::sync::Arc;

use docket_gateway::{Gateway, GatewaySummary, Recorded, ReplayOptions, RequestPolicy};
use docket_ledger::{LedgerError, NewEntry};
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::governed::load_governed_at;
use docket_agents::model_agent::{self, InvocationInput};
use docket_core::record::kinds::REPLAY as REPLAY_KIND;
use docket_core::record::{AgentAttempt, RunRecord};
use docket_git::{Diff, Worktree};

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub run_id: String,
    /// `reproduced` or `diverged`.
    pub outcome: String,
    pub detail: String,
    pub original_diff: String,
    pub replay_diff: Option<String>,
    /// Exchanges the run recorded, and how many the replay served from them.
    pub recorded: usize,
    pub served: usize,
    /// The `run.replay` entry.
    pub ledger_index: u64,
}

impl ReplayReport {
    pub fn reproduced(&self) -> bool {
        self.outcome == "reproduced"
    }
}

/// The agent kind a run's record names, when its exchanges can be replayed.
fn replayable_kind(record: &RunRecord) -> Result<AgentKind, EngineError> {
    let kind = match record.agent.kind.as_str() {
        "claude-code" => Some(AgentKind::ClaudeCode),
        "codex" => Some(AgentKind::Codex),
        "api" => Some(AgentKind::Api),
        // The fixer calls a model only with the model planner; its exchanges say so.
        "fixer" if record.agent.model.is_some() => Some(AgentKind::Fixer),
        _ => None,
    };
    kind.ok_or_else(|| {
        EngineError::Config(format!(
            "run {} used the `{}` agent without a model; replay re-runs agents that call a model (claude-code, codex, api, the fixer's model planner), whose exchanges are recorded",
            record.run_id, record.agent.kind
        ))
    })
}

/// The date the CLIs put in their system prompts reads the same on the run's day
/// and today, so a replay on another day still matches.
fn replay_options(started_at: &str) -> ReplayOptions {
    let dates: Vec<String> = [
        started_at.get(..10).unwrap_or_default().to_owned(),
        jiff::Timestamp::now()
            .to_string()
            .get(..10)
            .unwrap_or_default()
            .to_owned(),
    ]
    .into_iter()
    .filter(|d| d.len() == 10)
    .collect();
    ReplayOptions {
        placeholders: vec![("<date>".to_owned(), dates)],
    }
}

/// The invocations that made a run's change: the first attempt and the repairs.
fn change_attempts(attempts: &[AgentAttempt]) -> Vec<AgentAttempt> {
    attempts
        .iter()
        .filter(|a| matches!(a.purpose.as_str(), "initial" | "repair"))
        .cloned()
        .collect()
}

/// Where a repair's validation report lives in the run's folder (the path the
/// original invocation was given).
pub(crate) fn report_path(run_dir: &Path, attempt: u32) -> PathBuf {
    run_dir.join(format!(
        "validation-report-{}.json",
        attempt.saturating_sub(1)
    ))
}

/// What a replay needs to know about the run.
pub(crate) struct Replayed<'a> {
    pub(crate) kind: AgentKind,
    pub(crate) config: &'a Config,
    pub(crate) run_id: &'a str,
    pub(crate) run_dir: &'a Path,
    pub(crate) ticket_file: &'a Path,
    pub(crate) attempts: Vec<AgentAttempt>,
    /// When the run started (its date may be in the CLIs' prompts).
    pub(crate) started_at: &'a str,
    /// The run decision enforced on every replayed request (the reproducibility
    /// check has it; `docket replay`, after the run, replays requests that passed it).
    pub(crate) policy: Option<Arc<dyn RequestPolicy>>,
}

/// Replays the invocations in `wt` against `gateway`, in order; a repair reads the
/// report already in place under the run's folder. Stops early when `stop` fires.
pub(crate) async fn replay_invocations(
    replayed: &Replayed<'_>,
    gateway: &Gateway,
    wt: &Path,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), EngineError> {
    let docket_env = vec![
        ("DOCKET_RUN_ID".to_owned(), replayed.run_id.to_owned()),
        (
            "DOCKET_TICKET_FILE".to_owned(),
            replayed.ticket_file.display().to_string(),
        ),
        ("DOCKET_WORKTREE".to_owned(), wt.display().to_string()),
    ];
    let mut conversation = None;
    for attempt in &replayed.attempts {
        let report =
            (attempt.purpose == "repair").then(|| report_path(replayed.run_dir, attempt.attempt));
        let mut env = docket_env.clone();
        if let Some(report) = &report {
            env.push((
                "DOCKET_VALIDATION_REPORT".to_owned(),
                report.display().to_string(),
            ));
        }
        let input = InvocationInput {
            kind: replayed.kind,
            config: replayed.config,
            dir: wt,
            scratch: model_agent::scratch_dir(replayed.run_dir, &attempt.purpose, attempt.attempt),
            ticket_file: replayed.ticket_file,
            docket_env: &env,
            report: report.as_deref(),
            conversation: conversation.take(),
        };
        let mut invoked = model_agent::invoke(input, gateway, stop).await?;
        conversation = invoked.conversation.take();
        if let Some(plan) = invoked.plan.take() {
            let dir = wt.to_owned();
            tokio::task::spawn_blocking(move || docket_agents::fixer::apply_planned(&dir, plan))
                .await
                .map_err(|e| {
                    EngineError::Config(format!("the fixer stopped unexpectedly: {e}"))
                })??;
        }
        if invoked.outcome.cancelled || invoked.outcome.timed_out {
            break;
        }
    }
    Ok(())
}

/// How a replay compares with the run.
pub(crate) struct Verdict {
    pub(crate) reproduced: bool,
    pub(crate) detail: String,
    pub(crate) replay_diff: Option<String>,
    pub(crate) served: usize,
}

/// Judges a replay: the first request the recording did not hold, or else the diff.
pub(crate) async fn verdict(
    engine: &Engine,
    summary: &GatewaySummary,
    diff: &Diff,
    original: &str,
) -> Result<Verdict, EngineError> {
    let served = summary.exchanges.len();
    let replay_diff = (!diff.files.is_empty()).then(|| diff.digest.clone());
    let refusal = match summary.decision_entries.first() {
        Some((index, _)) => {
            let entry = engine
                .ledger
                .entry(*index)
                .await?
                .decode()
                .map_err(LedgerError::from)?;
            entry.payload["message"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| entry.payload["reason"].as_str().map(str::to_owned))
        }
        None => None,
    };
    // A request the recording does not hold stops the replay: whatever the agent did
    // afterwards was not driven by the recorded responses.
    let (reproduced, detail) = if let Some(reason) = refusal {
        (
            false,
            format!("diverged at exchange {}: {reason}", served + 1),
        )
    } else if replay_diff.as_deref() == Some(original) {
        (
            true,
            format!("replaying {served} recorded exchange(s) produced the same diff {original}"),
        )
    } else {
        (
            false,
            format!(
                "diverged after {served} exchange(s): the replay's diff is {}, the run's was {original}",
                replay_diff.as_deref().unwrap_or("empty")
            ),
        )
    };
    Ok(Verdict {
        reproduced,
        detail,
        replay_diff,
        served,
    })
}

/// Starts a replay gateway over a run's recorded exchanges.
pub(crate) async fn replay_gateway(
    engine: &Engine,
    recorded: Vec<Recorded>,
    replayed: &Replayed<'_>,
) -> Result<Gateway, EngineError> {
    Gateway::start_replay_with_policy(
        recorded,
        engine.ledger.clone(),
        replayed.run_id,
        replay_options(replayed.started_at),
        replayed.policy.clone(),
    )
    .await
    .map_err(|e| EngineError::Config(format!("cannot start the replay gateway: {e}")))
}

/// The run's recorded exchanges (replays excluded), or an error when there are none.
pub(crate) async fn recorded(engine: &Engine, run_id: &str) -> Result<Vec<Recorded>, EngineError> {
    let recorded = docket_gateway::recorded_exchanges(&engine.ledger, run_id)
        .await
        .map_err(|e| EngineError::Config(format!("cannot read the recorded exchanges: {e}")))?;
    if recorded.is_empty() {
        return Err(EngineError::Config(format!(
            "run {run_id} recorded no model exchanges to replay"
        )));
    }
    Ok(recorded)
}

impl Engine {
    /// Replays the run `prefix` names and records the result.
    pub async fn replay(&self, prefix: &str) -> Result<ReplayReport, EngineError> {
        let record = self.find_run(prefix).await?;
        let kind = replayable_kind(&record)?;
        let original = record
            .diff
            .as_ref()
            .map(|d| d.digest.clone())
            .ok_or_else(|| {
                EngineError::Config(format!(
                    "run {} recorded no diff: there is nothing to reproduce",
                    record.run_id
                ))
            })?;
        let base = record.base_commit.clone().ok_or_else(|| {
            EngineError::Config(format!("run {} recorded no base commit", record.run_id))
        })?;
        let recorded = recorded(self, &record.run_id).await?;
        let recorded_count = recorded.len();
        let governed = load_governed_at(Path::new(&record.repository.root), &base).await?;

        let run_dir = self.home.join("runs").join(&record.run_id);
        let checkout = self.home.join("worktrees").join(&record.run_id);
        for path in [&run_dir, &checkout] {
            if path.exists() {
                return Err(EngineError::Config(format!(
                    "{} exists: run {} is still running, was kept with --keep-worktree, or is being replayed",
                    path.display(),
                    record.run_id
                )));
            }
        }
        let ticket_text = match &record.ticket.text_blob {
            Some(digest) => self.blob_bytes(digest)?,
            None => {
                return Err(EngineError::Config(format!(
                    "run {} did not store its ticket text",
                    record.run_id
                )));
            }
        };
        let attempts = change_attempts(&record.attempts);
        std::fs::create_dir_all(&run_dir).map_err(|source| EngineError::Io {
            path: run_dir.clone(),
            source,
        })?;
        let ticket_file = run_dir.join("ticket.md");
        let result = async {
            std::fs::write(&ticket_file, &ticket_text).map_err(|source| EngineError::Io {
                path: ticket_file.clone(),
                source,
            })?;
            // Each repair reads the report it was given, as stored with its attempt.
            for attempt in attempts.iter().filter(|a| a.purpose == "repair") {
                let digest = attempt.validation_report.as_deref().ok_or_else(|| {
                    EngineError::Config(format!(
                        "run {}'s repair attempt {} did not store its validation report",
                        record.run_id, attempt.attempt
                    ))
                })?;
                let path = report_path(&run_dir, attempt.attempt);
                std::fs::write(&path, self.blob_bytes(digest)?)
                    .map_err(|source| EngineError::Io { path, source })?;
            }
            let wt = governed.repo.add_worktree(&checkout, &base).await?;
            let outcome = async {
                let replayed = Replayed {
                    kind,
                    config: &governed.config,
                    run_id: &record.run_id,
                    run_dir: &run_dir,
                    ticket_file: &ticket_file,
                    attempts,
                    started_at: &record.started_at,
                    policy: None,
                };
                let gateway = replay_gateway(self, recorded, &replayed).await?;
                let (_keep, mut stop) = docket_agents::process::cancel_channel();
                let ran = replay_invocations(&replayed, &gateway, &wt.path, &mut stop).await;
                let summary = gateway.shutdown().await;
                ran?;
                let diff = wt.collect_diff().await?;
                Ok::<_, EngineError>((summary, diff))
            }
            .await;
            let _ = governed.repo.remove_worktree(&wt).await;
            outcome
        }
        .await;
        let _ = std::fs::remove_dir_all(&run_dir);
        let (summary, diff) = result?;
        let verdict = verdict(self, &summary, &diff, &original).await?;
        let outcome = if verdict.reproduced {
            "reproduced"
        } else {
            "diverged"
        };
        let mut links = model_agent::linked_entries(&summary);
        if let Some(index) = record.ledger.index {
            let leaf = self.ledger.entry(index).await?.leaf_hash();
            links.insert(0, (index, leaf));
        }
        let appended = self
            .ledger
            .append(
                NewEntry::new(
                    REPLAY_KIND,
                    json!({
                        "run_id": record.run_id,
                        "outcome": outcome,
                        "detail": verdict.detail,
                        "original_diff": original,
                        "replay_diff": verdict.replay_diff,
                        "recorded": recorded_count,
                        "served": verdict.served,
                    }),
                )
                .with_links(links),
            )
            .await?;
        Ok(ReplayReport {
            run_id: record.run_id,
            outcome: outcome.to_owned(),
            detail: verdict.detail,
            original_diff: original,
            replay_diff: verdict.replay_diff,
            recorded: recorded_count,
            served: verdict.served,
            ledger_index: appended.index,
        })
    }

    /// The reproducibility check of a model-calling agent: the invocations that made
    /// the change, replayed from the base against the exchanges recorded so far, in
    /// the run's own checkout path (the judged checkout is moved aside meanwhile, and
    /// always moved back). Returns the verdict and the replay's gateway summary.
    pub(crate) async fn reproduce_by_replay(
        &self,
        replayed: &Replayed<'_>,
        governed: &crate::governed::Governed,
        judged: &Worktree,
        original: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(Verdict, GatewaySummary), EngineError> {
        let (repo, base) = (&governed.repo, &governed.base_commit);
        let recorded = docket_gateway::recorded_exchanges(&self.ledger, replayed.run_id)
            .await
            .map_err(|e| EngineError::Config(format!("cannot read the recorded exchanges: {e}")))?;
        if recorded.is_empty() {
            // A change no recorded answer drove cannot be reproduced from the record.
            let verdict = Verdict {
                reproduced: false,
                detail: "the run recorded no completed model exchange to replay".into(),
                replay_diff: None,
                served: 0,
            };
            return Ok((verdict, GatewaySummary::default()));
        }
        let aside = judged.path.with_extension("judged");
        std::fs::rename(&judged.path, &aside).map_err(|source| EngineError::Io {
            path: judged.path.clone(),
            source,
        })?;
        let result = async {
            let wt = repo.add_worktree(&judged.path, base).await?;
            let outcome = async {
                let gateway = replay_gateway(self, recorded, replayed).await?;
                let ran = replay_invocations(replayed, &gateway, &wt.path, stop).await;
                let summary = gateway.shutdown().await;
                ran?;
                let diff = wt.collect_diff().await?;
                let verdict = verdict(self, &summary, &diff, original).await?;
                Ok::<_, EngineError>((verdict, summary))
            }
            .await;
            let removed = repo.remove_worktree(&wt).await;
            let outcome = outcome?;
            removed?;
            Ok::<_, EngineError>(outcome)
        }
        .await;
        // The judged checkout comes back whatever happened: publishing depends on it.
        if let Err(source) = std::fs::rename(&aside, &judged.path) {
            return Err(EngineError::Io {
                path: aside,
                source,
            });
        }
        result
    }

    fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>, EngineError> {
        let digest: docket_ledger::Digest256 = digest
            .parse()
            .map_err(|_| EngineError::Config(format!("invalid blob digest {digest}")))?;
        let path = self.ledger.blobs().path_of(&digest);
        std::fs::read(&path).map_err(|source| EngineError::Io { path, source })
    }
}
