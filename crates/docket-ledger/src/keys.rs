//! Signing keys under `DOCKET_HOME/keys`: one file per key, in the signed-note private
//! key encoding, created with mode 0600 and never printed.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsutil;
use crate::note::{NoteError, Signer, Verifier};

#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: Arc<io::Error>,
    },
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a valid signed-note private key: {source}")]
    Malformed { path: PathBuf, source: NoteError },
    #[error(
        "the ledger is signed by key {vkey}, which is not among the keys in {dir}; point --home at the DOCKET_HOME that created this ledger"
    )]
    NotHeld { vkey: String, dir: PathBuf },
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// The directory of signing keys.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    pub fn new(dir: impl Into<PathBuf>) -> KeyDir {
        KeyDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> KeyError + 'a {
        move |e| KeyError::Io {
            action,
            path: path.to_owned(),
            source: Arc::new(e),
        }
    }

    fn file_for(&self, signer: &Signer) -> PathBuf {
        self.dir.join(format!("{:08x}.key", signer.key_id()))
    }

    /// Every private key in the directory.
    pub fn load_all(&self) -> Result<Vec<Signer>, KeyError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io("read", &self.dir)(e)),
        };
        let mut signers = Vec::new();
        for entry in entries {
            let path = entry.map_err(Self::io("read", &self.dir))?.path();
            if path.extension().is_none_or(|e| e != "key") {
                continue;
            }
            let meta = fs::metadata(&path).map_err(Self::io("stat", &path))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions { path, mode });
            }
            let text = fs::read_to_string(&path).map_err(Self::io("read", &path))?;
            let signer = Signer::parse(text.trim())
                .map_err(|source| KeyError::Malformed { path, source })?;
            signers.push(signer);
        }
        Ok(signers)
    }

    /// The private key whose public half is `vkey`.
    pub fn find(&self, vkey: &Verifier) -> Result<Signer, KeyError> {
        self.load_all()?
            .into_iter()
            .find(|s| s.verifier() == *vkey)
            .ok_or_else(|| KeyError::NotHeld {
                vkey: vkey.to_string(),
                dir: self.dir.clone(),
            })
    }

    /// Creates and stores a new key named `name`.
    pub fn create(&self, name: &str) -> Result<Signer, KeyError> {
        fsutil::ensure_dir(&self.dir, 0o700).map_err(Self::io("create", &self.dir))?;
        let signer = Signer::generate(name)?;
        let path = self.file_for(&signer);
        let mut text = signer.to_private_key_string();
        text.push('\n');
        fsutil::write_new(&path, text.as_bytes(), 0o600).map_err(Self::io("write", &path))?;
        tracing::info!(key = %signer.verifier(), "created signing key");
        Ok(signer)
    }

    /// Deletes a private key (after rotation its public half lives on in the ledger).
    pub fn remove(&self, signer: &Signer) -> Result<(), KeyError> {
        let path = self.file_for(signer);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io("delete", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("keys"));
        let signer = keys.create("docket.test/log").unwrap();
        let file = dir
            .path()
            .join("keys")
            .join(format!("{:08x}.key", signer.key_id()));
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(dir.path().join("keys"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let found = keys.find(&signer.verifier()).unwrap();
        assert_eq!(found.verifier(), signer.verifier());
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(keys.load_all(), Err(KeyError::Permissions { .. })));
    }
}
