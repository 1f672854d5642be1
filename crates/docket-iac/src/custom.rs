//! Built-in checks and fixes for rules that need more than attribute comparisons:
//! companion resources, provider versions, values that flow through module calls
//! and variable defaults, and ticket-directed changes.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value as Json;

use crate::catalog::Rule;
use crate::eval::{Lookup, Node, Val, Value};
use crate::fix::{editable_file, editable_insert, json_equal, set_values, shared_default};
use crate::model::{Resource, Workspace, span_of};
use crate::render::{Edit, Hcl, NewBody, quote};
use crate::scan::{Hit, Status, each_nodes, header_span};

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

const CONTAINERS: &[&str] = &[
    "spec.template.spec.container",
    "spec.job_template.spec.template.spec.container",
    "spec.container",
];

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
        "aws-s3-encryption" => s3_encryption(&mut ctx, node),
        "aws-sg-open-admin-ports" => sg_open(&mut ctx, node),
        "gcp-firewall-open-admin-ports" => firewall_open(&mut ctx, node),
        "k8s-container-resources" => k8s_resources(&mut ctx, node),
        "k8s-container-image" => k8s_image(&mut ctx, node),
        "gke-workload-identity" => gke_wi(&mut ctx, node),
        "gcp-sql-authorized-networks" => sql_networks(&mut ctx, node),
        "azure-subnet-nsg" => azure_subnet(&mut ctx, node),
        _ => {}
    }
}

pub fn fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    match hit.rule.check.name.as_deref().unwrap_or_default() {
        "aws-s3-encryption" => s3_encryption_fix(ws, hit, params),
        "aws-sg-open-admin-ports" | "gcp-firewall-open-admin-ports" => {
            open_cidr_fix(ws, hit, params)
        }
        "k8s-container-resources" => k8s_resources_fix(ws, hit, params),
        "k8s-container-image" => k8s_image_fix(ws, hit, params),
        "gke-workload-identity" => gke_wi_fix(ws, hit, params),
        "gcp-sql-authorized-networks" => sql_networks_fix(ws, hit, params),
        "azure-subnet-nsg" => azure_subnet_fix(ws, hit, params),
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

// ── aws-s3-encryption ────────────────────────────────────────────────────────

fn s3_encryption<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    if !node
        .children("server_side_encryption_configuration")
        .is_empty()
    {
        return;
    }
    let ws = node.ws;
    let name = node
        .eval_attr("bucket")
        .and_then(|v| v.as_str().map(str::to_owned));
    let covered = siblings(
        ws,
        ctx.resource.instance,
        "aws_s3_bucket_server_side_encryption_configuration",
    )
    .any(|r| {
        eval_in(ws, r, "bucket")
            .is_some_and(|v| points_at(&v, &ctx.resource.address, name.as_deref()))
            || eval_in(ws, r, "for_each")
                .is_some_and(|v| points_at(&v, &ctx.resource.address, None))
    });
    if covered {
        return;
    }
    ctx.push(
        node,
        Status::Violation,
        header_span(node),
        "server_side_encryption".into(),
        "no default encryption configuration".into(),
        None,
        None,
    );
}

/// The AWS provider major versions a constraint admits, as `[min, max)`.
pub fn major_range(constraint: &str) -> (u64, u64) {
    let mut lo = 0u64;
    let mut hi = u64::MAX;
    for part in constraint.split(',') {
        let part = part.trim();
        let (op, ver) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|v| (*op, v.trim())))
            .unwrap_or(("=", part));
        let nums: Vec<u64> = ver.split('.').filter_map(|n| n.parse().ok()).collect();
        let Some(&major) = nums.first() else { continue };
        let minor = nums.get(1).copied().unwrap_or(0);
        let patch = nums.get(2).copied().unwrap_or(0);
        match op {
            "~>" => {
                lo = lo.max(major);
                // `~> 3` admits 3.x and up; `~> 3.0` admits 3.x only.
                if nums.len() >= 2 {
                    hi = hi.min(major + 1);
                }
            }
            ">=" => lo = lo.max(major),
            ">" => {
                lo = lo.max(if minor == 0 && patch == 0 && nums.len() == 1 {
                    major + 1
                } else {
                    major
                })
            }
            "<" => {
                hi = hi.min(if minor == 0 && patch == 0 {
                    major
                } else {
                    major + 1
                })
            }
            "<=" => hi = hi.min(major + 1),
            "=" => {
                lo = lo.max(major);
                hi = hi.min(major + 1);
            }
            _ => {}
        }
    }
    (lo, hi)
}

fn s3_encryption_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let node = &hit.node;
    let constraint = ws.provider_constraint(node.instance, "aws");
    let inline = match constraint.as_deref().map(major_range) {
        None => false,
        Some((_, hi)) if hi <= 4 => true,
        Some((lo, _)) if lo >= 4 => false,
        Some(_) => {
            return Err(format!(
                "the AWS provider constraint {:?} admits both 3.x (inline encryption block) and 4.x or later \
                 (separate encryption resource); pin the provider first",
                constraint.unwrap_or_default()
            ));
        }
    };
    let algorithm = param_str(params, "sse_algorithm").unwrap_or_else(|| "aws:kms".into());
    let mut by_default = NewBody::default();
    by_default.attrs.push((
        "sse_algorithm".into(),
        Hcl::Data(Json::String(algorithm.clone())),
    ));
    if let Some(key) = param_str(params, "kms_master_key_id") {
        if algorithm == "AES256" {
            return Err("kms_master_key_id needs sse_algorithm aws:kms".into());
        }
        by_default.attrs.push((
            "kms_master_key_id".into(),
            variable_or_literal(ws, node.instance, &key),
        ));
    }
    let mut rule = NewBody::default();
    if let Some(Json::Bool(b)) = params.get("bucket_key_enabled")
        && algorithm != "AES256"
    {
        rule.attrs
            .push(("bucket_key_enabled".into(), Hcl::Data(Json::Bool(*b))));
    }
    rule.blocks
        .push(("apply_server_side_encryption_by_default".into(), by_default));
    if inline {
        editable_insert(ws, node)?;
        let mut body = NewBody::default();
        let mut sse = NewBody::default();
        sse.blocks.push(("rule".into(), rule));
        body.blocks
            .push(("server_side_encryption_configuration".into(), sse));
        let file = ws.file(node.file).ok_or("file vanished")?;
        return Ok(vec![crate::render::append_to_block(
            file, node.file, node, &body,
        )?]);
    }
    let r = hit.resource;
    let mut body = NewBody::default();
    if let Some(attr) = node.body().get_attribute("provider") {
        body.attrs.push((
            "provider".into(),
            Hcl::Expr(expr_text(ws, node.file, &attr.value)),
        ));
    }
    let local = format!("{}.{}", r.kind, r.name);
    if let Some(attr) = node.body().get_attribute("count") {
        body.attrs.push((
            "count".into(),
            Hcl::Expr(expr_text(ws, node.file, &attr.value)),
        ));
        body.attrs.push((
            "bucket".into(),
            Hcl::Expr(format!("{local}[count.index].id")),
        ));
    } else if node.body().has_attribute("for_each") {
        body.attrs
            .push(("for_each".into(), Hcl::Expr(local.clone())));
        body.attrs
            .push(("bucket".into(), Hcl::Expr("each.value.id".into())));
    } else {
        body.attrs
            .push(("bucket".into(), Hcl::Expr(format!("{local}.id"))));
    }
    body.blocks.push(("rule".into(), rule));
    let name = unique_name(
        ws,
        node.instance,
        "aws_s3_bucket_server_side_encryption_configuration",
        &r.name,
    );
    companion(
        ws,
        node,
        "aws_s3_bucket_server_side_encryption_configuration",
        &name,
        &body,
    )
}

fn expr_text(ws: &Workspace, file: usize, e: &hcl_edit::expr::Expression) -> String {
    ws.file(file)
        .map(|f| f.slice(&span_of(e)).trim().to_owned())
        .unwrap_or_default()
}

/// `var.NAME` when a variable of this module already holds exactly this string,
/// so the fix reuses the workspace's own configuration instead of a copy.
fn variable_or_literal(ws: &Workspace, instance: usize, value: &str) -> Hcl {
    if let Some(module) = ws.instance_module(instance) {
        for (name, r) in &module.variables {
            let Some(block) = ws.block(*r) else { continue };
            if block
                .body
                .get_attribute("default")
                .and_then(|a| a.value.as_str())
                == Some(value)
            {
                return Hcl::Expr(format!("var.{name}"));
            }
        }
    }
    Hcl::Data(Json::String(value.to_owned()))
}

fn unique_name(ws: &Workspace, instance: usize, kind: &str, base: &str) -> String {
    let taken = |n: &str| siblings(ws, instance, kind).any(|r| r.name == n);
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_owned())
}

/// A new top-level resource right after `node`'s resource block.
fn companion(
    ws: &Workspace,
    node: &Node<'_>,
    kind: &str,
    name: &str,
    body: &NewBody,
) -> Result<Vec<Edit>, String> {
    editable_file(ws, node.file)?;
    let file = ws.file(node.file).ok_or("file vanished")?;
    let nl = file.newline();
    let end = node.span().end;
    let rest = file.text.get(end..).unwrap_or("");
    let (at, lead) = match rest.find('\n') {
        Some(i) if rest.get(..i).is_some_and(|t| t.trim().is_empty()) => {
            (end + i + 1, nl.to_owned())
        }
        _ => (end, format!("{nl}{nl}")),
    };
    let text = crate::render::block_text("resource", &[kind, name], body, "", nl);
    Ok(vec![Edit {
        file: node.file,
        span: at..at,
        text: format!("{lead}{text}"),
    }])
}

// ── open admin ports ─────────────────────────────────────────────────────────

const OPEN: &[&str] = &["0.0.0.0/0", "::/0"];

fn ports_param(params: &BTreeMap<String, Json>) -> Vec<f64> {
    match params.get("ports") {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_f64().or_else(|| i.as_str()?.parse().ok()))
            .collect(),
        Some(Json::Number(n)) => n.as_f64().into_iter().collect(),
        Some(Json::String(s)) => s.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
        _ => vec![22.0, 3389.0],
    }
}

fn open_elements(list: &Val) -> Result<Vec<Val>, String> {
    match &list.value {
        Value::List(items) => {
            if let Some(r) = items.iter().find_map(Val::unknown_reason) {
                return Err(r);
            }
            Ok(items
                .iter()
                .filter(|i| i.as_str().is_some_and(|s| OPEN.contains(&s)))
                .cloned()
                .collect())
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(list
            .unknown_reason()
            .unwrap_or_else(|| "the CIDR list is not a list".into())),
    }
}

fn sg_open<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    let ports = ports_param(ctx.params);
    let rules: Vec<(String, Node<'w>)> = match ctx.resource.kind.as_str() {
        "aws_security_group" => node
            .children("ingress")
            .into_iter()
            .enumerate()
            .map(|(i, n)| (format!("ingress[{i}]"), n))
            .collect(),
        "aws_security_group_rule" => {
            if node
                .eval_attr("type")
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref()
                != Some("ingress")
            {
                return;
            }
            vec![(String::new(), node.clone())]
        }
        "aws_vpc_security_group_ingress_rule" => vec![(String::new(), node.clone())],
        _ => return,
    };
    for (place, rule) in rules {
        let protocol = rule
            .eval_attr("protocol")
            .or_else(|| rule.eval_attr("ip_protocol"));
        let from = rule.eval_attr("from_port");
        let to = rule.eval_attr("to_port");
        let all = protocol
            .as_ref()
            .and_then(Val::to_text)
            .is_some_and(|p| p == "-1" || p == "all");
        let exposed = if all {
            Some(true)
        } else {
            match (
                from.as_ref().and_then(Val::as_f64),
                to.as_ref().and_then(Val::as_f64),
            ) {
                (Some(f), Some(t)) => Some(ports.iter().any(|p| *p >= f && *p <= t)),
                _ => None,
            }
        };
        for key in ["cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6"] {
            let Some(attr) = rule.body().get_attribute(key) else {
                continue;
            };
            let value = rule.evaluator().eval(&attr.value, &rule.scope);
            let scalar = matches!(value.value, Value::String(_));
            let list = match &value.value {
                Value::String(_) => Val {
                    value: Value::List(vec![value.clone()]),
                    origin: None,
                },
                _ => value.clone(),
            };
            let span = span_of(attr);
            let place = format!("{place}.{key}");
            match (open_elements(&list), exposed) {
                (Ok(open), Some(true)) if !open.is_empty() => {
                    let what = open
                        .iter()
                        .filter_map(Val::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    ctx.push(
                        &rule,
                        Status::Violation,
                        span,
                        place,
                        format!("{what} may reach an administrative port"),
                        None,
                        Some(FixData::OpenCidrs(open, scalar)),
                    );
                }
                (Ok(open), None) if !open.is_empty() => {
                    ctx.push(
                        &rule,
                        Status::Unknown,
                        span,
                        place,
                        String::new(),
                        Some("the port range is not known".into()),
                        None,
                    );
                }
                (Err(reason), Some(true) | None) => {
                    ctx.push(
                        &rule,
                        Status::Unknown,
                        span,
                        place,
                        String::new(),
                        Some(reason),
                        None,
                    );
                }
                _ => {}
            }
        }
    }
}

fn firewall_open<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    let direction = node
        .eval_attr("direction")
        .and_then(|v| v.as_str().map(str::to_owned));
    if direction.as_deref().is_some_and(|d| d != "INGRESS") {
        return;
    }
    let ports = ports_param(ctx.params);
    let mut exposed = Some(false);
    for allow in node.children("allow") {
        let proto = allow.eval_attr("protocol").and_then(|v| v.to_text());
        if !matches!(proto.as_deref(), Some("tcp" | "all" | "6")) {
            continue;
        }
        match allow.eval_attr("ports") {
            None => exposed = Some(true),
            Some(v) => match &v.value {
                Value::List(items) => {
                    for item in items {
                        let Some(text) = item.to_text() else {
                            exposed = exposed.and(None);
                            continue;
                        };
                        let (lo, hi) = text.split_once('-').unwrap_or((&text, &text));
                        if let (Ok(lo), Ok(hi)) =
                            (lo.trim().parse::<f64>(), hi.trim().parse::<f64>())
                            && ports.iter().any(|p| *p >= lo && *p <= hi)
                        {
                            exposed = Some(true);
                        }
                    }
                }
                _ => exposed = None,
            },
        }
        if exposed == Some(true) {
            break;
        }
    }
    let Some(attr) = node.body().get_attribute("source_ranges") else {
        let restricted = ["source_tags", "source_service_accounts"]
            .iter()
            .any(|k| node.body().has_attribute(k));
        if exposed == Some(true) && !restricted {
            ctx.push(
                node,
                Status::Violation,
                header_span(node),
                "source_ranges".into(),
                "no source_ranges, source_tags or source_service_accounts: the rule admits 0.0.0.0/0".into(),
                None,
                None,
            );
        }
        return;
    };
    let value = node.evaluator().eval(&attr.value, &node.scope);
    match (open_elements(&value), exposed) {
        (Ok(open), Some(true)) if !open.is_empty() => {
            ctx.push(
                node,
                Status::Violation,
                span_of(attr),
                "source_ranges".into(),
                "0.0.0.0/0 may reach an administrative port".into(),
                None,
                Some(FixData::OpenCidrs(open, false)),
            );
        }
        (Ok(open), None) if !open.is_empty() => {
            ctx.push(
                node,
                Status::Unknown,
                span_of(attr),
                "source_ranges".into(),
                String::new(),
                Some("the allowed ports are not known".into()),
                None,
            );
        }
        (Err(reason), Some(true) | None) => {
            ctx.push(
                node,
                Status::Unknown,
                span_of(attr),
                "source_ranges".into(),
                String::new(),
                Some(reason),
                None,
            );
        }
        _ => {}
    }
}

fn open_cidr_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let Some(FixData::OpenCidrs(open, scalar)) = &hit.custom else {
        return Err("nothing to replace".into());
    };
    let allowed = param_list(params, "allowed_cidrs")
        .filter(|l| !l.is_empty())
        .ok_or("parameter \"allowed_cidrs\" is required (--param allowed_cidrs=10.0.0.0/8)")?;
    if *scalar && allowed.len() > 1 {
        return Err(
            "the attribute holds one CIDR; splitting it into several rules is left to a human"
                .into(),
        );
    }
    if let Some(bad) = allowed.iter().find(|c| OPEN.contains(&c.as_str())) {
        return Err(format!("allowed_cidrs may not contain {bad}"));
    }
    let mut edits = Vec::new();
    for element in open {
        let Some(origin) = &element.origin else {
            return Err("the open CIDR is computed, not written; change it by hand".into());
        };
        if element.as_str() == Some("::/0") {
            return Err("an IPv6 ::/0 range is open too; remove it by hand".into());
        }
        if let Some(shared) = shared_default(ws, origin) {
            return Err(format!("the CIDR is {shared}"));
        }
        editable_file(ws, origin.file)?;
        let text: Vec<String> = allowed.iter().map(|c| quote(c)).collect();
        edits.push(Edit {
            file: origin.file,
            span: origin.span.clone(),
            text: text.join(", "),
        });
    }
    Ok(edits)
}

// ── Kubernetes containers ────────────────────────────────────────────────────

const RESOURCE_KEYS: [(&str, &str, &str); 4] = [
    ("requests", "cpu", "requests_cpu"),
    ("requests", "memory", "requests_memory"),
    ("limits", "cpu", "limits_cpu"),
    ("limits", "memory", "limits_memory"),
];

fn containers<'w>(node: &Node<'w>) -> Vec<(String, Node<'w>)> {
    let paths: Vec<String> = CONTAINERS.iter().map(|s| (*s).to_owned()).collect();
    each_nodes(node, &paths)
}

fn k8s_resources<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    for (place, c) in containers(node) {
        let mut missing = Vec::new();
        let mut unknown = None;
        for (section, key, _) in RESOURCE_KEYS {
            match c.lookup(&format!("resources.{section}.{key}")) {
                Lookup::Found { value, .. } if value.is_known() => {}
                Lookup::Found { value, .. } => unknown = value.unknown_reason(),
                Lookup::Unknown { reason, .. } => unknown = Some(reason),
                Lookup::Missing { .. } => missing.push(format!("{section}.{key}")),
            }
        }
        let name = c
            .eval_attr("name")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| place.clone());
        if !missing.is_empty() {
            ctx.push(
                &c,
                Status::Violation,
                header_span(&c),
                place,
                format!("container {name:?} has no {}", missing.join(", ")),
                None,
                None,
            );
        } else if let Some(reason) = unknown {
            ctx.push(
                &c,
                Status::Unknown,
                header_span(&c),
                place,
                String::new(),
                Some(reason),
                None,
            );
        }
    }
}

fn k8s_resources_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let c = &hit.node;
    let mut sections: Vec<(String, serde_json::Map<String, Json>)> = Vec::new();
    for (section, key, param) in RESOURCE_KEYS {
        if let Lookup::Found { .. } = c.lookup(&format!("resources.{section}.{key}")) {
            continue;
        }
        let value = required(params, param)?;
        match sections.iter_mut().find(|(s, _)| s == section) {
            Some((_, map)) => {
                map.insert(key.into(), Json::String(value));
            }
            None => {
                let mut map = serde_json::Map::new();
                map.insert(key.into(), Json::String(value));
                sections.push((section.into(), map));
            }
        }
    }
    let mut values = Vec::new();
    for (section, map) in &sections {
        if let Lookup::Found { .. } = c.lookup(&format!("resources.{section}")) {
            return Err(format!(
                "resources.{section} is partly set; complete it by hand"
            ));
        }
        values.push((
            format!("resources.{section}"),
            Hcl::Data(Json::Object(map.clone())),
        ));
    }
    let refs: Vec<(&str, Hcl)> = values
        .iter()
        .map(|(p, v)| (p.as_str(), v.clone()))
        .collect();
    set_values(ws, c, &refs)
}

fn k8s_image<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    let from = param_str(ctx.params, "from");
    for (place, c) in containers(node) {
        let Some(attr) = c.body().get_attribute("image") else {
            continue;
        };
        let value = c.evaluator().eval(&attr.value, &c.scope);
        let span = span_of(attr);
        let Some(image) = value.as_str() else {
            if from.is_some() {
                ctx.push(
                    &c,
                    Status::Unknown,
                    span,
                    place,
                    String::new(),
                    value.unknown_reason(),
                    None,
                );
            }
            continue;
        };
        match &from {
            Some(from) if image == from => {
                ctx.push(
                    &c,
                    Status::Violation,
                    span,
                    place,
                    format!("image {image:?} is the one to replace"),
                    None,
                    None,
                );
            }
            Some(_) => {}
            None => {
                let last = image.rsplit('/').next().unwrap_or(image);
                let tag = last.split_once(':').map(|(_, t)| t);
                if !image.contains('@') && matches!(tag, None | Some("latest")) {
                    ctx.push(
                        &c,
                        Status::Violation,
                        span,
                        place,
                        format!("image {image:?} is not pinned to a version"),
                        None,
                        None,
                    );
                }
            }
        }
    }
}

fn k8s_image_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let to = required(params, "to")?;
    set_values(ws, &hit.node, &[("image", Hcl::Data(Json::String(to)))])
}

// ── GKE workload identity ────────────────────────────────────────────────────

fn gke_wi<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    // A pool that is set, even to a value known only later, counts as enabled.
    if let Lookup::Missing { .. } = node.lookup("workload_identity_config.workload_pool") {
        ctx.push(
            node,
            Status::Violation,
            header_span(node),
            "workload_identity_config".into(),
            "workload identity is not enabled".into(),
            None,
            None,
        );
    }
}

fn gke_wi_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let node = &hit.node;
    let pool = match param_str(params, "workload_pool") {
        Some(p) => Hcl::Data(Json::String(p)),
        None => {
            let attr = node.body().get_attribute("project").ok_or(
                "the cluster sets no `project`; give --param workload_pool=PROJECT.svc.id.goog",
            )?;
            match &attr.value {
                hcl_edit::expr::Expression::String(s) => Hcl::Data(Json::String(format!("{}.svc.id.goog", s.value()))),
                hcl_edit::expr::Expression::Traversal(_) => {
                    Hcl::Expr(format!("\"${{{}}}.svc.id.goog\"", expr_text(ws, node.file, &attr.value)))
                }
                _ => return Err("the cluster's project is computed; give --param workload_pool=PROJECT.svc.id.goog".into()),
            }
        }
    };
    set_values(
        ws,
        node,
        &[("workload_identity_config.workload_pool", pool)],
    )
}

// ── Cloud SQL authorized networks ────────────────────────────────────────────

fn sql_networks<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    let Some(settings) = node.children("settings").into_iter().next() else {
        return;
    };
    let Some(ip) = settings.children("ip_configuration").into_iter().next() else {
        return;
    };
    // A dynamic block's for_each, kept so the fix can rewrite its source.
    let dynamic = ip.body().iter().filter_map(|s| s.as_block()).find(|b| {
        b.ident.as_str() == "dynamic" && crate::model::label(b, 0) == "authorized_networks"
    });
    let for_each = dynamic.and_then(|d| {
        let attr = d.body.get_attribute("for_each")?;
        Some((
            ip.evaluator().eval(&attr.value, &ip.scope),
            span_of(attr),
            ip.file,
        ))
    });
    for (i, net) in ip.children("authorized_networks").into_iter().enumerate() {
        let Some(attr) = net.body().get_attribute("value") else {
            continue;
        };
        let value = net.evaluator().eval(&attr.value, &net.scope);
        let place = format!("authorized_networks[{i}]");
        match value.as_str() {
            Some(v) if OPEN.contains(&v) => {
                ctx.push(
                    &net,
                    Status::Violation,
                    span_of(attr),
                    place,
                    format!("authorized network {v} is the whole internet"),
                    None,
                    Some(FixData::SqlNetworks {
                        for_each: for_each.clone(),
                    }),
                );
            }
            Some(_) => {}
            None => ctx.push(
                &net,
                Status::Unknown,
                span_of(attr),
                place,
                String::new(),
                value.unknown_reason(),
                None,
            ),
        }
    }
}

/// A name for an authorized network: the one the workspace already gives to the
/// same CIDR elsewhere, or one derived from the CIDR.
fn network_name(ws: &Workspace, cidr: &str) -> String {
    for r in ws
        .resources
        .iter()
        .filter(|r| r.kind == "google_sql_database_instance")
    {
        let Some(node) = crate::scan::resource_node(ws, r) else {
            continue;
        };
        for s in node.children("settings") {
            for ip in s.children("ip_configuration") {
                for net in ip.children("authorized_networks") {
                    if net
                        .eval_attr("value")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .as_deref()
                        == Some(cidr)
                        && let Some(name) = net
                            .eval_attr("name")
                            .and_then(|v| v.as_str().map(str::to_owned))
                    {
                        return name;
                    }
                }
            }
        }
    }
    cidr.replace(['.', '/'], "-")
}

fn sql_networks_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let networks = param_list(params, "networks")
        .filter(|l| !l.is_empty())
        .ok_or("parameter \"networks\" is required (--param networks=10.0.0.0/20,10.1.0.0/20)")?;
    if networks.iter().any(|n| OPEN.contains(&n.as_str())) {
        return Err("networks may not contain 0.0.0.0/0".into());
    }
    let Some(FixData::SqlNetworks { for_each }) = &hit.custom else {
        return Err("nothing to replace".into());
    };
    match for_each {
        Some((value, _, _)) => {
            let Some(origin) = &value.origin else {
                return Err("the networks' for_each is computed; change it by hand".into());
            };
            let new = match &value.value {
                Value::Object(_) => Json::Object(networks.iter().map(|n| (network_name(ws, n), Json::String(n.clone()))).collect()),
                Value::List(items) if items.iter().all(|i| i.as_str().is_some()) => {
                    Json::Array(networks.iter().map(|n| Json::String(n.clone())).collect())
                }
                _ => return Err("the networks' for_each has a shape the fix does not rewrite; change it by hand".into()),
            };
            if json_equal(&new, value) {
                return Ok(Vec::new());
            }
            if let Some(shared) = shared_default(ws, origin) {
                return Err(format!("the networks are {shared}"));
            }
            editable_file(ws, origin.file)?;
            let file = ws.file(origin.file).ok_or("file vanished")?;
            let indent = file.indent_at(origin.span.start).to_owned();
            let text = crate::render::value(&Hcl::Data(new), &indent, file.newline());
            Ok(vec![Edit {
                file: origin.file,
                span: origin.span.clone(),
                text,
            }])
        }
        None => {
            let [only] = networks.as_slice() else {
                return Err("the open network is a single block; replacing it with several networks is left to a human".into());
            };
            set_values(
                ws,
                &hit.node,
                &[("value", Hcl::Data(Json::String(only.clone())))],
            )
        }
    }
}

// ── Azure subnets without a network security group ───────────────────────────

fn subnet_index(attr: &str) -> Option<usize> {
    attr.split('.')
        .filter_map(|p| p.strip_prefix('[').and_then(|p| p.strip_suffix(']')))
        .find_map(|n| n.parse().ok())
}

fn azure_subnet<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
    let ws = node.ws;
    let associations: Vec<Val> = siblings(
        ws,
        ctx.resource.instance,
        "azurerm_subnet_network_security_group_association",
    )
    .filter_map(|r| eval_in(ws, r, "subnet_id"))
    .collect();
    let address = ctx.resource.address.clone();
    if ctx.resource.kind == "azurerm_subnet" {
        if node.body().has_attribute("network_security_group_id") {
            return;
        }
        if associations.iter().any(|v| points_at(v, &address, None)) {
            return;
        }
        ctx.push(
            node,
            Status::Violation,
            header_span(node),
            String::new(),
            "no network security group is associated".into(),
            None,
            Some(FixData::AzureSubnet { inline: false }),
        );
        return;
    }
    for (i, subnet) in node.children("subnet").into_iter().enumerate() {
        if subnet.body().has_attribute("security_group") {
            continue;
        }
        let by_index = associations.iter().any(|v| match &v.value {
            Value::Ref { address: a, attr } => a == &address && subnet_index(attr) == Some(i),
            _ => false,
        });
        if by_index {
            continue;
        }
        let name = subnet
            .eval_attr("name")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        ctx.push(
            &subnet,
            Status::Violation,
            header_span(&subnet),
            format!("subnet[{i}]"),
            format!("subnet {name:?} has no network security group"),
            None,
            Some(FixData::AzureSubnet { inline: true }),
        );
    }
}

fn azure_subnet_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let nsg = required(params, "network_security_group")?;
    let prefix = ws
        .instances
        .get(hit.node.instance)
        .map(|i| i.path.clone())
        .unwrap_or_default();
    let full = if prefix.is_empty() {
        nsg.clone()
    } else {
        format!("{prefix}.{nsg}")
    };
    if ws
        .resource(&full)
        .is_none_or(|r| r.kind != "azurerm_network_security_group")
    {
        return Err(format!(
            "{nsg} is not an azurerm_network_security_group in this module"
        ));
    }
    let reference = Hcl::Expr(format!("{nsg}.id"));
    match &hit.custom {
        Some(FixData::AzureSubnet { inline: true }) => {
            set_values(ws, &hit.node, &[("security_group", reference)])
        }
        Some(FixData::AzureSubnet { inline: false }) => {
            let r = hit.resource;
            let mut body = NewBody::default();
            body.attrs.push((
                "subnet_id".into(),
                Hcl::Expr(format!("{}.{}.id", r.kind, r.name)),
            ));
            body.attrs
                .push(("network_security_group_id".into(), reference));
            let name = unique_name(
                ws,
                hit.node.instance,
                "azurerm_subnet_network_security_group_association",
                &r.name,
            );
            companion(
                ws,
                &hit.node,
                "azurerm_subnet_network_security_group_association",
                &name,
                &body,
            )
        }
        _ => Err("nothing to fix".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::major_range;

    #[test]
    fn provider_constraints_map_to_major_versions() {
        assert_eq!(major_range("~> 3.0"), (3, 4));
        assert_eq!(major_range("~> 5.0"), (5, 6));
        assert_eq!(major_range(">= 4"), (4, u64::MAX));
        assert_eq!(major_range(">= 3.0, < 4.0"), (3, 4));
        assert_eq!(major_range(">= 3.0"), (3, u64::MAX));
        assert_eq!(major_range("3.76.1"), (3, 4));
    }
}
