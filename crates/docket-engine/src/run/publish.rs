//! The last stages: the publish decision on the judged change, then publishing it (a
//! commit of exactly the judged tree on a new branch, the signed attestation as its
//! note, an optional push, `run.published`) or holding it for approvals and
//! exceptions; and closing the run with its `run.record`.

use std::path::PathBuf;

use docket_core::record::{
    DiffSummary, HeldRun, RunOutcome, RunOutput, RunRecord, RunStatus, kinds,
};
use docket_git::{Diff, Worktree};
use docket_ledger::{Digest256, LedgerError, NewEntry};
use docket_policy::{Point, Verdict};
use serde_json::{Value, json};

use super::start::{common, now};
use super::state::{Checked, PublishDecision, RunScope};
use crate::decision::held_outcome;
use crate::engine::RunReport;
use crate::error::EngineError;
use crate::governance::{self, Grant};
use crate::recorder::{Recorder, store_redacted};
use crate::review;

/// The publish decision: rules, validation, checks, findings and budget of the
/// judged change.
pub(crate) async fn decide(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    checked: Checked,
) -> Result<PublishDecision, EngineError> {
    let Checked(change) = checked;
    let summary = run.diff.clone().unwrap_or_else(empty_summary);
    let facts = PublishFacts {
        diff: &summary,
        last_change: &change.last_change_at,
        fixer: change.fixer.as_ref(),
        approvals: &[],
        exceptions: &[],
    };
    let input = publish_input(scope, run, &facts);
    let decision = rec.decide(&scope.gov, Point::Publish, input, run).await?;
    Ok(PublishDecision { decision, change })
}

/// Acts on the publish decision: publishes when allowed, otherwise holds the judged
/// commit for approvals or exceptions (never a change with a secret in it). Returns
/// the review file when published.
pub(crate) async fn conclude(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    decided: PublishDecision,
) -> Result<Option<PathBuf>, EngineError> {
    let PublishDecision { decision, change } = decided;
    // A change with a secret in it is never kept: no exception can let it pass,
    // and a held commit would put the secret into the repository's objects.
    let secret = run
        .rules
        .iter()
        .any(|r| r.rule == "secrets" && r.outcome == "fail");
    match decision.verdict {
        Verdict::Allow => {
            let from = PublishFrom::Worktree(wt, &change.diff);
            publish(scope, rec, run, from, change.fixer.as_ref())
                .await
                .map(Some)
        }
        verdict if secret => {
            run.outcome = held_outcome(&decision, verdict);
            run.outcome.status = RunStatus::Blocked;
            Ok(None)
        }
        verdict => {
            // Keep the judged commit under a ref of the governed repository, so
            // that `docket publish` can complete the run after approvals or
            // exceptions without keeping the checkout.
            let config = &scope.governed.config;
            let commit = wt
                .commit_diff(
                    &change.diff,
                    &commit_message(run),
                    &config.publish.author_name,
                    &config.publish.author_email,
                )
                .await?;
            let reference = format!("refs/docket/held/{}", run.run_id);
            wt.hold(&scope.governed.repo, &reference, &commit).await?;
            run.held = Some(HeldRun {
                reference,
                commit,
                tree: change.diff.tree.clone(),
            });
            run.outcome = held_outcome(&decision, verdict);
            Ok(None)
        }
    }
}

/// What the publish decision judges beyond the run's record.
pub(crate) struct PublishFacts<'a> {
    pub(crate) diff: &'a DiffSummary,
    /// When the judged change was collected.
    pub(crate) last_change: &'a str,
    /// The IaC fixer's report on the change.
    pub(crate) fixer: Option<&'a Value>,
    pub(crate) approvals: &'a [(u64, Grant)],
    pub(crate) exceptions: &'a [(u64, Grant)],
}

/// The publish point's input document for this run's judged change.
pub(crate) fn publish_input(
    scope: &RunScope<'_>,
    record: &RunRecord,
    facts: &PublishFacts<'_>,
) -> Value {
    let gov = &scope.gov;
    let diff = facts.diff;
    let common = common(scope, "publish");
    let time = common["time"].as_str().unwrap_or_default().to_owned();
    let (approvals, exceptions) =
        governance::grant_inputs(facts.approvals, facts.exceptions, &time);
    governance::with(
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
                "last_change_at": facts.last_change,
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
            "findings": facts.fixer.map(fixer_findings),
            "approvals": approvals,
            "exceptions": exceptions,
            "budget": governance::usage(&scope.history, &record.ticket.id, &record.run_id, Some(record)),
        }),
    )
}

/// Where the published commit comes from: the run's checkout, or the commit a
/// held run kept.
pub(crate) enum PublishFrom<'a> {
    Worktree(&'a Worktree, &'a Diff),
    Held(&'a str),
}

/// Publishes the judged change: the commit, its branch (create-only), the signed
/// attestation, an optional push, and `run.published`. Returns the review file.
pub(crate) async fn publish(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    from: PublishFrom<'_>,
    fixer: Option<&Value>,
) -> Result<PathBuf, EngineError> {
    let config = &scope.governed.config;
    let ledger = &scope.engine.ledger;
    let short = &run.run_id[..8];
    let branch = format!("{}{}-{short}", config.publish.branch_prefix, run.ticket.id);
    // The review body describes the judged change; render and store it (an fsync)
    // while git commits and creates the branch.
    rec.settle().await?;
    let checkpoint = ledger.latest_checkpoint().await?.map(|c| c.checkpoint);
    let stages: Vec<u64> = rec.stages.iter().map(|(i, _)| *i).collect();
    let render = |record: &RunRecord, status: RunStatus, reasons: Vec<String>| {
        let mut preview = record.clone();
        preview.outcome = RunOutcome { status, reasons };
        preview.ledger.stages = stages.clone();
        review::render(&preview, checkpoint.as_ref())
    };
    let body = render(run, RunStatus::Published, vec![]);
    let blobs = ledger.blobs().clone();
    let stored_review =
        tokio::task::spawn_blocking(move || store_redacted(&blobs, body.as_bytes()));
    let commit = match from {
        PublishFrom::Worktree(wt, diff) => {
            let commit = wt
                .commit_diff(
                    diff,
                    &commit_message(run),
                    &config.publish.author_name,
                    &config.publish.author_email,
                )
                .await?;
            wt.create_branch(&scope.governed.repo, &branch, &commit)
                .await?;
            commit
        }
        PublishFrom::Held(commit) => {
            scope
                .governed
                .repo
                .create_branch_at(&branch, commit)
                .await?;
            commit.to_owned()
        }
    };
    let mut review_blob = stored_review
        .await
        .map_err(|e| EngineError::Config(format!("storing the review body failed: {e}")))??;
    let attestation = attest(scope, rec, run, &commit, fixer).await?;
    let mut pushed_to = None;
    let mut push_failure = None;
    if let Some(remote) = &scope.opts.push {
        let repo = &scope.governed.repo;
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
            Err(e) => push_failure = Some(format!("push of {branch} to `{remote}` failed: {e}")),
        }
    }
    run.outcome = match &push_failure {
        None => RunOutcome {
            status: RunStatus::Published,
            reasons: vec![],
        },
        Some(reason) => {
            // The review must not say "published" for a run that failed to push.
            let body = render(run, RunStatus::Failed, vec![reason.clone()]);
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
    run.output = Some(output);
    Ok(ledger.blobs().path_of(&review_blob))
}

/// Signs the published commit's attestation, attaches it as the commit's note and
/// records it; returns the envelope's blob digest.
async fn attest(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &RunRecord,
    commit: &str,
    fixer: Option<&Value>,
) -> Result<Digest256, EngineError> {
    use docket_evidence::attest;
    let ledger = &scope.engine.ledger;
    rec.settle().await?;
    let repo = &scope.governed.repo;
    let (tree, _) = repo.tree_and_parent(commit).await?;
    let verifier = ledger.signing_key().await?;
    let signer = ledger
        .keys()
        .find(&verifier)
        .map_err(|e| EngineError::Config(format!("cannot sign the attestation: {e}")))?;
    let statement = attest::statement(
        &attest::Published {
            record: run,
            commit,
            tree: &tree,
            fixer,
            origin: ledger.origin(),
            entries: rec.stages.iter().map(|(i, _)| *i).collect(),
            attested_at: now(),
        },
        &verifier,
    );
    let envelope = attest::sign(&statement, &signer)
        .map_err(|e| EngineError::Config(format!("cannot sign the attestation: {e}")))?;
    let bytes = envelope.to_json().into_bytes();
    // Stored exactly as signed: redaction would break the signature, and the
    // statement holds only what the run record already holds.
    let blob = ledger.blobs().put(&bytes).map_err(LedgerError::from)?;
    let publish = &scope.governed.config.publish;
    repo.add_note(commit, &bytes, &publish.author_name, &publish.author_email)
        .await?;
    rec.stage(
        kinds::ATTESTATION,
        json!({
            "commit": commit,
            "tree": tree,
            "diff_digest": run.diff.as_ref().map(|d| d.digest.clone()),
            "predicate_type": attest::PREDICATE_TYPE,
            "envelope": blob,
            "notes_ref": docket_git::NOTES_REF,
        }),
        vec![blob],
    )
    .await?;
    Ok(blob)
}

/// Closes the run: its `run.record`, linking every stage entry, written after all of
/// them are durable; the run's files are removed.
pub(crate) async fn finish(
    scope: &RunScope<'_>,
    mut rec: Recorder,
    mut run: RunRecord,
    review_path: Option<PathBuf>,
    kept: Option<PathBuf>,
) -> Result<RunReport, EngineError> {
    rec.settle().await?;
    run.finished_at = now();
    run.ledger.stages.extend(rec.stages.iter().map(|(i, _)| *i));
    let links = rec.stages.clone();
    let payload = serde_json::to_value(&run).map_err(|e| EngineError::Config(e.to_string()))?;
    let appended = scope
        .engine
        .ledger
        .append(NewEntry::new(kinds::RECORD, payload).with_links(links))
        .await?;
    run.ledger.index = Some(appended.index);
    let _ = std::fs::remove_dir_all(&scope.run_dir);
    Ok(RunReport {
        record: run,
        review_path,
        kept_worktree: kept,
    })
}

/// docket's own failure after intake: still close the run's evidence with a record
/// that says so, then report the error.
pub(crate) async fn fail(
    scope: &RunScope<'_>,
    rec: Recorder,
    mut run: RunRecord,
    kept: Option<PathBuf>,
    error: EngineError,
) -> Result<RunReport, EngineError> {
    run.outcome = RunOutcome {
        status: RunStatus::Failed,
        reasons: vec![format!("docket error: {error}")],
    };
    if let Err(e) = finish(scope, rec, run, None, kept).await {
        tracing::warn!(error = %e, "could not record the failed run");
    }
    Err(error)
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

/// What a publish decision sees of the IaC fixer's report.
pub(crate) fn fixer_findings(fixer: &Value) -> Value {
    json!({
        "verdict": fixer["verdict"],
        "applied": fixer["applied"].as_array().map_or(0, Vec::len),
        "new_findings": fixer["new_findings"],
        "unresolved": fixer["unresolved"],
    })
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
