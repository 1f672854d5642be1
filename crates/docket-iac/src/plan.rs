//! Turning a remediation ticket written for humans into a plan: rules, targets and
//! parameters, decided without a model.
//!
//! The ticket is data. Identifiers (ARNs, resource paths, bucket URLs, backticked
//! names, CIDRs) are matched against each resource's names, evaluated attributes
//! and the comments written above it; phrases in the required action select rules;
//! values in the ticket fill parameters. Anything that cannot be mapped with
//! confidence becomes a `needs-human` item with the reason.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::Value as Json;

use crate::catalog::Catalog;
use crate::fix::{FixRequest, fix};
use crate::model::Workspace;
use crate::scan::{ScanOptions, Status, hits, resource_node};
use crate::source::SourceSet;

mod answer;
mod context;
mod document;
mod validate;

pub use answer::{PlanAnswerError, parse_plan_answer, parse_plan_json};
pub use context::{PLANNER_CONTEXT_SCHEMA, planner_context};
pub use validate::{PlanProblem, validate_plan};

pub use document::{Identifier, NeedsHuman, PLAN_JSON_SCHEMA, PLAN_SCHEMA, Plan, PlanItem};

struct Intent {
    rule: &'static str,
    pattern: &'static str,
}

/// Phrases of a required action that ask for what a rule does.
const INTENTS: &[Intent] = &[
    Intent {
        rule: "aws-s3-encryption",
        pattern: r"(?i)\b(sse-kms|sse-s3|server-side encryption|default encryption|encryption)\b",
    },
    Intent {
        rule: "aws-sg-open-admin-ports",
        pattern: r"(?i)\b(ssh|rdp|port 22|port 3389)\b.*\b(restrict|only from|allow connections only)|\b(restrict|limit)\b.*\b(ssh|rdp)\b",
    },
    Intent {
        rule: "gcp-firewall-open-admin-ports",
        pattern: r"(?i)\b(ssh|rdp)\b.*\b(restrict|only from)|\b(restrict|limit)\b.*\b(ssh|rdp)\b",
    },
    Intent {
        rule: "gcp-storage-uniform-access",
        pattern: r"(?i)uniform bucket[- ]level access",
    },
    Intent {
        rule: "k8s-container-resources",
        pattern: r"(?i)resource requests|requests and limits|resource limits",
    },
    Intent {
        rule: "k8s-container-image",
        pattern: r"(?i)\bimage\b.*\bfrom\b.*\bto\b",
    },
    Intent {
        rule: "gke-workload-identity",
        pattern: r"(?i)workload identity",
    },
    Intent {
        rule: "gke-node-metadata-server",
        pattern: r"(?i)metadata server",
    },
    Intent {
        rule: "gke-shielded-nodes",
        pattern: r"(?i)shielded nodes|secure boot|integrity monitoring",
    },
    Intent {
        rule: "gke-cluster-shielded-nodes",
        pattern: r"(?i)shielded nodes",
    },
    Intent {
        rule: "aws-rds-multi-az",
        pattern: r"(?i)multi-az",
    },
    Intent {
        rule: "aws-rds-backup-retention",
        pattern: r"(?i)backup retention|automated backups",
    },
    Intent {
        rule: "aws-rds-storage-encrypted",
        pattern: r"(?i)encrypt\w* (the )?(database|storage|instance)",
    },
    Intent {
        rule: "azure-subnet-nsg",
        pattern: r"(?i)\bassociate\b.*\b(nsg|network security group)\b",
    },
    Intent {
        rule: "gcp-sql-require-ssl",
        pattern: r"(?i)require ssl|ssl for all connections|require tls",
    },
    Intent {
        rule: "gcp-sql-authorized-networks",
        pattern: r"(?i)authorized networks?",
    },
    Intent {
        rule: "aws-kms-key-rotation",
        pattern: r"(?i)key rotation|rotate the key",
    },
    Intent {
        rule: "aws-cloudtrail-log-validation",
        pattern: r"(?i)enable log file validation",
    },
    Intent {
        rule: "aws-ec2-imdsv2",
        pattern: r"(?i)imdsv2|http_tokens",
    },
];

fn re(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

/// The part of the ticket that says what to do: the "Required Action" section when
/// there is one, else the whole text.
fn required_action(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    let Some(start) = lower.find("## required action") else {
        return text;
    };
    let rest = text.get(start..).unwrap_or("");
    let end = rest
        .get(3..)
        .and_then(|r| r.find("\n## "))
        .map_or(rest.len(), |e| e + 3);
    rest.get(..end).unwrap_or(rest)
}

/// The first sentence of the requested action, for a reviewer: markdown
/// markers dropped, control characters removed (the ticket is untrusted text),
/// cut at 160 characters.
fn first_ask(action: &str) -> Option<String> {
    const MAX: usize = 160;
    let line = action
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let line = line.trim_start_matches(['-', '*', '>', ' ']);
    let line = line
        .split_once(". ")
        .map_or(line, |(first, _)| first)
        .trim_end_matches(['.', ':']);
    let clean: String = line
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect::<String>()
        .replace("**", "");
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.is_empty() {
        return None;
    }
    Some(if clean.chars().count() > MAX {
        format!("{}…", clean.chars().take(MAX).collect::<String>())
    } else {
        clean
    })
}

fn identifiers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        let s = s.trim().trim_end_matches(['.', ',', ')']).to_owned();
        if s.len() >= 3 && !out.contains(&s) {
            out.push(s);
        }
    };
    if let Some(r) = re(r"`([^`\n]+)`") {
        for c in r.captures_iter(text) {
            if let Some(m) = c.get(1) {
                push(m.as_str());
            }
        }
    }
    if let Some(r) =
        re(r"(arn:aws[a-z-]*:[^\s`|)]+|gs://[^\s`|)]+|/subscriptions/[^\s`|)]+|projects/[^\s`|)]+)")
    {
        for m in r.find_iter(text) {
            push(m.as_str());
        }
    }
    out
}

fn cidrs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = re(r"\b\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}\b") {
        for m in r.find_iter(text) {
            let s = m.as_str().to_owned();
            if s != "0.0.0.0/0" && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Names a resource is known by: evaluated identity attributes and its labels.
fn names(ws: &Workspace, r: &crate::model::Resource) -> Vec<String> {
    let mut out = vec![r.name.clone(), r.address.clone()];
    let Some(node) = resource_node(ws, r) else {
        return out;
    };
    for key in [
        "name",
        "bucket",
        "identifier",
        "cluster_name",
        "node_group_name",
        "account_id",
        "metadata.name",
    ] {
        if let crate::eval::Lookup::Found { value, .. } = node.lookup(key)
            && let Some(s) = value.as_str()
        {
            out.push(s.to_owned());
        }
    }
    out
}

/// Which resources an identifier names. Comments above a resource (or above the
/// module call that creates it) count when they hold the identifier verbatim.
fn resolve(ws: &Workspace, ident: &str) -> Vec<String> {
    let bare = ident.strip_prefix("gs://").unwrap_or(ident);
    let mut by_comment = BTreeSet::new();
    let mut by_name: Vec<(usize, String)> = Vec::new();
    let segments: Vec<&str> = bare.rsplit(['/', ':']).filter(|s| !s.is_empty()).collect();
    for r in &ws.resources {
        let Some(file) = ws.file(r.block.file) else {
            continue;
        };
        let start = ws
            .block(r.block)
            .and_then(hcl_edit::Span::span)
            .map_or(0, |s| s.start);
        let mut comments = file.comments_above(start);
        // A resource inside a module instance is also named by the call's comments.
        let mut inst = ws.instances.get(r.instance);
        while let Some(i) = inst {
            let Some((caller, call)) = i.caller else {
                break;
            };
            if let Some(c) = ws.instance_module(caller).and_then(|m| m.calls.get(call))
                && let Some(f) = ws.file(c.block.file)
            {
                let s = ws
                    .block(c.block)
                    .and_then(hcl_edit::Span::span)
                    .map_or(0, |s| s.start);
                comments.extend(f.comments_above(s));
            }
            inst = ws.instances.get(caller);
        }
        if ident.len() > 8
            && comments.iter().any(|c| {
                c.split_whitespace()
                    .any(|w| w.trim_end_matches([',', '.']) == ident)
            })
        {
            by_comment.insert(r.address.clone());
            continue;
        }
        let known = names(ws, r);
        for (depth, seg) in segments.iter().enumerate() {
            if known.iter().skip(2).any(|n| n == seg)
                || (depth == 0 && known.first().is_some_and(|n| n == seg) && segments.len() == 1)
            {
                by_name.push((depth, r.address.clone()));
                break;
            }
        }
    }
    if !by_comment.is_empty() {
        return by_comment.into_iter().collect();
    }
    let best = by_name.iter().map(|(d, _)| *d).min();
    by_name
        .into_iter()
        .filter(|(d, _)| Some(*d) == best)
        .map(|(_, a)| a)
        .collect()
}

fn params_for(
    rule: &str,
    action: &str,
    ws: &Workspace,
    subjects: &[String],
) -> Result<BTreeMap<String, Json>, String> {
    let mut p = BTreeMap::new();
    let s = |v: &str| Json::String(v.to_owned());
    match rule {
        "aws-s3-encryption" => {
            if let Some(m) = re(r"arn:aws[a-z-]*:kms:[^\s`|)]+").and_then(|r| r.find(action)) {
                p.insert(
                    "kms_master_key_id".into(),
                    s(m.as_str().trim_end_matches('.')),
                );
                p.insert("sse_algorithm".into(), s("aws:kms"));
            } else if action.to_ascii_lowercase().contains("sse-s3") || action.contains("AES256") {
                p.insert("sse_algorithm".into(), s("AES256"));
            }
        }
        "aws-sg-open-admin-ports" | "gcp-firewall-open-admin-ports" => {
            let c = cidrs(action);
            if c.is_empty() {
                return Err("the ticket names no CIDR to allow instead".into());
            }
            p.insert(
                "allowed_cidrs".into(),
                Json::Array(c.iter().map(|x| s(x)).collect()),
            );
            let lower = action.to_ascii_lowercase();
            let ssh = lower.contains("ssh") || lower.contains("port 22");
            let rdp = lower.contains("rdp") || lower.contains("port 3389");
            let ports: Vec<Json> = match (ssh, rdp) {
                (true, false) => vec![Json::from(22)],
                (false, true) => vec![Json::from(3389)],
                _ => vec![Json::from(22), Json::from(3389)],
            };
            p.insert("ports".into(), Json::Array(ports));
        }
        "k8s-container-resources" => {
            let clean = action.replace('*', "");
            let r = re(r"(?i)\b(memory|cpu)\s+(requests?|limits?)\s*:?\s*`?([0-9.]+[A-Za-z]*)`?")
                .ok_or("bad pattern")?;
            for c in r.captures_iter(&clean) {
                let (Some(kind), Some(section), Some(v)) = (c.get(1), c.get(2), c.get(3)) else {
                    continue;
                };
                let section = if section.as_str().to_ascii_lowercase().starts_with("limit") {
                    "limits"
                } else {
                    "requests"
                };
                p.insert(
                    format!("{section}_{}", kind.as_str().to_ascii_lowercase()),
                    s(v.as_str()),
                );
            }
            if p.len() < 4 {
                return Err(
                    "the ticket does not give all four of memory/cpu requests/limits".into(),
                );
            }
        }
        "k8s-container-image" => {
            let r = re(r"(?is)\bfrom\s+`([^`]+)`.*?\bto\b[^`]*`([^`]+)`").ok_or("bad pattern")?;
            let c = r
                .captures(action)
                .ok_or("the ticket does not say which image to replace with which")?;
            let (Some(from), Some(to)) = (c.get(1), c.get(2)) else {
                return Err("the ticket does not say which image to replace with which".into());
            };
            p.insert("from".into(), s(from.as_str()));
            p.insert("to".into(), s(to.as_str()));
        }
        "aws-rds-backup-retention" => {
            if let Some(c) =
                re(r"(?i)retention\D{0,20}(\d+)\s*days?").and_then(|r| r.captures(action))
                && let Some(d) = c.get(1).and_then(|d| d.as_str().parse::<u64>().ok())
            {
                p.insert("days".into(), Json::from(d));
            }
            if let Some(c) =
                re(r"(\d{2}:\d{2})\s*[-–]\s*(\d{2}:\d{2})").and_then(|r| r.captures(action))
                && let (Some(a), Some(b)) = (c.get(1), c.get(2))
            {
                p.insert(
                    "backup_window".into(),
                    s(&format!("{}-{}", a.as_str(), b.as_str())),
                );
            }
        }
        "gcp-sql-authorized-networks" => {
            let c = cidrs(action);
            if c.is_empty() {
                return Err("the ticket names no networks to allow".into());
            }
            p.insert(
                "networks".into(),
                Json::Array(c.iter().map(|x| s(x)).collect()),
            );
        }
        "azure-subnet-nsg" => {
            let nsgs: Vec<&String> = subjects
                .iter()
                .filter(|a| {
                    ws.resource(a)
                        .is_some_and(|r| r.kind == "azurerm_network_security_group")
                })
                .collect();
            match nsgs.as_slice() {
                [one] => {
                    p.insert("network_security_group".into(), s(one));
                }
                [] => {
                    return Err(
                        "the ticket names no network security group of this workspace".into(),
                    );
                }
                _ => return Err("the ticket names several network security groups".into()),
            }
        }
        _ => {}
    }
    Ok(p)
}

/// Does resource `r` reference any of `subjects` (a node pool naming its cluster)?
fn references_any(ws: &Workspace, r: &crate::model::Resource, subjects: &BTreeSet<String>) -> bool {
    let Some(node) = resource_node(ws, r) else {
        return false;
    };
    node.body().attributes().any(|a| {
        let v = node.evaluator().eval(&a.value, &node.scope);
        matches!(&v.value, crate::eval::Value::Ref { address, .. } if subjects.contains(address))
    })
}

pub fn make_plan(sources: &SourceSet, catalog: &Catalog, ticket: &str) -> Plan {
    let ws = Workspace::load(sources);
    let action = required_action(ticket);
    let mut needs = BTreeSet::new();
    let mut ids = Vec::new();
    let mut subjects: BTreeSet<String> = BTreeSet::new();
    for text in identifiers(ticket) {
        if re(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$").is_some_and(|r| r.is_match(&text)) {
            continue;
        }
        let resources = resolve(&ws, &text);
        subjects.extend(resources.iter().cloned());
        ids.push(Identifier { text, resources });
    }
    let mut items: Vec<PlanItem> = Vec::new();
    let mut matched_any = false;
    for intent in INTENTS {
        let Some(rule) = catalog.get(intent.rule) else {
            continue;
        };
        let Some(m) = re(intent.pattern).and_then(|r| r.find(action)) else {
            continue;
        };
        let types: BTreeSet<&str> = rule.resource_types.iter().map(String::as_str).collect();
        let direct: Vec<String> = subjects
            .iter()
            .filter(|a| {
                ws.resource(a)
                    .is_some_and(|r| types.contains(r.kind.as_str()))
            })
            .cloned()
            .collect();
        let targets: Vec<String> = if direct.is_empty() {
            ws.resources
                .iter()
                .filter(|r| types.contains(r.kind.as_str()) && references_any(&ws, r, &subjects))
                .map(|r| r.address.clone())
                .collect()
        } else {
            direct
        };
        if targets.is_empty() {
            continue;
        }
        matched_any = true;
        let params = match params_for(
            intent.rule,
            action,
            &ws,
            &subjects.iter().cloned().collect::<Vec<_>>(),
        ) {
            Ok(p) => p,
            Err(reason) => {
                needs.insert(NeedsHuman {
                    subject: format!("{} on {}", intent.rule, targets.join(", ")),
                    reason,
                });
                continue;
            }
        };
        // Only targets the rule finds at fault; unknown values go to a human.
        let opts = ScanOptions {
            rules: [intent.rule.to_owned()].into(),
            min_severity: None,
            params: [(intent.rule.to_owned(), params.clone())].into(),
        };
        let mut violating = BTreeSet::new();
        for h in hits(&ws, catalog, &opts) {
            if !targets.contains(&h.resource.address) {
                continue;
            }
            match h.status {
                Status::Violation => {
                    violating.insert(h.resource.address.clone());
                }
                Status::Unknown => {
                    needs.insert(NeedsHuman {
                        subject: format!("{} on {}", intent.rule, h.resource.address),
                        reason: format!(
                            "the value cannot be known: {}",
                            h.reason.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        if violating.is_empty() {
            continue;
        }
        items.push(PlanItem {
            rule: intent.rule.to_owned(),
            targets: violating.into_iter().collect(),
            params,
            because: m.as_str().trim().to_owned(),
        });
    }
    // A dry run: an item whose fix cannot be applied goes to a human, with the reason.
    let mut kept = Vec::new();
    for item in items {
        let mut req = FixRequest::default();
        req.rules.insert(item.rule.clone());
        req.targets.extend(item.targets.iter().cloned());
        req.params.insert(item.rule.clone(), item.params.clone());
        let outcome = fix(sources, catalog, &req);
        let failed: Vec<_> = outcome
            .skipped
            .iter()
            .filter(|s| item.targets.contains(&s.address))
            .collect();
        if failed.is_empty() && outcome.changed_anything() {
            kept.push(item);
        } else {
            for s in failed {
                needs.insert(NeedsHuman {
                    subject: format!("{} on {}", s.rule_id, s.address),
                    reason: s.reason.clone(),
                });
            }
        }
    }
    if !matched_any && kept.is_empty() {
        let mapped: Vec<String> = ids
            .iter()
            .flat_map(|i| i.resources.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let asks = first_ask(action)
            .map(|a| format!(" (it asks: \"{a}\")"))
            .unwrap_or_default();
        needs.insert(NeedsHuman {
            subject: "ticket".into(),
            reason: if mapped.is_empty() {
                format!("no rule in the catalog makes the change the ticket asks for{asks}, and none of its identifiers names a resource of this workspace")
            } else {
                format!(
                    "no rule in the catalog makes the change the ticket asks for{asks}; its identifiers name {}; the change needs a human design",
                    mapped.join(", ")
                )
            },
        });
    }
    Plan {
        schema: PLAN_SCHEMA.into(),
        ticket_digest: format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ticket.as_bytes()))
        ),
        identifiers: ids,
        items: kept,
        needs_human: needs.into_iter().collect(),
    }
}
