//! Applying fixes: structural edits placed as text splices, so every byte outside
//! an edited span stays as it was.
//!
//! Fixing runs in rounds: scan, compute each violation's edits, apply the ones that
//! do not overlap, parse again. A second run over a fixed workspace finds nothing
//! to do, which is what makes fixes idempotent by construction.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

use crate::catalog::Catalog;
use crate::custom;
pub use crate::edit::{
    editable_file, editable_insert, json_equal, replace_site, set_values, shared_default,
};
use crate::hit::{Hit, Status};
use crate::model::Workspace;
use crate::render::{Edit, Hcl};
use crate::rule::{FixKind, Rule, effective_params, toml_to_json};
use crate::scan::{ScanOptions, finding, hits, scan};
use crate::source::SourceSet;

const MAX_ROUNDS: usize = 6;

/// What to fix.
#[derive(Debug, Clone, Default)]
pub struct FixRequest {
    /// Rule ids; empty means every fixable rule.
    pub rules: BTreeSet<String>,
    /// Resource addresses; empty means every resource.
    pub targets: BTreeSet<String>,
    /// Parameters per rule id.
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
    /// Addresses per rule id: a rule with an entry here is applied only to those
    /// addresses (within `targets`). A plan pairs each rule with its own targets,
    /// so one item's rule never spreads to another item's resources.
    pub rule_targets: BTreeMap<String, BTreeSet<String>>,
}

/// Lines of one file before or after an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    pub start_line: usize,
    pub end_line: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub file: String,
    pub before: Region,
    pub after: Region,
}

/// What became of a finding a fix targeted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterStatus {
    Resolved,
    Unchanged,
    Moved,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    pub fingerprint: String,
    pub file: String,
    pub line: usize,
    pub status: AfterStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedFix {
    pub rule_id: String,
    pub address: String,
    pub params: BTreeMap<String, Json>,
    pub changes: Vec<Change>,
    pub findings: Vec<TargetStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub rule_id: String,
    pub address: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixOutcome {
    /// The new text of every file that changed.
    pub changed: BTreeMap<String, String>,
    pub applied: Vec<AppliedFix>,
    pub skipped: Vec<Skipped>,
}

impl FixOutcome {
    pub fn changed_anything(&self) -> bool {
        !self.changed.is_empty()
    }
}

struct Planned {
    rule_id: String,
    address: String,
    params: BTreeMap<String, Json>,
    fingerprint: String,
    file: String,
    line: usize,
    edits: Vec<Edit>,
}

pub fn fix(sources: &SourceSet, catalog: &Catalog, req: &FixRequest) -> FixOutcome {
    let opts = ScanOptions {
        rules: req.rules.clone(),
        min_severity: None,
        params: req.params.clone(),
    };
    let mut current = sources.clone();
    let mut applied: Vec<AppliedFix> = Vec::new();
    let mut skipped: BTreeSet<Skipped> = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let ws = Workspace::load(&current);
        let mut planned = Vec::new();
        for hit in hits(&ws, catalog, &opts) {
            if !req.targets.is_empty() && !req.targets.contains(&hit.resource.address) {
                continue;
            }
            if req
                .rule_targets
                .get(&hit.rule.id)
                .is_some_and(|only| !only.contains(&hit.resource.address))
            {
                continue;
            }
            let f = finding(&ws, &hit);
            if hit.status == Status::Unknown {
                skipped.insert(Skipped {
                    rule_id: f.rule_id,
                    address: f.address,
                    reason: format!(
                        "the value cannot be known: {}",
                        f.reason.unwrap_or_default()
                    ),
                });
                continue;
            }
            let params = effective_params(hit.rule, req.params.get(&hit.rule.id));
            match plan_edits(&ws, &hit, &params) {
                Ok(edits) if edits.is_empty() => {}
                Ok(edits) => planned.push(Planned {
                    rule_id: f.rule_id,
                    address: f.address,
                    params: used_params(hit.rule, &params),
                    fingerprint: f.fingerprint,
                    file: f.file,
                    line: f.line,
                    edits,
                }),
                Err(reason) => {
                    skipped.insert(Skipped {
                        rule_id: f.rule_id,
                        address: f.address,
                        reason,
                    });
                }
            }
        }
        if planned.is_empty() {
            break;
        }
        let (next, round) = apply(&ws, &current, planned);
        if round.is_empty() {
            break;
        }
        applied.extend(round);
        current = next;
    }
    // Statuses of what each fix targeted, judged by a fresh scan of the result.
    let ws = Workspace::load(&current);
    let after = scan(&ws, catalog, &opts);
    for fix in &mut applied {
        for t in &mut fix.findings {
            t.status = match after
                .findings
                .iter()
                .find(|f| f.fingerprint == t.fingerprint && f.status == Status::Violation)
            {
                None => AfterStatus::Resolved,
                Some(f) if f.file == t.file && f.line == t.line => AfterStatus::Unchanged,
                Some(_) => AfterStatus::Moved,
            };
        }
    }
    // A violation fixed in a later round is not "skipped".
    let resolved: BTreeSet<(String, String)> = applied
        .iter()
        .map(|a| (a.rule_id.clone(), a.address.clone()))
        .collect();
    let skipped = skipped
        .into_iter()
        .filter(|s| {
            !resolved.contains(&(s.rule_id.clone(), s.address.clone()))
                || s.reason.starts_with("the value cannot")
        })
        .collect();
    let changed = current
        .iter()
        .filter(|(p, t)| sources.get(p) != Some(*t))
        .map(|(p, t)| (p.to_owned(), t.to_owned()))
        .collect();
    FixOutcome {
        changed,
        applied,
        skipped,
    }
}

fn used_params(rule: &Rule, params: &BTreeMap<String, Json>) -> BTreeMap<String, Json> {
    let declared: BTreeSet<&str> = rule
        .fix
        .iter()
        .flat_map(|f| f.params.iter().map(|p| p.name.as_str()))
        .collect();
    params
        .iter()
        .filter(|(k, _)| declared.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies the planned fixes that do not overlap; the rest wait for the next round.
fn apply(
    ws: &Workspace,
    current: &SourceSet,
    planned: Vec<Planned>,
) -> (SourceSet, Vec<AppliedFix>) {
    let mut accepted: Vec<(usize, Edit)> = Vec::new();
    let mut fixes: Vec<(Planned, Vec<usize>)> = Vec::new();
    for p in planned {
        let mut indexes = Vec::new();
        let mut conflict = false;
        for e in &p.edits {
            if let Some(i) = accepted.iter().position(|(_, a)| a == e) {
                indexes.push(i);
                continue;
            }
            if accepted.iter().any(|(_, a)| overlaps(a, e)) {
                conflict = true;
                break;
            }
        }
        if conflict {
            continue;
        }
        for e in &p.edits {
            if !accepted.iter().any(|(_, a)| a == e) {
                indexes.push(accepted.len());
                accepted.push((accepted.len(), e.clone()));
            }
        }
        fixes.push((p, indexes));
    }
    let mut next = current.clone();
    let mut new_offsets: BTreeMap<usize, usize> = BTreeMap::new();
    let mut by_file: BTreeMap<usize, Vec<&(usize, Edit)>> = BTreeMap::new();
    for a in &accepted {
        by_file.entry(a.1.file).or_default().push(a);
    }
    for (fid, mut edits) in by_file {
        let Some(file) = ws.file(fid) else { continue };
        edits.sort_by_key(|a| (a.1.span.start, a.0));
        let mut text = String::with_capacity(file.text.len() + 256);
        let mut pos = 0;
        for (i, e) in edits {
            text.push_str(file.text.get(pos..e.span.start).unwrap_or(""));
            new_offsets.insert(*i, text.len());
            text.push_str(&e.text);
            pos = e.span.end;
        }
        text.push_str(file.text.get(pos..).unwrap_or(""));
        next.insert(file.path.clone(), text);
    }
    let mut out = Vec::new();
    for (p, indexes) in fixes {
        let mut changes = Vec::new();
        for i in indexes {
            let Some((_, e)) = accepted.get(i) else {
                continue;
            };
            let Some(file) = ws.file(e.file) else {
                continue;
            };
            let (start_line, _) = file.position(e.span.start);
            let before_text = file.slice(&e.span).to_owned();
            let after_start = new_offsets.get(&i).copied().unwrap_or(e.span.start);
            let new_text = next.get(&file.path).unwrap_or("");
            let after_line = new_text
                .get(..after_start)
                .map_or(1, |t| t.matches('\n').count() + 1);
            changes.push(Change {
                file: file.path.clone(),
                before: Region {
                    start_line,
                    end_line: start_line + before_text.matches('\n').count(),
                    text: before_text,
                },
                after: Region {
                    start_line: after_line,
                    end_line: after_line + e.text.matches('\n').count(),
                    text: e.text.clone(),
                },
            });
        }
        out.push(AppliedFix {
            rule_id: p.rule_id,
            address: p.address,
            params: p.params,
            changes,
            findings: vec![TargetStatus {
                fingerprint: p.fingerprint,
                file: p.file,
                line: p.line,
                status: AfterStatus::Unchanged,
            }],
        });
    }
    (next, out)
}

fn overlaps(a: &Edit, b: &Edit) -> bool {
    if a.file != b.file {
        return false;
    }
    if a.span.is_empty() && b.span.is_empty() {
        return false;
    }
    a.span.start < b.span.end && b.span.start < a.span.end
        || (a.span.is_empty() && b.span.start < a.span.start && a.span.start < b.span.end)
        || (b.span.is_empty() && a.span.start < b.span.start && b.span.start < a.span.end)
}

/// The edits that fix one violation.
pub fn plan_edits(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let Some(spec) = &hit.rule.fix else {
        return Err("the rule has no automatic fix".into());
    };
    match spec.kind {
        FixKind::Custom => custom::fix(ws, hit, params),
        FixKind::Set => {
            let mut values = Vec::new();
            for set in &spec.set {
                let value = match &set.param {
                    Some(p) => match params.get(p) {
                        Some(v) => Some(v.clone()),
                        None if set.optional => None,
                        None => {
                            return Err(format!("parameter {p:?} is required (--param {p}=VALUE)"));
                        }
                    },
                    None => set.value.as_ref().map(toml_to_json),
                };
                if let Some(v) = value {
                    values.push((set.path.as_str(), Hcl::Data(v)));
                }
            }
            set_values(ws, &hit.node, &values)
        }
    }
}
