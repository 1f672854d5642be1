#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `Policy::run_tests`: every `test_` rule of every package runs, and the report says
//! which passed, which failed and why.

use std::time::Duration;

use docket_policy::{Bundle, Limits, Policy, TestReport};

fn report(files: &[(&str, &str)], limits: Limits) -> TestReport {
    let mut bundle = Bundle::builtin();
    for (path, text) in files {
        bundle.add(*path, text.as_bytes().to_vec()).unwrap();
    }
    Policy::compile(&bundle, limits).run_tests()
}

/// `(package, name, passed, error)` of every case, in report order.
fn outcomes(report: &TestReport) -> Vec<(String, String, bool, Option<String>)> {
    report
        .cases
        .iter()
        .map(|c| (c.package.clone(), c.name.clone(), c.passed, c.error.clone()))
        .collect()
}

const RUN_TESTS: &str = r#"package docket.run_test

# test_in_a_comment is not a rule.
mentions := "test_in_a_string"

roles_input := {
	"schema": "docket.policy-input/v1",
	"roles_configured": true,
	"initiator": {"name": "dave", "id": "dave", "roles": [], "known": true},
	"config": {"budgets": {}},
}

test_an_initiator_without_the_role_is_denied if {
	"initiator dave does not have the initiator role" in data.docket.run.deny with input as roles_input
}

test_this_one_fails if {
	count(data.docket.run.deny) == 0 with input as roles_input
}

test_a_value_that_is_not_true := 3

test_an_error if 1 / count([]) == 1

test_helper(x) := x + 1

test_the_helper_is_not_a_test if test_helper(1) == 2

not_a_test if false
"#;

const LIB_TESTS: &str = r#"package lib.paths

prod(path) if startswith(path, "terraform/prod/")

test_prod if prod("terraform/prod/main.tf")
"#;

#[test]
fn passing_and_failing_tests_are_reported_by_package_and_name() {
    let report = report(
        &[
            ("repo/lib.rego", LIB_TESTS),
            ("repo/run_test.rego", RUN_TESTS),
        ],
        Limits::default(),
    );
    let got = outcomes(&report);
    let expected = vec![
        ("lib.paths", "test_prod", true, None),
        (
            "docket.run_test",
            "test_a_value_that_is_not_true",
            false,
            Some("evaluated to 3, expected true"),
        ),
        (
            "docket.run_test",
            "test_an_error",
            false,
            Some("repo/run_test.rego:"),
        ),
        (
            "docket.run_test",
            "test_an_initiator_without_the_role_is_denied",
            true,
            None,
        ),
        (
            "docket.run_test",
            "test_the_helper_is_not_a_test",
            true,
            None,
        ),
        (
            "docket.run_test",
            "test_this_one_fails",
            false,
            Some("undefined: a condition of the test did not hold"),
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((package, name, passed, error), (e_package, e_name, e_passed, e_error)) in
        got.iter().zip(&expected)
    {
        assert_eq!(
            (package.as_str(), name.as_str(), *passed),
            (*e_package, *e_name, *e_passed),
            "{got:#?}"
        );
        match (error, e_error) {
            (None, None) => {}
            (Some(error), Some(start)) => assert!(error.starts_with(start), "{name}: {error}"),
            _ => panic!("{name}: error {error:?}, expected {e_error:?}"),
        }
    }
    assert_eq!((report.passed, report.failed), (3, 3));
    // The division by zero is reported with its place and the interpreter's message.
    let error = got[2].3.as_deref().unwrap();
    assert!(error.ends_with("divide by zero"), "{error}");
}

#[test]
fn a_bundle_that_does_not_compile_fails_its_tests() {
    let report = report(
        &[("repo/broken.rego", "package x\n\ntest_a if {\n")],
        Limits::default(),
    );
    assert_eq!((report.passed, report.failed), (0, 1));
    let case = &report.cases[0];
    assert_eq!(
        (case.package.as_str(), case.name.as_str(), case.passed),
        ("", "compile", false)
    );
    assert!(
        case.error
            .as_deref()
            .unwrap()
            .starts_with("repo/broken.rego:"),
        "{case:?}"
    );
}

#[test]
fn a_test_that_runs_away_fails_at_the_time_limit() {
    let slow = "package slow\n\ntest_forever if {\n\tsome a in numbers.range(1, 100000)\n\tsome b in numbers.range(1, 100000)\n\ta * b < 0\n}\n";
    let limits = Limits {
        timeout: Duration::from_millis(20),
        ..Limits::default()
    };
    let report = report(&[("repo/slow.rego", slow)], limits);
    assert_eq!(
        outcomes(&report),
        vec![(
            "slow".to_owned(),
            "test_forever".to_owned(),
            false,
            Some("exceeded the time limit of 20 ms".to_owned())
        )]
    );
}

#[test]
fn the_builtin_bundle_has_no_tests_of_its_own() {
    let report = report(&[], Limits::default());
    assert!(report.cases.is_empty(), "{:?}", report.cases);
}
