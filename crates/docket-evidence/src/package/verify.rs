//! Verifying a package offline, from its bytes and the trusted keys only, in a
//! fixed order that stops at the first failure.

use std::collections::BTreeMap;

use docket_ledger::checkpoint::SignedCheckpoint;
use docket_ledger::entry::{Entry, kinds as ledger_kinds};
use docket_ledger::note;
use docket_ledger::proof::ConsistencyProof;
use docket_ledger::{Digest256, Hash, Verifier};
use serde::Serialize;

use super::archive::Archive;
use super::check::{
    Failure, check_attestation, check_blob, check_chain_entries, check_entry, check_files,
    check_key_chain, check_member_name, check_run, fail, printable,
};
use super::manifest::signature_text;
use crate::contents::{
    BlobRef, CHECKPOINT, FORMAT, Files, KEY_CHAIN, KeyChain, MANIFEST, Manifest, SIGNATURE,
    entry_file,
};

/// Which keys verification starts from.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Keys the auditor got from the ledger's owner; one must be in the package's key
    /// chain.
    Keys(Vec<Verifier>),
    /// The package's own key chain: proves integrity, not origin.
    PackageKeys,
}

/// What a verified package holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub origin: String,
    pub created_at: String,
    pub runs: usize,
    pub entries: usize,
    pub blobs: usize,
    pub shredded: usize,
    pub attestations: usize,
    pub consistency: usize,
    pub files: usize,
    pub checkpoint_size: u64,
    pub checkpoint_root: Hash,
    /// The key that signed the manifest and the checkpoint.
    pub signed_by: String,
    /// True when the signer's key chain starts from a key given by the caller.
    pub trusted_key_given: bool,
}

/// Verifies a package read from its archive: first that its members are exactly
/// files with safe, distinct names, so what an unzip tool shows is what is verified;
/// then its contents.
pub fn verify_archive(archive: &Archive, trust: &Trust) -> Result<Verified, Failure> {
    if let Some(name) = archive.duplicates.iter().next() {
        return Err(fail(
            "member-duplicate",
            Some(name),
            None,
            format!(
                "{} is in the archive more than once: verification reads one of them, an unzip tool may show another",
                printable(name)
            ),
        ));
    }
    for name in archive.member_names() {
        // A directory's name ends with `/`; its name is checked without it.
        let name = if archive.not_files.contains(name) {
            name.strip_suffix('/').unwrap_or(name)
        } else {
            name
        };
        check_member_name(name)?;
    }
    if let Some(name) = archive.not_files.iter().next() {
        return Err(fail(
            "file-unlisted",
            Some(name),
            None,
            format!(
                "{} is in the package but not in the manifest: it is a directory or a symbolic link, and a package holds only files",
                printable(name)
            ),
        ));
    }
    if let Some((name, reason)) = archive.damaged.iter().next() {
        return Err(fail(
            "file-damaged",
            Some(name),
            None,
            format!(
                "{} cannot be read from the archive: {reason}",
                printable(name)
            ),
        ));
    }
    verify(&archive.files, trust)
}

/// Verifies everything in a package, offline; the error names the first failure.
pub fn verify(files: &Files, trust: &Trust) -> Result<Verified, Failure> {
    let get = |path: &str| -> Result<&Vec<u8>, Failure> {
        files.get(path).ok_or_else(|| {
            fail(
                "file-missing",
                Some(path),
                None,
                format!("{path} is missing from the package"),
            )
        })
    };
    // 1. Member names (`verify_archive` also checks the archive's members themselves).
    for name in files.keys() {
        check_member_name(name)?;
    }
    let manifest_bytes = get(MANIFEST)?;

    // 2. The key chain, from the genesis key through every rotation signed by both keys.
    let chain_bytes = get(KEY_CHAIN)?;
    let chain: KeyChain = serde_json::from_slice(chain_bytes).map_err(|e| {
        fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!("{KEY_CHAIN} is not a key chain: {e}"),
        )
    })?;
    let keys = check_key_chain(&chain)?;
    let current = keys.last().cloned().ok_or_else(|| {
        fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!("{KEY_CHAIN} names no key"),
        )
    })?;
    let trusted_key_given = match trust {
        Trust::Keys(given) => {
            if !given.iter().any(|k| keys.contains(k)) {
                let given: Vec<String> = given.iter().map(ToString::to_string).collect();
                return Err(fail(
                    "untrusted-key",
                    Some(KEY_CHAIN),
                    None,
                    format!(
                        "the package is not signed by the key you trust: {} is not in its key chain ({})",
                        given.join(", "),
                        keys.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            true
        }
        Trust::PackageKeys => false,
    };

    // 3. The manifest signature: by the current key, over these exact manifest bytes.
    let sig_bytes = get(SIGNATURE)?;
    let sig_text = std::str::from_utf8(sig_bytes).map_err(|_| {
        fail(
            "signature-invalid",
            Some(SIGNATURE),
            None,
            format!("{SIGNATURE} is not a signed note (not UTF-8)"),
        )
    })?;
    let opened = note::open_note(sig_text, std::slice::from_ref(&current)).map_err(|e| {
        fail(
            "signature-invalid",
            Some(SIGNATURE),
            None,
            format!("{SIGNATURE} does not verify with the package's current key {current}: {e}"),
        )
    })?;
    let expected = signature_text(&chain.origin, manifest_bytes);
    if opened.text != expected {
        return Err(fail(
            "manifest-modified",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} is not the manifest {SIGNATURE} signed: its sha256 is {}, the signed note says {}",
                Hash::digest(manifest_bytes),
                opened
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("manifest "))
                    .unwrap_or("(no manifest line)")
            ),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(manifest_bytes).map_err(|e| {
        fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!("{MANIFEST} is signed but not a valid manifest: {e}"),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} has format `{}`, expected `{FORMAT}`",
                manifest.format
            ),
        ));
    }
    if manifest.origin != chain.origin {
        return Err(fail(
            "manifest-invalid",
            Some(MANIFEST),
            None,
            format!(
                "{MANIFEST} is for log {}, but {KEY_CHAIN} is for {}",
                manifest.origin, chain.origin
            ),
        ));
    }

    // 4. Every file listed, present and intact; nothing unlisted.
    check_files(files, &manifest)?;

    // 5. The checkpoint.
    let cp_text = std::str::from_utf8(get(CHECKPOINT)?).unwrap_or_default();
    let checkpoint =
        SignedCheckpoint::open(cp_text, std::slice::from_ref(&current)).map_err(|e| {
            fail(
                "checkpoint-invalid",
                Some(CHECKPOINT),
                None,
                format!(
                    "{CHECKPOINT} does not verify with the package's current key {current}: {e}"
                ),
            )
        })?;
    let cp = &checkpoint.checkpoint;
    if cp.origin != manifest.origin
        || cp.size != manifest.checkpoint.size
        || cp.root != manifest.checkpoint.root
    {
        return Err(fail(
            "checkpoint-invalid",
            Some(CHECKPOINT),
            None,
            format!(
                "{CHECKPOINT} is for {} at size {} (root {}), the manifest says {} at size {} (root {})",
                cp.origin,
                cp.size,
                cp.root,
                manifest.origin,
                manifest.checkpoint.size,
                manifest.checkpoint.root
            ),
        ));
    }

    // 6. Every entry: exact bytes, inclusion proof against the checkpoint.
    let mut entries: BTreeMap<u64, (Entry, Hash)> = BTreeMap::new();
    for r in &manifest.entries {
        let (entry, leaf) = check_entry(files, r, cp_text, &checkpoint)?;
        entries.insert(r.index, (entry, leaf));
    }

    // 7. The key chain is the ledger's: genesis and rotations are entries here.
    check_chain_entries(&chain, &entries)?;
    for e in &manifest.evidence {
        if let Some(missing) = e.entries.iter().find(|i| !entries.contains_key(i)) {
            return Err(fail(
                "entry-missing",
                Some(MANIFEST),
                Some(*missing),
                format!(
                    "the manifest cites entry {missing} as `{}` evidence, but the package does not hold it",
                    e.evidence
                ),
            ));
        }
    }

    // 8. Links between entries; every run's record and the stages it lists.
    for (index, (entry, _)) in &entries {
        for link in &entry.links {
            if let Some((_, leaf)) = entries.get(&link.index)
                && *leaf != link.leaf_hash
            {
                return Err(fail(
                    "link-broken",
                    Some(&entry_file(*index)),
                    Some(*index),
                    format!(
                        "entry {index} closes entry {} with leaf hash {}, but the package's entry {} hashes to {leaf}",
                        link.index, link.leaf_hash, link.index
                    ),
                ));
            }
        }
    }
    let mut records = BTreeMap::new();
    for run in &manifest.runs {
        let record = check_run(run, &entries)?;
        records.insert(run.run_id.clone(), record);
    }

    // 9. Blobs: present and intact, or shredded by an entry in the package.
    let blob_refs: BTreeMap<Digest256, &BlobRef> =
        manifest.blobs.iter().map(|b| (b.digest, b)).collect();
    for (index, (entry, _)) in &entries {
        if entry.kind == ledger_kinds::BLOB_SHRED {
            continue;
        }
        for digest in &entry.blobs {
            check_blob(
                files,
                digest,
                *index,
                blob_refs.get(digest).copied(),
                &entries,
            )?;
        }
    }

    // 10. Attestations: signature, and the commit the run recorded.
    let mut attested = 0;
    for run in &manifest.runs {
        let Some(record) = records.get(&run.run_id) else {
            continue;
        };
        if check_attestation(files, &manifest, run, record, &entries, &blob_refs, &keys)? {
            attested += 1;
        }
    }

    // 11. Consistency with checkpoints the auditor kept.
    for c in &manifest.consistency {
        let bytes = get(&c.file)?;
        let proof: ConsistencyProof = serde_json::from_slice(bytes).map_err(|e| {
            fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!("{} is not a consistency proof: {e}", c.file),
            )
        })?;
        if proof.new_checkpoint != cp_text || proof.old_size != c.old_size {
            return Err(fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!(
                    "{} does not prove size {} against the package's {CHECKPOINT}",
                    c.file, c.old_size
                ),
            ));
        }
        proof.check(&keys).map_err(|e| {
            fail(
                "consistency-invalid",
                Some(&c.file),
                None,
                format!("{} ({}): {e}", c.file, c.label),
            )
        })?;
    }

    Ok(Verified {
        origin: manifest.origin.clone(),
        created_at: manifest.created_at.clone(),
        runs: manifest.runs.len(),
        entries: manifest.entries.len(),
        blobs: manifest.blobs.iter().filter(|b| b.file.is_some()).count(),
        shredded: manifest.blobs.iter().filter(|b| b.file.is_none()).count(),
        attestations: attested,
        consistency: manifest.consistency.len(),
        files: manifest.files.len() + 2,
        checkpoint_size: cp.size,
        checkpoint_root: cp.root,
        signed_by: current.to_string(),
        trusted_key_given,
    })
}
