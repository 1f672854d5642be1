#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Decision cases as data: every folder of `tests/cases/` is one decision.
//!
//! - `input.json`: the input document; it must validate against the point's schema in
//!   `docs/policy/schemas/` unless `case.toml` says `valid_input = false`.
//! - `policies/*.rego`, `policies/*.json` (optional): a repository bundle, added as
//!   `.docket/policies/<file>` on top of the built-in bundle.
//! - `case.toml` (optional): `builtin = false` leaves the built-in bundle out;
//!   `policies_from = "<dir>"` reads the repository bundle from a folder of this
//!   repository instead (so the documented example policy is the tested one).
//! - `expected.json`: `point`, `verdict`, and for each of `deny`, `warn`, `approval`,
//!   `errors` optionally the exact list and/or `<list>_contains` (substrings that some
//!   message must contain). `errors` must be empty unless expected.
//!
//! One harness runs them all and reports every mismatch at once.

use std::path::{Path, PathBuf};

use boon::{Compiler, SchemaIndex, Schemas};
use docket_policy::{Bundle, Decision, Limits, Point, Policy};
use serde::Deserialize;
use serde_json::Value;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    #[serde(default = "yes")]
    builtin: bool,
    policies_from: Option<String>,
    #[serde(default = "yes")]
    valid_input: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    point: Point,
    verdict: docket_policy::Verdict,
    deny: Option<Vec<String>>,
    warn: Option<Vec<String>>,
    approval: Option<Vec<String>>,
    errors: Option<Vec<String>>,
    #[serde(default)]
    deny_contains: Vec<String>,
    #[serde(default)]
    warn_contains: Vec<String>,
    #[serde(default)]
    approval_contains: Vec<String>,
    #[serde(default)]
    errors_contains: Vec<String>,
}

/// The four input schemas, compiled once.
struct InputSchemas {
    schemas: Schemas,
    by_point: Vec<(Point, SchemaIndex)>,
}

impl InputSchemas {
    fn load() -> InputSchemas {
        let mut compiler = Compiler::new();
        compiler.enable_format_assertions();
        let mut schemas = Schemas::new();
        let mut by_point = Vec::new();
        for point in Point::ALL {
            let path =
                repository_root().join(format!("docs/policy/schemas/{point}.v1.schema.json"));
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let id = schema["$id"].as_str().unwrap().to_owned();
            compiler.add_resource(&id, schema).unwrap();
            by_point.push((point, compiler.compile(&id, &mut schemas).unwrap()));
        }
        InputSchemas { schemas, by_point }
    }

    fn check(&self, point: Point, input: &Value) -> Result<(), String> {
        let (_, index) = self.by_point.iter().find(|(p, _)| *p == point).unwrap();
        self.schemas
            .validate(input, *index)
            .map_err(|e| format!("{e:#}"))
    }
}

fn read_policies(dir: &Path, bundle: &mut Bundle) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        bundle
            .add(
                format!(".docket/policies/{name}"),
                std::fs::read(&file).unwrap(),
            )
            .unwrap();
    }
}

fn check_list(
    problems: &mut Vec<String>,
    what: &str,
    actual: &[String],
    exact: &Option<Vec<String>>,
    contains: &[String],
) {
    if let Some(exact) = exact
        && actual != exact.as_slice()
    {
        problems.push(format!("{what}: expected {exact:#?}\n  got {actual:#?}"));
    }
    for needle in contains {
        if !actual.iter().any(|m| m.contains(needle.as_str())) {
            problems.push(format!(
                "{what}: no message contains {needle:?}; got {actual:#?}"
            ));
        }
    }
}

fn run_case(dir: &Path, schemas: &InputSchemas) -> Result<Decision, String> {
    let case: CaseToml = match std::fs::read_to_string(dir.join("case.toml")) {
        Ok(text) => toml::from_str(&text).unwrap(),
        Err(_) => CaseToml {
            builtin: true,
            policies_from: None,
            valid_input: true,
        },
    };
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("input.json")).unwrap()).unwrap();

    let mut problems = Vec::new();
    match schemas.check(expected.point, &input) {
        Ok(()) if !case.valid_input => {
            problems.push("input.json is valid; drop `valid_input = false`".into())
        }
        Err(e) if case.valid_input => problems.push(format!(
            "input.json does not match the {} schema: {e}",
            expected.point
        )),
        _ => {}
    }

    let mut bundle = if case.builtin {
        Bundle::builtin()
    } else {
        Bundle::empty()
    };
    if let Some(from) = &case.policies_from {
        read_policies(&repository_root().join(from), &mut bundle);
    }
    if dir.join("policies").is_dir() {
        read_policies(&dir.join("policies"), &mut bundle);
    }
    let policy = Policy::compile(&bundle, Limits::default());
    let decision = policy.decide(expected.point, &input);

    if decision.point != expected.point {
        problems.push(format!("point: {:?}", decision.point));
    }
    if decision.verdict != expected.verdict {
        problems.push(format!(
            "verdict: expected {:?}, got {:?}",
            expected.verdict, decision.verdict
        ));
    }
    check_list(
        &mut problems,
        "deny",
        &decision.deny,
        &expected.deny,
        &expected.deny_contains,
    );
    check_list(
        &mut problems,
        "warn",
        &decision.warn,
        &expected.warn,
        &expected.warn_contains,
    );
    check_list(
        &mut problems,
        "approval",
        &decision.approval,
        &expected.approval,
        &expected.approval_contains,
    );
    let no_errors = Some(Vec::new());
    let errors = if expected.errors.is_none() && expected.errors_contains.is_empty() {
        &no_errors
    } else {
        &expected.errors
    };
    check_list(
        &mut problems,
        "errors",
        &decision.errors,
        errors,
        &expected.errors_contains,
    );
    if problems.is_empty() {
        Ok(decision)
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn every_case_decides_as_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "only {} cases found under {}",
        dirs.len(),
        root.display()
    );

    let schemas = InputSchemas::load();
    let mut failures = Vec::new();
    let mut verdicts = std::collections::BTreeMap::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match run_case(dir, &schemas) {
            Ok(decision) => {
                *verdicts
                    .entry((decision.point, format!("{:?}", decision.verdict)))
                    .or_insert(0) += 1;
            }
            Err(problems) => failures.push(format!("── {name}\n{problems}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n\n")
    );

    // The corpus exercises both outcomes at every point, and approval at publish.
    for point in Point::ALL {
        for verdict in ["Allow", "Deny"] {
            assert!(
                verdicts.contains_key(&(point, verdict.to_owned())),
                "no case where {point} ends in {verdict}"
            );
        }
    }
    assert!(verdicts.contains_key(&(Point::Publish, "ApprovalRequired".to_owned())));
}
