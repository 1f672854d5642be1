//! The PostgreSQL backend, for a team sharing one ledger. Writers serialise on a
//! table lock taken inside the append transaction; commits use PostgreSQL's default
//! synchronous commit, so an append is durable when it returns.

use std::collections::HashMap;

use futures_util::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Row};

use super::{
    CheckpointRow, EntryFilter, EntryRow, LOCK_TIMEOUT, SCAN_CHUNK, ScannedRow, StoreError,
    StoreResult, assemble_subtree_hashes, hash_column, plan_subtree_reads, to_i64, to_u64,
};
use crate::hash::Hash;
use crate::merkle::Subtree;

pub(super) async fn open(url: &str) -> StoreResult<sqlx::PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(LOCK_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(pool)
}

pub(super) async fn begin_write(
    conn: &mut PgConnection,
) -> StoreResult<sqlx::Transaction<'_, Postgres>> {
    let mut tx = conn.begin().await?;
    // One writer at a time across every process sharing the database; readers are
    // not blocked.
    sqlx::query("LOCK TABLE docket_entries IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

pub(super) async fn init_schema(conn: &mut PgConnection, new_origin: &str) -> StoreResult<String> {
    let mut tx = conn.begin().await?;
    // Concurrent CREATE TABLE IF NOT EXISTS can collide in the catalog; serialise it.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('docket-ledger-schema'))")
        .execute(&mut *tx)
        .await?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS docket_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS docket_entries (
            idx BIGINT PRIMARY KEY,
            time_us BIGINT NOT NULL,
            kind TEXT NOT NULL,
            leaf_hash BYTEA NOT NULL,
            entry BYTEA NOT NULL)",
        "CREATE INDEX IF NOT EXISTS docket_entries_time ON docket_entries (time_us)",
        "CREATE TABLE IF NOT EXISTS docket_tree_nodes (
            level INTEGER NOT NULL,
            idx BIGINT NOT NULL,
            hash BYTEA NOT NULL,
            PRIMARY KEY (level, idx))",
        "CREATE TABLE IF NOT EXISTS docket_checkpoints (
            size BIGINT PRIMARY KEY,
            time_us BIGINT NOT NULL,
            note TEXT NOT NULL)",
    ] {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO docket_meta (key, value) VALUES ('origin', $1), ('schema', '1') ON CONFLICT (key) DO NOTHING",
    )
    .bind(new_origin)
    .execute(&mut *tx)
    .await?;
    let origin: String = sqlx::query_scalar("SELECT value FROM docket_meta WHERE key = 'origin'")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(origin)
}

pub(super) async fn size(conn: &mut PgConnection) -> StoreResult<u64> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM docket_entries")
        .fetch_one(conn)
        .await?;
    to_u64(next)
}

pub(super) async fn existing_origin(conn: &mut PgConnection) -> StoreResult<Option<String>> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('docket_meta')::text")
        .fetch_one(&mut *conn)
        .await?;
    if table.is_none() {
        return Ok(None);
    }
    meta_get(conn, "origin").await
}

pub(super) async fn meta_get(conn: &mut PgConnection, key: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM docket_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?,
    )
}

pub(super) async fn meta_set(conn: &mut PgConnection, key: &str, value: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO docket_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

fn entry_row(row: &sqlx::postgres::PgRow) -> StoreResult<EntryRow> {
    Ok(EntryRow {
        index: to_u64(row.try_get("idx")?)?,
        time_us: row.try_get("time_us")?,
        kind: row.try_get("kind")?,
        leaf_hash: row.try_get("leaf_hash")?,
        bytes: row.try_get("entry")?,
    })
}

pub(super) async fn entry(conn: &mut PgConnection, index: u64) -> StoreResult<Option<EntryRow>> {
    let row = sqlx::query(
        "SELECT idx, time_us, kind, leaf_hash, entry FROM docket_entries WHERE idx = $1",
    )
    .bind(to_i64(index)?)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(entry_row).transpose()
}

pub(super) async fn list(
    conn: &mut PgConnection,
    filter: &EntryFilter,
) -> StoreResult<Vec<EntryRow>> {
    let limit = filter.limit.map(to_i64).transpose()?;
    let rows = sqlx::query(
        "SELECT idx, time_us, kind, leaf_hash, entry FROM docket_entries
         WHERE ($1::text IS NULL OR kind = $1)
           AND ($2::bigint IS NULL OR time_us >= $2)
           AND ($3::bigint IS NULL OR time_us < $3)
         ORDER BY idx LIMIT $4",
    )
    .bind(filter.kind.as_deref())
    .bind(filter.since_us)
    .bind(filter.until_us)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(entry_row).collect()
}

pub(super) fn scan_entries(
    pool: sqlx::PgPool,
    below: u64,
    tx: tokio::sync::mpsc::Sender<StoreResult<Vec<ScannedRow>>>,
) {
    tokio::spawn(async move {
        let result = async {
            let mut conn = pool.acquire().await?;
            let mut rows = sqlx::query(
                "SELECT idx, time_us, kind, leaf_hash, entry FROM docket_entries WHERE idx < $1 ORDER BY idx",
            )
            .bind(to_i64(below)?)
            .fetch(&mut *conn)
            .chunks(SCAN_CHUNK);
            while let Some(chunk) = rows.next().await {
                let chunk = chunk
                    .into_iter()
                    .map(|row| Ok(ScannedRow::new(entry_row(&row?)?)))
                    .collect::<StoreResult<Vec<ScannedRow>>>()?;
                if tx.send(Ok(chunk)).await.is_err() {
                    break;
                }
            }
            StoreResult::Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
}

fn checkpoint_row(row: &sqlx::postgres::PgRow) -> StoreResult<CheckpointRow> {
    Ok(CheckpointRow {
        size: to_u64(row.try_get("size")?)?,
        time_us: row.try_get("time_us")?,
        note: row.try_get("note")?,
    })
}

pub(super) async fn checkpoints(conn: &mut PgConnection) -> StoreResult<Vec<CheckpointRow>> {
    let rows = sqlx::query("SELECT size, time_us, note FROM docket_checkpoints ORDER BY size")
        .fetch_all(conn)
        .await?;
    rows.iter().map(checkpoint_row).collect()
}

pub(super) async fn latest_checkpoint(
    conn: &mut PgConnection,
) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query(
        "SELECT size, time_us, note FROM docket_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(checkpoint_row).transpose()
}

pub(super) async fn insert_checkpoint(
    conn: &mut PgConnection,
    row: &CheckpointRow,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO docket_checkpoints (size, time_us, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING")
        .bind(to_i64(row.size)?)
        .bind(row.time_us)
        .bind(&row.note)
        .execute(conn)
        .await?;
    Ok(())
}

fn node_level(level: i32) -> StoreResult<u32> {
    u32::try_from(level)
        .map_err(|_| StoreError::Inconsistent(format!("bad tree node level {level}")))
}

pub(super) async fn subtree_hashes(
    conn: &mut PgConnection,
    subtrees: &[Subtree],
) -> StoreResult<Vec<Hash>> {
    let (node_reads, leaf_reads) = plan_subtree_reads(subtrees);
    let mut nodes = HashMap::new();
    if !node_reads.is_empty() {
        let levels: Vec<i32> = node_reads.iter().map(|s| s.level as i32).collect();
        let idxs = node_reads
            .iter()
            .map(|s| to_i64(s.index))
            .collect::<StoreResult<Vec<i64>>>()?;
        let rows = sqlx::query(
            "SELECT n.level, n.idx, n.hash FROM docket_tree_nodes n
             JOIN UNNEST($1::int[], $2::bigint[]) AS want(level, idx)
               ON n.level = want.level AND n.idx = want.idx",
        )
        .bind(levels)
        .bind(idxs)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let hash: Vec<u8> = row.try_get("hash")?;
            nodes.insert(
                (
                    node_level(row.try_get("level")?)?,
                    to_u64(row.try_get("idx")?)?,
                ),
                hash_column(&hash, "tree node")?,
            );
        }
    }
    let mut leaves = HashMap::new();
    if !leaf_reads.is_empty() {
        let idxs = leaf_reads
            .iter()
            .map(|i| to_i64(*i))
            .collect::<StoreResult<Vec<i64>>>()?;
        let rows = sqlx::query("SELECT idx, leaf_hash FROM docket_entries WHERE idx = ANY($1)")
            .bind(idxs)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let hash: Vec<u8> = row.try_get("leaf_hash")?;
            leaves.insert(
                to_u64(row.try_get("idx")?)?,
                hash_column(&hash, "leaf hash")?,
            );
        }
    }
    assemble_subtree_hashes(subtrees, &nodes, &leaves)
}

pub(super) async fn all_nodes(conn: &mut PgConnection) -> StoreResult<Vec<(Subtree, Vec<u8>)>> {
    let rows = sqlx::query("SELECT level, idx, hash FROM docket_tree_nodes")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                Subtree {
                    level: node_level(row.try_get("level")?)?,
                    index: to_u64(row.try_get("idx")?)?,
                },
                row.try_get("hash")?,
            ))
        })
        .collect()
}

pub(super) async fn insert_batch(
    conn: &mut PgConnection,
    entries: &[EntryRow],
    nodes: &[(Subtree, Hash)],
    checkpoint: &CheckpointRow,
) -> StoreResult<()> {
    let idxs = entries
        .iter()
        .map(|e| to_i64(e.index))
        .collect::<StoreResult<Vec<i64>>>()?;
    let times: Vec<i64> = entries.iter().map(|e| e.time_us).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let leaves: Vec<&[u8]> = entries.iter().map(|e| e.leaf_hash.as_slice()).collect();
    let bytes: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    sqlx::query(
        "INSERT INTO docket_entries (idx, time_us, kind, leaf_hash, entry)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[])",
    )
    .bind(idxs)
    .bind(times)
    .bind(kinds)
    .bind(leaves)
    .bind(bytes)
    .execute(&mut *conn)
    .await?;
    if !nodes.is_empty() {
        let levels: Vec<i32> = nodes.iter().map(|(s, _)| s.level as i32).collect();
        let idxs = nodes
            .iter()
            .map(|(s, _)| to_i64(s.index))
            .collect::<StoreResult<Vec<i64>>>()?;
        let hashes: Vec<&[u8]> = nodes.iter().map(|(_, h)| h.0.as_slice()).collect();
        sqlx::query(
            "INSERT INTO docket_tree_nodes (level, idx, hash)
             SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::bytea[])",
        )
        .bind(levels)
        .bind(idxs)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
    }
    insert_checkpoint(conn, checkpoint).await
}
