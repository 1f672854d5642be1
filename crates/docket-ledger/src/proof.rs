//! Proof documents: JSON that a third party can check with only the checkpoint and
//! the public key (`docket log prove`, `docket log consistency`, `docket log check-proof`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::SignedCheckpoint;
use crate::hash::{Hash, leaf_hash};
use crate::merkle;
use crate::note::Verifier;

pub const INCLUSION_FORMAT: &str = "docket.inclusion-proof/v1";
pub const CONSISTENCY_FORMAT: &str = "docket.consistency-proof/v1";

/// Proves that an entry (its exact bytes) is in the tree a signed checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub format: String,
    pub index: u64,
    pub tree_size: u64,
    /// The entry's exact bytes, base64.
    pub entry: String,
    pub leaf_hash: Hash,
    pub proof: Vec<Hash>,
    /// The signed checkpoint (C2SP signed note) of `tree_size`.
    pub checkpoint: String,
}

/// Proves that the tree of `old_size` entries is a prefix of the tree of `new_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub format: String,
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<Hash>,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a docket proof document: {0}")]
    Format(String),
    #[error("checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("{0}")]
    Mismatch(String),
    #[error("the proof does not verify: {0}")]
    Invalid(String),
}

impl InclusionProof {
    pub fn new(
        index: u64,
        entry: &[u8],
        proof: Vec<Hash>,
        checkpoint: &SignedCheckpoint,
    ) -> InclusionProof {
        InclusionProof {
            format: INCLUSION_FORMAT.into(),
            index,
            tree_size: checkpoint.checkpoint.size,
            entry: BASE64.encode(entry),
            leaf_hash: leaf_hash(entry),
            proof,
            checkpoint: checkpoint.note.clone(),
        }
    }

    /// Checks everything: format, checkpoint signature, entry bytes, proof.
    pub fn check(&self, keys: &[Verifier]) -> Result<SignedCheckpoint, ProofError> {
        if self.format != INCLUSION_FORMAT {
            return Err(ProofError::Format(format!(
                "format is `{}`, expected `{INCLUSION_FORMAT}`",
                self.format
            )));
        }
        let cp = SignedCheckpoint::open(&self.checkpoint, keys)
            .map_err(|e| ProofError::Checkpoint(e.to_string()))?;
        if cp.checkpoint.size != self.tree_size {
            return Err(ProofError::Mismatch(format!(
                "proof is for tree size {} but the checkpoint is for size {}",
                self.tree_size, cp.checkpoint.size
            )));
        }
        let bytes = BASE64
            .decode(&self.entry)
            .map_err(|_| ProofError::Format("entry is not base64".into()))?;
        if leaf_hash(&bytes) != self.leaf_hash {
            return Err(ProofError::Mismatch(
                "entry bytes do not hash to leaf_hash".into(),
            ));
        }
        if !merkle::verify_inclusion(
            &self.leaf_hash,
            self.index,
            self.tree_size,
            &self.proof,
            &cp.checkpoint.root,
        ) {
            return Err(ProofError::Invalid(format!(
                "entry {} is not included in the tree of size {} with root {}",
                self.index, self.tree_size, cp.checkpoint.root
            )));
        }
        Ok(cp)
    }
}

impl ConsistencyProof {
    pub fn new(
        proof: Vec<Hash>,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> ConsistencyProof {
        ConsistencyProof {
            format: CONSISTENCY_FORMAT.into(),
            old_size: old.checkpoint.size,
            new_size: new.checkpoint.size,
            proof,
            old_checkpoint: old.note.clone(),
            new_checkpoint: new.note.clone(),
        }
    }

    pub fn check(&self, keys: &[Verifier]) -> Result<(), ProofError> {
        if self.format != CONSISTENCY_FORMAT {
            return Err(ProofError::Format(format!(
                "format is `{}`, expected `{CONSISTENCY_FORMAT}`",
                self.format
            )));
        }
        let open = |n: &str| {
            SignedCheckpoint::open(n, keys).map_err(|e| ProofError::Checkpoint(e.to_string()))
        };
        let (old, new) = (open(&self.old_checkpoint)?, open(&self.new_checkpoint)?);
        if old.checkpoint.size != self.old_size || new.checkpoint.size != self.new_size {
            return Err(ProofError::Mismatch(
                "sizes disagree with the checkpoints".into(),
            ));
        }
        if old.checkpoint.origin != new.checkpoint.origin {
            return Err(ProofError::Mismatch(format!(
                "checkpoints are from different logs: {} and {}",
                old.checkpoint.origin, new.checkpoint.origin
            )));
        }
        if !merkle::verify_consistency(
            self.old_size,
            self.new_size,
            &old.checkpoint.root,
            &new.checkpoint.root,
            &self.proof,
        ) {
            return Err(ProofError::Invalid(format!(
                "the tree of size {} is not a prefix of the tree of size {}",
                self.old_size, self.new_size
            )));
        }
        Ok(())
    }
}

/// Either kind of proof document, told apart by `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofDocument {
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
}

impl ProofDocument {
    pub fn parse(json: &str) -> Result<ProofDocument, ProofError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| ProofError::Format(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or_default()
            .to_owned();
        let bad = |e: serde_json::Error| ProofError::Format(e.to_string());
        match format.as_str() {
            INCLUSION_FORMAT => Ok(ProofDocument::Inclusion(
                serde_json::from_value(value).map_err(bad)?,
            )),
            CONSISTENCY_FORMAT => Ok(ProofDocument::Consistency(
                serde_json::from_value(value).map_err(bad)?,
            )),
            other => Err(ProofError::Format(format!(
                "unknown format `{other}`, expected `{INCLUSION_FORMAT}` or `{CONSISTENCY_FORMAT}`"
            ))),
        }
    }
}
