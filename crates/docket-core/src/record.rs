//! The run record: everything docket knows about one governed run, in the versioned
//! shape that `docket runs show --format json` prints and the final `run.record`
//! ledger entry carries (schema `docket.run/v1`, documented in docs/run-record.md).

use serde::{Deserialize, Serialize};

pub const RUN_SCHEMA: &str = "docket.run/v1";

/// Ledger entry kinds written by a run, in the order they happen.
pub mod kinds {
    pub const INTAKE: &str = "intake.decision";
    pub const STARTED: &str = "run.started";
    pub const AGENT: &str = "run.agent";
    pub const DIFF: &str = "run.diff";
    pub const RULES: &str = "run.rules";
    pub const VALIDATION: &str = "run.validation";
    pub const CHECK: &str = "run.check";
    pub const PUBLISHED: &str = "run.published";
    pub const RECORD: &str = "run.record";
    /// The published commit's signed attestation.
    pub const ATTESTATION: &str = "run.attestation";
    /// Written by the model gateway: one per exchange with a provider, one per request
    /// it refused, one when a per-run limit stopped the agent.
    pub const MODEL_EXCHANGE: &str = "model.exchange";
    pub const MODEL_DENIAL: &str = "model.denial";
    pub const MODEL_BUDGET: &str = "model.budget";
    /// `docket replay`'s result.
    pub const REPLAY: &str = "run.replay";
    /// One policy decision (any point), with bundle and input digests.
    pub const POLICY: &str = "policy.decision";
    /// An approval of a run's change, written after the approve decision allowed it.
    pub const APPROVAL: &str = "run.approval";
    /// An exception letting one failed rule pass for one run.
    pub const EXCEPTION: &str = "run.exception";
    /// A held run whose kept checkout was discarded without publishing.
    pub const DISCARDED: &str = "run.discarded";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub schema: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub ticket: TicketRef,
    pub initiator: String,
    pub repository: RepositoryRef,
    pub base_commit: Option<String>,
    pub worker: WorkerRef,
    pub agent: AgentRef,
    pub attempts: Vec<AgentAttempt>,
    pub diff: Option<DiffSummary>,
    pub rules: Vec<RuleResult>,
    pub validation_mode: String,
    pub validation: Vec<ValidationCommand>,
    pub checks: Vec<CheckResult>,
    pub outcome: RunOutcome,
    pub output: Option<RunOutput>,
    pub ledger: LedgerRef,
    /// The policy decisions taken for this run, in order.
    #[serde(default)]
    pub decisions: Vec<DecisionSummary>,
    /// Set while a run is held at the publish point (awaiting approval, or blocked
    /// by a decision an exception may lift): the judged commit `docket publish`
    /// puts on the run's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldRun>,
}

/// One policy decision as the run record cites it; the `policy.decision` entry
/// holds the rest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecisionSummary {
    pub point: String,
    /// `allow`, `deny` or `approval-required`.
    pub verdict: String,
    /// Errors, denials, approval reasons and warnings, in that order.
    pub messages: Vec<String>,
    pub bundle_digest: String,
    pub input_digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldRun {
    /// The git ref in the governed repository that keeps the judged commit
    /// (`refs/docket/held/<run>`); not a branch.
    pub reference: String,
    /// The commit `docket publish` puts on the run's branch.
    pub commit: String,
    /// Its tree: exactly the tree the rules, validation and checks judged.
    pub tree: String,
}
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TicketRef {
    pub id: String,
    pub title: String,
    pub source: String,
    /// `sha256:` of the exact text given to the agent.
    pub digest: String,
    /// The text as stored in the blob store (secrets redacted).
    pub text_blob: Option<String>,
    pub labels: Vec<String>,
    pub requester: Option<String>,
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepositoryRef {
    pub alias: String,
    pub root: String,
    pub base_ref: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRef {
    pub host: String,
    pub docket_version: String,
    /// The ledger's signing key (public).
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentRef {
    pub kind: String,
    pub command: Vec<String>,
    pub model: Option<String>,
}

/// One run of the agent: the first, a repair, or a governance check's re-run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentAttempt {
    pub purpose: String,
    pub attempt: u32,
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub stdout_digest: String,
    pub stderr_digest: String,
    /// What a model-calling agent used in this attempt, from its gateway: the
    /// per-ticket and per-day token and cost budgets add these up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_usage: Option<ModelUsage>,
    /// The validation report a repair was given (blob digest, secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_report: Option<String>,
}

/// Model requests, tokens and cost of one agent attempt, as its gateway metered them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct ModelUsage {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl ModelUsage {
    /// The usage of a run's attempts so far, for the run's per-run limits.
    pub fn total(attempts: &[AgentAttempt]) -> ModelUsage {
        attempts.iter().filter_map(|a| a.model_usage.as_ref()).fold(
            ModelUsage::default(),
            |sum, u| ModelUsage {
                requests: sum.requests + u.requests,
                input_tokens: sum.input_tokens + u.input_tokens,
                output_tokens: sum.output_tokens + u.output_tokens,
                cost_usd: sum.cost_usd + u.cost_usd,
            },
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiffSummary {
    /// `sha256:` of the full binary patch.
    pub digest: String,
    pub files: Vec<DiffFile>,
    pub files_changed: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// The patch in the blob store (secrets redacted).
    pub patch_blob: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiffFile {
    pub path: String,
    pub old_path: Option<String>,
    pub status: String,
    pub added: u64,
    pub removed: u64,
    pub binary: bool,
    pub old_mode: Option<String>,
    pub new_mode: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleResult {
    pub rule: String,
    /// `pass` or `fail`.
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidationCommand {
    /// `setup` or `validate`.
    pub phase: String,
    pub attempt: u32,
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// `sha256:` of stdout and stderr (redacted) as stored in the blob store.
    pub output_digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckResult {
    /// `idempotency` or `reproducibility`.
    pub check: String,
    pub mode: String,
    /// `pass`, `fail` or `skipped`.
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Published,
    AwaitingApproval,
    Blocked,
    Failed,
    Cancelled,
    /// A held run whose change was discarded without publishing.
    Discarded,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Published => "published",
            RunStatus::AwaitingApproval => "awaiting-approval",
            RunStatus::Discarded => "discarded",
            RunStatus::Blocked => "blocked",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunOutput {
    pub branch: String,
    pub commit: String,
    /// The review-request body (markdown) in the blob store.
    pub review_blob: String,
    pub pushed_to: Option<String>,
    /// The signed attestation (DSSE envelope) in the blob store; also the commit's
    /// note under `refs/notes/docket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct LedgerRef {
    /// Index of the `run.record` entry (filled in when read back).
    pub index: Option<u64>,
    /// Indexes of the stage entries this record closes, in order.
    pub stages: Vec<u64>,
}
