//! Built-in checks and fixes for rules that need more than attribute comparisons:
//! companion resources, provider versions, values that flow through module calls
//! and variable defaults, and ticket-directed changes.
//!
//! One submodule per resource family; this module dispatches by check name and
//! holds what the families share (the hit builder, parameter reading, sibling
//! resources).

mod aws_s3;
mod azure_subnet;
mod cloud_sql;
mod companion;
mod gke;
mod kubernetes;
mod open_ports;

pub use aws_s3::major_range;

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value as Json;

use crate::catalog::Rule;
use crate::eval::{Node, Val, Value};
use crate::model::{Resource, Workspace, span_of};
use crate::render::Edit;
use crate::scan::{Hit, Status};

/// Names of the built-in checks a `rule.toml` may use with `kind = "custom"`.
pub const NAMES: &[&str] = &[
    "aws-s3-encryption",
    "aws-sg-open-admin-ports",
    "gcp-firewall-open-admin-ports",
    "k8s-container-resources",
    "k8s-container-image",
    "gke-workload-identity",
    "gcp-sql-authorized-networks",
    "azure-subnet-nsg",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// What a custom check hands to its fix.
#[derive(Debug, Clone)]
pub enum FixData {
    /// The open CIDR elements of a rule, with where they are written.
    OpenCidrs(Vec<Val>, bool),
    /// The `for_each` of a dynamic `authorized_networks` block, or the static
    /// blocks' `value` attributes that are open.
    SqlNetworks {
        for_each: Option<(Val, Range<usize>, usize)>,
    },
    /// An inline `subnet` block of a virtual network, or an `azurerm_subnet`.
    AzureSubnet { inline: bool },
}

struct Ctx<'a, 'w> {
    rule: &'w Rule,
    resource: &'w Resource,
    params: &'a BTreeMap<String, Json>,
    out: &'a mut Vec<Hit<'w>>,
}

impl<'w> Ctx<'_, 'w> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        node: &Node<'w>,
        status: Status,
        span: Range<usize>,
        place: String,
        detail: String,
        reason: Option<String>,
        custom: Option<FixData>,
    ) {
        let message = match status {
            Status::Violation => format!("{}: {detail}", self.rule.check.message),
            Status::Unknown => format!("cannot tell whether {}", self.rule.check.message),
        };
        self.out.push(Hit {
            rule: self.rule,
            resource: self.resource,
            status,
            file: node.file,
            span,
            message,
            reason,
            place,
            node: node.clone(),
            custom,
        });
    }
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

fn param_str(params: &BTreeMap<String, Json>, name: &str) -> Option<String> {
    match params.get(name)? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

fn param_list(params: &BTreeMap<String, Json>, name: &str) -> Option<Vec<String>> {
    match params.get(name)? {
        Json::Array(items) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect(),
        ),
        Json::String(s) => Some(
            s.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        _ => None,
    }
}

fn required(params: &BTreeMap<String, Json>, name: &str) -> Result<String, String> {
    param_str(params, name)
        .ok_or_else(|| format!("parameter {name:?} is required (--param {name}=VALUE)"))
}

/// Resources of `kind` in the same module instance as `node`.
fn siblings<'w>(
    ws: &'w Workspace,
    instance: usize,
    kind: &'w str,
) -> impl Iterator<Item = &'w Resource> + 'w {
    ws.resources
        .iter()
        .filter(move |r| r.instance == instance && r.kind == kind)
}

fn eval_in(ws: &Workspace, r: &Resource, key: &str) -> Option<Val> {
    crate::scan::resource_node(ws, r)?.eval_attr(key)
}

/// Does `v` point at resource `address` (through a reference or its name)?
fn points_at(v: &Val, address: &str, name: Option<&str>) -> bool {
    match &v.value {
        Value::Ref { address: a, .. } => a == address,
        Value::String(s) => name.is_some_and(|n| n == s),
        _ => false,
    }
}

fn expr_text(ws: &Workspace, file: usize, e: &hcl_edit::expr::Expression) -> String {
    ws.file(file)
        .map(|f| f.slice(&span_of(e)).trim().to_owned())
        .unwrap_or_default()
}
