//! The gate: judges every commit of a range (`git rev-list BASE..HEAD`, merges
//! included) by its docket attestation and its AI markers, and the gate policy that
//! says which outcomes stop the range from merging.
//!
//! Outcomes:
//! - `governed`: a trusted attestation covers the commit — its own note (signature,
//!   run id, subject commit and actual diff all hold), or, for a commit rewritten by a
//!   squash, rebase or cherry-pick, attestations of runs its `Docket-Run` trailers
//!   name whose diffs make up the change the commit makes against its own parent (the
//!   attested diff itself, or the runs' attested changes chained from the parent's
//!   tree to the commit's tree); an attested tree on another parent is not enough;
//! - `invalid-attestation`: the commit claims a run (`Docket-Run`) or carries a note,
//!   and nothing trusted covers it (always so when no key is trusted);
//! - `ungoverned-ai`: AI markers ([`docket_core::ai_markers`]) and no attestation;
//! - `plain`: neither.
//!
//! Architecture invariants:
//! - A trailer is a claim, never evidence: only a signature by a trusted key over a
//!   statement naming this exact change (commit, tree or diff) makes a commit governed.
//! - Git is asked once per question for the whole range: one `git log` for the
//!   commits, one batch read of every note, one `git diff-tree --stdin` for the diffs
//!   that matter (attested commits and `Docket-Run` commits only), and a second one
//!   only for the links between the runs of squashes of several runs. Signatures are
//!   checked in memory.

mod attestations;
mod classify;
mod commit;
mod error;
mod keys;
mod outcome;
mod policy;
mod range;
mod report;
#[cfg(test)]
mod test_repo;

// The public surface stays `docket_evidence::gate::X` whatever file an item lives in.
pub use self::commit::{RUN_TRAILER, run_trailers, short};
pub use self::error::GateError;
pub use self::keys::{KEYS_FILE, keys_at, parse_keys_file};
pub use self::outcome::{AttestationMatch, Governing, Judged, Outcome};
pub use self::policy::GatePolicy;
pub use self::range::{check, first_changed_paths};
pub use self::report::{GateReport, Timings};
