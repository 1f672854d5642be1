//! The manifest and its signature: sealing a package's files under `manifest.json`
//! and `manifest.sig`, and reading a manifest back.

use docket_ledger::{Hash, Signer, note};

use super::error::PackageError;
use crate::contents::{FORMAT, FileRef, Files, MANIFEST, Manifest, SIGNATURE, to_json};

/// The exact text `manifest.sig` signs (a C2SP signed note).
pub(super) fn signature_text(origin: &str, manifest: &[u8]) -> String {
    format!(
        "docket audit package\nformat {FORMAT}\norigin {origin}\nmanifest sha256:{}\n",
        Hash::digest(manifest)
    )
}

/// Lists every file but the manifest and its signature in `manifest.files`, writes
/// `manifest.json` and signs it into `manifest.sig`.
pub fn seal(
    files: &mut Files,
    mut manifest: Manifest,
    signer: &Signer,
) -> Result<(), PackageError> {
    files.remove(MANIFEST);
    files.remove(SIGNATURE);
    manifest.files = files
        .iter()
        .map(|(path, bytes)| FileRef {
            path: path.clone(),
            sha256: Hash::digest(bytes),
            size: bytes.len() as u64,
        })
        .collect();
    let bytes = to_json(&manifest);
    let signature = note::sign_note(&signature_text(&manifest.origin, &bytes), &[signer])
        .map_err(|e| PackageError::Sign(e.to_string()))?;
    files.insert(MANIFEST.into(), bytes);
    files.insert(SIGNATURE.into(), signature.into_bytes());
    Ok(())
}

/// Reads `manifest.json` of a package (unverified), e.g. to change and re-seal it.
pub fn manifest(files: &Files) -> Result<Manifest, PackageError> {
    let bytes = files
        .get(MANIFEST)
        .ok_or_else(|| PackageError::NotAPackage(format!("it has no {MANIFEST}")))?;
    serde_json::from_slice(bytes)
        .map_err(|e| PackageError::NotAPackage(format!("{MANIFEST} is not a manifest: {e}")))
}
