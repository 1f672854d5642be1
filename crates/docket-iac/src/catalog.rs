//! The rule catalog: one `rules/<id>/rule.toml` per rule, embedded at build time.
//!
//! A rule file carries what a reviewer or an auditor needs to know about the rule
//! (title, severity, rationale, references to CIS, AWS FSBP, Checkov and Trivy) and
//! what the engine needs to apply it: a [`CheckSpec`] and, when the rule is fixable,
//! a [`FixSpec`]. Simple rules are fully declarative; rules that need real
//! reasoning (companion resources, module call sites, provider versions) name a
//! built-in check implemented in [`crate::custom`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::IacError;

include!(concat!(env!("OUT_DIR"), "/rule_files.rs"));

/// How bad a finding is. Ordered, so `--severity high` keeps high and critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rule comes from in the standards an auditor already knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// CIS benchmark sections, each naming benchmark, version and section.
    #[serde(default)]
    pub cis: Vec<String>,
    /// AWS Foundational Security Best Practices controls, e.g. `S3.17`.
    #[serde(default)]
    pub fsbp: Vec<String>,
    /// Equivalent Checkov check ids, e.g. `CKV_AWS_19`.
    #[serde(default)]
    pub checkov: Vec<String>,
    /// Equivalent Trivy (formerly tfsec) ids, e.g. `AVD-AWS-0088`.
    #[serde(default)]
    pub trivy: Vec<String>,
    /// Documentation the rule relies on.
    #[serde(default)]
    pub links: Vec<String>,
}

/// A fix parameter: a value the user (or a ticket plan) may choose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    pub description: String,
    /// The value used when nobody chooses one. A parameter without a default must
    /// be given, or the fix is not applied and says which parameter is missing,
    /// unless it is `optional`.
    #[serde(default)]
    pub default: Option<toml::Value>,
    /// The fix works without this parameter although it has no default (an S3 key
    /// id: without it S3 uses the AWS managed key). Only for parameters without a
    /// default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// What a value must look like beyond its JSON type, checked before a plan is
    /// applied ([`crate::plan::validate_plan`]): the fix writes the value as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ParamFormat>,
}

impl ParamSpec {
    /// A value must be given: no default, and the fix cannot do without it.
    pub fn required(&self) -> bool {
        self.default.is_none() && !self.optional
    }
}

/// The shape a parameter's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamFormat {
    /// A non-empty list of CIDR network addresses (`10.0.0.0/8`, `2001:db8::/32`),
    /// none of them open to everyone (`0.0.0.0/0`, `::/0`).
    CidrList,
    /// A non-empty list of TCP/UDP port numbers, 1 to 65535.
    PortList,
}

impl ParamFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamFormat::CidrList => "cidr-list",
            ParamFormat::PortList => "port-list",
        }
    }
}

/// One condition on a value found at `path` inside a resource.
///
/// `path` walks attributes, nested blocks and object keys with dots:
/// `settings.ip_configuration.require_ssl`. Exactly one comparison is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub path: String,
    #[serde(default)]
    pub equals: Option<toml::Value>,
    #[serde(default)]
    pub not_equals: Option<toml::Value>,
    #[serde(default)]
    pub one_of: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub not_one_of: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub at_least: Option<f64>,
    #[serde(default)]
    pub at_most: Option<f64>,
    /// `true`: the path must be set (to anything but null); `false`: must be absent.
    #[serde(default)]
    pub present: Option<bool>,
    /// A list (or string) must not contain any of these values.
    #[serde(default)]
    pub not_contains: Option<Vec<toml::Value>>,
    /// What an absent value means: `"violation"` (the provider default is unsafe)
    /// or `"pass"` (the provider default is safe). Default: `"violation"`.
    #[serde(default)]
    pub missing: Option<Missing>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    Violation,
    Pass,
}

/// How a rule decides.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `"attribute"`: every entry of `all` must hold. `"custom"`: the built-in check
    /// named by `name` decides.
    pub kind: CheckKind,
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions that must all hold for the resource to pass.
    #[serde(default)]
    pub all: Vec<Condition>,
    /// The rule applies only to resources where all of these hold (unknown values
    /// make the finding unknown).
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Apply the conditions to each nested block found at one of these paths
    /// instead of to the resource (first path that exists wins), e.g. each
    /// container of a Kubernetes workload.
    #[serde(default)]
    pub each: Vec<String>,
    /// Human-readable statement of the failure, e.g. "storage is not encrypted".
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Attribute,
    Custom,
}

/// One value a fix writes. `value` is the default; when `param` is set the value of
/// that parameter wins. `optional` entries are written only when their parameter
/// was given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSpec {
    pub path: String,
    #[serde(default)]
    pub value: Option<toml::Value>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub optional: bool,
}

/// How a rule fixes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSpec {
    /// `"set"`: write every `set` entry (creating nested blocks as needed, editing
    /// the value where it is written). `"custom"`: the built-in fix of the check.
    pub kind: FixKind,
    #[serde(default)]
    pub set: Vec<SetSpec>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// What the fix does, in one sentence, for `docket rules show` and SARIF help.
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixKind {
    Set,
    Custom,
}

/// One rule of the catalog, as written in its `rule.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, also the folder name: `aws-s3-encryption`.
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// `aws`, `gcp`, `azure` or `kubernetes`.
    pub provider: String,
    /// `security`, `reliability` or `cost`.
    pub category: String,
    pub resource_types: Vec<String>,
    pub rationale: String,
    #[serde(default)]
    pub references: References,
    pub check: CheckSpec,
    #[serde(default)]
    pub fix: Option<FixSpec>,
}

impl Rule {
    pub fn fixable(&self) -> bool {
        self.fix.is_some()
    }

    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.fix.as_ref()?.params.iter().find(|p| p.name == name)
    }
}

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
            if !crate::custom::exists(name) {
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
