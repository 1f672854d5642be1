//! Validation scripts: a required failure blocks, an advisory one publishes, and the
//! repair loop fixes a failed validation on the next attempt.

use serde_json::{Value, json};

use crate::governed::*;

use super::{reasons, run_id, status};

#[test]
fn required_validation_failure_blocks_and_advisory_failure_publishes() {
    let tickets = [("say-bad", task("idempotent", "notes/status.txt", "BAD"))];
    let tickets: Vec<(&str, &str)> = tickets.iter().map(|(i, b)| (*i, b.as_str())).collect();
    let required = Governed::new(
        &[
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &tickets,
    );
    let (run, record) = required.run_json("say-bad");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["validation failed: `.docket/check.sh` exited with 1"]
    );
    assert_eq!(record["validation_mode"], "required");
    assert_eq!(record["validation"].as_array().unwrap().len(), 1);
    assert_eq!(record["validation"][0]["exit_code"], 1);
    let output = required.blob(record["validation"][0]["output_digest"].as_str().unwrap());
    assert!(
        String::from_utf8(output)
            .unwrap()
            .starts_with("check: found a BAD line\n"),
        "the validation output is evidence"
    );
    assert_eq!(required.docket_branches(), Vec::<String>::new());

    let advisory = Governed::new(
        &[
            ("validation", "mode", "\"advisory\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &tickets,
    );
    let (run, record) = advisory.run_json("say-bad");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(record["validation_mode"], "advisory");
    let validation = record["validation"].as_array().unwrap();
    assert_eq!(validation.len(), 1, "{record:#}");
    assert_eq!(
        (
            &validation[0]["phase"],
            &validation[0]["attempt"],
            &validation[0]["argv"],
            &validation[0]["exit_code"],
            &validation[0]["timed_out"]
        ),
        (
            &json!("validate"),
            &json!(1),
            &json!([".docket/check.sh"]),
            &json!(1),
            &json!(false)
        )
    );
    let shown = advisory.show(&run_id(&record));
    let validation_entries: Vec<&Value> = shown["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "run.validation")
        .collect();
    assert_eq!(validation_entries.len(), 1, "{shown:#}");
    assert_eq!(validation_entries[0]["payload"]["passed"], false);
    assert_eq!(validation_entries[0]["payload"]["mode"], "advisory");
    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        advisory.git(&["show", &format!("{branch}:notes/status.txt")]),
        "BAD"
    );
}

#[test]
fn repair_loop_fixes_a_failed_validation_on_the_second_attempt() {
    let marker = tempfile::tempdir().unwrap();
    let report_copy = marker.path().join("report.json");
    let body = format!(
        "{}marker: {}\n",
        task("repair", "notes/status.txt", "fixed"),
        report_copy.display()
    );
    let g = Governed::new(
        &[
            ("agent", "repair", "true"),
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
            ("validation", "repair_attempts", "2"),
        ],
        &[("needs-repair", &body)],
    );
    let (run, record) = g.run_json("needs-repair");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    let id = run_id(&record);

    let attempts: Vec<(Value, Value, Value)> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["purpose"].clone(),
                a["attempt"].clone(),
                a["exit_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (json!("initial"), json!(1), json!(0)),
            (json!("repair"), json!(2), json!(0))
        ]
    );
    let validation: Vec<(Value, Value)> = record["validation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["attempt"].clone(), v["exit_code"].clone()))
        .collect();
    assert_eq!(validation, [(json!(1), json!(1)), (json!(2), json!(0))]);

    // The agent was handed a JSON report of what failed.
    let report: Value = serde_json::from_slice(&std::fs::read(&report_copy).unwrap()).unwrap();
    assert_eq!(report["run_id"], id.as_str());
    assert_eq!(report["attempt"], 1);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    assert_eq!(failures[0]["argv"], json!([".docket/check.sh"]));
    assert_eq!(failures[0]["exit_code"], 1);
    assert_eq!(failures[0]["stdout_tail"], "check: found a BAD line\n");

    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        g.git(&["show", &format!("{branch}:notes/status.txt")]),
        "fixed"
    );
    let kinds: Vec<String> = g.show(&id)["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "intake.decision",
            "policy.decision",
            "policy.decision",
            "run.started",
            "run.agent",
            "run.diff",
            "run.rules",
            "run.validation",
            "run.agent",
            "run.diff",
            "run.rules",
            "run.validation",
            "policy.decision",
            "run.attestation",
            "run.published"
        ]
    );
    g.verify_ledger();
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}
