//! The governed repository and its tickets: `docket.toml` read from the base ref
//! (never from the working tree), and the ticket a run is asked for, by path or by id
//! from the configured tickets folder.

use std::path::{Path, PathBuf};

use docket_core::config::{Config, parse_config};
use docket_core::ticket::{Ticket, is_valid_ticket_id, parse_ticket};
use docket_git::Repo;

use crate::error::{EngineError, io_err};

pub const CONFIG_FILE: &str = "docket.toml";

/// The governed repository: its git handle and the configuration committed on the
/// base ref.
pub struct Governed {
    pub repo: Repo,
    pub config: Config,
    pub base_commit: String,
}

/// Reads `docket.toml` from the base ref, never from the working tree: only
/// committed configuration governs runs. The base ref is `base` when given, else the
/// one named by the `docket.toml` committed at HEAD; the configuration on the base ref
/// must name that same ref.
pub async fn load_governed(path: &Path, base: Option<&str>) -> Result<Governed, EngineError> {
    let repo = Repo::open(path).await?;
    let (config, base_commit) = load_config(&repo, base).await?;
    Ok(Governed {
        repo,
        config,
        base_commit,
    })
}

/// The governed repository at a recorded base commit (a held run is completed
/// under the configuration it was judged by).
pub async fn load_governed_at(path: &Path, commit: &str) -> Result<Governed, EngineError> {
    let repo = Repo::open(path).await?;
    let bytes = repo.show_file(commit, CONFIG_FILE).await?.ok_or_else(|| {
        EngineError::Config(format!(
            "{CONFIG_FILE} is not in commit {commit} of {}",
            repo.root().display()
        ))
    })?;
    let config = parse_committed(&format!("{CONFIG_FILE}@{commit}"), &bytes)?;
    Ok(Governed {
        repo,
        config,
        base_commit: commit.to_owned(),
    })
}

fn parse_committed(label: &str, bytes: &[u8]) -> Result<Config, EngineError> {
    let text = String::from_utf8_lossy(bytes);
    parse_config(label, &text).map_err(|e| EngineError::Config(e.to_string()))
}

async fn load_config(repo: &Repo, base: Option<&str>) -> Result<(Config, String), EngineError> {
    let not_committed = || {
        let hint = if repo.root().join(CONFIG_FILE).exists() {
            format!(
                "{CONFIG_FILE} in {} is not committed; commit it first (runs are governed only by committed, reviewed configuration)",
                repo.root().display()
            )
        } else {
            format!(
                "no {CONFIG_FILE} in {}; run `docket init` there and commit it",
                repo.root().display()
            )
        };
        EngineError::Config(hint)
    };
    let mut head_config = None;
    let base_ref = match base {
        Some(base) => base.to_owned(),
        None => {
            let head = repo.resolve("HEAD").await.map_err(|_| not_committed())?;
            let bytes = repo
                .show_file(&head, CONFIG_FILE)
                .await?
                .ok_or_else(not_committed)?;
            let base_ref = parse_committed(&format!("{CONFIG_FILE}@HEAD"), &bytes)?
                .repository
                .base_ref;
            head_config = Some((head, bytes));
            base_ref
        }
    };
    let base_commit = repo.resolve(&base_ref).await?;
    let committed = match head_config {
        // Usually HEAD is the base: its file is already read.
        Some((head, bytes)) if head == base_commit => Some(bytes),
        _ => repo.show_file(&base_commit, CONFIG_FILE).await?,
    };
    let bytes = committed.ok_or_else(|| {
        EngineError::Config(format!(
            "{CONFIG_FILE} is not committed on `{base_ref}`; commit it there first (runs are governed only by committed, reviewed configuration)"
        ))
    })?;
    let config = parse_committed(&format!("{CONFIG_FILE}@{base_ref}"), &bytes)?;
    if config.repository.base_ref != base_ref {
        return Err(EngineError::Config(format!(
            "{CONFIG_FILE} on `{base_ref}` names base ref `{}`; run from a checkout whose committed configuration names `{base_ref}`, or pass --base {}",
            config.repository.base_ref, config.repository.base_ref
        )));
    }
    Ok((config, base_commit))
}

/// A ticket file and what parsing it gave: the ticket, or why it is unusable.
pub type ListedTicket = (PathBuf, Result<Ticket, String>);

/// A ticket that cannot be read or parsed is listed with the reason, not dropped.
pub fn list_tickets(repo_root: &Path, config: &Config) -> Result<Vec<ListedTicket>, EngineError> {
    let dir = repo_root.join(&config.intake.tickets);
    let mut files = Vec::new();
    collect_markdown(&dir, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| parse_ticket(&path, &text).map_err(|e| e.to_string()));
            (path, parsed)
        })
        .collect())
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EngineError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            collect_markdown(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn resolve_ticket(
    repo_root: &Path,
    config: &Config,
    arg: &str,
) -> Result<(PathBuf, Ticket), EngineError> {
    let path = PathBuf::from(arg);
    if path.is_file() {
        // Absolute, so that `REMEDIATION.md` given from its own folder still has a
        // parent folder to take its id from.
        let path = std::fs::canonicalize(&path).map_err(io_err(&path))?;
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let ticket = parse_ticket(&path, &text)?;
        return Ok((path, ticket));
    }
    let dir = repo_root.join(&config.intake.tickets);
    if is_valid_ticket_id(arg) {
        for (path, parsed) in list_tickets(repo_root, config)? {
            if let Ok(ticket) = parsed
                && ticket.id == arg
            {
                return Ok((path, ticket));
            }
        }
    }
    Err(EngineError::TicketNotFound {
        id: arg.to_owned(),
        dir,
    })
}
