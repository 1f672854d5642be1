//! `docket replay RUN`: re-runs a model agent's run with the gateway serving the
//! recorded responses in order (matched on a normalized request digest), then compares
//! the diff with the original: `reproduced`, or `diverged` with where. The result is a
//! `run.replay` ledger entry: the reproducibility proof for a model-written change.
//!
//! The replay uses the run's own paths (its checkout under `worktrees/<run>` and its
//! ticket file under `runs/<run>`), so the CLI sends the same requests; both are gone
//! once a run ends, and a replay refuses to start while either exists.

use std::path::Path;

use docket_core::config::AgentKind;
use docket_gateway::{Gateway, ReplayOptions};
use docket_ledger::{LedgerError, NewEntry};
use serde::Serialize;
use serde_json::json;

use crate::model_agent;
use crate::process::{cancel_channel, run_command};
use crate::record::RunRecord;
use crate::run::{Engine, EngineError, load_governed_at};

use crate::record::kinds::REPLAY as REPLAY_KIND;

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

fn model_kind(record: &RunRecord) -> Result<AgentKind, EngineError> {
    match record.agent.kind.as_str() {
        "claude-code" => Ok(AgentKind::ClaudeCode),
        "codex" => Ok(AgentKind::Codex),
        other => Err(EngineError::Config(format!(
            "run {} used the `{other}` agent; replay re-runs model agents (claude-code, codex), whose exchanges are recorded",
            record.run_id
        ))),
    }
}

impl Engine {
    /// Replays the run `prefix` names and records the result.
    pub async fn replay(&self, prefix: &str) -> Result<ReplayReport, EngineError> {
        let record = self.find_run(prefix).await?;
        let kind = model_kind(&record)?;
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
        let recorded = docket_gateway::recorded_exchanges(&self.ledger, &record.run_id)
            .await
            .map_err(|e| EngineError::Config(format!("cannot read the recorded exchanges: {e}")))?;
        if recorded.is_empty() {
            return Err(EngineError::Config(format!(
                "run {} recorded no model exchanges to replay",
                record.run_id
            )));
        }
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
            let wt = governed.repo.add_worktree(&checkout, &base).await?;
            let outcome = async {
                // The CLIs put today's date in their system prompt: a replay on another
                // day must still match, so both dates read as one placeholder.
                let dates: Vec<String> = [
                    record.started_at.get(..10).unwrap_or_default().to_owned(),
                    jiff::Timestamp::now()
                        .to_string()
                        .get(..10)
                        .unwrap_or_default()
                        .to_owned(),
                ]
                .into_iter()
                .filter(|d| d.len() == 10)
                .collect();
                let options = ReplayOptions {
                    placeholders: vec![("<date>".to_owned(), dates)],
                };
                let gateway = Gateway::start_replay_with(
                    recorded.clone(),
                    self.ledger.clone(),
                    &record.run_id,
                    options,
                )
                .await
                .map_err(|e| {
                    EngineError::Config(format!("cannot start the replay gateway: {e}"))
                })?;
                let extra = vec![
                    ("DOCKET_RUN_ID".to_owned(), record.run_id.clone()),
                    (
                        "DOCKET_TICKET_FILE".to_owned(),
                        ticket_file.display().to_string(),
                    ),
                    ("DOCKET_WORKTREE".to_owned(), wt.path.display().to_string()),
                ];
                let invocation = model_agent::invocation(
                    kind,
                    &governed.config,
                    &gateway,
                    &wt.path,
                    &model_agent::scratch_dir(&run_dir, "initial", 1),
                    &ticket_file,
                    &extra,
                    governed.config.agent.timeout,
                )?;
                let (_keep, mut cancel) = cancel_channel();
                let ran = run_command(&invocation.spec, &mut cancel).await;
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

        let served = summary.exchanges.len();
        let replay_diff = (!diff.files.is_empty()).then(|| diff.digest.clone());
        let refusal = match summary.decision_entries.first() {
            Some((index, _)) => {
                let entry = self
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
        let (outcome, detail) = if let Some(reason) = refusal {
            (
                "diverged",
                format!("diverged at exchange {}: {reason}", served + 1),
            )
        } else if replay_diff.as_deref() == Some(original.as_str()) {
            (
                "reproduced",
                format!(
                    "the replayed agent produced the same diff {original} from {served} recorded exchange(s)"
                ),
            )
        } else {
            (
                "diverged",
                format!(
                    "diverged after {served} exchange(s): the replay's diff is {}, the run's was {original}",
                    replay_diff.as_deref().unwrap_or("empty")
                ),
            )
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
                        "detail": detail,
                        "original_diff": original,
                        "replay_diff": replay_diff,
                        "recorded": recorded.len(),
                        "served": served,
                    }),
                )
                .with_links(links),
            )
            .await?;
        Ok(ReplayReport {
            run_id: record.run_id,
            outcome: outcome.to_owned(),
            detail,
            original_diff: original,
            replay_diff,
            recorded: recorded.len(),
            served,
            ledger_index: appended.index,
        })
    }

    fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>, EngineError> {
        let digest: docket_ledger::Digest256 = digest
            .parse()
            .map_err(|_| EngineError::Config(format!("invalid blob digest {digest}")))?;
        let path = self.ledger.blobs().path_of(&digest);
        std::fs::read(&path).map_err(|source| EngineError::Io { path, source })
    }
}
