//! `docket key …`: show the public signing key and its chain, rotate it.

use clap::Subcommand;
use docket_ledger::EntryFilter;
use docket_ledger::entry::kinds;
use serde::Serialize;

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::log_cmd::EntryView;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the public key that signs checkpoints (give it to auditors) and its chain.
    Show,
    /// Replace the signing key. The ledger records the new key, signed by the old and
    /// the new one; the old private key is deleted.
    Rotate,
}

#[derive(Serialize)]
struct ChainLink {
    key: String,
    entry: u64,
    time: String,
}

pub async fn run(cmd: KeyCommand, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let ledger = global.open_ledger().await?;
    match cmd {
        KeyCommand::Show => {
            let key = ledger.signing_key().await?;
            let mut chain = Vec::new();
            for kind in [kinds::GENESIS, kinds::KEY_ROTATE] {
                let filter = EntryFilter {
                    kind: Some(kind.to_owned()),
                    ..EntryFilter::default()
                };
                for stored in ledger.list(&filter).await? {
                    let view = EntryView::from_stored(&stored)?;
                    let field = if kind == kinds::GENESIS {
                        "key"
                    } else {
                        "new_key"
                    };
                    if let Some(k) = view.payload.get(field).and_then(|k| k.as_str()) {
                        chain.push(ChainLink {
                            key: k.to_owned(),
                            entry: view.index,
                            time: view.time,
                        });
                    }
                }
            }
            chain.sort_by_key(|c| c.entry);
            if out.json() {
                out.json_value(&serde_json::json!({
                    "origin": ledger.origin(),
                    "key": key.to_string(),
                    "chain": chain,
                }))?;
            } else {
                out.line(key.to_string());
                if chain.len() > 1 {
                    out.note("key chain (oldest first):");
                    for link in &chain {
                        out.note(format!(
                            "  {}  entry {}  {}",
                            link.key, link.entry, link.time
                        ));
                    }
                }
            }
        }
        KeyCommand::Rotate => {
            let (old, new, appended) = ledger.rotate_key().await?;
            if out.json() {
                out.json_value(&serde_json::json!({
                    "old_key": old.to_string(),
                    "new_key": new.to_string(),
                    "entry": appended.index,
                }))?;
            } else {
                out.line(format!("rotated signing key at entry {}", appended.index));
                out.line(format!("  old {old}"));
                out.line(format!("  new {new}"));
                out.note("hint: give the new public key to anyone who verifies your checkpoints");
            }
        }
    }
    ledger.close().await;
    Ok(Outcome::Success)
}
