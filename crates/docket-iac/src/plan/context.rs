//! What a model planner is told about a workspace: the rules it may choose from,
//! the resources it may target and what a scan finds now.
//!
//! The value is bounded (every list has a cap, and a cut list says so) and
//! deterministic: the same sources and catalog give byte-identical JSON, which the
//! replay of recorded model exchanges depends on.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json, json};

use super::answer::cut;
use super::document::PLAN_SCHEMA;
use crate::catalog::{Catalog, Rule};
use crate::model::{Workspace, span_of};
use crate::scan::{ScanOptions, Status, scan, toml_to_json};
use crate::source::SourceSet;

pub const PLANNER_CONTEXT_SCHEMA: &str = "docket.iac-planner-context/v1";

const MAX_RESOURCES: usize = 400;
const MAX_VIOLATIONS: usize = 400;
const MAX_UNKNOWN: usize = 100;
const MAX_PARSE_ERRORS: usize = 20;
/// Characters of one message or reason (values quoted in them can be long).
const MAX_TEXT: usize = 300;

/// The workspace as a model planner sees it:
///
/// - `rules`: the fixable rules that apply to a resource type present in the
///   workspace (a rule without such a resource can have no target), by id, with
///   title, severity, resource types, what the fix does and its parameters (name,
///   description, default, whether it is required, format);
/// - `resources`: address (the form plan targets use), type, file and line, by
///   address;
/// - `violations`: what a scan with every rule finds now (rule, address, message,
///   file, line, whether the rule is fixable), fixable ones first, then by rule and
///   address; `unknown`: findings whose value cannot be known before `terraform
///   plan` (a fix skips them), with the reason;
/// - `parse_errors`: files that do not parse (their resources are missing);
/// - `truncated`: for each list cut at its cap, `{"shown": N, "total": M}`. When
///   resources are cut, those with a violation of a fixable rule are kept first.
///   Empty when nothing was cut.
pub fn planner_context(sources: &SourceSet, catalog: &Catalog) -> Json {
    let ws = Workspace::load(sources);
    let report = scan(&ws, catalog, &ScanOptions::default());
    let mut truncated = Map::new();

    let present: BTreeSet<&str> = ws.resources.iter().map(|r| r.kind.as_str()).collect();
    let rules: Vec<Json> = catalog
        .rules()
        .iter()
        .filter(|r| {
            r.fixable()
                && r.resource_types
                    .iter()
                    .any(|t| present.contains(t.as_str()))
        })
        .map(rule_json)
        .collect();

    let fixable_hit: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Violation && f.fixable)
        .map(|f| f.address.as_str())
        .collect();
    let mut resources: Vec<(bool, String, String, usize, &str)> = ws
        .resources
        .iter()
        .map(|r| {
            let file = ws.file(r.block.file);
            let line = match (file, ws.block(r.block)) {
                (Some(f), Some(b)) => f.position(span_of(b).start).0,
                _ => 0,
            };
            (
                !fixable_hit.contains(r.address.as_str()),
                r.address.clone(),
                file.map(|f| f.path.clone()).unwrap_or_default(),
                line,
                r.kind.as_str(),
            )
        })
        .collect();
    resources.sort();
    cap(&mut resources, MAX_RESOURCES, "resources", &mut truncated);
    resources.sort_by(|a, b| (&a.1, &a.2, a.3).cmp(&(&b.1, &b.2, b.3)));
    let resources: Vec<Json> = resources
        .into_iter()
        .map(|(_, address, file, line, kind)| {
            json!({"address": address, "type": kind, "file": file, "line": line})
        })
        .collect();

    let mut violations: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Violation)
        .map(|f| (!f.fixable, &f.rule_id, &f.address, &f.file, f.line, f))
        .collect();
    violations.sort_by(|a, b| (a.0, a.1, a.2, a.3, a.4).cmp(&(b.0, b.1, b.2, b.3, b.4)));
    cap(
        &mut violations,
        MAX_VIOLATIONS,
        "violations",
        &mut truncated,
    );
    let violations: Vec<Json> = violations
        .into_iter()
        .map(|(_, _, _, _, _, f)| {
            json!({
                "rule": f.rule_id,
                "address": f.address,
                "message": cut(&f.message, MAX_TEXT),
                "file": f.file,
                "line": f.line,
                "fixable": f.fixable,
            })
        })
        .collect();

    let mut unknown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unknown)
        .collect();
    unknown.sort_by(|a, b| {
        (&a.rule_id, &a.address, &a.file, a.line).cmp(&(&b.rule_id, &b.address, &b.file, b.line))
    });
    cap(&mut unknown, MAX_UNKNOWN, "unknown", &mut truncated);
    let unknown: Vec<Json> = unknown
        .into_iter()
        .map(|f| {
            json!({
                "rule": f.rule_id,
                "address": f.address,
                "reason": cut(f.reason.as_deref().unwrap_or(""), MAX_TEXT),
                "file": f.file,
                "line": f.line,
            })
        })
        .collect();

    let mut errors: Vec<_> = report.errors.iter().collect();
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    cap(
        &mut errors,
        MAX_PARSE_ERRORS,
        "parse_errors",
        &mut truncated,
    );
    let parse_errors: Vec<Json> = errors
        .into_iter()
        .map(|e| json!({"file": e.file, "line": e.line, "message": cut(&e.message, MAX_TEXT)}))
        .collect();

    json!({
        "schema": PLANNER_CONTEXT_SCHEMA,
        "plan_schema": PLAN_SCHEMA,
        "files": ws.files.len(),
        "rules": rules,
        "resources": resources,
        "violations": violations,
        "unknown": unknown,
        "parse_errors": parse_errors,
        "truncated": truncated,
    })
}

fn cap<T>(list: &mut Vec<T>, max: usize, name: &str, truncated: &mut Map<String, Json>) {
    if list.len() > max {
        truncated.insert(name.to_owned(), json!({"shown": max, "total": list.len()}));
        list.truncate(max);
    }
}

fn rule_json(rule: &Rule) -> Json {
    let (fix, params) = match &rule.fix {
        Some(f) => (f.description.as_str(), f.params.as_slice()),
        None => ("", &[][..]),
    };
    let params: Vec<Json> = params
        .iter()
        .map(|p| {
            let mut o = Map::new();
            o.insert("name".into(), json!(p.name));
            o.insert("description".into(), json!(p.description));
            if let Some(d) = &p.default {
                o.insert("default".into(), toml_to_json(d));
            }
            o.insert("required".into(), json!(p.required()));
            if let Some(format) = p.format {
                o.insert("format".into(), json!(format.as_str()));
            }
            Json::Object(o)
        })
        .collect();
    json!({
        "id": rule.id,
        "title": rule.title,
        "severity": rule.severity.as_str(),
        "resource_types": rule.resource_types,
        "fix": fix,
        "params": params,
    })
}
