//! `docket.toml`: the governed repository's reviewed configuration, its defaults, the
//! commented template `docket init` writes, and the validation that turns a typo or a
//! wrong type into an error naming the key and line.
//!
//! Parsing is strict on purpose: the file decides what an agent may touch, so an
//! unknown key is never ignored and a setting that would silently weaken a check
//! (required validation with no commands, say) is refused.
//!
//! The module is split by concern: one file per group of sections (their types and
//! defaults), `parse` (TOML to a validated [`Config`], errors located by line),
//! `validate` (the rules a well-typed file must still follow), `template` (what
//! `docket init` writes) and `units` (durations and dollar amounts).

mod agent;
mod checks;
mod error;
mod gateway;
mod governance;
mod key_path;
mod parse;
mod repository;
mod template;
#[cfg(test)]
mod test_support;
mod units;
mod validate;

use serde::Deserialize;

pub use agent::{AgentConfig, AgentKind, MAX_TURNS_LIMIT, Planner};
pub use checks::{
    ChecksConfig, DEFAULT_FORBIDDEN, DEFAULT_MAX_SCAN_BYTES, MAX_REPAIR_ATTEMPTS, Mode,
    RulesConfig, ValidationConfig,
};
pub use error::ConfigError;
pub use gateway::{GatewaySettings, ProviderSetting, RedactionSetting, UpstreamSettings};
pub use governance::{ApprovalsConfig, BudgetsConfig, PersonConfig, PolicyConfig, ROLES};
pub use parse::parse_config;
pub use repository::{IntakeConfig, PublishConfig, RepositoryConfig};
pub use template::{CONFIG_TEMPLATE, render_template};

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub repository: RepositoryConfig,
    pub intake: IntakeConfig,
    pub agent: AgentConfig,
    pub rules: RulesConfig,
    pub validation: ValidationConfig,
    pub checks: ChecksConfig,
    pub publish: PublishConfig,
    pub policy: PolicyConfig,
    pub approvals: ApprovalsConfig,
    pub budgets: BudgetsConfig,
    /// `[[people]]`: identities and roles (also readable from `.docket/people.toml`).
    pub people: Vec<PersonConfig>,
    /// `[gateway]`: the model gateway model agents talk through.
    pub gateway: GatewaySettings,
}
impl Config {
    /// The provider docket's own model client (the `api` agent, the model planner)
    /// talks to: `agent.provider`, else the provider of the only upstream.
    pub fn model_provider(&self) -> Option<ProviderSetting> {
        self.agent
            .provider
            .or(match self.gateway.upstreams.as_slice() {
                [only] => Some(only.provider),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_support::parse;
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(
            config,
            Config {
                repository: RepositoryConfig {
                    alias: "repo".into(),
                    base_ref: "main".into(),
                },
                intake: IntakeConfig {
                    tickets: ".docket/tickets".into(),
                    label: "docket".into(),
                    ready_states: vec!["ready".into()],
                    require_routing: true,
                    assignees: vec![],
                },
                agent: AgentConfig {
                    kind: None,
                    command: vec![],
                    timeout: Duration::from_secs(600),
                    env: vec![],
                    repair: false,
                    model: None,
                    allowed_tools: vec!["Read".into(), "Edit".into(), "Write".into()],
                    provider: None,
                    max_turns: 40,
                    planner: Planner::Rules,
                },
                rules: RulesConfig {
                    allowed_paths: vec!["**".into()],
                    forbidden_paths: vec![],
                    max_files: 50,
                    max_lines: 2000,
                    secrets: true,
                    max_scan_bytes: 8 * 1024 * 1024,
                },
                validation: ValidationConfig {
                    mode: Mode::Off,
                    setup: vec![],
                    commands: vec![],
                    timeout: Duration::from_secs(300),
                    repair_attempts: 0,
                },
                checks: ChecksConfig {
                    idempotency: Mode::Off,
                    reproducibility: Mode::Off,
                },
                publish: PublishConfig {
                    branch_prefix: "docket/".into(),
                    author_name: "docket".into(),
                    author_email: "docket@localhost".into(),
                },
                policy: PolicyConfig {
                    builtin: true,
                    timeout_ms: 1000,
                    memory_mb: 64,
                    max_input_kb: 8192,
                },
                approvals: ApprovalsConfig {
                    required: false,
                    min: 1,
                },
                budgets: BudgetsConfig::default(),
                people: vec![],
                gateway: GatewaySettings::default(),
            }
        );
    }

    #[test]
    fn full_config_parses() {
        let text = r#"
[repository]
alias = "infra"
base_ref = "develop"

[intake]
tickets = "tickets"
label = ""
ready_states = []
require_routing = false
assignees = ["alice"]

[agent]
kind = "exec"
command = ["./agent.sh", "--fast"]
timeout = 90
env = ["OPENAI_API_KEY", "_X1"]
repair = true

[rules]
allowed_paths = ["terraform/**"]
forbidden_paths = ["**/*.pem"]
max_files = 3
max_lines = 40
secrets = false
max_scan_bytes = 1024

[validation]
mode = "required"
setup = [["terraform", "init"]]
commands = [["terraform", "validate"], ["tflint"]]
timeout = "2m"
repair_attempts = 5

[checks]
idempotency = "advisory"
reproducibility = "required"

[publish]
branch_prefix = "bot/docket-"
author_name = "Docket Bot"
author_email = "bot@example.com"
"#;
        assert_eq!(
            parse(text).unwrap(),
            Config {
                repository: RepositoryConfig {
                    alias: "infra".into(),
                    base_ref: "develop".into(),
                },
                intake: IntakeConfig {
                    tickets: "tickets".into(),
                    label: "".into(),
                    ready_states: vec![],
                    require_routing: false,
                    assignees: vec!["alice".into()],
                },
                agent: AgentConfig {
                    kind: Some(AgentKind::Exec),
                    command: vec!["./agent.sh".into(), "--fast".into()],
                    timeout: Duration::from_secs(90),
                    env: vec!["OPENAI_API_KEY".into(), "_X1".into()],
                    repair: true,
                    ..AgentConfig::default()
                },
                rules: RulesConfig {
                    allowed_paths: vec!["terraform/**".into()],
                    forbidden_paths: vec!["**/*.pem".into()],
                    max_files: 3,
                    max_lines: 40,
                    secrets: false,
                    max_scan_bytes: 1024,
                },
                validation: ValidationConfig {
                    mode: Mode::Required,
                    setup: vec![vec!["terraform".into(), "init".into()]],
                    commands: vec![
                        vec!["terraform".into(), "validate".into()],
                        vec!["tflint".into()],
                    ],
                    timeout: Duration::from_secs(120),
                    repair_attempts: 5,
                },
                checks: ChecksConfig {
                    idempotency: Mode::Advisory,
                    reproducibility: Mode::Required,
                },
                publish: PublishConfig {
                    branch_prefix: "bot/docket-".into(),
                    author_name: "Docket Bot".into(),
                    author_email: "bot@example.com".into(),
                },
                ..Config::default()
            }
        );
    }
}
