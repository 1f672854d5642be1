//! The writer task: the only code that writes entries. Owns group commit (one
//! transaction, one fsync and one signed checkpoint per batch), the genesis entry,
//! key rotation entries and the record of which key signs.
//!
//! Invariant: appends are made only here, while the backend's writer lock is held,
//! and a commit signs only over a tree edge this writer computed or one proven to
//! extend the newest signed checkpoint ([`signed_head::signed_edge`]).

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::checkpoint::Checkpoint;
use crate::entry::{NewEntry, PreparedEntry, format_time, kinds};
use crate::error::{LedgerError, Result};
use crate::hash::Hash;
use crate::keys::KeyDir;
use crate::merkle::CompactRange;
use crate::note::{self, Signer, Verifier};
use crate::store::{CheckpointRow, Conn, EntryRow, NODE_MIN_LEVEL, StoreError};

use super::signed_head;

/// Most entries one group commit takes; more wait for the next commit.
const MAX_BATCH: usize = 8192;
/// The meta key under which the ledger records the public key that signs.
pub(super) const META_SIGNING_KEY: &str = "signing_key";

/// What an append returns once the entry is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub index: u64,
    pub leaf_hash: Hash,
    pub time: String,
    /// Tree size after the group commit that carried this entry.
    pub tree_size: u64,
}

pub(super) enum WriteOp {
    Append(PreparedEntry),
    RotateKey(Box<Signer>),
}

pub(super) struct WriteRequest {
    pub(super) op: WriteOp,
    pub(super) reply: oneshot::Sender<Result<Appended>>,
}

pub(super) fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

/// The text a key rotation signs, with both the old and the new key.
pub fn rotation_statement(origin: &str, old: &Verifier, new: &Verifier) -> String {
    format!("docket key rotation\n{origin}\nold {old}\nnew {new}\n")
}

/// The single task that writes to the backend. Requests that arrive while a commit
/// is in flight are gathered into the next commit (group commit), so one fsync
/// serves many appends.
pub(super) struct Writer {
    conn: Conn,
    state: WriterState,
}

struct WriterState {
    location: String,
    origin: String,
    keys: KeyDir,
    signer: Signer,
    /// The right edge of the tree as of our last commit; `None` when unknown.
    range: Option<CompactRange>,
}

impl Writer {
    /// Starts the writer task for the ledger `origin` at `location`, signing with
    /// `signer`. Dropping every sender ends the task once its pending commits are done.
    pub(super) fn spawn(
        conn: Conn,
        location: String,
        origin: String,
        keys: KeyDir,
        signer: Signer,
    ) -> (mpsc::Sender<WriteRequest>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let writer = Writer {
            conn,
            state: WriterState {
                location,
                origin,
                keys,
                signer,
                range: None,
            },
        };
        let task = tokio::spawn(writer.run(rx));
        (tx, task)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<WriteRequest>) {
        let mut batch = Vec::with_capacity(64);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            let (ops, replies): (Vec<WriteOp>, Vec<_>) =
                batch.drain(..).map(|r| (r.op, r.reply)).unzip();
            match commit(&mut self.conn, &mut self.state, ops).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(err) => {
                    // The transaction rolled back; the next commit rereads the head.
                    self.state.range = None;
                    // A refusal to sign over unchecked history reaches every caller
                    // as its error; logging it as well would print it twice.
                    if matches!(
                        err,
                        LedgerError::UnsignedTail { .. } | LedgerError::Diverged { .. }
                    ) {
                        tracing::debug!(error = %err, "group commit refused");
                    } else {
                        tracing::warn!(error = %err, "group commit failed");
                    }
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }
    }
}

impl WriterState {
    fn damaged(&self, detail: String) -> LedgerError {
        LedgerError::Damaged {
            location: self.location.clone(),
            detail,
        }
    }
}

/// One group commit: every op in `ops` becomes an entry, the batch gets one signed
/// checkpoint, and all of it commits in one transaction.
async fn commit(
    conn: &mut Conn,
    state: &mut WriterState,
    ops: Vec<WriteOp>,
) -> Result<Vec<Appended>> {
    let location = state.location.clone();
    let storage = move |e: StoreError| LedgerError::Storage {
        location: location.clone(),
        source: Arc::new(e),
    };
    let mut tx = conn.begin_write().await.map_err(&storage)?;
    let size = tx.size().await.map_err(&storage)?;

    // Which key signs: the ledger's record wins over what this process cached, so
    // that a rotation made by another process is followed.
    let recorded_key = tx.meta(META_SIGNING_KEY).await.map_err(&storage)?;
    let mut set_key = None;
    match &recorded_key {
        None if size == 0 => set_key = Some(state.signer.verifier().to_string()),
        None => {
            return Err(state.damaged(format!("it has {size} entries but no signing key")));
        }
        Some(vkey) if *vkey != state.signer.verifier().to_string() => {
            let verifier = Verifier::parse(vkey).map_err(crate::keys::KeyError::from)?;
            state.signer = state.keys.find(&verifier)?;
        }
        Some(_) => {}
    }

    // The right edge of the tree: cached (this writer computed it, so what it signs
    // extends what it signed), or rebuilt from the stored tree when another process
    // wrote — and then proven to extend the newest signed checkpoint before anything
    // is signed over it: the stored entries, leaf hashes and nodes can be rewritten by
    // anyone with write access to the database, the signatures cannot.
    let mut range = match state.range.take() {
        Some(r) if r.size() == size => r,
        _ => {
            let verifier = state.signer.verifier();
            signed_head::signed_edge(&mut tx, &state.location, &state.origin, &verifier, size)
                .await?
        }
    };

    let now = Timestamp::now();
    let time = format_time(now);
    let time_us = micros(now);
    let mut rows = Vec::with_capacity(ops.len() + 1);
    let mut nodes = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut rotated_to: Option<Box<Signer>> = None;

    let mut push = |range: &mut CompactRange, entry: &PreparedEntry| -> Appended {
        let index = range.size();
        let bytes = entry.encode_at(index, &time);
        let leaf = crate::hash::leaf_hash(&bytes);
        range.push(leaf, |subtree, hash| {
            if subtree.level >= NODE_MIN_LEVEL {
                nodes.push((subtree, *hash));
            }
        });
        rows.push(EntryRow {
            index,
            time_us,
            kind: entry.kind.clone(),
            leaf_hash: leaf.0.to_vec(),
            bytes,
        });
        Appended {
            index,
            leaf_hash: leaf,
            time: time.clone(),
            tree_size: 0,
        }
    };

    if size == 0 {
        let genesis = NewEntry::new(
            kinds::GENESIS,
            json!({
                "origin": state.origin,
                "key": state.signer.verifier().to_string(),
                "docket_version": env!("CARGO_PKG_VERSION"),
            }),
        )
        .prepare()?;
        push(&mut range, &genesis);
    }
    for op in ops {
        let appended = match op {
            WriteOp::Append(entry) => push(&mut range, &entry),
            WriteOp::RotateKey(new_signer) => {
                let current = rotated_to.as_deref().unwrap_or(&state.signer);
                let old = current.verifier();
                let new = new_signer.verifier();
                let statement = rotation_statement(&state.origin, &old, &new);
                let signed = note::sign_note(&statement, &[current, &new_signer])
                    .map_err(crate::keys::KeyError::from)?;
                let rotation = NewEntry::new(
                    kinds::KEY_ROTATE,
                    json!({
                        "old_key": old.to_string(),
                        "new_key": new.to_string(),
                        "statement": signed,
                    }),
                )
                .prepare()?;
                let appended = push(&mut range, &rotation);
                set_key = Some(new.to_string());
                rotated_to = Some(new_signer);
                appended
            }
        };
        results.push(appended);
    }

    let signer = rotated_to.as_deref().unwrap_or(&state.signer);
    let checkpoint = Checkpoint {
        origin: state.origin.clone(),
        size: range.size(),
        root: range.root(),
        extensions: vec![],
    };
    let note = checkpoint.sign(signer)?;
    tx.insert(
        &rows,
        &nodes,
        &CheckpointRow {
            size: range.size(),
            time_us,
            note,
        },
    )
    .await
    .map_err(&storage)?;
    if let Some(vkey) = &set_key {
        tx.set_meta(META_SIGNING_KEY, vkey)
            .await
            .map_err(&storage)?;
    }
    tx.commit().await.map_err(&storage)?;

    if let Some(new_signer) = rotated_to {
        state.signer = *new_signer;
    }
    let tree_size = range.size();
    state.range = Some(range);
    for r in &mut results {
        r.tree_size = tree_size;
    }
    Ok(results)
}
