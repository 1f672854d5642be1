//! A decision: the verdict at one point, every message that led to it, and the digests
//! of the exact policy bundle and input it was made from.

use serde::{Deserialize, Serialize};

use crate::Point;

/// What a decision allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    Deny,
    /// Publishing waits for approvals (only the publish point asks for them).
    ApprovalRequired,
}

/// One policy decision, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub point: Point,
    pub verdict: Verdict,
    /// The policy's deny messages, sorted and deduplicated.
    pub deny: Vec<String>,
    /// Warnings; they never change the verdict.
    pub warn: Vec<String>,
    /// Why approval is required (publish point).
    pub approval: Vec<String>,
    /// Why no policy decision could be made; any error makes the verdict `Deny`.
    pub errors: Vec<String>,
    /// `sha256:` of the bundle (see [`crate::Bundle::digest`]).
    pub bundle_digest: String,
    /// `sha256:` of the canonical input bytes.
    pub input_digest: String,
    pub elapsed_us: u64,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// Errors, then deny messages: the reasons for an outcome line.
    pub fn reasons(&self) -> Vec<String> {
        self.errors.iter().chain(&self.deny).cloned().collect()
    }
}
