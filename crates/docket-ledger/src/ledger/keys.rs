//! The ledger's signing keys: which key signs now, the chain of every key that has
//! signed, and rotation to a new key.
//!
//! Invariant: a rotation is announced in an entry signed by both the old and the new
//! key, so the chain can be followed from the first key.

use crate::entry::kinds;
use crate::error::{LedgerError, Result};
use crate::keys::KeyError;
use crate::note::Verifier;
use crate::store::EntryFilter;

use super::Ledger;
use super::writer::{Appended, META_SIGNING_KEY, WriteOp};

impl Ledger {
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
            Some(vkey) => Ok(Verifier::parse(&vkey).map_err(KeyError::from)?),
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
                kind: Some(kinds::KEY_ROTATE.to_owned()),
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
                let key = Verifier::parse(text).map_err(KeyError::from)?;
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
}
