//! Cloud SQL instances whose authorized networks include the whole internet.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::context::{Ctx, param_list};
use super::open_ports::OPEN;
use crate::edit::{editable_file, json_equal, set_values, shared_default};
use crate::eval::{Node, Value};
use crate::hit::{FixData, Hit, Status};
use crate::model::{Workspace, span_of};
use crate::render::{Edit, Hcl};

pub(super) fn sql_networks<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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
        let Some(node) = crate::hit::resource_node(ws, r) else {
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

pub(super) fn sql_networks_fix(
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
