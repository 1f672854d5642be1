//! Opening the attestation notes of a range: signatures checked in memory on every
//! core, each note given an answer (verified, or why not).

use std::collections::HashMap;

use base64::Engine as _;
use docket_ledger::Verifier;
use docket_ledger::dsse::Envelope;

use crate::attest::{self, VerifiedAttestation};

pub(super) type Opened = HashMap<String, Result<VerifiedAttestation, String>>;

/// Whether a commit's own note is a valid attestation naming the commit itself.
pub(super) fn covers_itself(
    own: Option<&Result<VerifiedAttestation, String>>,
    commit: &str,
) -> bool {
    matches!(own, Some(Ok(v)) if v.commit() == Some(commit))
}

/// Opens (verifies and parses) attestations on every core; by annotated commit. Every
/// note given gets an entry: one that could not be checked at all is an error, never
/// missing (a missing entry would read as "no note").
pub(super) async fn open_all(notes: Vec<(String, Vec<u8>)>, trusted: &[Verifier]) -> Opened {
    if notes.is_empty() {
        return Opened::new();
    }
    let unchecked =
        |commits: &[(String, Vec<u8>)]| -> Vec<(String, Result<VerifiedAttestation, String>)> {
            commits
                .iter()
                .map(|(commit, _)| {
                    (
                        commit.clone(),
                        Err("the attestation could not be checked".to_owned()),
                    )
                })
                .collect()
        };
    let ids: Vec<(String, Vec<u8>)> = notes.iter().map(|(c, _)| (c.clone(), Vec::new())).collect();
    let trusted = trusted.to_vec();
    let work = move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = notes.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = notes
                .chunks(chunk)
                .map(|part| {
                    let trusted = &trusted;
                    let handle = scope.spawn(move || {
                        part.iter()
                            .map(|(commit, bytes)| (commit.clone(), attest::open(bytes, trusted)))
                            .collect::<Vec<_>>()
                    });
                    (part, handle)
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|(part, handle)| handle.join().unwrap_or_else(|_| unchecked(part)))
                .collect::<Opened>()
        })
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(opened) => opened,
        Err(_) => unchecked(&ids).into_iter().collect(),
    }
}

/// The run id an attestation claims, read without checking its signature: only used
/// to find which attestations to verify.
pub(super) fn peek_run_id(bytes: &[u8]) -> Option<String> {
    let envelope = Envelope::parse(bytes).ok()?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&envelope.payload))
        .ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    statement["predicate"]["run_id"].as_str().map(str::to_owned)
}
