//! Checking a plan against a workspace before it is applied.

use docket_iac::catalog::Catalog;
use docket_iac::plan::{PLAN_SCHEMA, Plan, validate_plan};
use docket_iac::source::SourceSet;
use serde_json::{Value as Json, json};

use crate::{RDS, SG, workspace};

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
