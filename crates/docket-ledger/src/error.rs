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
