#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The documentation's examples are tested: every example input validates against its
//! point's JSON Schema and the built-in bundle decides it as stated; the example
//! repository policy passes its own tests; docs/policy.md quotes it verbatim.

use std::path::{Path, PathBuf};

use boon::{Compiler, Schemas};
use docket_policy::{Bundle, Limits, Point, Policy, Verdict};
use serde_json::Value;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The verdict each example is documented to get from the built-in bundle, and its
/// warnings.
fn stated(point: Point) -> (Verdict, Vec<&'static str>) {
    match point {
        Point::Publish => (
            Verdict::Allow,
            vec![
                "rule max-lines failed but passes by exception granted by carol@example.com (the variables file gains a documented list) until 2026-03-09T00:00:00Z",
            ],
        ),
        Point::Intake | Point::Run | Point::Approve => (Verdict::Allow, vec![]),
    }
}

#[test]
fn every_example_matches_its_schema_and_gets_its_stated_verdict() {
    let policy = Policy::compile(&Bundle::builtin(), Limits::default());
    assert_eq!(policy.compile_errors(), [] as [String; 0]);
    for point in Point::ALL {
        let schema = read_json(&docs().join(format!("policy/schemas/{point}.v1.schema.json")));
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let id = schema["$id"].as_str().unwrap().to_owned();
        let mut compiler = Compiler::new();
        compiler.enable_format_assertions();
        compiler.add_resource(&id, schema).unwrap();
        let mut schemas = Schemas::new();
        let index = compiler.compile(&id, &mut schemas).unwrap();

        let example = read_json(&docs().join(format!("policy/examples/{point}.json")));
        if let Err(e) = schemas.validate(&example, index) {
            panic!("docs/policy/examples/{point}.json: {e:#}");
        }
        assert_eq!(example["point"], point.as_str());
        assert_eq!(example["schema"], docket_policy::INPUT_SCHEMA);

        // A schema that accepts anything would prove nothing: a missing field fails.
        let mut broken = example.clone();
        broken.as_object_mut().unwrap().remove("config");
        assert!(
            schemas.validate(&broken, index).is_err(),
            "{point}: config is required"
        );

        let decision = policy.decide(point, &example);
        let (verdict, warn) = stated(point);
        assert_eq!(
            (
                decision.verdict,
                decision.warn.clone(),
                decision.errors.clone(),
                decision.deny.clone()
            ),
            (
                verdict,
                warn.iter().map(|w| (*w).to_owned()).collect(),
                vec![],
                vec![]
            ),
            "{point}"
        );
    }
}

fn example_policies() -> Vec<(String, String)> {
    let dir = docs().join("policy/examples/policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_example_repository_policy_passes_its_tests() {
    let mut bundle = Bundle::builtin();
    for (name, text) in example_policies() {
        bundle
            .add(format!(".docket/policies/{name}"), text.into_bytes())
            .unwrap();
    }
    let policy = Policy::compile(&bundle, Limits::default());
    assert_eq!(policy.compile_errors(), [] as [String; 0]);
    let report = policy.run_tests();
    let failed: Vec<_> = report.cases.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(report.passed, 4, "{:#?}", report.cases);
}

#[test]
fn the_guide_quotes_the_example_policy_verbatim() {
    let guide = std::fs::read_to_string(docs().join("policy.md")).unwrap();
    for (name, text) in example_policies() {
        assert!(
            guide.contains(&text),
            "docs/policy.md does not quote docs/policy/examples/policies/{name} verbatim"
        );
    }
}
