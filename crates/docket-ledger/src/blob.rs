//! The content-addressed blob store: large payloads (diffs, logs, model exchanges)
//! named by their SHA-256 digest, written atomically, referenced from ledger entries.
//!
//! Invariant: a blob file's bytes hash to its name, or the file is corrupt. Content is
//! never modified in place; it can only be shredded (deleted) for retention, and the
//! ledger records that it was.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::hash::{Digest256, Hash};

#[derive(Debug, Clone, thiserror::Error)]
pub enum BlobError {
    #[error("cannot {action} blob store at {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: Arc<io::Error>,
    },
    #[error("blob {digest} is corrupt: its file {path} hashes to sha256:{actual}")]
    Corrupt {
        digest: Digest256,
        path: PathBuf,
        actual: Hash,
    },
    #[error("blob {digest} is not in the blob store ({path})")]
    Missing { digest: Digest256, path: PathBuf },
}

/// What a blob's file says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobState {
    Present { size: u64 },
    Missing,
    Corrupt { actual: Hash },
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob lives. Digests are hex, so the path cannot leave the store.
    pub fn path_of(&self, digest: &Digest256) -> PathBuf {
        let hex = digest.hex();
        self.root.join("sha256").join(&hex[..2]).join(&hex[2..])
    }

    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BlobError + 'a {
        move |e| BlobError::Io {
            action,
            path: path.to_owned(),
            source: Arc::new(e),
        }
    }

    /// Stores `bytes` and returns their digest. Storing the same bytes twice is a no-op,
    /// unless the existing file is corrupt, in which case it is replaced.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest256, BlobError> {
        let digest = Digest256::of(bytes);
        let path = self.path_of(&digest);
        if let Ok(BlobState::Present { .. }) = self.state(&digest) {
            return Ok(digest);
        }
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        fsutil::ensure_dir(&dir, 0o700).map_err(Self::io("create", &dir))?;
        fsutil::write_atomic(&path, bytes, 0o600).map_err(Self::io("write", &path))?;
        tracing::debug!(%digest, size = bytes.len(), "stored blob");
        Ok(digest)
    }

    /// Reads a blob and checks that its bytes still match its digest.
    pub fn get(&self, digest: &Digest256) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::Missing {
                    digest: *digest,
                    path,
                });
            }
            Err(e) => return Err(Self::io("read", &path)(e)),
        };
        let actual = Hash::digest(&bytes);
        if actual != digest.0 {
            return Err(BlobError::Corrupt {
                digest: *digest,
                path,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Hashes the blob's file without loading it whole.
    pub fn state(&self, digest: &Digest256) -> Result<BlobState, BlobError> {
        let path = self.path_of(digest);
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BlobState::Missing),
            Err(e) => return Err(Self::io("open", &path)(e)),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(Self::io("read", &path))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        let actual = Hash(hasher.finalize().into());
        Ok(if actual == digest.0 {
            BlobState::Present { size }
        } else {
            BlobState::Corrupt { actual }
        })
    }

    /// Deletes a blob's content. Callers record the shred in the ledger first.
    pub(crate) fn remove(&self, digest: &Digest256) -> Result<bool, BlobError> {
        let path = self.path_of(digest);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    fsutil::sync_dir(dir).map_err(Self::io("sync", dir))?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::io("delete", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let d = store.put(b"hello").unwrap();
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.get(&d).unwrap(), b"hello");
        assert_eq!(store.put(b"hello").unwrap(), d);
        fs::write(store.path_of(&d), b"hellO").unwrap();
        assert!(matches!(store.get(&d), Err(BlobError::Corrupt { .. })));
        assert!(matches!(
            store.state(&d).unwrap(),
            BlobState::Corrupt { .. }
        ));
        // Storing the right bytes again repairs it.
        store.put(b"hello").unwrap();
        assert_eq!(store.state(&d).unwrap(), BlobState::Present { size: 5 });
        assert!(store.remove(&d).unwrap());
        assert_eq!(store.state(&d).unwrap(), BlobState::Missing);
    }
}
