//! Reading a plan out of a model's answer, strictly, and the errors it gives.

use std::collections::BTreeMap;

use docket_iac::plan::{PLAN_SCHEMA, Plan, PlanAnswerError, PlanItem, parse_plan_answer};

const GOOD: &str = r#"{"schema": "docket.iac-plan/v1", "items": [{"rule": "aws-rds-multi-az", "targets": ["aws_db_instance.orders"], "because": "Enable Multi-AZ"}]}"#;

fn good_plan() -> Plan {
    Plan {
        schema: PLAN_SCHEMA.into(),
        ticket_digest: String::new(),
        identifiers: Vec::new(),
        items: vec![PlanItem {
            rule: "aws-rds-multi-az".into(),
            targets: vec!["aws_db_instance.orders".into()],
            params: BTreeMap::new(),
            because: "Enable Multi-AZ".into(),
        }],
        needs_human: Vec::new(),
    }
}

#[test]
fn plans_are_found_in_answers_and_read_strictly() {
    let fenced = format!("Here is the plan:\n\n```json\n{GOOD}\n```\n\nLet me know.");
    let braces = GOOD.replace("Enable Multi-AZ", "Enable {Multi-AZ} } \\\" {");
    let with_braces = {
        let mut p = good_plan();
        p.items[0].because = "Enable {Multi-AZ} } \" {".into();
        p
    };
    let cases: Vec<(&str, String, Result<Plan, PlanAnswerError>)> = vec![
        ("bare object", GOOD.into(), Ok(good_plan())),
        ("json fence with prose", fenced.clone(), Ok(good_plan())),
        (
            "JSON fence in capitals, tildes",
            format!("~~~JSON\n{GOOD}\n~~~\n"),
            Ok(good_plan()),
        ),
        ("untagged fence", format!("```\n{GOOD}\n```"), Ok(good_plan())),
        (
            "prose around a bare object",
            format!("The plan is {GOOD} and that is all."),
            Ok(good_plan()),
        ),
        (
            "the json fence wins over other fences",
            format!("```hcl\nresource \"a\" \"b\" {{}}\n```\n\n```json\n{GOOD}\n```\n"),
            Ok(good_plan()),
        ),
        (
            "braces and quotes inside strings",
            format!("Plan: {braces} Done."),
            Ok(with_braces),
        ),
        (
            "no JSON at all",
            "I cannot plan this ticket.".into(),
            Err(PlanAnswerError::NoJson),
        ),
        (
            "two json blocks",
            format!("```json\n{GOOD}\n```\nor\n```json\n{GOOD}\n```"),
            Err(PlanAnswerError::SeveralJson { count: 2 }),
        ),
        (
            "invalid JSON, position in the whole answer",
            "Plan:\n```json\n{\"schema\": \"docket.iac-plan/v1\",\n  \"items\": [,]\n}\n```".into(),
            Err(PlanAnswerError::NotJson {
                line: 4,
                column: 13,
                message: "expected value".into(),
            }),
        ),
        (
            "cut off",
            "```json\n{\"schema\": \"docket.iac-plan/v1\", \"items\": [".into(),
            Err(PlanAnswerError::NotJson {
                line: 2,
                column: 43,
                message: "EOF while parsing a list".into(),
            }),
        ),
        (
            "not an object",
            "```json\n[1, 2]\n```".into(),
            Err(PlanAnswerError::NotAnObject { found: "an array" }),
        ),
        (
            "no schema",
            r#"{"items": []}"#.into(),
            Err(PlanAnswerError::MissingSchema),
        ),
        (
            "wrong schema",
            r#"{"schema": "docket.iac-plan/v2", "items": []}"#.into(),
            Err(PlanAnswerError::WrongSchema {
                found: "\"docket.iac-plan/v2\"".into(),
            }),
        ),
        (
            "unknown top-level field",
            r#"{"schema": "docket.iac-plan/v1", "items": [], "confidence": 0.9}"#.into(),
            Err(PlanAnswerError::UnknownField {
                field: "confidence".into(),
                at: "the plan".into(),
                allowed: "schema, ticket_digest, identifiers, items, needs_human".into(),
            }),
        ),
        (
            "unknown item field",
            r#"{"schema": "docket.iac-plan/v1", "items": [{"rule": "r", "target": ["a.b"], "because": "x"}]}"#
                .into(),
            Err(PlanAnswerError::UnknownField {
                field: "target".into(),
                at: "items[0]".into(),
                allowed: "rule, targets, params, because".into(),
            }),
        ),
        (
            "wrong type",
            "{\"schema\": \"docket.iac-plan/v1\",\n \"items\": [{\"rule\": \"r\", \"targets\": \"a.b\", \"because\": \"x\"}]}"
                .into(),
            Err(PlanAnswerError::Shape {
                line: 2,
                column: 41,
                message: "invalid type: string \"a.b\", expected a sequence".into(),
            }),
        ),
        (
            "missing items",
            r#"{"schema": "docket.iac-plan/v1"}"#.into(),
            Err(PlanAnswerError::Shape {
                line: 1,
                column: 32,
                message: "missing field `items`".into(),
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (name, answer, want) in cases {
        let got = parse_plan_answer(&answer);
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A model need not fill what docket can: digest, identifiers, needs_human, params.
    let plan = parse_plan_answer(&fenced).unwrap();
    assert_eq!(plan.ticket_digest, "");
    assert!(plan.identifiers.is_empty() && plan.needs_human.is_empty());
    assert!(plan.items[0].params.is_empty());
}

#[test]
fn answer_errors_read_as_one_sentence() {
    let cases = [
        (
            "no plan here",
            "the answer holds no JSON plan; answer with one JSON object (schema \"docket.iac-plan/v1\") in a ```json block",
        ),
        (
            r#"{"schema": "docket.iac-plan/v1", "items": [{"rule": "r", "target": [], "because": "x"}]}"#,
            "the plan has an unknown field \"target\" in items[0]; the fields there are rule, targets, params, because",
        ),
        (
            r#"{"schema": "v0", "items": []}"#,
            "the plan's schema is \"v0\", but docket reads \"docket.iac-plan/v1\"; write that value",
        ),
    ];
    for (answer, want) in cases {
        assert_eq!(parse_plan_answer(answer).unwrap_err().to_string(), want);
    }
}
