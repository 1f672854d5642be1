//! Running the catalog over a workspace: findings with their exact location.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::custom;
use crate::eval::{Lookup, Node, Val, Value};
pub use crate::hit::{Hit, Status, each_nodes, header_span, resource_node};
use crate::model::{Resource, Workspace};
use crate::rule::{CheckKind, Condition, Missing, References, Rule, Severity};
pub use crate::rule::{effective_params, toml_to_json};
use crate::source::{ParseError, SourceSet};

/// One finding, as reported to users, SARIF and the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub address: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    /// Why the value could not be judged (unknown findings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Stable across unrelated edits: rule, address and the place inside the resource.
    pub fingerprint: String,
    pub fixable: bool,
    pub references: References,
}

/// What a scan saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    pub errors: Vec<ParseError>,
    pub warnings: Vec<String>,
    pub files: usize,
    pub resources: usize,
}

/// Which rules run, and the parameters of rules that take them.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub rules: BTreeSet<String>,
    pub min_severity: Option<Severity>,
    /// Parameters per rule id (directed rules such as image updates need them).
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
}

/// All hits of the selected rules.
pub fn hits<'w>(ws: &'w Workspace, catalog: &'w Catalog, opts: &ScanOptions) -> Vec<Hit<'w>> {
    let dispatch = catalog.by_resource_type();
    let mut out = Vec::new();
    for resource in &ws.resources {
        let Some(rules) = dispatch.get(resource.kind.as_str()) else {
            continue;
        };
        let Some(node) = resource_node(ws, resource) else {
            continue;
        };
        for rule in rules {
            if !opts.rules.is_empty() && !opts.rules.contains(&rule.id) {
                continue;
            }
            if opts.min_severity.is_some_and(|m| rule.severity < m) {
                continue;
            }
            let params = effective_params(rule, opts.params.get(&rule.id));
            match rule.check.kind {
                CheckKind::Attribute => check_attributes(rule, resource, &node, &mut out),
                CheckKind::Custom => custom::check(rule, resource, &node, &params, &mut out),
            }
        }
    }
    out
}

/// Runs a scan and turns hits into findings, sorted by file, line and rule.
pub fn scan(ws: &Workspace, catalog: &Catalog, opts: &ScanOptions) -> ScanReport {
    let mut findings: Vec<Finding> = hits(ws, catalog, opts)
        .iter()
        .map(|h| finding(ws, h))
        .collect();
    sort_findings(&mut findings);
    ScanReport {
        findings,
        errors: ws.errors.clone(),
        warnings: ws.warnings.clone(),
        files: ws.files.len(),
        resources: ws.resources.len(),
    }
}

/// Scans a whole tree one independent part at a time (see
/// [`SourceSet::into_parts`]): the same report as loading everything into one
/// workspace, with only one part's syntax trees in memory at once.
pub fn scan_sources(sources: SourceSet, catalog: &Catalog, opts: &ScanOptions) -> ScanReport {
    let mut report = ScanReport::default();
    for part in sources.into_parts() {
        let ws = Workspace::load(&part);
        let one = scan(&ws, catalog, opts);
        report.findings.extend(one.findings);
        report.errors.extend(one.errors);
        report.warnings.extend(one.warnings);
        report.files += one.files;
        report.resources += one.resources;
    }
    sort_findings(&mut report.findings);
    report
        .errors
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    report
}

fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.rule_id, &a.address)
            .cmp(&(&b.file, b.line, b.column, &b.rule_id, &b.address))
    });
    findings
        .dedup_by(|a, b| a.fingerprint == b.fingerprint && a.line == b.line && a.file == b.file);
}

pub fn finding(ws: &Workspace, h: &Hit<'_>) -> Finding {
    let file = ws.file(h.file);
    let (line, column) = file.map_or((1, 1), |f| f.position(h.span.start));
    let (end_line, end_column) = file.map_or((line, column), |f| {
        let end = f
            .text
            .get(h.span.clone())
            .and_then(|t| t.find('\n'))
            .map_or(h.span.end, |n| h.span.start + n);
        f.position(end)
    });
    Finding {
        rule_id: h.rule.id.clone(),
        title: h.rule.title.clone(),
        severity: h.rule.severity,
        status: h.status,
        address: h.resource.address.clone(),
        file: file.map(|f| f.path.clone()).unwrap_or_default(),
        line,
        column,
        end_line,
        end_column,
        message: h.message.clone(),
        reason: h.reason.clone(),
        fingerprint: fingerprint(&h.rule.id, &h.resource.address, &h.place),
        fixable: h.rule.fixable(),
        references: h.rule.references.clone(),
    }
}

pub fn fingerprint(rule: &str, address: &str, place: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule, address, place] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
        .get(..32)
        .unwrap_or_default()
        .to_owned()
}

fn check_attributes<'w>(
    rule: &'w Rule,
    resource: &'w Resource,
    node: &Node<'w>,
    out: &mut Vec<Hit<'w>>,
) {
    let targets = if rule.check.each.is_empty() {
        vec![(String::new(), node.clone())]
    } else {
        each_nodes(node, &rule.check.each)
    };
    for (place, target) in targets {
        let mut unknown: Option<(String, Range<usize>)> = None;
        let mut applies = true;
        for cond in &rule.check.when {
            match judge(cond, &target) {
                Judgement::Pass => {}
                Judgement::Fail { .. } => {
                    applies = false;
                    break;
                }
                Judgement::Unknown { reason, span } => {
                    unknown.get_or_insert((reason, span));
                }
            }
        }
        if !applies {
            continue;
        }
        let mut violation: Option<(String, Range<usize>)> = None;
        for cond in &rule.check.all {
            match judge(cond, &target) {
                Judgement::Pass => {}
                Judgement::Fail { span, detail } => {
                    violation = Some((detail, span));
                    break;
                }
                Judgement::Unknown { reason, span } => {
                    unknown.get_or_insert((reason, span));
                }
            }
        }
        let place = if place.is_empty() {
            rule.check
                .all
                .first()
                .map(|c| c.path.clone())
                .unwrap_or_default()
        } else {
            place
        };
        let (status, span, message, reason) = match (violation, unknown) {
            (Some((detail, span)), _) => (
                Status::Violation,
                span,
                format!("{}: {detail}", rule.check.message),
                None,
            ),
            (None, Some((reason, span))) => (
                Status::Unknown,
                span,
                format!("cannot tell whether {}", rule.check.message),
                Some(reason),
            ),
            (None, None) => continue,
        };
        out.push(Hit {
            rule,
            resource,
            status,
            file: target.file,
            span,
            message,
            reason,
            place,
            node: target,
            custom: None,
        });
    }
}

pub enum Judgement {
    Pass,
    Fail { span: Range<usize>, detail: String },
    Unknown { reason: String, span: Range<usize> },
}

pub fn judge(cond: &Condition, node: &Node<'_>) -> Judgement {
    match node.lookup(&cond.path) {
        Lookup::Found {
            value,
            attr,
            node: holder,
        } => {
            let span = attr.map_or_else(|| header_span(&holder), crate::model::span_of);
            if value.value == Value::Null {
                return missing(cond, node);
            }
            if !value.is_known() && !matches!(cond.present, Some(true)) {
                return Judgement::Unknown {
                    reason: value.unknown_reason().unwrap_or_default(),
                    span,
                };
            }
            match compare(cond, &value) {
                Some(true) => Judgement::Pass,
                Some(false) => Judgement::Fail {
                    span,
                    detail: format!("{} is {}", cond.path, describe(&value)),
                },
                None => Judgement::Unknown {
                    reason: format!("{} has a value of an unexpected type", cond.path),
                    span,
                },
            }
        }
        Lookup::Missing { .. } => missing(cond, node),
        Lookup::Unknown {
            reason,
            node: holder,
        } => Judgement::Unknown {
            reason,
            span: header_span(&holder),
        },
    }
}

fn missing(cond: &Condition, node: &Node<'_>) -> Judgement {
    let span = header_span(node);
    if let Some(present) = cond.present {
        return if present {
            Judgement::Fail {
                span,
                detail: format!("{} is not set", cond.path),
            }
        } else {
            Judgement::Pass
        };
    }
    match cond.missing.unwrap_or(Missing::Violation) {
        Missing::Pass => Judgement::Pass,
        Missing::Violation => Judgement::Fail {
            span,
            detail: format!("{} is not set", cond.path),
        },
    }
}

pub fn describe(v: &Val) -> String {
    match &v.value {
        Value::String(s) => format!("{s:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => crate::eval::format_number(*n),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(describe).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(_) => "an object".into(),
        Value::Null => "null".into(),
        Value::Ref { address, attr } => format!("{address}.{attr}"),
        Value::Unknown(r) => format!("unknown ({r})"),
    }
}

/// Equality between a rule's TOML value and an evaluated value, with Terraform's
/// string/number/bool conversions.
pub fn equal(expected: &toml::Value, v: &Val) -> Option<bool> {
    match expected {
        toml::Value::Boolean(b) => v.as_bool().map(|x| x == *b),
        toml::Value::Integer(i) => v.as_f64().map(|x| x == *i as f64),
        toml::Value::Float(f) => v.as_f64().map(|x| x == *f),
        toml::Value::String(s) => v.to_text().map(|x| x == *s),
        _ => None,
    }
}

fn compare(cond: &Condition, v: &Val) -> Option<bool> {
    if let Some(e) = &cond.equals {
        return Some(equal(e, v).unwrap_or(false));
    }
    if let Some(e) = &cond.not_equals {
        return Some(!equal(e, v).unwrap_or(false));
    }
    if let Some(list) = &cond.one_of {
        return Some(list.iter().any(|e| equal(e, v).unwrap_or(false)));
    }
    if let Some(list) = &cond.not_one_of {
        return Some(!list.iter().any(|e| equal(e, v).unwrap_or(false)));
    }
    if let Some(present) = cond.present {
        return Some(present);
    }
    if let Some(list) = &cond.not_contains {
        let items: Vec<&Val> = match &v.value {
            Value::List(items) => items.iter().collect(),
            _ => vec![v],
        };
        if items.iter().any(|i| !i.is_known()) {
            return None;
        }
        return Some(
            !items
                .iter()
                .any(|i| list.iter().any(|e| equal(e, i).unwrap_or(false))),
        );
    }
    if cond.at_least.is_some() || cond.at_most.is_some() {
        let n = v.as_f64()?;
        return Some(cond.at_least.is_none_or(|m| n >= m) && cond.at_most.is_none_or(|m| n <= m));
    }
    None
}
