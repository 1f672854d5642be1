//! Kubernetes containers: resource requests and limits, and pinned images.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::context::{Ctx, param_str, required};
use crate::edit::set_values;
use crate::eval::{Lookup, Node};
use crate::hit::{Hit, Status, each_nodes, header_span};
use crate::model::{Workspace, span_of};
use crate::render::{Edit, Hcl};

const CONTAINERS: &[&str] = &[
    "spec.template.spec.container",
    "spec.job_template.spec.template.spec.container",
    "spec.container",
];

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

pub(super) fn k8s_resources<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn k8s_resources_fix(
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

pub(super) fn k8s_image<'w>(ctx: &mut Ctx<'_, 'w>, node: &Node<'w>) {
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

pub(super) fn k8s_image_fix(
    ws: &Workspace,
    hit: &Hit<'_>,
    params: &BTreeMap<String, Json>,
) -> Result<Vec<Edit>, String> {
    let to = required(params, "to")?;
    set_values(ws, &hit.node, &[("image", Hcl::Data(Json::String(to)))])
}
