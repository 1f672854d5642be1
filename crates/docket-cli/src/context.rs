//! Resolves global flags and environment into a validated ledger configuration.

use std::path::PathBuf;

use anyhow::{Context, bail};
use docket_ledger::{Database, Ledger, LedgerConfig};

#[derive(Debug, Clone)]
pub struct GlobalArgs {
    pub home: Option<PathBuf>,
    pub database_url: Option<String>,
    pub access: LedgerAccess,
}

/// What the command does with the ledger, decided from the command line before it
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerAccess {
    /// May append: creates DOCKET_HOME, the database and the key on first use.
    ReadWrite,
    /// Only reads: the ledger must exist, and nothing is created — a mistyped
    /// `--home` is an error naming it, not a new empty ledger that verifies.
    ReadOnly,
}

pub const DATABASE_URL_ENV: &str = "DOCKET_DATABASE_URL";

impl GlobalArgs {
    /// DOCKET_HOME: `--home`, then the variable (handled by clap), then the platform
    /// data directory.
    pub fn home(&self) -> anyhow::Result<PathBuf> {
        if let Some(home) = &self.home {
            // Absolute, because agents run in worktrees elsewhere and are handed paths
            // inside DOCKET_HOME (`--home demo/home` must not mean a different place there).
            return std::path::absolute(home)
                .with_context(|| format!("cannot resolve DOCKET_HOME {}", home.display()));
        }
        let dirs = directories::ProjectDirs::from("dev", "docket", "docket").context(
            "cannot find a home directory for docket's state; pass --home DIR or set DOCKET_HOME",
        )?;
        Ok(dirs.data_dir().to_owned())
    }

    pub fn ledger_config(&self) -> anyhow::Result<LedgerConfig> {
        let home = self.home()?;
        if let Some(url) = &self.database_url
            && docket_ledger::redact_url(url) != *url
        {
            bail!(
                "--database-url contains a password, which other users of this machine can read from the process list\nhint: put the URL in the {DATABASE_URL_ENV} environment variable, or use PGPASSWORD / ~/.pgpass"
            );
        }
        let url = self.database_url.clone().or_else(|| {
            std::env::var(DATABASE_URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
        });
        Ok(match url {
            Some(url) => LedgerConfig {
                home,
                database: Database::from_url(&url),
            },
            None => LedgerConfig::sqlite_in(home),
        })
    }

    pub async fn open_ledger(&self) -> anyhow::Result<Ledger> {
        let config = self.ledger_config()?;
        Ok(match self.access {
            LedgerAccess::ReadWrite => Ledger::open(&config).await?,
            LedgerAccess::ReadOnly => Ledger::open_existing(&config).await?,
        })
    }
}
