//! The plan's JSON Schema: every field described, real plans of the rule cases
//! match it, and it refuses what the reader refuses.

use std::path::Path;

use boon::{Compiler, SchemaIndex, Schemas};
use docket_iac::catalog::{Catalog, Rule};
use docket_iac::plan::{
    PLAN_JSON_SCHEMA, PLAN_SCHEMA, make_plan, parse_plan_answer, parse_plan_json, validate_plan,
};
use serde_json::{Value as Json, json};

use crate::support::{case_dirs, case_params, read_tree};

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
