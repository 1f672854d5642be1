//! The idempotency and reproducibility checks catch unstable agents.

use serde_json::{Value, json};

use crate::governed::*;

use super::{check, reasons, status};

#[test]
fn idempotency_and_reproducibility_checks_catch_unstable_agents() {
    let g = Governed::new(
        &[
            ("checks", "idempotency", "\"required\""),
            ("checks", "reproducibility", "\"required\""),
        ],
        &[
            ("appends", &task("append", "notes/log.txt", "one more")),
            ("random", &task("random", "notes/seed.txt", "")),
            ("stable", &task("idempotent", "notes/hello.txt", "hello")),
        ],
    );

    let (run, record) = g.run_json("appends");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(check(&record, "reproducibility")["outcome"], "pass");
    assert_eq!(check(&record, "idempotency")["outcome"], "fail");
    assert_eq!(check(&record, "idempotency")["mode"], "required");
    let why = reasons(&record);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with(
            "idempotency check failed: re-running the agent on its own result changed it again"
        ),
        "{why:?}"
    );

    let (run, record) = g.run_json("random");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(check(&record, "reproducibility")["outcome"], "fail");
    let why = reasons(&record);
    assert!(
        why.iter().any(|r| r.starts_with(
            "reproducibility check failed: re-running the agent from the base produced diff "
        )),
        "{why:?}"
    );

    let (run, record) = g.run_json("stable");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(check(&record, "reproducibility")["outcome"], "pass");
    assert_eq!(check(&record, "idempotency")["outcome"], "pass");
    let purposes: Vec<&Value> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["purpose"])
        .collect();
    assert_eq!(
        purposes,
        [
            &json!("initial"),
            &json!("reproducibility"),
            &json!("idempotency")
        ]
    );

    assert_eq!(g.docket_branches().len(), 1);
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
    g.verify_ledger();
}
