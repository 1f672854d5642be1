//! The change stages: the diff collected from the checkout (`run.diff`, the patch as a
//! blob) and the repository rules judged on it (`run.rules`).

use docket_core::record::{DiffFile, DiffSummary, RunOutcome, RunRecord, RunStatus, kinds};
use docket_git::{Diff, Worktree};
use serde_json::json;

use super::state::{Acted, Change, Flow};
use crate::error::EngineError;
use crate::recorder::Recorder;
use crate::{governance, rules};

/// Which change is judged: the agent's first, or a repair's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    First,
    Repair,
}

/// Judges what an agent invocation made: a stopped agent or an empty change ends the
/// run (saying why); otherwise the diff and the repository rules are recorded.
pub(crate) async fn judge(
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    acted: Acted,
    rules: &docket_core::config::RulesConfig,
    made: Made,
) -> Result<Flow<Change>, EngineError> {
    if let Some(mut stop) = acted.stop {
        if made == Made::First {
            stop.reasons.extend(acted.trouble);
        }
        run.outcome = stop;
        return Ok(Flow::Closed);
    }
    let trouble = acted.trouble.clone();
    let change = collect(rec, run, wt, acted).await?;
    if change.diff.files.is_empty() {
        let reasons = match made {
            Made::First => std::iter::once(
                "no change: the agent exited successfully but changed nothing".to_owned(),
            )
            .chain(trouble)
            .collect(),
            Made::Repair => vec!["no change: the repair left nothing changed".into()],
        };
        run.outcome = RunOutcome {
            status: RunStatus::Failed,
            reasons,
        };
        return Ok(Flow::Closed);
    }
    judge_rules(rec, run, wt, &change.diff, rules).await?;
    Ok(Flow::Next(change))
}

/// Collects what the agent changed in the checkout and records it.
async fn collect(
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    acted: Acted,
) -> Result<Change, EngineError> {
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
    run.diff = Some(summary);
    Ok(Change {
        diff,
        last_change_at: governance::now(),
        fixer: acted.fixer,
        conversation: acted.conversation,
    })
}

/// Evaluates the repository rules on the change and records the results. A failed
/// rule does not stop the run here: the publish decision judges it (an exception may
/// let it pass), after validation and checks are on the record.
async fn judge_rules(
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    diff: &Diff,
    config: &docket_core::config::RulesConfig,
) -> Result<(), EngineError> {
    let tree = tree_content(wt, diff, config).await?;
    let results = rules::evaluate(diff, &tree, config)?;
    rec.stage(kinds::RULES, json!({"rules": results}), vec![])
        .await?;
    run.rules = results;
    Ok(())
}

/// Reads what the rules judge beyond the diff from the tree the diff was made to (the
/// content that would be committed): every symlink, and the bytes of each added or
/// changed binary file when secrets are scanned.
async fn tree_content(
    wt: &Worktree,
    diff: &Diff,
    config: &docket_core::config::RulesConfig,
) -> Result<rules::TreeContent, EngineError> {
    let symlinks = wt.tree_symlinks(&diff.tree).await?;
    let mut binaries = Vec::new();
    if config.secrets {
        let regular = |mode: &str| mode.starts_with("100");
        for file in &diff.files {
            if file.binary && file.new_mode.as_deref().is_some_and(regular) {
                let content = wt
                    .tree_file(&diff.tree, &file.path, config.max_scan_bytes)
                    .await?;
                binaries.push((file.path.clone(), content));
            }
        }
    }
    Ok(rules::TreeContent { symlinks, binaries })
}

/// The repository rules the change failed, as reasons: a run stopped by validation
/// or a check before its publish decision still says what else was wrong.
pub(crate) fn failed_rules(record: &RunRecord) -> Vec<String> {
    record
        .rules
        .iter()
        .filter(|r| r.outcome == "fail")
        .map(|r| format!("{}: {}", r.rule, r.detail))
        .collect()
}
