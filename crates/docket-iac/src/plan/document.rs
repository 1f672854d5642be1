//! The plan document: which rules to apply to which resources with which
//! parameters, what could not be decided, and the fix request a plan asks for.
//!
//! Making a plan (`plan`), checking one (`validate`), reading a model's answer
//! (`answer`) and describing the workspace to a planner (`context`) all build on
//! these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::fix::FixRequest;

pub const PLAN_SCHEMA: &str = "docket.iac-plan/v1";

/// The JSON Schema (draft 2020-12) of the plan document: what `docket plan
/// --format json` writes, `docket fix --plan` reads and a model planner answers.
/// The checks that need the workspace and the catalog are
/// [`validate_plan`](super::validate_plan)'s.
pub const PLAN_JSON_SCHEMA: &str = include_str!("../../plan.schema.json");

// Reading is strict (`deny_unknown_fields`): a plan is applied to code, so a field
// docket does not know — a typo, or a field of a newer format — is an error, never
// silently dropped. The fields a model need not fill (`ticket_digest`,
// `identifiers`, `needs_human`, `params`) default to empty; `docket plan` always
// writes them.

/// One fix: a rule applied to its targets with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanItem {
    pub rule: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Json>,
    /// The ticket words that selected the rule.
    pub because: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeedsHuman {
    pub subject: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub text: String,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub schema: String,
    /// `sha256:<hex>` of the ticket; empty when the plan's author did not give it
    /// (the engine fills it for a model's plan).
    #[serde(default)]
    pub ticket_digest: String,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    pub items: Vec<PlanItem>,
    #[serde(default)]
    pub needs_human: Vec<NeedsHuman>,
}

impl Plan {
    /// The request `docket fix --plan` runs: each rule only on its own items'
    /// targets. A plan without items asks for nothing, but its request is the
    /// empty one, which [`fix`](crate::fix::fix) reads as every rule on every resource:
    /// callers do not run it.
    pub fn request(&self) -> FixRequest {
        let mut req = FixRequest::default();
        for item in &self.items {
            req.rules.insert(item.rule.clone());
            req.targets.extend(item.targets.iter().cloned());
            req.rule_targets
                .entry(item.rule.clone())
                .or_default()
                .extend(item.targets.iter().cloned());
            req.params
                .entry(item.rule.clone())
                .or_default()
                .extend(item.params.clone());
        }
        req
    }

    pub fn status(&self) -> &'static str {
        match (self.items.is_empty(), self.needs_human.is_empty()) {
            (false, true) => "fixable",
            (false, false) => "partial",
            (true, _) => "needs-human",
        }
    }
}
