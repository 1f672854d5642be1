//! The judgement of a whole range: every commit's outcome, counts, and where the
//! time went.

use std::time::Duration;

use super::outcome::{Judged, Outcome};
use super::policy::GatePolicy;

/// Where the time went, for `docket bench gate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub list: Duration,
    pub notes: Duration,
    pub verify: Duration,
    pub diffs: Duration,
}

/// The judgement of a whole range.
#[derive(Debug, Clone)]
pub struct GateReport {
    pub base: String,
    pub head: String,
    /// Parents before children (`git log --topo-order --reverse`).
    pub commits: Vec<Judged>,
    /// Notes under refs/notes/docket in the repository.
    pub notes: usize,
    /// Attestations whose signature was checked.
    pub verified: usize,
    /// Commit diffs computed.
    pub diffs: usize,
    pub timings: Timings,
}

impl GateReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.commits.iter().filter(|c| c.outcome == outcome).count()
    }

    /// The commits the policy says must not merge.
    pub fn failing<'a>(&'a self, policy: &'a GatePolicy) -> impl Iterator<Item = &'a Judged> {
        self.commits.iter().filter(|c| policy.fails(c.outcome))
    }
}
