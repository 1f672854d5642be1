//! The check before anything is signed: the stored tree must extend the newest signed
//! checkpoint. Owns opening that checkpoint with the ledger's key, rebuilding the
//! writer's tree edge only once it is proven, and naming where a rewritten tree
//! stops matching what was signed.
//!
//! Invariant: docket never signs over entries it has not checked against the last
//! signed tree head. The stored entries, leaf hashes and nodes can be rewritten by
//! anyone with write access to the database; the signatures cannot.

use std::sync::Arc;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::error::{LedgerError, Result};
use crate::hash::Hash;
use crate::merkle::{self, CompactRange};
use crate::note::Verifier;
use crate::store::{CheckpointRow, StoreError, TreeReads, WriteTx};

/// Opens the newest stored checkpoint with the ledger's signing key, for a ledger whose
/// entries end at `size`. `None` only for an empty ledger with no checkpoint; entries
/// with no checkpoint at all are an unsigned tail from entry 0.
pub(super) fn open_newest_signed(
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

/// The right edge of the stored tree of `size` entries, for a writer that did not
/// compute it itself (another process wrote, or its last commit failed): rebuilt from
/// the stored tree and proven to extend the newest signed checkpoint before anything
/// is signed over it.
pub(super) async fn signed_edge(
    tx: &mut WriteTx<'_>,
    location: &str,
    origin: &str,
    key: &Verifier,
    size: u64,
) -> Result<CompactRange> {
    let latest = tx
        .latest_checkpoint()
        .await
        .map_err(|e| LedgerError::Storage {
            location: location.to_owned(),
            source: Arc::new(e),
        })?;
    let signed = open_newest_signed(location, origin, key, latest, size)?;
    let signed_size = signed.as_ref().map_or(0, |c| c.size);
    if signed_size < size {
        return Err(LedgerError::UnsignedTail {
            location: location.to_owned(),
            first: signed_size,
            last: size - 1,
            signed: signed_size,
        });
    }
    let damaged = |detail: String| LedgerError::Damaged {
        location: location.to_owned(),
        detail,
    };
    let parts = merkle::decompose(0, size);
    let hashes = tx
        .subtree_hashes(&parts)
        .await
        .map_err(|e| damaged(e.to_string()))?;
    let range = CompactRange::from_peaks(size, &hashes)
        .ok_or_else(|| damaged("cannot rebuild the tree edge".into()))?;
    if let Some(signed) = &signed
        && range.root() != signed.root
    {
        return Err(diverged(location, tx, signed).await);
    }
    Ok(range)
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
pub(super) async fn diverged<R: TreeReads>(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::json;
    use sqlx::Connection;

    use crate::entry::NewEntry;
    use crate::error::LedgerError;
    use crate::hash::Hash;
    use crate::ledger::{Ledger, LedgerConfig};
    use crate::merkle;

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
}
