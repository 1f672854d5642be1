//! Appending a run's stage entries to the ledger, in stage order, and storing its
//! blobs with secrets redacted.

use std::sync::Arc;

use docket_core::secrets::SecretScanner;
use docket_ledger::{Digest256, Hash, Ledger, LedgerError, NewEntry};
use serde_json::Value;

use crate::error::EngineError;

/// Appends a run's stage entries and remembers them for the final record.
///
/// Each stage is appended as soon as it ends; the append's commit (an fsync) overlaps
/// the next stage's work, and the next append waits for it, so entries stay in stage
/// order and the final record is written only after every stage entry is durable.
pub(crate) struct Recorder {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) run_id: String,
    /// The run's entries so far (index, leaf hash), which the final record links.
    pub(crate) stages: Vec<(u64, Hash)>,
    pending: Option<tokio::task::JoinHandle<Result<docket_ledger::Appended, LedgerError>>>,
}

impl Recorder {
    /// A recorder for a run, continuing after `stages` (empty for a new run; a run
    /// completed later, like a held run's publish, links its earlier record).
    pub(crate) fn new(ledger: Arc<Ledger>, run_id: &str, stages: Vec<(u64, Hash)>) -> Recorder {
        Recorder {
            ledger,
            run_id: run_id.to_owned(),
            stages,
            pending: None,
        }
    }

    /// Waits for the last append to commit.
    pub(crate) async fn settle(&mut self) -> Result<(), EngineError> {
        if let Some(pending) = self.pending.take() {
            let appended = pending
                .await
                .map_err(|e| EngineError::Config(format!("ledger append task failed: {e}")))??;
            self.stages.push((appended.index, appended.leaf_hash));
        }
        Ok(())
    }

    /// Appends one stage entry (after the previous one committed), tagged with the
    /// run id.
    pub(crate) async fn stage(
        &mut self,
        kind: &str,
        mut payload: Value,
        blobs: Vec<Digest256>,
    ) -> Result<(), EngineError> {
        self.settle().await?;
        if let Value::Object(map) = &mut payload {
            map.insert("run_id".into(), Value::String(self.run_id.clone()));
        }
        let entry = NewEntry::new(kind, payload).with_blobs(blobs);
        let ledger = self.ledger.clone();
        self.pending = Some(tokio::spawn(async move { ledger.append(entry).await }));
        Ok(())
    }

    /// Stores bytes in the blob store with secrets redacted.
    pub(crate) fn blob(&self, bytes: &[u8]) -> Result<Digest256, EngineError> {
        store_redacted(self.ledger.blobs(), bytes)
    }
}

/// Stores bytes in the blob store, secrets redacted (only digests of originals are kept).
pub(crate) fn store_redacted(
    blobs: &docket_ledger::BlobStore,
    bytes: &[u8],
) -> Result<Digest256, EngineError> {
    let text = String::from_utf8_lossy(bytes);
    let (redacted, findings) = SecretScanner::builtin().redact(&text);
    let stored = if findings.is_empty() {
        bytes.to_vec()
    } else {
        redacted.into_bytes()
    };
    Ok(blobs.put(&stored).map_err(LedgerError::from)?)
}
