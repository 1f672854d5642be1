//! Tree heads and proofs read from the stored tree: roots, stored checkpoints, a
//! checkpoint signed for any size (only once it is proven to be a prefix of the
//! newest signed checkpoint), and RFC 9162 inclusion and consistency proofs.

use jiff::Timestamp;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::error::{LedgerError, Result};
use crate::hash::Hash;
use crate::merkle::{self, Subtree};
use crate::store::{CheckpointRow, Conn};

use super::Ledger;
use super::signed_head::{diverged, open_newest_signed};
use super::writer::micros;

impl Ledger {
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
}
