//! Administrative ports open to the whole internet: AWS security groups and their
//! rules, and GCP firewalls.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::context::{Ctx, param_list};
use crate::edit::{editable_file, shared_default};
use crate::eval::{Node, Val, Value};
use crate::hit::{FixData, Hit, Status, header_span};
use crate::model::{Workspace, span_of};
use crate::render::{Edit, quote};

pub(super) const OPEN: &[&str] = &["0.0.0.0/0", "::/0"];

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

pub(super) fn sg_open<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn firewall_open<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn open_cidr_fix(
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
