//! Which runs a package holds: the export options, the runs they select (the latest
//! record of each), and the approvals and exceptions granted to those runs.

use std::collections::{BTreeMap, BTreeSet};

use docket_core::record::{RunRecord, kinds};
use docket_ledger::{Anchor, EntryFilter, Ledger, LedgerError, StoredEntry};
use serde_json::Value;

use super::error::PackageError;
use crate::contents::Selection;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Runs that started at or after this time (microseconds since the epoch).
    pub since_us: Option<i64>,
    /// Runs that started before this time.
    pub until_us: Option<i64>,
    pub tickets: Vec<String>,
    /// Run ids or unique prefixes.
    pub runs: Vec<String>,
    /// Checkpoints the auditor kept; the package proves the ledger only grew since.
    pub against: Vec<Anchor>,
    /// The selection as the user wrote it, for the manifest.
    pub selection: Selection,
}

pub(super) struct Selected {
    pub(super) stored: StoredEntry,
    pub(super) record: RunRecord,
}

pub(super) async fn select_runs(
    ledger: &Ledger,
    size: u64,
    options: &ExportOptions,
) -> Result<Vec<Selected>, PackageError> {
    let stored = ledger
        .list(&EntryFilter {
            kind: Some(kinds::RECORD.into()),
            ..EntryFilter::default()
        })
        .await?;
    // The latest record of each run is the run's state.
    let mut latest: BTreeMap<String, Selected> = BTreeMap::new();
    for stored in stored.into_iter().filter(|e| e.index < size) {
        let entry = stored.decode().map_err(LedgerError::from)?;
        let Ok(record) = serde_json::from_value::<RunRecord>(entry.payload) else {
            continue;
        };
        latest.insert(record.run_id.clone(), Selected { stored, record });
    }
    let mut wanted_ids: Option<BTreeSet<String>> = None;
    if !options.runs.is_empty() {
        let mut ids = BTreeSet::new();
        for prefix in &options.runs {
            let matches: Vec<&String> = latest
                .keys()
                .filter(|id| id.starts_with(prefix.as_str()))
                .collect();
            match matches.as_slice() {
                [one] => {
                    ids.insert((*one).clone());
                }
                [] => {
                    return Err(PackageError::Run {
                        prefix: prefix.clone(),
                        reason: "no such run in the ledger; `docket runs list` shows them".into(),
                    });
                }
                many => {
                    return Err(PackageError::Run {
                        prefix: prefix.clone(),
                        reason: format!("matches {} runs; give more of the id", many.len()),
                    });
                }
            }
        }
        wanted_ids = Some(ids);
    }
    let mut selected: Vec<Selected> = latest
        .into_values()
        .filter(|s| {
            let r = &s.record;
            let started = docket_ledger::entry::parse_time_micros(&r.started_at);
            wanted_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&r.run_id))
                && (options.tickets.is_empty() || options.tickets.contains(&r.ticket.id))
                && options
                    .since_us
                    .is_none_or(|since| started.is_some_and(|t| t >= since))
                && options
                    .until_us
                    .is_none_or(|until| started.is_some_and(|t| t < until))
        })
        .collect();
    if selected.is_empty() {
        let mut detail = Vec::new();
        if let Some(s) = &options.selection.since {
            detail.push(format!("--since {s}"));
        }
        if let Some(u) = &options.selection.until {
            detail.push(format!("--until {u}"));
        }
        for t in &options.tickets {
            detail.push(format!("--ticket {t}"));
        }
        for r in &options.runs {
            detail.push(format!("--run {r}"));
        }
        return Err(PackageError::NoRuns {
            detail: if detail.is_empty() {
                " (the ledger holds no run records)".into()
            } else {
                format!(" ({})", detail.join(" "))
            },
        });
    }
    // Oldest first, as the ledger has them.
    selected.sort_by_key(|s| s.stored.index);
    Ok(selected)
}

/// Approvals and exceptions of the selected runs, and the decisions they link to.
pub(super) async fn related_entries(
    ledger: &Ledger,
    size: u64,
    runs: &BTreeSet<&str>,
) -> Result<BTreeMap<String, BTreeSet<u64>>, PackageError> {
    let mut out: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for kind in [kinds::APPROVAL, kinds::EXCEPTION] {
        let entries = ledger
            .list(&EntryFilter {
                kind: Some(kind.into()),
                ..EntryFilter::default()
            })
            .await?;
        for stored in entries.into_iter().filter(|e| e.index < size) {
            let entry = stored.decode().map_err(LedgerError::from)?;
            let Some(run) = entry.payload.get("run_id").and_then(Value::as_str) else {
                continue;
            };
            if !runs.contains(run) {
                continue;
            }
            let set = out.entry(run.to_owned()).or_default();
            set.insert(stored.index);
            set.extend(entry.links.iter().map(|l| l.index));
        }
    }
    Ok(out)
}
