//! SARIF 2.1.0 output, as GitHub code scanning and other SARIF viewers read it.
//!
//! [`to_sarif`] turns a [`ScanReport`] into one SARIF log with a single run:
//!
//! - `tool.driver.rules` holds one reporting descriptor per rule that has at
//!   least one finding in the report (not the whole catalog), in rule-id order;
//!   `result.ruleIndex` points into that array.
//! - Each finding is one result. Violations are `kind: "fail"` at the rule's
//!   level; findings that could not be judged are `kind: "review"` at level
//!   `"note"`. GitHub shows every result as an alert whatever its `kind`, so the
//!   low level is what keeps unknown findings from looking like failures there.
//! - Parse errors and workspace warnings become tool execution notifications of
//!   the single invocation; the scan still counts as successful.
//! - Artifact URIs are the workspace-relative paths of the findings, percent-
//!   encoded, relative to `%SRCROOT%` (the scanned workspace root, whose
//!   absolute location the log does not record).
//! - Columns are counted in Unicode code points, as the scanner counts them.
//!
//! The module only builds values: writing the log is up to the caller.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, References, Rule, Severity};
use crate::scan::{Finding, ScanReport, Status};
use crate::source::ParseError;

/// `$schema` of the log (the JSON Schema Store copy GitHub's docs use).
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";
pub const TOOL_NAME: &str = "docket";
pub const INFORMATION_URI: &str = "https://github.com/docket-dev/docket";
/// The URI base every artifact location is relative to: the workspace root.
pub const SRCROOT: &str = "%SRCROOT%";
/// Key of docket's fingerprint in `result.partialFingerprints`. The version
/// suffix changes if the fingerprint's recipe ever does.
pub const FINGERPRINT_KEY: &str = "docket/v1";
/// Notification descriptor of a file that could not be parsed.
pub const PARSE_ERROR_ID: &str = "parse-error";
/// Notification descriptor of a workspace warning (a module that could not be followed).
pub const WORKSPACE_WARNING_ID: &str = "workspace-warning";

/// SARIF level of a rule of this severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` score (a string holding a number from 0 to 10)
/// for a rule of this severity.
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.0",
        Severity::High => "7.5",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

/// The descriptor name of a rule id: `aws-s3-encryption` → `AwsS3Encryption`.
pub fn rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                let mut word = first.to_ascii_uppercase().to_string();
                word.push_str(chars.as_str());
                word
            })
        })
        .collect()
}

/// A workspace-relative file path as a relative URI reference: `/` separators,
/// no leading `./`, and every byte outside RFC 3986's unreserved characters,
/// sub-delimiters, `@` and `/` percent-encoded (so spaces, `%`, `:` and
/// non-ASCII names stay valid and unambiguous).
pub fn artifact_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@/".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `version` reads as Semantic Versioning 2.0 (`1.2.3`, `1.2.3-rc.1+abc`).
fn is_semver(version: &str) -> bool {
    let core_end = version.find(['-', '+']).unwrap_or(version.len());
    let (core, rest) = version.split_at(core_end);
    let numbers: Vec<&str> = core.split('.').collect();
    let core_ok = numbers.len() == 3
        && numbers.iter().all(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        });
    let idents_ok = |s: &str| {
        s.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let (pre, build) = match rest.split_once('+') {
        Some((pre, build)) => (pre, Some(build)),
        None => (rest, None),
    };
    let pre_ok = pre.is_empty() || pre.strip_prefix('-').is_some_and(idents_ok);
    core_ok && pre_ok && build.is_none_or(idents_ok)
}

/// What a rule descriptor is made of: a catalog rule, or (for a finding whose
/// rule the catalog does not know) what the finding itself carries.
struct RuleInfo<'a> {
    id: &'a str,
    title: &'a str,
    severity: Severity,
    rationale: &'a str,
    fix: Option<&'a str>,
    references: &'a References,
    provider: Option<&'a str>,
    category: Option<&'a str>,
}

impl<'a> RuleInfo<'a> {
    fn from_rule(rule: &'a Rule) -> RuleInfo<'a> {
        RuleInfo {
            id: &rule.id,
            title: &rule.title,
            severity: rule.severity,
            rationale: &rule.rationale,
            fix: rule.fix.as_ref().map(|f| f.description.as_str()),
            references: &rule.references,
            provider: Some(&rule.provider),
            category: Some(&rule.category),
        }
    }

    fn from_finding(f: &'a Finding) -> RuleInfo<'a> {
        RuleInfo {
            id: &f.rule_id,
            title: &f.title,
            severity: f.severity,
            rationale: "",
            fix: None,
            references: &f.references,
            provider: None,
            category: None,
        }
    }
}

/// The reference lines of a rule's help: (label, value) pairs.
fn reference_lines(refs: &References) -> Vec<(&'static str, &str)> {
    let mut lines = Vec::new();
    let groups: [(&'static str, &Vec<String>); 4] = [
        ("CIS", &refs.cis),
        ("AWS Foundational Security Best Practices", &refs.fsbp),
        ("Checkov", &refs.checkov),
        ("Trivy", &refs.trivy),
    ];
    for (label, values) in groups {
        lines.extend(values.iter().map(|v| (label, v.as_str())));
    }
    lines
}

fn is_absolute_uri(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !rest.is_empty()
            && !s.contains(char::is_whitespace)
    })
}

/// `help.text` and `help.markdown`: rationale, fix, references.
fn help(info: &RuleInfo<'_>) -> (String, String) {
    let rationale = info.rationale.trim();
    let rationale = if rationale.is_empty() {
        info.title
    } else {
        rationale
    };
    let mut text = rationale.to_owned();
    let mut markdown = rationale.to_owned();
    if let Some(fix) = info.fix.map(str::trim).filter(|f| !f.is_empty()) {
        text.push_str(&format!("\n\nFix (docket fix): {fix}"));
        markdown.push_str(&format!("\n\n**Fix** (`docket fix`): {fix}"));
    }
    let refs = reference_lines(info.references);
    let links = &info.references.links;
    if !refs.is_empty() || !links.is_empty() {
        text.push_str("\n\nReferences:");
        markdown.push_str("\n\n**References**\n");
        for (label, value) in &refs {
            text.push_str(&format!("\n- {label}: {value}"));
            markdown.push_str(&format!("\n- {label}: `{value}`"));
        }
        for link in links {
            text.push_str(&format!("\n- {link}"));
            if is_absolute_uri(link) {
                markdown.push_str(&format!("\n- <{link}>"));
            } else {
                markdown.push_str(&format!("\n- {link}"));
            }
        }
    }
    (text, markdown)
}

/// `properties.tags`: category, provider, and what kind of code was scanned;
/// distinct, as SARIF requires.
fn tags(info: &RuleInfo<'_>) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in [info.category, info.provider, Some("terraform"), Some("iac")]
        .into_iter()
        .flatten()
    {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

fn rule_descriptor(info: &RuleInfo<'_>) -> Value {
    let (help_text, help_markdown) = help(info);
    let rationale = info.rationale.trim();
    let full = if rationale.is_empty() {
        info.title
    } else {
        rationale
    };
    let mut d = Map::new();
    d.insert("id".into(), json!(info.id));
    d.insert("name".into(), json!(rule_name(info.id)));
    d.insert("shortDescription".into(), json!({ "text": info.title }));
    d.insert("fullDescription".into(), json!({ "text": full }));
    d.insert(
        "help".into(),
        json!({ "text": help_text, "markdown": help_markdown }),
    );
    if let Some(link) = info.references.links.iter().find(|l| is_absolute_uri(l)) {
        d.insert("helpUri".into(), json!(link));
    }
    d.insert(
        "defaultConfiguration".into(),
        json!({ "level": level(info.severity) }),
    );
    d.insert(
        "properties".into(),
        json!({
            "tags": tags(info),
            "security-severity": security_severity(info.severity),
            "severity": info.severity.as_str(),
        }),
    );
    Value::Object(d)
}

/// A SARIF region from 1-based positions, kept valid: lines and columns at
/// least 1 and the end not before the start.
fn region(line: usize, column: usize, end_line: usize, end_column: usize) -> Value {
    let start_line = line.max(1);
    let start_column = column.max(1);
    let end_line = end_line.max(start_line);
    let end_column = if end_line == start_line {
        end_column.max(start_column)
    } else {
        end_column.max(1)
    };
    json!({
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

fn artifact_location(path: &str) -> Value {
    json!({ "uri": artifact_uri(path), "uriBaseId": SRCROOT })
}

fn result(f: &Finding, rule_index: usize, rule_level: &str) -> Value {
    let (kind, level, text) = match f.status {
        Status::Violation => ("fail", rule_level, f.message.clone()),
        Status::Unknown => {
            let text = match &f.reason {
                Some(reason) => format!("{} (unknown: {reason})", f.message),
                None => format!("{} (unknown)", f.message),
            };
            ("review", "note", text)
        }
    };
    json!({
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact_location(&f.file),
                "region": region(f.line, f.column, f.end_line, f.end_column),
            },
            "logicalLocations": [{
                "name": f.address,
                "fullyQualifiedName": f.address,
                "kind": "resource",
            }],
        }],
        "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
        "properties": {
            "status": f.status.as_str(),
            "severity": f.severity.as_str(),
            "fixable": f.fixable,
        },
    })
}

fn parse_error_notification(e: &ParseError, descriptor_index: usize) -> Value {
    json!({
        "level": "error",
        "message": {
            "text": format!(
                "{}:{}:{}: cannot parse the file, so its resources were not scanned: {}",
                e.file, e.line, e.column, e.message
            ),
        },
        "descriptor": { "id": PARSE_ERROR_ID, "index": descriptor_index },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact_location(&e.file),
                "region": { "startLine": e.line.max(1), "startColumn": e.column.max(1) },
            },
        }],
    })
}

fn warning_notification(text: &str, descriptor_index: usize) -> Value {
    json!({
        "level": "warning",
        "message": { "text": text },
        "descriptor": { "id": WORKSPACE_WARNING_ID, "index": descriptor_index },
    })
}

/// The notification descriptors used by a report, with their indexes.
fn notification_descriptors(report: &ScanReport) -> (Vec<Value>, Option<usize>, Option<usize>) {
    let mut descriptors = Vec::new();
    let mut parse_error = None;
    let mut warning = None;
    if !report.errors.is_empty() {
        parse_error = Some(descriptors.len());
        descriptors.push(json!({
            "id": PARSE_ERROR_ID,
            "name": "ParseError",
            "shortDescription": { "text": "A Terraform file could not be parsed; its resources were not scanned." },
            "defaultConfiguration": { "level": "error" },
        }));
    }
    if !report.warnings.is_empty() {
        warning = Some(descriptors.len());
        descriptors.push(json!({
            "id": WORKSPACE_WARNING_ID,
            "name": "WorkspaceWarning",
            "shortDescription": { "text": "Part of the workspace (such as a local module) could not be followed." },
            "defaultConfiguration": { "level": "warning" },
        }));
    }
    (descriptors, parse_error, warning)
}

/// The SARIF 2.1.0 log of a scan. `tool_version` is docket's version; it is
/// also given as `semanticVersion` when it reads as one.
pub fn to_sarif(report: &ScanReport, catalog: &Catalog, tool_version: &str) -> Value {
    // One descriptor per rule with findings, in rule-id order; a finding whose
    // rule is not in the catalog describes its rule from what it carries.
    let mut infos: BTreeMap<&str, RuleInfo<'_>> = BTreeMap::new();
    for f in &report.findings {
        infos.entry(f.rule_id.as_str()).or_insert_with(|| {
            catalog
                .get(&f.rule_id)
                .map_or_else(|| RuleInfo::from_finding(f), RuleInfo::from_rule)
        });
    }
    let index: BTreeMap<&str, (usize, &'static str)> = infos
        .iter()
        .enumerate()
        .map(|(i, (id, info))| (*id, (i, level(info.severity))))
        .collect();
    let rules: Vec<Value> = infos.values().map(rule_descriptor).collect();

    let results: Vec<Value> = report
        .findings
        .iter()
        .filter_map(|f| {
            let (i, lvl) = index.get(f.rule_id.as_str())?;
            Some(result(f, *i, lvl))
        })
        .collect();

    let (notification_descriptors, parse_error_index, warning_index) =
        notification_descriptors(report);
    let mut notifications: Vec<Value> = Vec::new();
    if let Some(i) = parse_error_index {
        notifications.extend(report.errors.iter().map(|e| parse_error_notification(e, i)));
    }
    if let Some(i) = warning_index {
        notifications.extend(report.warnings.iter().map(|w| warning_notification(w, i)));
    }
    let mut invocation = Map::new();
    invocation.insert("executionSuccessful".into(), json!(true));
    if !notifications.is_empty() {
        invocation.insert(
            "toolExecutionNotifications".into(),
            Value::Array(notifications),
        );
    }

    let mut driver = Map::new();
    driver.insert("name".into(), json!(TOOL_NAME));
    driver.insert("informationUri".into(), json!(INFORMATION_URI));
    driver.insert("version".into(), json!(tool_version));
    if is_semver(tool_version) {
        driver.insert("semanticVersion".into(), json!(tool_version));
    }
    driver.insert("rules".into(), Value::Array(rules));
    if !notification_descriptors.is_empty() {
        driver.insert(
            "notifications".into(),
            Value::Array(notification_descriptors),
        );
    }

    json!({
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": { "driver": Value::Object(driver) },
            "invocations": [Value::Object(invocation)],
            "originalUriBaseIds": {
                SRCROOT: {
                    "description": {
                        "text": "The root of the scanned Terraform workspace; artifact URIs are relative to it.",
                    },
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_camel_case() {
        assert_eq!(
            rule_name("aws-rds-storage-encrypted"),
            "AwsRdsStorageEncrypted"
        );
        assert_eq!(
            rule_name("k8s-container-privileged"),
            "K8sContainerPrivileged"
        );
        assert_eq!(rule_name("gke--x_y"), "GkeXY");
    }

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(artifact_uri("./modules/db/main.tf"), "modules/db/main.tf");
        assert_eq!(artifact_uri("a dir\\x%.tf"), "a%20dir/x%25.tf");
        assert_eq!(artifact_uri("c:/main.tf"), "c%3A/main.tf");
        assert_eq!(artifact_uri("é.tf"), "%C3%A9.tf");
    }

    #[test]
    fn semver_is_recognised() {
        for ok in [
            "0.1.0",
            "1.20.3",
            "1.0.0-rc.1",
            "1.0.0+abc.5",
            "1.0.0-alpha-1+b",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0 (abc)",
            "v1.0.0",
            "1.0.0+",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn regions_stay_valid() {
        assert_eq!(
            region(0, 0, 0, 0),
            json!({"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1})
        );
        assert_eq!(
            region(3, 5, 2, 1),
            json!({"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 5})
        );
        assert_eq!(
            region(3, 5, 4, 2),
            json!({"startLine": 3, "startColumn": 5, "endLine": 4, "endColumn": 2})
        );
    }
}
