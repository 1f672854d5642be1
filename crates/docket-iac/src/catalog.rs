//! The rule catalog: one `rules/<id>/rule.toml` per rule, embedded at build time.
//!
//! A rule file carries what a reviewer or an auditor needs to know about the rule
//! (title, severity, rationale, references to CIS, AWS FSBP, Checkov and Trivy) and
//! what the engine needs to apply it: a [`CheckSpec`] and, when the rule is fixable,
//! a [`FixSpec`]. Simple rules are fully declarative; rules that need real
//! reasoning (companion resources, module call sites, provider versions) name a
//! built-in check implemented in the `custom` module, known here by name only
//! ([`CUSTOM_CHECKS`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::IacError;
use crate::rule::CUSTOM_CHECKS;
pub use crate::rule::{
    CheckKind, CheckSpec, Condition, FixKind, FixSpec, Missing, ParamFormat, ParamSpec, References,
    Rule, SetSpec, Severity,
};

include!(concat!(env!("OUT_DIR"), "/rule_files.rs"));

/// The whole catalog, sorted by id.
#[derive(Debug)]
pub struct Catalog {
    rules: Vec<Rule>,
}

static CATALOG: OnceLock<Result<Catalog, IacError>> = OnceLock::new();

impl Catalog {
    /// The built-in catalog. Rule files are checked by the test suite, so an error
    /// here means a broken build, reported rather than panicking.
    pub fn builtin() -> Result<&'static Catalog, IacError> {
        CATALOG
            .get_or_init(|| Catalog::parse(RULE_FILES))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn parse(files: &[(&str, &str)]) -> Result<Catalog, IacError> {
        let mut rules = Vec::with_capacity(files.len());
        for (folder, text) in files {
            let rule: Rule = toml::from_str(text).map_err(|e| IacError::Rule {
                id: (*folder).to_owned(),
                message: e.to_string(),
            })?;
            validate(folder, &rule)?;
            rules.push(rule);
        }
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Catalog { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.rules.get(i))
    }

    /// Rules by resource type, for the scanner's dispatch.
    pub fn by_resource_type(&self) -> BTreeMap<&str, Vec<&Rule>> {
        let mut map: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
        for rule in &self.rules {
            for kind in &rule.resource_types {
                map.entry(kind.as_str()).or_default().push(rule);
            }
        }
        map
    }
}

fn validate(folder: &str, rule: &Rule) -> Result<(), IacError> {
    let fail = |message: String| IacError::Rule {
        id: folder.to_owned(),
        message,
    };
    if rule.id != folder {
        return Err(fail(format!(
            "id {:?} differs from its folder name",
            rule.id
        )));
    }
    if rule.resource_types.is_empty() {
        return Err(fail("resource_types is empty".into()));
    }
    if !["aws", "gcp", "azure", "kubernetes"].contains(&rule.provider.as_str()) {
        return Err(fail(format!("unknown provider {:?}", rule.provider)));
    }
    match rule.check.kind {
        CheckKind::Attribute if rule.check.all.is_empty() => {
            return Err(fail(
                "an attribute check needs at least one entry in `all`".into(),
            ));
        }
        CheckKind::Custom => {
            let name = rule.check.name.as_deref().unwrap_or_default();
            if !CUSTOM_CHECKS.contains(&name) {
                return Err(fail(format!("unknown custom check {name:?}")));
            }
        }
        CheckKind::Attribute => {}
    }
    for cond in rule.check.all.iter().chain(&rule.check.when) {
        let set = [
            cond.equals.is_some(),
            cond.not_equals.is_some(),
            cond.one_of.is_some(),
            cond.not_one_of.is_some(),
            cond.at_least.is_some() || cond.at_most.is_some(),
            cond.present.is_some(),
            cond.not_contains.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(fail(format!(
                "condition on {:?} must set exactly one comparison",
                cond.path
            )));
        }
    }
    if let Some(fix) = &rule.fix {
        if fix.kind == FixKind::Set && fix.set.is_empty() {
            return Err(fail("a `set` fix needs at least one `set` entry".into()));
        }
        for set in &fix.set {
            if set.value.is_none() && set.param.is_none() {
                return Err(fail(format!(
                    "set {:?} has neither value nor param",
                    set.path
                )));
            }
            if let Some(param) = &set.param
                && !fix.params.iter().any(|p| &p.name == param)
            {
                return Err(fail(format!(
                    "set {:?} names unknown param {param:?}",
                    set.path
                )));
            }
        }
        for p in &fix.params {
            if p.optional && p.default.is_some() {
                return Err(fail(format!(
                    "param {:?} has a default, so it cannot also be optional",
                    p.name
                )));
            }
            // A `set` fix demands a parameter exactly when a non-optional entry
            // writes it; the declaration must say the same, or a plan checked
            // against it would be refused (or applied) wrongly.
            if fix.kind == FixKind::Set && p.default.is_none() {
                let demanded = fix
                    .set
                    .iter()
                    .any(|s| s.param.as_deref() == Some(p.name.as_str()) && !s.optional);
                if demanded == p.optional {
                    return Err(fail(format!(
                        "param {:?} is {} but its `set` entries {}",
                        p.name,
                        if p.optional { "optional" } else { "required" },
                        if demanded {
                            "need it"
                        } else {
                            "are all optional"
                        }
                    )));
                }
            }
        }
    }
    Ok(())
}
