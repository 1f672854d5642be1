#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Plans as documents: the JSON Schema against real plans of the rule cases,
//! reading a plan out of a model's answer, checking a plan against a workspace
//! before it is applied, and what a model planner is told about the workspace.

use std::collections::BTreeMap;
use std::path::Path;

use boon::{Compiler, SchemaIndex, Schemas};
use docket_iac::catalog::{Catalog, Rule};
use docket_iac::plan::{
    PLAN_JSON_SCHEMA, PLAN_SCHEMA, PLANNER_CONTEXT_SCHEMA, Plan, PlanAnswerError, PlanItem,
    make_plan, parse_plan_answer, parse_plan_json, planner_context, validate_plan,
};
use docket_iac::source::SourceSet;
use serde_json::{Value as Json, json};

mod support;
use support::{case_dirs, case_params, read_tree, rules_dir};

struct Validator {
    schemas: Schemas,
    index: SchemaIndex,
}

impl Validator {
    fn plan() -> Validator {
        let schema: Json = serde_json::from_str(PLAN_JSON_SCHEMA).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["properties"]["schema"]["const"], PLAN_SCHEMA);
        let id = schema["$id"].as_str().unwrap().to_owned();
        let mut compiler = Compiler::new();
        compiler.enable_format_assertions();
        compiler.add_resource(&id, schema).unwrap();
        let mut schemas = Schemas::new();
        let index = compiler.compile(&id, &mut schemas).unwrap();
        Validator { schemas, index }
    }

    fn check(&self, value: &Json) -> Result<(), String> {
        self.schemas
            .validate(value, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// Every property of every object in the schema has a description.
#[test]
fn every_schema_field_is_described() {
    fn walk(v: &Json, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(Json::as_object) {
            for (name, p) in props {
                if p.get("description").and_then(Json::as_str).is_none() {
                    missing.push(format!("{path}.{name}"));
                }
                walk(p, &format!("{path}.{name}"), missing);
            }
        }
        for key in ["items", "$defs"] {
            match v.get(key) {
                Some(Json::Object(map)) if key == "$defs" => {
                    for (name, d) in map {
                        walk(d, &format!("{path}/$defs/{name}"), missing);
                    }
                }
                Some(inner) => walk(inner, &format!("{path}[]"), missing),
                None => {}
            }
        }
    }
    let schema: Json = serde_json::from_str(PLAN_JSON_SCHEMA).unwrap();
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}

/// What a ticket for one rule case says: the rule's title, the words `make_plan`
/// maps to the rule, the names of the resources found at fault and the case's
/// parameters written out as a person would.
fn ticket_for(rule: &Rule, case: &Path) -> String {
    let params = case_params(case);
    let findings: Vec<Json> =
        serde_json::from_str(&std::fs::read_to_string(case.join("findings.json")).unwrap())
            .unwrap();
    let mut names: Vec<String> = findings
        .iter()
        .filter_map(|f| f["address"].as_str())
        .map(|a| a.rsplit('.').next().unwrap().to_owned())
        .collect();
    let s = |k: &str| params.get(k).and_then(Json::as_str).unwrap_or("");
    let phrase = match rule.id.as_str() {
        "aws-s3-encryption" => "Enable default encryption on the bucket.".to_owned(),
        "aws-sg-open-admin-ports" | "gcp-firewall-open-admin-ports" => {
            "Restrict SSH and RDP to allow connections only from the ranges below.".to_owned()
        }
        "gcp-storage-uniform-access" => "Enable uniform bucket-level access.".to_owned(),
        "k8s-container-resources" => "Set resource requests and limits.".to_owned(),
        "k8s-container-image" => format!("Move the image from `{}` to `{}`.", s("from"), s("to")),
        "gke-workload-identity" => "Enable Workload Identity.".to_owned(),
        "gke-node-metadata-server" => "Run the GKE metadata server.".to_owned(),
        "gke-shielded-nodes" | "gke-cluster-shielded-nodes" => {
            "Enable shielded nodes with secure boot.".to_owned()
        }
        "aws-rds-multi-az" => "Enable Multi-AZ.".to_owned(),
        "aws-rds-backup-retention" => "Raise the backup retention.".to_owned(),
        "aws-rds-storage-encrypted" => "Encrypt the database storage.".to_owned(),
        "azure-subnet-nsg" => "Associate the subnet with its network security group.".to_owned(),
        "gcp-sql-require-ssl" => "Require SSL for all connections.".to_owned(),
        "gcp-sql-authorized-networks" => "Restrict the authorized networks.".to_owned(),
        "aws-kms-key-rotation" => "Enable key rotation.".to_owned(),
        "aws-cloudtrail-log-validation" => "Enable log file validation.".to_owned(),
        "aws-ec2-imdsv2" => "Require IMDSv2.".to_owned(),
        _ => String::new(),
    };
    let mut words = Vec::new();
    for (k, v) in &params {
        match (k.as_str(), v) {
            ("from" | "to", _) => {}
            ("days", v) => words.push(format!("Keep a retention of {v} days.")),
            ("network_security_group", Json::String(a)) => {
                names.push(a.rsplit('.').next().unwrap().to_owned());
            }
            (k, Json::String(v)) if k.starts_with("requests_") || k.starts_with("limits_") => {
                let (section, kind) = k.split_once('_').unwrap();
                words.push(format!("{kind} {section} `{v}`."));
            }
            (_, Json::Array(items)) => words.push(format!(
                "Use {}.",
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (_, Json::String(v)) => words.push(format!("Use {v}.")),
            (k, v) => words.push(format!("{k} {v}.")),
        }
    }
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "# Remediation\n\n## Finding\n\n{} on {}.\n\n## Required Action\n\n{} {phrase} {}\n",
        rule.title,
        names.join(", "),
        rule.title,
        words.join(" ")
    )
}

/// Every plan `make_plan` writes for the rule cases matches the schema, reads back
/// as itself (strictly, as a file and inside a model-style answer) and passes
/// `validate_plan`: the checks refuse nothing docket's own planner produces.
#[test]
fn real_plans_match_the_schema_and_validate() {
    let catalog = Catalog::builtin().unwrap();
    let validator = Validator::plan();
    let (mut plans, mut with_items, mut items) = (0, 0, 0);
    let mut failures = Vec::new();
    for rule in catalog.rules() {
        for case in case_dirs(&rule.id) {
            let name = format!(
                "{}/{}",
                rule.id,
                case.file_name().unwrap().to_string_lossy()
            );
            let input = read_tree(&case.join("input"));
            let plan = make_plan(&input, catalog, &ticket_for(rule, &case));
            plans += 1;
            if !plan.items.is_empty() {
                with_items += 1;
                items += plan.items.len();
            }
            let value = serde_json::to_value(&plan).unwrap();
            if let Err(e) = validator.check(&value) {
                failures.push(format!("{name}: schema: {e}\n{value:#}"));
            }
            let problems = validate_plan(&plan, &input, catalog);
            if !problems.is_empty() {
                failures.push(format!(
                    "{name}: validate_plan: {}\n{value:#}",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            let text = serde_json::to_string_pretty(&plan).unwrap();
            assert_eq!(parse_plan_json(&text).unwrap(), plan, "{name}");
            let answer = format!("Here is the plan.\n\n```json\n{text}\n```\n");
            assert_eq!(parse_plan_answer(&answer).unwrap(), plan, "{name}");
        }
    }
    assert!(plans > 0, "no plans were checked");
    assert!(
        with_items >= 30 && items >= with_items,
        "only {with_items} of {plans} plans have items"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_schema_refuses_what_the_reader_refuses() {
    let validator = Validator::plan();
    let good = json!({
        "schema": PLAN_SCHEMA,
        "items": [{"rule": "aws-rds-multi-az", "targets": ["aws_db_instance.orders"], "because": "Enable Multi-AZ"}],
    });
    validator.check(&good).unwrap();
    parse_plan_json(&good.to_string()).unwrap();
    let mut cases: Vec<(&str, Json)> = Vec::new();
    let mut v = good.clone();
    v["confidence"] = json!(0.9);
    cases.push(("unknown top-level field", v));
    let mut v = good.clone();
    v["items"][0]["target"] = json!("x");
    cases.push(("unknown item field", v));
    let mut v = good.clone();
    v["schema"] = json!("docket.iac-plan/v2");
    cases.push(("wrong schema", v));
    let mut v = good.clone();
    v["items"][0].as_object_mut().unwrap().remove("because");
    cases.push(("missing because", v));
    let mut v = good.clone();
    v["needs_human"] = json!([{"subject": "ticket", "reason": "r", "severity": "high"}]);
    cases.push(("unknown needs_human field", v));
    for (name, value) in cases {
        assert!(
            validator.check(&value).is_err(),
            "{name}: schema accepts it"
        );
        assert!(
            parse_plan_json(&value.to_string()).is_err(),
            "{name}: the reader accepts it"
        );
    }
}

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

/// Three rule cases side by side: a security group created through a module call,
/// an RDS instance and an EKS cluster (whose rule has no fix), and a bucket with
/// `count`.
fn workspace() -> SourceSet {
    let mut all = SourceSet::new();
    for (prefix, case) in [
        ("sg", "aws-sg-open-admin-ports/tests/module-call-site"),
        ("rds", "aws-rds-backup-retention/tests/missing_with_params"),
        ("eks", "aws-eks-secrets-encryption/tests/missing"),
        ("s3", "aws-s3-encryption/tests/count-bucket"),
    ] {
        let tree = read_tree(&rules_dir().join(case).join("input"));
        assert!(!tree.is_empty(), "{case}");
        for (path, text) in tree.iter() {
            all.insert(format!("{prefix}/{path}"), text);
        }
    }
    all
}

const SG: &str = "module.web_sg.aws_security_group.this";
const RDS: &str = "aws_db_instance.inventory";

fn item(rule: &str, targets: &[&str], params: Json) -> Json {
    json!({"rule": rule, "targets": targets, "params": params, "because": "the ticket asks"})
}

fn plan_of(items: Vec<Json>) -> Plan {
    serde_json::from_value(json!({"schema": PLAN_SCHEMA, "items": items})).unwrap()
}

#[test]
fn validate_plan_names_every_problem() {
    let catalog = Catalog::builtin().unwrap();
    let sources = workspace();
    let good_sg = item(
        "aws-sg-open-admin-ports",
        &[SG],
        json!({"allowed_cidrs": ["10.0.0.0/8"]}),
    );
    let good_rds = item(
        "aws-rds-backup-retention",
        &[RDS],
        json!({"days": 14, "backup_window": "03:00-04:00"}),
    );
    let cases: Vec<(&str, Vec<Json>, Vec<&str>)> = vec![
        ("good plan", vec![good_sg.clone(), good_rds.clone()], vec![]),
        (
            "defaults and optional parameters may be left out",
            vec![
                item("aws-rds-backup-retention", &[RDS], json!({})),
                item("aws-s3-encryption", &["aws_s3_bucket.shard"], json!({})),
            ],
            vec![],
        ),
        (
            "unknown rule",
            vec![item("aws-rds-encryption", &[RDS], json!({}))],
            vec![
                "items[0] (aws-rds-encryption): unknown rule \"aws-rds-encryption\"; only rules of docket's catalog can be applied (`docket rules list`)",
            ],
        ),
        (
            "rule without a fix",
            vec![item(
                "aws-eks-secrets-encryption",
                &["aws_eks_cluster.main"],
                json!({}),
            )],
            vec![
                "items[0] (aws-eks-secrets-encryption): rule \"aws-eks-secrets-encryption\" has no automatic fix; list the change under needs_human instead",
            ],
        ),
        (
            "unknown target",
            vec![item(
                "aws-rds-multi-az",
                &["aws_db_instance.orders"],
                json!({}),
            )],
            vec![
                "items[0] (aws-rds-multi-az): no resource aws_db_instance.orders in the workspace; use an address the scanner reports (TYPE.NAME, module.CALL.TYPE.NAME)",
            ],
        ),
        (
            "a module's resource without its module path",
            vec![item(
                "aws-sg-open-admin-ports",
                &["aws_security_group.this"],
                json!({"allowed_cidrs": ["10.0.0.0/8"]}),
            )],
            vec![
                "items[0] (aws-sg-open-admin-ports): no resource aws_security_group.this in the workspace; a resource in a module has its module path in the address: module.web_sg.aws_security_group.this",
            ],
        ),
        (
            "an instance index",
            vec![item(
                "aws-s3-encryption",
                &["aws_s3_bucket.shard[0]"],
                json!({}),
            )],
            vec![
                "items[0] (aws-s3-encryption): no resource aws_s3_bucket.shard[0] in the workspace; write aws_s3_bucket.shard without the instance index (count and for_each instances are fixed as one block)",
            ],
        ),
        (
            "wrong resource type",
            vec![item(
                "aws-rds-multi-az",
                &["aws_eks_cluster.main"],
                json!({}),
            )],
            vec![
                "items[0] (aws-rds-multi-az): aws_eks_cluster.main is aws_eks_cluster, but the rule applies to aws_db_instance",
            ],
        ),
        (
            "no targets",
            vec![item("aws-rds-multi-az", &[], json!({}))],
            vec![
                "items[0] (aws-rds-multi-az): no targets; list the addresses of the resources to fix",
            ],
        ),
        (
            "unknown parameter",
            vec![
                item("aws-rds-backup-retention", &[RDS], json!({"retention": 14})),
                item("aws-rds-multi-az", &[RDS], json!({"zones": 2})),
            ],
            vec![
                "items[0] (aws-rds-backup-retention): unknown parameter \"retention\"; the rule takes days, backup_window",
                "items[1] (aws-rds-multi-az): unknown parameter \"zones\"; the rule takes no parameters",
            ],
        ),
        (
            "wrong parameter types",
            vec![
                item(
                    "aws-rds-backup-retention",
                    &[RDS],
                    json!({"days": "14", "backup_window": ["03:00-04:00"]}),
                ),
                item(
                    "aws-s3-encryption",
                    &["aws_s3_bucket.shard"],
                    json!({"bucket_key_enabled": "yes", "sse_algorithm": null}),
                ),
            ],
            vec![
                "items[0] (aws-rds-backup-retention): parameter \"backup_window\" must be a single value (a string), not a list",
                "items[0] (aws-rds-backup-retention): parameter \"days\" must be a whole number like its default 7, not a string",
                "items[1] (aws-s3-encryption): parameter \"bucket_key_enabled\" must be a boolean like its default true, not a string",
                "items[1] (aws-s3-encryption): parameter \"sse_algorithm\" is null; leave it out to use its default",
            ],
        ),
        (
            "a fraction where the default is a whole number",
            vec![item(
                "aws-rds-backup-retention",
                &[RDS],
                json!({"days": 7.5}),
            )],
            vec![
                "items[0] (aws-rds-backup-retention): parameter \"days\" must be a whole number like its default 7, not a number",
            ],
        ),
        (
            "required parameter missing",
            vec![item("aws-sg-open-admin-ports", &[SG], json!({}))],
            vec![
                "items[0] (aws-sg-open-admin-ports): parameter \"allowed_cidrs\" is required and has no default: CIDR ranges that replace 0.0.0.0/0, e.g. the VPN or office range (`10.0.0.0/8`)",
            ],
        ),
        (
            "CIDR and port formats",
            vec![item(
                "aws-sg-open-admin-ports",
                &[SG],
                json!({"allowed_cidrs": ["10.0.0.1/8", "0.0.0.0/0", "office", 5], "ports": [22, 70000, "ssh"]}),
            )],
            vec![
                "items[0] (aws-sg-open-admin-ports): parameter \"allowed_cidrs\" has entries that are not allowed: \"10.0.0.1/8\" has host bits set; give the network address of the range; \"0.0.0.0/0\" opens the range to everyone, which is what the fix removes; \"office\" is not a CIDR range (ADDRESS/PREFIX, e.g. 10.0.0.0/8); 5 is not a string",
                "items[0] (aws-sg-open-admin-ports): parameter \"ports\" must hold port numbers from 1 to 65535, not 70000, \"ssh\"",
            ],
        ),
        (
            "a CIDR list given as one string",
            vec![item(
                "aws-sg-open-admin-ports",
                &[SG],
                json!({"allowed_cidrs": "10.0.0.0/8"}),
            )],
            vec![
                "items[0] (aws-sg-open-admin-ports): parameter \"allowed_cidrs\" must be a list of CIDR ranges such as [\"10.0.0.0/8\"], not a string",
            ],
        ),
        (
            "the same target twice, and a rule with two sets of parameters",
            vec![
                item("aws-rds-backup-retention", &[RDS, RDS], json!({"days": 14})),
                item("aws-rds-backup-retention", &[RDS], json!({"days": 30})),
            ],
            vec![
                "items[0] (aws-rds-backup-retention): target aws_db_instance.inventory is listed twice",
                "items[1] (aws-rds-backup-retention): target aws_db_instance.inventory is already planned for this rule in items[0]",
                "items[1] (aws-rds-backup-retention): the rule is also planned in items[0] with other parameters; a rule takes one set of parameters per plan, so give both items the same ones or merge them",
            ],
        ),
        (
            "every problem of one item, not only the first",
            vec![
                good_rds.clone(),
                json!({"rule": "aws-sg-open-admin-ports", "targets": ["aws_db_instance.inventory", "aws_vpc.main"], "params": {"allowed_cidrs": ["0.0.0.0/0"], "port": 22}, "because": " "}),
            ],
            vec![
                "items[1] (aws-sg-open-admin-ports): \"because\" is empty; quote the words of the ticket that ask for this fix",
                "items[1] (aws-sg-open-admin-ports): aws_db_instance.inventory is aws_db_instance, but the rule applies to aws_security_group, aws_security_group_rule, aws_vpc_security_group_ingress_rule",
                "items[1] (aws-sg-open-admin-ports): no resource aws_vpc.main in the workspace; use an address the scanner reports (TYPE.NAME, module.CALL.TYPE.NAME)",
                "items[1] (aws-sg-open-admin-ports): parameter \"allowed_cidrs\" has entries that are not allowed: \"0.0.0.0/0\" opens the range to everyone, which is what the fix removes",
                "items[1] (aws-sg-open-admin-ports): unknown parameter \"port\"; the rule takes ports, allowed_cidrs",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (name, items, want) in cases {
        let plan = plan_of(items);
        let got: Vec<String> = validate_plan(&plan, &sources, catalog)
            .iter()
            .map(ToString::to_string)
            .collect();
        if got != want {
            failures.push(format!("{name}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validate_plan_checks_the_document_too() {
    let catalog = Catalog::builtin().unwrap();
    let mut plan = plan_of(vec![]);
    plan.schema = "docket.iac-plan/v0".into();
    plan.ticket_digest = "sha256:XYZ".into();
    plan.needs_human = serde_json::from_value(
        json!([{"subject": "", "reason": "r"}, {"subject": "ticket", "reason": ""}]),
    )
    .unwrap();
    let got: Vec<String> = validate_plan(&plan, &workspace(), catalog)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "the plan's schema is \"docket.iac-plan/v0\", but docket reads \"docket.iac-plan/v1\"",
            "ticket_digest \"sha256:XYZ\" is not \"sha256:\" and 64 lowercase hex digits; leave it out or empty",
            "needs_human[0] has an empty subject; name the resource or the ticket",
            "needs_human[1] has an empty reason; say why a human must decide",
        ]
    );
    // A plan with nothing to do is a valid plan (status needs-human).
    let empty = plan_of(vec![]);
    assert!(validate_plan(&empty, &workspace(), catalog).is_empty());
    assert_eq!(empty.status(), "needs-human");
}

/// A valid plan's rules reach only their own targets: two items with different
/// rules and resources do not cross over.
#[test]
fn each_rule_of_a_plan_fixes_only_its_own_targets() {
    let catalog = Catalog::builtin().unwrap();
    let mut sources = SourceSet::new();
    sources.insert(
        "main.tf",
        "resource \"aws_db_instance\" \"a\" {\n  engine = \"mysql\"\n}\n\nresource \"aws_db_instance\" \"b\" {\n  engine = \"mysql\"\n}\n",
    );
    let plan = plan_of(vec![
        item("aws-rds-multi-az", &["aws_db_instance.a"], json!({})),
        item(
            "aws-rds-deletion-protection",
            &["aws_db_instance.b"],
            json!({}),
        ),
    ]);
    assert!(validate_plan(&plan, &sources, catalog).is_empty());
    let outcome = docket_iac::fix::fix(&sources, catalog, &plan.request());
    let applied: Vec<(String, String)> = outcome
        .applied
        .iter()
        .map(|a| (a.rule_id.clone(), a.address.clone()))
        .collect();
    assert_eq!(
        applied,
        [
            (
                "aws-rds-multi-az".to_owned(),
                "aws_db_instance.a".to_owned()
            ),
            (
                "aws-rds-deletion-protection".to_owned(),
                "aws_db_instance.b".to_owned()
            ),
        ]
    );
}

#[test]
fn planner_context_is_bounded_deterministic_and_to_the_point() {
    let catalog = Catalog::builtin().unwrap();
    let sources = workspace();
    let context = planner_context(&sources, catalog);
    let again = planner_context(&sources.clone(), catalog);
    assert_eq!(
        serde_json::to_string(&context).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    assert_eq!(context["schema"], PLANNER_CONTEXT_SCHEMA);
    assert_eq!(context["plan_schema"], PLAN_SCHEMA);
    assert_eq!(context["truncated"], json!({}));
    let rule_ids: Vec<&str> = context["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        rule_ids.contains(&"aws-sg-open-admin-ports"),
        "{rule_ids:?}"
    );
    assert!(
        rule_ids.contains(&"aws-rds-backup-retention"),
        "{rule_ids:?}"
    );
    assert!(rule_ids.contains(&"aws-s3-encryption"), "{rule_ids:?}");
    // Not fixable, or no resource of its types here.
    assert!(!rule_ids.contains(&"aws-eks-secrets-encryption"));
    assert!(!rule_ids.contains(&"gcp-sql-require-ssl"));
    let mut sorted = rule_ids.clone();
    sorted.sort_unstable();
    assert_eq!(rule_ids, sorted);
    let sg = context["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "aws-sg-open-admin-ports")
        .unwrap();
    assert_eq!(
        sg["params"],
        json!([
            {"name": "ports", "description": "Administrative ports that must not be reachable from anywhere.", "default": [22, 3389], "required": false, "format": "port-list"},
            {"name": "allowed_cidrs", "description": "CIDR ranges that replace 0.0.0.0/0, e.g. the VPN or office range (`10.0.0.0/8`).", "required": true, "format": "cidr-list"},
        ])
    );
    assert_eq!(sg["severity"], "critical");
    assert!(sg["fix"].as_str().unwrap().starts_with("Replace 0.0.0.0/0"));
    let resources = context["resources"].as_array().unwrap();
    assert!(
        resources.contains(&json!({"address": SG, "type": "aws_security_group", "file": "sg/modules/sg/main.tf", "line": 18})),
        "{resources:#?}"
    );
    assert!(resources.contains(
        &json!({"address": RDS, "type": "aws_db_instance", "file": "rds/main.tf", "line": 2})
    ));
    let violations = context["violations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v["rule"] == "aws-rds-backup-retention"
                && v["address"] == RDS
                && v["fixable"] == true
                && v["message"]
                    .as_str()
                    .unwrap()
                    .contains("backup_retention_period")),
        "{violations:#?}"
    );
    // Fixable violations come first.
    let fixable: Vec<bool> = violations
        .iter()
        .map(|v| v["fixable"].as_bool().unwrap())
        .collect();
    assert!(fixable.windows(2).all(|w| w[0] >= w[1]), "{fixable:?}");
    assert!(violations.iter().any(|v| v["fixable"] == false));
}

#[test]
fn planner_context_says_when_it_cuts_a_list() {
    let catalog = Catalog::builtin().unwrap();
    let mut sources = SourceSet::new();
    let mut text = String::new();
    for i in 0..450 {
        text.push_str(&format!(
            "resource \"aws_db_instance\" \"db{i:03}\" {{\n  engine = \"mysql\"\n}}\n\n"
        ));
    }
    for i in 0..30 {
        text.push_str(&format!(
            "resource \"aws_kms_key\" \"k{i:02}\" {{\n  enable_key_rotation = true\n}}\n\n"
        ));
    }
    sources.insert("main.tf", text);
    let context = planner_context(&sources, catalog);
    assert_eq!(
        context["truncated"]["resources"],
        json!({"shown": 400, "total": 480})
    );
    assert_eq!(context["resources"].as_array().unwrap().len(), 400);
    // Resources with fixable violations are kept before the compliant keys.
    assert!(
        context["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "aws_db_instance")
    );
    assert_eq!(context["truncated"]["violations"]["shown"], 400);
    assert_eq!(context["violations"].as_array().unwrap().len(), 400);
    let size = serde_json::to_string(&context).unwrap().len();
    assert!(size < 400_000, "{size} bytes");
}
