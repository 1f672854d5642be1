//! Opening a ledger: [`Ledger::open`] creates what is missing (DOCKET_HOME, the
//! database, the schema, the first key) and starts the writer task;
//! [`Ledger::open_existing`] creates nothing, for commands that only read.

use std::sync::Arc;

use crate::blob::BlobStore;
use crate::error::{LedgerError, Result};
use crate::keys::KeyDir;
use crate::note::Verifier;
use crate::store::{Db, ReadAccess, StoreError};

use super::Ledger;
use super::config::{Database, LedgerConfig};
use super::writer::{META_SIGNING_KEY, Writer};

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LedgerError::WriterGone {
        detail: format!("random source failed: {e}"),
    })?;
    Ok(hex::encode(buf))
}

/// Creates DOCKET_HOME (or the SQLite file's folder), saying plainly when it is a file
/// or when permission is lacking.
fn ensure_home(path: &std::path::Path) -> Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        });
    }
    crate::fsutil::ensure_dir(path, 0o700).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => LedgerError::HomePermission {
            path: path.to_owned(),
        },
        std::io::ErrorKind::NotADirectory => LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        },
        _ => LedgerError::Home {
            path: path.to_owned(),
            source: Arc::new(e),
        },
    })
}

/// A directory that must already exist, for commands that only read.
fn existing_dir(path: &std::path::Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(LedgerError::HomeNotDirectory {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LedgerError::NoHome {
            path: path.to_owned(),
        }),
        Err(e) => Err(LedgerError::Home {
            path: path.to_owned(),
            source: Arc::new(e),
        }),
    }
}

/// Whether this process may create a file in `dir` (tried, not guessed from mode
/// bits, so that it holds for root and for ACLs alike).
fn may_create_in(dir: &std::path::Path) -> bool {
    let probe = dir.join(format!(".docket-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
    }
}

/// True when the mode bits forbid writing `path` (whoever runs docket, root included:
/// an auditor's read-only copy is opened immutable even by root, so nothing is
/// created next to it).
fn read_only_on_disk(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o222 == 0)
}

/// A store error while opening the ledger at `location`, as the ledger's error.
fn open_error(location: &str, e: StoreError) -> LedgerError {
    match e {
        StoreError::Sql(source) => LedgerError::Open {
            location: location.to_owned(),
            source: Arc::new(source),
        },
        other => LedgerError::Storage {
            location: location.to_owned(),
            source: Arc::new(other),
        },
    }
}

impl Ledger {
    pub async fn open(config: &LedgerConfig) -> Result<Ledger> {
        ensure_home(&config.home)?;
        let location = config.database.location();
        let open_err = |e: StoreError| open_error(&location, e);
        let db = match &config.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    ensure_home(parent)?;
                }
                match Db::open_sqlite(path).await {
                    Ok(db) => db,
                    Err(e) => {
                        // SQLite only says "unable to open database file"; say why
                        // when it is the folder's permissions.
                        let folder = path
                            .parent()
                            .filter(|p| !p.as_os_str().is_empty())
                            .unwrap_or(std::path::Path::new("."));
                        if !path.exists() && !may_create_in(folder) {
                            return Err(LedgerError::HomePermission {
                                path: path.to_owned(),
                            });
                        }
                        return Err(open_err(e));
                    }
                }
            }
            Database::Postgres(url) => Db::open_postgres(url).await.map_err(open_err)?,
        };
        let new_origin = format!("docket.ledger/{}", random_hex(8)?);
        let origin = db.init(&new_origin).await.map_err(open_err)?;
        let keys = KeyDir::new(config.home.join("keys"));
        let mut conn = db.conn().await.map_err(open_err)?;
        let signer = match conn.meta(META_SIGNING_KEY).await.map_err(open_err)? {
            Some(vkey) => {
                keys.find(&Verifier::parse(&vkey).map_err(crate::keys::KeyError::from)?)?
            }
            None => match keys.load_all()?.into_iter().find(|s| s.name() == origin) {
                Some(existing) => existing,
                None => keys.create(&origin)?,
            },
        };
        let writer_conn = db.conn().await.map_err(open_err)?;
        drop(conn);
        let (tx, writer_task) = Writer::spawn(
            writer_conn,
            location.clone(),
            origin.clone(),
            keys.clone(),
            signer,
        );
        Ok(Ledger {
            db,
            location,
            origin,
            keys,
            blobs: BlobStore::new(config.home.join("blobs")),
            writer: Some(tx),
            writer_task: Some(writer_task),
        })
    }

    /// Opens an existing ledger for commands that only read (verify, list, show,
    /// prove, export): creates nothing — no DOCKET_HOME, no database, no schema, no
    /// key — and needs no private key. A mistyped home is an error naming it, never a
    /// new empty ledger that verifies. A SQLite file that is read-only on disk (an
    /// auditor's copy) is opened immutable, so nothing is written next to it.
    /// Appends are refused; signing a tree head works only if the private key is in
    /// `home/keys`.
    pub async fn open_existing(config: &LedgerConfig) -> Result<Ledger> {
        existing_dir(&config.home)?;
        let location = config.database.location();
        let open_err = |e: StoreError| open_error(&location, e);
        let db = match &config.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    existing_dir(parent)?;
                }
                if !path.is_file() {
                    return Err(LedgerError::NoLedger {
                        location: location.clone(),
                    });
                }
                let folder = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let access = if read_only_on_disk(path) || read_only_on_disk(folder) {
                    ReadAccess::Immutable
                } else {
                    ReadAccess::Shared
                };
                Db::open_sqlite_read_only(path, access)
                    .await
                    .map_err(open_err)?
            }
            Database::Postgres(url) => Db::open_postgres(url).await.map_err(open_err)?,
        };
        let Some(origin) = db.existing_origin().await.map_err(open_err)? else {
            db.close().await;
            return Err(LedgerError::NoLedger { location });
        };
        Ok(Ledger {
            db,
            location,
            origin,
            keys: KeyDir::new(config.home.join("keys")),
            blobs: BlobStore::new(config.home.join("blobs")),
            writer: None,
            writer_task: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::json;

    use crate::entry::NewEntry;
    use crate::error::LedgerError;
    use crate::ledger::{Ledger, LedgerConfig};

    #[tokio::test]
    async fn open_existing_creates_nothing_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("mistyped");
        match Ledger::open_existing(&LedgerConfig::sqlite_in(&home)).await {
            Err(LedgerError::NoHome { path }) => assert_eq!(path, home),
            other => panic!("{other:?}"),
        }
        assert!(!home.exists());
        std::fs::create_dir(&home).unwrap();
        match Ledger::open_existing(&LedgerConfig::sqlite_in(&home)).await {
            Err(e @ LedgerError::NoLedger { .. }) => assert!(
                e.to_string()
                    .contains(&home.join("ledger.sqlite3").display().to_string()),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);

        let writer = Ledger::open(&LedgerConfig::sqlite_in(&home)).await.unwrap();
        writer
            .append(NewEntry::new(
                "approval",
                json!({"initiator": "alice", "n": 0}),
            ))
            .await
            .unwrap();
        writer.close().await;
        let reader = Ledger::open_existing(&LedgerConfig::sqlite_in(&home))
            .await
            .unwrap();
        assert_eq!(reader.size().await.unwrap(), 2);
        assert!(matches!(
            reader
                .append(NewEntry::new("approval", json!({"initiator": "bob"})))
                .await,
            Err(LedgerError::ReadOnly { .. })
        ));
        reader.close().await;
    }

    #[tokio::test]
    async fn a_home_that_is_a_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::write(&home, "x").unwrap();
        let err = Ledger::open(&LedgerConfig::sqlite_in(&home))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            format!("DOCKET_HOME {} is a file, not a directory", home.display())
        );
    }
}
