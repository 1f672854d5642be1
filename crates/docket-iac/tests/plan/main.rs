#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Plans as documents: the JSON Schema against real plans of the rule cases,
//! reading a plan out of a model's answer, checking a plan against a workspace
//! before it is applied, and what a model planner is told about the workspace.
//!
//! One test binary, one module per topic; the workspace shared by the
//! validation and planner-context tests lives here.

use docket_iac::source::SourceSet;

#[path = "../support/mod.rs"]
mod support;
use support::{read_tree, rules_dir};

mod answer;
mod context;
mod schema;
mod validate;

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
