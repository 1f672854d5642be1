//! The SQLite backend: one file under DOCKET_HOME, WAL journal, `synchronous=FULL` so
//! that a commit is on disk before an append returns, `BEGIN IMMEDIATE` as the lock
//! that serialises writers across processes.

use std::collections::HashMap;
use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{
    CheckpointRow, EntryFilter, EntryRow, LOCK_TIMEOUT, SCAN_CHUNK, ScannedRow, SqliteFile,
    StoreError, StoreResult, assemble_subtree_hashes, hash_column, plan_subtree_reads, to_i64,
    to_u64,
};
use crate::hash::Hash;
use crate::merkle::Subtree;

/// Rows per multi-row INSERT: 5 columns each, well under SQLite's 32766 variables.
const INSERT_CHUNK: usize = 1000;

pub(super) async fn open(path: &Path) -> StoreResult<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(LOCK_TIMEOUT)
        .foreign_keys(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// An existing file, read-only; immutable (no `-wal`/`-shm`, no locking) when it sits
/// in a read-only place.
pub(super) async fn open_read_only(file: &SqliteFile) -> StoreResult<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(&file.path)
        .create_if_missing(false)
        .read_only(true)
        .immutable(file.immutable)
        .busy_timeout(LOCK_TIMEOUT)
        .foreign_keys(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Opens the file for a full scan on a blocking thread, read-only (immutable when the
/// ledger was opened so).
fn open_for_scan(file: &SqliteFile) -> Result<rusqlite::Connection, rusqlite::Error> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = if file.immutable {
        let mut uri = String::from("file:");
        for b in file.path.to_string_lossy().bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-') {
                uri.push(char::from(b));
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri.push_str("?immutable=1");
        rusqlite::Connection::open_with_flags(uri, flags)?
    } else {
        rusqlite::Connection::open_with_flags(&file.path, flags)?
    };
    conn.busy_timeout(LOCK_TIMEOUT)?;
    Ok(conn)
}

pub(super) async fn existing_origin(conn: &mut SqliteConnection) -> StoreResult<Option<String>> {
    let has_meta: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_meta == 0 {
        return Ok(None);
    }
    meta_get(conn, "origin").await
}

pub(super) async fn begin_write(
    conn: &mut SqliteConnection,
) -> StoreResult<sqlx::Transaction<'_, Sqlite>> {
    Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
}

pub(super) async fn init_schema(
    conn: &mut SqliteConnection,
    new_origin: &str,
) -> StoreResult<String> {
    let mut tx = begin_write(conn).await?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS entries (
            idx INTEGER PRIMARY KEY,
            time_us INTEGER NOT NULL,
            kind TEXT NOT NULL,
            leaf_hash BLOB NOT NULL,
            entry BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS entries_time ON entries (time_us)",
        "CREATE TABLE IF NOT EXISTS tree_nodes (
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS checkpoints (
            size INTEGER PRIMARY KEY,
            time_us INTEGER NOT NULL,
            note TEXT NOT NULL)",
    ] {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('origin', ?1), ('schema', '1')")
        .bind(new_origin)
        .execute(&mut *tx)
        .await?;
    let origin: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'origin'")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(origin)
}

pub(super) async fn size(conn: &mut SqliteConnection) -> StoreResult<u64> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")
        .fetch_one(conn)
        .await?;
    to_u64(next)
}

pub(super) async fn meta_get(
    conn: &mut SqliteConnection,
    key: &str,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

pub(super) async fn meta_set(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

fn entry_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<EntryRow> {
    Ok(EntryRow {
        index: to_u64(row.try_get("idx")?)?,
        time_us: row.try_get("time_us")?,
        kind: row.try_get("kind")?,
        leaf_hash: row.try_get("leaf_hash")?,
        bytes: row.try_get("entry")?,
    })
}

pub(super) async fn entry(
    conn: &mut SqliteConnection,
    index: u64,
) -> StoreResult<Option<EntryRow>> {
    let row =
        sqlx::query("SELECT idx, time_us, kind, leaf_hash, entry FROM entries WHERE idx = ?1")
            .bind(to_i64(index)?)
            .fetch_optional(conn)
            .await?;
    row.as_ref().map(entry_row).transpose()
}

pub(super) async fn list(
    conn: &mut SqliteConnection,
    filter: &EntryFilter,
) -> StoreResult<Vec<EntryRow>> {
    let limit = filter.limit.map(to_i64).transpose()?.unwrap_or(-1);
    let rows = sqlx::query(
        "SELECT idx, time_us, kind, leaf_hash, entry FROM entries
         WHERE (?1 IS NULL OR kind = ?1)
           AND (?2 IS NULL OR time_us >= ?2)
           AND (?3 IS NULL OR time_us < ?3)
         ORDER BY idx LIMIT ?4",
    )
    .bind(filter.kind.as_deref())
    .bind(filter.since_us)
    .bind(filter.until_us)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(entry_row).collect()
}

/// Full scans read the file through rusqlite on a blocking thread: sqlx hands every
/// row across threads one at a time (about 13 µs a row here), which made verifying a
/// million entries take 13 s; this reader sends whole chunks instead.
pub(super) fn scan_entries(
    file: SqliteFile,
    below: u64,
    tx: tokio::sync::mpsc::Sender<StoreResult<Vec<ScannedRow>>>,
) {
    tokio::task::spawn_blocking(move || {
        let result = (|| -> Result<(), rusqlite::Error> {
            let conn = open_for_scan(&file)?;
            let mut stmt = conn.prepare(
                "SELECT idx, time_us, kind, leaf_hash, entry FROM entries WHERE idx < ?1 ORDER BY idx",
            )?;
            let mut rows = stmt.query([i64::try_from(below).unwrap_or(i64::MAX)])?;
            let mut chunk = Vec::with_capacity(SCAN_CHUNK);
            while let Some(row) = rows.next()? {
                let idx: i64 = row.get(0)?;
                chunk.push(ScannedRow::new(EntryRow {
                    index: u64::try_from(idx).unwrap_or(u64::MAX),
                    time_us: row.get(1)?,
                    kind: row.get(2)?,
                    leaf_hash: row.get(3)?,
                    bytes: row.get(4)?,
                }));
                if chunk.len() == SCAN_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(SCAN_CHUNK));
                    if tx.blocking_send(Ok(full)).is_err() {
                        return Ok(());
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx.blocking_send(Ok(chunk));
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(StoreError::Scan(e.to_string())));
        }
    });
}

fn checkpoint_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<CheckpointRow> {
    Ok(CheckpointRow {
        size: to_u64(row.try_get("size")?)?,
        time_us: row.try_get("time_us")?,
        note: row.try_get("note")?,
    })
}

pub(super) async fn checkpoints(conn: &mut SqliteConnection) -> StoreResult<Vec<CheckpointRow>> {
    let rows = sqlx::query("SELECT size, time_us, note FROM checkpoints ORDER BY size")
        .fetch_all(conn)
        .await?;
    rows.iter().map(checkpoint_row).collect()
}

pub(super) async fn latest_checkpoint(
    conn: &mut SqliteConnection,
) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query("SELECT size, time_us, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(checkpoint_row).transpose()
}

pub(super) async fn insert_checkpoint(
    conn: &mut SqliteConnection,
    row: &CheckpointRow,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO checkpoints (size, time_us, note) VALUES (?1, ?2, ?3) ON CONFLICT (size) DO NOTHING")
        .bind(to_i64(row.size)?)
        .bind(row.time_us)
        .bind(&row.note)
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn subtree_hashes(
    conn: &mut SqliteConnection,
    subtrees: &[Subtree],
) -> StoreResult<Vec<Hash>> {
    let (node_reads, leaf_reads) = plan_subtree_reads(subtrees);
    let mut nodes = HashMap::new();
    if !node_reads.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT level, idx, hash FROM tree_nodes WHERE ");
        let mut sep = q.separated(" OR ");
        for s in &node_reads {
            sep.push("(level = ")
                .push_bind_unseparated(i64::from(s.level))
                .push_unseparated(" AND idx = ")
                .push_bind_unseparated(to_i64(s.index)?)
                .push_unseparated(")");
        }
        for row in q.build().fetch_all(&mut *conn).await? {
            let level: i64 = row.try_get("level")?;
            let idx: i64 = row.try_get("idx")?;
            let hash: Vec<u8> = row.try_get("hash")?;
            let level = u32::try_from(level)
                .map_err(|_| super::StoreError::Inconsistent("bad node level".into()))?;
            nodes.insert((level, to_u64(idx)?), hash_column(&hash, "tree node")?);
        }
    }
    let mut leaves = HashMap::new();
    if !leaf_reads.is_empty() {
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT idx, leaf_hash FROM entries WHERE idx IN (");
        let mut sep = q.separated(", ");
        for i in &leaf_reads {
            sep.push_bind(to_i64(*i)?);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let idx: i64 = row.try_get("idx")?;
            let hash: Vec<u8> = row.try_get("leaf_hash")?;
            leaves.insert(to_u64(idx)?, hash_column(&hash, "leaf hash")?);
        }
    }
    assemble_subtree_hashes(subtrees, &nodes, &leaves)
}

/// Every stored tree node, read through rusqlite for the same reason as
/// [`scan_entries`]: a million-entry ledger has 125,000 of them.
pub(super) async fn all_nodes(file: SqliteFile) -> StoreResult<Vec<(Subtree, Vec<u8>)>> {
    let read = move || -> Result<Vec<(Subtree, Vec<u8>)>, rusqlite::Error> {
        let conn = open_for_scan(&file)?;
        let mut stmt = conn.prepare("SELECT level, idx, hash FROM tree_nodes")?;
        let rows = stmt.query_map([], |row| {
            let level: i64 = row.get(0)?;
            let idx: i64 = row.get(1)?;
            Ok((
                Subtree {
                    level: u32::try_from(level).unwrap_or(u32::MAX),
                    index: u64::try_from(idx).unwrap_or(u64::MAX),
                },
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        rows.collect()
    };
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StoreError::Scan(e.to_string()))?
        .map_err(|e| StoreError::Scan(e.to_string()))
}

pub(super) async fn insert_batch(
    conn: &mut SqliteConnection,
    entries: &[EntryRow],
    nodes: &[(Subtree, Hash)],
    checkpoint: &CheckpointRow,
) -> StoreResult<()> {
    for chunk in entries.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO entries (idx, time_us, kind, leaf_hash, entry) ",
        );
        let mut err = None;
        q.push_values(chunk, |mut b, e| match to_i64(e.index) {
            Ok(idx) => {
                b.push_bind(idx)
                    .push_bind(e.time_us)
                    .push_bind(e.kind.clone())
                    .push_bind(e.leaf_hash.clone())
                    .push_bind(e.bytes.clone());
            }
            Err(e) => err = Some(e),
        });
        if let Some(e) = err {
            return Err(e);
        }
        q.build().execute(&mut *conn).await?;
    }
    for chunk in nodes.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO tree_nodes (level, idx, hash) ");
        q.push_values(chunk, |mut b, (s, h)| {
            b.push_bind(i64::from(s.level))
                .push_bind(i64::try_from(s.index).unwrap_or(i64::MAX))
                .push_bind(h.0.to_vec());
        });
        q.build().execute(&mut *conn).await?;
    }
    insert_checkpoint(conn, checkpoint).await
}
