//! aws-s3-encryption: a bucket needs default encryption, inline on AWS provider 3.x
//! or as a companion resource from 4.x on.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::companion::{companion, unique_name};
use super::context::{Ctx, eval_in, expr_text, param_str, points_at, siblings};
use crate::edit::editable_insert;
use crate::eval::Node;
use crate::hit::{Hit, Status, header_span};
use crate::model::Workspace;
use crate::render::{Edit, Hcl, NewBody};

pub(super) fn s3_encryption<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn s3_encryption_fix(
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
