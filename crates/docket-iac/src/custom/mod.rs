//! Built-in checks and fixes for rules that need more than attribute comparisons:
//! companion resources, provider versions, values that flow through module calls
//! and variable defaults, and ticket-directed changes.
//!
//! One submodule per resource family; this module dispatches by check name.
//! What the families share (the hit builder, parameter reading, sibling
//! resources) is in `context`.

mod aws_s3;
mod azure_subnet;
mod cloud_sql;
mod companion;
mod context;
mod gke;
mod kubernetes;
mod open_ports;

pub use aws_s3::major_range;

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::eval::Node;
pub use crate::hit::FixData;
use crate::hit::Hit;
use crate::model::{Resource, Workspace};
use crate::render::Edit;
use crate::rule::Rule;
use context::Ctx;

/// Names of the built-in checks a `rule.toml` may use with `kind = "custom"`.
pub use crate::rule::CUSTOM_CHECKS as NAMES;

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

pub fn check<'w>(
    rule: &'w Rule,
    resource: &'w Resource,
    node: &Node<'w>,
    params: &BTreeMap<String, Json>,
    out: &mut Vec<Hit<'w>>,
) {
    let mut ctx = Ctx {
        rule,
        resource,
        params,
        out,
    };
    match rule.check.name.as_deref().unwrap_or_default() {
        "aws-s3-encryption" => aws_s3::s3_encryption(&mut ctx, node),
        "aws-sg-open-admin-ports" => open_ports::sg_open(&mut ctx, node),
        "gcp-firewall-open-admin-ports" => open_ports::firewall_open(&mut ctx, node),
        "k8s-container-resources" => kubernetes::k8s_resources(&mut ctx, node),
        "k8s-container-image" => kubernetes::k8s_image(&mut ctx, node),
        "gke-workload-identity" => gke::gke_wi(&mut ctx, node),
        "gcp-sql-authorized-networks" => cloud_sql::sql_networks(&mut ctx, node),
        "azure-subnet-nsg" => azure_subnet::azure_subnet(&mut ctx, node),
        _ => {}
    }
}

pub fn fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    match hit.rule.check.name.as_deref().unwrap_or_default() {
        "aws-s3-encryption" => aws_s3::s3_encryption_fix(ws, hit, params),
        "aws-sg-open-admin-ports" | "gcp-firewall-open-admin-ports" => {
            open_ports::open_cidr_fix(ws, hit, params)
        }
        "k8s-container-resources" => kubernetes::k8s_resources_fix(ws, hit, params),
        "k8s-container-image" => kubernetes::k8s_image_fix(ws, hit, params),
        "gke-workload-identity" => gke::gke_wi_fix(ws, hit, params),
        "gcp-sql-authorized-networks" => cloud_sql::sql_networks_fix(ws, hit, params),
        "azure-subnet-nsg" => azure_subnet::azure_subnet_fix(ws, hit, params),
        other => Err(format!("no built-in fix named {other:?}")),
    }
}
