//! What the resource families' checks and fixes work with: the check context
//! that turns what a check saw into hits, readers of the rule's parameters, and
//! lookups in the workspace (sibling resources, attribute values, references).

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value as Json;

use crate::eval::{Node, Val, Value};
use crate::hit::{FixData, Hit, Status, resource_node};
use crate::model::{Resource, Workspace, span_of};
use crate::rule::Rule;

pub(super) struct Ctx<'a, 'w> {
    pub(super) rule: &'w Rule,
    pub(super) resource: &'w Resource,
    pub(super) params: &'a BTreeMap<String, Json>,
    pub(super) out: &'a mut Vec<Hit<'w>>,
}

impl<'w> Ctx<'_, 'w> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
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

pub(super) fn param_str(params: &BTreeMap<String, Json>, name: &str) -> Option<String> {
    match params.get(name)? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn param_list(params: &BTreeMap<String, Json>, name: &str) -> Option<Vec<String>> {
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

pub(super) fn required(params: &BTreeMap<String, Json>, name: &str) -> Result<String, String> {
    param_str(params, name)
        .ok_or_else(|| format!("parameter {name:?} is required (--param {name}=VALUE)"))
}

/// Resources of `kind` in the same module instance as `node`.
pub(super) fn siblings<'w>(
    ws: &'w Workspace,
    instance: usize,
    kind: &'w str,
) -> impl Iterator<Item = &'w Resource> + 'w {
    ws.resources
        .iter()
        .filter(move |r| r.instance == instance && r.kind == kind)
}

pub(super) fn eval_in(ws: &Workspace, r: &Resource, key: &str) -> Option<Val> {
    resource_node(ws, r)?.eval_attr(key)
}

/// Does `v` point at resource `address` (through a reference or its name)?
pub(super) fn points_at(v: &Val, address: &str, name: Option<&str>) -> bool {
    match &v.value {
        Value::Ref { address: a, .. } => a == address,
        Value::String(s) => name.is_some_and(|n| n == s),
        _ => false,
    }
}

pub(super) fn expr_text(ws: &Workspace, file: usize, e: &hcl_edit::expr::Expression) -> String {
    ws.file(file)
        .map(|f| f.slice(&span_of(e)).trim().to_owned())
        .unwrap_or_default()
}
