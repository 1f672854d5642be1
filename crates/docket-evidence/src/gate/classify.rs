//! Classifying one commit: its own note, the attestations of the runs its trailers
//! name, its tree and its diff decide whether it is governed, invalid, ungoverned AI
//! or plain.
//!
//! A rewritten commit (squash, rebase, cherry-pick) is judged by the change it makes
//! against its own parent, never by its tree alone: an attested tree committed again
//! on a newer parent would undo every commit in between and still carry the run's
//! tree.

use std::collections::HashMap;

use docket_core::ai_markers::{self, Marker};
use docket_git::{RangeCommit, TreePair};
use docket_ledger::dsse::key_hint;

use super::attestations::Opened;
use super::commit::{RUN_TRAILER, short};
use super::outcome::{AttestationMatch, Governing, Judged, Outcome};
use crate::attest::{self, VerifiedAttestation};

/// A commit on its way to a judgement.
pub(super) struct Pending {
    pub(super) commit: RangeCommit,
    markers: Vec<Marker>,
    runs: Vec<String>,
    state: State,
    pub(super) actual_diff: Option<String>,
}

enum State {
    Done {
        outcome: Outcome,
        reason: String,
        governing: Option<Governing>,
    },
    /// The commit's own attestation; the diff decides.
    OwnNote(Box<VerifiedAttestation>),
    /// Attestations that may cover a rewritten commit (by its tree and the change it
    /// makes, or by its diff), and what was wrong with the ones that could not be used.
    Rewritten {
        candidates: Vec<(String, VerifiedAttestation)>,
        problems: Vec<String>,
    },
}

/// A pair of trees by value: (from, to), `None` being the empty tree.
type PairKey = (Option<String>, String);

/// The diff digests of the tree pairs that link the runs of a squash
/// ([`Pending::chain_pairs`]), or why git could not compute them (an attested commit
/// that is not in this repository).
pub(super) type ChainDigests = Result<HashMap<PairKey, String>, String>;

impl Pending {
    pub(super) fn needs_diff(&self) -> bool {
        match &self.state {
            State::Done { .. } => false,
            State::OwnNote(_) => true,
            State::Rewritten { candidates, .. } => !candidates.is_empty(),
        }
    }

    /// The attestations of the runs the trailers name, in trailer order (a squash
    /// message lists the oldest commit first), those with a tree and a diff only.
    fn runs_in_order<'a>(
        &self,
        candidates: &'a [(String, VerifiedAttestation)],
    ) -> Vec<&'a (String, VerifiedAttestation)> {
        let mut chain: Vec<(usize, &(String, VerifiedAttestation))> = candidates
            .iter()
            .filter(|(_, v)| v.tree().is_some() && v.diff_digest().is_some())
            .filter_map(|c| {
                let position = self.runs.iter().position(|r| r == c.1.run_id())?;
                Some((position, c))
            })
            .collect();
        chain.sort_by_key(|(position, _)| *position);
        chain.into_iter().map(|(_, c)| c).collect()
    }

    /// The tree pairs whose diffs say whether this commit is a squash of several runs
    /// made on its parent: its tree is one a run attested, its own diff is no run's,
    /// and two or more of its runs are attested. Empty otherwise (no question to ask).
    pub(super) fn chain_pairs(&self) -> Vec<TreePair> {
        let State::Rewritten { candidates, .. } = &self.state else {
            return Vec::new();
        };
        let Some(actual) = self.actual_diff.as_deref() else {
            return Vec::new();
        };
        let tree = self.commit.tree.as_str();
        if candidates
            .iter()
            .any(|(_, v)| v.diff_digest().as_deref() == Some(actual))
            || !candidates.iter().any(|(_, v)| v.tree() == Some(tree))
        {
            return Vec::new();
        }
        let chain = self.runs_in_order(candidates);
        if chain.len() < 2 {
            return Vec::new();
        }
        let parent = self.commit.first_parent_tree.clone();
        let mut pairs = Vec::new();
        let mut previous: Option<&str> = None;
        for (_, v) in chain {
            let Some(to) = v.tree() else { continue };
            pairs.push(TreePair {
                from: parent.clone(),
                to: to.to_owned(),
            });
            if let Some(from) = previous {
                pairs.push(TreePair {
                    from: Some(from.to_owned()),
                    to: to.to_owned(),
                });
            }
            previous = Some(to);
        }
        // The pair (parent, own tree) is the commit's own diff, already known.
        pairs.retain(|p| !(p.from == parent && p.to == tree));
        pairs
    }

    /// The last attestation of a chain of the commit's runs whose attested changes,
    /// applied one after the other from the commit's parent tree, end at the commit's
    /// tree; with the runs of the chain. Each link is an attested diff: run k's diff
    /// from the tree before it (the parent's tree, or run k-1's attested tree) must be
    /// exactly the diff run k signed.
    fn squash_chain<'a>(
        &self,
        candidates: &'a [(String, VerifiedAttestation)],
        actual: &str,
        chain: &HashMap<PairKey, String>,
    ) -> Option<(&'a (String, VerifiedAttestation), Vec<&'a str>)> {
        let parent = &self.commit.first_parent_tree;
        let tree = self.commit.tree.as_str();
        let digest = |from: &Option<String>, to: &str| -> Option<&str> {
            if from == parent && to == tree {
                return Some(actual);
            }
            chain
                .get(&(from.clone(), to.to_owned()))
                .map(String::as_str)
        };
        let ordered = self.runs_in_order(candidates);
        // For each run: the index the chain reaching it starts at, if one does.
        let mut starts: Vec<Option<usize>> = Vec::with_capacity(ordered.len());
        let mut found = None;
        for (i, c) in ordered.iter().enumerate() {
            let (Some(to), Some(signed)) = (c.1.tree(), c.1.diff_digest()) else {
                starts.push(None);
                continue;
            };
            let from_previous = i.checked_sub(1).and_then(|p| {
                let start = (*starts.get(p)?)?;
                let from = ordered.get(p)?.1.tree()?;
                (digest(&Some(from.to_owned()), to) == Some(signed.as_str())).then_some(start)
            });
            let from_parent = (digest(parent, to) == Some(signed.as_str())).then_some(i);
            let start = from_previous.or(from_parent);
            starts.push(start);
            if let Some(start) = start.filter(|_| to == tree) {
                found = Some((i, start));
            }
        }
        let (end, start) = found?;
        let runs = ordered
            .get(start..=end)?
            .iter()
            .map(|(_, v)| v.run_id())
            .collect();
        Some((*ordered.get(end)?, runs))
    }

    fn done(self, outcome: Outcome, reason: String, governing: Option<Governing>) -> Judged {
        Judged {
            commit: self.commit,
            outcome,
            reason,
            markers: self.markers,
            runs: self.runs,
            governing,
        }
    }

    pub(super) fn finish(mut self, chain: &ChainDigests) -> Judged {
        let state = std::mem::replace(
            &mut self.state,
            State::Rewritten {
                candidates: Vec::new(),
                problems: Vec::new(),
            },
        );
        let actual = self.actual_diff.clone().unwrap_or_default();
        match state {
            State::Done {
                outcome,
                reason,
                governing,
            } => self.done(outcome, reason, governing),
            State::OwnNote(v) => {
                let id = self.commit.id.clone();
                match attest::check_subject(&v, &id, &actual) {
                    Ok(()) => {
                        let signed_by = key_hint(&v.signed_by);
                        let reason = format!(
                            "attested by run {} (signed by {signed_by}); its commit and diff match",
                            v.run_id()
                        );
                        let governing = Governing {
                            run_id: v.run_id().to_owned(),
                            attested_commit: id,
                            signed_by,
                            matched: AttestationMatch::ThisCommit,
                        };
                        self.done(Outcome::Governed, reason, Some(governing))
                    }
                    Err(problem) => {
                        self.done(Outcome::InvalidAttestation, problem.to_string(), None)
                    }
                }
            }
            State::Rewritten {
                candidates,
                problems,
            } => self.finish_rewritten(&candidates, &problems, &actual, chain),
        }
    }

    /// A commit with no attestation of its own: governed only when the change it makes
    /// against its own parent is a change its runs attested.
    fn finish_rewritten(
        self,
        candidates: &[(String, VerifiedAttestation)],
        problems: &[String],
        actual: &str,
        chain: &ChainDigests,
    ) -> Judged {
        let tree = self.commit.tree.as_str();
        let same_diff = |v: &VerifiedAttestation| v.diff_digest().as_deref() == Some(actual);
        let governing = |at: &str, v: &VerifiedAttestation, matched| {
            Some(Governing {
                run_id: v.run_id().to_owned(),
                attested_commit: at.to_owned(),
                signed_by: key_hint(&v.signed_by),
                matched,
            })
        };
        let signer = |v: &VerifiedAttestation| key_hint(&v.signed_by);
        // The attested tree on the attested base: the same change, re-committed.
        if let Some((at, v)) = candidates
            .iter()
            .find(|(_, v)| v.tree() == Some(tree) && same_diff(v))
        {
            let reason = format!(
                "squashed or re-committed: its tree equals the tree attested for run {} at commit {} (signed by {})",
                v.run_id(),
                short(at),
                signer(v)
            );
            let governing = governing(at, v, AttestationMatch::SameTree);
            return self.done(Outcome::Governed, reason, governing);
        }
        // The attested diff on another base.
        if let Some((at, v)) = candidates.iter().find(|(_, v)| same_diff(v)) {
            let reason = format!(
                "rebased or cherry-picked: its diff equals the diff attested for run {} at commit {} (signed by {})",
                v.run_id(),
                short(at),
                signer(v)
            );
            let governing = governing(at, v, AttestationMatch::SameDiff);
            return self.done(Outcome::Governed, reason, governing);
        }
        // Several runs squashed on the tree the first of them started from.
        if let Ok(digests) = chain
            && let Some(((at, v), runs)) = self.squash_chain(candidates, actual, digests)
        {
            let reason = format!(
                "squashed or re-committed: its tree equals the tree attested for run {} at commit {} (signed by {}), and runs {} attested every change from its parent's tree to it",
                v.run_id(),
                short(at),
                signer(v),
                runs.join(", ")
            );
            let governing = governing(at, v, AttestationMatch::SameTree);
            return self.done(Outcome::Governed, reason, governing);
        }
        // An attested tree on a parent it was not made on: replaying it would undo
        // whatever changed in between, so the tree alone proves nothing.
        if let Some((at, v)) = candidates.iter().find(|(_, v)| v.tree() == Some(tree)) {
            let unchecked = match chain {
                Err(error) if self.runs.len() > 1 => {
                    format!(" (the trees its runs attested could not be compared: {error})")
                }
                _ => String::new(),
            };
            let reason = format!(
                "its tree equals the tree attested for run {} at commit {}, but the change it makes against its parent is not the attested change: its parent's tree is not the tree the run started from, so it would undo the changes made since{unchecked}",
                v.run_id(),
                short(at)
            );
            return self.done(Outcome::InvalidAttestation, reason, None);
        }
        let reason = not_covered(&self.runs, candidates, problems);
        self.done(Outcome::InvalidAttestation, reason, None)
    }
}

/// How a commit with no usable attestation is judged by its markers alone.
fn unattested(markers: &[Marker]) -> (Outcome, String) {
    match markers.first() {
        Some(marker) => (
            Outcome::UngovernedAi,
            format!("{marker}, and no docket attestation"),
        ),
        None => (
            Outcome::Plain,
            format!("no AI marker and no {RUN_TRAILER} trailer"),
        ),
    }
}

/// The judgement when the gate trusts no key at all: nothing can be verified, so a
/// commit that claims a run (or carries a note) is an invalid attestation, and the
/// others are judged by their markers as usual.
pub(super) fn judge_without_key(commit: RangeCommit, runs: Vec<String>, has_note: bool) -> Judged {
    let markers = ai_markers::commit_markers(
        &commit.message,
        (&commit.author_name, &commit.author_email),
        (&commit.committer_name, &commit.committer_email),
    );
    let (outcome, reason) = if runs.is_empty() && !has_note {
        unattested(&markers)
    } else {
        (Outcome::InvalidAttestation, "no trusted key".to_owned())
    };
    Judged {
        commit,
        outcome,
        reason,
        markers,
        runs,
        governing: None,
    }
}

/// Everything that can be decided before diffs are computed.
pub(super) fn judge_without_diff(
    commit: RangeCommit,
    runs: Vec<String>,
    opened: &Opened,
    by_run: &HashMap<String, Vec<String>>,
) -> Pending {
    let markers = ai_markers::commit_markers(
        &commit.message,
        (&commit.author_name, &commit.author_email),
        (&commit.committer_name, &commit.committer_email),
    );
    let mut pending = Pending {
        commit,
        markers,
        runs,
        state: State::Done {
            outcome: Outcome::Plain,
            reason: String::new(),
            governing: None,
        },
        actual_diff: None,
    };
    let id = pending.commit.id.clone();
    let mut candidates: Vec<(String, VerifiedAttestation)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();

    // The commit's own note.
    match opened.get(&id) {
        Some(Err(reason)) => {
            pending.state = State::Done {
                outcome: Outcome::InvalidAttestation,
                reason: format!("its attestation note does not verify: {reason}"),
                governing: None,
            };
            return pending;
        }
        Some(Ok(v)) if v.commit() == Some(id.as_str()) => {
            if !pending.runs.is_empty() && !pending.runs.iter().any(|r| r == v.run_id()) {
                pending.state = State::Done {
                    outcome: Outcome::InvalidAttestation,
                    reason: format!(
                        "its attestation is for run {}, but its {RUN_TRAILER} trailer names {}",
                        v.run_id(),
                        pending.runs.join(", ")
                    ),
                    governing: None,
                };
            } else {
                pending.state = State::OwnNote(Box::new(v.clone()));
            }
            return pending;
        }
        // A note copied from the commit it was made for (git's notes.rewriteRef on
        // rebase or amend): judged like any attestation of a rewritten commit.
        Some(Ok(v)) => candidates.push((v.commit().unwrap_or_default().to_owned(), v.clone())),
        None => {}
    }

    if pending.runs.is_empty() && candidates.is_empty() {
        let (outcome, reason) = unattested(&pending.markers);
        pending.state = State::Done {
            outcome,
            reason,
            governing: None,
        };
        return pending;
    }

    // The attestations of the runs it names, the last trailer first: a squash of
    // several runs ends with the newest one, whose tree is the squashed tree.
    for run in pending.runs.iter().rev() {
        for at in by_run.get(run).into_iter().flatten() {
            match opened.get(at) {
                Some(Ok(v)) if v.run_id() == run => {
                    let attested = v.commit().unwrap_or_default().to_owned();
                    if !candidates.iter().any(|(c, _)| *c == attested) {
                        candidates.push((attested, v.clone()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(reason)) => problems.push(format!(
                    "the attestation for run {run} at commit {} does not verify: {reason}",
                    short(at)
                )),
                None => problems.push(format!(
                    "the attestation for run {run} at commit {} could not be checked",
                    short(at)
                )),
            }
        }
    }

    pending.state = if candidates.is_empty() {
        State::Done {
            outcome: Outcome::InvalidAttestation,
            reason: not_covered(&pending.runs, &candidates, &problems),
            governing: None,
        }
    } else {
        State::Rewritten {
            candidates,
            problems,
        }
    };
    pending
}

/// Why no attestation covers a commit that claims a run.
fn not_covered(
    runs: &[String],
    candidates: &[(String, VerifiedAttestation)],
    problems: &[String],
) -> String {
    let claimed = if runs.is_empty() {
        candidates
            .iter()
            .map(|(_, v)| v.run_id().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        runs.join(", ")
    };
    if let Some((at, _)) = candidates.first() {
        return format!(
            "no attestation for this commit; it was changed after run {claimed}? (the run attested commit {}, whose tree and diff both differ from this commit's)",
            short(at)
        );
    }
    if let Some(problem) = problems.first() {
        return format!("no valid attestation for run {claimed}: {problem}");
    }
    format!(
        "its {RUN_TRAILER} trailer names run {claimed}, but refs/notes/docket holds no attestation for it (fetch the notes: git fetch origin refs/notes/docket:refs/notes/docket)"
    )
}

#[cfg(test)]
mod tests;
