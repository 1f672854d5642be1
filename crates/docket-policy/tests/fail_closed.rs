#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fail closed: a truth table of every way a decision can go wrong, each row with the
//! verdict and the exact reason it gives. Every way but "all good" denies.

use std::time::Duration;

use docket_policy::{Bundle, Decision, Limits, Point, Policy, Verdict, canonical_input};
use serde_json::{Value, json};

/// A bundle of repository policies (no built-in ones) from `(file, text)` pairs.
fn bundle(files: &[(&str, &str)]) -> Bundle {
    let mut b = Bundle::empty();
    for (path, text) in files {
        b.add(format!(".docket/policies/{path}"), text.as_bytes().to_vec())
            .unwrap();
    }
    b
}

fn input() -> Value {
    json!({"schema": "docket.policy-input/v1", "point": "run", "zero": 0, "ok": true})
}

const GOOD: &str = r#"package docket.run

default allow := false

allow if input.ok == true

deny contains "not ok" if input.ok == false

warn contains "a warning never changes the verdict" if true
"#;

struct Row {
    name: &'static str,
    bundle: Bundle,
    limits: Limits,
    point: Point,
    input: Value,
    verdict: Verdict,
    /// Exact errors, or (when `errors_prefix` is set) their expected start.
    errors: Vec<&'static str>,
    errors_prefix: bool,
    deny: Vec<&'static str>,
}

fn row(name: &'static str, bundle: Bundle) -> Row {
    Row {
        name,
        bundle,
        limits: Limits::default(),
        point: Point::Run,
        input: input(),
        verdict: Verdict::Deny,
        errors: vec![],
        errors_prefix: false,
        deny: vec![],
    }
}

fn check(row: &Row, decision: &Decision) -> Vec<String> {
    let mut problems = Vec::new();
    if decision.verdict != row.verdict {
        problems.push(format!(
            "verdict {:?}, expected {:?}",
            decision.verdict, row.verdict
        ));
    }
    let errors_match = if row.errors_prefix {
        decision.errors.len() == row.errors.len()
            && decision
                .errors
                .iter()
                .zip(&row.errors)
                .all(|(e, p)| e.starts_with(p))
    } else {
        decision.errors == row.errors
    };
    if !errors_match {
        problems.push(format!(
            "errors {:#?}, expected {:#?}",
            decision.errors, row.errors
        ));
    }
    if decision.deny != row.deny {
        problems.push(format!(
            "deny {:#?}, expected {:#?}",
            decision.deny, row.deny
        ));
    }
    if decision.verdict != Verdict::Allow {
        assert!(!decision.allowed());
        assert!(!decision.reasons().is_empty() || decision.verdict == Verdict::ApprovalRequired);
    }
    problems
}

#[test]
fn truth_table() {
    let mut rows = Vec::new();

    let mut r = row(
        "compile error",
        bundle(&[
            ("good.rego", GOOD),
            (
                "bad.rego",
                "package docket.run\n\nallow if {\n  input.ok ==\n}\n",
            ),
        ]),
    );
    r.errors = vec![".docket/policies/bad.rego:5:1: expecting expression"];
    rows.push(r);

    let mut r = row(
        "rego v0 syntax is a compile error",
        bundle(&[("old.rego", "package docket.run\n\nallow { true }\n")]),
    );
    r.errors = vec![".docket/policies/old.rego:3:7: `if` keyword is required before rule body"];
    rows.push(r);

    let wide = format!(
        "package docket.run\n\ndeny contains \"{}\" if false\n",
        "x".repeat(1100)
    );
    let mut r = row(
        "a policy line over 1024 columns",
        bundle(&[("wide.rego", Box::leak(wide.into_boxed_str()))]),
    );
    r.errors = vec![".docket/policies/wide.rego:3:16: line exceeds maximum column width of 1024"];
    rows.push(r);

    let mut r = row("empty bundle", Bundle::empty());
    r.errors = vec!["the policy bundle is empty"];
    rows.push(r);

    let mut r = row(
        "data but no policy",
        bundle(&[("teams.json", r#"{"teams": []}"#)]),
    );
    r.errors = vec!["the policy bundle is empty"];
    rows.push(r);

    let mut r = row(
        "no package for the point",
        bundle(&[(
            "intake.rego",
            "package docket.intake\n\ndeny contains \"no\" if false\n",
        )]),
    );
    r.errors =
        vec!["no policy decides the run point (package docket.run defines neither allow nor deny)"];
    rows.push(r);

    let mut r = row(
        "the package only warns",
        bundle(&[(
            "run.rego",
            "package docket.run\n\nwarn contains \"careful\" if true\n",
        )]),
    );
    r.errors =
        vec!["no policy decides the run point (package docket.run defines neither allow nor deny)"];
    rows.push(r);

    let mut r = row(
        "runtime error: division by zero",
        bundle(&[(
            "div.rego",
            "package docket.run\n\ndeny contains \"never\" if 1 / input.zero == 2\n",
        )]),
    );
    r.errors = vec![
        "evaluating data.docket.run.deny failed: .docket/policies/div.rego:3:28: divide by zero",
    ];
    rows.push(r);

    let mut r = row(
        "runtime error: a complete rule with two values",
        bundle(&[(
            "conflict.rego",
            "package docket.run\n\nallow := true if input.ok\n\nallow := false if input.ok\n",
        )]),
    );
    r.errors = vec!["evaluating data.docket.run.allow failed: .docket/policies/conflict.rego:"];
    r.errors_prefix = true;
    rows.push(r);

    let mut r = row(
        "runtime error: a builtin error is not undefined",
        bundle(&[(
            "n.rego",
            "package docket.run\n\ndeny contains \"no\" if to_number(\"ten\") > 5\n",
        )]),
    );
    r.errors = vec!["evaluating data.docket.run.deny failed: .docket/policies/n.rego:"];
    r.errors_prefix = true;
    rows.push(r);

    let mut r = row(
        "time limit",
        bundle(&[(
            "loop.rego",
            "package docket.run\n\ndeny contains \"unreachable\" if {\n\tsome a in numbers.range(1, 100000)\n\tsome b in numbers.range(1, 100000)\n\ta * b < 0\n}\n",
        )]),
    );
    r.limits.timeout = Duration::from_millis(50);
    r.errors = vec!["evaluation exceeded the time limit of 50 ms"];
    rows.push(r);

    let mut r = row("input over the size limit", bundle(&[("good.rego", GOOD)]));
    r.limits.max_input_bytes = 64;
    r.input = json!({"schema": "docket.policy-input/v1", "padding": "x".repeat(100)});
    r.errors = vec!["the input is 148 bytes, over the limit of 64 bytes"];
    rows.push(r);

    let mut r = row(
        "one builtin call over the memory limit",
        bundle(&[(
            "big.rego",
            "package docket.run\n\ndeny contains \"big\" if count(numbers.range(1, 1000000000)) > 0\n",
        )]),
    );
    r.errors = vec![
        "evaluating data.docket.run.deny failed: .docket/policies/big.rego:3:43: numbers.range would build 1000000000 elements (at least ",
    ];
    r.errors_prefix = true;
    rows.push(r);

    let mut r = row(
        "bundle over the memory limit",
        bundle(&[("good.rego", GOOD)]),
    );
    r.limits.memory_bytes = Some(100);
    r.errors = vec![Box::leak(
        format!(
            "the policy bundle is {} bytes, over the memory limit of 100 bytes",
            GOOD.len()
        )
        .into_boxed_str(),
    )];
    rows.push(r);

    let mut r = row(
        "the clock is not an input",
        bundle(&[(
            "now.rego",
            "package docket.run\n\ndeny contains \"late\" if time.now_ns() > 0\n",
        )]),
    );
    r.errors = vec![
        "evaluating data.docket.run.deny failed: .docket/policies/now.rego:3:36: time.now_ns is disabled: a decision must be replayable from its bundle and input; use input.time",
    ];
    rows.push(r);

    let mut r = row(
        "deny messages of the wrong shape",
        bundle(&[("shape.rego", "package docket.run\n\ndeny := 3\n")]),
    );
    r.errors = vec!["deny at the run point must be a set of messages, not 3"];
    rows.push(r);

    let mut r = row(
        "approval asked for where nothing can wait for it",
        bundle(&[(
            "ask.rego",
            "package docket.run\n\ndeny contains \"no\" if false\n\napproval_required contains \"a second pair of eyes\" if true\n",
        )]),
    );
    r.errors = vec![
        "approval_required is not empty at the run point, but only the publish point can wait for approvals",
    ];
    rows.push(r);

    let mut r = row("allow is false", bundle(&[("good.rego", GOOD)]));
    r.input = json!({"ok": "yes"});
    r.deny = vec!["allow is not true at the run point"];
    rows.push(r);

    let mut r = row(
        "allow is undefined (no default)",
        bundle(&[(
            "strict.rego",
            "package docket.run\n\nallow if input.ok == true\n",
        )]),
    );
    r.input = json!({});
    r.deny = vec!["allow is not true at the run point"];
    rows.push(r);

    let mut r = row("deny present", bundle(&[("good.rego", GOOD)]));
    r.input = json!({"ok": false});
    r.deny = vec!["allow is not true at the run point", "not ok"];
    rows.push(r);

    let mut r = row(
        "deny present although allow is true",
        bundle(&[(
            "both.rego",
            "package docket.run\n\nallow := true\n\ndeny contains \"no\" if true\n",
        )]),
    );
    r.deny = vec!["no"];
    rows.push(r);

    let mut r = row("all good", bundle(&[("good.rego", GOOD)]));
    r.verdict = Verdict::Allow;
    rows.push(r);

    let mut r = row(
        "all good: deny only, nothing denied",
        bundle(&[(
            "deny.rego",
            "package docket.run\n\ndeny contains \"no\" if input.ok == false\n",
        )]),
    );
    r.verdict = Verdict::Allow;
    rows.push(r);

    let mut failures = Vec::new();
    for row in &rows {
        let policy = Policy::compile(&row.bundle, row.limits.clone());
        let decision = policy.decide(row.point, &row.input);
        let problems = check(row, &decision);
        if !problems.is_empty() {
            failures.push(format!("── {}\n{}", row.name, problems.join("\n")));
        }
        // Every decision names what it was made from.
        assert_eq!(decision.bundle_digest, row.bundle.digest(), "{}", row.name);
        assert!(decision.input_digest.starts_with("sha256:"), "{}", row.name);
        assert_eq!(decision.point, row.point);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_time_limit_stops_the_evaluation_instead_of_waiting_for_it() {
    // The loop takes minutes; the decision must come back soon after the limit.
    let b = bundle(&[(
        "loop.rego",
        "package docket.run\n\ndeny contains \"unreachable\" if {\n\tsome a in numbers.range(1, 100000)\n\tsome b in numbers.range(1, 100000)\n\ta * b < 0\n}\n",
    )]);
    let limits = Limits {
        timeout: Duration::from_millis(20),
        ..Limits::default()
    };
    let decision = Policy::compile(&b, limits).decide(Point::Run, &json!({}));
    assert_eq!(
        decision.errors,
        ["evaluation exceeded the time limit of 20 ms"]
    );
    assert!(
        decision.elapsed_us < 2_000_000,
        "took {} µs",
        decision.elapsed_us
    );
}

#[test]
fn warnings_never_change_the_verdict() {
    let policy = Policy::compile(&bundle(&[("good.rego", GOOD)]), Limits::default());
    let allowed = policy.decide(Point::Run, &json!({"ok": true}));
    assert_eq!(allowed.verdict, Verdict::Allow);
    assert_eq!(allowed.warn, ["a warning never changes the verdict"]);
    let denied = policy.decide(Point::Run, &json!({"ok": false}));
    assert_eq!(denied.verdict, Verdict::Deny);
    assert_eq!(denied.warn, ["a warning never changes the verdict"]);
}

#[test]
fn the_input_digest_is_over_the_canonical_bytes() {
    let policy = Policy::compile(&bundle(&[("good.rego", GOOD)]), Limits::default());
    let input = json!({"ok": true, "b": [1, 2.5, "é"], "a": null});
    let text = canonical_input(&input).unwrap();
    assert_eq!(text, r#"{"a":null,"b":[1,2.5,"é"],"ok":true}"#);
    let by_value = policy.decide(Point::Run, &input);
    let by_text = policy.decide_canonical(Point::Run, &text);
    assert_eq!(by_value.input_digest, by_text.input_digest);
    // sha256 of the canonical bytes above, computed independently (`printf %s ... | sha256sum`).
    assert_eq!(
        by_value.input_digest,
        "sha256:dfd9f4b45c1f5ec5d0ae0cd7783d3f894810719249584f8a5718b5591b164b50"
    );
}

#[test]
fn decisions_do_not_leak_into_each_other() {
    // The same compiled policy, alternating inputs: each decision sees only its own.
    let policy = Policy::compile(&bundle(&[("good.rego", GOOD)]), Limits::default());
    for _ in 0..3 {
        assert_eq!(
            policy.decide(Point::Run, &json!({"ok": false})).verdict,
            Verdict::Deny
        );
        assert_eq!(
            policy.decide(Point::Run, &json!({"ok": true})).verdict,
            Verdict::Allow
        );
    }
}
