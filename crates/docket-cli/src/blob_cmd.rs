//! `docket blob …`: the content-addressed store for large evidence.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use docket_ledger::{BlobState, Digest256};

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::log_cmd::write_file;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Store a file and print its digest (reference it with `log append --attach`).
    Put { file: PathBuf },
    /// Print a blob's bytes, after checking them against the digest.
    Get {
        digest: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete a blob's content for retention. A `blob.shred` entry records it, and
    /// `log verify --blobs` then reports the blob as shredded, not as corruption.
    Shred {
        digest: String,
        /// Why (retention policy, erasure request); recorded in the ledger.
        #[arg(long)]
        reason: String,
    },
}

fn parse_digest(text: &str) -> anyhow::Result<Digest256> {
    Ok(text.parse()?)
}

pub async fn run(cmd: BlobCommand, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let ledger = global.open_ledger().await?;
    match cmd {
        BlobCommand::Put { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let digest = ledger.blobs().put(&bytes)?;
            if out.json() {
                out.json_value(&serde_json::json!({"digest": digest, "size": bytes.len()}))?;
            } else {
                out.line(digest.to_string());
            }
        }
        BlobCommand::Get { digest, out: path } => {
            let digest = parse_digest(&digest)?;
            let bytes = ledger.blobs().get(&digest)?;
            match path {
                Some(p) => write_file(&p, &bytes)?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    if let Err(e) = stdout.write_all(&bytes).and_then(|_| stdout.flush())
                        && e.kind() != std::io::ErrorKind::BrokenPipe
                    {
                        return Err(e).context("cannot write to standard output");
                    }
                }
            }
        }
        BlobCommand::Shred { digest, reason } => {
            let digest = parse_digest(&digest)?;
            if reason.trim().is_empty() {
                bail!("--reason must say why the blob is shredded; it becomes evidence");
            }
            if ledger.blobs().state(&digest)? == BlobState::Missing {
                bail!(
                    "blob {digest} is not in {}; nothing to shred",
                    ledger.blobs().root().display()
                );
            }
            let appended = ledger.shred_blob(digest, &reason).await?;
            if out.json() {
                out.json_value(&serde_json::json!({"digest": digest, "entry": appended.index}))?;
            } else {
                out.line(format!(
                    "shredded {digest}; recorded as entry {}",
                    appended.index
                ));
            }
        }
    }
    ledger.close().await;
    Ok(Outcome::Success)
}
