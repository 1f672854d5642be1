//! `docket attest verify`: checks a commit's attached run attestation.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use docket_core::record::kinds;
use docket_evidence::attest::{self, VerifiedAttestation};
use docket_git::Repo;
use docket_ledger::proof::InclusionProof;
use docket_ledger::{EntryFilter, Ledger, Verifier};
use serde::Serialize;

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::log_cmd::parse_keys;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify COMMIT's attestation (the note under refs/notes/docket): its DSSE
    /// signature, that its subject is this commit and this commit's actual diff, and,
    /// unless --offline, that the ledger holds it (inclusion proof against a signed
    /// checkpoint). Exit 0 verified, 1 names what failed.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The commit (any revision git understands).
    commit: String,
    /// A directory inside the repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Trust this public key (`name+hash+key`, or @FILE); repeat for several. Without
    /// it, the ledger's own key chain is trusted.
    #[arg(long, value_name = "PUBKEY")]
    key: Vec<String>,
    /// Do not consult the ledger: check the signature and the diff only (needs --key).
    #[arg(long, conflicts_with = "package")]
    offline: bool,
    /// Check against an audit package (`docket export`) instead of the ledger: the
    /// package must verify, and hold this attestation with its inclusion proof. Without
    /// --key the package's own key is trusted, which proves integrity, not origin.
    #[arg(long, value_name = "FILE.zip")]
    package: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<LedgerCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

impl Report {
    /// Nothing checked yet: not ok, no problem named.
    fn new(commit: &str) -> Report {
        Report {
            ok: false,
            commit: commit.to_owned(),
            run_id: None,
            ticket: None,
            signed_by: None,
            diff_digest: None,
            ledger: None,
            problem: None,
        }
    }

    /// Fills in what a verified attestation says.
    fn attested(&mut self, verified: &VerifiedAttestation) {
        self.run_id = Some(verified.run_id().to_owned());
        self.ticket = Some(verified.statement.predicate.ticket.id.clone());
        self.signed_by = Some(verified.signed_by.to_string());
        self.diff_digest = verified.diff_digest();
    }
}

#[derive(Debug, Serialize)]
struct LedgerCheck {
    origin: String,
    index: u64,
    tree_size: u64,
}

pub async fn run(cmd: AttestCommand, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    match cmd {
        AttestCommand::Verify(args) => verify(args, global, out).await,
    }
}

async fn verify(args: VerifyArgs, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    if args.offline && args.key.is_empty() {
        anyhow::bail!("--offline needs --key PUBKEY: without the ledger there is no key to trust");
    }
    let repo = Repo::open(&args.repo).await?;
    let commit = repo.resolve(&args.commit).await.with_context(|| {
        format!(
            "`{}` is not a commit in {}",
            args.commit,
            repo.root().display()
        )
    })?;
    let report = if let Some(path) = &args.package {
        check_with_package(&repo, &commit, &args.key, path, out).await?
    } else {
        let ledger = if args.offline {
            None
        } else {
            Some(global.open_ledger().await?)
        };
        let result = check(&repo, &commit, &args.key, ledger.as_ref()).await;
        if let Some(ledger) = ledger {
            ledger.close().await;
        }
        result?
    };
    if out.json() {
        out.json_value(&report)?;
    } else if report.ok {
        out.line(format!(
            "OK: {commit} is governed by run {} (ticket {})",
            report.run_id.as_deref().unwrap_or_default(),
            report.ticket.as_deref().unwrap_or_default()
        ));
        out.line(format!(
            "  signature  DSSE, in-toto Statement v1, signed by {}",
            report.signed_by.as_deref().unwrap_or_default()
        ));
        out.line(format!(
            "  subject    this commit; its diff is {}",
            report.diff_digest.as_deref().unwrap_or_default()
        ));
        match &report.ledger {
            Some(l) => out.line(format!(
                "  ledger     entry {} is included in {} at tree size {}",
                l.index, l.origin, l.tree_size
            )),
            None => out.line("  ledger     not consulted (--offline)"),
        }
    } else {
        out.line(format!(
            "FAILED: {}",
            report.problem.as_deref().unwrap_or_default()
        ));
    }
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

async fn check(
    repo: &Repo,
    commit: &str,
    keys: &[String],
    ledger: Option<&Ledger>,
) -> anyhow::Result<Report> {
    let trusted: Vec<Verifier> = match (keys.is_empty(), ledger) {
        (false, _) => parse_keys(keys)?,
        (true, Some(ledger)) => ledger.key_chain().await?,
        (true, None) => Vec::new(),
    };
    let mut report = Report::new(commit);
    let verified = match attest::verify_commit(repo, commit, &trusted).await? {
        Ok(v) => v,
        Err(problem) => {
            report.problem = Some(problem.to_string());
            return Ok(report);
        }
    };
    report.attested(&verified);
    if let Some(ledger) = ledger {
        match in_ledger(ledger, &verified, &trusted).await? {
            Ok(check) => report.ledger = Some(check),
            Err(problem) => {
                report.problem = Some(problem);
                return Ok(report);
            }
        }
    }
    report.ok = true;
    Ok(report)
}

/// Verifies the package, then the commit's attestation against the keys the package
/// was verified with, and finds the attestation's entry among the package's.
async fn check_with_package(
    repo: &Repo,
    commit: &str,
    keys: &[String],
    path: &std::path::Path,
    out: &Output,
) -> anyhow::Result<Report> {
    use docket_evidence::package::{self, Trust};
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let archive = package::read_zip(&bytes)
        .with_context(|| format!("{} cannot be verified", path.display()))?;
    let trust = if keys.is_empty() {
        Trust::PackageKeys
    } else {
        Trust::Keys(parse_keys(keys)?)
    };
    let mut report = Report::new(commit);
    let verified = match package::verify_archive(&archive, &trust) {
        Ok(v) => v,
        Err(failure) => {
            report.problem = Some(format!(
                "the package {} does not verify: {failure}",
                path.display()
            ));
            return Ok(report);
        }
    };
    if matches!(trust, Trust::PackageKeys) {
        out.note(format!(
            "warning: no --key given: trusting the package's own key {}; this proves the package's integrity, not who made it",
            verified.signed_by
        ));
    }
    let trusted = vec![Verifier::parse(&verified.signed_by)?];
    let attestation = match attest::verify_commit(repo, commit, &trusted).await? {
        Ok(v) => v,
        Err(problem) => {
            report.problem = Some(problem.to_string());
            return Ok(report);
        }
    };
    report.attested(&attestation);
    let manifest: package::Manifest = archive
        .files
        .get(package::MANIFEST)
        .and_then(|m| serde_json::from_slice(m).ok())
        .context("the verified package's manifest cannot be read")?;
    let ours = attestation.envelope.to_json();
    let held = manifest.attestations.iter().find(|a| {
        a.commit == commit
            && archive
                .files
                .get(&a.file)
                .and_then(|b| docket_ledger::dsse::Envelope::parse(b).ok())
                .is_some_and(|e| e.to_json() == ours)
    });
    match held {
        Some(a) => {
            report.ledger = Some(LedgerCheck {
                origin: verified.origin.clone(),
                index: a.entry,
                tree_size: verified.checkpoint_size,
            });
            report.ok = true;
        }
        None => {
            report.problem = Some(format!(
                "the package {} does not hold this commit's attestation",
                path.display()
            ));
        }
    }
    Ok(report)
}

/// Finds the ledger entry that recorded this exact envelope and proves its inclusion
/// against a checkpoint signed by a trusted key.
async fn in_ledger(
    ledger: &Ledger,
    verified: &VerifiedAttestation,
    trusted: &[Verifier],
) -> anyhow::Result<Result<LedgerCheck, String>> {
    // The envelope as docket wrote it (compact JSON), whatever whitespace the note
    // acquired on the way (`git notes add -m` appends a newline).
    let digest = docket_ledger::Digest256::of(verified.envelope.to_json().as_bytes());
    let entries = ledger
        .list(&EntryFilter {
            kind: Some(kinds::ATTESTATION.to_owned()),
            ..EntryFilter::default()
        })
        .await?;
    let found = entries.into_iter().find(|stored| {
        stored.decode().is_ok_and(|entry| {
            entry.payload.get("envelope").and_then(|v| v.as_str()) == Some(&digest.to_string())
        })
    });
    let Some(stored) = found else {
        return Ok(Err(format!(
            "the ledger at {} holds no entry for this attestation ({digest})",
            ledger.location()
        )));
    };
    let checkpoint = match ledger.latest_checkpoint().await? {
        Some(cp) if cp.checkpoint.size > stored.index => cp,
        _ => ledger.checkpoint().await?,
    };
    let size = checkpoint.checkpoint.size;
    let proof = ledger.inclusion_proof(stored.index, size).await?;
    let document = InclusionProof::new(stored.index, &stored.bytes, proof, &checkpoint);
    Ok(match document.check(trusted) {
        Ok(cp) => Ok(LedgerCheck {
            origin: cp.checkpoint.origin,
            index: stored.index,
            tree_size: size,
        }),
        Err(e) => Err(format!(
            "the attestation's ledger entry {} does not prove: {e}",
            stored.index
        )),
    })
}
