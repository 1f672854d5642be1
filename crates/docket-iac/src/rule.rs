//! The rule and its parts as a `rule.toml` writes them: severity, references,
//! check, fix and fix parameters, and how given parameters combine with defaults.
//!
//! These are plain data shared by every stage (catalog, scan, custom checks, fix,
//! plan, SARIF); this module knows nothing about where rules come from or how
//! they are applied.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Names of the built-in checks a `rule.toml` may use with `kind = "custom"`.
/// The `custom` module implements one check per name; the catalog refuses a rule
/// naming any other.
pub const CUSTOM_CHECKS: &[&str] = &[
    "aws-s3-encryption",
    "aws-sg-open-admin-ports",
    "gcp-firewall-open-admin-ports",
    "k8s-container-resources",
    "k8s-container-image",
    "gke-workload-identity",
    "gcp-sql-authorized-networks",
    "azure-subnet-nsg",
];

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
    /// applied (`plan::validate_plan`): the fix writes the value as it is.
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

/// Rule parameters: given values over defaults.
pub fn effective_params(
    rule: &Rule,
    given: Option<&BTreeMap<String, Json>>,
) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    if let Some(fix) = &rule.fix {
        for p in &fix.params {
            if let Some(d) = &p.default {
                out.insert(p.name.clone(), toml_to_json(d));
            }
        }
    }
    if let Some(given) = given {
        for (k, v) in given {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A value written in a `rule.toml` as the JSON that parameters and fixes use.
pub fn toml_to_json(v: &toml::Value) -> Json {
    match v {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(a) => Json::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
