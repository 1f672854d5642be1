//! Checking a plan against the workspace and the catalog before anything is
//! applied: a plan (from `docket plan`, a file or a model) only chooses rules,
//! targets and parameters, and every choice must be one the fix engine can carry
//! out as meant.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value as Json;

use super::document::{PLAN_SCHEMA, Plan, PlanItem};
use crate::catalog::{Catalog, ParamFormat, ParamSpec, Rule};
use crate::model::{Resource, Workspace};
use crate::source::SourceSet;

/// One reason a plan cannot be applied as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanProblem {
    /// Index in the plan's `items`, when the problem is in one item.
    pub item: Option<usize>,
    /// The item's rule id, as the plan writes it.
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.item, &self.rule) {
            (Some(i), Some(rule)) => write!(f, "items[{i}] ({rule}): {}", self.message),
            (Some(i), None) => write!(f, "items[{i}]: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

/// Every problem of `plan` against this workspace and catalog, in plan order;
/// empty when the plan can be applied. All problems are reported, not the first:
/// whoever fixes the plan (a person or a model asked again) sees them at once.
///
/// Checked: the schema; a well-formed `ticket_digest` when one is given; that each
/// item's rule exists and has a fix; that it has targets, each the address of a
/// resource of the workspace (as the scanner writes it: `TYPE.NAME`, with
/// `module.CALL.` for each local module call) of a type the rule applies to, and
/// no (rule, target) pair twice; that each parameter is declared by the rule, has
/// the JSON type of its default (a single value when it has none) and the rule's
/// format (CIDR lists, port lists), and that every required parameter is given;
/// that a rule in several items has the same parameters in each (the fix takes one
/// set per rule); and that items explain themselves (`because`) and needs-human
/// entries say what and why. Not checked: that a target violates the rule now (a
/// fix of a compliant resource changes nothing) and `identifiers`, which are
/// informational.
pub fn validate_plan(plan: &Plan, sources: &SourceSet, catalog: &Catalog) -> Vec<PlanProblem> {
    let ws = Workspace::load(sources);
    let mut problems = Vec::new();
    let top = |message: String| PlanProblem {
        item: None,
        rule: None,
        message,
    };
    if plan.schema != PLAN_SCHEMA {
        problems.push(top(format!(
            "the plan's schema is {:?}, but docket reads {PLAN_SCHEMA:?}",
            plan.schema
        )));
    }
    if !plan.ticket_digest.is_empty() && !is_digest(&plan.ticket_digest) {
        problems.push(top(format!(
            "ticket_digest {:?} is not \"sha256:\" and 64 lowercase hex digits; leave it out or empty",
            plan.ticket_digest
        )));
    }
    let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut params_by_rule: BTreeMap<&str, (usize, &BTreeMap<String, Json>)> = BTreeMap::new();
    for (i, item) in plan.items.iter().enumerate() {
        let mut say = |message: String| {
            problems.push(PlanProblem {
                item: Some(i),
                rule: Some(item.rule.clone()),
                message,
            });
        };
        let rule = catalog.get(&item.rule);
        match rule {
            None => say(format!(
                "unknown rule {:?}; only rules of docket's catalog can be applied (`docket rules list`)",
                item.rule
            )),
            Some(r) if !r.fixable() => say(format!(
                "rule {:?} has no automatic fix; list the change under needs_human instead",
                item.rule
            )),
            Some(_) => {}
        }
        if item.because.trim().is_empty() {
            say("\"because\" is empty; quote the words of the ticket that ask for this fix".into());
        }
        if item.targets.is_empty() {
            say("no targets; list the addresses of the resources to fix".into());
        }
        for target in &item.targets {
            match pairs.get(&(item.rule.as_str(), target.as_str())) {
                Some(&j) if j == i => {
                    say(format!("target {target} is listed twice"));
                    continue;
                }
                Some(&j) => {
                    say(format!(
                        "target {target} is already planned for this rule in items[{j}]"
                    ));
                    continue;
                }
                None => {
                    pairs.insert((item.rule.as_str(), target.as_str()), i);
                }
            }
            if let Some(message) = target_problem(&ws, rule, target) {
                say(message);
            }
        }
        if let Some(r) = rule.filter(|r| r.fixable()) {
            for message in param_problems(r, item) {
                say(message);
            }
        }
        match params_by_rule.get(item.rule.as_str()) {
            Some((j, first)) if *first != &item.params => say(format!(
                "the rule is also planned in items[{j}] with other parameters; a rule takes one set of parameters per plan, so give both items the same ones or merge them"
            )),
            Some(_) => {}
            None => {
                params_by_rule.insert(item.rule.as_str(), (i, &item.params));
            }
        }
    }
    for (i, n) in plan.needs_human.iter().enumerate() {
        if n.subject.trim().is_empty() {
            problems.push(top(format!(
                "needs_human[{i}] has an empty subject; name the resource or the ticket"
            )));
        }
        if n.reason.trim().is_empty() {
            problems.push(top(format!(
                "needs_human[{i}] has an empty reason; say why a human must decide"
            )));
        }
    }
    problems
}

fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Why `target` cannot be a target of `rule`, if it cannot.
fn target_problem(ws: &Workspace, rule: Option<&Rule>, target: &str) -> Option<String> {
    let found: Vec<&Resource> = ws
        .resources
        .iter()
        .filter(|r| r.address == target)
        .collect();
    if found.is_empty() {
        return Some(format!(
            "no resource {target} in the workspace{}",
            address_hint(ws, target)
        ));
    }
    let rule = rule?;
    if found
        .iter()
        .any(|r| rule.resource_types.iter().any(|t| t == &r.kind))
    {
        return None;
    }
    let kinds: BTreeSet<&str> = found.iter().map(|r| r.kind.as_str()).collect();
    Some(format!(
        "{target} is {}, but the rule applies to {}",
        kinds.into_iter().collect::<Vec<_>>().join(" and "),
        rule.resource_types.join(", ")
    ))
}

/// What the author may have meant by an address that is not in the workspace.
fn address_hint(ws: &Workspace, target: &str) -> String {
    if let Some(open) = target.find('[') {
        let base = target.get(..open).unwrap_or(target);
        if ws.resource(base).is_some() {
            return format!(
                "; write {base} without the instance index (count and for_each instances are fixed as one block)"
            );
        }
    }
    let suffix = format!(".{target}");
    let similar: BTreeSet<&str> = ws
        .resources
        .iter()
        .filter(|r| r.address.ends_with(&suffix))
        .map(|r| r.address.as_str())
        .take(3)
        .collect();
    if similar.is_empty() {
        "; use an address the scanner reports (TYPE.NAME, module.CALL.TYPE.NAME)".into()
    } else {
        format!(
            "; a resource in a module has its module path in the address: {}",
            similar.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

fn param_problems(rule: &Rule, item: &PlanItem) -> Vec<String> {
    let declared: Vec<&ParamSpec> = rule.fix.iter().flat_map(|f| f.params.iter()).collect();
    let mut out = Vec::new();
    for (name, value) in &item.params {
        let Some(spec) = declared.iter().find(|p| &p.name == name) else {
            let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
            out.push(if names.is_empty() {
                format!("unknown parameter {name:?}; the rule takes no parameters")
            } else {
                format!(
                    "unknown parameter {name:?}; the rule takes {}",
                    names.join(", ")
                )
            });
            continue;
        };
        if let Err(why) = check_param(spec, value) {
            out.push(format!("parameter {name:?} {why}"));
        }
    }
    for spec in &declared {
        if spec.required() && !item.params.contains_key(&spec.name) {
            out.push(format!(
                "parameter {:?} is required and has no default: {}",
                spec.name,
                spec.description.trim_end_matches('.')
            ));
        }
    }
    out
}

/// The value is one the fix can write as meant: the JSON type of the default (a
/// single value when there is none) and the declared format.
fn check_param(spec: &ParamSpec, value: &Json) -> Result<(), String> {
    if value.is_null() {
        return Err(if spec.default.is_some() {
            "is null; leave it out to use its default".into()
        } else {
            "is null; give a value or leave it out".into()
        });
    }
    match spec.format {
        Some(ParamFormat::CidrList) => return cidr_list(value),
        Some(ParamFormat::PortList) => return port_list(value),
        None => {}
    }
    match &spec.default {
        Some(default) => {
            let want = crate::scan::toml_to_json(default);
            same_type(&want, value).map_err(|expected| {
                format!(
                    "must be {expected} like its default {want}, not {}",
                    json_kind(value)
                )
            })
        }
        None => match value {
            Json::String(_) | Json::Number(_) | Json::Bool(_) => Ok(()),
            _ => Err(format!(
                "must be a single value (a string), not {}",
                json_kind(value)
            )),
        },
    }
}

/// `Err(what was expected)` when `value` is not of `want`'s JSON type; list
/// elements are compared with the default's first element.
fn same_type(want: &Json, value: &Json) -> Result<(), String> {
    let ok = match (want, value) {
        (Json::Number(w), Json::Number(v)) => {
            !(w.is_i64() || w.is_u64()) || v.is_i64() || v.is_u64()
        }
        (Json::Array(w), Json::Array(v)) => match w.first() {
            Some(first) => {
                for element in v {
                    same_type(first, element).map_err(|e| format!("a list of {}", plural(&e)))?;
                }
                true
            }
            None => true,
        },
        (Json::String(_), Json::String(_))
        | (Json::Bool(_), Json::Bool(_))
        | (Json::Object(_), Json::Object(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(json_kind(want).into())
    }
}

fn plural(kind: &str) -> String {
    let bare = kind
        .strip_prefix("an ")
        .or_else(|| kind.strip_prefix("a "))
        .unwrap_or(kind);
    format!("{bare}s")
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

fn cidr_list(value: &Json) -> Result<(), String> {
    let Json::Array(items) = value else {
        return Err(format!(
            "must be a list of CIDR ranges such as [\"10.0.0.0/8\"], not {}",
            json_kind(value)
        ));
    };
    if items.is_empty() {
        return Err("is an empty list; give at least one CIDR range".into());
    }
    let mut bad = Vec::new();
    for item in items {
        let Json::String(text) = item else {
            bad.push(format!("{item} is not a string"));
            continue;
        };
        if let Err(why) = cidr(text) {
            bad.push(why);
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "has entries that are not allowed: {}",
            bad.join("; ")
        ))
    }
}

/// A CIDR network address that does not open the range to everyone.
fn cidr(text: &str) -> Result<(), String> {
    let not_cidr = || format!("{text:?} is not a CIDR range (ADDRESS/PREFIX, e.g. 10.0.0.0/8)");
    let (addr, prefix) = text.split_once('/').ok_or_else(not_cidr)?;
    let addr: IpAddr = addr.parse().map_err(|_| not_cidr())?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_cidr());
    }
    let prefix: u32 = prefix.parse().map_err(|_| not_cidr())?;
    let (bits, host_bits_set) = match addr {
        IpAddr::V4(a) => {
            let n = u32::from(a);
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(prefix))
                .unwrap_or(0);
            (32, n & !mask != 0)
        }
        IpAddr::V6(a) => {
            let n = u128::from(a);
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(prefix))
                .unwrap_or(0);
            (128, n & !mask != 0)
        }
    };
    if prefix > bits {
        return Err(format!("{text:?} has a prefix longer than {bits} bits"));
    }
    if prefix == 0 {
        return Err(format!(
            "{text:?} opens the range to everyone, which is what the fix removes"
        ));
    }
    if host_bits_set {
        return Err(format!(
            "{text:?} has host bits set; give the network address of the range"
        ));
    }
    Ok(())
}

fn port_list(value: &Json) -> Result<(), String> {
    let Json::Array(items) = value else {
        return Err(format!(
            "must be a list of port numbers such as [22, 3389], not {}",
            json_kind(value)
        ));
    };
    if items.is_empty() {
        return Err("is an empty list; give at least one port".into());
    }
    let bad: Vec<String> = items
        .iter()
        .filter(|p| !p.as_u64().is_some_and(|n| (1..=65535).contains(&n)))
        .map(Json::to_string)
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "must hold port numbers from 1 to 65535, not {}",
            bad.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::cidr;

    #[test]
    fn cidr_ranges_truth_table() {
        for (text, ok) in [
            ("10.0.0.0/8", true),
            ("203.0.113.0/24", true),
            ("35.235.240.0/20", true),
            ("192.0.2.7/32", true),
            ("2001:db8::/32", true),
            ("10.0.0.1/8", false),
            ("0.0.0.0/0", false),
            ("::/0", false),
            ("10.0.0.0/33", false),
            ("10.0.0.0", false),
            ("10.0.0.0/+8", false),
            ("10.0.0/8", false),
            ("office vpn", false),
            ("", false),
            ("2001:db8::/129", false),
            ("2001:db8::1/32", false),
        ] {
            assert_eq!(cidr(text).is_ok(), ok, "{text}: {:?}", cidr(text));
        }
    }
}
