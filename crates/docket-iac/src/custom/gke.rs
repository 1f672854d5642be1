//! GKE clusters without workload identity.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::context::{Ctx, expr_text, param_str};
use crate::edit::set_values;
use crate::eval::{Lookup, Node};
use crate::hit::{Hit, Status, header_span};
use crate::model::Workspace;
use crate::render::{Edit, Hcl};

pub(super) fn gke_wi<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn gke_wi_fix(
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
