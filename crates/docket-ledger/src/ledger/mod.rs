//! The ledger: the public [`Ledger`] type, its entry reads, appends and blob
//! shredding. Opening, the writer task, the check before signing, proofs and keys
//! live in the submodules below.
//!
//! Invariant: there is no API to update or delete an entry. The only writes are
//! appends made by the writer task while it holds the backend's writer lock.
//!
//! Module layering (no circles): `config`, `signed_head` and `writer` know nothing of
//! [`Ledger`]; `open`, `proofs` and `keys` add its methods on top of them.

mod config;
mod keys;
mod open;
mod proofs;
mod signed_head;
mod writer;

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::blob::BlobStore;
use crate::entry::{NewEntry, StoredEntry, kinds};
use crate::error::{LedgerError, Result};
use crate::hash::Digest256;
use crate::keys::KeyDir;
use crate::store::{Conn, Db, EntryFilter, StoreError};

pub use self::config::{Database, LedgerConfig, redact_url};
pub use self::writer::{Appended, rotation_statement};
use self::writer::{WriteOp, WriteRequest};

/// An open ledger. Cheap to share behind an `Arc`; appends from many tasks are
/// gathered into group commits.
pub struct Ledger {
    db: Db,
    location: String,
    origin: String,
    keys: KeyDir,
    blobs: BlobStore,
    /// `None` when opened read-only ([`Ledger::open_existing`]).
    writer: Option<mpsc::Sender<WriteRequest>>,
    writer_task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("location", &self.location)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Waits for pending appends and closes the database.
    pub async fn close(self) {
        drop(self.writer);
        if let Some(task) = self.writer_task {
            let _ = task.await;
        }
        self.db.close().await;
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub(crate) fn storage_err(&self) -> impl Fn(StoreError) -> LedgerError + '_ {
        |e| LedgerError::Storage {
            location: self.location.clone(),
            source: Arc::new(e),
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) async fn conn(&self) -> Result<Conn> {
        self.db.conn().await.map_err(self.storage_err())
    }

    async fn submit(&self, op: WriteOp) -> Result<Appended> {
        let (reply, rx) = oneshot::channel();
        let writer = self.writer.as_ref().ok_or_else(|| LedgerError::ReadOnly {
            location: self.location.clone(),
            what: "appending",
        })?;
        writer
            .send(WriteRequest { op, reply })
            .await
            .map_err(|_| LedgerError::WriterGone {
                detail: "the writer task has exited".into(),
            })?;
        rx.await.map_err(|_| LedgerError::WriterGone {
            detail: "the writer task dropped the request".into(),
        })?
    }

    /// Appends one entry and returns once it is durable.
    pub async fn append(&self, entry: NewEntry) -> Result<Appended> {
        let prepared = entry.prepare()?;
        self.submit(WriteOp::Append(prepared)).await
    }

    /// Records that a blob's content is deleted, then deletes it. The entry comes
    /// first so that a crash in between leaves a recorded shred, never an unexplained
    /// missing blob.
    pub async fn shred_blob(&self, digest: Digest256, reason: &str) -> Result<Appended> {
        let appended = self
            .append(
                NewEntry::new(
                    kinds::BLOB_SHRED,
                    json!({"digest": digest.to_string(), "reason": reason}),
                )
                .with_blobs(vec![digest]),
            )
            .await?;
        self.blobs.remove(&digest)?;
        Ok(appended)
    }

    pub async fn size(&self) -> Result<u64> {
        self.conn().await?.size().await.map_err(self.storage_err())
    }

    pub async fn entry(&self, index: u64) -> Result<StoredEntry> {
        let mut conn = self.conn().await?;
        match conn.entry(index).await.map_err(self.storage_err())? {
            Some(row) => Ok(StoredEntry {
                index: row.index,
                bytes: row.bytes,
            }),
            None => Err(LedgerError::NoSuchEntry {
                index,
                size: conn.size().await.map_err(self.storage_err())?,
            }),
        }
    }

    pub async fn list(&self, filter: &EntryFilter) -> Result<Vec<StoredEntry>> {
        let rows = self
            .conn()
            .await?
            .list(filter)
            .await
            .map_err(self.storage_err())?;
        Ok(rows
            .into_iter()
            .map(|r| StoredEntry {
                index: r.index,
                bytes: r.bytes,
            })
            .collect())
    }

    pub fn keys(&self) -> &KeyDir {
        &self.keys
    }
}
