//! `[agent]`: which agent runs, how it is started and which model it may call.

use std::time::Duration;

use serde::Deserialize;

use super::gateway::ProviderSetting;
use super::units::deserialize_duration;

/// How the agent is run. New runners add variants here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// Run `agent.command` as a process, without a shell.
    Exec,
    /// docket's own Terraform fixer: plans from the ticket and applies the plan
    /// with the rule catalog. No model, no command.
    Fixer,
    /// The Claude Code CLI in print mode, talking to its model through docket's
    /// gateway. `command` is the CLI (default `["claude"]`).
    ClaudeCode,
    /// The Codex CLI (`codex exec`), talking to its model through docket's gateway.
    /// `command` is the CLI (default `["codex"]`).
    Codex,
    /// docket's own agent loop: the model (`agent.provider`, `agent.model`) is given
    /// tools to list, read, search, write and edit files inside the checkout, through
    /// docket's gateway. No command.
    Api,
}

impl AgentKind {
    /// Whether the agent calls a model (through the gateway).
    pub fn uses_model(self) -> bool {
        matches!(
            self,
            AgentKind::ClaudeCode | AgentKind::Codex | AgentKind::Api
        )
    }

    /// The name used in docket.toml, records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Exec => "exec",
            AgentKind::Fixer => "fixer",
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::Api => "api",
        }
    }
}

/// How the `fixer` agent turns a ticket into a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Planner {
    /// docket's deterministic planner reads identifiers out of the ticket.
    #[default]
    Rules,
    /// The configured model proposes a plan (through the gateway); docket validates
    /// and applies it. The model never writes the code.
    Model,
}
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// `None` until an agent is configured: a fresh `docket init` has no agent, and
    /// the engine must refuse to run rather than guess one.
    pub kind: Option<AgentKind>,
    /// argv, program first; run without a shell.
    pub command: Vec<String>,
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Names of environment variables passed through to the agent.
    pub env: Vec<String>,
    /// Whether the agent can be given a validation report to repair its change.
    pub repair: bool,
    /// The model a model agent asks for (passed to the CLI; allowed by the gateway).
    pub model: Option<String>,
    /// Tools a `claude-code` agent may use without asking.
    pub allowed_tools: Vec<String>,
    /// The provider (wire dialect) the `api` agent and the fixer's model planner
    /// talk to; default: the provider of the only `[[gateway.upstreams]]`.
    pub provider: Option<ProviderSetting>,
    /// The most model turns one `api` agent invocation may take.
    pub max_turns: u32,
    /// How the `fixer` agent plans: `rules` (deterministic) or `model`.
    pub planner: Planner,
}

/// Most turns an `api` agent invocation may be configured to take.
pub const MAX_TURNS_LIMIT: u32 = 500;

impl AgentConfig {
    /// Whether this agent calls a model: a model agent, or the fixer with the model
    /// planner.
    pub fn calls_model(&self) -> bool {
        match self.kind {
            Some(AgentKind::Fixer) => self.planner == Planner::Model,
            Some(kind) => kind.uses_model(),
            None => false,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            kind: None,
            command: Vec::new(),
            timeout: Duration::from_secs(10 * 60),
            env: Vec::new(),
            repair: false,
            model: None,
            allowed_tools: vec!["Read".into(), "Edit".into(), "Write".into()],
            provider: None,
            max_turns: 40,
            planner: Planner::Rules,
        }
    }
}
