//! docket's evidence ledger: an append-only transparency log in the manner of RFC 6962
//! and RFC 9162, with C2SP signed checkpoints, inclusion and consistency proofs, a key
//! chain, and a content-addressed blob store for large payloads.
//!
//! Invariants:
//! - There is no update or delete API for entries, tree nodes or checkpoints.
//! - An append returns only once its group commit is durable.
//! - Blob content can be shredded, but the shred itself becomes an entry.

pub mod blob;
pub mod checkpoint;
pub mod dsse;
pub mod entry;
mod error;
mod fsutil;
pub mod hash;
pub mod keys;
mod ledger;
pub mod merkle;
pub mod note;
pub mod proof;
mod store;
mod verify;

pub use blob::{BlobError, BlobState, BlobStore};
pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use entry::{Entry, NewEntry, StoredEntry};
pub use error::{LedgerError, Result};
pub use hash::{Digest256, Hash};
pub use ledger::{Appended, Database, Ledger, LedgerConfig, redact_url, rotation_statement};
pub use note::{Signer, Verifier};
pub use store::{EntryFilter, StoreError};
pub use verify::{
    Anchor, BlobReport, KeyEpoch, Problem, ShreddedBlob, VerifyOptions, VerifyReport,
};
