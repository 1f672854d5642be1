//! `[policy]`, `[approvals]`, `[budgets]` and `[[people]]`: the governance around a
//! run: policies in force, approvals, spending limits and who may do what.

use serde::Deserialize;

use super::units::deserialize_usd;

/// `[policy]`: the policy bundle in force and the limits of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Whether docket's built-in default policies are in force beside the
    /// repository's own `.docket/policies`.
    pub builtin: bool,
    /// Wall-clock limit of one decision, in milliseconds.
    pub timeout_ms: u64,
    /// Memory limit of one decision, in MiB (see docs/policy.md for what it bounds).
    pub memory_mb: u64,
    /// Largest input document, in KiB.
    pub max_input_kb: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            builtin: true,
            timeout_ms: 1000,
            memory_mb: 64,
            max_input_kb: 8192,
        }
    }
}

/// `[approvals]`: whether a run needs a second person's approval before publishing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    pub required: bool,
    pub min: u32,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            required: false,
            min: 1,
        }
    }
}

/// `[budgets]`: limits per ticket and per day (UTC); absent means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsConfig {
    pub ticket_attempts: Option<u64>,
    pub ticket_agent_seconds: Option<u64>,
    pub day_attempts: Option<u64>,
    pub day_agent_seconds: Option<u64>,
    /// Model tokens (input + output) the gateway metered for the agent attempts.
    pub ticket_model_tokens: Option<u64>,
    pub day_model_tokens: Option<u64>,
    /// Model cost in micro-dollars (`ticket_model_cost_usd = 20.0` in the file), like
    /// `GatewaySettings::max_cost_microusd`: whole numbers compare exactly.
    #[serde(rename = "ticket_model_cost_usd", deserialize_with = "deserialize_usd")]
    pub ticket_model_cost_microusd: Option<u64>,
    #[serde(rename = "day_model_cost_usd", deserialize_with = "deserialize_usd")]
    pub day_model_cost_microusd: Option<u64>,
}

/// One `[[people]]` entry: a person, the names they go by, and their roles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonConfig {
    pub id: String,
    pub emails: Vec<String>,
    pub names: Vec<String>,
    pub roles: Vec<String>,
}

pub const ROLES: &[&str] = &["requester", "initiator", "approver", "admin"];
