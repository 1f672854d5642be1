//! `docket export` writes an audit package; `docket verify-package` checks one offline.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use docket_evidence::package::{self, ExportOptions, Failure, Selection, Summary, Trust, Verified};
use docket_ledger::Anchor;
use serde::Serialize;

use crate::context::GlobalArgs;
use crate::log_cmd::parse_keys;
use crate::output::Output;
use crate::{Outcome, timearg};

#[derive(Debug, Args)]
#[command(
    after_help = "The package holds, for each selected run: its latest run record and every \
stage entry it lists (exact bytes), approvals and exceptions, an inclusion proof of each \
entry against one signed checkpoint, the blobs they reference (or the record that they \
were shredded), the run's attestation, the ledger's key chain, a manifest of every file \
with its SHA-256 signed with the ledger's key, the control mapping, and report.html. \
Filters combine: a run must match all of them. Needs the ledger's private key (DOCKET_HOME) \
to sign the manifest."
)]
pub struct ExportArgs {
    /// Only runs that started at or after this time (RFC 3339, a date, or an age such
    /// as 7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only runs that started before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only runs of this ticket (repeatable).
    #[arg(long, value_name = "ID")]
    ticket: Vec<String>,
    /// Only this run: its id or a unique prefix (repeatable).
    #[arg(long, value_name = "RUN")]
    run: Vec<String>,
    /// A checkpoint kept earlier (a signed note file, e.g. from `docket log checkpoint
    /// --out`): add a proof that the ledger only grew since. Refused when the ledger is
    /// not an extension of it (repeatable).
    #[arg(long, value_name = "CHECKPOINT")]
    against: Vec<PathBuf>,
    /// Where to write the package.
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Checks, in order, stopping at the first failure: the key chain \
(each rotation signed by the old and the new key) and that it holds a trusted key; \
manifest.sig over manifest.json; that every listed file is present with its SHA-256 and \
no other file is; the checkpoint signature; every entry's bytes and inclusion proof; \
the key chain against the genesis and rotation entries; that each run's record lists only \
entries in the package; every referenced blob (or its shred entry); every attestation \
(DSSE signature, and that it names the commit the run published); the consistency \
proofs. Exit 0 verified, 1 a check failed (the message names it), 2 the file is not \
a readable package."
)]
pub struct VerifyPackageArgs {
    /// The package (zip) to verify.
    file: PathBuf,
    /// The ledger's public key (`name+hash+key`, or @FILE), obtained from its owner
    /// (`docket key show`); repeatable. Without it, the package's own key is trusted,
    /// which proves the package is intact, not who made it.
    #[arg(long, value_name = "PUBKEY")]
    key: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ExportView<'a> {
    file: String,
    bytes: u64,
    #[serde(flatten)]
    summary: &'a Summary,
}

pub async fn export(
    args: ExportArgs,
    global: &GlobalArgs,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let time = |text: &Option<String>| -> anyhow::Result<Option<i64>> {
        text.as_deref()
            .map(timearg::parse_time)
            .transpose()
            .map(|t| t.map(timearg::micros))
    };
    let mut against = Vec::new();
    for path in &args.against {
        let note = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        against.push(Anchor {
            label: path.display().to_string(),
            note,
        });
    }
    let options = ExportOptions {
        since_us: time(&args.since)?,
        until_us: time(&args.until)?,
        tickets: args.ticket.clone(),
        runs: args.run.clone(),
        against,
        selection: Selection {
            since: args.since.clone(),
            until: args.until.clone(),
            tickets: args.ticket.clone(),
            runs: args.run.clone(),
        },
    };
    let ledger = global.open_ledger().await?;
    let built = package::build(&ledger, &options).await;
    ledger.close().await;
    let built = built?;
    let bytes = package::write_zip(&built.files)?;
    write_atomic(&args.out, &bytes)?;
    let summary = &built.summary;
    if out.json() {
        out.json_value(&ExportView {
            file: args.out.display().to_string(),
            bytes: bytes.len() as u64,
            summary,
        })?;
        return Ok(Outcome::Success);
    }
    out.line(format!(
        "wrote {} ({})",
        args.out.display(),
        human_size(bytes.len() as u64)
    ));
    out.line(format!("  runs          {}", summary.runs));
    out.line(format!(
        "  entries       {}, each with an inclusion proof",
        summary.entries
    ));
    out.line(format!(
        "  blobs         {} ({} shredded)",
        summary.blobs, summary.shredded
    ));
    out.line(format!("  attestations  {}", summary.attestations));
    if summary.consistency > 0 {
        out.line(format!("  consistency   {} proof(s)", summary.consistency));
    }
    out.line(format!(
        "  checkpoint    {} at tree size {}, root {}",
        summary.origin, summary.checkpoint_size, summary.checkpoint_root
    ));
    out.line(format!("  signed by     {}", summary.key));
    out.note(format!(
        "hint: an auditor verifies it with `docket verify-package {} --key '{}'`",
        args.out.display(),
        summary.key
    ));
    Ok(Outcome::Success)
}

/// Writes next to the target, then renames: a reader never sees half a package.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[derive(Debug, Serialize)]
struct VerifyView<'a> {
    ok: bool,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<&'a Verified>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

pub async fn verify_package(args: VerifyPackageArgs, out: &Output) -> anyhow::Result<Outcome> {
    let path = args.file.display().to_string();
    let trust = if args.key.is_empty() {
        Trust::PackageKeys
    } else {
        Trust::Keys(parse_keys(&args.key)?)
    };
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {path}"))?;
    let archive =
        package::read_zip(&bytes).with_context(|| format!("{path} cannot be verified"))?;
    let result = package::verify_archive(&archive, &trust);
    let warning = match (&trust, &result) {
        (Trust::PackageKeys, Ok(v)) => Some(format!(
            "no --key given: the package was checked against its own key {}; this proves it is intact, not who made it. Pass --key with the ledger's public key obtained from its owner.",
            v.signed_by
        )),
        _ => None,
    };
    if out.json() {
        out.json_value(&VerifyView {
            ok: result.is_ok(),
            file: path,
            verified: result.as_ref().ok(),
            failure: result.as_ref().err(),
            warning,
        })?;
    } else {
        match &result {
            Ok(v) => {
                out.line(format!("OK: {path} verifies"));
                out.line(format!(
                    "  ledger        {} at tree size {}, root {}",
                    v.origin, v.checkpoint_size, v.checkpoint_root
                ));
                out.line(format!(
                    "  signed by     {}{}",
                    v.signed_by,
                    if v.trusted_key_given {
                        " (reached from the key given with --key)"
                    } else {
                        " (the package's own key: not checked against a trusted key)"
                    }
                ));
                out.line(format!("  runs          {}", v.runs));
                out.line(format!(
                    "  entries       {}, each included in the checkpoint",
                    v.entries
                ));
                out.line(format!(
                    "  blobs         {} intact, {} shredded",
                    v.blobs, v.shredded
                ));
                out.line(format!("  attestations  {} verified", v.attestations));
                out.line(format!("  consistency   {} proof(s)", v.consistency));
                out.line(format!("  files         {}, every one as listed", v.files));
            }
            Err(failure) => out.line(format!("FAILED: {failure}")),
        }
        if let Some(w) = &warning {
            out.note(format!("warning: {w}"));
        }
    }
    Ok(if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
