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
use crate::store::{
    CheckpointRow, Conn, Db, EntryFilter, EntryRow, NODE_MIN_LEVEL, ReadAccess, StoreError,
    TreeReads,
};

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

/// Creates DOCKET_HOME (or the SQLite file's folder), saying plainly when it is a file
/// or when permission is lacking.
fn ensure_home(path: &std::path::Path) -> Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        });
    }
    crate::fsutil::ensure_dir(path, 0o700).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => LedgerError::HomePermission {
            path: path.to_owned(),
        },
        std::io::ErrorKind::NotADirectory => LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        },
        _ => LedgerError::Home {
            path: path.to_owned(),
            source: Arc::new(e),
        },
    })
}

/// A directory that must already exist, for commands that only read.
fn existing_dir(path: &std::path::Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LedgerError::NoHome {
            path: path.to_owned(),
        }),
        Err(e) => Err(LedgerError::Home {
            path: path.to_owned(),
            source: Arc::new(e),
        }),
    }
}

/// Whether this process may create a file in `dir` (tried, not guessed from mode
/// bits, so that it holds for root and for ACLs alike).
fn may_create_in(dir: &std::path::Path) -> bool {
    let probe = dir.join(format!(".docket-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
    }
}

/// True when the mode bits forbid writing `path` (whoever runs docket, root included:
/// an auditor's read-only copy is opened immutable even by root, so nothing is
/// created next to it).
fn read_only_on_disk(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o222 == 0)
}

/// A store error while opening the ledger at `location`, as the ledger's error.
fn open_error(location: &str, e: StoreError) -> LedgerError {
    match e {
        StoreError::Sql(source) => LedgerError::Open {
            location: location.to_owned(),
            source: Arc::new(source),
        },
        other => LedgerError::Storage {
            location: location.to_owned(),
            source: Arc::new(other),
        },
    }
}

impl Ledger {
    pub async fn open(config: &LedgerConfig) -> Result<Ledger> {
        ensure_home(&config.home)?;
        let location = config.database.location();
        let open_err = |e: StoreError| open_error(&location, e);
        let db = match &config.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    ensure_home(parent)?;
                }
                match Db::open_sqlite(path).await {
                    Ok(db) => db,
                    Err(e) => {
                        // SQLite only says "unable to open database file"; say why
                        // when it is the folder's permissions.
                        let folder = path
                            .parent()
                            .filter(|p| !p.as_os_str().is_empty())
                            .unwrap_or(std::path::Path::new("."));
                        if !path.exists() && !may_create_in(folder) {
                            return Err(LedgerError::HomePermission {
                                path: path.to_owned(),
                            });
                        }
                        return Err(open_err(e));
                    }
                }
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
            writer: Some(tx),
            writer_task: Some(writer_task),
        })
    }

    /// Opens an existing ledger for commands that only read (verify, list, show,
    /// prove, export): creates nothing — no DOCKET_HOME, no database, no schema, no
    /// key — and needs no private key. A mistyped home is an error naming it, never a
    /// new empty ledger that verifies. A SQLite file that is read-only on disk (an
    /// auditor's copy) is opened immutable, so nothing is written next to it.
    /// Appends are refused; signing a tree head works only if the private key is in
    /// `home/keys`.
    pub async fn open_existing(config: &LedgerConfig) -> Result<Ledger> {
        existing_dir(&config.home)?;
        let location = config.database.location();
        let open_err = |e: StoreError| open_error(&location, e);
        let db = match &config.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    existing_dir(parent)?;
                }
                if !path.is_file() {
                    return Err(LedgerError::NoLedger {
                        location: location.clone(),
                    });
                }
                let folder = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let access = if read_only_on_disk(path) || read_only_on_disk(folder) {
                    ReadAccess::Immutable
                } else {
                    ReadAccess::Shared
                };
                Db::open_sqlite_read_only(path, access)
                    .await
                    .map_err(open_err)?
            }
            Database::Postgres(url) => Db::open_postgres(url).await.map_err(open_err)?,
        };
        let Some(origin) = db.existing_origin().await.map_err(open_err)? else {
            db.close().await;
            return Err(LedgerError::NoLedger { location });
        };
        Ok(Ledger {
            db,
            location,
            origin,
            keys: KeyDir::new(config.home.join("keys")),
            blobs: BlobStore::new(config.home.join("blobs")),
            writer: None,
            writer_task: None,
        })
    }

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
    /// otherwise a head for that size signed now with the current key — only after
    /// proving from the stored tree that it is a prefix of the newest signed
    /// checkpoint. docket never signs over entries it has not checked against the
    /// last signed tree head.
    pub async fn checkpoint_at(&self, size: u64) -> Result<SignedCheckpoint> {
        if size == 0 {
            return Err(LedgerError::Empty);
        }
        let stored = self.checkpoints().await?;
        if let Some(cp) = stored.into_iter().find(|c| c.checkpoint.size == size) {
            return Ok(cp);
        }
        let key = self.signing_key().await?;
        let mut conn = self.conn().await?;
        let have = self.checked_size(&mut conn, size).await?;
        let latest = conn.latest_checkpoint().await.map_err(self.storage_err())?;
        let signed = open_newest_signed(&self.location, &self.origin, &key, latest, have)?;
        let signed_size = signed.as_ref().map_or(0, |c| c.size);
        if size > signed_size {
            return Err(LedgerError::UnsignedTail {
                location: self.location.clone(),
                first: signed_size,
                last: have - 1,
                signed: signed_size,
            });
        }
        let root = self.root_at(size).await?;
        if let Some(signed) = &signed {
            let proof = self.consistency_proof(size, signed.size).await?;
            if !merkle::verify_consistency(size, signed.size, &root, &signed.root, &proof) {
                return Err(diverged(&self.location, &mut conn, signed).await);
            }
        }
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
        if self.writer.is_none() {
            return Ok(cp);
        }
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

/// Opens the newest stored checkpoint with the ledger's signing key, for a ledger whose
/// entries end at `size`. `None` only for an empty ledger with no checkpoint; entries
/// with no checkpoint at all are an unsigned tail from entry 0.
fn open_newest_signed(
    location: &str,
    origin: &str,
    key: &Verifier,
    latest: Option<CheckpointRow>,
    size: u64,
) -> Result<Option<Checkpoint>> {
    let damaged = |detail: String| LedgerError::Damaged {
        location: location.to_owned(),
        detail,
    };
    let Some(row) = latest else {
        if size == 0 {
            return Ok(None);
        }
        return Err(LedgerError::UnsignedTail {
            location: location.to_owned(),
            first: 0,
            last: size - 1,
            signed: 0,
        });
    };
    if row.size > size {
        return Err(damaged(format!(
            "entries end at {size} but a checkpoint of size {} was signed (entries were removed)",
            row.size
        )));
    }
    let opened = SignedCheckpoint::open(&row.note, std::slice::from_ref(key)).map_err(|e| {
        damaged(format!(
            "the newest stored checkpoint (size {}) does not verify with the ledger's key {key}: {e}",
            row.size
        ))
    })?;
    let checkpoint = opened.checkpoint;
    if checkpoint.origin != origin || checkpoint.size != row.size {
        return Err(damaged(format!(
            "the stored checkpoint row for size {} holds a checkpoint of {} at size {}",
            row.size, checkpoint.origin, checkpoint.size
        )));
    }
    Ok(Some(checkpoint))
}

/// `MTH` of the first `size` entries from the stored nodes and leaf hashes.
async fn stored_root<R: TreeReads>(reader: &mut R, size: u64) -> Result<Hash, StoreError> {
    if size == 0 {
        return Ok(Hash::empty_tree());
    }
    let hashes = reader.read_subtrees(&merkle::decompose(0, size)).await?;
    Ok(merkle::fold_decomposition(&hashes).unwrap_or_else(Hash::empty_tree))
}

/// Where the stored tree stops matching what was signed: a binary search over the
/// stored checkpoints up to `up_to` (an edit of entry k changes the root of every
/// tree larger than k, and no smaller one). Returns the largest checkpointed size
/// whose signed root the stored tree still has (0 if none) and the smallest whose
/// root it does not; `None` when every stored checkpoint still matches.
async fn locate_divergence<R: TreeReads>(
    reader: &mut R,
    up_to: u64,
) -> Result<Option<(u64, u64)>, StoreError> {
    let rows = reader.read_checkpoints().await?;
    let heads: Vec<(u64, Hash)> = rows
        .iter()
        .filter(|r| r.size > 0 && r.size <= up_to)
        .filter_map(|r| SignedCheckpoint::parse_unverified(&r.note).ok())
        .filter(|c| c.checkpoint.size > 0 && c.checkpoint.size <= up_to)
        .map(|c| (c.checkpoint.size, c.checkpoint.root))
        .collect();
    let (mut lo, mut hi) = (0usize, heads.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(&(size, root)) = heads.get(mid) else {
            break;
        };
        if stored_root(reader, size).await? == root {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let Some(&(bad, _)) = heads.get(lo) else {
        return Ok(None);
    };
    let good = lo
        .checked_sub(1)
        .and_then(|i| heads.get(i))
        .map_or(0, |h| h.0);
    Ok(Some((good, bad)))
}

/// The refusal for a stored tree that does not extend the signed checkpoint
/// `signed`, naming the first entry that differs when the stored checkpoints pin it.
async fn diverged<R: TreeReads>(
    location: &str,
    reader: &mut R,
    signed: &Checkpoint,
) -> LedgerError {
    let (first, divergence) = match locate_divergence(reader, signed.size).await {
        Ok(Some((good, bad))) if bad == good + 1 => (
            Some(good),
            format!("entry {good} differs from what the checkpoint of size {bad} signed"),
        ),
        Ok(Some((good, bad))) => (
            Some(good),
            format!(
                "an entry in {good}..{} differs: the checkpoint signed at size {good} still matches, the one at size {bad} does not",
                bad - 1
            ),
        ),
        _ => (
            None,
            format!(
                "the stored tree of {} entries does not have the signed root {}",
                signed.size, signed.root
            ),
        ),
    };
    LedgerError::Diverged {
        location: location.to_owned(),
        signed: signed.size,
        first,
        divergence,
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
            let latest = tx.latest_checkpoint().await.map_err(&storage)?;
            let verifier = state.signer.verifier();
            let signed =
                open_newest_signed(&state.location, &state.origin, &verifier, latest, size)?;
            let signed_size = signed.as_ref().map_or(0, |c| c.size);
            if signed_size < size {
                return Err(LedgerError::UnsignedTail {
                    location: state.location.clone(),
                    first: signed_size,
                    last: size - 1,
                    signed: signed_size,
                });
            }
            let parts = merkle::decompose(0, size);
            let hashes = tx
                .subtree_hashes(&parts)
                .await
                .map_err(|e| state.damaged(e.to_string()))?;
            let range = CompactRange::from_peaks(size, &hashes)
                .ok_or_else(|| state.damaged("cannot rebuild the tree edge".into()))?;
            if let Some(signed) = &signed
                && range.root() != signed.root
            {
                return Err(diverged(&state.location, &mut tx, signed).await);
            }
            range
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use sqlx::Connection;

    use super::*;

    async fn ledger_of(home: &std::path::Path, appends: u64) -> Ledger {
        let ledger = Ledger::open(&LedgerConfig::sqlite_in(home)).await.unwrap();
        for n in 0..appends {
            ledger
                .append(NewEntry::new(
                    "approval",
                    json!({"initiator": "alice", "n": n}),
                ))
                .await
                .unwrap();
        }
        ledger
    }

    async fn raw(home: &std::path::Path) -> sqlx::SqliteConnection {
        let url = format!("sqlite://{}", home.join("ledger.sqlite3").display());
        sqlx::SqliteConnection::connect(&url).await.unwrap()
    }

    /// Rewrites entry `index` the way an attacker without the key would: new bytes,
    /// their leaf hash, and the stored node over them, so the stored tree is
    /// self-consistent.
    async fn forge(home: &std::path::Path, index: i64) {
        let mut db = raw(home).await;
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT entry FROM entries WHERE idx = ?1")
            .bind(index)
            .fetch_one(&mut db)
            .await
            .unwrap();
        let forged = String::from_utf8(bytes)
            .unwrap()
            .replace("alice", "mallory")
            .into_bytes();
        sqlx::query("UPDATE entries SET entry = ?1, leaf_hash = ?2 WHERE idx = ?3")
            .bind(&forged)
            .bind(crate::hash::leaf_hash(&forged).0.to_vec())
            .bind(index)
            .execute(&mut db)
            .await
            .unwrap();
        let leaves: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT leaf_hash FROM entries WHERE idx < 16 ORDER BY idx")
                .fetch_all(&mut db)
                .await
                .unwrap();
        let leaves: Vec<Hash> = leaves
            .iter()
            .map(|l| Hash::from_slice(l).unwrap())
            .collect();
        sqlx::query("UPDATE tree_nodes SET hash = ?1 WHERE level = 4 AND idx = 0")
            .bind(merkle::root_of(&leaves).0.to_vec())
            .execute(&mut db)
            .await
            .unwrap();
    }

    fn new_entry() -> NewEntry {
        NewEntry::new("approval", json!({"initiator": "bob"}))
    }

    #[tokio::test]
    async fn an_entry_rewritten_under_signed_checkpoints_is_never_signed_over() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ledger_of(&home, 20).await.close().await;
        forge(&home, 5).await;

        let ledger = Ledger::open(&LedgerConfig::sqlite_in(&home)).await.unwrap();
        let checkpoints = ledger.checkpoints().await.unwrap().len();
        match ledger.append(new_entry()).await {
            Err(LedgerError::Diverged {
                signed,
                first,
                divergence,
                ..
            }) => {
                assert_eq!((signed, first), (21, Some(5)));
                assert_eq!(
                    divergence,
                    "entry 5 differs from what the checkpoint of size 6 signed"
                );
            }
            other => panic!("the append must be refused: {other:?}"),
        }
        // A head for a size no group commit ended at is proven against the newest
        // signed checkpoint first.
        match ledger.checkpoint_at(1).await {
            Err(LedgerError::Diverged { first, .. }) => assert_eq!(first, Some(5)),
            other => panic!("signing at size 1 must be refused: {other:?}"),
        }
        assert_eq!(ledger.checkpoints().await.unwrap().len(), checkpoints);
        assert_eq!(ledger.size().await.unwrap(), 21);
        ledger.close().await;
    }

    #[tokio::test]
    async fn an_unsigned_tail_is_refused_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ledger_of(&home, 20).await.close().await;
        forge(&home, 5).await;
        sqlx::query("DELETE FROM checkpoints WHERE size > 5")
            .execute(&mut raw(&home).await)
            .await
            .unwrap();

        let ledger = Ledger::open(&LedgerConfig::sqlite_in(&home)).await.unwrap();
        match ledger.append(new_entry()).await {
            Err(LedgerError::UnsignedTail {
                first,
                last,
                signed,
                ..
            }) => assert_eq!((first, last, signed), (5, 20, 5)),
            other => panic!("the append must be refused: {other:?}"),
        }
        assert!(matches!(
            ledger.checkpoint_at(12).await,
            Err(LedgerError::UnsignedTail { first: 5, .. })
        ));
        assert!(matches!(
            ledger.checkpoint().await,
            Err(LedgerError::UnsignedTail { first: 5, .. })
        ));
        // Below the newest signed size, a head is still proven and signed.
        assert_eq!(ledger.checkpoint_at(3).await.unwrap().checkpoint.size, 3);

        let report = ledger
            .verify(&crate::VerifyOptions::default())
            .await
            .unwrap();
        let first = report.problems.first().unwrap();
        assert_eq!((first.code, first.entry), ("entries-unsigned", Some(5)));
        assert!(
            first
                .message
                .starts_with("entries 5..20 are not covered by any signed checkpoint"),
            "{}",
            first.message
        );
        ledger.close().await;
    }

    #[tokio::test]
    async fn a_ledger_with_no_checkpoint_at_all_is_an_unsigned_tail_from_entry_0() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ledger_of(&home, 3).await.close().await;
        sqlx::query("DELETE FROM checkpoints")
            .execute(&mut raw(&home).await)
            .await
            .unwrap();
        let ledger = Ledger::open(&LedgerConfig::sqlite_in(&home)).await.unwrap();
        assert!(matches!(
            ledger.append(new_entry()).await,
            Err(LedgerError::UnsignedTail {
                first: 0,
                last: 3,
                signed: 0,
                ..
            })
        ));
        ledger.close().await;
    }

    #[tokio::test]
    async fn an_untouched_ledger_reopened_goes_on_growing() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        ledger_of(&home, 3).await.close().await;
        let ledger = ledger_of(&home, 2).await;
        assert_eq!(ledger.size().await.unwrap(), 6);
        let report = ledger
            .verify(&crate::VerifyOptions::default())
            .await
            .unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        ledger.close().await;
    }

    #[tokio::test]
    async fn open_existing_creates_nothing_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("mistyped");
        match Ledger::open_existing(&LedgerConfig::sqlite_in(&home)).await {
            Err(LedgerError::NoHome { path }) => assert_eq!(path, home),
            other => panic!("{other:?}"),
        }
        assert!(!home.exists());
        std::fs::create_dir(&home).unwrap();
        match Ledger::open_existing(&LedgerConfig::sqlite_in(&home)).await {
            Err(e @ LedgerError::NoLedger { .. }) => assert!(
                e.to_string()
                    .contains(&home.join("ledger.sqlite3").display().to_string()),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);

        ledger_of(&home, 1).await.close().await;
        let reader = Ledger::open_existing(&LedgerConfig::sqlite_in(&home))
            .await
            .unwrap();
        assert_eq!(reader.size().await.unwrap(), 2);
        assert!(matches!(
            reader.append(new_entry()).await,
            Err(LedgerError::ReadOnly { .. })
        ));
        reader.close().await;
    }

    #[tokio::test]
    async fn a_home_that_is_a_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::write(&home, "x").unwrap();
        let err = Ledger::open(&LedgerConfig::sqlite_in(&home))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            format!("DOCKET_HOME {} is a file, not a directory", home.display())
        );
    }
}
