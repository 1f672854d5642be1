//! Audit packages: a zip that lets an auditor check a set of governed runs offline,
//! with nothing but the package and the ledger's public key (docs/audit-package.md).
//!
//! A package holds the selected runs' ledger entries (their exact bytes), an inclusion
//! proof of each against one signed checkpoint, consistency proofs to checkpoints the
//! auditor kept, the blobs the entries reference (or the record of their shredding),
//! the runs' attestations, the key chain, the control mapping, a readable report, and
//! a manifest listing every file with its SHA-256, signed with the ledger's key.
//!
//! Invariants:
//! - Verification is pure: it reads the archive's bytes and the trusted keys, nothing
//!   else, and stops at the first failure, which it names (file, entry, expectation).
//! - The manifest signature covers the list of files and entries, so removing a file
//!   or an entry together with its manifest line is detected, not only changing one.
//! - Nothing is added to a package that is not already evidence: blobs are copied as
//!   stored (already redacted), and no key other than public keys is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use docket_ledger::checkpoint::SignedCheckpoint;
use docket_ledger::entry::{Entry, kinds as ledger_kinds};
use docket_ledger::hash::leaf_hash;
use docket_ledger::merkle::{self, Subtree};
use docket_ledger::note;
use docket_ledger::proof::{ConsistencyProof, INCLUSION_FORMAT, InclusionProof};
use docket_ledger::{
    Anchor, BlobError, Digest256, EntryFilter, Hash, Ledger, LedgerError, Signer, StoredEntry,
    Verifier,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report;
use docket_core::record::{RunRecord, kinds};

/// `format` of a package's manifest.
pub const FORMAT: &str = "docket.audit-package/v1";
/// `format` of `keys/chain.json`.
pub const KEY_CHAIN_FORMAT: &str = "docket.key-chain/v1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const CHECKPOINT: &str = "checkpoint.note";
pub const KEY_CHAIN: &str = "keys/chain.json";
pub const CONTROLS: &str = "controls.json";
pub const REPORT: &str = "report.html";
pub const README: &str = "README.txt";

/// The control mapping, as data (sources cited in the file).
/// Now, as an RFC 3339 timestamp to the microsecond (the manifest's creation time).
fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Microsecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

const CONTROLS_TOML: &str = include_str!("../controls/change-management.toml");

/// Largest single file read from an archive, and largest total: a guard against
/// archives that decompress to far more than they hold.
const MAX_FILE_BYTES: u64 = 1 << 30;
const MAX_TOTAL_BYTES: u64 = 8 << 30;

/// Below this ledger size, or when the package needs a large share of the ledger,
/// export reads every entry once and computes proofs in memory instead of asking the
/// database for each.
const FULL_SCAN_SIZE: u64 = 50_000;

/// A package's files by path.
pub type Files = BTreeMap<String, Vec<u8>>;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("no runs match the selection{detail}; `docket runs list` shows the recorded runs")]
    NoRuns { detail: String },
    #[error("--run {prefix}: {reason}")]
    Run { prefix: String, reason: String },
    #[error("checkpoint {label} cannot be used with --against: {reason}")]
    Against { label: String, reason: String },
    #[error(
        "blob {digest}, referenced by entry {entry}, cannot be exported: {source}; run `docket log verify --blobs`"
    )]
    Blob {
        digest: Digest256,
        entry: u64,
        source: Box<BlobError>,
    },
    #[error("the ledger at {location} is inconsistent: {detail}; run `docket log verify`")]
    Damaged { location: String, detail: String },
    #[error("cannot sign the package: {0}")]
    Sign(String),
    #[error("the built-in control mapping is invalid: {0}")]
    Controls(String),
    #[error("cannot render report.html: {0}")]
    Report(String),
    #[error("cannot write the zip archive: {0}")]
    WriteZip(String),
    #[error("not a zip archive: {0}")]
    ReadZip(String),
    #[error("not a docket audit package: {0}")]
    NotAPackage(String),
}

// ---------------------------------------------------------------------------------
// The control mapping.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlMapping {
    pub schema: String,
    #[serde(rename(deserialize = "control", serialize = "controls"))]
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub framework: String,
    pub id: String,
    pub title: String,
    pub requirement: String,
    pub source: String,
    pub url: String,
    pub evidence: Vec<ControlEvidence>,
}

impl Control {
    /// `SOC 2 CC8.1`, `ISO/IEC 27001:2022 A.8.32`, …
    pub fn label(&self) -> String {
        format!("{} {}", self.framework, self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEvidence {
    /// A ledger entry kind or a package artefact (see [`ARTEFACTS`]).
    pub evidence: String,
    pub why: String,
}

/// Evidence that is a part of the package rather than a kind of ledger entry, and
/// where it is.
pub const ARTEFACTS: [(&str, &str); 5] = [
    ("checkpoint", CHECKPOINT),
    ("inclusion-proofs", "proofs/"),
    ("consistency-proofs", "consistency/"),
    ("manifest", MANIFEST),
    ("report", REPORT),
];

/// Entry kinds the mapping may name.
const ENTRY_KINDS: [&str; 21] = [
    kinds::INTAKE,
    kinds::POLICY,
    kinds::STARTED,
    kinds::AGENT,
    kinds::DIFF,
    kinds::RULES,
    kinds::VALIDATION,
    kinds::CHECK,
    kinds::APPROVAL,
    kinds::EXCEPTION,
    kinds::PUBLISHED,
    kinds::ATTESTATION,
    kinds::DISCARDED,
    kinds::RECORD,
    kinds::MODEL_EXCHANGE,
    kinds::MODEL_DENIAL,
    kinds::MODEL_BUDGET,
    kinds::REPLAY,
    ledger_kinds::GENESIS,
    ledger_kinds::KEY_ROTATE,
    ledger_kinds::BLOB_SHRED,
];

/// The control mapping embedded in this build.
pub fn controls() -> Result<ControlMapping, PackageError> {
    let mapping: ControlMapping =
        toml::from_str(CONTROLS_TOML).map_err(|e| PackageError::Controls(e.to_string()))?;
    for control in &mapping.controls {
        for item in &control.evidence {
            let known = ENTRY_KINDS.contains(&item.evidence.as_str())
                || ARTEFACTS.iter().any(|(name, _)| *name == item.evidence);
            if !known {
                return Err(PackageError::Controls(format!(
                    "{} names unknown evidence `{}`",
                    control.label(),
                    item.evidence
                )));
            }
        }
    }
    Ok(mapping)
}

// ---------------------------------------------------------------------------------
// The manifest and the other JSON documents of a package.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub created_at: String,
    pub docket_version: String,
    pub origin: String,
    pub checkpoint: CheckpointRef,
    pub selection: Selection,
    pub runs: Vec<RunRef>,
    pub entries: Vec<EntryRef>,
    pub blobs: Vec<BlobRef>,
    pub attestations: Vec<AttestationRef>,
    pub consistency: Vec<ConsistencyRef>,
    pub key_chain: String,
    /// Every piece of evidence in the package, by kind, with the controls it supports.
    pub evidence: Vec<EvidenceRef>,
    pub controls: Vec<Control>,
    /// Every file of the package except `manifest.json` and `manifest.sig`.
    pub files: Vec<FileRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    pub file: String,
    pub size: u64,
    pub root: Hash,
}

/// What was asked for, as given (for the record; verification does not use it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub since: Option<String>,
    pub until: Option<String>,
    pub tickets: Vec<String>,
    pub runs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRef {
    pub run_id: String,
    pub ticket: String,
    pub status: String,
    pub started_at: String,
    /// The run's latest `run.record` entry.
    pub record: u64,
    /// The stage entries that record lists.
    pub stages: Vec<u64>,
    /// Approvals and exceptions granted for the run, and the decisions that allowed them.
    pub related: Vec<u64>,
    pub attestation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    pub index: u64,
    pub kind: String,
    pub leaf_hash: Hash,
    pub file: String,
    pub proof: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    pub digest: Digest256,
    /// `blobs/sha256/<hex>`, or none when the blob was shredded.
    pub file: Option<String>,
    /// The `blob.shred` entry, when shredded.
    pub shredded_by: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRef {
    pub run_id: String,
    pub commit: String,
    pub file: String,
    /// The `run.attestation` entry.
    pub entry: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyRef {
    pub label: String,
    pub old_size: u64,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRef {
    pub evidence: String,
    pub controls: Vec<String>,
    pub entries: Vec<u64>,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub path: String,
    pub sha256: Hash,
    pub size: u64,
}

/// `keys/chain.json`: the ledger's first key and every rotation, each rotation
/// statement signed by the old and the new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChain {
    pub format: String,
    pub origin: String,
    /// The key of the genesis entry (entry 0).
    pub genesis: String,
    pub rotations: Vec<Rotation>,
    /// The key that signs the checkpoint and the manifest.
    pub current: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub entry: u64,
    pub old_key: String,
    pub new_key: String,
    pub statement: String,
}

/// `shredded/<hex>.json`: why a referenced blob's content is not in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShredRecord {
    pub digest: Digest256,
    pub entry: u64,
    pub reason: Option<String>,
}

fn entry_file(index: u64) -> String {
    format!("entries/{index}.json")
}

fn proof_file(index: u64) -> String {
    format!("proofs/{index}.json")
}

fn blob_file(digest: &Digest256) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn shred_file(digest: &Digest256) -> String {
    format!("shredded/{}.json", digest.hex())
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain documents cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The exact text `manifest.sig` signs (a C2SP signed note).
fn signature_text(origin: &str, manifest: &[u8]) -> String {
    format!(
        "docket audit package\nformat {FORMAT}\norigin {origin}\nmanifest sha256:{}\n",
        Hash::digest(manifest)
    )
}

// ---------------------------------------------------------------------------------
// Export.

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Runs that started at or after this time (microseconds since the epoch).
    pub since_us: Option<i64>,
    /// Runs that started before this time.
    pub until_us: Option<i64>,
    pub tickets: Vec<String>,
    /// Run ids or unique prefixes.
    pub runs: Vec<String>,
    /// Checkpoints the auditor kept; the package proves the ledger only grew since.
    pub against: Vec<Anchor>,
    /// The selection as the user wrote it, for the manifest.
    pub selection: Selection,
}

/// A built package: its files, and what is in it.
#[derive(Debug, Clone)]
pub struct Package {
    pub files: Files,
    pub summary: Summary,
}

/// Counts of what a package holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub origin: String,
    pub runs: usize,
    pub entries: usize,
    pub blobs: usize,
    pub shredded: usize,
    pub attestations: usize,
    pub consistency: usize,
    pub checkpoint_size: u64,
    pub checkpoint_root: Hash,
    pub key: String,
}

struct Selected {
    stored: StoredEntry,
    record: RunRecord,
}

/// Builds a package of the runs `options` selects from `ledger`.
pub async fn build(ledger: &Ledger, options: &ExportOptions) -> Result<Package, PackageError> {
    let location = ledger.location().to_owned();
    let damaged = |detail: String| PackageError::Damaged {
        location: location.clone(),
        detail,
    };
    // The size first: everything exported is below it, whatever is appended meanwhile.
    let size = ledger.size().await?;
    // The last group commit stored the checkpoint of this size (`checkpoint_at` reads
    // and parses every stored checkpoint to find it, so try the latest first).
    let checkpoint = match ledger.latest_checkpoint().await? {
        Some(cp) if cp.checkpoint.size == size => cp,
        _ => ledger.checkpoint_at(size).await?,
    };
    let current = ledger.signing_key().await?;
    let signer = ledger
        .keys()
        .find(&current)
        .map_err(|e| PackageError::Sign(e.to_string()))?;
    SignedCheckpoint::open(&checkpoint.note, std::slice::from_ref(&current)).map_err(|e| {
        damaged(format!(
            "the checkpoint of size {size} does not verify with the current key: {e}"
        ))
    })?;

    let selected = select_runs(ledger, size, options).await?;
    let run_ids: BTreeSet<&str> = selected.iter().map(|s| s.record.run_id.as_str()).collect();
    let related = related_entries(ledger, size, &run_ids).await?;
    let rotations: Vec<StoredEntry> = ledger
        .list(&EntryFilter {
            kind: Some(ledger_kinds::KEY_ROTATE.into()),
            ..EntryFilter::default()
        })
        .await?
        .into_iter()
        .filter(|e| e.index < size)
        .collect();
    let shreds: BTreeMap<Digest256, (u64, Option<String>)> = ledger
        .list(&EntryFilter {
            kind: Some(ledger_kinds::BLOB_SHRED.into()),
            ..EntryFilter::default()
        })
        .await?
        .into_iter()
        .filter(|e| e.index < size)
        .filter_map(|stored| {
            let entry = stored.decode().ok()?;
            let digest = entry.payload.get("digest")?.as_str()?.parse().ok()?;
            let reason = entry
                .payload
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((digest, (stored.index, reason)))
        })
        .collect();

    // Which entries: the genesis, the rotations, and every entry of every run.
    let mut wanted: BTreeSet<u64> = BTreeSet::from([0]);
    wanted.extend(rotations.iter().map(|e| e.index));
    for s in &selected {
        wanted.insert(s.stored.index);
        wanted.extend(s.record.ledger.stages.iter().copied());
        wanted.extend(
            related
                .get(s.record.run_id.as_str())
                .into_iter()
                .flatten()
                .copied(),
        );
    }
    // Blobs the entries reference; a shredded one brings its shred entry.
    let mut fetched = fetch_entries(ledger, size, &wanted).await?;
    let mut blobs: BTreeMap<Digest256, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    let mut shred_entries: BTreeSet<u64> = BTreeSet::new();
    for (index, entry) in &fetched.decoded {
        if entry.kind == ledger_kinds::BLOB_SHRED {
            continue;
        }
        for digest in &entry.blobs {
            if blobs.contains_key(digest) {
                continue;
            }
            let content = match ledger.blobs().get(digest) {
                Ok(bytes) => Some(bytes),
                Err(BlobError::Missing { .. }) if shreds.contains_key(digest) => {
                    if let Some((shred, _)) = shreds.get(digest) {
                        shred_entries.insert(*shred);
                    }
                    None
                }
                Err(source) => {
                    return Err(PackageError::Blob {
                        digest: *digest,
                        entry: *index,
                        source: Box::new(source),
                    });
                }
            };
            blobs.insert(*digest, (*index, content));
        }
    }
    for index in shred_entries {
        if !fetched.decoded.contains_key(&index) {
            fetched.add(ledger.entry(index).await?)?;
        }
    }

    let mut files = Files::new();
    let mut entry_refs = Vec::with_capacity(fetched.stored.len());
    for (index, stored) in &fetched.stored {
        let Some(entry) = fetched.decoded.get(index) else {
            continue;
        };
        let proof = fetched.proof(ledger, *index, size).await?;
        let document = InclusionProof::new(*index, &stored.bytes, proof, &checkpoint);
        let leaf = stored.leaf_hash();
        let (file, proof_path) = (entry_file(*index), proof_file(*index));
        files.insert(file.clone(), stored.bytes.clone());
        files.insert(proof_path.clone(), to_json(&document));
        entry_refs.push(EntryRef {
            index: *index,
            kind: entry.kind.clone(),
            leaf_hash: leaf,
            file,
            proof: proof_path,
        });
    }
    if let Some(root) = fetched.root()
        && root != checkpoint.checkpoint.root
    {
        return Err(damaged(format!(
            "its entries hash to root {root}, but the checkpoint of size {size} says {}",
            checkpoint.checkpoint.root
        )));
    }

    let mut blob_refs = Vec::with_capacity(blobs.len());
    let mut shredded = 0;
    for (digest, (_, content)) in &blobs {
        match content {
            Some(bytes) => {
                let file = blob_file(digest);
                files.insert(file.clone(), bytes.clone());
                blob_refs.push(BlobRef {
                    digest: *digest,
                    file: Some(file),
                    shredded_by: None,
                });
            }
            None => {
                let (entry, reason) = shreds.get(digest).cloned().unwrap_or((0, None));
                shredded += 1;
                files.insert(
                    shred_file(digest),
                    to_json(&ShredRecord {
                        digest: *digest,
                        entry,
                        reason,
                    }),
                );
                blob_refs.push(BlobRef {
                    digest: *digest,
                    file: None,
                    shredded_by: Some(entry),
                });
            }
        }
    }

    // Attestations, by commit.
    let mut attestations = Vec::new();
    let mut run_refs = Vec::with_capacity(selected.len());
    for s in &selected {
        let record = &s.record;
        let mut attestation_file = None;
        if let Some(output) = &record.output
            && let Some(envelope) = &output.attestation
            && let Ok(digest) = envelope.parse::<Digest256>()
            && let Some((_, Some(bytes))) = blobs.get(&digest)
        {
            let entry = record
                .ledger
                .stages
                .iter()
                .copied()
                .find(|i| {
                    fetched.decoded.get(i).is_some_and(|e| {
                        e.kind == kinds::ATTESTATION
                            && e.payload.get("envelope").and_then(Value::as_str)
                                == Some(envelope.as_str())
                    })
                })
                .ok_or_else(|| {
                    damaged(format!(
                        "run {} names attestation {envelope}, but none of its stage entries records it",
                        record.run_id
                    ))
                })?;
            let file = format!("attestations/{}.dsse.json", output.commit);
            files.insert(file.clone(), bytes.clone());
            attestations.push(AttestationRef {
                run_id: record.run_id.clone(),
                commit: output.commit.clone(),
                file: file.clone(),
                entry,
            });
            attestation_file = Some(file);
        }
        let mut related_indexes: Vec<u64> = related
            .get(record.run_id.as_str())
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        related_indexes.sort_unstable();
        run_refs.push(RunRef {
            run_id: record.run_id.clone(),
            ticket: record.ticket.id.clone(),
            status: record.outcome.status.as_str().to_owned(),
            started_at: record.started_at.clone(),
            record: s.stored.index,
            stages: record.ledger.stages.clone(),
            related: related_indexes,
            attestation: attestation_file,
        });
    }

    // Consistency proofs from the auditor's checkpoints.
    let chain_keys = ledger.key_chain().await?;
    let mut consistency = Vec::new();
    for anchor in &options.against {
        let refuse = |reason: String| PackageError::Against {
            label: anchor.label.clone(),
            reason,
        };
        let old = SignedCheckpoint::open(&anchor.note, &chain_keys)
            .map_err(|e| refuse(format!("it is not signed by this ledger's keys: {e}")))?;
        let c = &old.checkpoint;
        if c.origin != ledger.origin() {
            return Err(refuse(format!(
                "it belongs to log {}, not {}",
                c.origin,
                ledger.origin()
            )));
        }
        if c.size == 0 || c.size > size {
            return Err(refuse(format!(
                "it is for tree size {}, but the ledger has {size} entries (entries were removed, or it is from another copy)",
                c.size
            )));
        }
        if ledger.root_at(c.size).await? != c.root {
            return Err(refuse(format!(
                "it is not a prefix of this ledger: the first {} entries differ from it (history was rewritten after it was saved)",
                c.size
            )));
        }
        let proof = ledger.consistency_proof(c.size, size).await?;
        let document = ConsistencyProof::new(proof, &old, &checkpoint);
        document
            .check(&chain_keys)
            .map_err(|e| refuse(e.to_string()))?;
        let file = format!("consistency/{}.json", c.size);
        files.insert(file.clone(), to_json(&document));
        consistency.push(ConsistencyRef {
            label: anchor.label.clone(),
            old_size: c.size,
            file,
        });
    }

    let chain = key_chain(ledger.origin(), &fetched, &rotations, &current)?;
    files.insert(KEY_CHAIN.into(), to_json(&chain));
    files.insert(CHECKPOINT.into(), checkpoint.note.clone().into_bytes());
    let mapping = controls()?;
    files.insert(CONTROLS.into(), to_json(&mapping));

    let evidence = evidence_refs(&mapping, &entry_refs, !consistency.is_empty());
    let created_at = now();
    let summary = Summary {
        origin: ledger.origin().to_owned(),
        runs: run_refs.len(),
        entries: entry_refs.len(),
        blobs: blob_refs.len() - shredded,
        shredded,
        attestations: attestations.len(),
        consistency: consistency.len(),
        checkpoint_size: size,
        checkpoint_root: checkpoint.checkpoint.root,
        key: current.to_string(),
    };

    let report_runs: Vec<report::RunEvidence<'_>> = selected
        .iter()
        .zip(&run_refs)
        .map(|(s, r)| run_evidence(s, r, &fetched, &blobs))
        .collect();
    let html = report::render(&report::ReportInput {
        origin: ledger.origin(),
        created_at: &created_at,
        checkpoint_size: size,
        checkpoint_root: checkpoint.checkpoint.root.to_string(),
        key: current.to_string(),
        selection: &options.selection,
        runs: report_runs,
        mapping: &mapping,
        evidence: &evidence,
        consistency: &consistency,
    })
    .map_err(|e| PackageError::Report(e.to_string()))?;
    files.insert(REPORT.into(), html.into_bytes());
    files.insert(README.into(), readme(&summary).into_bytes());

    let manifest = Manifest {
        format: FORMAT.into(),
        created_at,
        docket_version: env!("CARGO_PKG_VERSION").into(),
        origin: ledger.origin().to_owned(),
        checkpoint: CheckpointRef {
            file: CHECKPOINT.into(),
            size,
            root: checkpoint.checkpoint.root,
        },
        selection: options.selection.clone(),
        runs: run_refs,
        entries: entry_refs,
        blobs: blob_refs,
        attestations,
        consistency,
        key_chain: KEY_CHAIN.into(),
        evidence,
        controls: mapping.controls,
        files: Vec::new(),
    };
    seal(&mut files, manifest, &signer)?;
    Ok(Package { files, summary })
}

/// Lists every file but the manifest and its signature in `manifest.files`, writes
/// `manifest.json` and signs it into `manifest.sig`.
pub fn seal(
    files: &mut Files,
    mut manifest: Manifest,
    signer: &Signer,
) -> Result<(), PackageError> {
    files.remove(MANIFEST);
    files.remove(SIGNATURE);
    manifest.files = files
        .iter()
        .map(|(path, bytes)| FileRef {
            path: path.clone(),
            sha256: Hash::digest(bytes),
            size: bytes.len() as u64,
        })
        .collect();
    let bytes = to_json(&manifest);
    let signature = note::sign_note(&signature_text(&manifest.origin, &bytes), &[signer])
        .map_err(|e| PackageError::Sign(e.to_string()))?;
    files.insert(MANIFEST.into(), bytes);
    files.insert(SIGNATURE.into(), signature.into_bytes());
    Ok(())
}

/// Reads `manifest.json` of a package (unverified), e.g. to change and re-seal it.
pub fn manifest(files: &Files) -> Result<Manifest, PackageError> {
    let bytes = files
        .get(MANIFEST)
        .ok_or_else(|| PackageError::NotAPackage(format!("it has no {MANIFEST}")))?;
    serde_json::from_slice(bytes)
        .map_err(|e| PackageError::NotAPackage(format!("{MANIFEST} is not a manifest: {e}")))
}

async fn select_runs(
    ledger: &Ledger,
    size: u64,
    options: &ExportOptions,
) -> Result<Vec<Selected>, PackageError> {
    let stored = ledger
        .list(&EntryFilter {
            kind: Some(kinds::RECORD.into()),
            ..EntryFilter::default()
        })
        .await?;
    // The latest record of each run is the run's state.
    let mut latest: BTreeMap<String, Selected> = BTreeMap::new();
    for stored in stored.into_iter().filter(|e| e.index < size) {
        let entry = stored.decode().map_err(LedgerError::from)?;
        let Ok(record) = serde_json::from_value::<RunRecord>(entry.payload) else {
            continue;
        };
        latest.insert(record.run_id.clone(), Selected { stored, record });
    }
    let mut wanted_ids: Option<BTreeSet<String>> = None;
    if !options.runs.is_empty() {
        let mut ids = BTreeSet::new();
        for prefix in &options.runs {
            let matches: Vec<&String> = latest
                .keys()
                .filter(|id| id.starts_with(prefix.as_str()))
                .collect();
            match matches.as_slice() {
                [one] => {
                    ids.insert((*one).clone());
                }
                [] => {
                    return Err(PackageError::Run {
                        prefix: prefix.clone(),
                        reason: "no such run in the ledger; `docket runs list` shows them".into(),
                    });
                }
                many => {
                    return Err(PackageError::Run {
                        prefix: prefix.clone(),
                        reason: format!("matches {} runs; give more of the id", many.len()),
                    });
                }
            }
        }
        wanted_ids = Some(ids);
    }
    let mut selected: Vec<Selected> = latest
        .into_values()
        .filter(|s| {
            let r = &s.record;
            let started = docket_ledger::entry::parse_time_micros(&r.started_at);
            wanted_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&r.run_id))
                && (options.tickets.is_empty() || options.tickets.contains(&r.ticket.id))
                && options
                    .since_us
                    .is_none_or(|since| started.is_some_and(|t| t >= since))
                && options
                    .until_us
                    .is_none_or(|until| started.is_some_and(|t| t < until))
        })
        .collect();
    if selected.is_empty() {
        let mut detail = Vec::new();
        if let Some(s) = &options.selection.since {
            detail.push(format!("--since {s}"));
        }
        if let Some(u) = &options.selection.until {
            detail.push(format!("--until {u}"));
        }
        for t in &options.tickets {
            detail.push(format!("--ticket {t}"));
        }
        for r in &options.runs {
            detail.push(format!("--run {r}"));
        }
        return Err(PackageError::NoRuns {
            detail: if detail.is_empty() {
                " (the ledger holds no run records)".into()
            } else {
                format!(" ({})", detail.join(" "))
            },
        });
    }
    // Oldest first, as the ledger has them.
    selected.sort_by_key(|s| s.stored.index);
    Ok(selected)
}

/// Approvals and exceptions of the selected runs, and the decisions they link to.
async fn related_entries(
    ledger: &Ledger,
    size: u64,
    runs: &BTreeSet<&str>,
) -> Result<BTreeMap<String, BTreeSet<u64>>, PackageError> {
    let mut out: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for kind in [kinds::APPROVAL, kinds::EXCEPTION] {
        let entries = ledger
            .list(&EntryFilter {
                kind: Some(kind.into()),
                ..EntryFilter::default()
            })
            .await?;
        for stored in entries.into_iter().filter(|e| e.index < size) {
            let entry = stored.decode().map_err(LedgerError::from)?;
            let Some(run) = entry.payload.get("run_id").and_then(Value::as_str) else {
                continue;
            };
            if !runs.contains(run) {
                continue;
            }
            let set = out.entry(run.to_owned()).or_default();
            set.insert(stored.index);
            set.extend(entry.links.iter().map(|l| l.index));
        }
    }
    Ok(out)
}

/// Entries read for a package, and where their proofs come from.
struct Fetched {
    stored: BTreeMap<u64, StoredEntry>,
    decoded: BTreeMap<u64, Entry>,
    /// Every level of the tree when the whole ledger was read (level 0: leaf hashes).
    tree: Option<Vec<Vec<Hash>>>,
}

impl Fetched {
    fn add(&mut self, stored: StoredEntry) -> Result<(), PackageError> {
        let entry = stored.decode().map_err(LedgerError::from)?;
        self.decoded.insert(stored.index, entry);
        self.stored.insert(stored.index, stored);
        Ok(())
    }

    async fn proof(
        &self,
        ledger: &Ledger,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, PackageError> {
        let Some(tree) = &self.tree else {
            return Ok(ledger.inclusion_proof(index, size).await?);
        };
        merkle::inclusion_ranges(index, size)
            .into_iter()
            .map(|(lo, hi)| subtree_hash(tree, lo, hi))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| PackageError::Damaged {
                location: ledger.location().to_owned(),
                detail: format!("cannot compute the inclusion proof of entry {index}"),
            })
    }

    fn root(&self) -> Option<Hash> {
        let tree = self.tree.as_ref()?;
        let size = tree.first()?.len() as u64;
        subtree_hash(tree, 0, size)
    }
}

/// `MTH` of leaves `[lo, hi)` from the in-memory levels.
fn subtree_hash(tree: &[Vec<Hash>], lo: u64, hi: u64) -> Option<Hash> {
    let hashes: Option<Vec<Hash>> = merkle::decompose(lo, hi)
        .into_iter()
        .map(|Subtree { level, index }| {
            tree.get(level as usize)?
                .get(usize::try_from(index).ok()?)
                .copied()
        })
        .collect();
    merkle::fold_decomposition(&hashes?)
}

fn tree_levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves];
    while let Some(last) = levels.last() {
        if last.len() < 2 {
            break;
        }
        let next: Vec<Hash> = last
            .chunks_exact(2)
            .map(|pair| docket_ledger::hash::node_hash(&pair[0], &pair[1]))
            .collect();
        levels.push(next);
    }
    levels
}

/// Reads the wanted entries: the whole ledger once when that is cheap (proofs then
/// come from memory), otherwise one by one.
async fn fetch_entries(
    ledger: &Ledger,
    size: u64,
    wanted: &BTreeSet<u64>,
) -> Result<Fetched, PackageError> {
    let full = size <= FULL_SCAN_SIZE || (wanted.len() as u64).saturating_mul(4) >= size;
    let mut stored = BTreeMap::new();
    let mut tree = None;
    if full {
        let all = ledger.list(&EntryFilter::default()).await?;
        let mut leaves = Vec::with_capacity(all.len());
        for (expected, entry) in all.into_iter().take_while(|e| e.index < size).enumerate() {
            if entry.index != expected as u64 {
                return Err(PackageError::Damaged {
                    location: ledger.location().to_owned(),
                    detail: format!("entry {expected} is missing"),
                });
            }
            leaves.push(entry.leaf_hash());
            if wanted.contains(&entry.index) {
                stored.insert(entry.index, entry);
            }
        }
        if leaves.len() as u64 == size {
            tree = Some(tree_levels(leaves));
        }
    } else {
        for index in wanted {
            stored.insert(*index, ledger.entry(*index).await?);
        }
    }
    let mut decoded = BTreeMap::new();
    for (index, entry) in &stored {
        decoded.insert(*index, entry.decode().map_err(LedgerError::from)?);
    }
    if let Some(missing) = wanted.iter().find(|i| !stored.contains_key(i)) {
        return Err(PackageError::Ledger(LedgerError::NoSuchEntry {
            index: *missing,
            size,
        }));
    }
    Ok(Fetched {
        stored,
        decoded,
        tree,
    })
}

fn key_chain(
    origin: &str,
    fetched: &Fetched,
    rotations: &[StoredEntry],
    current: &Verifier,
) -> Result<KeyChain, PackageError> {
    let field = |entry: &Entry, name: &str| {
        entry
            .payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let genesis = fetched
        .decoded
        .get(&0)
        .map(|e| field(e, "key"))
        .unwrap_or_default();
    let mut out = Vec::new();
    for stored in rotations {
        let entry = stored.decode().map_err(LedgerError::from)?;
        out.push(Rotation {
            entry: stored.index,
            old_key: field(&entry, "old_key"),
            new_key: field(&entry, "new_key"),
            statement: field(&entry, "statement"),
        });
    }
    Ok(KeyChain {
        format: KEY_CHAIN_FORMAT.into(),
        origin: origin.to_owned(),
        genesis,
        rotations: out,
        current: current.to_string(),
    })
}

fn evidence_refs(
    mapping: &ControlMapping,
    entries: &[EntryRef],
    consistency: bool,
) -> Vec<EvidenceRef> {
    let mut names: Vec<String> = Vec::new();
    for control in &mapping.controls {
        for item in &control.evidence {
            if !names.contains(&item.evidence) {
                names.push(item.evidence.clone());
            }
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let controls: Vec<String> = mapping
                .controls
                .iter()
                .filter(|c| c.evidence.iter().any(|e| e.evidence == name))
                .map(Control::label)
                .collect();
            let indexes: Vec<u64> = entries
                .iter()
                .filter(|e| e.kind == name)
                .map(|e| e.index)
                .collect();
            let files: Vec<String> = ARTEFACTS
                .iter()
                .filter(|(artefact, _)| *artefact == name)
                .filter(|(artefact, _)| consistency || *artefact != "consistency-proofs")
                .map(|(_, file)| (*file).to_owned())
                .collect();
            (!indexes.is_empty() || !files.is_empty()).then_some(EvidenceRef {
                evidence: name,
                controls,
                entries: indexes,
                files,
            })
        })
        .collect()
}

fn run_evidence<'a>(
    selected: &'a Selected,
    run: &'a RunRef,
    fetched: &'a Fetched,
    blobs: &'a BTreeMap<Digest256, (u64, Option<Vec<u8>>)>,
) -> report::RunEvidence<'a> {
    let record = &selected.record;
    let stages: Vec<(u64, &str)> = record
        .ledger
        .stages
        .iter()
        .filter_map(|i| fetched.decoded.get(i).map(|e| (*i, e.kind.as_str())))
        .collect();
    let decisions: BTreeMap<String, u64> = record
        .ledger
        .stages
        .iter()
        .filter_map(|i| {
            let entry = fetched.decoded.get(i)?;
            (entry.kind == kinds::POLICY).then_some(())?;
            let digest = entry
                .payload
                .get("decision")?
                .get("input_digest")?
                .as_str()?;
            Some((digest.to_owned(), *i))
        })
        .collect();
    let grants: Vec<(u64, &'a Entry)> = run
        .related
        .iter()
        .filter_map(|i| fetched.decoded.get(i).map(|e| (*i, e)))
        .filter(|(_, e)| e.kind == kinds::APPROVAL || e.kind == kinds::EXCEPTION)
        .collect();
    let patch = record.diff.as_ref().map(|diff| {
        match diff
            .patch_blob
            .parse::<Digest256>()
            .ok()
            .and_then(|d| blobs.get(&d).map(|b| (d, b)))
        {
            Some((digest, (_, Some(bytes)))) => report::Patch::Text {
                file: blob_file(&digest),
                bytes,
            },
            Some((digest, (_, None))) => report::Patch::Shredded {
                file: shred_file(&digest),
            },
            None => report::Patch::Absent,
        }
    });
    report::RunEvidence {
        record,
        record_index: selected.stored.index,
        stages,
        decisions,
        grants,
        patch,
        attestation: run.attestation.as_deref(),
    }
}

fn readme(summary: &Summary) -> String {
    format!(
        "docket audit package ({FORMAT})
====================

This archive holds the evidence of {runs} governed run(s) from the docket ledger
{origin}: {entries} ledger entries with their inclusion proofs against the signed
checkpoint of tree size {size}, {blobs} blobs ({shredded} shredded under retention),
{attestations} attestation(s), the key chain, and report.html, a readable report.

Verify it offline, with only this file and the ledger's public key:

    docket verify-package PACKAGE.zip --key '{key}'

(get the key from its owner, not from this package: `docket key show` on the
machine that keeps the ledger). Without --key, verify-package trusts the key in the
package, which proves the package is intact but not who made it.

Layout:
  manifest.json        every file with its SHA-256 and size; the runs, entries,
                       blobs and attestations; the control mapping
  manifest.sig         manifest.json's SHA-256 signed with the ledger's key
                       (C2SP signed note)
  checkpoint.note      the signed checkpoint every proof is checked against
  entries/N.json       ledger entry N, its exact bytes (RFC 8785 canonical JSON)
  proofs/N.json        the inclusion proof of entry N (docket.inclusion-proof/v1;
                       `docket log check-proof proofs/N.json --key KEY` checks one)
  consistency/N.json   proof that the ledger only grew since a checkpoint of size N
  blobs/sha256/HEX     blob content (secrets were redacted when it was stored)
  shredded/HEX.json    a referenced blob whose content was shredded, and by which entry
  attestations/C.dsse.json  the signed attestation of published commit C
                       (`docket attest verify C` checks it against the repository)
  keys/chain.json      the ledger's keys, oldest first, each rotation signed by both keys
  controls.json        which evidence supports which change-management control
  report.html          one section per run; opens in any browser, no scripts
",
        runs = summary.runs,
        origin = summary.origin,
        entries = summary.entries,
        size = summary.checkpoint_size,
        blobs = summary.blobs,
        shredded = summary.shredded,
        attestations = summary.attestations,
        key = summary.key,
    )
}

// ---------------------------------------------------------------------------------
// Zip.

/// Writes the files into a zip archive (deflate), README first.
pub fn write_zip(files: &Files) -> Result<Vec<u8>, PackageError> {
    use zip::write::SimpleFileOptions;
    let err = |e: &dyn std::fmt::Display| PackageError::WriteZip(e.to_string());
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let time = zip::DateTime::from_date_and_time(
        u16::try_from(now.year()).unwrap_or(1980),
        u8::try_from(now.month()).unwrap_or(1),
        u8::try_from(now.day()).unwrap_or(1),
        u8::try_from(now.hour()).unwrap_or(0),
        u8::try_from(now.minute()).unwrap_or(0),
        u8::try_from(now.second()).unwrap_or(0),
    )
    .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644)
        .last_modified_time(time);
    let total: usize = files.values().map(Vec::len).sum();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(total / 3)));
    let first = [README, REPORT, MANIFEST, SIGNATURE];
    let ordered = first
        .iter()
        .filter_map(|name| files.get_key_value(*name))
        .chain(
            files
                .iter()
                .filter(|(name, _)| !first.contains(&name.as_str())),
        );
    for (name, bytes) in ordered {
        zip.start_file(name.as_str(), options)
            .map_err(|e| err(&e))?;
        zip.write_all(bytes).map_err(|e| err(&e))?;
    }
    Ok(zip.finish().map_err(|e| err(&e))?.into_inner())
}

/// A package as read from its archive: the files, and members that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    pub files: Files,
    /// Members whose bytes are damaged in the archive (bad checksum, bad deflate
    /// stream, duplicate name), with the reason.
    pub damaged: BTreeMap<String, String>,
}

/// Reads every file of a zip archive. An archive that is not a zip at all, or has no
/// manifest, is an error; a damaged member is recorded for verification to report.
pub fn read_zip(bytes: &[u8]) -> Result<Archive, PackageError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| PackageError::ReadZip(e.to_string()))?;
    let mut out = Archive::default();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut member = match archive.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                out.damaged.insert(format!("(member {i})"), e.to_string());
                continue;
            }
        };
        if member.is_dir() {
            continue;
        }
        let name = match member.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                out.damaged.insert(format!("(member {i})"), e.to_string());
                continue;
            }
        };
        let mut content =
            Vec::with_capacity(usize::try_from(member.size().min(1 << 24)).unwrap_or(0));
        let read = (&mut member)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut content);
        if let Err(e) = read {
            out.damaged.insert(name, e.to_string());
            continue;
        }
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(PackageError::ReadZip(format!(
                "{name} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        total += content.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(PackageError::ReadZip(format!(
                "the archive expands to more than {MAX_TOTAL_BYTES} bytes"
            )));
        }
        if out.files.insert(name.clone(), content).is_some() {
            out.damaged
                .insert(name, "the archive holds two files of this name".into());
        }
    }
    if !out.files.contains_key(MANIFEST) && !out.damaged.contains_key(MANIFEST) {
        return Err(PackageError::NotAPackage(format!(
            "it has no {MANIFEST} (it holds {} files)",
            out.files.len()
        )));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Verification.

/// Which keys verification starts from.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Keys the auditor got from the ledger's owner; one must be in the package's key
    /// chain.
    Keys(Vec<Verifier>),
    /// The package's own key chain: proves integrity, not origin.
    PackageKeys,
}

/// The first thing that does not hold, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Stable machine-readable name, e.g. `file-modified`.
    pub code: &'static str,
    pub file: Option<String>,
    pub entry: Option<u64>,
    pub message: String,
}

fn fail(code: &'static str, file: Option<&str>, entry: Option<u64>, message: String) -> Failure {
    Failure {
        code,
        file: file.map(str::to_owned),
        entry,
        message,
    }
}

/// What a verified package holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub origin: String,
    pub created_at: String,
    pub runs: usize,
    pub entries: usize,
    pub blobs: usize,
    pub shredded: usize,
    pub attestations: usize,
    pub consistency: usize,
    pub files: usize,
    pub checkpoint_size: u64,
    pub checkpoint_root: Hash,
    /// The key that signed the manifest and the checkpoint.
    pub signed_by: String,
    /// True when the signer's key chain starts from a key given by the caller.
    pub trusted_key_given: bool,
}

/// Verifies a package read from its archive.
pub fn verify_archive(archive: &Archive, trust: &Trust) -> Result<Verified, Failure> {
    if let Some((name, reason)) = archive.damaged.iter().next() {
        return Err(fail(
            "file-damaged",
            Some(name),
            None,
            format!("{name} cannot be read from the archive: {reason}"),
        ));
    }
    verify(&archive.files, trust)
}

/// Verifies everything in a package, offline; the error names the first failure.
pub fn verify(files: &Files, trust: &Trust) -> Result<Verified, Failure> {
    let get = |path: &str| -> Result<&Vec<u8>, Failure> {
        files.get(path).ok_or_else(|| {
            fail(
                "file-missing",
                Some(path),
                None,
                format!("{path} is missing from the package"),
            )
        })
    };
    let manifest_bytes = get(MANIFEST)?;

    // 1. The key chain, from the genesis key through every rotation signed by both keys.
    let chain_bytes = get(KEY_CHAIN)?;
    let chain: KeyChain = serde_json::from_slice(chain_bytes).map_err(|e| {
        fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!("{KEY_CHAIN} is not a key chain: {e}"),
        )
    })?;
    let keys = check_key_chain(&chain)?;
    let current = keys.last().cloned().ok_or_else(|| {
        fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!("{KEY_CHAIN} names no key"),
        )
    })?;
    let trusted_key_given = match trust {
        Trust::Keys(given) => {
            if !given.iter().any(|k| keys.contains(k)) {
                let given: Vec<String> = given.iter().map(ToString::to_string).collect();
                return Err(fail(
                    "untrusted-key",
                    Some(KEY_CHAIN),
                    None,
                    format!(
                        "the package is not signed by the key you trust: {} is not in its key chain ({})",
                        given.join(", "),
                        keys.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            true
        }
        Trust::PackageKeys => false,
    };

    // 2. The manifest signature: by the current key, over these exact manifest bytes.
    let sig_bytes = get(SIGNATURE)?;
    let sig_text = std::str::from_utf8(sig_bytes).map_err(|_| {
        fail(
            "signature-invalid",
            Some(SIGNATURE),
            None,
            format!("{SIGNATURE} is not a signed note (not UTF-8)"),
        )
    })?;
    let opened = note::open_note(sig_text, std::slice::from_ref(&current)).map_err(|e| {
        fail(
            "signature-invalid",
            Some(SIGNATURE),
            None,
            format!("{SIGNATURE} does not verify with the package's current key {current}: {e}"),
        )
    })?;
    let expected = signature_text(&chain.origin, manifest_bytes);
    if opened.text != expected {
        return Err(fail(
            "manifest-modified",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} is not the manifest {SIGNATURE} signed: its sha256 is {}, the signed note says {}",
                Hash::digest(manifest_bytes),
                opened
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("manifest "))
                    .unwrap_or("(no manifest line)")
            ),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(manifest_bytes).map_err(|e| {
        fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!("{MANIFEST} is signed but not a valid manifest: {e}"),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} has format `{}`, expected `{FORMAT}`",
                manifest.format
            ),
        ));
    }
    if manifest.origin != chain.origin {
        return Err(fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} is for log {}, but {KEY_CHAIN} is for {}",
                manifest.origin, chain.origin
            ),
        ));
    }

    // 3. Every file listed, present and intact; nothing unlisted.
    check_files(files, &manifest)?;

    // 4. The checkpoint.
    let cp_text = std::str::from_utf8(get(CHECKPOINT)?).unwrap_or_default();
    let checkpoint =
        SignedCheckpoint::open(cp_text, std::slice::from_ref(&current)).map_err(|e| {
            fail(
                "checkpoint-invalid",
                Some(CHECKPOINT),
                None,
                format!(
                    "{CHECKPOINT} does not verify with the package's current key {current}: {e}"
                ),
            )
        })?;
    let cp = &checkpoint.checkpoint;
    if cp.origin != manifest.origin
        || cp.size != manifest.checkpoint.size
        || cp.root != manifest.checkpoint.root
    {
        return Err(fail(
            "checkpoint-invalid",
            Some(CHECKPOINT),
            None,
            format!(
                "{CHECKPOINT} is for {} at size {} (root {}), the manifest says {} at size {} (root {})",
                cp.origin,
                cp.size,
                cp.root,
                manifest.origin,
                manifest.checkpoint.size,
                manifest.checkpoint.root
            ),
        ));
    }

    // 5. Every entry: exact bytes, inclusion proof against the checkpoint.
    let mut entries: BTreeMap<u64, (Entry, Hash)> = BTreeMap::new();
    for r in &manifest.entries {
        let (entry, leaf) = check_entry(files, r, cp_text, &checkpoint)?;
        entries.insert(r.index, (entry, leaf));
    }

    // 6. The key chain is the ledger's: genesis and rotations are entries here.
    check_chain_entries(&chain, &entries)?;
    for e in &manifest.evidence {
        if let Some(missing) = e.entries.iter().find(|i| !entries.contains_key(i)) {
            return Err(fail(
                "entry-missing",
                Some(MANIFEST),
                Some(*missing),
                format!(
                    "the manifest cites entry {missing} as `{}` evidence, but the package does not hold it",
                    e.evidence
                ),
            ));
        }
    }

    // 7. Links between entries; every run's record and the stages it lists.
    for (index, (entry, _)) in &entries {
        for link in &entry.links {
            if let Some((_, leaf)) = entries.get(&link.index)
                && *leaf != link.leaf_hash
            {
                return Err(fail(
                    "link-broken",
                    Some(&entry_file(*index)),
                    Some(*index),
                    format!(
                        "entry {index} closes entry {} with leaf hash {}, but the package's entry {} hashes to {leaf}",
                        link.index, link.leaf_hash, link.index
                    ),
                ));
            }
        }
    }
    let mut records = BTreeMap::new();
    for run in &manifest.runs {
        let record = check_run(run, &entries)?;
        records.insert(run.run_id.clone(), record);
    }

    // 8. Blobs: present and intact, or shredded by an entry in the package.
    let blob_refs: BTreeMap<Digest256, &BlobRef> =
        manifest.blobs.iter().map(|b| (b.digest, b)).collect();
    for (index, (entry, _)) in &entries {
        if entry.kind == ledger_kinds::BLOB_SHRED {
            continue;
        }
        for digest in &entry.blobs {
            check_blob(
                files,
                digest,
                *index,
                blob_refs.get(digest).copied(),
                &entries,
            )?;
        }
    }

    // 9. Attestations: signature, and the commit the run recorded.
    let mut attested = 0;
    for run in &manifest.runs {
        let Some(record) = records.get(&run.run_id) else {
            continue;
        };
        if check_attestation(files, &manifest, run, record, &entries, &blob_refs, &keys)? {
            attested += 1;
        }
    }

    // 10. Consistency with checkpoints the auditor kept.
    for c in &manifest.consistency {
        let bytes = get(&c.file)?;
        let proof: ConsistencyProof = serde_json::from_slice(bytes).map_err(|e| {
            fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!("{} is not a consistency proof: {e}", c.file),
            )
        })?;
        if proof.new_checkpoint != cp_text || proof.old_size != c.old_size {
            return Err(fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!(
                    "{} does not prove size {} against the package's {CHECKPOINT}",
                    c.file, c.old_size
                ),
            ));
        }
        proof.check(&keys).map_err(|e| {
            fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!("{} ({}): {e}", c.file, c.label),
            )
        })?;
    }

    Ok(Verified {
        origin: manifest.origin.clone(),
        created_at: manifest.created_at.clone(),
        runs: manifest.runs.len(),
        entries: manifest.entries.len(),
        blobs: manifest.blobs.iter().filter(|b| b.file.is_some()).count(),
        shredded: manifest.blobs.iter().filter(|b| b.file.is_none()).count(),
        attestations: attested,
        consistency: manifest.consistency.len(),
        files: manifest.files.len() + 2,
        checkpoint_size: cp.size,
        checkpoint_root: cp.root,
        signed_by: current.to_string(),
        trusted_key_given,
    })
}

/// The keys of a chain, oldest first, after checking every rotation statement.
fn check_key_chain(chain: &KeyChain) -> Result<Vec<Verifier>, Failure> {
    let bad = |message: String| fail("key-chain-invalid", Some(KEY_CHAIN), None, message);
    if chain.format != KEY_CHAIN_FORMAT {
        return Err(bad(format!(
            "{KEY_CHAIN} has format `{}`, expected `{KEY_CHAIN_FORMAT}`",
            chain.format
        )));
    }
    let parse = |text: &str| {
        Verifier::parse(text).map_err(|e| bad(format!("{KEY_CHAIN} names an invalid key: {e}")))
    };
    let mut keys = vec![parse(&chain.genesis)?];
    for rotation in &chain.rotations {
        let old = parse(&rotation.old_key)?;
        let new = parse(&rotation.new_key)?;
        if keys.last() != Some(&old) {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "the rotation in entry {} starts from {old}, which is not the key before it",
                    rotation.entry
                ),
            ));
        }
        let expected = docket_ledger::rotation_statement(&chain.origin, &old, &new);
        let signed_by_both = note::open_note(&rotation.statement, &[old.clone(), new.clone()])
            .ok()
            .filter(|o| o.text == expected && o.verified_by.len() == 2);
        if signed_by_both.is_none() {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "the rotation statement of entry {} is not signed by both {old} and {new}",
                    rotation.entry
                ),
            ));
        }
        keys.push(new);
    }
    if keys.last().map(ToString::to_string).as_deref() != Some(chain.current.as_str()) {
        return Err(bad(format!(
            "{KEY_CHAIN} says the current key is {}, but its rotations end at another key",
            chain.current
        )));
    }
    Ok(keys)
}

fn check_files(files: &Files, manifest: &Manifest) -> Result<(), Failure> {
    let mut listed = BTreeSet::new();
    for f in &manifest.files {
        listed.insert(f.path.as_str());
        let Some(bytes) = files.get(&f.path) else {
            return Err(fail(
                "file-missing",
                Some(&f.path),
                None,
                format!(
                    "{} is listed in the manifest but missing from the package",
                    f.path
                ),
            ));
        };
        let actual = Hash::digest(bytes);
        if actual != f.sha256 || bytes.len() as u64 != f.size {
            return Err(fail(
                "file-modified",
                Some(&f.path),
                None,
                format!(
                    "{} was modified: its sha256 is {actual} ({} bytes), the manifest says {} ({} bytes)",
                    f.path,
                    bytes.len(),
                    f.sha256,
                    f.size
                ),
            ));
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|p| !listed.contains(p.as_str()) && *p != MANIFEST && *p != SIGNATURE)
    {
        return Err(fail(
            "file-unlisted",
            Some(extra),
            None,
            format!("{extra} is in the package but not in the manifest"),
        ));
    }
    Ok(())
}

fn check_entry(
    files: &Files,
    r: &EntryRef,
    cp_text: &str,
    checkpoint: &SignedCheckpoint,
) -> Result<(Entry, Hash), Failure> {
    let index = r.index;
    let at = |code, file: &str, message: String| fail(code, Some(file), Some(index), message);
    if r.file != entry_file(index) || r.proof != proof_file(index) {
        return Err(at(
            "manifest-invalid",
            MANIFEST,
            format!(
                "the manifest names entry {index}'s files {} and {}",
                r.file, r.proof
            ),
        ));
    }
    let bytes = files.get(&r.file).ok_or_else(|| {
        at(
            "file-missing",
            &r.file,
            format!("{} (entry {index}) is missing from the package", r.file),
        )
    })?;
    let leaf = leaf_hash(bytes);
    if leaf != r.leaf_hash {
        return Err(at(
            "entry-modified",
            &r.file,
            format!(
                "{}: entry {index} hashes to leaf {leaf}, the manifest says {}",
                r.file, r.leaf_hash
            ),
        ));
    }
    let entry = Entry::decode(index, bytes)
        .map_err(|e| at("entry-invalid", &r.file, format!("{}: {e}", r.file)))?;
    if entry.index != index || entry.kind != r.kind {
        return Err(at(
            "entry-invalid",
            &r.file,
            format!(
                "{} holds entry {} of kind {}, the manifest says entry {index} of kind {}",
                r.file, entry.index, entry.kind, r.kind
            ),
        ));
    }
    let proof_bytes = files.get(&r.proof).ok_or_else(|| {
        at(
            "file-missing",
            &r.proof,
            format!(
                "{} (entry {index}'s proof) is missing from the package",
                r.proof
            ),
        )
    })?;
    let proof: InclusionProof = serde_json::from_slice(proof_bytes).map_err(|e| {
        at(
            "proof-invalid",
            &r.proof,
            format!("{} is not an inclusion proof: {e}", r.proof),
        )
    })?;
    let size = checkpoint.checkpoint.size;
    // The checkpoint's signature was checked once; each proof must name that same note.
    if proof.format != INCLUSION_FORMAT
        || proof.index != index
        || proof.tree_size != size
        || proof.checkpoint != cp_text
    {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!(
                "{} is not a proof of entry {index} against {CHECKPOINT} (size {size})",
                r.proof
            ),
        ));
    }
    if BASE64.decode(&proof.entry).ok().as_deref() != Some(bytes.as_slice())
        || proof.leaf_hash != leaf
    {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!("{} proves other bytes than {}", r.proof, r.file),
        ));
    }
    if !merkle::verify_inclusion(
        &leaf,
        index,
        size,
        &proof.proof,
        &checkpoint.checkpoint.root,
    ) {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!(
                "{}: entry {index} is not included in the tree of size {size} with root {} (the proof does not verify)",
                r.proof, checkpoint.checkpoint.root
            ),
        ));
    }
    Ok((entry, leaf))
}

fn check_chain_entries(
    chain: &KeyChain,
    entries: &BTreeMap<u64, (Entry, Hash)>,
) -> Result<(), Failure> {
    let field = |entry: &Entry, name: &str| {
        entry
            .payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let Some((genesis, _)) = entries.get(&0) else {
        return Err(fail(
            "entry-missing",
            Some(&entry_file(0)),
            Some(0),
            "the ledger's genesis entry (entry 0) is not in the package".into(),
        ));
    };
    if genesis.kind != ledger_kinds::GENESIS
        || field(genesis, "key").as_deref() != Some(chain.genesis.as_str())
        || field(genesis, "origin").as_deref() != Some(chain.origin.as_str())
    {
        return Err(fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            Some(0),
            format!(
                "{KEY_CHAIN} does not start at the key and origin of the genesis entry (entry 0)"
            ),
        ));
    }
    for rotation in &chain.rotations {
        let matches = entries.get(&rotation.entry).is_some_and(|(e, _)| {
            e.kind == ledger_kinds::KEY_ROTATE
                && field(e, "old_key").as_deref() == Some(rotation.old_key.as_str())
                && field(e, "new_key").as_deref() == Some(rotation.new_key.as_str())
                && field(e, "statement").as_deref() == Some(rotation.statement.as_str())
        });
        if !matches {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "{KEY_CHAIN} names a rotation in entry {}, but the package has no such rotation entry",
                    rotation.entry
                ),
            ));
        }
    }
    let recorded = entries
        .values()
        .filter(|(e, _)| e.kind == ledger_kinds::KEY_ROTATE)
        .count();
    if recorded != chain.rotations.len() {
        return Err(fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!(
                "the package holds {recorded} key rotation entries, but {KEY_CHAIN} lists {}",
                chain.rotations.len()
            ),
        ));
    }
    Ok(())
}

fn check_run(run: &RunRef, entries: &BTreeMap<u64, (Entry, Hash)>) -> Result<RunRecord, Failure> {
    let file = entry_file(run.record);
    let bad = |code, message: String| fail(code, Some(&file), Some(run.record), message);
    let Some((entry, _)) = entries.get(&run.record) else {
        return Err(bad(
            "entry-missing",
            format!(
                "run {}: its record, entry {}, is not in the package",
                run.run_id, run.record
            ),
        ));
    };
    if entry.kind != kinds::RECORD {
        return Err(bad(
            "run-invalid",
            format!(
                "run {}: entry {} is a {} entry, not a run record",
                run.run_id, run.record, entry.kind
            ),
        ));
    }
    let record: RunRecord = serde_json::from_value(entry.payload.clone()).map_err(|e| {
        bad(
            "run-invalid",
            format!(
                "run {}: entry {} is not a run record: {e}",
                run.run_id, run.record
            ),
        )
    })?;
    if record.run_id != run.run_id || record.ledger.stages != run.stages {
        return Err(bad(
            "run-invalid",
            format!(
                "run {}: entry {} is the record of run {} with other stages than the manifest lists",
                run.run_id, run.record, record.run_id
            ),
        ));
    }
    for stage in record
        .ledger
        .stages
        .iter()
        .chain(entry.links.iter().map(|l| &l.index))
        .chain(&run.related)
    {
        if !entries.contains_key(stage) {
            return Err(fail(
                "entry-missing",
                Some(&entry_file(*stage)),
                Some(*stage),
                format!(
                    "run {}: its record (entry {}) lists {} entry {stage}, which is not in the package",
                    run.run_id,
                    run.record,
                    if run.related.contains(stage) {
                        "related"
                    } else {
                        "stage"
                    }
                ),
            ));
        }
    }
    Ok(record)
}

fn check_blob(
    files: &Files,
    digest: &Digest256,
    index: u64,
    blob: Option<&BlobRef>,
    entries: &BTreeMap<u64, (Entry, Hash)>,
) -> Result<(), Failure> {
    let path = blob_file(digest);
    let Some(blob) = blob else {
        return Err(fail(
            "blob-missing",
            Some(&path),
            Some(index),
            format!("blob {digest}, referenced by entry {index}, is not in the package"),
        ));
    };
    match (&blob.file, blob.shredded_by) {
        (Some(file), _) => {
            let bytes = files.get(file).filter(|_| *file == path).ok_or_else(|| {
                fail(
                    "blob-missing",
                    Some(&path),
                    Some(index),
                    format!("blob {digest}, referenced by entry {index}, is missing: {path} is not in the package"),
                )
            })?;
            let actual = Digest256::of(bytes);
            if actual != *digest {
                return Err(fail(
                    "blob-modified",
                    Some(&path),
                    Some(index),
                    format!(
                        "{path} hashes to {actual}, not {digest} (referenced by entry {index})"
                    ),
                ));
            }
            Ok(())
        }
        (None, Some(shred)) => {
            let record_file = shred_file(digest);
            let by_entry = entries.get(&shred).is_some_and(|(e, _)| {
                e.kind == ledger_kinds::BLOB_SHRED
                    && e.payload.get("digest").and_then(Value::as_str)
                        == Some(digest.to_string().as_str())
            });
            if !by_entry || !files.contains_key(&record_file) {
                return Err(fail(
                    "blob-missing",
                    Some(&record_file),
                    Some(index),
                    format!(
                        "blob {digest}, referenced by entry {index}, is said to be shredded by entry {shred}, but the package holds no such shred entry and record"
                    ),
                ));
            }
            Ok(())
        }
        (None, None) => Err(fail(
            "blob-missing",
            Some(&path),
            Some(index),
            format!(
                "blob {digest}, referenced by entry {index}, is neither in the package nor shredded"
            ),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_attestation(
    files: &Files,
    manifest: &Manifest,
    run: &RunRef,
    record: &RunRecord,
    entries: &BTreeMap<u64, (Entry, Hash)>,
    blobs: &BTreeMap<Digest256, &BlobRef>,
    keys: &[Verifier],
) -> Result<bool, Failure> {
    let Some(output) = &record.output else {
        return Ok(false);
    };
    let Some(envelope) = &output.attestation else {
        return Ok(false);
    };
    let digest: Option<Digest256> = envelope.parse().ok();
    let shredded = digest
        .and_then(|d| blobs.get(&d))
        .is_some_and(|b| b.file.is_none());
    if shredded {
        return Ok(false);
    }
    let expected_file = format!("attestations/{}.dsse.json", output.commit);
    let Some(reference) = manifest
        .attestations
        .iter()
        .find(|a| a.run_id == run.run_id)
        .filter(|a| run.attestation.as_deref() == Some(a.file.as_str()) && a.file == expected_file)
    else {
        return Err(fail(
            "attestation-missing",
            Some(&expected_file),
            Some(run.record),
            format!(
                "run {} was published as {} with attestation {envelope}, but the package has no {expected_file}",
                run.run_id, output.commit
            ),
        ));
    };
    let file = reference.file.as_str();
    let bad = |message: String| {
        fail(
            "attestation-invalid",
            Some(file),
            Some(reference.entry),
            message,
        )
    };
    let bytes = files.get(file).ok_or_else(|| {
        fail(
            "file-missing",
            Some(file),
            None,
            format!("{file} is missing from the package"),
        )
    })?;
    let actual = Digest256::of(bytes);
    if actual.to_string() != *envelope {
        return Err(bad(format!(
            "{file} hashes to {actual}, but run {}'s record names attestation {envelope}",
            run.run_id
        )));
    }
    let recorded = entries.get(&reference.entry).is_some_and(|(e, _)| {
        e.kind == kinds::ATTESTATION
            && run.stages.contains(&reference.entry)
            && e.payload.get("envelope").and_then(Value::as_str) == Some(envelope.as_str())
            && e.payload.get("commit").and_then(Value::as_str) == Some(output.commit.as_str())
    });
    if !recorded {
        return Err(bad(format!(
            "{file}: entry {} is not run {}'s attestation entry for commit {}",
            reference.entry, run.run_id, output.commit
        )));
    }
    let verified = crate::attest::open(bytes, keys)
        .map_err(|e| bad(format!("{file} does not verify: {e}")))?;
    if verified.commit() != Some(output.commit.as_str()) || verified.run_id() != run.run_id {
        return Err(bad(format!(
            "{file} attests commit {} of run {}, but run {} published commit {}",
            verified.commit().unwrap_or("(none)"),
            verified.run_id(),
            run.run_id,
            output.commit
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_mapping_parses_and_cites_every_control() {
        let mapping = controls().unwrap();
        assert_eq!(mapping.schema, "docket.controls/v1");
        let labels: Vec<String> = mapping.controls.iter().map(Control::label).collect();
        assert_eq!(
            labels,
            [
                "SOC 2 CC8.1",
                "ISO/IEC 27001:2022 A.8.32",
                "NIST SP 800-218 (SSDF v1.1) PO.3.3",
                "NIST SP 800-218 (SSDF v1.1) PS.1.1",
                "NIST SP 800-218 (SSDF v1.1) PS.2.1",
                "NIST SP 800-218 (SSDF v1.1) PS.3.1",
                "NIST SP 800-218 (SSDF v1.1) PS.3.2",
                "NIST SP 800-218 (SSDF v1.1) PW.7.2",
                "NIST SP 800-218 (SSDF v1.1) PW.8.2",
                "EU AI Act (Regulation (EU) 2024/1689) Art. 12",
            ]
        );
        for control in &mapping.controls {
            assert!(control.url.starts_with("http"), "{}", control.label());
            assert!(!control.source.is_empty() && !control.requirement.is_empty());
            assert!(!control.evidence.is_empty(), "{}", control.label());
            for item in &control.evidence {
                assert!(item.why.ends_with('.'), "{}: {}", control.label(), item.why);
            }
        }
    }

    #[test]
    fn a_package_is_a_zip_with_a_manifest() {
        let mut files = Files::new();
        files.insert(MANIFEST.into(), b"{}".to_vec());
        files.insert("a/b.json".into(), b"[1]".to_vec());
        let archive = read_zip(&write_zip(&files).unwrap()).unwrap();
        assert_eq!(archive.files, files);
        assert!(archive.damaged.is_empty());
        files.remove(MANIFEST);
        assert!(matches!(
            read_zip(&write_zip(&files).unwrap()),
            Err(PackageError::NotAPackage(_))
        ));
        assert!(matches!(
            read_zip(b"not a zip"),
            Err(PackageError::ReadZip(_))
        ));
    }
}
