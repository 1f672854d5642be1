//! Applying fixes: structural edits placed as text splices, so every byte outside
//! an edited span stays as it was.
//!
//! Fixing runs in rounds: scan, compute each violation's edits, apply the ones that
//! do not overlap, parse again. A second run over a fixed workspace finds nothing
//! to do, which is what makes fixes idempotent by construction.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

use crate::catalog::{Catalog, FixKind, Rule};
use crate::custom;
use crate::eval::{Lookup, Node, Val, Value};
use crate::model::{Workspace, span_of};
use crate::render::{Edit, Hcl, NewBody, append_to_block};
use crate::scan::{Hit, ScanOptions, Status, effective_params, finding, hits, scan};
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
                    None => set.value.as_ref().map(crate::scan::toml_to_json),
                };
                if let Some(v) = value {
                    values.push((set.path.as_str(), Hcl::Data(v)));
                }
            }
            set_values(ws, &hit.node, &values)
        }
    }
}

/// Writes `path = value` pairs into a block: existing values are replaced where
/// they are written, missing ones are appended as one group per block.
pub fn set_values(
    ws: &Workspace,
    node: &Node<'_>,
    values: &[(&str, Hcl)],
) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    let mut inserts: Vec<(Node<'_>, NewBody)> = Vec::new();
    for (path, want) in values {
        match node.lookup(path) {
            Lookup::Found {
                value,
                attr,
                node: holder,
            } => {
                let Some(attr) = attr else {
                    return Err(format!("{path} names a block, not a value"));
                };
                if let Hcl::Data(j) = want
                    && json_equal(j, &value)
                {
                    continue;
                }
                let indent = ws
                    .file(holder.file)
                    .map(|f| f.indent_at(span_of(attr).start).to_owned())
                    .unwrap_or_default();
                let nl = ws.file(holder.file).map_or("\n", |f| f.newline());
                let text = crate::render::value(want, &indent, nl);
                let (file, span) = replace_site(ws, &holder, attr, &value)?;
                edits.push(Edit { file, span, text });
            }
            Lookup::Missing { node: holder, rest } => {
                if let Some(first) = rest.first()
                    && holder.body().get_attribute(first).is_some()
                {
                    return Err(format!(
                        "{path}: adding a key inside the map {first} is not automated"
                    ));
                }
                editable_insert(ws, &holder)?;
                let key = holder.span().start;
                match inserts
                    .iter_mut()
                    .find(|(n, _)| n.span().start == key && n.file == holder.file)
                {
                    Some((_, body)) => body.put(&rest, want.clone()),
                    None => {
                        let mut body = NewBody::default();
                        body.put(&rest, want.clone());
                        inserts.push((holder, body));
                    }
                }
            }
            Lookup::Unknown { reason, .. } => {
                return Err(format!("{path} cannot be known: {reason}"));
            }
        }
    }
    for (holder, body) in inserts {
        let file = ws.file(holder.file).ok_or("file vanished")?;
        edits.push(append_to_block(file, holder.file, &holder, &body)?);
    }
    Ok(edits)
}

/// A new block may be added here: the file belongs to a root module and the block
/// is not generated by `dynamic`.
pub fn editable_insert(ws: &Workspace, node: &Node<'_>) -> Result<(), String> {
    if node.dynamic_span.is_some() {
        return Err(
            "the block is generated by a dynamic block; change its source value by hand".into(),
        );
    }
    editable_file(ws, node.file)
}

pub fn editable_file(ws: &Workspace, file: usize) -> Result<(), String> {
    let Some(f) = ws.file(file) else {
        return Err("file vanished".into());
    };
    let dir = crate::source::dir_of(&f.path);
    match ws.modules.iter().find(|m| m.dir == dir) {
        Some(m) if m.callers > 0 => Err(format!(
            "the value is written inside module {dir:?}, which {} module call(s) share; \
             changing the module would change every caller, so set it at the call site or edit the module by hand",
            m.callers
        )),
        _ => Ok(()),
    }
}

/// Where to replace a value: where it is written, unless that is a variable
/// default used elsewhere too (then at the attribute) or shared module code.
pub fn replace_site(
    ws: &Workspace,
    holder: &Node<'_>,
    attr: &hcl_edit::structure::Attribute,
    value: &Val,
) -> Result<(usize, std::ops::Range<usize>), String> {
    let at_attribute = || -> Result<(usize, std::ops::Range<usize>), String> {
        if holder.dynamic_span.is_some() {
            return Err(
                "the value is computed inside a dynamic block; change its source by hand".into(),
            );
        }
        editable_file(ws, holder.file)?;
        Ok((holder.file, span_of(&attr.value)))
    };
    let Some(origin) = &value.origin else {
        return at_attribute();
    };
    if let Some(shared) = shared_default(ws, origin) {
        return at_attribute().map_err(|e| format!("the value is {shared}, and {e}"));
    }
    editable_file(ws, origin.file)?;
    Ok((origin.file, origin.span.clone()))
}

/// When a value comes from a variable default that other places use too, says so:
/// changing the default would change them as well.
pub fn shared_default(ws: &Workspace, origin: &crate::eval::Origin) -> Option<String> {
    let var = origin.via_default.as_ref()?;
    let uses = ws
        .instance_module(origin.instance)
        .and_then(|m| m.var_uses.get(var).copied())
        .unwrap_or(0);
    (uses > 1).then(|| format!("the default of var.{var}, which is used {uses} times"))
}

/// Does an evaluated value already equal the wanted data?
pub fn json_equal(want: &Json, v: &Val) -> bool {
    match (want, &v.value) {
        (Json::Bool(b), _) => v.as_bool() == Some(*b),
        (Json::Number(n), _) => n.as_f64().is_some_and(|n| v.as_f64() == Some(n)),
        (Json::String(s), _) => v.to_text().as_deref() == Some(s.as_str()),
        (Json::Array(items), Value::List(vals)) => {
            items.len() == vals.len() && items.iter().zip(vals).all(|(a, b)| json_equal(a, b))
        }
        (Json::Object(map), Value::Object(vals)) => {
            map.len() == vals.len()
                && map
                    .iter()
                    .all(|(k, a)| vals.iter().any(|(vk, b)| vk == k && json_equal(a, b)))
        }
        (Json::Null, Value::Null) => true,
        _ => false,
    }
}
