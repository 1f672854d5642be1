//! `verify`: recompute every entry hash and the tree from the stored bytes, check every
//! stored checkpoint against the key chain, check external checkpoints for truncation
//! and forks, and optionally check every referenced blob.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::blob::BlobState;
use crate::checkpoint::SignedCheckpoint;
use crate::entry::{Entry, kinds, parse_time_micros};
use crate::error::Result;
use crate::hash::{Digest256, Hash, leaf_hash};
use crate::ledger::{Ledger, rotation_statement};
use crate::merkle::CompactRange;
use crate::note::{self, Verifier};
use crate::store::NODE_MIN_LEVEL;

/// A checkpoint kept outside the writer (a file an auditor saved, a git ref).
#[derive(Debug, Clone)]
pub struct Anchor {
    /// Where it came from, for messages.
    pub label: String,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub anchors: Vec<Anchor>,
    /// Keys the caller trusts; when given, one of them must be in the key chain.
    pub trusted_keys: Vec<Verifier>,
    pub check_blobs: bool,
}

/// One thing wrong with the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable machine-readable name, e.g. `entry-modified`.
    pub code: &'static str,
    /// The first entry concerned, when one can be named.
    pub entry: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEpoch {
    pub key: String,
    /// Checkpoints of this size and larger are signed by this key.
    pub from_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlobReport {
    pub referenced: usize,
    pub present: usize,
    pub shredded: Vec<ShreddedBlob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShreddedBlob {
    pub digest: Digest256,
    /// The `blob.shred` entry that recorded it.
    pub entry: u64,
    /// True when the file is still on disk (the shred did not finish).
    pub content_remains: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub origin: String,
    /// Entries verified: all of them, or those before the problem that stopped the scan.
    pub entries: u64,
    /// Entries stored when verification began.
    pub stored_entries: u64,
    pub root: Hash,
    pub checkpoints_checked: usize,
    /// External checkpoints actually compared with the ledger (one that lies beyond
    /// the problem that stopped the scan cannot be).
    pub anchors_checked: usize,
    /// External checkpoints given.
    pub anchors_given: usize,
    pub keys: Vec<KeyEpoch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobReport>,
    pub problems: Vec<Problem>,
    /// True when more problems were found than the report keeps (50).
    pub problems_truncated: bool,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The fields verification needs, without decoding the payload of ordinary entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryHead<'a> {
    v: u32,
    index: u64,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[allow(dead_code)]
    payload: serde::de::IgnoredAny,
    #[serde(default)]
    blobs: Vec<Digest256>,
    #[serde(default)]
    links: Vec<crate::entry::Link>,
}

struct KeyChain {
    epochs: Vec<(u64, Verifier)>,
}

impl KeyChain {
    fn for_size(&self, size: u64) -> Option<&Verifier> {
        self.epochs
            .iter()
            .rev()
            .find(|(from, _)| *from <= size)
            .map(|(_, v)| v)
    }

    fn all(&self) -> Vec<Verifier> {
        self.epochs.iter().map(|(_, v)| v.clone()).collect()
    }

    fn current(&self) -> Option<&Verifier> {
        self.epochs.last().map(|(_, v)| v)
    }
}

struct Verification<'a> {
    origin: &'a str,
    problems: Vec<Problem>,
    problems_truncated: bool,
    keys: KeyChain,
    checkpoints: Vec<SignedCheckpointRow>,
    next_checkpoint: usize,
    /// Largest size whose signed checkpoint matched the recomputed tree.
    last_good_size: u64,
    checkpoints_checked: usize,
    /// Sizes at which external anchors need the recomputed root.
    wanted_roots: BTreeSet<u64>,
    roots: HashMap<u64, Hash>,
    referenced: HashMap<Digest256, u64>,
    shredded: HashMap<Digest256, u64>,
}

struct SignedCheckpointRow {
    size: u64,
    note: String,
}

/// Problems stop being collected after this many; the first is what matters, and the
/// report says when it was cut.
pub(crate) const MAX_PROBLEMS: usize = 50;

impl Verification<'_> {
    fn problem(&mut self, code: &'static str, entry: Option<u64>, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                code,
                entry,
                message,
            });
        } else {
            self.problems_truncated = true;
        }
    }

    /// Called after the tree reached `size`: check every stored checkpoint of that size.
    fn check_checkpoints_at(&mut self, size: u64, root: &Hash) {
        while let Some(cp) = self.checkpoints.get(self.next_checkpoint) {
            if cp.size > size {
                break;
            }
            let cp_size = cp.size;
            let note_text = cp.note.clone();
            self.next_checkpoint += 1;
            self.checkpoints_checked += 1;
            if cp_size < size {
                // Only possible for size 0 checkpoints, which are never written.
                continue;
            }
            let Some(key) = self.keys.for_size(cp_size).cloned() else {
                self.problem(
                    "checkpoint-unsigned",
                    None,
                    format!("checkpoint of size {cp_size} predates any signing key"),
                );
                continue;
            };
            match SignedCheckpoint::open(&note_text, std::slice::from_ref(&key)) {
                Err(e) => self.problem(
                    "checkpoint-bad-signature",
                    Some(cp_size.saturating_sub(1)),
                    format!(
                        "stored checkpoint of size {cp_size} does not verify with key {key}: {e}"
                    ),
                ),
                Ok(opened) => {
                    let c = &opened.checkpoint;
                    if c.origin != self.origin || c.size != cp_size {
                        self.problem(
                            "checkpoint-replaced",
                            Some(cp_size.saturating_sub(1)),
                            format!(
                                "stored checkpoint row for size {cp_size} holds a checkpoint of {} at size {}",
                                c.origin, c.size
                            ),
                        );
                    } else if c.root != *root {
                        let first = self.last_good_size;
                        self.problem(
                            "entries-do-not-match-checkpoint",
                            Some(first),
                            format!(
                                "entries {first}..{} no longer match the checkpoint signed at size {cp_size} (root {} recomputed, {} signed)",
                                cp_size - 1,
                                root,
                                c.root
                            ),
                        );
                    } else {
                        self.last_good_size = cp_size;
                    }
                }
            }
        }
    }
}

impl Ledger {
    /// Verifies the whole ledger. Problems are returned in the report, not as errors;
    /// errors mean verification itself could not run (database unreachable, ...).
    pub async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        let mut conn = self.conn().await?;
        // Order matters when other processes append meanwhile: checkpoints first,
        // then the size, then the nodes, then entries below that size. Every
        // checkpoint read is then covered by the entries read, unless entries were
        // removed.
        let stored_checkpoints = conn.checkpoints().await.map_err(self.storage_err())?;
        let bound = conn.size().await.map_err(self.storage_err())?;
        let stored_nodes = self.db().all_nodes().await.map_err(self.storage_err())?;
        let recorded_key = conn.meta("signing_key").await.map_err(self.storage_err())?;
        drop(conn);
        let mut nodes: HashMap<(u32, u64), Vec<u8>> = stored_nodes
            .into_iter()
            .map(|(s, h)| ((s.level, s.index), h))
            .collect();

        let mut anchors = Vec::new();
        let mut v = Verification {
            origin: self.origin(),
            problems: Vec::new(),
            problems_truncated: false,
            keys: KeyChain { epochs: Vec::new() },
            checkpoints: stored_checkpoints
                .into_iter()
                .map(|r| SignedCheckpointRow {
                    size: r.size,
                    note: r.note,
                })
                .collect(),
            next_checkpoint: 0,
            last_good_size: 0,
            checkpoints_checked: 0,
            wanted_roots: BTreeSet::new(),
            roots: HashMap::new(),
            referenced: HashMap::new(),
            shredded: HashMap::new(),
        };
        for anchor in &options.anchors {
            match SignedCheckpoint::parse_unverified(&anchor.note) {
                Ok(cp) => {
                    v.wanted_roots.insert(cp.checkpoint.size);
                    anchors.push((anchor, cp));
                }
                Err(e) => v.problem(
                    "anchor-malformed",
                    None,
                    format!("checkpoint {} cannot be read: {e}", anchor.label),
                ),
            }
        }

        let mut range = CompactRange::new();
        // Every leaf hash so far, for checking links to earlier entries.
        let mut leaves: Vec<Hash> = Vec::new();
        let mut chunks = self.db().scan_entries(bound);
        let mut expected = 0u64;
        'scan: while let Some(chunk) = chunks.recv().await {
            for scanned in chunk.map_err(self.storage_err())? {
                let row = scanned.row;
                let leaf = scanned.leaf.unwrap_or_else(|| leaf_hash(&row.bytes));
                if row.index != expected {
                    let msg = if row.index > expected {
                        format!(
                            "entry {expected} is missing: entries jump from {} to {}",
                            expected.saturating_sub(1),
                            row.index
                        )
                    } else {
                        format!("entry {} appears twice", row.index)
                    };
                    v.problem("entry-missing", Some(expected), msg);
                    break 'scan;
                }
                if row.leaf_hash != leaf.0 {
                    v.problem(
                        "entry-modified",
                        Some(row.index),
                        format!(
                            "entry {}: its stored bytes no longer hash to the leaf hash recorded when it was appended",
                            row.index
                        ),
                    );
                    break 'scan;
                }
                let head: EntryHead = match serde_json::from_slice(&row.bytes) {
                    Ok(h) => h,
                    Err(e) => {
                        v.problem(
                            "entry-undecodable",
                            Some(row.index),
                            format!("entry {} is not a valid ledger entry: {e}", row.index),
                        );
                        break 'scan;
                    }
                };
                if head.index != row.index {
                    v.problem(
                        "entry-reordered",
                        Some(row.index),
                        format!(
                            "position {} holds the entry written as index {}: entries were reordered",
                            row.index, head.index
                        ),
                    );
                    break 'scan;
                }
                if head.v != crate::entry::ENTRY_VERSION
                    || head.kind != row.kind
                    || parse_time_micros(&head.time) != Some(row.time_us)
                {
                    v.problem(
                        "entry-columns-modified",
                        Some(row.index),
                        format!(
                            "entry {}: the kind or time columns disagree with the signed entry bytes",
                            row.index
                        ),
                    );
                    break 'scan;
                }
                let index = row.index;
                for link in &head.links {
                    let target = usize::try_from(link.index).ok().and_then(|i| leaves.get(i));
                    if target != Some(&link.leaf_hash) {
                        v.problem(
                            "link-broken",
                            Some(index),
                            format!(
                                "entry {index} closes entry {}, which {}",
                                link.index,
                                if target.is_some() {
                                    "no longer has the hash it had"
                                } else {
                                    "does not precede it"
                                }
                            ),
                        );
                    }
                }
                leaves.push(leaf);
                let kind = head.kind.to_string();
                let blobs = head.blobs;
                if index == 0 || kind == kinds::KEY_ROTATE || kind == kinds::BLOB_SHRED {
                    match Entry::decode(index, &row.bytes) {
                        Ok(entry) => check_special_entry(&mut v, &entry),
                        Err(e) => v.problem("entry-undecodable", Some(index), e.to_string()),
                    }
                }
                if kind != kinds::BLOB_SHRED {
                    for digest in blobs {
                        v.referenced.entry(digest).or_insert(index);
                    }
                }

                let mut node_problem = None;
                range.push(leaf, |subtree, hash| {
                    if subtree.level >= NODE_MIN_LEVEL && node_problem.is_none() {
                        match nodes.remove(&(subtree.level, subtree.index)) {
                            Some(stored) if stored == hash.0 => {}
                            _ => node_problem = Some(subtree),
                        }
                    }
                });
                if let Some(s) = node_problem {
                    v.problem(
                        "tree-node-modified",
                        Some(s.first_leaf()),
                        format!(
                            "the stored tree node over entries {}..{} is missing or wrong; proofs for those entries would fail",
                            s.first_leaf(),
                            s.end_leaf() - 1
                        ),
                    );
                }
                expected = index + 1;
                // The root costs O(log n) hashes: compute it only at sizes where a
                // checkpoint or an anchor needs it.
                let checkpoint_here = v
                    .checkpoints
                    .get(v.next_checkpoint)
                    .is_some_and(|c| c.size <= expected);
                let anchor_here = v.wanted_roots.contains(&expected);
                if checkpoint_here || anchor_here {
                    let root = range.root();
                    v.check_checkpoints_at(expected, &root);
                    if anchor_here {
                        v.roots.insert(expected, root);
                    }
                }
                if v.problems.len() >= MAX_PROBLEMS {
                    if expected < bound {
                        v.problems_truncated = true;
                    }
                    break 'scan;
                }
            }
        }
        let size = range.size();
        let root = range.root();
        // The scan stops at the first entry it cannot trust; what lies beyond was not
        // checked, and is not reported as missing.
        let complete = size == bound;

        // Signed checkpoints beyond the last entry: the tail was cut off.
        if let Some(cp_size) = v.checkpoints.last().map(|c| c.size).filter(|s| *s > bound) {
            v.problem(
                "entries-truncated",
                Some(bound),
                format!(
                    "the ledger ends at entry {} but a checkpoint of size {cp_size} was signed: entries {bound}..{} were removed",
                    bound as i128 - 1,
                    cp_size - 1
                ),
            );
        }

        // Entries no signature covers: every group commit stores its signed checkpoint
        // with its entries, so a tail beyond the newest checkpoint was written behind
        // docket's back or had its checkpoints deleted (e.g. after an edit).
        let newest_signed = v
            .checkpoints
            .iter()
            .map(|c| c.size)
            .filter(|s| *s <= bound)
            .max()
            .unwrap_or(0);
        if complete && newest_signed < bound {
            // Checkpoints were read before the size: entries appended meanwhile come
            // with their own checkpoint, which is read now.
            let later = self
                .conn()
                .await?
                .checkpoints()
                .await
                .map_err(self.storage_err())?;
            let covering = later.into_iter().find(|c| c.size == bound);
            match covering {
                Some(row) => {
                    v.checkpoints.push(SignedCheckpointRow {
                        size: row.size,
                        note: row.note,
                    });
                    v.check_checkpoints_at(bound, &root);
                }
                None => v.problem(
                    "entries-unsigned",
                    Some(newest_signed),
                    format!(
                        "entries {newest_signed}..{} are not covered by any signed checkpoint (the newest stored one is of size {newest_signed}): checkpoints were deleted or entries were written behind docket's back",
                        bound - 1
                    ),
                ),
            }
        }

        let chain = v.keys.all();
        let mut anchors_checked = 0;
        for (anchor, cp) in &anchors {
            let mut keys = chain.clone();
            keys.extend(options.trusted_keys.iter().cloned());
            if let Err(e) = note::open_note(&anchor.note, &keys) {
                v.problem(
                    "anchor-bad-signature",
                    None,
                    format!(
                        "checkpoint {} is not signed by this ledger's keys: {e}",
                        anchor.label
                    ),
                );
                anchors_checked += 1;
                continue;
            }
            let c = &cp.checkpoint;
            if c.origin == self.origin() && c.size <= bound && c.size > size {
                // Beyond the entry that stopped the scan: not checked, not missing.
                continue;
            }
            anchors_checked += 1;
            if c.origin != self.origin() {
                v.problem(
                    "anchor-other-log",
                    None,
                    format!(
                        "checkpoint {} belongs to log {}, not {}",
                        anchor.label,
                        c.origin,
                        self.origin()
                    ),
                );
            } else if c.size > bound {
                v.problem(
                    "entries-truncated",
                    Some(bound),
                    format!(
                        "checkpoint {} proves the ledger had {} entries, but it now has {bound}: entries {bound}..{} are gone",
                        anchor.label,
                        c.size,
                        c.size - 1
                    ),
                );
            } else if c.size > 0 && v.roots.get(&c.size) != Some(&c.root) {
                v.problem(
                    "history-forked",
                    Some(v.last_good_size.min(c.size.saturating_sub(1))),
                    format!(
                        "the first {} entries differ from checkpoint {}: history was rewritten (forked) after it was saved",
                        c.size, anchor.label
                    ),
                );
            }
        }

        if !options.trusted_keys.is_empty()
            && !chain.iter().any(|k| options.trusted_keys.contains(k))
        {
            v.problem(
                "untrusted-key",
                None,
                "none of the keys given with --key appears in this ledger's key chain".into(),
            );
        }
        if let (Some(recorded), Some(current)) = (&recorded_key, v.keys.current())
            && *recorded != current.to_string()
        {
            v.problem(
                "key-chain-mismatch",
                None,
                format!(
                    "the ledger's signing key is recorded as {recorded}, but its key chain ends at {current}"
                ),
            );
        }

        let blobs = if options.check_blobs {
            Some(self.check_blobs(&mut v)?)
        } else {
            None
        };

        Ok(VerifyReport {
            origin: self.origin().to_owned(),
            entries: size,
            stored_entries: bound,
            root,
            checkpoints_checked: v.checkpoints_checked,
            anchors_checked,
            anchors_given: options.anchors.len(),
            keys: v
                .keys
                .epochs
                .iter()
                .map(|(from, k)| KeyEpoch {
                    key: k.to_string(),
                    from_size: *from,
                })
                .collect(),
            blobs,
            problems: v.problems,
            problems_truncated: v.problems_truncated,
        })
    }

    fn check_blobs(&self, v: &mut Verification<'_>) -> Result<BlobReport> {
        let mut report = BlobReport {
            referenced: v.referenced.len(),
            ..BlobReport::default()
        };
        let mut referenced: Vec<(Digest256, u64)> =
            v.referenced.iter().map(|(d, i)| (*d, *i)).collect();
        referenced.sort_by_key(|(_, i)| *i);
        for (digest, entry) in referenced {
            let state = self.blobs().state(&digest)?;
            if let Some(&shred_entry) = v.shredded.get(&digest) {
                report.shredded.push(ShreddedBlob {
                    digest,
                    entry: shred_entry,
                    content_remains: !matches!(state, BlobState::Missing),
                });
                continue;
            }
            match state {
                BlobState::Present { .. } => report.present += 1,
                BlobState::Missing => v.problem(
                    "blob-missing",
                    Some(entry),
                    format!(
                        "blob {digest}, referenced by entry {entry}, is missing from {} and no shred was recorded",
                        self.blobs().root().display()
                    ),
                ),
                BlobState::Corrupt { actual } => v.problem(
                    "blob-corrupt",
                    Some(entry),
                    format!(
                        "blob {digest}, referenced by entry {entry}, is corrupt: {} hashes to sha256:{actual}",
                        self.blobs().path_of(&digest).display()
                    ),
                ),
            }
        }
        Ok(report)
    }
}

/// Genesis, key rotations and shreds carry facts verification depends on.
fn check_special_entry(v: &mut Verification<'_>, entry: &Entry) {
    let index = entry.index;
    let field = |name: &str| {
        entry
            .payload
            .get(name)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
    };
    if index == 0 {
        if entry.kind != kinds::GENESIS {
            v.problem(
                "genesis-missing",
                Some(0),
                format!("entry 0 is a {} entry, not the ledger genesis", entry.kind),
            );
            return;
        }
        if field("origin").as_deref() != Some(v.origin) {
            v.problem(
                "genesis-origin",
                Some(0),
                "the genesis entry names a different log origin".into(),
            );
        }
        match field("key").map(|k| Verifier::parse(&k)) {
            Some(Ok(key)) => v.keys.epochs.push((1, key)),
            _ => v.problem(
                "genesis-key",
                Some(0),
                "the genesis entry has no valid key".into(),
            ),
        }
        return;
    }
    match entry.kind.as_str() {
        kinds::KEY_ROTATE => {
            let (Some(old), Some(new), Some(statement)) =
                (field("old_key"), field("new_key"), field("statement"))
            else {
                v.problem(
                    "key-rotation-invalid",
                    Some(index),
                    format!("entry {index}: key rotation lacks old_key, new_key or statement"),
                );
                return;
            };
            let current = v.keys.current().cloned();
            let parsed = (Verifier::parse(&old), Verifier::parse(&new));
            let (Ok(old_key), Ok(new_key)) = parsed else {
                v.problem(
                    "key-rotation-invalid",
                    Some(index),
                    format!("entry {index}: key rotation names a malformed key"),
                );
                return;
            };
            if current.as_ref() != Some(&old_key) {
                v.problem(
                    "key-rotation-invalid",
                    Some(index),
                    format!(
                        "entry {index}: rotation from {old_key}, but the current key is {}",
                        current.map(|c| c.to_string()).unwrap_or_default()
                    ),
                );
                return;
            }
            let expected = rotation_statement(v.origin, &old_key, &new_key);
            let signed_by_both = note::open_note(&statement, &[old_key.clone(), new_key.clone()])
                .ok()
                .filter(|o| o.text == expected && o.verified_by.len() == 2);
            if signed_by_both.is_none() {
                v.problem(
                    "key-rotation-invalid",
                    Some(index),
                    format!("entry {index}: the rotation statement is not signed by both the old and the new key"),
                );
                return;
            }
            v.keys.epochs.push((index + 1, new_key));
        }
        kinds::BLOB_SHRED => match field("digest").map(|d| d.parse::<Digest256>()) {
            Some(Ok(d)) => {
                v.shredded.insert(d, index);
            }
            _ => v.problem(
                "shred-invalid",
                Some(index),
                format!("entry {index}: shred entry names no valid digest"),
            ),
        },
        _ => {}
    }
}
