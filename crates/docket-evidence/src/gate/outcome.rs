//! The gate's judgement of one commit: its outcome, the attestation that governs it
//! and the reason given.

use docket_core::ai_markers::Marker;
use docket_git::RangeCommit;

/// How the gate judged one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Governed,
    UngovernedAi,
    InvalidAttestation,
    Plain,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Governed,
        Outcome::UngovernedAi,
        Outcome::InvalidAttestation,
        Outcome::Plain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Governed => "governed",
            Outcome::UngovernedAi => "ungoverned-ai",
            Outcome::InvalidAttestation => "invalid-attestation",
            Outcome::Plain => "plain",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which attested fact a governed commit matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationMatch {
    /// The commit's own attestation: this commit, this diff.
    ThisCommit,
    /// The commit's tree is the attested tree (a squash or a re-commit).
    SameTree,
    /// The commit's diff is the attested diff (a rebase or cherry-pick).
    SameDiff,
}

impl AttestationMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            AttestationMatch::ThisCommit => "this-commit",
            AttestationMatch::SameTree => "same-tree",
            AttestationMatch::SameDiff => "same-diff",
        }
    }
}

/// The attestation that governs a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Governing {
    pub run_id: String,
    /// The commit the attestation is attached to and names.
    pub attested_commit: String,
    /// `name+hash` of the trusted key that signed it.
    pub signed_by: String,
    pub matched: AttestationMatch,
}

/// One commit of the range and the gate's judgement of it.
#[derive(Debug, Clone)]
pub struct Judged {
    pub commit: RangeCommit,
    pub outcome: Outcome,
    /// Why, in a sentence a reviewer can act on.
    pub reason: String,
    pub markers: Vec<Marker>,
    /// The run ids of the commit's `Docket-Run` trailers, in order.
    pub runs: Vec<String>,
    pub governing: Option<Governing>,
}

impl Judged {
    pub fn subject(&self) -> &str {
        self.commit.message.lines().next().unwrap_or_default()
    }
}
