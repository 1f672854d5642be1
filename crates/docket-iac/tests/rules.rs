#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The rule catalog's own test data: every rule folder holds cases of an input
//! workspace, the findings expected on it, and the workspace expected after
//! `fix`. One harness walks them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use docket_iac::catalog::Catalog;
use docket_iac::fix::{FixRequest, fix};
use docket_iac::model::Workspace;
use docket_iac::scan::{ScanOptions, Status, scan};
use docket_iac::source::SourceSet;
use serde_json::Value as Json;

mod support;
use support::{case_dirs, case_params, read_tree};

fn check_case(id: &str, case: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let name = format!("{id}/{}", case.file_name().unwrap().to_string_lossy());
    let input = read_tree(&case.join("input"));
    if input.is_empty() {
        return vec![format!("{name}: input/ has no .tf files")];
    }
    let params: BTreeMap<String, Json> = case_params(case);
    let catalog = Catalog::builtin().unwrap();
    let rules: BTreeSet<String> = [id.to_owned()].into();
    let all_params: BTreeMap<String, BTreeMap<String, Json>> =
        [(id.to_owned(), params.clone())].into();
    let opts = ScanOptions {
        rules: rules.clone(),
        min_severity: None,
        params: all_params.clone(),
    };
    let ws = Workspace::load(&input);
    if !ws.errors.is_empty() {
        failures.push(format!("{name}: input does not parse: {:?}", ws.errors));
    }
    let report = scan(&ws, catalog, &opts);
    let mut got: Vec<Json> = report
        .findings
        .iter()
        .map(|f| serde_json::json!({"address": f.address, "status": f.status.as_str(), "file": f.file, "line": f.line}))
        .collect();
    let mut want: Vec<Json> =
        serde_json::from_str(&std::fs::read_to_string(case.join("findings.json")).unwrap())
            .unwrap();
    let key = |v: &Json| v.to_string();
    got.sort_by_key(key);
    want.sort_by_key(key);
    if got != want {
        failures.push(format!(
            "{name}: findings differ\n  want {}\n  got  {}\n  messages: {:?}",
            Json::Array(want),
            Json::Array(got),
            report
                .findings
                .iter()
                .map(|f| (&f.message, &f.reason))
                .collect::<Vec<_>>()
        ));
    }
    let req = FixRequest {
        rules,
        params: all_params,
        ..FixRequest::default()
    };
    let outcome = fix(&input, catalog, &req);
    let mut fixed = input.clone();
    for (path, text) in &outcome.changed {
        fixed.insert(path.clone(), text.clone());
    }
    let expected_dir = case.join("expected");
    if expected_dir.is_dir() {
        let expected = read_tree(&expected_dir);
        if expected != fixed {
            for (path, want) in expected.iter() {
                let got = fixed.get(path).unwrap_or("<missing>");
                if got != want {
                    failures.push(format!(
                        "{name}: {path} after fix differs\n--- want\n{want}\n--- got\n{got}\n--- skipped {:?}",
                        outcome.skipped
                    ));
                }
            }
        }
        let ws = Workspace::load(&fixed);
        if !ws.errors.is_empty() {
            failures.push(format!("{name}: fixed files do not parse: {:?}", ws.errors));
        }
        let after = scan(&ws, catalog, &opts);
        if after.findings.iter().any(|f| f.status == Status::Violation) {
            failures.push(format!(
                "{name}: violations remain after fix: {:?}",
                after.findings
            ));
        }
        let again = fix(&fixed, catalog, &req);
        if again.changed_anything() {
            failures.push(format!(
                "{name}: a second fix changed files again: {:?}",
                again.changed
            ));
        }
    } else if outcome.changed_anything() {
        failures.push(format!(
            "{name}: fix changed files but the case has no expected/: {:?}",
            outcome.changed
        ));
    }
    failures
}

#[test]
fn every_rule_passes_its_own_cases() {
    let catalog = Catalog::builtin().unwrap();
    let mut cases = 0;
    let mut failures = Vec::new();
    for rule in catalog.rules() {
        let entries = case_dirs(&rule.id);
        assert!(
            entries.len() >= 2,
            "rule {} has fewer than two test cases",
            rule.id
        );
        for case in entries {
            cases += 1;
            failures.extend(check_case(&rule.id, &case));
        }
    }
    assert!(
        catalog.rules().len() >= 40,
        "the catalog has {} rules",
        catalog.rules().len()
    );
    assert!(cases >= 80, "only {cases} rule cases were found");
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A tree scanned one independent part at a time reports exactly what one big
/// workspace does: every rule case's input, side by side in one tree, scanned
/// both ways with every rule.
#[test]
fn scanning_in_parts_matches_one_workspace() {
    let catalog = Catalog::builtin().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut all = SourceSet::new();
    for rule in catalog.rules() {
        let tests = root.join(&rule.id).join("tests");
        for case in std::fs::read_dir(&tests).unwrap() {
            let case = case.unwrap().path();
            let prefix = format!(
                "{}/{}",
                rule.id,
                case.file_name().unwrap().to_string_lossy()
            );
            for (path, text) in read_tree(&case.join("input")).iter() {
                all.insert(format!("{prefix}/{path}"), text);
            }
        }
    }
    let parts = all.clone().into_parts();
    assert!(parts.len() > 100, "only {} parts", parts.len());
    assert!(
        parts.iter().any(|p| {
            let dirs: BTreeSet<&str> = p
                .iter()
                .map(|(f, _)| docket_iac::source::dir_of(f))
                .collect();
            dirs.len() > 1
        }),
        "no part joins a module to its caller"
    );
    let opts = ScanOptions::default();
    let ws = Workspace::load(&all);
    let whole = scan(&ws, catalog, &opts);
    let split = docket_iac::scan::scan_sources(all, catalog, &opts);
    assert!(
        whole.findings.len() > 100,
        "{} findings",
        whole.findings.len()
    );
    assert_eq!(
        serde_json::to_value(&whole).unwrap(),
        serde_json::to_value(&split).unwrap()
    );
}
