//! `docket log …`: append evidence, list and show entries, sign checkpoints, prove and
//! verify.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use docket_ledger::proof::{ConsistencyProof, InclusionProof, ProofDocument};
use docket_ledger::{
    Anchor, Appended, Digest256, EntryFilter, Ledger, NewEntry, StoredEntry, Verifier,
    VerifyOptions, VerifyReport,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::context::GlobalArgs;
use crate::output::Output;
use crate::{Outcome, gitref, timearg};

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Record external evidence (a manual approval, an event from another system).
    /// Prints the entry's index and leaf hash once it is durable.
    Append(AppendArgs),
    /// List entries, oldest first.
    List(ListArgs),
    /// Show one entry with its inclusion proof against the latest checkpoint.
    Show(ShowArgs),
    /// Sign the current tree head and optionally publish it outside the ledger.
    Checkpoint(CheckpointArgs),
    /// Recompute every hash and check every checkpoint; exit 1 naming the first bad entry.
    Verify(VerifyArgs),
    /// Print an inclusion proof (JSON) that a third party can check offline.
    Prove(ProveArgs),
    /// Print a consistency proof (JSON) between two tree sizes.
    Consistency(ConsistencyArgs),
    /// Check a proof printed by `prove` or `consistency` with only a public key.
    CheckProof(CheckProofArgs),
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Entry kind, e.g. `approval` or `ci.event` (a-z, 0-9, `.`, `_`, `-`).
    #[arg(long)]
    kind: String,
    /// The JSON payload, `@FILE` to read it from a file, or `@-` for standard input.
    #[arg(long, value_name = "JSON|@FILE")]
    data: String,
    /// Store a file in the blob store and reference it from the entry (repeatable).
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Treat the data as JSON Lines: append one entry per line, printing each result
    /// as soon as that entry is durable.
    #[arg(long)]
    jsonl: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries of this kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only entries at or after this time (RFC 3339, a date, or an age such as 24h).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only entries before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Entry index.
    index: u64,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Also write the signed checkpoint to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also store it in this git repository under refs/docket/checkpoints.
    #[arg(long, value_name = "DIR")]
    git_ref: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A checkpoint saved earlier (a signed note file); the ledger must still contain
    /// exactly the history it commits to (repeatable).
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// Check every checkpoint stored under refs/docket/checkpoints in this repository.
    #[arg(long, value_name = "DIR")]
    git_ref: Option<PathBuf>,
    /// A public key (`name+id+key` or `@FILE`) that must be in the ledger's key chain.
    // A plain FILE works too, and verify needs no private key (auditor mode, see
    // docs/ledger.md); the help text is kept as is because it is snapshotted.
    #[arg(long, value_name = "VKEY|@FILE")]
    key: Vec<String>,
    /// Also check that every blob the entries reference is present and intact.
    #[arg(long)]
    blobs: bool,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Entry index.
    index: u64,
    /// Tree size to prove against (default: the latest checkpoint).
    #[arg(long)]
    size: Option<u64>,
    /// Write the proof to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    old: u64,
    new: u64,
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// Proof file (`-` for standard input).
    file: PathBuf,
    /// Trusted public key(s): `name+id+key` or `@FILE`.
    #[arg(long, value_name = "VKEY|@FILE", required = true)]
    key: Vec<String>,
}

impl LogCommand {
    /// True for the commands that only read the ledger (they must not create one).
    pub fn only_reads(&self) -> bool {
        !matches!(self, LogCommand::Append(_) | LogCommand::Checkpoint(_))
    }
}

pub async fn run(cmd: LogCommand, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    if let LogCommand::CheckProof(args) = cmd {
        return check_proof(args, out);
    }
    let ledger = global.open_ledger().await?;
    let result = match cmd {
        LogCommand::Append(args) => append(args, &ledger, out).await,
        LogCommand::List(args) => list(args, &ledger, out).await,
        LogCommand::Show(args) => show(args, &ledger, out).await,
        LogCommand::Checkpoint(args) => checkpoint(args, &ledger, out).await,
        LogCommand::Verify(args) => verify(args, &ledger, out).await,
        LogCommand::Prove(args) => prove(args, &ledger, out).await,
        LogCommand::Consistency(args) => consistency(args, &ledger, out).await,
        LogCommand::CheckProof(args) => check_proof(args, out),
    };
    ledger.close().await;
    result
}

/// Reads `@FILE`, `@-` or the literal text.
pub fn read_arg(value: &str) -> anyhow::Result<String> {
    match value.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(value.to_owned()),
    }
}

pub fn parse_keys(values: &[String]) -> anyhow::Result<Vec<Verifier>> {
    values
        .iter()
        .map(|v| {
            // A plain path to a key file works too (a key text is never a file name).
            let text = if !v.starts_with('@') && Path::new(v).is_file() {
                std::fs::read_to_string(v).with_context(|| format!("cannot read {v}"))?
            } else {
                read_arg(v)?
            };
            Verifier::parse(text.trim()).with_context(|| format!("invalid public key {v}"))
        })
        .collect()
}

/// An entry as the CLI shows it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    pub index: u64,
    pub time: String,
    pub kind: String,
    pub payload: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest256>,
    pub leaf_hash: String,
}

impl EntryView {
    pub fn from_stored(stored: &StoredEntry) -> anyhow::Result<EntryView> {
        let entry = stored.decode()?;
        Ok(EntryView {
            index: entry.index,
            time: entry.time,
            kind: entry.kind,
            payload: entry.payload,
            blobs: entry.blobs,
            leaf_hash: stored.leaf_hash().to_hex(),
        })
    }
}

#[derive(Debug, Serialize)]
struct AppendedView {
    index: u64,
    leaf_hash: String,
    time: String,
    tree_size: u64,
}

impl From<&Appended> for AppendedView {
    fn from(a: &Appended) -> Self {
        AppendedView {
            index: a.index,
            leaf_hash: a.leaf_hash.to_hex(),
            time: a.time.clone(),
            tree_size: a.tree_size,
        }
    }
}

/// Parses a payload, refusing one that carries a secret: ledger entries can never be
/// changed or deleted, so a pasted token would be kept forever.
fn parse_payload(text: &str, what: &str) -> anyhow::Result<Value> {
    refuse_secrets(text.as_bytes(), what)?;
    serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))
}

fn refuse_secrets(bytes: &[u8], what: &str) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let findings = docket_core::secrets::SecretScanner::builtin().scan(&text);
    if let Some(first) = findings.first() {
        bail!(
            "{what} contains what looks like a secret ({first}); nothing was recorded\nhint: remove it — ledger entries and evidence are kept forever"
        );
    }
    Ok(())
}

async fn append(args: AppendArgs, ledger: &Ledger, out: &Output) -> anyhow::Result<Outcome> {
    let mut blobs = Vec::new();
    for path in &args.attach {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        refuse_secrets(&bytes, &path.display().to_string())?;
        let digest = ledger.blobs().put(&bytes)?;
        if !out.json() {
            out.note(format!("attached {} as {digest}", path.display()));
        }
        blobs.push(digest);
    }
    if args.jsonl {
        return append_lines(&args, blobs, ledger, out).await;
    }
    let text = read_arg(&args.data)?;
    let payload = parse_payload(&text, "--data")?;
    let appended = ledger
        .append(NewEntry::new(&args.kind, payload).with_blobs(blobs))
        .await?;
    if out.json() {
        out.json_value(&AppendedView::from(&appended))?;
    } else {
        out.line(format!(
            "appended entry {} (leaf hash {})",
            appended.index, appended.leaf_hash
        ));
    }
    Ok(Outcome::Success)
}

/// Most appends in flight at once from `--jsonl`.
const MAX_IN_FLIGHT: usize = 4096;

/// Appends one entry per input line, many in flight at once so that group commit can
/// batch them; each result is printed as soon as its entry is durable.
async fn append_lines(
    args: &AppendArgs,
    blobs: Vec<Digest256>,
    ledger: &Ledger,
    out: &Output,
) -> anyhow::Result<Outcome> {
    let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match args.data.strip_prefix('@') {
        Some("-") => Box::new(tokio::io::stdin()),
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot read {path}"))?,
        ),
        None => bail!(
            "--jsonl reads lines from a file or standard input: pass --data @FILE or --data @-"
        ),
    };
    let mut lines = tokio::io::BufReader::new(reader).lines();
    let mut in_flight = FuturesUnordered::new();
    let mut input_done = false;
    let (mut line_no, mut printed, mut failed) = (0u64, 0u64, None);
    loop {
        tokio::select! {
            line = lines.next_line(), if !input_done && in_flight.len() < MAX_IN_FLIGHT => {
                match line.context("cannot read input")? {
                    None => input_done = true,
                    Some(line) => {
                        line_no += 1;
                        if line.trim().is_empty() {
                            continue;
                        }
                        let payload = parse_payload(&line, &format!("line {line_no}"))?;
                        let entry = NewEntry::new(&args.kind, payload).with_blobs(blobs.clone());
                        in_flight.push(ledger.append(entry));
                    }
                }
            }
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                print_appended(result.map_err(anyhow::Error::from), out, &mut printed, &mut failed);
            }
            else => break,
        }
    }
    match failed {
        Some(err) => Err(err.context(format!(
            "{printed} entries were appended before the failure"
        ))),
        None => Ok(Outcome::Success),
    }
}

fn print_appended(
    result: anyhow::Result<Appended>,
    out: &Output,
    printed: &mut u64,
    failed: &mut Option<anyhow::Error>,
) {
    match result {
        Ok(a) => {
            *printed += 1;
            if out.json() {
                if let Ok(text) = serde_json::to_string(&AppendedView::from(&a)) {
                    out.line(text);
                }
            } else {
                out.line(format!("{} {}", a.index, a.leaf_hash));
            }
        }
        Err(e) => {
            if failed.is_none() {
                *failed = Some(e);
            }
        }
    }
}

fn summary(payload: &Value) -> String {
    let text = payload.to_string();
    if text.chars().count() > 72 {
        let cut: String = text.chars().take(71).collect();
        format!("{cut}…")
    } else {
        text
    }
}

async fn list(args: ListArgs, ledger: &Ledger, out: &Output) -> anyhow::Result<Outcome> {
    let filter = EntryFilter {
        kind: args.kind,
        since_us: args
            .since
            .as_deref()
            .map(timearg::parse_time)
            .transpose()?
            .map(timearg::micros),
        until_us: args
            .until
            .as_deref()
            .map(timearg::parse_time)
            .transpose()?
            .map(timearg::micros),
        limit: args.limit,
    };
    let entries = ledger.list(&filter).await?;
    let views = entries
        .iter()
        .map(EntryView::from_stored)
        .collect::<anyhow::Result<Vec<_>>>()?;
    if out.json() {
        out.json_value(&views)?;
    } else if views.is_empty() {
        out.note("no entries match");
    } else {
        for v in &views {
            out.line(format!(
                "{:>6}  {}  {:<20}  {}",
                v.index,
                v.time,
                v.kind,
                summary(&v.payload)
            ));
        }
    }
    Ok(Outcome::Success)
}

async fn latest_or_fresh_checkpoint(
    ledger: &Ledger,
) -> anyhow::Result<docket_ledger::SignedCheckpoint> {
    match ledger.latest_checkpoint().await? {
        Some(cp) => Ok(cp),
        None => Ok(ledger.checkpoint().await?),
    }
}

async fn show(args: ShowArgs, ledger: &Ledger, out: &Output) -> anyhow::Result<Outcome> {
    let stored = ledger.entry(args.index).await?;
    let view = EntryView::from_stored(&stored)?;
    let cp = latest_or_fresh_checkpoint(ledger).await?;
    let proof = ledger
        .inclusion_proof(args.index, cp.checkpoint.size)
        .await?;
    let doc = InclusionProof::new(args.index, &stored.bytes, proof, &cp);
    if out.json() {
        #[derive(Serialize)]
        struct Show<'a> {
            #[serde(flatten)]
            entry: &'a EntryView,
            inclusion: &'a InclusionProof,
        }
        out.json_value(&Show {
            entry: &view,
            inclusion: &doc,
        })?;
        return Ok(Outcome::Success);
    }
    out.line(format!("entry      {}", view.index));
    out.line(format!("time       {}", view.time));
    out.line(format!("kind       {}", view.kind));
    out.line(format!("leaf hash  {}", view.leaf_hash));
    for b in &view.blobs {
        out.line(format!("blob       {b}"));
    }
    out.line("payload");
    for l in serde_json::to_string_pretty(&view.payload)?.lines() {
        out.line(format!("  {l}"));
    }
    out.line(format!(
        "inclusion proof against checkpoint of size {} (root {}):",
        cp.checkpoint.size, cp.checkpoint.root
    ));
    if doc.proof.is_empty() {
        out.line("  (empty: the entry is the whole tree)");
    }
    for h in &doc.proof {
        out.line(format!("  {h}"));
    }
    Ok(Outcome::Success)
}

async fn checkpoint(
    args: CheckpointArgs,
    ledger: &Ledger,
    out: &Output,
) -> anyhow::Result<Outcome> {
    // Check where it goes before signing anything.
    if let Some(dir) = &args.git_ref {
        gitref::git(dir, &["rev-parse", "--git-dir"], None)
            .with_context(|| format!("{} is not a git repository", dir.display()))?;
    }
    let cp = ledger.checkpoint().await?;
    if let Some(path) = &args.out {
        write_file(path, cp.note.as_bytes())?;
    }
    let commit = match &args.git_ref {
        Some(dir) => Some(gitref::store_checkpoint(dir, &cp)?),
        None => None,
    };
    if out.json() {
        #[derive(Serialize)]
        struct View<'a> {
            origin: &'a str,
            size: u64,
            root: String,
            note: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            git_commit: Option<String>,
        }
        out.json_value(&View {
            origin: &cp.checkpoint.origin,
            size: cp.checkpoint.size,
            root: cp.checkpoint.root.to_hex(),
            note: &cp.note,
            git_commit: commit,
        })?;
    } else {
        out.line(cp.note.trim_end());
        if let Some(path) = &args.out {
            out.note(format!("wrote {}", path.display()));
        }
        if let (Some(dir), Some(commit)) = (&args.git_ref, commit) {
            out.note(format!(
                "stored in {} as {} ({commit})",
                dir.display(),
                gitref::CHECKPOINT_REF
            ));
        }
    }
    Ok(Outcome::Success)
}

pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

async fn verify(args: VerifyArgs, ledger: &Ledger, out: &Output) -> anyhow::Result<Outcome> {
    let mut anchors = Vec::new();
    for path in &args.checkpoint {
        let note = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        anchors.push(Anchor {
            label: path.display().to_string(),
            note,
        });
    }
    if let Some(dir) = &args.git_ref {
        anchors.extend(gitref::load_checkpoints(dir)?);
    }
    let options = VerifyOptions {
        anchors,
        trusted_keys: parse_keys(&args.key)?,
        check_blobs: args.blobs,
    };
    let report = ledger.verify(&options).await?;
    print_report(&report, out)?;
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn print_report(report: &VerifyReport, out: &Output) -> anyhow::Result<()> {
    if out.json() {
        #[derive(Serialize)]
        struct View<'a> {
            ok: bool,
            #[serde(flatten)]
            report: &'a VerifyReport,
        }
        return out.json_value(&View {
            ok: report.ok(),
            report,
        });
    }
    out.line(format!("ledger     {}", report.origin));
    if report.entries < report.stored_entries {
        out.line(format!(
            "entries    {} verified before the first problem",
            report.entries
        ));
    } else {
        out.line(format!("entries    {}", report.entries));
    }
    out.line(format!("root       {}", report.root));
    let external = if report.anchors_checked < report.anchors_given {
        format!("{} of {}", report.anchors_checked, report.anchors_given)
    } else {
        report.anchors_checked.to_string()
    };
    out.line(format!(
        "checkpoints verified: {} stored, {external} external",
        report.checkpoints_checked
    ));
    for k in &report.keys {
        out.line(format!(
            "key        {} (checkpoints from size {})",
            k.key, k.from_size
        ));
    }
    if let Some(b) = &report.blobs {
        out.line(format!(
            "blobs      {} referenced, {} intact, {} shredded",
            b.referenced,
            b.present,
            b.shredded.len()
        ));
        for s in &b.shredded {
            let note = if s.content_remains {
                " (content still on disk: run the shred again)"
            } else {
                ""
            };
            out.line(format!(
                "  shredded {} by entry {}{note}",
                s.digest, s.entry
            ));
        }
    }
    match report.problems.first() {
        None => out.line("OK: every entry, tree node and checkpoint verifies"),
        Some(first) => {
            out.line(format!("FAILED: {}", first.message));
            for p in report.problems.iter().skip(1) {
                out.line(format!("  also: {}", p.message));
            }
            if report.problems_truncated {
                out.line(format!(
                    "  … the report stops after {} problems; there are more",
                    report.problems.len()
                ));
            }
        }
    }
    Ok(())
}

fn emit_document<T: Serialize>(doc: &T, path: Option<&Path>, out: &Output) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(doc)?;
    match path {
        Some(p) => {
            write_file(p, format!("{text}\n").as_bytes())?;
            out.note(format!("wrote {}", p.display()));
        }
        None => out.line(text),
    }
    Ok(())
}

async fn prove(args: ProveArgs, ledger: &Ledger, out: &Output) -> anyhow::Result<Outcome> {
    let cp = match args.size {
        Some(size) => ledger.checkpoint_at(size).await?,
        None => latest_or_fresh_checkpoint(ledger).await?,
    };
    let size = cp.checkpoint.size;
    let stored = ledger.entry(args.index).await?;
    let proof = ledger.inclusion_proof(args.index, size).await?;
    emit_document(
        &InclusionProof::new(args.index, &stored.bytes, proof, &cp),
        args.out.as_deref(),
        out,
    )?;
    Ok(Outcome::Success)
}

async fn consistency(
    args: ConsistencyArgs,
    ledger: &Ledger,
    out: &Output,
) -> anyhow::Result<Outcome> {
    if args.old == 0 || args.old > args.new {
        bail!(
            "OLD must be at least 1 and at most NEW (got {} and {})",
            args.old,
            args.new
        );
    }
    let old = ledger.checkpoint_at(args.old).await?;
    let new = ledger.checkpoint_at(args.new).await?;
    let proof = ledger.consistency_proof(args.old, args.new).await?;
    emit_document(
        &ConsistencyProof::new(proof, &old, &new),
        args.out.as_deref(),
        out,
    )?;
    Ok(Outcome::Success)
}

fn check_proof(args: CheckProofArgs, out: &Output) -> anyhow::Result<Outcome> {
    let text = if args.file.as_os_str() == "-" {
        read_arg("@-")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let keys = parse_keys(&args.key)?;
    let document = ProofDocument::parse(&text)
        .with_context(|| format!("{} is not a docket proof", args.file.display()))?;
    let (ok, message) = match &document {
        ProofDocument::Inclusion(p) => match p.check(&keys) {
            Ok(cp) => (
                true,
                format!(
                    "OK: entry {} is included in {} at tree size {}",
                    p.index, cp.checkpoint.origin, p.tree_size
                ),
            ),
            Err(e) => (false, format!("FAILED: {e}")),
        },
        ProofDocument::Consistency(p) => match p.check(&keys) {
            Ok(()) => (
                true,
                format!(
                    "OK: tree size {} is a prefix of tree size {}",
                    p.old_size, p.new_size
                ),
            ),
            Err(e) => (false, format!("FAILED: {e}")),
        },
    };
    if out.json() {
        out.json_value(&serde_json::json!({"ok": ok, "message": message}))?;
    } else {
        out.line(message);
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
