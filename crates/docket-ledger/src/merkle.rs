//! The RFC 6962 / RFC 9162 Merkle tree: roots, compact ranges, proof shapes and proof
//! verification. Pure functions: storage decides where subtree hashes come from.

use crate::hash::{Hash, node_hash};

/// A perfect, aligned subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
}

impl Subtree {
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    pub fn end_leaf(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// Largest power of two strictly smaller than `n` (`n >= 2`), as in RFC 6962 §2.1.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees, left to right, whose concatenation is the leaf range `[lo, hi)`.
/// Every range that the RFC 6962 recursion produces decomposes this way, because its
/// start is aligned to the size of its largest part.
pub fn decompose(lo: u64, hi: u64) -> Vec<Subtree> {
    let mut parts = Vec::new();
    let mut start = lo;
    while start < hi {
        let remaining = hi - start;
        // The largest aligned power of two that starts at `start` and fits.
        let mut level = 63 - remaining.leading_zeros();
        if start != 0 {
            level = level.min(start.trailing_zeros());
        }
        parts.push(Subtree {
            level,
            index: start >> level,
        });
        start += 1u64 << level;
    }
    parts
}

/// Folds the hashes of [`decompose`]'s subtrees (same order) into `MTH(D[lo:hi])`.
pub fn fold_decomposition(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The leaf ranges whose MTH values form the inclusion proof of `index` in a tree of
/// `size` leaves, in proof order (RFC 6962 §2.1.1, PATH).
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    out
}

fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m - lo < k {
        path(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        path(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The leaf ranges whose MTH values form the consistency proof between tree sizes
/// `old` and `new` (RFC 6962 §2.1.2, PROOF and SUBPROOF). Empty when `old` is 0 or
/// equals `new`.
pub fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(old, 0, new, true, &mut out);
    }
    out
}

fn subproof(m: u64, lo: u64, hi: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, lo, lo + k, complete, out);
        out.push((lo + k, hi));
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// The right edge of a tree being built leaf by leaf: the hashes of its perfect
/// subtrees, largest first. Appending a leaf merges equal-sized neighbours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    peaks: Vec<(u32, Hash)>,
}

impl CompactRange {
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Rebuilds the range of a tree of `size` leaves from the hashes of the perfect
    /// subtrees in `decompose(0, size)`, in that order.
    pub fn from_peaks(size: u64, hashes: &[Hash]) -> Option<CompactRange> {
        let parts = decompose(0, size);
        if parts.len() != hashes.len() {
            return None;
        }
        let peaks = parts
            .iter()
            .zip(hashes)
            .map(|(p, h)| (p.level, *h))
            .collect();
        Some(CompactRange { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; `completed` is called for every subtree that becomes
    /// complete (the leaf itself at level 0 included), lowest level first.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(Subtree, &Hash)) {
        let index = self.size;
        completed(Subtree { level: 0, index }, &leaf);
        let mut level = 0u32;
        let mut hash = leaf;
        while let Some(&(peak_level, peak_hash)) = self.peaks.last() {
            if peak_level != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&peak_hash, &hash);
            level += 1;
            completed(
                Subtree {
                    level,
                    index: index >> level,
                },
                &hash,
            );
        }
        self.peaks.push((level, hash));
        self.size += 1;
    }

    /// `MTH` of the tree so far.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.peaks.iter().map(|(_, h)| *h).collect();
        fold_decomposition(&hashes).unwrap_or_else(Hash::empty_tree)
    }

    pub fn peaks(&self) -> impl Iterator<Item = &Hash> {
        self.peaks.iter().map(|(_, h)| h)
    }
}

/// `MTH` over a slice of leaf hashes (for tests, small trees and verification).
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for leaf in leaves {
        range.push(*leaf, |_, _| {});
    }
    range.root()
}

/// `MTH(D[lo:hi])` computed from a complete slice of leaf hashes.
pub fn subtree_root(leaves: &[Hash], lo: u64, hi: u64) -> Option<Hash> {
    let slice = leaves.get(usize::try_from(lo).ok()?..usize::try_from(hi).ok()?)?;
    Some(root_of(slice))
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` is at `index` in the tree of `size` leaves
/// whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: verifies that the tree of `old` leaves with root `old_root` is a
/// prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty() && *old_root == Hash::empty_tree();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    // Known answers published with the Certificate Transparency reference
    // implementations (the RFC 6962 test tree of 8 leaves).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(hex: &str) -> Hash {
        Hash::from_hex(hex).unwrap()
    }

    fn leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    fn proof_of(ranges: &[(u64, u64)], leaves: &[Hash]) -> Vec<Hash> {
        ranges
            .iter()
            .map(|&(lo, hi)| subtree_root(leaves, lo, hi).unwrap())
            .collect()
    }

    #[test]
    fn roots_match_the_reference_tree() {
        let leaves = leaves();
        assert_eq!(
            root_of(&[]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        for n in 1..=8 {
            assert_eq!(root_of(&leaves[..n]), h(ROOTS[n - 1]), "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference() {
        let leaves = leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in cases {
            let got = proof_of(&inclusion_ranges(index, size), &leaves);
            let want: Vec<Hash> = want.iter().map(|w| h(w)).collect();
            assert_eq!(got, want, "inclusion {index} in {size}");
            let root = h(ROOTS[size as usize - 1]);
            assert!(verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &got,
                &root
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference() {
        let leaves = leaves();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let got = proof_of(&consistency_ranges(old, new), &leaves);
            let want: Vec<Hash> = want.iter().map(|w| h(w)).collect();
            assert_eq!(got, want, "consistency {old} -> {new}");
            assert!(verify_consistency(
                old,
                new,
                &h(ROOTS[old as usize - 1]),
                &h(ROOTS[new as usize - 1]),
                &got
            ));
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_tampering_fails() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let roots: Vec<Hash> = (0..=leaves.len()).map(|n| root_of(&leaves[..n])).collect();
        let mut checked = 0;
        for size in 1..=leaves.len() as u64 {
            for index in 0..size {
                let proof = proof_of(&inclusion_ranges(index, size), &leaves);
                let root = &roots[size as usize];
                assert!(verify_inclusion(
                    &leaves[index as usize],
                    index,
                    size,
                    &proof,
                    root
                ));
                let other = leaves[(index as usize + 1) % leaves.len()];
                assert!(!verify_inclusion(&other, index, size, &proof, root));
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(
                        &leaves[index as usize],
                        index,
                        size,
                        &bad,
                        root
                    ));
                    assert!(!verify_inclusion(
                        &leaves[index as usize],
                        index,
                        size,
                        &proof[1..],
                        root
                    ));
                }
                checked += 1;
            }
            for old in 0..=size {
                let proof = proof_of(&consistency_ranges(old, size), &leaves);
                let (o, n) = (&roots[old as usize], &roots[size as usize]);
                assert!(verify_consistency(old, size, o, n, &proof), "{old}->{size}");
                if old > 0 && old < size {
                    let wrong_old = &roots[old as usize - 1];
                    assert!(!verify_consistency(old, size, wrong_old, n, &proof));
                    assert!(!verify_consistency(old, size, o, n, &proof[1..]));
                }
                checked += 1;
            }
        }
        assert!(checked > 2000);
    }

    #[test]
    fn decomposition_and_compact_range_agree_with_direct_roots() {
        let leaves: Vec<Hash> = (0u32..100).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut range = CompactRange::new();
        let mut completed = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            range.push(*leaf, |s, h| completed.push((s, *h)));
            assert_eq!(range.root(), root_of(&leaves[..=i]));
            let parts = decompose(0, i as u64 + 1);
            let peaks: Vec<Hash> = range.peaks().copied().collect();
            let rebuilt = CompactRange::from_peaks(i as u64 + 1, &peaks).unwrap();
            assert_eq!(rebuilt, range);
            assert_eq!(parts.len(), peaks.len());
        }
        for (subtree, hash) in completed {
            let want = subtree_root(&leaves, subtree.first_leaf(), subtree.end_leaf()).unwrap();
            assert_eq!(hash, want, "{subtree:?}");
        }
        assert_eq!(
            decompose(4, 7),
            vec![
                Subtree { level: 1, index: 2 },
                Subtree { level: 0, index: 6 }
            ]
        );
    }
}
