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
//! - What an unzip tool shows is what was verified: an archive with a name twice, a
//!   name that unpacks outside its folder, or a member that is not a listed file is
//!   refused before its contents are read (issue 15).
//! - Nothing is added to a package that is not already evidence: blobs are copied as
//!   stored (already redacted), and no key other than public keys is written.

mod archive;
mod build;
mod check;
mod controls;
mod error;
mod fetch;
mod manifest;
mod select;
mod verify;

// The public surface stays `docket_evidence::package::X` whatever file an item lives
// in; the documents of a package live in `crate::contents` so `report` can use them
// without importing `package`.
pub use self::archive::{Archive, read_zip, write_zip};
pub use self::build::{Package, Summary, build};
pub use self::check::Failure;
pub use self::controls::controls;
pub use self::error::PackageError;
pub use self::manifest::{manifest, seal};
pub use self::select::ExportOptions;
pub use self::verify::{Trust, Verified, verify, verify_archive};
pub use crate::contents::{
    ARTEFACTS, AttestationRef, BlobRef, CHECKPOINT, CONTROLS, CheckpointRef, ConsistencyRef,
    Control, ControlEvidence, ControlMapping, EntryRef, EvidenceRef, FORMAT, FileRef, Files,
    KEY_CHAIN, KEY_CHAIN_FORMAT, KeyChain, MANIFEST, Manifest, README, REPORT, Rotation, RunRef,
    SIGNATURE, Selection, ShredRecord,
};
