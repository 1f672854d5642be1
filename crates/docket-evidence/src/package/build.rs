//! Building a package: gathering the selected runs' entries, proofs, blobs,
//! attestations and keys from the ledger into files, with the report and README.

use std::collections::{BTreeMap, BTreeSet};

use docket_core::record::kinds;
use docket_ledger::checkpoint::SignedCheckpoint;
use docket_ledger::entry::{Entry, kinds as ledger_kinds};
use docket_ledger::proof::{ConsistencyProof, InclusionProof};
use docket_ledger::{
    BlobError, Digest256, EntryFilter, Hash, Ledger, LedgerError, StoredEntry, Verifier,
};
use serde::Serialize;
use serde_json::Value;

use super::controls::{controls, evidence_refs};
use super::error::PackageError;
use super::fetch::{Fetched, fetch_entries};
use super::manifest::seal;
use super::select::{ExportOptions, Selected, related_entries, select_runs};
use crate::contents::{
    AttestationRef, BlobRef, CHECKPOINT, CONTROLS, CheckpointRef, ConsistencyRef, EntryRef, FORMAT,
    Files, KEY_CHAIN, KEY_CHAIN_FORMAT, KeyChain, Manifest, README, REPORT, Rotation, RunRef,
    ShredRecord, blob_file, entry_file, proof_file, shred_file, to_json,
};
use crate::report;

use docket_ledger::entry::now_rfc3339 as now;

/// A built package: its files, and what is in it.
#[derive(Debug, Clone)]
pub struct Package {
    pub files: Files,
    pub summary: Summary,
}

/// Counts of what a package holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub origin: String,
    pub runs: usize,
    pub entries: usize,
    pub blobs: usize,
    pub shredded: usize,
    pub attestations: usize,
    pub consistency: usize,
    pub checkpoint_size: u64,
    pub checkpoint_root: Hash,
    pub key: String,
}

/// Builds a package of the runs `options` selects from `ledger`.
pub async fn build(ledger: &Ledger, options: &ExportOptions) -> Result<Package, PackageError> {
    let location = ledger.location().to_owned();
    let damaged = |detail: String| PackageError::Damaged {
        location: location.clone(),
        detail,
    };
    // The size first: everything exported is below it, whatever is appended meanwhile.
    let size = ledger.size().await?;
    // The last group commit stored the checkpoint of this size (`checkpoint_at` reads
    // and parses every stored checkpoint to find it, so try the latest first).
    let checkpoint = match ledger.latest_checkpoint().await? {
        Some(cp) if cp.checkpoint.size == size => cp,
        _ => ledger.checkpoint_at(size).await?,
    };
    let current = ledger.signing_key().await?;
    let signer = ledger
        .keys()
        .find(&current)
        .map_err(|e| PackageError::Sign(e.to_string()))?;
    SignedCheckpoint::open(&checkpoint.note, std::slice::from_ref(&current)).map_err(|e| {
        damaged(format!(
            "the checkpoint of size {size} does not verify with the current key: {e}"
        ))
    })?;

    let selected = select_runs(ledger, size, options).await?;
    let run_ids: BTreeSet<&str> = selected.iter().map(|s| s.record.run_id.as_str()).collect();
    let related = related_entries(ledger, size, &run_ids).await?;
    let rotations: Vec<StoredEntry> = ledger
        .list(&EntryFilter {
            kind: Some(ledger_kinds::KEY_ROTATE.into()),
            ..EntryFilter::default()
        })
        .await?
        .into_iter()
        .filter(|e| e.index < size)
        .collect();
    let shreds: BTreeMap<Digest256, (u64, Option<String>)> = ledger
        .list(&EntryFilter {
            kind: Some(ledger_kinds::BLOB_SHRED.into()),
            ..EntryFilter::default()
        })
        .await?
        .into_iter()
        .filter(|e| e.index < size)
        .filter_map(|stored| {
            let entry = stored.decode().ok()?;
            let digest = entry.payload.get("digest")?.as_str()?.parse().ok()?;
            let reason = entry
                .payload
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((digest, (stored.index, reason)))
        })
        .collect();

    // Which entries: the genesis, the rotations, and every entry of every run.
    let mut wanted: BTreeSet<u64> = BTreeSet::from([0]);
    wanted.extend(rotations.iter().map(|e| e.index));
    for s in &selected {
        wanted.insert(s.stored.index);
        wanted.extend(s.record.ledger.stages.iter().copied());
        wanted.extend(
            related
                .get(s.record.run_id.as_str())
                .into_iter()
                .flatten()
                .copied(),
        );
    }
    // Blobs the entries reference; a shredded one brings its shred entry.
    let mut fetched = fetch_entries(ledger, size, &wanted).await?;
    let mut blobs: BTreeMap<Digest256, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    let mut shred_entries: BTreeSet<u64> = BTreeSet::new();
    for (index, entry) in &fetched.decoded {
        if entry.kind == ledger_kinds::BLOB_SHRED {
            continue;
        }
        for digest in &entry.blobs {
            if blobs.contains_key(digest) {
                continue;
            }
            let content = match ledger.blobs().get(digest) {
                Ok(bytes) => Some(bytes),
                Err(BlobError::Missing { .. }) if shreds.contains_key(digest) => {
                    if let Some((shred, _)) = shreds.get(digest) {
                        shred_entries.insert(*shred);
                    }
                    None
                }
                Err(source) => {
                    return Err(PackageError::Blob {
                        digest: *digest,
                        entry: *index,
                        source: Box::new(source),
                    });
                }
            };
            blobs.insert(*digest, (*index, content));
        }
    }
    for index in shred_entries {
        if !fetched.decoded.contains_key(&index) {
            fetched.add(ledger.entry(index).await?)?;
        }
    }

    let mut files = Files::new();
    let mut entry_refs = Vec::with_capacity(fetched.stored.len());
    for (index, stored) in &fetched.stored {
        let Some(entry) = fetched.decoded.get(index) else {
            continue;
        };
        let proof = fetched.proof(ledger, *index, size).await?;
        let document = InclusionProof::new(*index, &stored.bytes, proof, &checkpoint);
        let leaf = stored.leaf_hash();
        let (file, proof_path) = (entry_file(*index), proof_file(*index));
        files.insert(file.clone(), stored.bytes.clone());
        files.insert(proof_path.clone(), to_json(&document));
        entry_refs.push(EntryRef {
            index: *index,
            kind: entry.kind.clone(),
            leaf_hash: leaf,
            file,
            proof: proof_path,
        });
    }
    if let Some(root) = fetched.root()
        && root != checkpoint.checkpoint.root
    {
        return Err(damaged(format!(
            "its entries hash to root {root}, but the checkpoint of size {size} says {}",
            checkpoint.checkpoint.root
        )));
    }

    let mut blob_refs = Vec::with_capacity(blobs.len());
    let mut shredded = 0;
    for (digest, (_, content)) in &blobs {
        match content {
            Some(bytes) => {
                let file = blob_file(digest);
                files.insert(file.clone(), bytes.clone());
                blob_refs.push(BlobRef {
                    digest: *digest,
                    file: Some(file),
                    shredded_by: None,
                });
            }
            None => {
                let (entry, reason) = shreds.get(digest).cloned().unwrap_or((0, None));
                shredded += 1;
                files.insert(
                    shred_file(digest),
                    to_json(&ShredRecord {
                        digest: *digest,
                        entry,
                        reason,
                    }),
                );
                blob_refs.push(BlobRef {
                    digest: *digest,
                    file: None,
                    shredded_by: Some(entry),
                });
            }
        }
    }

    // Attestations, by commit.
    let mut attestations = Vec::new();
    let mut run_refs = Vec::with_capacity(selected.len());
    for s in &selected {
        let record = &s.record;
        let mut attestation_file = None;
        if let Some(output) = &record.output
            && let Some(envelope) = &output.attestation
            && let Ok(digest) = envelope.parse::<Digest256>()
            && let Some((_, Some(bytes))) = blobs.get(&digest)
        {
            let entry = record
                .ledger
                .stages
                .iter()
                .copied()
                .find(|i| {
                    fetched.decoded.get(i).is_some_and(|e| {
                        e.kind == kinds::ATTESTATION
                            && e.payload.get("envelope").and_then(Value::as_str)
                                == Some(envelope.as_str())
                    })
                })
                .ok_or_else(|| {
                    damaged(format!(
                        "run {} names attestation {envelope}, but none of its stage entries records it",
                        record.run_id
                    ))
                })?;
            let file = format!("attestations/{}.dsse.json", output.commit);
            files.insert(file.clone(), bytes.clone());
            attestations.push(AttestationRef {
                run_id: record.run_id.clone(),
                commit: output.commit.clone(),
                file: file.clone(),
                entry,
            });
            attestation_file = Some(file);
        }
        let mut related_indexes: Vec<u64> = related
            .get(record.run_id.as_str())
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        related_indexes.sort_unstable();
        run_refs.push(RunRef {
            run_id: record.run_id.clone(),
            ticket: record.ticket.id.clone(),
            status: record.outcome.status.as_str().to_owned(),
            started_at: record.started_at.clone(),
            record: s.stored.index,
            stages: record.ledger.stages.clone(),
            related: related_indexes,
            attestation: attestation_file,
        });
    }

    // Consistency proofs from the auditor's checkpoints.
    let chain_keys = ledger.key_chain().await?;
    let mut consistency = Vec::new();
    for anchor in &options.against {
        let refuse = |reason: String| PackageError::Against {
            label: anchor.label.clone(),
            reason,
        };
        let old = SignedCheckpoint::open(&anchor.note, &chain_keys)
            .map_err(|e| refuse(format!("it is not signed by this ledger's keys: {e}")))?;
        let c = &old.checkpoint;
        if c.origin != ledger.origin() {
            return Err(refuse(format!(
                "it belongs to log {}, not {}",
                c.origin,
                ledger.origin()
            )));
        }
        if c.size == 0 || c.size > size {
            return Err(refuse(format!(
                "it is for tree size {}, but the ledger has {size} entries (entries were removed, or it is from another copy)",
                c.size
            )));
        }
        if ledger.root_at(c.size).await? != c.root {
            return Err(refuse(format!(
                "it is not a prefix of this ledger: the first {} entries differ from it (history was rewritten after it was saved)",
                c.size
            )));
        }
        let proof = ledger.consistency_proof(c.size, size).await?;
        let document = ConsistencyProof::new(proof, &old, &checkpoint);
        document
            .check(&chain_keys)
            .map_err(|e| refuse(e.to_string()))?;
        let file = format!("consistency/{}.json", c.size);
        files.insert(file.clone(), to_json(&document));
        consistency.push(ConsistencyRef {
            label: anchor.label.clone(),
            old_size: c.size,
            file,
        });
    }

    let chain = key_chain(ledger.origin(), &fetched, &rotations, &current)?;
    files.insert(KEY_CHAIN.into(), to_json(&chain));
    files.insert(CHECKPOINT.into(), checkpoint.note.clone().into_bytes());
    let mapping = controls()?;
    files.insert(CONTROLS.into(), to_json(&mapping));

    let evidence = evidence_refs(&mapping, &entry_refs, !consistency.is_empty());
    let created_at = now();
    let summary = Summary {
        origin: ledger.origin().to_owned(),
        runs: run_refs.len(),
        entries: entry_refs.len(),
        blobs: blob_refs.len() - shredded,
        shredded,
        attestations: attestations.len(),
        consistency: consistency.len(),
        checkpoint_size: size,
        checkpoint_root: checkpoint.checkpoint.root,
        key: current.to_string(),
    };

    let report_runs: Vec<report::RunEvidence<'_>> = selected
        .iter()
        .zip(&run_refs)
        .map(|(s, r)| run_evidence(s, r, &fetched, &blobs))
        .collect();
    let html = report::render(&report::ReportInput {
        origin: ledger.origin(),
        created_at: &created_at,
        checkpoint_size: size,
        checkpoint_root: checkpoint.checkpoint.root.to_string(),
        key: current.to_string(),
        selection: &options.selection,
        runs: report_runs,
        mapping: &mapping,
        evidence: &evidence,
        consistency: &consistency,
    })
    .map_err(|e| PackageError::Report(e.to_string()))?;
    files.insert(REPORT.into(), html.into_bytes());
    files.insert(README.into(), readme(&summary).into_bytes());

    let manifest = Manifest {
        format: FORMAT.into(),
        created_at,
        docket_version: env!("CARGO_PKG_VERSION").into(),
        origin: ledger.origin().to_owned(),
        checkpoint: CheckpointRef {
            file: CHECKPOINT.into(),
            size,
            root: checkpoint.checkpoint.root,
        },
        selection: options.selection.clone(),
        runs: run_refs,
        entries: entry_refs,
        blobs: blob_refs,
        attestations,
        consistency,
        key_chain: KEY_CHAIN.into(),
        evidence,
        controls: mapping.controls,
        files: Vec::new(),
    };
    seal(&mut files, manifest, &signer)?;
    Ok(Package { files, summary })
}

fn key_chain(
    origin: &str,
    fetched: &Fetched,
    rotations: &[StoredEntry],
    current: &Verifier,
) -> Result<KeyChain, PackageError> {
    let field = |entry: &Entry, name: &str| {
        entry
            .payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let genesis = fetched
        .decoded
        .get(&0)
        .map(|e| field(e, "key"))
        .unwrap_or_default();
    let mut out = Vec::new();
    for stored in rotations {
        let entry = stored.decode().map_err(LedgerError::from)?;
        out.push(Rotation {
            entry: stored.index,
            old_key: field(&entry, "old_key"),
            new_key: field(&entry, "new_key"),
            statement: field(&entry, "statement"),
        });
    }
    Ok(KeyChain {
        format: KEY_CHAIN_FORMAT.into(),
        origin: origin.to_owned(),
        genesis,
        rotations: out,
        current: current.to_string(),
    })
}

fn run_evidence<'a>(
    selected: &'a Selected,
    run: &'a RunRef,
    fetched: &'a Fetched,
    blobs: &'a BTreeMap<Digest256, (u64, Option<Vec<u8>>)>,
) -> report::RunEvidence<'a> {
    let record = &selected.record;
    let stages: Vec<(u64, &str)> = record
        .ledger
        .stages
        .iter()
        .filter_map(|i| fetched.decoded.get(i).map(|e| (*i, e.kind.as_str())))
        .collect();
    let decisions: BTreeMap<String, u64> = record
        .ledger
        .stages
        .iter()
        .filter_map(|i| {
            let entry = fetched.decoded.get(i)?;
            (entry.kind == kinds::POLICY).then_some(())?;
            let digest = entry
                .payload
                .get("decision")?
                .get("input_digest")?
                .as_str()?;
            Some((digest.to_owned(), *i))
        })
        .collect();
    let grants: Vec<(u64, &'a Entry)> = run
        .related
        .iter()
        .filter_map(|i| fetched.decoded.get(i).map(|e| (*i, e)))
        .filter(|(_, e)| e.kind == kinds::APPROVAL || e.kind == kinds::EXCEPTION)
        .collect();
    let patch = record.diff.as_ref().map(|diff| {
        match diff
            .patch_blob
            .parse::<Digest256>()
            .ok()
            .and_then(|d| blobs.get(&d).map(|b| (d, b)))
        {
            Some((digest, (_, Some(bytes)))) => report::Patch::Text {
                file: blob_file(&digest),
                bytes,
            },
            Some((digest, (_, None))) => report::Patch::Shredded {
                file: shred_file(&digest),
            },
            None => report::Patch::Absent,
        }
    });
    report::RunEvidence {
        record,
        record_index: selected.stored.index,
        stages,
        decisions,
        grants,
        patch,
        attestation: run.attestation.as_deref(),
    }
}

fn readme(summary: &Summary) -> String {
    format!(
        "docket audit package ({FORMAT})
====================

This archive holds the evidence of {runs} governed run(s) from the docket ledger
{origin}: {entries} ledger entries with their inclusion proofs against the signed
checkpoint of tree size {size}, {blobs} blobs ({shredded} shredded under retention),
{attestations} attestation(s), the key chain, and report.html, a readable report.

Verify it offline, with only this file and the ledger's public key:

    docket verify-package PACKAGE.zip --key '{key}'

(get the key from its owner, not from this package: `docket key show` on the
machine that keeps the ledger). Without --key, verify-package trusts the key in the
package, which proves the package is intact but not who made it.

Layout:
  manifest.json        every file with its SHA-256 and size; the runs, entries,
                       blobs and attestations; the control mapping
  manifest.sig         manifest.json's SHA-256 signed with the ledger's key
                       (C2SP signed note)
  checkpoint.note      the signed checkpoint every proof is checked against
  entries/N.json       ledger entry N, its exact bytes (RFC 8785 canonical JSON)
  proofs/N.json        the inclusion proof of entry N (docket.inclusion-proof/v1;
                       `docket log check-proof proofs/N.json --key KEY` checks one)
  consistency/N.json   proof that the ledger only grew since a checkpoint of size N
  blobs/sha256/HEX     blob content (secrets were redacted when it was stored)
  shredded/HEX.json    a referenced blob whose content was shredded, and by which entry
  attestations/C.dsse.json  the signed attestation of published commit C
                       (`docket attest verify C` checks it against the repository)
  keys/chain.json      the ledger's keys, oldest first, each rotation signed by both keys
  controls.json        which evidence supports which change-management control
  report.html          one section per run; opens in any browser, no scripts
",
        runs = summary.runs,
        origin = summary.origin,
        entries = summary.entries,
        size = summary.checkpoint_size,
        blobs = summary.blobs,
        shredded = summary.shredded,
        attestations = summary.attestations,
        key = summary.key,
    )
}
