//! Repository policies (committed Rego) at each decision point: blocking and
//! exceptions, approvals and segregation of duties, the bundle digest on record, a
//! policy that does not parse, attempt budgets, and `docket policy test`.

use serde_json::{Value, json};

use crate::governed::*;
use crate::support::{Env, assert_matches_schema, line_value};

use super::{decisions, reasons, sha256, status};

/// A repository policy (committed Rego) that forbids production Terraform, and
/// honours exceptions granted for its rule.
const PROD_POLICY: &str = r#"package docket.publish

deny contains msg if {
	some path in input.diff.paths
	glob.match("terraform/prod/**", ["/"], path)
	not prod_excepted
	msg := sprintf("prod-terraform: %s is production infrastructure", [path])
}

prod_excepted if {
	some e in input.exceptions
	e.rule == "prod-terraform"
	e.active
}
"#;

impl Governed {
    /// Commits a file into the governed repository.
    fn commit_file(&self, path: &str, text: &str) {
        let full = self.repo.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("add {path}")]);
    }

    /// The bundle digest `docket policy show` computes for the working tree's policies.
    fn bundle_digest(&self) -> String {
        let dir = self.repo.join(".docket/policies");
        let shown = self
            .env
            .ok(&[
                "policy",
                "show",
                "--policies",
                dir.to_str().unwrap(),
                "--format",
                "json",
            ])
            .json();
        shown["digest"].as_str().unwrap().to_owned()
    }
}

/// Checks an input document the engine stored against the documented JSON Schema
/// of its decision point (docs/policy/schemas).
fn assert_input_matches_schema(input: &Value) {
    let point = input["point"].as_str().unwrap();
    assert_matches_schema(
        &format!("docs/policy/schemas/{point}.v1.schema.json"),
        input,
    );
}

#[test]
fn a_repository_policy_blocks_prod_terraform_until_an_exception_lets_it_publish() {
    let g = Governed::new(
        &[],
        &[(
            "prod-change",
            &task("idempotent", "terraform/prod/main.tf", "# tuned"),
        )],
    );
    g.commit_file(".docket/policies/prod.rego", PROD_POLICY);
    let digest = g.bundle_digest();

    let run = g.run("prod-change", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    let record = g.show(&id);
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["prod-terraform: terraform/prod/main.tf is production infrastructure"]
    );
    // The decision, with the digest of exactly the bundle in force, is evidence.
    let publish = record["decisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(publish["point"], "publish");
    assert_eq!(publish["verdict"], "deny");
    assert_eq!(publish["bundle_digest"], digest.as_str());
    let entry = record["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "policy.decision")
        .unwrap()
        .clone();
    assert_eq!(
        entry["payload"]["decision"]["bundle_digest"],
        digest.as_str()
    );
    assert!(
        entry["payload"]["bundle"]["files"]
            .as_array()
            .unwrap()
            .contains(&json!(".docket/policies/prod.rego")),
        "{entry:#}"
    );
    // The exact input is stored; its digest is the one the decision cites.
    let input = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
    assert_eq!(
        sha256(&input),
        publish["input_digest"].as_str().unwrap(),
        "the stored input is the one decided on"
    );
    let input: Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(input["diff"]["paths"], json!(["terraform/prod/main.tf"]));
    // Every input the engine gave a policy is the documented, versioned document.
    for entry in g.entries_of_kind("policy.decision") {
        let stored = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
        assert_input_matches_schema(&serde_json::from_slice(&stored).unwrap());
    }
    assert!(run.stdout.contains("held       refs/docket/held/"), "{run}");
    assert_eq!(g.docket_branches(), Vec::<String>::new());

    // Nobody publishes by asking: not before an exception, not by granting their own.
    let early = g.env.run(&["publish", &id]);
    assert_eq!(early.code, 1, "{early}");
    let own = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "prod-terraform",
        "--as",
        INITIATOR,
        "--reason",
        "I need it",
    ]);
    assert_eq!(own.code, 1, "{own}");
    assert!(own.stdout.contains("segregation of duties"), "{own}");
    let unknown = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "max-files",
        "--as",
        "carol@example.com",
        "--reason",
        "x",
    ]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("prod-terraform"), "{unknown}");

    let granted = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "prod-terraform",
        "--as",
        "carol@example.com",
        "--reason",
        "capacity change approved in CAB-12",
        "--expires",
        "24h",
    ]);
    assert_eq!(granted.code, 0, "{granted}");
    let published = g.env.run(&["publish", &id, "--format", "json"]);
    assert_eq!(published.code, 0, "{published}");
    let record = published.json();
    assert_eq!(status(&record), "published");
    let last = record["decisions"].as_array().unwrap().last().unwrap();
    assert_eq!(last["verdict"], "allow");
    assert_eq!(last["bundle_digest"], digest.as_str());
    let branch = record["output"]["branch"].as_str().unwrap().to_owned();
    assert_eq!(g.docket_branches(), std::slice::from_ref(&branch));
    assert_eq!(
        g.git(&["diff", "--name-status", "main", &branch]),
        "A\tterraform/prod/main.tf"
    );
    assert_eq!(g.git(&["for-each-ref", "refs/docket/held/"]), "");
    // `runs list` shows the run once, in its final state.
    let runs = g.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(status(&runs[0]), "published");
    // Publishing twice is refused: the run is no longer held.
    let again = g.env.run(&["publish", &id]);
    assert_eq!(again.code, 2, "{again}");
    let points: Vec<String> = g
        .entries_of_kind("policy.decision")
        .iter()
        .map(|entry| {
            let stored = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
            let input: Value = serde_json::from_slice(&stored).unwrap();
            assert_input_matches_schema(&input);
            input["point"].as_str().unwrap().to_owned()
        })
        .collect();
    for point in ["intake", "run", "publish", "approve"] {
        assert!(points.iter().any(|p| p == point), "{points:?}");
    }
    g.verify_ledger();
}

#[test]
fn an_approval_is_needed_and_the_requester_and_initiator_cannot_give_it() {
    let g = Governed::new(
        &[("approvals", "required", "true")],
        &[("greet", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    let run = g.run("greet", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    assert!(
        run.stdout.contains("\noutcome    awaiting-approval\n"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("approval required: needs 1 approval(s) of this change, has 0"),
        "{run}"
    );

    for who in [INITIATOR, REQUESTER] {
        let refused = g.env.run(&["approve", &id, "--as", who]);
        assert_eq!(refused.code, 1, "{who}: {refused}");
        assert!(
            refused.stdout.contains("segregation of duties"),
            "{refused}"
        );
    }
    let still = g.env.run(&["publish", &id]);
    assert_eq!(still.code, 1, "{still}");
    assert!(still.stdout.contains("awaiting-approval"), "{still}");

    let ok = g.env.run(&[
        "approve",
        &id,
        "--as",
        "carol@example.com",
        "--reason",
        "looks right",
    ]);
    assert_eq!(ok.code, 0, "{ok}");
    let published = g.env.run(&["publish", &id]);
    assert_eq!(published.code, 0, "{published}");
    assert!(
        published.stdout.contains("\noutcome    published\n"),
        "{published}"
    );
    let record = g.show(&id);
    let points: Vec<(String, String)> = decisions(&record);
    assert_eq!(
        points
            .iter()
            .filter(|(p, _)| p == "publish")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>(),
        ["approval-required", "approval-required", "allow"]
    );
    // Every refused approval is on the record too.
    let approve_decisions: Vec<Value> = g
        .entries_of_kind("policy.decision")
        .into_iter()
        .filter(|e| e["payload"]["decision"]["point"] == "approve")
        .collect();
    assert_eq!(approve_decisions.len(), 3);
    assert_eq!(g.entries_of_kind("run.approval").len(), 1);
    g.verify_ledger();
}

#[test]
fn changing_one_byte_of_a_policy_changes_the_recorded_digest() {
    let g = Governed::new(
        &[],
        &[
            ("one", &task("idempotent", "notes/one.txt", "1")),
            ("two", &task("idempotent", "notes/two.txt", "2")),
        ],
    );
    g.commit_file(".docket/policies/prod.rego", PROD_POLICY);
    let first = g.run_json("one").1;
    g.commit_file(
        ".docket/policies/prod.rego",
        &PROD_POLICY.replace("production infrastructure", "production infrastructurE"),
    );
    let second = g.run_json("two").1;
    let digest = |r: &Value| {
        r["decisions"][0]["bundle_digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&first), "published");
    assert_eq!(status(&second), "published");
    assert_ne!(digest(&first), digest(&second));
    assert_eq!(digest(&second), g.bundle_digest());
    // Every decision of one run cites the same bundle.
    for d in second["decisions"].as_array().unwrap() {
        assert_eq!(d["bundle_digest"], digest(&second).as_str());
    }
}

#[test]
fn a_policy_that_does_not_parse_denies_with_the_file_named() {
    let g = Governed::new(&[], &[("greet", &task("idempotent", "notes/hi.txt", "hi"))]);
    g.commit_file(
        ".docket/policies/broken.rego",
        "package docket.run\n\ndeny contains msg if {\n",
    );
    let (run, record) = g.run_json("greet");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    let why = reasons(&record).join("\n");
    assert!(why.contains(".docket/policies/broken.rego"), "{why}");
    // Fail closed at the first point: nothing ran.
    assert_eq!(record["attempts"], json!([]));
    assert_eq!(
        decisions(&record),
        [("intake".to_owned(), "deny".to_owned())]
    );
}

#[test]
fn a_ticket_over_its_attempt_budget_is_refused_at_the_run_point() {
    let g = Governed::new(
        &[("budgets", "ticket_attempts", "1")],
        &[("greet", &task("idempotent", "notes/hi.txt", "hi"))],
    );
    let (run, first) = g.run_json("greet");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&first), "published");
    let (run, second) = g.run_json("greet");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&second), "blocked");
    let why = reasons(&second).join("\n");
    assert!(why.contains("budget"), "{why}");
    assert!(why.contains("1 of 1"), "{why}");
    assert_eq!(second["attempts"], json!([]), "the agent never started");
    assert_eq!(
        decisions(&second),
        [
            ("intake".to_owned(), "allow".to_owned()),
            ("run".to_owned(), "deny".to_owned())
        ]
    );
}

#[test]
fn policy_test_runs_the_policies_own_tests() {
    let env = Env::sqlite();
    let dir = env.path("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prod.rego"), PROD_POLICY).unwrap();
    std::fs::write(
        dir.join("prod_test.rego"),
        r#"package docket.publish_test

test_prod_is_denied if {
	count(data.docket.publish.deny) > 0 with input as {"diff": {"paths": ["terraform/prod/a.tf"]}, "exceptions": []}
}

test_wrong_on_purpose if {
	count(data.docket.publish.deny) > 0 with input as {"diff": {"paths": ["docs/a.md"]}, "exceptions": []}
}
"#,
    )
    .unwrap();
    let run = env.run(&["policy", "test", dir.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("PASS docket.publish_test.test_prod_is_denied"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("FAIL docket.publish_test.test_wrong_on_purpose"),
        "{run}"
    );
    assert!(run.stdout.contains("1 passed, 1 failed"), "{run}");

    std::fs::write(
        dir.join("prod_test.rego"),
        "package docket.publish_test\n\ntest_prod_is_denied if {\n\tcount(data.docket.publish.deny) > 0 with input as {\"diff\": {\"paths\": [\"terraform/prod/a.tf\"]}, \"exceptions\": []}\n}\n",
    )
    .unwrap();
    let run = env.run(&["policy", "test", dir.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(run.code, 0, "{run}");

    // One decision from the command line, with its bundle digest.
    let input = env.path("input.json");
    std::fs::write(
        &input,
        r#"{"diff": {"paths": ["terraform/prod/x.tf"]}, "exceptions": []}"#,
    )
    .unwrap();
    let eval = env.run(&[
        "policy",
        "eval",
        "--point",
        "publish",
        "--input",
        input.to_str().unwrap(),
        "--policies",
        dir.to_str().unwrap(),
        "--no-builtin",
        "--format",
        "json",
    ]);
    assert_eq!(eval.code, 1, "{eval}");
    let decision = eval.json();
    assert_eq!(decision["verdict"], "deny");
    assert!(
        decision["bundle_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}
