//! Runs held at the publish point: approvals, exceptions, and completing or
//! discarding the held change.
//!
//! A run whose publish decision asks for approval (or denies it, which an
//! exception may lift) commits its judged tree, keeps that commit under
//! `refs/docket/held/<run>` of the governed repository (not a branch) and ends
//! `awaiting-approval` or `blocked` with a `held` reference. `docket approve` and
//! `docket exception grant` record grants — each only after the `approve`
//! decision allowed it — and `docket publish` decides again with them and puts
//! the held commit on the run's branch; the ref must still hold exactly the
//! judged tree on the base commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use docket_ledger::{LedgerError, NewEntry};
use docket_policy::{Decision, Point, Verdict};
use serde_json::{Value, json};

use crate::decision::{evaluate, held_outcome};
use crate::engine::{Engine, RunOptions, RunReport};
use crate::error::EngineError;
use crate::governance::{self, Grant};
use crate::governed::load_governed_at;
use crate::recorder::Recorder;
use crate::run::publish::{self, PublishFacts, PublishFrom};
use crate::run::state::RunScope;
use docket_core::record::{HeldRun, RunOutcome, RunRecord, RunStatus, kinds};

/// What an approval or exception request came to.
#[derive(Debug)]
pub struct GrantReport {
    pub run_id: String,
    pub decision: Decision,
    /// Ledger index of the `policy.decision` entry.
    pub decision_index: u64,
    /// Ledger index of the `run.approval` / `run.exception` entry, when allowed.
    pub grant_index: Option<u64>,
    pub grant: Option<Grant>,
}

/// An exception request.
#[derive(Debug, Clone)]
pub struct ExceptionRequest {
    pub run: String,
    pub rule: String,
    pub approver: String,
    pub reason: String,
    pub expires: Option<Duration>,
}

impl Engine {
    /// The latest record of the run whose id starts with `prefix`.
    pub async fn find_run(&self, prefix: &str) -> Result<RunRecord, EngineError> {
        let records = governance::latest_records(&self.ledger).await?;
        let matches: Vec<&RunRecord> = records
            .values()
            .filter(|r| r.run_id.starts_with(prefix))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::Config(format!(
                "no run `{prefix}` in the ledger; `docket runs list` shows them"
            ))),
            many => Err(EngineError::Config(format!(
                "`{prefix}` matches {} runs; give more of the id",
                many.len()
            ))),
        }
    }

    fn held_record(record: &RunRecord, action: &str) -> Result<(), EngineError> {
        let held = matches!(
            record.outcome.status,
            RunStatus::AwaitingApproval | RunStatus::Blocked
        ) && record.held.is_some();
        if held {
            return Ok(());
        }
        Err(EngineError::Config(format!(
            "run {} is {}, not held at the publish point; only a held run (awaiting-approval, or blocked by the publish decision) can be {action}",
            record.run_id,
            record.outcome.status.as_str()
        )))
    }

    /// `docket approve RUN --as USER`.
    pub async fn approve(
        &self,
        run: &str,
        approver: &str,
        reason: Option<String>,
    ) -> Result<GrantReport, EngineError> {
        let record = self.find_run(run).await?;
        Self::held_record(&record, "approved")?;
        let diff_digest = record.diff.as_ref().map(|d| d.digest.clone());
        self.grant(
            &record,
            approver,
            "approval",
            None,
            reason,
            None,
            diff_digest,
        )
        .await
    }

    /// `docket exception grant --run RUN --rule RULE --as APPROVER --reason TEXT`.
    pub async fn grant_exception(&self, req: ExceptionRequest) -> Result<GrantReport, EngineError> {
        let record = self.find_run(&req.run).await?;
        Self::held_record(&record, "given an exception")?;
        // A rule that can be excepted: a repository rule that failed, or a rule a
        // policy named in the run's last publish denial (`<rule>: <detail>`).
        let mut failed: Vec<&str> = record
            .rules
            .iter()
            .filter(|r| r.outcome == "fail")
            .map(|r| r.rule.as_str())
            .collect();
        if let Some(last) = record.decisions.iter().rev().find(|d| d.point == "publish") {
            let denials = last
                .messages
                .iter()
                .filter(|m| !m.starts_with("warning: ") && !m.starts_with("approval required: "));
            for message in denials {
                if let Some((rule, _)) = message.split_once(": ")
                    && !rule.contains(' ')
                    && !failed.contains(&rule)
                {
                    failed.push(rule);
                }
            }
        }
        if !failed.contains(&req.rule.as_str()) {
            return Err(EngineError::Config(format!(
                "rule `{}` did not fail in run {}; rules that did: {}",
                req.rule,
                record.run_id,
                if failed.is_empty() {
                    "none".to_owned()
                } else {
                    failed.join(", ")
                }
            )));
        }
        let expires_at = match req.expires {
            Some(d) => {
                let span = jiff::SignedDuration::try_from(d)
                    .map_err(|e| EngineError::Config(format!("invalid expiry: {e}")))?;
                let at = jiff::Timestamp::now()
                    .checked_add(span)
                    .map_err(|e| EngineError::Config(format!("invalid expiry: {e}")))?;
                Some(at.round(jiff::Unit::Second).unwrap_or(at).to_string())
            }
            None => None,
        };
        self.grant(
            &record,
            &req.approver,
            "exception",
            Some(req.rule),
            Some(req.reason),
            expires_at,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn grant(
        &self,
        record: &RunRecord,
        approver: &str,
        action: &str,
        rule: Option<String>,
        reason: Option<String>,
        expires_at: Option<String>,
        diff_digest: Option<String>,
    ) -> Result<GrantReport, EngineError> {
        let governed = load_governed_at(
            Path::new(&record.repository.root),
            record.base_commit.as_deref().unwrap_or_default(),
        )
        .await?;
        let gov = governance::load(&governed.repo, &governed.base_commit, &governed.config).await?;
        let last_change = self.last_change_at(record).await?;
        let identity = gov.identity(approver);
        let common = governance::common("approve", &governed.config, &governed.base_commit, &gov);
        let time = common["time"].as_str().unwrap_or_default().to_owned();
        let input = governance::with(
            common,
            json!({
                "action": action,
                "approver": identity,
                "run": {
                    "id": record.run_id,
                    "status": record.outcome.status.as_str(),
                    "initiator": gov.identity(&record.initiator),
                    "requester": record.ticket.requester.as_deref().map(|r| gov.identity(r)),
                    "last_change_at": last_change,
                    "diff_digest": record.diff.as_ref().map(|d| d.digest.clone()),
                },
                "rule": rule,
                "reason": reason,
                "expires_at": expires_at,
            }),
        );
        let (decision, mut payload, blob) =
            evaluate(&gov, Point::Approve, &input, self.ledger.blobs())?;
        payload["run_id"] = Value::String(record.run_id.clone());
        let decided = self
            .ledger
            .append(NewEntry::new(kinds::POLICY, payload).with_blobs(vec![blob]))
            .await?;
        if !decision.allowed() {
            return Ok(GrantReport {
                run_id: record.run_id.clone(),
                decision,
                decision_index: decided.index,
                grant_index: None,
                grant: None,
            });
        }
        let grant = Grant {
            run_id: record.run_id.clone(),
            approver: identity,
            at: time,
            reason,
            diff_digest,
            rule,
            expires_at,
            decision_index: decided.index,
        };
        let kind = if action == "approval" {
            kinds::APPROVAL
        } else {
            kinds::EXCEPTION
        };
        let payload =
            serde_json::to_value(&grant).map_err(|e| EngineError::Config(e.to_string()))?;
        let appended = self
            .ledger
            .append(
                NewEntry::new(kind, payload).with_links(vec![(decided.index, decided.leaf_hash)]),
            )
            .await?;
        Ok(GrantReport {
            run_id: record.run_id.clone(),
            decision,
            decision_index: decided.index,
            grant_index: Some(appended.index),
            grant: Some(grant),
        })
    }

    /// The held commit of a run, checked against what was judged: the ref must
    /// still point at a commit whose tree is the judged tree and whose parent is
    /// the base commit.
    async fn held_commit(
        &self,
        repo: &docket_git::Repo,
        record: &RunRecord,
    ) -> Result<HeldRun, EngineError> {
        let Some(held) = record.held.clone() else {
            return Err(EngineError::Config(format!(
                "run {} holds no change",
                record.run_id
            )));
        };
        let Some(commit) = repo.ref_commit(&held.reference).await? else {
            return Err(EngineError::Config(format!(
                "{} is gone from {}; run {} cannot be published (start a new run for the ticket)",
                held.reference,
                repo.root().display(),
                record.run_id
            )));
        };
        let (tree, parent) = repo.tree_and_parent(&commit).await?;
        if commit != held.commit || tree != held.tree || parent != record.base_commit {
            return Err(EngineError::Config(format!(
                "{} no longer holds the judged change of run {} (commit {} with tree {}, judged {} with tree {}); refusing to publish a change nobody judged",
                held.reference, record.run_id, commit, tree, held.commit, held.tree
            )));
        }
        Ok(held)
    }

    /// `docket publish RUN`: decides again with the recorded approvals and
    /// exceptions and, when allowed, puts the held commit on the run's branch.
    /// Either way a new `run.record` closes the attempt.
    pub async fn publish_held(
        &self,
        run: &str,
        push: Option<String>,
    ) -> Result<RunReport, EngineError> {
        let record = self.find_run(run).await?;
        Self::held_record(&record, "published")?;
        let base = record.base_commit.clone().unwrap_or_default();
        let governed = load_governed_at(Path::new(&record.repository.root), &base).await?;
        let held = self.held_commit(&governed.repo, &record).await?;
        let gov = governance::load(&governed.repo, &governed.base_commit, &governed.config).await?;
        let (approvals, exceptions) = governance::grants(&self.ledger, &record.run_id).await?;
        let last_change = self.last_change_at(&record).await?;
        let history = governance::latest_records(&self.ledger).await?;
        let opts = RunOptions {
            repo: PathBuf::from(&record.repository.root),
            ticket: record.ticket.id.clone(),
            initiator: None,
            keep_worktree: false,
            push,
            base: None,
        };
        let (_tx, cancel) = tokio::sync::watch::channel(false);
        // The new record closes the earlier one too.
        let mut earlier = Vec::new();
        if let Some(index) = record.ledger.index {
            earlier.push((index, self.ledger.entry(index).await?.leaf_hash()));
        }
        let mut rec = Recorder::new(self.ledger.clone(), &record.run_id, earlier);
        let fixer = self.recorded_fixer(&record).await?;
        let summary = record.diff.clone().ok_or_else(|| {
            EngineError::Config(format!("run {} recorded no diff", record.run_id))
        })?;
        let scope = RunScope {
            engine: self,
            opts: &opts,
            governed: &governed,
            gov: std::sync::Arc::new(gov),
            history,
            run_dir: self.home.join("runs").join(&record.run_id),
            ticket_file: PathBuf::new(),
            cancel,
        };
        let mut run = record;
        let facts = PublishFacts {
            diff: &summary,
            last_change: &last_change,
            fixer: fixer.as_ref(),
            approvals: &approvals,
            exceptions: &exceptions,
        };
        let input = publish::publish_input(&scope, &run, &facts);
        let decision = rec
            .decide(&scope.gov, Point::Publish, input, &mut run)
            .await?;
        let review = if decision.verdict == Verdict::Allow {
            let from = PublishFrom::Held(&held.commit);
            let review = publish::publish(&scope, &mut rec, &mut run, from, fixer.as_ref()).await?;
            run.held = None;
            if let Err(e) = governed
                .repo
                .delete_ref(&held.reference, &held.commit)
                .await
            {
                tracing::warn!(error = %e, "could not delete the held ref");
            }
            Some(review)
        } else {
            run.outcome = held_outcome(&decision, decision.verdict);
            None
        };
        publish::finish(&scope, rec, run, review, None).await
    }

    /// `docket publish RUN --discard`: drops a held run's commit without
    /// publishing, and records that.
    pub async fn discard_held(
        &self,
        run: &str,
        reason: Option<String>,
    ) -> Result<RunReport, EngineError> {
        let mut record = self.find_run(run).await?;
        Self::held_record(&record, "discarded")?;
        let base = record.base_commit.clone().unwrap_or_default();
        let governed = load_governed_at(Path::new(&record.repository.root), &base).await?;
        let Some(held) = record.held.take() else {
            return Err(EngineError::Config(format!(
                "run {} holds no change",
                record.run_id
            )));
        };
        if governed.repo.ref_commit(&held.reference).await?.is_some() {
            governed
                .repo
                .delete_ref(&held.reference, &held.commit)
                .await?;
        }
        let entry = self
            .ledger
            .append(NewEntry::new(
                kinds::DISCARDED,
                json!({"run_id": record.run_id, "held": held, "reason": reason}),
            ))
            .await?;
        let mut links = Vec::new();
        if let Some(index) = record.ledger.index {
            links.push((index, self.ledger.entry(index).await?.leaf_hash()));
        }
        links.push((entry.index, entry.leaf_hash));
        record.ledger.stages.extend(links.iter().map(|(i, _)| *i));
        record.outcome = RunOutcome {
            status: RunStatus::Discarded,
            reasons: vec![format!(
                "discarded without publishing{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )],
        };
        record.finished_at = governance::now();
        let payload =
            serde_json::to_value(&record).map_err(|e| EngineError::Config(e.to_string()))?;
        let appended = self
            .ledger
            .append(NewEntry::new(kinds::RECORD, payload).with_links(links))
            .await?;
        record.ledger.index = Some(appended.index);
        Ok(RunReport {
            record,
            review_path: None,
            kept_worktree: None,
        })
    }

    /// The last stage entry of `kind` the run recorded, decoded.
    async fn last_recorded(
        &self,
        record: &RunRecord,
        kind: &str,
    ) -> Result<Option<docket_ledger::entry::Entry>, EngineError> {
        let mut found = None;
        for index in &record.ledger.stages {
            let entry = self
                .ledger
                .entry(*index)
                .await?
                .decode()
                .map_err(LedgerError::from)?;
            if entry.kind == kind {
                found = Some(entry);
            }
        }
        Ok(found)
    }

    /// When the run's change last changed: the time of its last diff entry.
    async fn last_change_at(&self, record: &RunRecord) -> Result<String, EngineError> {
        Ok(self
            .last_recorded(record, kinds::DIFF)
            .await?
            .map_or_else(|| record.started_at.clone(), |entry| entry.time))
    }

    /// The fixer's report of a fixer run, as its last agent stage recorded it, for a
    /// publish decision taken later.
    async fn recorded_fixer(&self, record: &RunRecord) -> Result<Option<Value>, EngineError> {
        Ok(self
            .last_recorded(record, kinds::AGENT)
            .await?
            .and_then(|entry| entry.payload.get("fixer").cloned()))
    }
}
