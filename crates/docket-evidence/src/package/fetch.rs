//! Reading the entries a package needs from the ledger, and their inclusion proofs:
//! from one scan of the whole ledger when that is cheap, else entry by entry.

use std::collections::{BTreeMap, BTreeSet};

use docket_ledger::entry::Entry;
use docket_ledger::merkle::{self, Subtree};
use docket_ledger::{EntryFilter, Hash, Ledger, LedgerError, StoredEntry};

use super::error::PackageError;

/// Below this ledger size, or when the package needs a large share of the ledger,
/// export reads every entry once and computes proofs in memory instead of asking the
/// database for each.
const FULL_SCAN_SIZE: u64 = 50_000;

/// Entries read for a package, and where their proofs come from.
pub(super) struct Fetched {
    pub(super) stored: BTreeMap<u64, StoredEntry>,
    pub(super) decoded: BTreeMap<u64, Entry>,
    /// Every level of the tree when the whole ledger was read (level 0: leaf hashes).
    tree: Option<Vec<Vec<Hash>>>,
}

impl Fetched {
    pub(super) fn add(&mut self, stored: StoredEntry) -> Result<(), PackageError> {
        let entry = stored.decode().map_err(LedgerError::from)?;
        self.decoded.insert(stored.index, entry);
        self.stored.insert(stored.index, stored);
        Ok(())
    }

    pub(super) async fn proof(
        &self,
        ledger: &Ledger,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, PackageError> {
        let Some(tree) = &self.tree else {
            return Ok(ledger.inclusion_proof(index, size).await?);
        };
        merkle::inclusion_ranges(index, size)
            .into_iter()
            .map(|(lo, hi)| subtree_hash(tree, lo, hi))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| PackageError::Damaged {
                location: ledger.location().to_owned(),
                detail: format!("cannot compute the inclusion proof of entry {index}"),
            })
    }

    pub(super) fn root(&self) -> Option<Hash> {
        let tree = self.tree.as_ref()?;
        let size = tree.first()?.len() as u64;
        subtree_hash(tree, 0, size)
    }
}

/// `MTH` of leaves `[lo, hi)` from the in-memory levels.
fn subtree_hash(tree: &[Vec<Hash>], lo: u64, hi: u64) -> Option<Hash> {
    let hashes: Option<Vec<Hash>> = merkle::decompose(lo, hi)
        .into_iter()
        .map(|Subtree { level, index }| {
            tree.get(level as usize)?
                .get(usize::try_from(index).ok()?)
                .copied()
        })
        .collect();
    merkle::fold_decomposition(&hashes?)
}

fn tree_levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves];
    while let Some(last) = levels.last() {
        if last.len() < 2 {
            break;
        }
        let next: Vec<Hash> = last
            .chunks_exact(2)
            .map(|pair| docket_ledger::hash::node_hash(&pair[0], &pair[1]))
            .collect();
        levels.push(next);
    }
    levels
}

/// Reads the wanted entries: the whole ledger once when that is cheap (proofs then
/// come from memory), otherwise one by one.
pub(super) async fn fetch_entries(
    ledger: &Ledger,
    size: u64,
    wanted: &BTreeSet<u64>,
) -> Result<Fetched, PackageError> {
    let full = size <= FULL_SCAN_SIZE || (wanted.len() as u64).saturating_mul(4) >= size;
    let mut stored = BTreeMap::new();
    let mut tree = None;
    if full {
        let all = ledger.list(&EntryFilter::default()).await?;
        let mut leaves = Vec::with_capacity(all.len());
        for (expected, entry) in all.into_iter().take_while(|e| e.index < size).enumerate() {
            if entry.index != expected as u64 {
                return Err(PackageError::Damaged {
                    location: ledger.location().to_owned(),
                    detail: format!("entry {expected} is missing"),
                });
            }
            leaves.push(entry.leaf_hash());
            if wanted.contains(&entry.index) {
                stored.insert(entry.index, entry);
            }
        }
        if leaves.len() as u64 == size {
            tree = Some(tree_levels(leaves));
        }
    } else {
        for index in wanted {
            stored.insert(*index, ledger.entry(*index).await?);
        }
    }
    let mut decoded = BTreeMap::new();
    for (index, entry) in &stored {
        decoded.insert(*index, entry.decode().map_err(LedgerError::from)?);
    }
    if let Some(missing) = wanted.iter().find(|i| !stored.contains_key(i)) {
        return Err(PackageError::Ledger(LedgerError::NoSuchEntry {
            index: *missing,
            size,
        }));
    }
    Ok(Fetched {
        stored,
        decoded,
        tree,
    })
}
