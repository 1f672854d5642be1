//! What a run's stages are given and what they hand on.
//!
//! A stage reads [`RunScope`] (fixed when the run starts, never written), adds its
//! evidence to the run's record and the ledger, and returns a typed value that the
//! next stage takes: [`Admitted`] → [`Authorised`] → (checkout) → [`Acted`] →
//! [`Change`] → [`Validated`] → [`Checked`] → [`PublishDecision`]. A stage that ends
//! the run returns [`Flow::Closed`] with the outcome written into the record. The
//! values between stages are plain data (serde), so a worker can report each stage's
//! result and a run interrupted between stages can be resumed or closed from them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use docket_agents::model_client::Message;
use docket_core::record::{RunOutcome, RunRecord};
use docket_core::ticket::Ticket;
use docket_git::Diff;
use docket_ledger::Digest256;
use docket_policy::Decision;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::engine::{Engine, RunOptions};
use crate::governance::Governance;
use crate::governed::Governed;

/// What a run was given and does not change while it runs: the caller's options,
/// the governed repository and its committed configuration, the policy and people in
/// force, the earlier runs budgets are summed from, the run's own files, and the
/// cancel signal. Stages read it; none writes it.
pub(crate) struct RunScope<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) opts: &'a RunOptions,
    pub(crate) governed: &'a Governed,
    pub(crate) gov: Arc<Governance>,
    /// Latest record of every earlier run (budget usage).
    pub(crate) history: BTreeMap<String, RunRecord>,
    /// DOCKET_HOME/runs/<run>: per-run files, removed when the run ends.
    pub(crate) run_dir: PathBuf,
    /// The ticket text given to the agent, as a file (never argv).
    pub(crate) ticket_file: PathBuf,
    pub(crate) cancel: watch::Receiver<bool>,
}

impl RunScope<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}

/// A stage's result: the next stage's input, or the run ends here (its outcome is
/// in the record).
pub(crate) enum Flow<T> {
    Next(T),
    Closed,
}

/// The ticket a run was opened for (input of the intake stage).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Ticketed {
    pub(crate) ticket: Ticket,
    /// Where the ticket was read from.
    pub(crate) source: PathBuf,
    /// The ticket text's blob (secrets redacted).
    pub(crate) text_blob: Digest256,
}

/// Intake allowed the ticket (output of intake, input of authorisation).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Admitted {
    pub(crate) ticket: Ticket,
    pub(crate) text_blob: Digest256,
}

/// The run decision allowed the run.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Authorised {
    /// The run decision's input, which the gateway decides again for every model a
    /// request asks for.
    pub(crate) run_input: Value,
}

/// What one agent invocation came to, beyond its `run.agent` entry.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Acted {
    /// Why the run (or the check re-running the agent) stops here: cancelled, timed
    /// out, failed, or stopped at a model limit.
    pub(crate) stop: Option<RunOutcome>,
    /// What went wrong between the agent and its model provider, for the reasons of a
    /// run that fails or changes nothing.
    pub(crate) trouble: Option<String>,
    /// The `api` agent's conversation, which a repair continues.
    pub(crate) conversation: Option<Vec<Message>>,
    /// The IaC fixer's report on its change.
    pub(crate) fixer: Option<Value>,
}

/// The change the agent made, as judged: the diff every later stage works on and
/// what the agent said about it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Change {
    pub(crate) diff: Diff,
    /// When the judged change was collected (the publish decision's `last_change_at`).
    pub(crate) last_change_at: String,
    /// The IaC fixer's report on this change (publish decision, attestation).
    pub(crate) fixer: Option<Value>,
    /// The `api` agent's conversation, which a repair continues.
    pub(crate) conversation: Option<Vec<Message>>,
}

/// The change passed validation (or validation is advisory or off).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Validated(pub(crate) Change);

/// The change passed the required governance checks.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Checked(pub(crate) Change);

/// The publish decision on the judged change.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PublishDecision {
    pub(crate) decision: Decision,
    pub(crate) change: Change,
}

#[cfg(test)]
mod tests {
    use super::*;
    use docket_git::{ChangeStatus, FileChange};

    /// A judged change survives a trip through JSON unchanged, as it must when a
    /// worker reports a stage's result to a controller.
    #[test]
    fn stage_values_round_trip_through_json() {
        let change = Change {
            diff: Diff {
                files: vec![FileChange {
                    path: "src/lib.rs".into(),
                    old_path: None,
                    status: ChangeStatus::Modified,
                    old_mode: Some("100644".into()),
                    new_mode: Some("100644".into()),
                    binary: false,
                    added_lines: 1,
                    removed_lines: 0,
                    is_symlink: false,
                    symlink_target: None,
                }],
                patch: b"diff --git a/src/lib.rs b/src/lib.rs\n".to_vec(),
                digest: "sha256:00".into(),
                tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into(),
            },
            last_change_at: "2026-12-07T00:00:00Z".into(),
            fixer: Some(serde_json::json!({"verdict": "fixed"})),
            conversation: None,
        };
        let text = serde_json::to_string(&Validated(change)).unwrap();
        let Validated(back) = serde_json::from_str(&text).unwrap();
        assert_eq!(back.diff.files[0].path, "src/lib.rs");
        assert_eq!(back.diff.files[0].status, ChangeStatus::Modified);
        assert_eq!(back.diff.patch, b"diff --git a/src/lib.rs b/src/lib.rs\n");
        assert_eq!(back.fixer.as_ref().unwrap()["verdict"], "fixed");
        assert_eq!(serde_json::to_string(&Validated(back)).unwrap(), text);
    }
}
