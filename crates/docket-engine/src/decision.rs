//! Policy decisions of a run: evaluating one point with its exact input stored, the
//! `policy.decision` entry, the record's summary of it, and what a held run's outcome
//! says.

use docket_core::record::{DecisionSummary, RunOutcome, RunRecord, RunStatus, kinds};
use docket_ledger::Digest256;
use docket_policy::{Decision, Point, Verdict};
use serde_json::{Value, json};

use crate::error::EngineError;
use crate::governance::Governance;
use crate::recorder::{Recorder, store_redacted};

/// Evaluates one decision. Returns it with the `policy.decision` entry payload and
/// the blob holding the exact input bytes (canonical JSON, secrets redacted).
pub fn evaluate(
    gov: &Governance,
    point: Point,
    input: &Value,
    blobs: &docket_ledger::BlobStore,
) -> Result<(Decision, Value, Digest256), EngineError> {
    let canonical = docket_policy::canonical_input(input)
        .map_err(|e| EngineError::Config(format!("cannot encode the {point:?} input: {e}")))?;
    let decision = gov.policy.decide_canonical(point, &canonical);
    let blob = store_redacted(blobs, canonical.as_bytes())?;
    let payload = json!({
        "decision": decision,
        "bundle": {"digest": gov.policy.digest(), "files": gov.policy.paths()},
        "input_blob": blob.to_string(),
    });
    Ok((decision, payload, blob))
}

impl Recorder {
    /// Takes one decision, stores its exact input (as a blob), records it as a stage
    /// of the run and in the run's record.
    pub(crate) async fn decide(
        &mut self,
        gov: &Governance,
        point: Point,
        input: Value,
        record: &mut RunRecord,
    ) -> Result<Decision, EngineError> {
        let (decision, payload, blob) = evaluate(gov, point, &input, self.ledger.blobs())?;
        self.stage(kinds::POLICY, payload, vec![blob]).await?;
        record.decisions.push(summary(&decision));
        Ok(decision)
    }
}

pub(crate) fn summary(decision: &Decision) -> DecisionSummary {
    let mut messages = decision.reasons();
    messages.extend(
        decision
            .approval
            .iter()
            .map(|a| format!("approval required: {a}")),
    );
    messages.extend(decision.warn.iter().map(|w| format!("warning: {w}")));
    DecisionSummary {
        point: decision.point.as_str().into(),
        verdict: match decision.verdict {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::ApprovalRequired => "approval-required",
        }
        .into(),
        messages,
        bundle_digest: decision.bundle_digest.clone(),
        input_digest: decision.input_digest.clone(),
    }
}

/// The outcome of a run held at the publish point.
pub(crate) fn held_outcome(decision: &Decision, verdict: Verdict) -> RunOutcome {
    if verdict == Verdict::ApprovalRequired {
        RunOutcome {
            status: RunStatus::AwaitingApproval,
            reasons: decision
                .approval
                .iter()
                .map(|a| format!("approval required: {a}"))
                .collect(),
        }
    } else {
        RunOutcome {
            status: RunStatus::Blocked,
            reasons: decision.reasons(),
        }
    }
}
