//! The checks verification runs on each part of a package (key chain, files,
//! entries and proofs, runs, blobs, attestations), and the `Failure` that names the
//! first one that does not hold.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use docket_core::record::{RunRecord, kinds};
use docket_ledger::checkpoint::SignedCheckpoint;
use docket_ledger::entry::{Entry, kinds as ledger_kinds};
use docket_ledger::hash::leaf_hash;
use docket_ledger::merkle;
use docket_ledger::note;
use docket_ledger::proof::{INCLUSION_FORMAT, InclusionProof};
use docket_ledger::{Digest256, Hash, Verifier};
use serde::Serialize;
use serde_json::Value;

use crate::contents::{
    BlobRef, CHECKPOINT, EntryRef, Files, KEY_CHAIN, KEY_CHAIN_FORMAT, KeyChain, MANIFEST,
    Manifest, RunRef, SIGNATURE, blob_file, entry_file, proof_file, shred_file,
};

/// The first thing that does not hold, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Stable machine-readable name, e.g. `file-modified`.
    pub code: &'static str,
    pub file: Option<String>,
    pub entry: Option<u64>,
    pub message: String,
}

pub(super) fn fail(
    code: &'static str,
    file: Option<&str>,
    entry: Option<u64>,
    message: String,
) -> Failure {
    Failure {
        code,
        file: file.map(str::to_owned),
        entry,
        message,
    }
}

/// A member name as it can be printed: control characters escaped, so a hostile
/// name cannot rewrite the terminal that shows the failure.
pub(super) fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether an unzip tool would write `name` inside the folder it extracts to, and
/// under that same name on every system: a relative path of `/`-separated parts, none
/// of them empty, `.` or `..`, with no backslash (a separator on Windows), colon (a
/// drive prefix or an NTFS stream) or control character. Every name a package is
/// built with passes; a name that does not is refused whether or not the manifest
/// lists it.
pub(super) fn check_member_name(name: &str) -> Result<(), Failure> {
    let safe = !name.is_empty()
        && !name.contains(['\\', ':'])
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if safe {
        return Ok(());
    }
    Err(fail(
        "member-unsafe-name",
        Some(name),
        None,
        format!(
            "{} is not a safe member name: unpacking the package could write it outside the folder it is unpacked into, or under another name (a package's members are relative paths without `..`, `.`, empty parts, backslashes or colons)",
            printable(name)
        ),
    ))
}

/// The keys of a chain, oldest first, after checking every rotation statement.
pub(super) fn check_key_chain(chain: &KeyChain) -> Result<Vec<Verifier>, Failure> {
    let bad = |message: String| fail("key-chain-invalid", Some(KEY_CHAIN), None, message);
    if chain.format != KEY_CHAIN_FORMAT {
        return Err(bad(format!(
            "{KEY_CHAIN} has format `{}`, expected `{KEY_CHAIN_FORMAT}`",
            chain.format
        )));
    }
    let parse = |text: &str| {
        Verifier::parse(text).map_err(|e| bad(format!("{KEY_CHAIN} names an invalid key: {e}")))
    };
    let mut keys = vec![parse(&chain.genesis)?];
    for rotation in &chain.rotations {
        let old = parse(&rotation.old_key)?;
        let new = parse(&rotation.new_key)?;
        if keys.last() != Some(&old) {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "the rotation in entry {} starts from {old}, which is not the key before it",
                    rotation.entry
                ),
            ));
        }
        let expected = docket_ledger::rotation_statement(&chain.origin, &old, &new);
        let signed_by_both = note::open_note(&rotation.statement, &[old.clone(), new.clone()])
            .ok()
            .filter(|o| o.text == expected && o.verified_by.len() == 2);
        if signed_by_both.is_none() {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "the rotation statement of entry {} is not signed by both {old} and {new}",
                    rotation.entry
                ),
            ));
        }
        keys.push(new);
    }
    if keys.last().map(ToString::to_string).as_deref() != Some(chain.current.as_str()) {
        return Err(bad(format!(
            "{KEY_CHAIN} says the current key is {}, but its rotations end at another key",
            chain.current
        )));
    }
    Ok(keys)
}

pub(super) fn check_files(files: &Files, manifest: &Manifest) -> Result<(), Failure> {
    let mut listed = BTreeSet::new();
    for f in &manifest.files {
        listed.insert(f.path.as_str());
        let Some(bytes) = files.get(&f.path) else {
            return Err(fail(
                "file-missing",
                Some(&f.path),
                None,
                format!(
                    "{} is listed in the manifest but missing from the package",
                    f.path
                ),
            ));
        };
        let actual = Hash::digest(bytes);
        if actual != f.sha256 || bytes.len() as u64 != f.size {
            return Err(fail(
                "file-modified",
                Some(&f.path),
                None,
                format!(
                    "{} was modified: its sha256 is {actual} ({} bytes), the manifest says {} ({} bytes)",
                    f.path,
                    bytes.len(),
                    f.sha256,
                    f.size
                ),
            ));
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|p| !listed.contains(p.as_str()) && *p != MANIFEST && *p != SIGNATURE)
    {
        return Err(fail(
            "file-unlisted",
            Some(extra),
            None,
            format!("{extra} is in the package but not in the manifest"),
        ));
    }
    Ok(())
}

pub(super) fn check_entry(
    files: &Files,
    r: &EntryRef,
    cp_text: &str,
    checkpoint: &SignedCheckpoint,
) -> Result<(Entry, Hash), Failure> {
    let index = r.index;
    let at = |code, file: &str, message: String| fail(code, Some(file), Some(index), message);
    if r.file != entry_file(index) || r.proof != proof_file(index) {
        return Err(at(
            "manifest-invalid",
            MANIFEST,
            format!(
                "the manifest names entry {index}'s files {} and {}",
                r.file, r.proof
            ),
        ));
    }
    let bytes = files.get(&r.file).ok_or_else(|| {
        at(
            "file-missing",
            &r.file,
            format!("{} (entry {index}) is missing from the package", r.file),
        )
    })?;
    let leaf = leaf_hash(bytes);
    if leaf != r.leaf_hash {
        return Err(at(
            "entry-modified",
            &r.file,
            format!(
                "{}: entry {index} hashes to leaf {leaf}, the manifest says {}",
                r.file, r.leaf_hash
            ),
        ));
    }
    let entry = Entry::decode(index, bytes)
        .map_err(|e| at("entry-invalid", &r.file, format!("{}: {e}", r.file)))?;
    if entry.index != index || entry.kind != r.kind {
        return Err(at(
            "entry-invalid",
            &r.file,
            format!(
                "{} holds entry {} of kind {}, the manifest says entry {index} of kind {}",
                r.file, entry.index, entry.kind, r.kind
            ),
        ));
    }
    let proof_bytes = files.get(&r.proof).ok_or_else(|| {
        at(
            "file-missing",
            &r.proof,
            format!(
                "{} (entry {index}'s proof) is missing from the package",
                r.proof
            ),
        )
    })?;
    let proof: InclusionProof = serde_json::from_slice(proof_bytes).map_err(|e| {
        at(
            "proof-invalid",
            &r.proof,
            format!("{} is not an inclusion proof: {e}", r.proof),
        )
    })?;
    let size = checkpoint.checkpoint.size;
    // The checkpoint's signature was checked once; each proof must name that same note.
    if proof.format != INCLUSION_FORMAT
        || proof.index != index
        || proof.tree_size != size
        || proof.checkpoint != cp_text
    {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!(
                "{} is not a proof of entry {index} against {CHECKPOINT} (size {size})",
                r.proof
            ),
        ));
    }
    if BASE64.decode(&proof.entry).ok().as_deref() != Some(bytes.as_slice())
        || proof.leaf_hash != leaf
    {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!("{} proves other bytes than {}", r.proof, r.file),
        ));
    }
    if !merkle::verify_inclusion(
        &leaf,
        index,
        size,
        &proof.proof,
        &checkpoint.checkpoint.root,
    ) {
        return Err(at(
            "proof-invalid",
            &r.proof,
            format!(
                "{}: entry {index} is not included in the tree of size {size} with root {} (the proof does not verify)",
                r.proof, checkpoint.checkpoint.root
            ),
        ));
    }
    Ok((entry, leaf))
}

pub(super) fn check_chain_entries(
    chain: &KeyChain,
    entries: &BTreeMap<u64, (Entry, Hash)>,
) -> Result<(), Failure> {
    let field = |entry: &Entry, name: &str| {
        entry
            .payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let Some((genesis, _)) = entries.get(&0) else {
        return Err(fail(
            "entry-missing",
            Some(&entry_file(0)),
            Some(0),
            "the ledger's genesis entry (entry 0) is not in the package".into(),
        ));
    };
    if genesis.kind != ledger_kinds::GENESIS
        || field(genesis, "key").as_deref() != Some(chain.genesis.as_str())
        || field(genesis, "origin").as_deref() != Some(chain.origin.as_str())
    {
        return Err(fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            Some(0),
            format!(
                "{KEY_CHAIN} does not start at the key and origin of the genesis entry (entry 0)"
            ),
        ));
    }
    for rotation in &chain.rotations {
        let matches = entries.get(&rotation.entry).is_some_and(|(e, _)| {
            e.kind == ledger_kinds::KEY_ROTATE
                && field(e, "old_key").as_deref() == Some(rotation.old_key.as_str())
                && field(e, "new_key").as_deref() == Some(rotation.new_key.as_str())
                && field(e, "statement").as_deref() == Some(rotation.statement.as_str())
        });
        if !matches {
            return Err(fail(
                "key-chain-invalid",
                Some(KEY_CHAIN),
                Some(rotation.entry),
                format!(
                    "{KEY_CHAIN} names a rotation in entry {}, but the package has no such rotation entry",
                    rotation.entry
                ),
            ));
        }
    }
    let recorded = entries
        .values()
        .filter(|(e, _)| e.kind == ledger_kinds::KEY_ROTATE)
        .count();
    if recorded != chain.rotations.len() {
        return Err(fail(
            "key-chain-invalid",
            Some(KEY_CHAIN),
            None,
            format!(
                "the package holds {recorded} key rotation entries, but {KEY_CHAIN} lists {}",
                chain.rotations.len()
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_run(
    run: &RunRef,
    entries: &BTreeMap<u64, (Entry, Hash)>,
) -> Result<RunRecord, Failure> {
    let file = entry_file(run.record);
    let bad = |code, message: String| fail(code, Some(&file), Some(run.record), message);
    let Some((entry, _)) = entries.get(&run.record) else {
        return Err(bad(
            "entry-missing",
            format!(
                "run {}: its record, entry {}, is not in the package",
                run.run_id, run.record
            ),
        ));
    };
    if entry.kind != kinds::RECORD {
        return Err(bad(
            "run-invalid",
            format!(
                "run {}: entry {} is a {} entry, not a run record",
                run.run_id, run.record, entry.kind
            ),
        ));
    }
    let record: RunRecord = serde_json::from_value(entry.payload.clone()).map_err(|e| {
        bad(
            "run-invalid",
            format!(
                "run {}: entry {} is not a run record: {e}",
                run.run_id, run.record
            ),
        )
    })?;
    if record.run_id != run.run_id || record.ledger.stages != run.stages {
        return Err(bad(
            "run-invalid",
            format!(
                "run {}: entry {} is the record of run {} with other stages than the manifest lists",
                run.run_id, run.record, record.run_id
            ),
        ));
    }
    for stage in record
        .ledger
        .stages
        .iter()
        .chain(entry.links.iter().map(|l| &l.index))
        .chain(&run.related)
    {
        if !entries.contains_key(stage) {
            return Err(fail(
                "entry-missing",
                Some(&entry_file(*stage)),
                Some(*stage),
                format!(
                    "run {}: its record (entry {}) lists {} entry {stage}, which is not in the package",
                    run.run_id,
                    run.record,
                    if run.related.contains(stage) {
                        "related"
                    } else {
                        "stage"
                    }
                ),
            ));
        }
    }
    Ok(record)
}

pub(super) fn check_blob(
    files: &Files,
    digest: &Digest256,
    index: u64,
    blob: Option<&BlobRef>,
    entries: &BTreeMap<u64, (Entry, Hash)>,
) -> Result<(), Failure> {
    let path = blob_file(digest);
    let Some(blob) = blob else {
        return Err(fail(
            "blob-missing",
            Some(&path),
            Some(index),
            format!("blob {digest}, referenced by entry {index}, is not in the package"),
        ));
    };
    match (&blob.file, blob.shredded_by) {
        (Some(file), _) => {
            let bytes = files.get(file).filter(|_| *file == path).ok_or_else(|| {
                fail(
                    "blob-missing",
                    Some(&path),
                    Some(index),
                    format!("blob {digest}, referenced by entry {index}, is missing: {path} is not in the package"),
                )
            })?;
            let actual = Digest256::of(bytes);
            if actual != *digest {
                return Err(fail(
                    "blob-modified",
                    Some(&path),
                    Some(index),
                    format!(
                        "{path} hashes to {actual}, not {digest} (referenced by entry {index})"
                    ),
                ));
            }
            Ok(())
        }
        (None, Some(shred)) => {
            let record_file = shred_file(digest);
            let by_entry = entries.get(&shred).is_some_and(|(e, _)| {
                e.kind == ledger_kinds::BLOB_SHRED
                    && e.payload.get("digest").and_then(Value::as_str)
                        == Some(digest.to_string().as_str())
            });
            if !by_entry || !files.contains_key(&record_file) {
                return Err(fail(
                    "blob-missing",
                    Some(&record_file),
                    Some(index),
                    format!(
                        "blob {digest}, referenced by entry {index}, is said to be shredded by entry {shred}, but the package holds no such shred entry and record"
                    ),
                ));
            }
            Ok(())
        }
        (None, None) => Err(fail(
            "blob-missing",
            Some(&path),
            Some(index),
            format!(
                "blob {digest}, referenced by entry {index}, is neither in the package nor shredded"
            ),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn check_attestation(
    files: &Files,
    manifest: &Manifest,
    run: &RunRef,
    record: &RunRecord,
    entries: &BTreeMap<u64, (Entry, Hash)>,
    blobs: &BTreeMap<Digest256, &BlobRef>,
    keys: &[Verifier],
) -> Result<bool, Failure> {
    let Some(output) = &record.output else {
        return Ok(false);
    };
    let Some(envelope) = &output.attestation else {
        return Ok(false);
    };
    let digest: Option<Digest256> = envelope.parse().ok();
    let shredded = digest
        .and_then(|d| blobs.get(&d))
        .is_some_and(|b| b.file.is_none());
    if shredded {
        return Ok(false);
    }
    let expected_file = format!("attestations/{}.dsse.json", output.commit);
    let Some(reference) = manifest
        .attestations
        .iter()
        .find(|a| a.run_id == run.run_id)
        .filter(|a| run.attestation.as_deref() == Some(a.file.as_str()) && a.file == expected_file)
    else {
        return Err(fail(
            "attestation-missing",
            Some(&expected_file),
            Some(run.record),
            format!(
                "run {} was published as {} with attestation {envelope}, but the package has no {expected_file}",
                run.run_id, output.commit
            ),
        ));
    };
    let file = reference.file.as_str();
    let bad = |message: String| {
        fail(
            "attestation-invalid",
            Some(file),
            Some(reference.entry),
            message,
        )
    };
    let bytes = files.get(file).ok_or_else(|| {
        fail(
            "file-missing",
            Some(file),
            None,
            format!("{file} is missing from the package"),
        )
    })?;
    let actual = Digest256::of(bytes);
    if actual.to_string() != *envelope {
        return Err(bad(format!(
            "{file} hashes to {actual}, but run {}'s record names attestation {envelope}",
            run.run_id
        )));
    }
    let recorded = entries.get(&reference.entry).is_some_and(|(e, _)| {
        e.kind == kinds::ATTESTATION
            && run.stages.contains(&reference.entry)
            && e.payload.get("envelope").and_then(Value::as_str) == Some(envelope.as_str())
            && e.payload.get("commit").and_then(Value::as_str) == Some(output.commit.as_str())
    });
    if !recorded {
        return Err(bad(format!(
            "{file}: entry {} is not run {}'s attestation entry for commit {}",
            reference.entry, run.run_id, output.commit
        )));
    }
    let verified = crate::attest::open(bytes, keys)
        .map_err(|e| bad(format!("{file} does not verify: {e}")))?;
    if verified.commit() != Some(output.commit.as_str()) || verified.run_id() != run.run_id {
        return Err(bad(format!(
            "{file} attests commit {} of run {}, but run {} published commit {}",
            verified.commit().unwrap_or("(none)"),
            verified.run_id(),
            run.run_id,
            output.commit
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_that_unpack_elsewhere_are_refused() {
        for safe in [
            "report.html",
            "blobs/sha256/ab12",
            "entries/0.json",
            "a..b/.c",
        ] {
            assert_eq!(check_member_name(safe), Ok(()), "{safe}");
        }
        for unsafe_name in [
            "",
            "/etc/x",
            "../evil",
            "a/../../evil",
            "./a",
            "a//b",
            "a/",
            "..\\evil",
            "C:/x",
            "C:x",
            "report.html:stream",
            "a\u{1b}[2Jb",
        ] {
            let failure = check_member_name(unsafe_name).unwrap_err();
            assert_eq!(failure.code, "member-unsafe-name", "{unsafe_name:?}");
            assert_eq!(failure.file.as_deref(), Some(unsafe_name));
        }
        assert!(
            check_member_name("a\u{1b}[2Jb")
                .unwrap_err()
                .message
                .starts_with("a\\u{1b}[2Jb is not a safe member name")
        );
    }
}
