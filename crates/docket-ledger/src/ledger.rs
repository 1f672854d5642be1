//! The ledger: opening a backend, the group-commit writer, reads, checkpoints, proofs,
//! key rotation and blob shredding.
//!
//! Invariant: there is no API to update or delete an entry. The only writes are
//! appends made by the writer task while it holds the backend's writer lock.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::blob::BlobStore;
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::{NewEntry, PreparedEntry, StoredEntry, format_time, kinds};
use crate::error::{LedgerError, Result};
use crate::hash::{Digest256, Hash};
use crate::keys::KeyDir;
use crate::merkle::{self, CompactRange, Subtree};
use crate::note::{self, Signer, Verifier};
use crate::store::{CheckpointRow, Conn, Db, EntryFilter, EntryRow, NODE_MIN_LEVEL, StoreError};

/// Most entries one group commit takes; more wait for the next commit.
const MAX_BATCH: usize = 8192;
const META_SIGNING_KEY: &str = "signing_key";

/// Where the ledger's rows live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// Reads `postgres://…` / `postgresql://…` as PostgreSQL and `sqlite://PATH` or a
    /// plain path as SQLite.
    pub fn from_url(url: &str) -> Database {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(url.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url)))
        }
    }

    /// A printable location; passwords in URLs are replaced by `****`.
    pub fn location(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

/// Hides the password of `scheme://user:password@host/...`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_owned(),
    }
}

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// DOCKET_HOME: keys and blobs live here (and the SQLite file by default).
    pub home: PathBuf,
    pub database: Database,
}

impl LedgerConfig {
    /// The embedded default: a SQLite file in `home`.
    pub fn sqlite_in(home: impl Into<PathBuf>) -> LedgerConfig {
        let home = home.into();
        LedgerConfig {
            database: Database::Sqlite(home.join("ledger.sqlite3")),
            home,
        }
    }
}

/// What an append returns once the entry is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub index: u64,
    pub leaf_hash: Hash,
    pub time: String,
    /// Tree size after the group commit that carried this entry.
    pub tree_size: u64,
}

enum WriteOp {
    Append(PreparedEntry),
    RotateKey(Box<Signer>),
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<Result<Appended>>,
}

/// An open ledger. Cheap to share behind an `Arc`; appends from many tasks are
/// gathered into group commits.
pub struct Ledger {
    db: Db,
    location: String,
    origin: String,
    keys: KeyDir,
    blobs: BlobStore,
    writer: mpsc::Sender<WriteRequest>,
    writer_task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("location", &self.location)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LedgerError::WriterGone {
        detail: format!("random source failed: {e}"),
    })?;
    Ok(hex::encode(buf))
}

fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

impl Ledger {
    pub async fn open(config: &LedgerConfig) -> Result<Ledger> {
        crate::fsutil::ensure_dir(&config.home, 0o700).map_err(|e| LedgerError::Home {
            path: config.home.clone(),
            source: Arc::new(e),
        })?;
        let location = config.database.location();
        let open_err = |e: StoreError| match e {
            StoreError::Sql(source) => LedgerError::Open {
                location: location.clone(),
                source: Arc::new(source),
            },
            other => LedgerError::Storage {
                location: location.clone(),
                source: Arc::new(other),
            },
        };
        let db = match &config.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    crate::fsutil::ensure_dir(parent, 0o700).map_err(|e| LedgerError::Home {
                        path: parent.to_owned(),
                        source: Arc::new(e),
                    })?;
                }
                Db::open_sqlite(path).await.map_err(open_err)?
            }
            Database::Postgres(url) => Db::open_postgres(url).await.map_err(open_err)?,
        };
        let new_origin = format!("docket.ledger/{}", random_hex(8)?);
        let origin = db.init(&new_origin).await.map_err(open_err)?;
        let keys = KeyDir::new(config.home.join("keys"));
        let mut conn = db.conn().await.map_err(open_err)?;
        let signer = match conn.meta(META_SIGNING_KEY).await.map_err(open_err)? {
            Some(vkey) => {
                keys.find(&Verifier::parse(&vkey).map_err(crate::keys::KeyError::from)?)?
            }
            None => match keys.load_all()?.into_iter().find(|s| s.name() == origin) {
                Some(existing) => existing,
                None => keys.create(&origin)?,
            },
        };
        let writer_conn = db.conn().await.map_err(open_err)?;
        drop(conn);
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let writer = Writer {
            conn: writer_conn,
            state: WriterState {
                location: location.clone(),
                origin: origin.clone(),
                keys: keys.clone(),
                signer,
                range: None,
            },
        };
        let writer_task = tokio::spawn(writer.run(rx));
        Ok(Ledger {
            db,
            location,
            origin,
            keys,
            blobs: BlobStore::new(config.home.join("blobs")),
            writer: tx,
            writer_task,
        })
    }

    /// Waits for pending appends and closes the database.
    pub async fn close(self) {
        drop(self.writer);
        let _ = self.writer_task.await;
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
        self.writer
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

    /// Replaces the signing key: the new key is announced in an entry signed by both
    /// keys, later checkpoints are signed by the new key, and the old private key is
    /// deleted.
    pub async fn rotate_key(&self) -> Result<(Verifier, Verifier, Appended)> {
        let old = self.signing_key().await?;
        let new_signer = self.keys.create(&self.origin)?;
        let new = new_signer.verifier();
        let appended = self
            .submit(WriteOp::RotateKey(Box::new(new_signer)))
            .await?;
        let old_signer = self.keys.find(&old)?;
        self.keys.remove(&old_signer)?;
        Ok((old, new, appended))
    }

    /// The public key that signs new checkpoints.
    pub async fn signing_key(&self) -> Result<Verifier> {
        let mut conn = self.conn().await?;
        match conn
            .meta(META_SIGNING_KEY)
            .await
            .map_err(self.storage_err())?
        {
            Some(vkey) => Ok(Verifier::parse(&vkey).map_err(crate::keys::KeyError::from)?),
            None => {
                let signer = self
                    .keys
                    .load_all()?
                    .into_iter()
                    .find(|s| s.name() == self.origin)
                    .ok_or(LedgerError::Empty)?;
                Ok(signer.verifier())
            }
        }
    }

    /// Every key that has signed for this ledger, oldest first: the first key, then
    /// each rotation's new key (each rotation entry is signed by both, so the chain
    /// can be followed from the first key). A ledger never rotated has one key.
    pub async fn key_chain(&self) -> Result<Vec<Verifier>> {
        let rotations = self
            .list(&EntryFilter {
                kind: Some(crate::entry::kinds::KEY_ROTATE.to_owned()),
                ..EntryFilter::default()
            })
            .await?;
        let mut chain: Vec<Verifier> = Vec::new();
        for stored in rotations {
            let entry = stored.decode()?;
            for field in ["old_key", "new_key"] {
                let Some(text) = entry.payload.get(field).and_then(|v| v.as_str()) else {
                    continue;
                };
                let key = Verifier::parse(text).map_err(crate::keys::KeyError::from)?;
                if !chain.contains(&key) {
                    chain.push(key);
                }
            }
        }
        let current = self.signing_key().await?;
        if !chain.contains(&current) {
            chain.push(current);
        }
        Ok(chain)
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

    /// The newest stored checkpoint (every group commit stores one).
    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let row = self
            .conn()
            .await?
            .latest_checkpoint()
            .await
            .map_err(self.storage_err())?;
        row.map(|r| SignedCheckpoint::parse_unverified(&r.note).map_err(LedgerError::from))
            .transpose()
    }

    /// Every stored checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        let rows = self
            .conn()
            .await?
            .checkpoints()
            .await
            .map_err(self.storage_err())?;
        rows.iter()
            .map(|r| SignedCheckpoint::parse_unverified(&r.note).map_err(LedgerError::from))
            .collect()
    }

    async fn subtree_hashes(&self, conn: &mut Conn, ranges: &[(u64, u64)]) -> Result<Vec<Hash>> {
        let parts: Vec<Vec<Subtree>> = ranges
            .iter()
            .map(|&(lo, hi)| merkle::decompose(lo, hi))
            .collect();
        let flat: Vec<Subtree> = parts.iter().flatten().copied().collect();
        let hashes = conn
            .subtree_hashes(&flat)
            .await
            .map_err(|e| LedgerError::Damaged {
                location: self.location.clone(),
                detail: e.to_string(),
            })?;
        let mut out = Vec::with_capacity(ranges.len());
        let mut at = 0;
        for p in &parts {
            let slice = hashes.get(at..at + p.len()).unwrap_or_default();
            out.push(merkle::fold_decomposition(slice).unwrap_or_else(Hash::empty_tree));
            at += p.len();
        }
        Ok(out)
    }

    async fn checked_size(&self, conn: &mut Conn, requested: u64) -> Result<u64> {
        let size = conn.size().await.map_err(self.storage_err())?;
        if requested > size {
            return Err(LedgerError::NoSuchSize { requested, size });
        }
        Ok(size)
    }

    /// `MTH` of the first `size` entries, from stored hashes.
    pub async fn root_at(&self, size: u64) -> Result<Hash> {
        let mut conn = self.conn().await?;
        self.checked_size(&mut conn, size).await?;
        if size == 0 {
            return Ok(Hash::empty_tree());
        }
        Ok(self.subtree_hashes(&mut conn, &[(0, size)]).await?[0])
    }

    /// A checkpoint for tree size `size`: the stored one if a group commit ended there,
    /// otherwise a head for that size signed now with the current key.
    pub async fn checkpoint_at(&self, size: u64) -> Result<SignedCheckpoint> {
        if size == 0 {
            return Err(LedgerError::Empty);
        }
        let stored = self.checkpoints().await?;
        if let Some(cp) = stored.into_iter().find(|c| c.checkpoint.size == size) {
            return Ok(cp);
        }
        let root = self.root_at(size).await?;
        let key = self.signing_key().await?;
        let signer = self.keys.find(&key)?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: vec![],
        };
        let note = checkpoint.sign(&signer)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Signs the current tree head (stored already by the last group commit, so this
    /// returns that checkpoint unless the table lost it).
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint> {
        let size = self.size().await?;
        let cp = self.checkpoint_at(size).await?;
        let mut conn = self.conn().await?;
        conn.insert_checkpoint(&CheckpointRow {
            size,
            time_us: micros(Timestamp::now()),
            note: cp.note.clone(),
        })
        .await
        .map_err(self.storage_err())?;
        Ok(cp)
    }

    /// The RFC 9162 inclusion proof of entry `index` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        let mut conn = self.conn().await?;
        let have = self.checked_size(&mut conn, size).await?;
        if index >= size {
            return Err(LedgerError::NoSuchEntry {
                index,
                size: have.min(size),
            });
        }
        self.subtree_hashes(&mut conn, &merkle::inclusion_ranges(index, size))
            .await
    }

    /// The RFC 9162 consistency proof between tree sizes `old` and `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        let mut conn = self.conn().await?;
        self.checked_size(&mut conn, new).await?;
        if old > new {
            return Err(LedgerError::NoSuchSize {
                requested: old,
                size: new,
            });
        }
        self.subtree_hashes(&mut conn, &merkle::consistency_ranges(old, new))
            .await
    }

    pub fn keys(&self) -> &KeyDir {
        &self.keys
    }
}

/// The text a key rotation signs, with both the old and the new key.
pub fn rotation_statement(origin: &str, old: &Verifier, new: &Verifier) -> String {
    format!("docket key rotation\n{origin}\nold {old}\nnew {new}\n")
}

/// The single task that writes to the backend. Requests that arrive while a commit
/// is in flight are gathered into the next commit (group commit), so one fsync
/// serves many appends.
struct Writer {
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
                    tracing::warn!(error = %err, "group commit failed");
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

    // The right edge of the tree: cached, or rebuilt when another process wrote.
    let mut range = match state.range.take() {
        Some(r) if r.size() == size => r,
        _ => {
            // Never extend a ledger whose tail was cut off behind our back.
            if let Some(cp_size) = tx.max_checkpoint_size().await.map_err(&storage)?
                && cp_size > size
            {
                return Err(state.damaged(format!(
                    "entries end at {size} but a checkpoint of size {cp_size} was signed (entries were removed)"
                )));
            }
            let parts = merkle::decompose(0, size);
            let hashes = tx
                .subtree_hashes(&parts)
                .await
                .map_err(|e| state.damaged(e.to_string()))?;
            CompactRange::from_peaks(size, &hashes)
                .ok_or_else(|| state.damaged("cannot rebuild the tree edge".into()))?
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
