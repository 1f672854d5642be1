//! The ledger's error type. Every variant names what failed and where.

use std::sync::Arc;

use crate::blob::BlobError;
use crate::checkpoint::CheckpointError;
use crate::entry::EntryError;
use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger database {location}: {source}")]
    Open {
        location: String,
        source: Arc<sqlx::Error>,
    },
    #[error("ledger database {location}: {source}")]
    Storage {
        location: String,
        source: Arc<StoreError>,
    },
    #[error("cannot create {path}: {source}")]
    Home {
        path: std::path::PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error(
        "cannot create {path}: permission denied\nhint: pass --home DIR (or set DOCKET_HOME) to a directory you can write"
    )]
    HomePermission { path: std::path::PathBuf },
    #[error("DOCKET_HOME {path} is a file, not a directory\nhint: pass --home DIR to a directory")]
    HomeNotDirectory { path: std::path::PathBuf },
    #[error(
        "DOCKET_HOME {path} does not exist; a read-only command never creates one\nhint: check --home / DOCKET_HOME"
    )]
    NoHome { path: std::path::PathBuf },
    #[error(
        "there is no ledger at {location}: it does not exist; a read-only command never creates one\nhint: check --home / DOCKET_HOME and --database-url"
    )]
    NoLedger { location: String },
    #[error("the ledger {location} is open read-only: {what} needs write access")]
    ReadOnly {
        location: String,
        what: &'static str,
    },
    #[error(
        "the ledger in {location} has entries no signed checkpoint covers: entries {first}..{last} are not covered by any signed checkpoint (the newest is of size {signed}); docket signs nothing over entries it has not checked\nhint: run `docket log verify` (with a checkpoint kept outside the writer if you have one)"
    )]
    UnsignedTail {
        location: String,
        first: u64,
        last: u64,
        signed: u64,
    },
    #[error(
        "the ledger in {location} no longer extends its newest signed checkpoint (size {signed}): {divergence}; docket signs nothing over it\nhint: run `docket log verify` for the full report"
    )]
    Diverged {
        location: String,
        signed: u64,
        /// The first entry that differs, when the stored checkpoints pin it down.
        first: Option<u64>,
        divergence: String,
    },
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("entry {index} does not exist: the ledger has {size} entries (0..{size})")]
    NoSuchEntry { index: u64, size: u64 },
    #[error("tree size {requested} is not available: the ledger has {size} entries")]
    NoSuchSize { requested: u64, size: u64 },
    #[error("the ledger is empty: append an entry first")]
    Empty,
    #[error(
        "the ledger in {location} is damaged: {detail}; run `docket log verify` for the full report"
    )]
    Damaged { location: String, detail: String },
    #[error("the ledger writer stopped unexpectedly: {detail}")]
    WriterGone { detail: String },
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
