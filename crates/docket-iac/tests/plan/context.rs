//! What a model planner is told about the workspace.

use docket_iac::catalog::Catalog;
use docket_iac::plan::{PLAN_SCHEMA, PLANNER_CONTEXT_SCHEMA, planner_context};
use docket_iac::source::SourceSet;
use serde_json::json;

use crate::{RDS, SG, workspace};

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
