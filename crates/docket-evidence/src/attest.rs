//! Run attestations: what a published run did, as an in-toto Statement v1 in a DSSE
//! envelope signed with the ledger's key, attached to the published commit as a git
//! note under `refs/notes/docket` and stored in the blob store with a ledger entry.
//!
//! The predicate type and its schema are documented in `docs/attestation.md` and
//! `docs/attestation/run-v1.schema.json`.

use std::collections::BTreeMap;

use docket_ledger::dsse::{self, DsseError, Envelope, Statement, Subject};
use docket_ledger::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use docket_core::record::{
    AgentRef, CheckResult, DecisionSummary, RuleResult, RunRecord, ValidationCommand,
};
use docket_git::{GitError, Repo};

/// The predicate type URI of a docket run attestation, version 1.
pub const PREDICATE_TYPE: &str = "https://docket.dev/attestation/run/v1";
/// `schema` inside the predicate.
pub const PREDICATE_SCHEMA: &str = "docket.attestation.run/v1";
/// Subject names: which digest is which.
pub const SUBJECT_COMMIT: &str = "commit";
pub const SUBJECT_TREE: &str = "tree";
pub const SUBJECT_DIFF: &str = "diff.patch";

/// The predicate: the run's evidence in brief, each part pointing at the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPredicate {
    pub schema: String,
    pub run_id: String,
    /// When the run started and when the attestation was made (RFC 3339, UTC).
    pub started_at: String,
    pub attested_at: String,
    pub ticket: TicketSummary,
    pub initiator: String,
    pub repository: RepositorySummary,
    pub agent: AgentRef,
    pub worker: WorkerSummary,
    pub diff: DiffDigest,
    pub policy: PolicySummary,
    pub rules: Vec<RuleResult>,
    pub validation: ValidationSummary,
    pub checks: Vec<CheckResult>,
    /// For runs of the built-in IaC fixer: the catalog rules it applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixer: Option<FixerSummary>,
    pub ledger: LedgerPointer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub id: String,
    pub title: String,
    pub source: String,
    pub digest: String,
    pub requester: Option<String>,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySummary {
    pub alias: String,
    pub base_ref: String,
    pub base_commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub host: String,
    pub docket_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffDigest {
    pub digest: String,
    pub tree: String,
    pub files_changed: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    pub decisions: Vec<DecisionSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationSummary {
    pub mode: String,
    pub results: Vec<ValidationCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixerSummary {
    pub verdict: String,
    pub rules: Vec<String>,
}

/// Where the run's evidence is: the ledger's origin (its checkpoint name) and the
/// indexes of the run's entries written before the attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPointer {
    pub origin: String,
    pub entries: Vec<u64>,
    /// The ledger's verifier key that signs the envelope.
    pub key: String,
}

pub type RunStatement = Statement<RunPredicate>;

/// What a published commit is, for its attestation.
#[derive(Debug, Clone)]
pub struct Published<'a> {
    pub record: &'a RunRecord,
    pub commit: &'a str,
    pub tree: &'a str,
    pub fixer: Option<&'a Value>,
    pub origin: &'a str,
    pub entries: Vec<u64>,
    pub attested_at: String,
}

/// Builds the statement for a published commit.
pub fn statement(published: &Published<'_>, signer: &Verifier) -> RunStatement {
    let record = published.record;
    let diff = record.diff.as_ref();
    let diff_digest = diff.map(|d| d.digest.clone()).unwrap_or_default();
    let subject = vec![
        Subject::new(SUBJECT_COMMIT, "gitCommit", published.commit),
        Subject::new(SUBJECT_TREE, "gitTree", published.tree),
        Subject::new(
            SUBJECT_DIFF,
            "sha256",
            diff_digest.trim_start_matches("sha256:"),
        ),
    ];
    let fixer = published.fixer.map(|fixer| {
        let mut rules: Vec<String> = fixer["applied"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["rule_id"].as_str().map(str::to_owned))
            .collect();
        rules.sort();
        rules.dedup();
        FixerSummary {
            verdict: fixer["verdict"].as_str().unwrap_or_default().to_owned(),
            rules,
        }
    });
    let predicate = RunPredicate {
        schema: PREDICATE_SCHEMA.to_owned(),
        run_id: record.run_id.clone(),
        started_at: record.started_at.clone(),
        attested_at: published.attested_at.clone(),
        ticket: TicketSummary {
            id: record.ticket.id.clone(),
            title: record.ticket.title.clone(),
            source: record.ticket.source.clone(),
            digest: record.ticket.digest.clone(),
            requester: record.ticket.requester.clone(),
            labels: record.ticket.labels.clone(),
        },
        initiator: record.initiator.clone(),
        repository: RepositorySummary {
            alias: record.repository.alias.clone(),
            base_ref: record.repository.base_ref.clone(),
            base_commit: record.base_commit.clone(),
        },
        agent: record.agent.clone(),
        worker: WorkerSummary {
            host: record.worker.host.clone(),
            docket_version: record.worker.docket_version.clone(),
        },
        diff: DiffDigest {
            digest: diff_digest,
            tree: published.tree.to_owned(),
            files_changed: diff.map_or(0, |d| d.files_changed),
            lines_added: diff.map_or(0, |d| d.lines_added),
            lines_removed: diff.map_or(0, |d| d.lines_removed),
        },
        policy: PolicySummary {
            decisions: record.decisions.clone(),
        },
        rules: record.rules.clone(),
        validation: ValidationSummary {
            mode: record.validation_mode.clone(),
            results: record.validation.clone(),
        },
        checks: record.checks.clone(),
        fixer,
        ledger: LedgerPointer {
            origin: published.origin.to_owned(),
            entries: published.entries.clone(),
            key: signer.to_string(),
        },
    };
    Statement::new(subject, PREDICATE_TYPE, predicate)
}

/// Signs a statement with the ledger's key.
pub fn sign(statement: &RunStatement, signer: &Signer) -> Result<Envelope, DsseError> {
    statement.sign(&[signer])
}

/// The digest a statement gives for one of its subjects.
pub fn subject_digest<'a>(
    statement: &'a RunStatement,
    name: &str,
    algorithm: &str,
) -> Option<&'a str> {
    statement
        .subject
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.digest.get(algorithm))
        .map(String::as_str)
}

/// Why a commit's attestation does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationProblem {
    #[error("commit {commit} has no attestation note under refs/notes/docket")]
    Missing { commit: String },
    #[error("the attestation of {commit} is not valid: {reason}")]
    Envelope { commit: String, reason: String },
    #[error("the attestation's predicate type is `{found}`, expected `{PREDICATE_TYPE}`")]
    PredicateType { found: String },
    #[error(
        "the attestation names commit {attested}, not {commit} (the commit was rewritten after its run)"
    )]
    OtherCommit { commit: String, attested: String },
    #[error(
        "commit {commit}'s diff is {actual}, but the attestation says {attested} (the change was altered after its run)"
    )]
    DiffMismatch {
        commit: String,
        attested: String,
        actual: String,
    },
}

/// A verified attestation: the statement, and the key that signed it.
#[derive(Debug, Clone)]
pub struct VerifiedAttestation {
    pub statement: RunStatement,
    pub signed_by: Verifier,
    pub envelope: Envelope,
    /// The envelope's bytes exactly as attached (their sha256 is what the ledger cites).
    pub bytes: Vec<u8>,
}

impl VerifiedAttestation {
    pub fn commit(&self) -> Option<&str> {
        subject_digest(&self.statement, SUBJECT_COMMIT, "gitCommit")
    }

    pub fn tree(&self) -> Option<&str> {
        subject_digest(&self.statement, SUBJECT_TREE, "gitTree")
    }

    /// `sha256:<hex>` of the attested diff.
    pub fn diff_digest(&self) -> Option<String> {
        subject_digest(&self.statement, SUBJECT_DIFF, "sha256").map(|d| format!("sha256:{d}"))
    }

    pub fn run_id(&self) -> &str {
        &self.statement.predicate.run_id
    }
}

/// Checks an envelope's signature against `trusted` and parses the run statement.
pub fn open(bytes: &[u8], trusted: &[Verifier]) -> Result<VerifiedAttestation, String> {
    let envelope = Envelope::parse(bytes).map_err(|e| e.to_string())?;
    // Read the predicate type before committing to the run predicate's shape, so a
    // foreign statement is named as such rather than as a parse error.
    let (generic, _) =
        dsse::open_statement::<Value>(&envelope, trusted).map_err(|e| e.to_string())?;
    if generic.predicate_type != PREDICATE_TYPE {
        return Err(AttestationProblem::PredicateType {
            found: generic.predicate_type,
        }
        .to_string());
    }
    let (statement, signed_by) =
        dsse::open_statement::<RunPredicate>(&envelope, trusted).map_err(|e| e.to_string())?;
    Ok(VerifiedAttestation {
        statement,
        signed_by,
        envelope,
        bytes: bytes.to_vec(),
    })
}

/// Verifies `commit`'s attached attestation: signature, subject and the commit's
/// actual diff. A git failure is an error; a failed check is a problem.
pub async fn verify_commit(
    repo: &Repo,
    commit: &str,
    trusted: &[Verifier],
) -> Result<Result<VerifiedAttestation, AttestationProblem>, GitError> {
    let Some(bytes) = repo.note(commit).await? else {
        return Ok(Err(AttestationProblem::Missing {
            commit: commit.to_owned(),
        }));
    };
    let verified = match open(&bytes, trusted) {
        Ok(v) => v,
        Err(reason) => {
            return Ok(Err(AttestationProblem::Envelope {
                commit: commit.to_owned(),
                reason,
            }));
        }
    };
    let actual = repo.commit_diff_digest(commit).await?;
    Ok(check_subject(&verified, commit, &actual).map(|()| verified))
}

/// The subject checks, given the commit and its actual diff digest.
pub fn check_subject(
    verified: &VerifiedAttestation,
    commit: &str,
    actual_diff: &str,
) -> Result<(), AttestationProblem> {
    let attested = verified.commit().unwrap_or_default();
    if attested != commit {
        return Err(AttestationProblem::OtherCommit {
            commit: commit.to_owned(),
            attested: attested.to_owned(),
        });
    }
    let attested_diff = verified.diff_digest().unwrap_or_default();
    if attested_diff != actual_diff {
        return Err(AttestationProblem::DiffMismatch {
            commit: commit.to_owned(),
            attested: attested_diff,
            actual: actual_diff.to_owned(),
        });
    }
    Ok(())
}

/// Every attestation attached in `repo`, by annotated commit, whether or not it
/// verifies (the caller decides what to trust).
pub async fn attached(repo: &Repo) -> Result<BTreeMap<String, Vec<u8>>, GitError> {
    Ok(repo.notes().await?.into_iter().collect())
}
