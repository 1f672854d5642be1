//! What an audit package holds: its file names, the JSON documents it is made of
//! (manifest, key chain, shred records) and the types of the control mapping.
//!
//! Both `package` (which builds and verifies packages) and `report` (which renders
//! one) read these types; this module depends on neither, so the two never import
//! each other in a circle.

use std::collections::BTreeMap;

use docket_ledger::{Digest256, Hash};
use serde::{Deserialize, Serialize};

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

/// A package's files by path.
pub type Files = BTreeMap<String, Vec<u8>>;

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

pub(crate) fn entry_file(index: u64) -> String {
    format!("entries/{index}.json")
}

pub(crate) fn proof_file(index: u64) -> String {
    format!("proofs/{index}.json")
}

pub(crate) fn blob_file(digest: &Digest256) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

pub(crate) fn shred_file(digest: &Digest256) -> String {
    format!("shredded/{}.json", digest.hex())
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain documents cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
