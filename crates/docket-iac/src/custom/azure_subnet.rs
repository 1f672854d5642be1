//! Azure subnets without a network security group, inline or as `azurerm_subnet`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::companion::{companion, unique_name};
use super::context::{Ctx, eval_in, points_at, required, siblings};
use crate::edit::set_values;
use crate::eval::{Node, Val, Value};
use crate::hit::{FixData, Hit, Status, header_span};
use crate::model::Workspace;
use crate::render::{Edit, Hcl, NewBody};

fn subnet_index(attr: &str) -> Option<usize> {
    attr.split('.')
        .filter_map(|p| p.strip_prefix('[').and_then(|p| p.strip_suffix(']')))
        .find_map(|n| n.parse().ok())
}

pub(super) fn azure_subnet<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn azure_subnet_fix(
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
