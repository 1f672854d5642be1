//! `docket scan`, `fix`, `plan`, `rules` and the fixer agent through the real binary,
//! on Terraform written for these tests, in real git repositories.

use std::path::Path;

use crate::support::{Env, git};

const MAIN_TF: &str = r#"# Orders database: arn:aws:rds:us-west-2:123456789012:db:orders-db
resource "aws_db_instance" "orders" {
  identifier        = var.db_name
  engine            = "mysql"
  allocated_storage = 100
  storage_encrypted = true

  tags = {
    Team = "backend"
  }
}

resource "aws_security_group" "web" {
  name = "web"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"#;

const VARIABLES_TF: &str =
    "variable \"db_name\" {\n  type    = string\n  default = \"orders-db\"\n}\n";

const TICKET: &str = "# Remediation Request\n\n## Finding\n\nRDS instance `arn:aws:rds:us-west-2:123456789012:db:orders-db` runs in one zone.\n\n## Required Action\n\nEnable Multi-AZ deployment on `arn:aws:rds:us-west-2:123456789012:db:orders-db`.\n";

fn workspace(env: &Env) -> std::path::PathBuf {
    let dir = env.path("tf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), MAIN_TF).unwrap();
    std::fs::write(dir.join("variables.tf"), VARIABLES_TF).unwrap();
    dir
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn scan_reports_findings_with_locations_and_exit_codes() {
    let env = Env::sqlite();
    let dir = workspace(&env);
    let d = dir.to_str().unwrap();
    let run = env.run(&["scan", d, "--rule", "aws-rds-multi-az", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let findings = run.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["address"], "aws_db_instance.orders");
    assert_eq!(findings[0]["file"], "main.tf");
    assert_eq!(findings[0]["line"], 2);
    assert!(
        findings[0]["references"]["checkov"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CKV_AWS_157")
    );
    // --fail-on above the finding's severity: reported, exit 0.
    let run = env.run(&[
        "scan",
        d,
        "--rule",
        "aws-rds-multi-az",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("aws-rds-multi-az"), "{}", run.all());
    // SARIF from the same scan.
    let run = env.run(&["scan", d, "--format", "sarif"]);
    assert_eq!(run.code, 1);
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());
    // An unknown rule is an error, not an empty scan.
    let run = env.run(&["scan", d, "--rule", "no-such-rule"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown rule"), "{}", run.all());
}

#[test]
fn a_file_that_does_not_parse_is_named_and_the_rest_is_scanned() {
    let env = Env::sqlite();
    let dir = workspace(&env);
    std::fs::write(
        dir.join("broken.tf"),
        "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \n}\n",
    )
    .unwrap();
    let run = env.run(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let json = run.json();
    assert_eq!(json["errors"][0]["file"], "broken.tf");
    assert!(json["errors"][0]["line"].as_u64().unwrap() >= 2);
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["address"] == "aws_db_instance.orders")
    );
    // Nothing parseable at all: exit 2.
    let only = env.path("only-broken");
    std::fs::create_dir_all(&only).unwrap();
    std::fs::write(only.join("x.tf"), "resource {{{\n").unwrap();
    let run = env.run(&["scan", only.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("x.tf"), "{}", run.all());
}

#[test]
fn fix_edits_only_the_spans_it_must_and_a_second_fix_changes_nothing() {
    let env = Env::sqlite();
    let dir = workspace(&env);
    let d = dir.to_str().unwrap();
    let run = env.run(&["fix", d, "--rule", "aws-rds-multi-az", "--check"]);
    assert_eq!(
        run.code,
        1,
        "--check must fail when files would change: {}",
        run.all()
    );
    assert_eq!(read(&dir, "main.tf"), MAIN_TF, "--check wrote a file");
    let run = env.run(&["fix", d, "--rule", "aws-rds-multi-az", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let json = run.json();
    assert_eq!(json["applied"][0]["rule_id"], "aws-rds-multi-az");
    assert_eq!(json["applied"][0]["findings"][0]["status"], "resolved");
    let after = read(&dir, "main.tf");
    let expected = MAIN_TF.replacen(
        "    Team = \"backend\"\n  }\n}",
        "    Team = \"backend\"\n  }\n\n  multi_az = true\n}",
        1,
    );
    assert_eq!(after, expected);
    assert_eq!(read(&dir, "variables.tf"), VARIABLES_TF);
    let run = env.run(&["fix", d, "--rule", "aws-rds-multi-az"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("nothing to change"), "{}", run.all());
    assert_eq!(read(&dir, "main.tf"), expected);
    let run = env.run(&["fix", d, "--rule", "aws-rds-multi-az", "--check"]);
    assert_eq!(run.code, 0, "{}", run.all());
    // A parameterised fix without its parameter is reported, not guessed.
    let run = env.run(&[
        "fix",
        d,
        "--rule",
        "aws-sg-open-admin-ports",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.json()["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("allowed_cidrs")
    );
    assert!(read(&dir, "main.tf").contains("0.0.0.0/0"));
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let env = Env::sqlite();
    let dir = env.path("crlf");
    std::fs::create_dir_all(&dir).unwrap();
    let text = "resource \"aws_db_instance\" \"a\" {\r\n  engine = \"mysql\"\r\n}\r\n";
    std::fs::write(dir.join("main.tf"), text).unwrap();
    let run = env.run(&["fix", dir.to_str().unwrap(), "--rule", "aws-rds-multi-az"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        read(&dir, "main.tf"),
        "resource \"aws_db_instance\" \"a\" {\r\n  engine = \"mysql\"\r\n\r\n  multi_az = true\r\n}\r\n"
    );
}

#[test]
fn plan_maps_a_ticket_and_fix_applies_the_plan() {
    let env = Env::sqlite();
    let dir = workspace(&env);
    let ticket = env.path("REMEDIATION.md");
    std::fs::write(&ticket, TICKET).unwrap();
    let run = env.ok(&[
        "plan",
        "--ticket",
        ticket.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let plan = run.json();
    assert_eq!(plan["schema"], "docket.iac-plan/v1");
    assert_eq!(plan["items"][0]["rule"], "aws-rds-multi-az");
    assert_eq!(plan["items"][0]["targets"][0], "aws_db_instance.orders");
    assert_eq!(
        plan["items"].as_array().unwrap().len(),
        1,
        "the open SSH rule was not asked for: {plan}"
    );
    let plan_file = env.path("plan.json");
    std::fs::write(&plan_file, run.stdout.as_bytes()).unwrap();
    env.ok(&[
        "fix",
        dir.to_str().unwrap(),
        "--plan",
        plan_file.to_str().unwrap(),
    ]);
    let after = read(&dir, "main.tf");
    assert!(after.contains("multi_az = true"));
    assert!(
        after.contains("cidr_blocks = [\"0.0.0.0/0\"]"),
        "an edit the ticket did not ask for"
    );
    // A ticket about something the catalog cannot do is needs-human with a reason.
    std::fs::write(
        &ticket,
        "## Required Action\n\nMove `orders-db` to a cheaper instance class.\n",
    )
    .unwrap();
    let plan = env
        .ok(&[
            "plan",
            "--ticket",
            ticket.to_str().unwrap(),
            dir.to_str().unwrap(),
            "--format",
            "json",
        ])
        .json();
    assert!(plan["items"].as_array().unwrap().is_empty());
    let reason = plan["needs_human"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("aws_db_instance.orders"), "{reason}");
    // The reviewer sees what was asked, not only that nothing matched.
    assert!(
        reason.contains("it asks: \"Move `orders-db` to a cheaper instance class\""),
        "{reason}"
    );
}

#[test]
fn fix_refuses_an_invalid_plan_listing_every_problem_and_changes_nothing() {
    let env = Env::sqlite();
    let dir = workspace(&env);
    let plan_file = env.path("plan.json");
    std::fs::write(
        &plan_file,
        serde_json::json!({
            "schema": "docket.iac-plan/v1",
            "items": [
                {"rule": "aws-rds-multi-az", "targets": ["aws_db_instance.orders"], "because": "Enable Multi-AZ"},
                {"rule": "aws-rds-encryption", "targets": ["aws_db_instance.orders"], "because": "encrypt"},
                {"rule": "aws-sg-open-admin-ports", "targets": ["aws_security_group.web", "aws_security_group.db"],
                 "params": {"allowed_cidrs": ["10.0.0.1/8"], "port": 22}, "because": "restrict SSH"},
            ],
        })
        .to_string(),
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let p = plan_file.to_str().unwrap();
    let run = env.run(&["fix", d, "--plan", p]);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    let want = [
        "items[1] (aws-rds-encryption): unknown rule \"aws-rds-encryption\"; only rules of docket's catalog can be applied (`docket rules list`)",
        "items[2] (aws-sg-open-admin-ports): no resource aws_security_group.db in the workspace; use an address the scanner reports (TYPE.NAME, module.CALL.TYPE.NAME)",
        "items[2] (aws-sg-open-admin-ports): parameter \"allowed_cidrs\" has entries that are not allowed: \"10.0.0.1/8\" has host bits set; give the network address of the range",
        "items[2] (aws-sg-open-admin-ports): unknown parameter \"port\"; the rule takes ports, allowed_cidrs",
    ];
    assert!(
        run.stderr.contains("cannot be applied")
            && run.stderr.contains("(4 problem(s)); nothing was changed"),
        "{run}"
    );
    for line in want {
        assert!(
            run.stderr.contains(&format!("  {line}\n")),
            "missing {line:?}\n{run}"
        );
    }
    assert!(run.stderr.contains("hint: "), "{run}");
    // The valid item was not applied either.
    assert_eq!(read(&dir, "main.tf"), MAIN_TF);
    // Strict reading: an unknown field is named.
    std::fs::write(
        &plan_file,
        r#"{"schema": "docket.iac-plan/v1", "items": [], "confidence": 0.9}"#,
    )
    .unwrap();
    let run = env.run(&["fix", d, "--plan", p]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("unknown field \"confidence\" in the plan"),
        "{run}"
    );
    // A plan with no items applies nothing (an empty request would mean "fix everything").
    std::fs::write(
        &plan_file,
        r#"{"schema": "docket.iac-plan/v1", "items": [], "needs_human": [{"subject": "ticket", "reason": "no rule fits"}]}"#,
    )
    .unwrap();
    let run = env.run(&["fix", d, "--plan", p]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .contains("the plan has no items: nothing to apply"),
        "{run}"
    );
    assert!(
        run.stderr.contains("needs-human ticket: no rule fits"),
        "{run}"
    );
    assert_eq!(read(&dir, "main.tf"), MAIN_TF);
}

#[test]
fn rules_list_and_show_print_the_catalog() {
    let env = Env::sqlite();
    let list = env.ok(&["rules", "list", "--format", "json"]).json();
    assert!(list.as_array().unwrap().len() >= 40);
    let show = env.ok(&["rules", "show", "aws-s3-encryption"]);
    assert!(show.stdout.contains("CKV_AWS_19"), "{}", show.all());
    assert!(show.stdout.contains("AVD-AWS-0088"), "{}", show.all());
    assert!(
        show.stdout.contains("--param kms_master_key_id"),
        "{}",
        show.all()
    );
    assert_eq!(env.run(&["rules", "show", "nope"]).code, 2);
}

#[test]
fn the_fixer_agent_publishes_a_fix_with_its_plan_as_evidence() {
    let env = Env::sqlite();
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("main.tf"), MAIN_TF).unwrap();
    std::fs::write(repo.join("variables.tf"), VARIABLES_TF).unwrap();
    std::fs::write(repo.join("REMEDIATION.md"), TICKET).unwrap();
    std::fs::write(
        repo.join("docket.toml"),
        "[repository]\nalias = \"infra\"\n[intake]\nlabel = \"\"\nready_states = []\nrequire_routing = false\n[agent]\nkind = \"fixer\"\n[checks]\nidempotency = \"required\"\nreproducibility = \"required\"\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "infra",
        ],
    );
    let ticket = repo.join("REMEDIATION.md");
    let run = env.run(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--ticket",
        ticket.to_str().unwrap(),
        "--as",
        "dev@example.com",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let record = run.json();
    let branch = record["output"]["branch"].as_str().unwrap().to_owned();
    let published = git(&repo, &["show", &format!("{branch}:main.tf")]);
    assert!(published.contains("multi_az = true"), "{published}");
    let checks = record["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["outcome"] == "pass"), "{checks:?}");
    assert_eq!(record["agent"]["kind"], "fixer");
    // The attestation names the rules the judged change applied, not what the
    // idempotency check's re-run (which changes nothing) reported.
    let commit = record["output"]["commit"].as_str().unwrap();
    let envelope: serde_json::Value =
        serde_json::from_str(&git(&repo, &["notes", "--ref", "docket", "show", commit])).unwrap();
    use base64::Engine as _;
    let statement: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let fixer = &statement["predicate"]["fixer"];
    assert_eq!(fixer["verdict"], "fixed", "{fixer:#}");
    assert_eq!(
        fixer["rules"],
        serde_json::json!(["aws-rds-multi-az"]),
        "{fixer:#}"
    );
    // The working tree on main is untouched.
    assert_eq!(read(&repo, "main.tf"), MAIN_TF);
}
