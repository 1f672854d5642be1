//! The gate: judges every commit of a range (`git rev-list BASE..HEAD`, merges
//! included) by its docket attestation and its AI markers, and the gate policy that
//! says which outcomes stop the range from merging.
//!
//! Outcomes:
//! - `governed`: a trusted attestation covers the commit — its own note (signature,
//!   run id, subject commit and actual diff all hold), or, for a commit rewritten by a
//!   squash, rebase or cherry-pick, an attestation of a run its `Docket-Run` trailer
//!   names whose tree equals the commit's tree or whose diff equals the commit's diff;
//! - `invalid-attestation`: the commit claims a run (`Docket-Run`) or carries a note,
//!   and nothing trusted covers it;
//! - `ungoverned-ai`: AI markers ([`docket_core::ai_markers`]) and no attestation;
//! - `plain`: neither.
//!
//! Architecture invariants:
//! - A trailer is a claim, never evidence: only a signature by a trusted key over a
//!   statement naming this exact change (commit, tree or diff) makes a commit governed.
//! - Git is asked once per question for the whole range: one `git log` for the
//!   commits, one batch read of every note, one `git diff-tree --stdin` for the diffs
//!   that matter (attested commits and `Docket-Run` commits only). Signatures are
//!   checked in memory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use docket_core::ai_markers::{self, Marker};
use docket_ledger::Verifier;
use docket_ledger::dsse::{Envelope, key_hint};
use serde::Deserialize;

use crate::attest::{self, VerifiedAttestation};
use docket_git::{GitError, RangeCommit, Repo, TreePair};

/// The trailer a published run writes into its commit message.
pub const RUN_TRAILER: &str = "Docket-Run";
/// Verifier keys the gate trusts, one per line, read from the base revision.
pub const KEYS_FILE: &str = ".docket/attestation-keys";

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

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("invalid gate policy {}: {reason}", .path.display())]
    Policy { path: PathBuf, reason: String },
    #[error("invalid key in {source_name} line {line}: {reason}")]
    KeysFile {
        source_name: String,
        line: usize,
        reason: String,
    },
}

/// Which outcomes stop a range from merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    fail_on: BTreeSet<Outcome>,
}

impl Default for GatePolicy {
    /// Any `ungoverned-ai` or `invalid-attestation` commit fails the range.
    fn default() -> GatePolicy {
        GatePolicy {
            fail_on: [Outcome::UngovernedAi, Outcome::InvalidAttestation]
                .into_iter()
                .collect(),
        }
    }
}

/// The policy file: `fail_on = ["ungoverned-ai", "invalid-attestation"]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    fail_on: Option<Vec<String>>,
}

impl GatePolicy {
    /// Parses a policy file's text; errors name `path`. Unknown keys and unknown
    /// outcomes are errors, so a typo never loosens the gate silently.
    pub fn parse(text: &str, path: &Path) -> Result<GatePolicy, GateError> {
        let error = |reason: String| GateError::Policy {
            path: path.to_path_buf(),
            reason,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| error(e.message().to_owned()))?;
        let Some(values) = file.fail_on else {
            return Ok(GatePolicy::default());
        };
        let mut fail_on = BTreeSet::new();
        for value in values {
            match Outcome::parse(&value) {
                Some(Outcome::Governed) => {
                    return Err(error(
                        "`governed` cannot fail a range; fail_on takes ungoverned-ai, invalid-attestation and plain".into(),
                    ));
                }
                Some(outcome) => {
                    fail_on.insert(outcome);
                }
                None => {
                    return Err(error(format!(
                        "unknown outcome `{value}` in fail_on; expected ungoverned-ai, invalid-attestation or plain"
                    )));
                }
            }
        }
        Ok(GatePolicy { fail_on })
    }

    pub fn fails(&self, outcome: Outcome) -> bool {
        self.fail_on.contains(&outcome)
    }

    /// The failing outcomes, in a stable order.
    pub fn fail_on(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.fail_on.iter().copied()
    }
}

/// Parses a keys file: one verifier key (`name+hash+key`) per line; blank lines and
/// lines starting with `#` are ignored. `source_name` names the file in errors.
pub fn parse_keys_file(text: &str, source_name: &str) -> Result<Vec<Verifier>, GateError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = Verifier::parse(line).map_err(|e| GateError::KeysFile {
            source_name: source_name.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The keys in [`KEYS_FILE`] as committed at `commit` (never the working tree, never
/// the head of a pull request: a change must not bring its own key), or `None` when
/// the commit has no such file.
pub async fn keys_at(repo: &Repo, commit: &str) -> Result<Option<Vec<Verifier>>, GateError> {
    let Some(bytes) = repo.show_file(commit, KEYS_FILE).await? else {
        return Ok(None);
    };
    let source = format!("{KEYS_FILE} at {}", short(commit));
    parse_keys_file(&String::from_utf8_lossy(&bytes), &source).map(Some)
}

/// The run ids of a message's `Docket-Run` trailers, in order, without repeats.
pub fn run_trailers(message: &str) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for (key, value) in ai_markers::trailers(message) {
        if key.eq_ignore_ascii_case(RUN_TRAILER) && !runs.iter().any(|r| r == value) {
            runs.push(value.to_owned());
        }
    }
    runs
}

/// Judges every commit of `base..head` (full commit ids) against attestations signed
/// by one of `trusted`.
pub async fn check(
    repo: &Repo,
    base: &str,
    head: &str,
    trusted: &[Verifier],
) -> Result<GateReport, GateError> {
    let mut timings = Timings::default();
    let started = Instant::now();
    let commits = repo.range_commits(base, head).await?;
    timings.list = started.elapsed();

    let started = Instant::now();
    let notes: HashMap<String, Vec<u8>> = if commits.is_empty() {
        HashMap::new()
    } else {
        repo.notes().await?.into_iter().collect()
    };
    timings.notes = started.elapsed();

    // Every note on a commit of the range is checked: a note that exists must verify.
    let started = Instant::now();
    let own: Vec<(String, Vec<u8>)> = commits
        .iter()
        .filter_map(|c| notes.get(&c.id).map(|n| (c.id.clone(), n.clone())))
        .collect();
    let mut opened = open_all(own, trusted).await;
    let claims: Vec<Vec<String>> = commits.iter().map(|c| run_trailers(&c.message)).collect();
    // Attestations of the claimed runs, wherever they are attached: a squashed or
    // rebased commit has no note of its own.
    let wanted: HashSet<&str> = claims
        .iter()
        .zip(&commits)
        .filter(|(_, c)| !covers_itself(opened.get(&c.id), &c.id))
        .flat_map(|(runs, _)| runs.iter().map(String::as_str))
        .collect();
    let mut by_run: HashMap<String, Vec<String>> = HashMap::new();
    if !wanted.is_empty() {
        let mut others = Vec::new();
        for (commit, bytes) in &notes {
            if let Some(run) = peek_run_id(bytes).filter(|r| wanted.contains(r.as_str())) {
                by_run.entry(run).or_default().push(commit.clone());
                if !opened.contains_key(commit) {
                    others.push((commit.clone(), bytes.clone()));
                }
            }
        }
        opened.extend(open_all(others, trusted).await);
        for commits in by_run.values_mut() {
            commits.sort();
        }
    }
    let verified = opened.len();
    timings.verify = started.elapsed();

    // First pass: everything that needs no diff.
    let mut pending: Vec<Pending> = commits
        .into_iter()
        .zip(claims)
        .map(|(commit, runs)| judge_without_diff(commit, runs, &opened, &by_run))
        .collect();

    // One diff-tree call for the commits whose judgement needs their actual diff.
    let started = Instant::now();
    let needing: Vec<usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, p)| p.needs_diff())
        .map(|(i, _)| i)
        .collect();
    let pairs: Vec<TreePair> = needing
        .iter()
        .filter_map(|i| pending.get(*i))
        .map(|p| TreePair {
            from: p.commit.first_parent_tree.clone(),
            to: p.commit.tree.clone(),
        })
        .collect();
    let digests = repo.tree_diff_digests(&pairs).await?;
    for (i, digest) in needing.iter().zip(digests) {
        if let Some(p) = pending.get_mut(*i) {
            p.actual_diff = Some(digest);
        }
    }
    timings.diffs = started.elapsed();

    let judged = pending.into_iter().map(Pending::finish).collect();
    Ok(GateReport {
        base: base.to_owned(),
        head: head.to_owned(),
        commits: judged,
        notes: notes.len(),
        verified,
        diffs: pairs.len(),
        timings,
    })
}

/// The first path each judged commit changes (for locations in reports), from one
/// git call; `None` for a commit that changes nothing.
pub async fn first_changed_paths(
    repo: &Repo,
    commits: &[&Judged],
) -> Result<Vec<Option<String>>, GateError> {
    let pairs: Vec<TreePair> = commits
        .iter()
        .map(|j| TreePair {
            from: j.commit.first_parent_tree.clone(),
            to: j.commit.tree.clone(),
        })
        .collect();
    Ok(repo.first_changed_paths(&pairs).await?)
}

type Opened = HashMap<String, Result<VerifiedAttestation, String>>;

/// Whether a commit's own note is a valid attestation naming the commit itself.
fn covers_itself(own: Option<&Result<VerifiedAttestation, String>>, commit: &str) -> bool {
    matches!(own, Some(Ok(v)) if v.commit() == Some(commit))
}

/// Opens (verifies and parses) attestations on every core; by annotated commit. Every
/// note given gets an entry: one that could not be checked at all is an error, never
/// missing (a missing entry would read as "no note").
async fn open_all(notes: Vec<(String, Vec<u8>)>, trusted: &[Verifier]) -> Opened {
    if notes.is_empty() {
        return Opened::new();
    }
    let unchecked =
        |commits: &[(String, Vec<u8>)]| -> Vec<(String, Result<VerifiedAttestation, String>)> {
            commits
                .iter()
                .map(|(commit, _)| {
                    (
                        commit.clone(),
                        Err("the attestation could not be checked".to_owned()),
                    )
                })
                .collect()
        };
    let ids: Vec<(String, Vec<u8>)> = notes.iter().map(|(c, _)| (c.clone(), Vec::new())).collect();
    let trusted = trusted.to_vec();
    let work = move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = notes.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = notes
                .chunks(chunk)
                .map(|part| {
                    let trusted = &trusted;
                    let handle = scope.spawn(move || {
                        part.iter()
                            .map(|(commit, bytes)| (commit.clone(), attest::open(bytes, trusted)))
                            .collect::<Vec<_>>()
                    });
                    (part, handle)
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|(part, handle)| handle.join().unwrap_or_else(|_| unchecked(part)))
                .collect::<Opened>()
        })
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(opened) => opened,
        Err(_) => unchecked(&ids).into_iter().collect(),
    }
}

/// The run id an attestation claims, read without checking its signature: only used
/// to find which attestations to verify.
fn peek_run_id(bytes: &[u8]) -> Option<String> {
    let envelope = Envelope::parse(bytes).ok()?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&envelope.payload))
        .ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    statement["predicate"]["run_id"].as_str().map(str::to_owned)
}

/// A commit on its way to a judgement.
struct Pending {
    commit: RangeCommit,
    markers: Vec<Marker>,
    runs: Vec<String>,
    state: State,
    actual_diff: Option<String>,
}

enum State {
    Done {
        outcome: Outcome,
        reason: String,
        governing: Option<Governing>,
    },
    /// The commit's own attestation; the diff decides.
    OwnNote(Box<VerifiedAttestation>),
    /// Attestations that may cover a rewritten commit by its diff, and what was wrong
    /// with the ones that could not be used.
    ByDiff {
        candidates: Vec<(String, VerifiedAttestation)>,
        problems: Vec<String>,
    },
}

impl Pending {
    fn needs_diff(&self) -> bool {
        match &self.state {
            State::Done { .. } => false,
            State::OwnNote(_) => true,
            State::ByDiff { candidates, .. } => !candidates.is_empty(),
        }
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

    fn finish(mut self) -> Judged {
        let state = std::mem::replace(
            &mut self.state,
            State::ByDiff {
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
            State::ByDiff {
                candidates,
                problems,
            } => {
                if let Some((at, v)) = candidates
                    .iter()
                    .find(|(_, v)| v.diff_digest().as_deref() == Some(actual.as_str()))
                {
                    let signed_by = key_hint(&v.signed_by);
                    let reason = format!(
                        "rebased or cherry-picked: its diff equals the diff attested for run {} at commit {} (signed by {signed_by})",
                        v.run_id(),
                        short(at)
                    );
                    let governing = Governing {
                        run_id: v.run_id().to_owned(),
                        attested_commit: at.clone(),
                        signed_by,
                        matched: AttestationMatch::SameDiff,
                    };
                    return self.done(Outcome::Governed, reason, Some(governing));
                }
                let reason = not_covered(&self.runs, &candidates, &problems);
                self.done(Outcome::InvalidAttestation, reason, None)
            }
        }
    }
}

/// Everything that can be decided before diffs are computed.
fn judge_without_diff(
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
        pending.state = match pending.markers.first() {
            Some(marker) => State::Done {
                outcome: Outcome::UngovernedAi,
                reason: format!("{marker}, and no docket attestation"),
                governing: None,
            },
            None => State::Done {
                outcome: Outcome::Plain,
                reason: format!("no AI marker and no {RUN_TRAILER} trailer"),
                governing: None,
            },
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

    if let Some((at, v)) = candidates
        .iter()
        .find(|(_, v)| v.tree() == Some(pending.commit.tree.as_str()))
    {
        let signed_by = key_hint(&v.signed_by);
        let reason = format!(
            "squashed or re-committed: its tree equals the tree attested for run {} at commit {} (signed by {signed_by})",
            v.run_id(),
            short(at)
        );
        pending.state = State::Done {
            outcome: Outcome::Governed,
            reason,
            governing: Some(Governing {
                run_id: v.run_id().to_owned(),
                attested_commit: at.clone(),
                signed_by,
                matched: AttestationMatch::SameTree,
            }),
        };
        return pending;
    }
    pending.state = if candidates.is_empty() {
        State::Done {
            outcome: Outcome::InvalidAttestation,
            reason: not_covered(&pending.runs, &candidates, &problems),
            governing: None,
        }
    } else {
        State::ByDiff {
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

/// The abbreviated commit id shown in reasons.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn commit_all(dir: &Path, message: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// A repository whose history has every kind of change a patch can show.
    fn varied_history(dir: &Path) -> Vec<String> {
        git(dir, &["init", "-q", "-b", "main"]);
        let mut commits = Vec::new();
        std::fs::write(dir.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        commits.push(commit_all(dir, "root"));
        std::fs::write(dir.join("a.txt"), "one\n2\nthree\nfour\n").unwrap();
        std::fs::write(dir.join("bin.dat"), [0u8, 1, 2, 255, 0, 7]).unwrap();
        commits.push(commit_all(dir, "modify and binary"));
        git(dir, &["mv", "a.txt", "renamed.txt"]);
        commits.push(commit_all(dir, "rename"));
        std::os::unix::fs::symlink("renamed.txt", dir.join("link")).unwrap();
        std::fs::write(dir.join("tool.sh"), "#!/bin/sh\n").unwrap();
        commits.push(commit_all(dir, "symlink"));
        std::fs::set_permissions(
            dir.join("tool.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.join("bin.dat"), [9u8, 0, 9]).unwrap();
        std::fs::write(dir.join("sp ace ü.txt"), "x 1\n").unwrap();
        commits.push(commit_all(dir, "mode change, binary change, odd name"));
        commits.push(commit_all(dir, "empty"));
        std::fs::remove_file(dir.join("link")).unwrap();
        commits.push(commit_all(dir, "delete"));
        // A side branch merged back: a merge commit's diff is from its first parent.
        git(dir, &["checkout", "-q", "-b", "side", "HEAD~1"]);
        std::fs::write(dir.join("side.txt"), "side\n").unwrap();
        commits.push(commit_all(dir, "side"));
        git(dir, &["checkout", "-q", "main"]);
        git(dir, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
        commits
    }

    #[tokio::test]
    async fn batch_diff_digests_are_byte_identical_to_commit_diff_digest() {
        let dir = tempfile::tempdir().unwrap();
        let commits = varied_history(dir.path());
        let repo = Repo::open(dir.path()).await.unwrap();
        let root = commits.first().unwrap();
        // The whole history: the range from the root's parentless state needs the root
        // listed too, so list root..HEAD and add the root by hand.
        let listed = repo.range_commits(root, "HEAD").await.unwrap();
        assert_eq!(listed.len(), commits.len() - 1, "{listed:?}");
        let mut pairs: Vec<TreePair> = vec![TreePair {
            from: None,
            to: git(dir.path(), &["rev-parse", &format!("{root}^{{tree}}")]),
        }];
        pairs.extend(listed.iter().map(|c| TreePair {
            from: c.first_parent_tree.clone(),
            to: c.tree.clone(),
        }));
        let mut ids = vec![root.clone()];
        ids.extend(listed.iter().map(|c| c.id.clone()));
        let batch = repo.tree_diff_digests(&pairs).await.unwrap();
        assert_eq!(batch.len(), ids.len());
        for (id, digest) in ids.iter().zip(&batch) {
            assert_eq!(
                *digest,
                repo.commit_diff_digest(id).await.unwrap(),
                "commit {id}"
            );
        }
        // The empty commit's patch is empty, and identical pairs in a row split too.
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(batch.iter().filter(|d| *d == empty).count(), 1);
        let twice = [pairs[1].clone(), pairs[1].clone(), pairs[5].clone()];
        let again = repo.tree_diff_digests(&twice).await.unwrap();
        assert_eq!(
            again,
            vec![batch[1].clone(), batch[1].clone(), batch[5].clone()]
        );
        assert_eq!(
            repo.tree_diff_digests(&[]).await.unwrap(),
            Vec::<String>::new()
        );

        let paths = repo.first_changed_paths(&pairs).await.unwrap();
        let expected = [
            Some("a.txt"),       // root
            Some("a.txt"),       // a.txt modified before bin.dat added
            Some("renamed.txt"), // the added side of a rename, not the deleted one
            Some("link"),
            Some("bin.dat"),
            None,         // empty
            Some("link"), // only a deletion: the deleted path
            Some("side.txt"),
            Some("side.txt"), // the merge, from its first parent
        ];
        for (id, path) in ids.iter().zip(&paths) {
            let index = commits.iter().position(|c| c == id).unwrap();
            assert_eq!(path.as_deref(), expected[index], "commit {index}");
        }
    }

    #[tokio::test]
    async fn the_range_lists_merges_and_side_commits_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let commits = varied_history(dir.path());
        let repo = Repo::open(dir.path()).await.unwrap();
        let base = &commits[5];
        let listed = repo.range_commits(base, "HEAD").await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        // delete, side, merge (side branched from "delete"'s parent).
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(ids.last(), Some(&commits[8].as_str()));
        let merge = listed.last().unwrap();
        assert_eq!(merge.parents.len(), 2);
        assert_eq!(merge.message, "merge side\n");
        assert_eq!(merge.author_email, "t@example.com");
        let position = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        assert!(position(&commits[6]) < position(&commits[8]));
        assert!(position(&commits[7]) < position(&commits[8]));
        assert!(repo.range_commits("HEAD", "HEAD").await.unwrap().is_empty());
    }

    /// Signs a run attestation for `commit` as a published run would, and attaches it.
    async fn attest(repo: &Repo, commit: &str, run_id: &str, signer: &docket_ledger::Signer) {
        use crate::attest::*;
        use docket_ledger::dsse::{Statement, Subject};
        let tree = repo.resolve(commit).await.unwrap();
        let tree = git(repo.root(), &["rev-parse", &format!("{tree}^{{tree}}")]);
        let digest = repo.commit_diff_digest(commit).await.unwrap();
        let predicate = RunPredicate {
            schema: PREDICATE_SCHEMA.into(),
            run_id: run_id.into(),
            started_at: "2026-11-22T07:00:00Z".into(),
            attested_at: "2026-11-22T07:00:01Z".into(),
            ticket: TicketSummary {
                id: "T-1".into(),
                title: "t".into(),
                source: "t.md".into(),
                digest: "sha256:00".into(),
                requester: None,
                labels: vec![],
            },
            initiator: "a@example.com".into(),
            repository: RepositorySummary {
                alias: "r".into(),
                base_ref: "main".into(),
                base_commit: None,
            },
            agent: docket_core::record::AgentRef {
                kind: "exec".into(),
                command: vec![],
                model: None,
            },
            worker: WorkerSummary {
                host: "h".into(),
                docket_version: "0".into(),
            },
            diff: DiffDigest {
                digest: digest.clone(),
                tree: tree.clone(),
                files_changed: 1,
                lines_added: 1,
                lines_removed: 0,
            },
            policy: PolicySummary { decisions: vec![] },
            rules: vec![],
            validation: ValidationSummary {
                mode: "off".into(),
                results: vec![],
            },
            checks: vec![],
            fixer: None,
            ledger: LedgerPointer {
                origin: "o".into(),
                entries: vec![],
                key: signer.verifier().to_string(),
            },
        };
        let statement = Statement::new(
            vec![
                Subject::new(SUBJECT_COMMIT, "gitCommit", commit),
                Subject::new(SUBJECT_TREE, "gitTree", tree),
                Subject::new(SUBJECT_DIFF, "sha256", digest.trim_start_matches("sha256:")),
            ],
            PREDICATE_TYPE,
            predicate,
        );
        let envelope = sign(&statement, signer).unwrap();
        repo.add_note(
            commit,
            envelope.to_json().as_bytes(),
            "docket",
            "docket@localhost",
        )
        .await
        .unwrap();
    }

    fn write_commit(dir: &Path, file: &str, text: &str, message: &str) -> String {
        std::fs::write(dir.join(file), text).unwrap();
        commit_all(dir, message)
    }

    /// (outcome, reason) of one commit of `base..head`.
    async fn judge(
        repo: &Repo,
        base: &str,
        head: &str,
        trusted: &[Verifier],
    ) -> Vec<(Outcome, String)> {
        let base = repo.resolve(base).await.unwrap();
        let head = repo.resolve(head).await.unwrap();
        check(repo, &base, &head, trusted)
            .await
            .unwrap()
            .commits
            .into_iter()
            .map(|j| (j.outcome, j.reason))
            .collect()
    }

    #[tokio::test]
    async fn rewritten_runs_are_judged_by_their_signed_tree_and_diff() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        let base = write_commit(d, "README", "r\n", "base");
        let signer = docket_ledger::Signer::generate("gate-test").unwrap();
        let trusted = [signer.verifier()];
        let repo = Repo::open(d).await.unwrap();
        git(d, &["checkout", "-q", "-b", "runs"]);
        let r1 = write_commit(d, "one.txt", "1\n", "Run one\n\nDocket-Run: run-1");
        let r2 = write_commit(d, "two.txt", "2\n", "Run two\n\nDocket-Run: run-2");
        attest(&repo, &r1, "run-1", &signer).await;
        attest(&repo, &r2, "run-2", &signer).await;
        let ok = judge(&repo, &base, &r2, &trusted).await;
        assert!(ok.iter().all(|(o, _)| *o == Outcome::Governed), "{ok:?}");

        // A squash of both runs: the tree of the last run, both trailers.
        let squash_message =
            "Runs (#1)\n\n* Run one\n\nDocket-Run: run-1\n\n* Run two\n\nDocket-Run: run-2\n";
        let r2_tree = format!("{r2}^{{tree}}");
        let squash = git(
            d,
            &["commit-tree", &r2_tree, "-p", &base, "-m", squash_message],
        );
        let judged = judge(&repo, &base, &squash, &trusted).await;
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].0, Outcome::Governed, "{judged:?}");
        assert!(
            judged[0].1.starts_with(&format!(
                "squashed or re-committed: its tree equals the tree attested for run run-2 at commit {}",
                short(&r2)
            )),
            "{judged:?}"
        );

        // The same squash with a human edit folded in: changed after the runs.
        git(d, &["checkout", "-q", "-b", "edited", &r2]);
        let edited = write_commit(d, "two.txt", "2, edited\n", "edit");
        let edited_tree = format!("{edited}^{{tree}}");
        let squash = git(
            d,
            &[
                "commit-tree",
                &edited_tree,
                "-p",
                &base,
                "-m",
                squash_message,
            ],
        );
        let judged = judge(&repo, &base, &squash, &trusted).await;
        assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
        assert!(
            judged[0].1.starts_with(
                "no attestation for this commit; it was changed after run run-1, run-2?"
            ),
            "{judged:?}"
        );

        // A note copied by git's notes.rewriteRef onto an amended commit does not
        // cover it; onto a cherry-pick with the same diff, it does.
        git(d, &["checkout", "-q", "-b", "amended", &r1]);
        std::fs::write(d.join("one.txt"), "1, amended\n").unwrap();
        git(d, &["commit", "-q", "-a", "--amend", "--no-edit"]);
        let amended = git(d, &["rev-parse", "HEAD"]);
        git(
            d,
            &["notes", "--ref", "refs/notes/docket", "copy", &r1, &amended],
        );
        let judged = judge(&repo, &base, &amended, &trusted).await;
        assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
        git(d, &["checkout", "-q", "-b", "moved", &base]);
        let moved = write_commit(d, "other.txt", "o\n", "main moved");
        git(d, &["cherry-pick", &r1]);
        let picked = git(d, &["rev-parse", "HEAD"]);
        git(
            d,
            &["notes", "--ref", "refs/notes/docket", "copy", &r1, &picked],
        );
        let judged = judge(&repo, &moved, &picked, &trusted).await;
        assert_eq!(judged[0].0, Outcome::Governed, "{judged:?}");
        assert!(
            judged[0].1.starts_with(
                "rebased or cherry-picked: its diff equals the diff attested for run run-1"
            ),
            "{judged:?}"
        );

        // A note for another run than the trailer says; an untrusted signature; a
        // trailer whose run has no attestation anywhere.
        git(d, &["checkout", "-q", "-b", "odd", &base]);
        let mislabelled = write_commit(d, "x.txt", "x\n", "X\n\nDocket-Run: run-9");
        attest(&repo, &mislabelled, "run-1", &signer).await;
        let stranger = docket_ledger::Signer::generate("stranger").unwrap();
        let untrusted = write_commit(d, "y.txt", "y\n", "Y\n\nDocket-Run: run-y");
        attest(&repo, &untrusted, "run-y", &stranger).await;
        let unknown = write_commit(d, "z.txt", "z\n", "Z\n\nDocket-Run: run-z");
        let judged = judge(&repo, &base, &unknown, &trusted).await;
        assert_eq!(
            judged.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            vec![Outcome::InvalidAttestation; 3]
        );
        assert_eq!(
            judged[0].1,
            "its attestation is for run run-1, but its Docket-Run trailer names run-9"
        );
        assert!(
            judged[1].1.starts_with(
                "its attestation note does not verify: no signature verifies with a trusted key"
            ),
            "{judged:?}"
        );
        assert!(
            judged[2].1.starts_with("its Docket-Run trailer names run run-z, but refs/notes/docket holds no attestation for it"),
            "{judged:?}"
        );
    }

    #[test]
    fn policies_parse_strictly() {
        let path = Path::new("gate.toml");
        assert_eq!(GatePolicy::parse("", path).unwrap(), GatePolicy::default());
        let strict = GatePolicy::parse(
            "fail_on = [\"ungoverned-ai\", \"invalid-attestation\", \"plain\"]\n",
            path,
        )
        .unwrap();
        assert!(Outcome::ALL[1..].iter().all(|o| strict.fails(*o)));
        assert!(!strict.fails(Outcome::Governed));
        let lenient = GatePolicy::parse("fail_on = []", path).unwrap();
        assert!(Outcome::ALL.iter().all(|o| !lenient.fails(*o)));
        let only_invalid = GatePolicy::parse("fail_on = [\"invalid-attestation\"]", path).unwrap();
        assert_eq!(
            only_invalid.fail_on().collect::<Vec<_>>(),
            vec![Outcome::InvalidAttestation]
        );

        let unknown_key = GatePolicy::parse("fail-on = []", path)
            .unwrap_err()
            .to_string();
        assert!(
            unknown_key.starts_with("invalid gate policy gate.toml: "),
            "{unknown_key}"
        );
        assert!(unknown_key.contains("fail-on"), "{unknown_key}");
        let unknown_value = GatePolicy::parse("fail_on = [\"ai\"]", path)
            .unwrap_err()
            .to_string();
        assert!(
            unknown_value.contains("unknown outcome `ai`"),
            "{unknown_value}"
        );
        let governed = GatePolicy::parse("fail_on = [\"governed\"]", path)
            .unwrap_err()
            .to_string();
        assert!(governed.contains("`governed` cannot fail"), "{governed}");
        let not_toml = GatePolicy::parse("fail_on = ", path)
            .unwrap_err()
            .to_string();
        assert!(not_toml.contains("gate.toml"), "{not_toml}");
    }

    #[test]
    fn keys_files_skip_comments_and_name_bad_lines() {
        let a = docket_ledger::Signer::generate("a").unwrap().verifier();
        let b = docket_ledger::Signer::generate("b").unwrap().verifier();
        let text = format!("# the release keys\n\n{a}\n  {b}  \n{a}\n");
        assert_eq!(parse_keys_file(&text, "keys").unwrap(), vec![a.clone(), b]);
        assert_eq!(parse_keys_file("# none\n", "keys").unwrap(), vec![]);
        let bad = parse_keys_file(&format!("{a}\nnot-a-key\n"), "keys at abc")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("invalid key in keys at abc line 2: "),
            "{bad}"
        );
    }

    #[test]
    fn run_trailers_are_read_anywhere_after_the_subject() {
        assert_eq!(
            run_trailers("t\n\nDocket-Run: r1\nDocket-Ticket: x\n"),
            vec!["r1".to_owned()]
        );
        let squashed = "Squash (#3)\n\n* one\n\nDocket-Run: r1\n\n* two\n\n    docket-run: r2\nDocket-Run: r1\n";
        assert_eq!(
            run_trailers(squashed),
            vec!["r1".to_owned(), "r2".to_owned()]
        );
        assert_eq!(
            run_trailers("Docket-Run: subject-only"),
            Vec::<String>::new()
        );
    }
}
