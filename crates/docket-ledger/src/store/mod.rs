//! Where the ledger's rows live: SQLite (the embedded default) or PostgreSQL. Both
//! backends expose the same small set of operations; the SQL differs, the rules do not.
//!
//! Invariant: there is no update or delete of entries, tree nodes or checkpoints.
//! Rows are only ever inserted, inside a transaction that holds the writer lock.

mod postgres;
mod sqlite;

use std::time::Duration;

use crate::hash::Hash;
use crate::merkle::Subtree;

/// Perfect subtrees at this level and above are stored in `tree_nodes`, so that a
/// proof needs a few dozen row reads whatever the size of the tree; lower levels are
/// recomputed from at most 2^4 stored leaf hashes.
pub(crate) const NODE_MIN_LEVEL: u32 = 4;

/// One row of the `entries` table.
#[derive(Debug, Clone)]
pub(crate) struct EntryRow {
    pub index: u64,
    pub time_us: i64,
    pub kind: String,
    pub leaf_hash: Vec<u8>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct CheckpointRow {
    pub size: u64,
    pub time_us: i64,
    pub note: String,
}

/// Which entries a listing wants.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub kind: Option<String>,
    /// Inclusive lower bound, microseconds since the Unix epoch.
    pub since_us: Option<i64>,
    /// Exclusive upper bound, microseconds since the Unix epoch.
    pub until_us: Option<i64>,
    pub limit: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("stored row is inconsistent: {0}")]
    Inconsistent(String),
    #[error("reading the ledger failed: {0}")]
    Scan(String),
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

pub(crate) fn to_i64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| {
        StoreError::Inconsistent(format!("{v} does not fit in a signed 64-bit column"))
    })
}

pub(crate) fn to_u64(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Inconsistent(format!("negative index {v}")))
}

/// A connection pool on one of the backends.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(sqlx::SqlitePool, SqliteFile),
    Postgres(sqlx::PgPool),
}

/// How an existing ledger is opened by a command that only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAccess {
    /// Read through SQLite's ordinary locking (others may be appending).
    Shared,
    /// The file and its folder are read-only (an auditor's copy): SQLite opens it as
    /// immutable, so that it needs no `-wal` or `-shm` file next to it.
    Immutable,
}

/// The SQLite file, and whether full scans must open it as immutable.
#[derive(Debug, Clone)]
pub(crate) struct SqliteFile {
    pub path: std::path::PathBuf,
    pub immutable: bool,
}

/// Entries read by a full scan arrive in chunks of this many rows.
pub(crate) const SCAN_CHUNK: usize = 4096;

/// A row read by a full scan, with the leaf hash of its bytes computed by the reader
/// thread, so that the hashing that dominates verification is split between the
/// reader (leaves) and the verifier (tree nodes). Measured: hashing every other chunk
/// on each side was slower (the verifier then becomes the bottleneck).
#[derive(Debug, Clone)]
pub(crate) struct ScannedRow {
    pub row: EntryRow,
    pub leaf: Option<Hash>,
}

impl ScannedRow {
    pub fn new(row: EntryRow) -> ScannedRow {
        let leaf = Some(crate::hash::leaf_hash(&row.bytes));
        ScannedRow { row, leaf }
    }
}

/// A full scan in progress: chunks of consecutive rows, in index order.
pub(crate) type EntryChunks = tokio::sync::mpsc::Receiver<StoreResult<Vec<ScannedRow>>>;

/// One pooled connection; every operation runs on one of these.
pub(crate) enum Conn {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// A write transaction that holds the ledger's writer lock until commit or drop.
pub(crate) enum WriteTx<'c> {
    Sqlite(sqlx::Transaction<'c, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'c, sqlx::Postgres>),
}

/// Runs the same operation on whichever backend the connection belongs to.
macro_rules! dispatch {
    ($conn:expr, $c:ident => $call:ident($($arg:expr),*)) => {
        match $conn {
            Conn::Sqlite($c) => sqlite::$call(&mut *$c, $($arg),*).await,
            Conn::Postgres($c) => postgres::$call(&mut *$c, $($arg),*).await,
        }
    };
}

macro_rules! dispatch_tx {
    ($tx:expr, $c:ident => $call:ident($($arg:expr),*)) => {
        match $tx {
            WriteTx::Sqlite($c) => sqlite::$call(&mut **$c, $($arg),*).await,
            WriteTx::Postgres($c) => postgres::$call(&mut **$c, $($arg),*).await,
        }
    };
}

impl Db {
    pub async fn open_sqlite(path: &std::path::Path) -> StoreResult<Db> {
        let file = SqliteFile {
            path: path.to_owned(),
            immutable: false,
        };
        Ok(Db::Sqlite(sqlite::open(path).await?, file))
    }

    /// Opens an existing SQLite ledger for reading only: never creates the file, and
    /// writes nothing next to it when `access` is immutable.
    pub async fn open_sqlite_read_only(
        path: &std::path::Path,
        access: ReadAccess,
    ) -> StoreResult<Db> {
        let file = SqliteFile {
            path: path.to_owned(),
            immutable: access == ReadAccess::Immutable,
        };
        Ok(Db::Sqlite(sqlite::open_read_only(&file).await?, file))
    }

    pub async fn open_postgres(url: &str) -> StoreResult<Db> {
        Ok(Db::Postgres(postgres::open(url).await?))
    }

    pub async fn conn(&self) -> StoreResult<Conn> {
        Ok(match self {
            Db::Sqlite(p, _) => Conn::Sqlite(p.acquire().await?),
            Db::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Reads every entry with an index below `below`, in order, on a background
    /// reader so that reading and verifying overlap.
    pub fn scan_entries(&self, below: u64) -> EntryChunks {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        match self {
            Db::Sqlite(_, file) => sqlite::scan_entries(file.clone(), below, tx),
            Db::Postgres(pool) => postgres::scan_entries(pool.clone(), below, tx),
        }
        rx
    }

    /// Every stored tree node (for verification).
    pub async fn all_nodes(&self) -> StoreResult<Vec<(Subtree, Vec<u8>)>> {
        match self {
            Db::Sqlite(_, file) => sqlite::all_nodes(file.clone()).await,
            Db::Postgres(pool) => postgres::all_nodes(&mut *pool.acquire().await?).await,
        }
    }

    /// Creates the tables if needed and returns the ledger's origin, generating it on
    /// first use from `new_origin`.
    pub async fn init(&self, new_origin: &str) -> StoreResult<String> {
        let mut conn = self.conn().await?;
        dispatch!(&mut conn, c => init_schema(new_origin))
    }

    /// The origin of an existing ledger, creating nothing; `None` when the database
    /// holds no docket ledger.
    pub async fn existing_origin(&self) -> StoreResult<Option<String>> {
        let mut conn = self.conn().await?;
        dispatch!(&mut conn, c => existing_origin())
    }
}

impl Conn {
    pub async fn begin_write(&mut self) -> StoreResult<WriteTx<'_>> {
        Ok(match self {
            Conn::Sqlite(c) => WriteTx::Sqlite(sqlite::begin_write(c).await?),
            Conn::Postgres(c) => WriteTx::Postgres(postgres::begin_write(c).await?),
        })
    }

    pub async fn size(&mut self) -> StoreResult<u64> {
        dispatch!(self, c => size())
    }

    pub async fn meta(&mut self, key: &str) -> StoreResult<Option<String>> {
        dispatch!(self, c => meta_get(key))
    }

    pub async fn entry(&mut self, index: u64) -> StoreResult<Option<EntryRow>> {
        dispatch!(self, c => entry(index))
    }

    pub async fn list(&mut self, filter: &EntryFilter) -> StoreResult<Vec<EntryRow>> {
        dispatch!(self, c => list(filter))
    }

    pub async fn checkpoints(&mut self) -> StoreResult<Vec<CheckpointRow>> {
        dispatch!(self, c => checkpoints())
    }

    pub async fn latest_checkpoint(&mut self) -> StoreResult<Option<CheckpointRow>> {
        dispatch!(self, c => latest_checkpoint())
    }

    pub async fn subtree_hashes(&mut self, subtrees: &[Subtree]) -> StoreResult<Vec<Hash>> {
        dispatch!(self, c => subtree_hashes(subtrees))
    }

    pub async fn insert_checkpoint(&mut self, row: &CheckpointRow) -> StoreResult<()> {
        dispatch!(self, c => insert_checkpoint(row))
    }
}

impl WriteTx<'_> {
    pub async fn size(&mut self) -> StoreResult<u64> {
        dispatch_tx!(self, c => size())
    }

    pub async fn latest_checkpoint(&mut self) -> StoreResult<Option<CheckpointRow>> {
        dispatch_tx!(self, c => latest_checkpoint())
    }

    pub async fn checkpoints(&mut self) -> StoreResult<Vec<CheckpointRow>> {
        dispatch_tx!(self, c => checkpoints())
    }

    pub async fn meta(&mut self, key: &str) -> StoreResult<Option<String>> {
        dispatch_tx!(self, c => meta_get(key))
    }

    pub async fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        dispatch_tx!(self, c => meta_set(key, value))
    }

    pub async fn subtree_hashes(&mut self, subtrees: &[Subtree]) -> StoreResult<Vec<Hash>> {
        dispatch_tx!(self, c => subtree_hashes(subtrees))
    }

    pub async fn insert(
        &mut self,
        entries: &[EntryRow],
        nodes: &[(Subtree, Hash)],
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()> {
        dispatch_tx!(self, c => insert_batch(entries, nodes, checkpoint))
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await?,
            WriteTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// The reads that prove a stored tree extends a signed checkpoint, on a plain
/// connection (`Ledger::checkpoint_at`) or inside the writer's transaction.
pub(crate) trait TreeReads {
    async fn read_subtrees(&mut self, subtrees: &[Subtree]) -> StoreResult<Vec<Hash>>;
    async fn read_checkpoints(&mut self) -> StoreResult<Vec<CheckpointRow>>;
}

impl TreeReads for Conn {
    async fn read_subtrees(&mut self, subtrees: &[Subtree]) -> StoreResult<Vec<Hash>> {
        self.subtree_hashes(subtrees).await
    }
    async fn read_checkpoints(&mut self) -> StoreResult<Vec<CheckpointRow>> {
        self.checkpoints().await
    }
}

impl TreeReads for WriteTx<'_> {
    async fn read_subtrees(&mut self, subtrees: &[Subtree]) -> StoreResult<Vec<Hash>> {
        self.subtree_hashes(subtrees).await
    }
    async fn read_checkpoints(&mut self) -> StoreResult<Vec<CheckpointRow>> {
        self.checkpoints().await
    }
}

/// Splits `subtrees` into those read from `tree_nodes` and those recomputed from leaf
/// hashes, and returns the leaf indexes the latter need.
pub(crate) fn plan_subtree_reads(subtrees: &[Subtree]) -> (Vec<Subtree>, Vec<u64>) {
    let nodes: Vec<Subtree> = subtrees
        .iter()
        .filter(|s| s.level >= NODE_MIN_LEVEL)
        .copied()
        .collect();
    let mut leaves: Vec<u64> = subtrees
        .iter()
        .filter(|s| s.level < NODE_MIN_LEVEL)
        .flat_map(|s| s.first_leaf()..s.end_leaf())
        .collect();
    leaves.sort_unstable();
    leaves.dedup();
    (nodes, leaves)
}

/// Assembles the hashes of `subtrees` (in order) from what [`plan_subtree_reads`] asked
/// for. Fails if a row that must exist is missing.
pub(crate) fn assemble_subtree_hashes(
    subtrees: &[Subtree],
    nodes: &std::collections::HashMap<(u32, u64), Hash>,
    leaves: &std::collections::HashMap<u64, Hash>,
) -> StoreResult<Vec<Hash>> {
    subtrees
        .iter()
        .map(|s| {
            if s.level >= NODE_MIN_LEVEL {
                nodes.get(&(s.level, s.index)).copied().ok_or_else(|| {
                    StoreError::Inconsistent(format!(
                        "tree node at level {} index {} is missing",
                        s.level, s.index
                    ))
                })
            } else {
                let hashes = (s.first_leaf()..s.end_leaf())
                    .map(|i| {
                        leaves.get(&i).copied().ok_or_else(|| {
                            StoreError::Inconsistent(format!("entry {i} is missing"))
                        })
                    })
                    .collect::<StoreResult<Vec<Hash>>>()?;
                Ok(crate::merkle::root_of(&hashes))
            }
        })
        .collect()
}

pub(crate) fn hash_column(bytes: &[u8], what: &str) -> StoreResult<Hash> {
    Hash::from_slice(bytes)
        .ok_or_else(|| StoreError::Inconsistent(format!("{what} is not a 32-byte hash")))
}

/// How long a writer waits for another process's write lock before giving up.
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
