//! Where a ledger lives: the database it is opened on and its DOCKET_HOME, and the
//! printable form of a database location (with any password hidden).

use std::path::PathBuf;

/// Where the ledger's rows live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// Reads `postgres://…` / `postgresql://…` as PostgreSQL and `sqlite://PATH` or a
    /// plain path as SQLite.
    pub fn from_url(url: &str) -> Database {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(url.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url)))
        }
    }

    /// A printable location; passwords in URLs are replaced by `****`.
    pub fn location(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

/// Hides the password of `scheme://user:password@host/...`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_owned(),
    }
}

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// DOCKET_HOME: keys and blobs live here (and the SQLite file by default).
    pub home: PathBuf,
    pub database: Database,
}

impl LedgerConfig {
    /// The embedded default: a SQLite file in `home`.
    pub fn sqlite_in(home: impl Into<PathBuf>) -> LedgerConfig {
        let home = home.into();
        LedgerConfig {
            database: Database::Sqlite(home.join("ledger.sqlite3")),
            home,
        }
    }
}
