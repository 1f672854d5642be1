//! What can stop a package from being built or read (verification reports a
//! `Failure` instead).

use docket_ledger::{BlobError, Digest256, LedgerError};

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
