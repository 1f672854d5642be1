//! `docket.toml`: the governed repository's reviewed configuration, its defaults, the
//! commented template `docket init` writes, and the validation that turns a typo or a
//! wrong type into an error naming the key and line.
//!
//! Parsing is strict on purpose: the file decides what an agent may touch, so an
//! unknown key is never ignored and a setting that would silently weaken a check
//! (required validation with no commands, say) is refused.

use std::fmt;
use std::ops::Range;
use std::path::{Component, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Short name tickets use to route to this repository (`repo-<alias>`).
    pub alias: String,
    /// The ref agent branches start from.
    pub base_ref: String,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        Self {
            alias: "repo".into(),
            base_ref: "main".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Folder of local tickets, relative to the repository root.
    pub tickets: PathBuf,
    /// Label a ticket must carry; empty means no label is required.
    pub label: String,
    /// States that count as ready, compared case-insensitively; empty means any state.
    pub ready_states: Vec<String>,
    /// Whether a ticket must name this repository (label `repo-<alias>` or directive
    /// `repo: <alias>`).
    pub require_routing: bool,
    /// If not empty, the ticket's assignee must be one of these.
    pub assignees: Vec<String>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            tickets: PathBuf::from(".docket/tickets"),
            label: "docket".into(),
            ready_states: vec!["ready".into()],
            require_routing: true,
            assignees: Vec::new(),
        }
    }
}

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

/// `[gateway]`: where model agents' requests go and what they may do. Every request
/// passes through docket's gateway, which injects the real credential, enforces the
/// model allowlist and limits, redacts secrets and records each exchange.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Glob patterns of model names runs may call. Empty: only `agent.model`.
    pub allowed_models: Vec<String>,
    /// `redact` replaces secrets in outgoing requests; `block` refuses the request.
    pub redaction: RedactionSetting,
    /// Per-run limits; unset means no limit.
    pub max_requests: Option<u64>,
    pub max_tokens: Option<u64>,
    /// In micro-dollars (`max_cost_usd = 2.5` in the file).
    #[serde(rename = "max_cost_usd", deserialize_with = "deserialize_usd")]
    pub max_cost_microusd: Option<u64>,
    /// How long one upstream call may take.
    #[serde(deserialize_with = "deserialize_duration")]
    pub request_timeout: Duration,
    /// `[[gateway.upstreams]]`: one per provider.
    pub upstreams: Vec<UpstreamSettings>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            allowed_models: Vec::new(),
            redaction: RedactionSetting::Redact,
            max_requests: None,
            max_tokens: None,
            max_cost_microusd: None,
            request_timeout: Duration::from_secs(5 * 60),
            upstreams: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactionSetting {
    Redact,
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderSetting {
    Anthropic,
    Openai,
    AzureOpenai,
    /// AWS Bedrock's Converse API (docket built with the `bedrock` feature).
    Bedrock,
}

impl ProviderSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderSetting::Anthropic => "anthropic",
            ProviderSetting::Openai => "openai",
            ProviderSetting::AzureOpenai => "azure-openai",
            ProviderSetting::Bedrock => "bedrock",
        }
    }
}

/// One model provider: where it is and where its credential comes from. The
/// credential itself never appears in docket.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub name: String,
    pub provider: ProviderSetting,
    /// `https://…`; plain `http://` only to a loopback address. May be left out
    /// for Bedrock only: the region's runtime endpoint.
    #[serde(default)]
    pub base_url: String,
    /// Name of the environment variable holding the credential (for Bedrock: a
    /// Bedrock API key, sent as a bearer token).
    pub credential_env: Option<String>,
    /// A file holding the credential (mode 0600; for Bedrock: an AWS shared
    /// credentials file, whose keys sign requests with SigV4).
    pub credential_file: Option<PathBuf>,
    /// The AWS region of a Bedrock upstream (`us-east-1`). With neither
    /// `credential_env` nor `credential_file`, a Bedrock upstream signs with the
    /// standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`) of docket's environment.
    pub region: Option<String>,
}

fn deserialize_usd<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let value: Option<f64> = Option::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..1e9).contains(&v) => Ok(Some((v * 1e6).round() as u64)),
        Some(v) => Err(serde::de::Error::custom(format!(
            "invalid amount {v}: use dollars, like 2.5"
        ))),
    }
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

/// Paths an agent may never change, whatever `docket.toml` says: CI definitions and
/// docket's own configuration and state. Otherwise an agent could weaken the checks
/// that judge it.
pub const DEFAULT_FORBIDDEN: &[&str] = &[
    ".github/workflows/**",
    ".gitlab-ci.yml",
    "docket.toml",
    ".docket/**",
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    pub allowed_paths: Vec<String>,
    /// In addition to [`DEFAULT_FORBIDDEN`]; see [`RulesConfig::forbidden_globs`].
    pub forbidden_paths: Vec<String>,
    pub max_files: u32,
    pub max_lines: u32,
    pub secrets: bool,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            allowed_paths: vec!["**".into()],
            forbidden_paths: Vec::new(),
            max_files: 50,
            max_lines: 2000,
            secrets: true,
        }
    }
}

impl RulesConfig {
    /// [`DEFAULT_FORBIDDEN`] followed by the configured `forbidden_paths`. Use this, not
    /// the field, so the built-in protections cannot be configured away.
    pub fn forbidden_globs(&self) -> Vec<&str> {
        DEFAULT_FORBIDDEN
            .iter()
            .copied()
            .chain(self.forbidden_paths.iter().map(String::as_str))
            .collect()
    }
}

/// How a check counts: not run, run and recorded, or run and blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Off,
    Advisory,
    Required,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::Advisory => "advisory",
            Mode::Required => "required",
        })
    }
}

/// Most repair rounds allowed; each round is a full agent run.
pub const MAX_REPAIR_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    pub mode: Mode,
    /// argv lists run before `commands`.
    pub setup: Vec<Vec<String>>,
    /// argv lists; each is one validation command.
    pub commands: Vec<Vec<String>>,
    /// Per command.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    pub repair_attempts: u32,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            setup: Vec::new(),
            commands: Vec::new(),
            timeout: Duration::from_secs(5 * 60),
            repair_attempts: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    pub idempotency: Mode,
    pub reproducibility: Mode,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    pub branch_prefix: String,
    pub author_name: String,
    pub author_email: String,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            branch_prefix: "docket/".into(),
            author_name: "docket".into(),
            author_email: "docket@localhost".into(),
        }
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key, or a value of the wrong type. `key` is the dotted
    /// path of the offending key when it could be found (`None` for syntax errors).
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(key.as_deref()))]
    Parse {
        file: String,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// Well-formed, but a value breaks a rule. `key` is like `validation.commands[1]`;
    /// `line` and `column` point at the value, or are `None` when the key is absent.
    #[error("{}: {key}: {message}", location(file, *line, *column))]
    Invalid {
        file: String,
        key: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("{k}: ")).unwrap_or_default()
}

fn location(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.to_owned(),
    }
}

/// Parses and validates `docket.toml`. `file_label` names the file in errors.
pub fn parse_config(file_label: &str, text: &str) -> Result<Config, ConfigError> {
    // The untyped, spanned tree maps error offsets to key paths and key paths to lines.
    let tree = DeTable::parse(text).map_err(|e| parse_error(file_label, text, None, &e))?;
    let config: Config =
        toml::from_str(text).map_err(|e| parse_error(file_label, text, Some(&tree), &e))?;
    validate(&config).map_err(|problem| {
        let span = find_span(tree.get_ref(), &problem.key);
        let (line, column) = match span {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::Invalid {
            file: file_label.to_owned(),
            key: render_key(&problem.key),
            line,
            column,
            message: problem.message,
        }
    })?;
    Ok(config)
}

fn parse_error(
    file: &str,
    text: &str,
    tree: Option<&toml::Spanned<DeTable<'_>>>,
    error: &toml::de::Error,
) -> ConfigError {
    let offset = error.span().map_or(0, |span| span.start);
    let (line, column) = line_column(text, offset);
    let key = tree
        .and_then(|tree| key_at(tree.get_ref(), offset))
        .map(|path| render_key(&path));
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        key,
        message: error.message().trim_end().to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySegment {
    Key(String),
    Index(usize),
}

type KeyPath = Vec<KeySegment>;

fn key(parts: &[&str]) -> KeyPath {
    parts
        .iter()
        .map(|p| KeySegment::Key((*p).to_owned()))
        .collect()
}

fn indexed(parts: &[&str], index: usize) -> KeyPath {
    let mut path = key(parts);
    path.push(KeySegment::Index(index));
    path
}

fn render_key(path: &[KeySegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            KeySegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            KeySegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The deepest key whose name or value contains `offset`.
fn key_at(table: &DeTable<'_>, offset: usize) -> Option<KeyPath> {
    for (name, value) in table {
        let in_name = name.span().contains(&offset);
        let in_value = value.span().contains(&offset);
        // A table opened by a `[header]` has a value span that may not cover its keys,
        // so tables are always searched.
        let inner = match value.get_ref() {
            DeValue::Table(inner) => key_at(inner, offset),
            DeValue::Array(items) if in_value => index_at(items, offset),
            _ => None,
        };
        if let Some(mut rest) = inner {
            rest.insert(0, KeySegment::Key(name.get_ref().to_string()));
            return Some(rest);
        }
        if in_name || in_value {
            return Some(vec![KeySegment::Key(name.get_ref().to_string())]);
        }
    }
    None
}

fn index_at(items: &[toml::Spanned<DeValue<'_>>], offset: usize) -> Option<KeyPath> {
    items.iter().enumerate().find_map(|(i, item)| {
        if !item.span().contains(&offset) {
            return None;
        }
        let mut path = vec![KeySegment::Index(i)];
        match item.get_ref() {
            DeValue::Array(inner) => path.extend(index_at(inner, offset).unwrap_or_default()),
            DeValue::Table(inner) => path.extend(key_at(inner, offset).unwrap_or_default()),
            _ => {}
        }
        Some(path)
    })
}

/// The span of the value at `path`, or of the closest enclosing value that exists.
fn find_span(table: &DeTable<'_>, path: &[KeySegment]) -> Option<Range<usize>> {
    let (KeySegment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let value = table
        .iter()
        .find(|(name, _)| name.get_ref() == first)
        .map(|(_, value)| value)?;
    let mut current = value;
    for segment in rest {
        let next = match (segment, current.get_ref()) {
            (KeySegment::Key(k), DeValue::Table(t)) => t
                .iter()
                .find(|(name, _)| name.get_ref() == k)
                .map(|(_, v)| v),
            (KeySegment::Index(i), DeValue::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    Some(current.span())
}

fn deserialize_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                r#"a duration: whole seconds or a number with a unit, like "90s", "10m" or "1h""#,
            )
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            let seconds = u64::try_from(v)
                .map_err(|_| E::custom(format!("invalid duration {v}: it must be positive")))?;
            self.visit_u64(seconds)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            positive(Duration::from_secs(v), &v.to_string())
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            let parsed = parse_duration(v).ok_or_else(|| {
                E::custom(format!(
                    r#"invalid duration {v:?}: use whole seconds or a number with a unit, like "90s", "10m" or "1h""#
                ))
            })?;
            positive(parsed, &format!("{v:?}"))
        }
    }
    // A zero timeout would fail every run; it is always a mistake.
    fn positive<E: serde::de::Error>(duration: Duration, shown: &str) -> Result<Duration, E> {
        if duration.is_zero() {
            Err(E::custom(format!(
                "invalid duration {shown}: it must be positive"
            )))
        } else {
            Ok(duration)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// `"<digits><unit>"` with unit `s`, `m` or `h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    if number.is_empty() {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        _ => return None,
    };
    number.checked_mul(scale).map(Duration::from_secs)
}

/// A rule broken by a parsed config; located in the text afterwards.
struct Problem {
    key: KeyPath,
    message: String,
}

fn problem(key: KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        key,
        message: message.into(),
    }
}

fn validate(config: &Config) -> Result<(), Problem> {
    validate_repository(&config.repository)?;
    validate_intake(&config.intake)?;
    validate_agent(&config.agent)?;
    validate_rules(&config.rules)?;
    validate_validation(&config.validation, &config.agent)?;
    validate_publish(&config.publish)?;
    validate_gateway(config)?;
    validate_policy(config)
}

fn validate_gateway(config: &Config) -> Result<(), Problem> {
    let gateway = &config.gateway;
    for (i, upstream) in gateway.upstreams.iter().enumerate() {
        let at = |field: &str| {
            let mut k = indexed(&["gateway", "upstreams"], i);
            k.push(KeySegment::Key(field.to_owned()));
            k
        };
        let url = upstream.base_url.as_str();
        let bedrock = upstream.provider == ProviderSetting::Bedrock;
        if url.is_empty() && !bedrock {
            return Err(problem(
                at("base_url"),
                "required: the provider's endpoint, like \"https://api.anthropic.com\"",
            ));
        }
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                url.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        // Empty for Bedrock: https://bedrock-runtime.<region>.amazonaws.com.
        if !url.is_empty() && !url.starts_with("https://") && !loopback {
            return Err(problem(
                at("base_url"),
                format!(
                    "{url:?}: use https:// (plain http only to 127.0.0.1 or localhost): the gateway sends the real credential there"
                ),
            ));
        }
        match (&upstream.region, bedrock) {
            (None, true) => {
                return Err(problem(
                    at("region"),
                    "a bedrock upstream needs its AWS region, like region = \"us-east-1\"",
                ));
            }
            (Some(region), true) if !is_aws_region(region) => {
                return Err(problem(
                    at("region"),
                    format!("invalid AWS region {region:?}: use a region name like \"us-east-1\""),
                ));
            }
            (Some(_), false) => {
                return Err(problem(
                    at("region"),
                    "region is for bedrock upstreams only",
                ));
            }
            _ => {}
        }
        match (&upstream.credential_env, &upstream.credential_file) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    at("credential_env"),
                    "set only one of credential_env and credential_file",
                ));
            }
            // Bedrock without either signs with the standard AWS variables.
            (None, None) if !bedrock => {
                return Err(problem(
                    at("credential_env"),
                    "set exactly one of credential_env and credential_file",
                ));
            }
            (Some(name), None) if !is_env_name(name) => {
                return Err(problem(
                    at("credential_env"),
                    format!("invalid environment variable name {name:?}"),
                ));
            }
            _ => {}
        }
    }
    let agent = &config.agent;
    if agent.calls_model() && agent.model.is_none() && gateway.allowed_models.is_empty() {
        return Err(problem(
            key(&["gateway", "allowed_models"]),
            "a model agent needs a model it may call: set agent.model or gateway.allowed_models",
        ));
    }
    // docket's own agent and the model planner send requests themselves: they must
    // know the model and the provider's wire format.
    let own_client = matches!(agent.kind, Some(AgentKind::Api))
        || (agent.kind == Some(AgentKind::Fixer) && agent.planner == Planner::Model);
    if own_client {
        if agent.model.is_none() {
            return Err(problem(
                key(&["agent", "model"]),
                "required: the model docket asks for (for azure-openai, the deployment name)",
            ));
        }
        let Some(provider) = config.model_provider() else {
            return Err(problem(
                key(&["agent", "provider"]),
                "say which provider to call: set agent.provider (\"anthropic\", \"openai\", \"azure-openai\" or \"bedrock\"), or configure exactly one [[gateway.upstreams]]",
            ));
        };
        if !gateway.upstreams.iter().any(|u| u.provider == provider) {
            return Err(problem(
                key(&["agent", "provider"]),
                format!(
                    "no [[gateway.upstreams]] has provider = {:?}: add one (base_url and credential)",
                    provider.as_str()
                ),
            ));
        }
    }
    match (agent.kind, agent.provider) {
        (Some(AgentKind::ClaudeCode), Some(p)) if p != ProviderSetting::Anthropic => {
            return Err(problem(
                key(&["agent", "provider"]),
                "the Claude Code CLI speaks the Anthropic Messages API: use provider = \"anthropic\" or remove it",
            ));
        }
        (Some(AgentKind::Codex), Some(p))
            if !matches!(p, ProviderSetting::Openai | ProviderSetting::AzureOpenai) =>
        {
            return Err(problem(
                key(&["agent", "provider"]),
                "the Codex CLI speaks the OpenAI Responses API: use provider = \"openai\" or \"azure-openai\", or remove it",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: lowercase letters, digits and `-`.
fn is_aws_region(region: &str) -> bool {
    (4..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

fn validate_policy(config: &Config) -> Result<(), Problem> {
    let policy = &config.policy;
    for (field, value, max) in [
        ("timeout_ms", policy.timeout_ms, 60_000),
        ("memory_mb", policy.memory_mb, 4096),
        ("max_input_kb", policy.max_input_kb, 1 << 20),
    ] {
        if value == 0 || value > max {
            return Err(problem(
                key(&["policy", field]),
                format!("{field} = {value} is out of range: use 1 to {max}"),
            ));
        }
    }
    if config.approvals.required && config.approvals.min == 0 {
        return Err(problem(
            key(&["approvals", "min"]),
            "min = 0 with required = true: set min to at least 1, or required = false",
        ));
    }
    for (field, value) in [
        ("ticket_attempts", config.budgets.ticket_attempts),
        ("ticket_agent_seconds", config.budgets.ticket_agent_seconds),
        ("day_attempts", config.budgets.day_attempts),
        ("day_agent_seconds", config.budgets.day_agent_seconds),
        ("ticket_model_tokens", config.budgets.ticket_model_tokens),
        ("day_model_tokens", config.budgets.day_model_tokens),
        // A negative, infinite or NaN amount is already refused when parsed.
        (
            "ticket_model_cost_usd",
            config.budgets.ticket_model_cost_microusd,
        ),
        ("day_model_cost_usd", config.budgets.day_model_cost_microusd),
    ] {
        if value == Some(0) {
            return Err(problem(
                key(&["budgets", field]),
                format!("{field} = 0 would refuse every run: remove it for no limit"),
            ));
        }
    }
    for (i, person) in config.people.iter().enumerate() {
        if person.id.trim().is_empty() {
            return Err(problem(
                vec![KeySegment::Key("people".into()), KeySegment::Index(i)],
                "a person needs a non-empty `id`",
            ));
        }
        if let Some(role) = person.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
            return Err(problem(
                vec![
                    KeySegment::Key("people".into()),
                    KeySegment::Index(i),
                    KeySegment::Key("roles".into()),
                ],
                format!("unknown role {role:?}: use {}", ROLES.join(", ")),
            ));
        }
    }
    Ok(())
}

fn validate_repository(repository: &RepositoryConfig) -> Result<(), Problem> {
    let alias = &repository.alias;
    let alias_ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !alias.starts_with('-');
    if !alias_ok {
        return Err(problem(
            key(&["repository", "alias"]),
            format!(
                "invalid alias {alias:?}: use 1-64 lowercase letters, digits and `-`, not starting with `-`"
            ),
        ));
    }
    let base_ref = &repository.base_ref;
    // The ref is passed to git as an argument; a leading `-` would be read as an option.
    if base_ref.is_empty()
        || base_ref.starts_with('-')
        || base_ref
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(problem(
            key(&["repository", "base_ref"]),
            format!(
                "invalid ref {base_ref:?}: it must be non-empty, without spaces, and not start with `-`"
            ),
        ));
    }
    Ok(())
}

fn validate_intake(intake: &IntakeConfig) -> Result<(), Problem> {
    // Tickets must come from inside the repository, where they are reviewed.
    let inside_repo = !intake.tickets.as_os_str().is_empty()
        && intake
            .tickets
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside_repo {
        return Err(problem(
            key(&["intake", "tickets"]),
            format!(
                "{:?} must be a folder inside the repository: a relative path without `..`",
                intake.tickets.display().to_string()
            ),
        ));
    }
    Ok(())
}

fn validate_agent(agent: &AgentConfig) -> Result<(), Problem> {
    match agent.kind {
        None if !agent.command.is_empty() => {
            return Err(problem(
                key(&["agent", "kind"]),
                r#"`agent.command` is set but `agent.kind` is not; add kind = "exec""#,
            ));
        }
        None => {}
        Some(AgentKind::Exec) => {
            if agent.command.is_empty() {
                return Err(problem(
                    key(&["agent", "command"]),
                    r#"required when kind = "exec": the agent's program and arguments, like ["./agent.sh", "--ticket"]"#,
                ));
            }
            validate_argv(&agent.command, key(&["agent", "command"]))?;
        }
        Some(AgentKind::Fixer) if !agent.command.is_empty() => {
            return Err(problem(
                key(&["agent", "command"]),
                r#"the fixer agent runs inside docket; remove `command` when kind = "fixer""#,
            ));
        }
        Some(AgentKind::Fixer) => {}
        Some(AgentKind::ClaudeCode | AgentKind::Codex) if !agent.command.is_empty() => {
            validate_argv(&agent.command, key(&["agent", "command"]))?;
        }
        Some(AgentKind::ClaudeCode | AgentKind::Codex) => {}
        Some(AgentKind::Api) if !agent.command.is_empty() => {
            return Err(problem(
                key(&["agent", "command"]),
                r#"the api agent runs inside docket; remove `command` when kind = "api""#,
            ));
        }
        Some(AgentKind::Api) => {}
    }
    if agent.max_turns == 0 || agent.max_turns > MAX_TURNS_LIMIT {
        return Err(problem(
            key(&["agent", "max_turns"]),
            format!(
                "max_turns = {} is out of range: use 1 to {MAX_TURNS_LIMIT}",
                agent.max_turns
            ),
        ));
    }
    if agent.planner == Planner::Model && agent.kind != Some(AgentKind::Fixer) {
        return Err(problem(
            key(&["agent", "planner"]),
            r#"planner = "model" is for kind = "fixer": the other agents plan for themselves"#,
        ));
    }
    for (i, name) in agent.env.iter().enumerate() {
        if !is_env_name(name) {
            return Err(problem(
                indexed(&["agent", "env"], i),
                format!(
                    "invalid environment variable name {name:?}: use letters, digits and `_`, not starting with a digit"
                ),
            ));
        }
    }
    Ok(())
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn validate_argv(argv: &[String], at: KeyPath) -> Result<(), Problem> {
    match argv.first() {
        None => Err(problem(
            at,
            "empty command: give the program and its arguments, like [\"make\", \"test\"]",
        )),
        Some(program) if program.is_empty() => Err(problem(at, "the program name is empty")),
        // A NUL byte cannot be passed to a process; catching it here gives a line.
        Some(_) if argv.iter().any(|arg| arg.contains('\0')) => {
            Err(problem(at, "an argument contains a NUL character"))
        }
        Some(_) => Ok(()),
    }
}

fn validate_rules(rules: &RulesConfig) -> Result<(), Problem> {
    for (field, globs) in [
        ("allowed_paths", &rules.allowed_paths),
        ("forbidden_paths", &rules.forbidden_paths),
    ] {
        for (i, pattern) in globs.iter().enumerate() {
            if let Err(e) = globset::Glob::new(pattern) {
                return Err(problem(
                    indexed(&["rules", field], i),
                    format!("invalid glob {pattern:?}: {}", e.kind()),
                ));
            }
        }
    }
    Ok(())
}

fn validate_validation(validation: &ValidationConfig, agent: &AgentConfig) -> Result<(), Problem> {
    for (field, commands) in [
        ("setup", &validation.setup),
        ("commands", &validation.commands),
    ] {
        for (i, argv) in commands.iter().enumerate() {
            validate_argv(argv, indexed(&["validation", field], i))?;
        }
    }
    // Validation that runs nothing would pass every change: fail closed instead.
    if validation.mode != Mode::Off && validation.commands.is_empty() {
        return Err(problem(
            key(&["validation", "commands"]),
            format!(
                "mode is \"{}\" but no commands are configured; add commands or set mode = \"off\"",
                validation.mode
            ),
        ));
    }
    if validation.repair_attempts > MAX_REPAIR_ATTEMPTS {
        return Err(problem(
            key(&["validation", "repair_attempts"]),
            format!(
                "{} is more than the maximum of {MAX_REPAIR_ATTEMPTS}",
                validation.repair_attempts
            ),
        ));
    }
    // Otherwise the attempts would silently never happen.
    if validation.repair_attempts > 0 && !agent.repair {
        return Err(problem(
            key(&["validation", "repair_attempts"]),
            "repair attempts need an agent that can repair; set agent.repair = true or repair_attempts = 0",
        ));
    }
    Ok(())
}

fn validate_publish(publish: &PublishConfig) -> Result<(), Problem> {
    let prefix = &publish.branch_prefix;
    // The prefix starts every branch name docket creates, so it must keep them valid
    // git refs (the ticket id that follows is validated separately).
    let prefix_ok = prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && !prefix.starts_with(['-', '/', '.'])
        && !prefix.contains("..")
        && !prefix.contains("//")
        && !prefix.contains("/.");
    if !prefix_ok {
        return Err(problem(
            key(&["publish", "branch_prefix"]),
            format!(
                "invalid branch prefix {prefix:?}: use letters, digits, `.`, `_`, `-` and `/`, not starting with `-`, `/` or `.`, without `..` or `//`"
            ),
        ));
    }
    // These end up in a commit's `Name <email>` header.
    for (field, value) in [
        ("author_name", &publish.author_name),
        ("author_email", &publish.author_email),
    ] {
        if value.trim().is_empty()
            || value.contains(['<', '>'])
            || value.chars().any(char::is_control)
        {
            return Err(problem(
                key(&["publish", field]),
                format!(
                    "invalid {field} {value:?}: it must be non-empty, without `<`, `>` or control characters"
                ),
            ));
        }
    }
    Ok(())
}

/// The commented `docket.toml` that `docket init` writes. It parses to
/// `Config::default()`; [`render_template`] fills in the alias and base ref.
pub const CONFIG_TEMPLATE: &str = r#"# docket.toml: how docket governs agent-written changes to this repository.
# Review changes to this file like code: it decides what an agent may change and
# which checks a change must pass. Agents can never edit it (see [rules]).
# Durations are whole seconds (600) or a number with a unit: "90s", "10m", "1h".

[repository]
# Short name of this repository. A ticket is routed here by the label `repo-<alias>`
# or by a ```docket block containing `repo: <alias>`. Lowercase letters, digits, `-`.
alias = "repo"
# The branch (or other ref) that agent branches start from.
base_ref = "main"

[intake]
# Folder of local ticket files (markdown), relative to the repository root.
tickets = ".docket/tickets"
# Label a ticket must carry to be picked up; "" picks up tickets without it.
label = "docket"
# Ticket states that count as ready, compared case-insensitively; [] accepts any state.
ready_states = ["ready"]
# Whether a ticket must be routed here by the label `repo-<alias>` or a
# `repo: <alias>` directive.
require_routing = true
# If not empty, only tickets assigned to one of these people are picked up.
assignees = []

[agent]
# How the agent runs. "exec" runs `command` as a process, without a shell;
# "fixer" is docket's own Terraform fixer (plans from the ticket, no command);
# "claude-code" and "codex" run those CLIs, and "api" is docket's own tool-using
# agent; all three reach their model only through docket's gateway ([gateway]).
# No agent is configured until kind (and for "exec", command) is set, and docket will
# not run one.
# kind = "exec"
# The agent's program and arguments (argv). Required when kind = "exec"; for
# "claude-code" and "codex" the CLI (default "claude" / "codex").
# command = ["./scripts/agent.sh"]
# How long one agent run may take.
timeout = "10m"
# Names of environment variables to pass through to the agent, e.g. ["OPENAI_API_KEY"].
env = []
# Whether the agent can be given a failing validation report to repair its change.
repair = false
# The model a model agent asks for; the gateway allows it. For azure-openai, the
# deployment name.
# model = "claude-sonnet-4-5"
# Tools a "claude-code" agent may use without asking (edits stay inside the worktree).
allowed_tools = ["Read", "Edit", "Write"]
# The provider the "api" agent and the fixer's model planner call: "anthropic",
# "openai", "azure-openai" or "bedrock". Default: the only [[gateway.upstreams]].
# provider = "anthropic"
# The most model turns one "api" agent invocation may take (1 to 500).
max_turns = 40
# How the "fixer" plans: "rules" reads identifiers out of the ticket; "model" asks
# the model for a plan, which docket validates and applies (the model never writes
# the code; an invalid plan becomes needs-human).
planner = "rules"

[rules]
# Globs of files the agent may change, relative to the repository root.
allowed_paths = ["**"]
# Globs of files the agent must not change. These are always forbidden as well:
# ".github/workflows/**", ".gitlab-ci.yml", "docket.toml", ".docket/**".
forbidden_paths = []
# The most files one change may touch.
max_files = 50
# The most changed lines one change may contain.
max_lines = 2000
# Whether to reject changes that add something that looks like a secret.
secrets = true

[validation]
# "off": not run; "advisory": run and recorded, failures do not block;
# "required": a failure blocks the change.
mode = "off"
# Commands run once before validation, each an argv list, e.g. [["npm", "ci"]].
setup = []
# Validation commands, each an argv list run without a shell, e.g. [["make", "test"]].
commands = []
# How long each setup or validation command may take.
timeout = "5m"
# How many times the agent may repair its change after failing validation (0 to 5).
# Needs agent.repair = true.
repair_attempts = 0

[checks]
# Run the agent again on its own result; a second run should change nothing.
# "off", "advisory" or "required", as for validation.
idempotency = "off"
# Run the agent twice from the same start; both runs should make the same change.
reproducibility = "off"

[publish]
# Prefix of the branches docket creates for tickets.
branch_prefix = "docket/"
# Author of the commits docket makes.
author_name = "docket"
author_email = "docket@localhost"

[policy]
# Rego policies in .docket/policies/*.rego (and *.json data), read from the base
# ref like this file, decide at four points: intake, run, publish, approve.
# Whether docket's built-in default policies are in force beside them (see
# docs/policy.md). Every decision is recorded with the digest of the bundle.
builtin = true
# Wall-clock limit of one decision, in milliseconds; over it, the decision is a deny.
timeout_ms = 1000
# Memory limit of one decision, in MiB (what it bounds: docs/policy.md).
memory_mb = 64
# Largest input document a policy is given, in KiB; a larger one is a deny.
max_input_kb = 8192

[approvals]
# Whether a run must be approved (`docket approve RUN --as USER`) by someone who
# neither requested nor started it before it is published (`docket publish RUN`).
required = false
# How many such approvals of the final change are needed.
min = 1

[budgets]
# Limits per ticket and per UTC day on agent attempts and agent wall time; a run
# over a limit is refused and the refusal recorded. Unset means no limit.
# ticket_attempts = 6
# ticket_agent_seconds = 3600
# day_attempts = 100
# day_agent_seconds = 36000
# Limits on what model agents used, as the gateway metered it, added up over the
# runs of a ticket and of a UTC day: tokens (input + output) and cost in dollars.
# A run starts only while usage is below the limit, and a change is not published
# once its run took usage over it. (The per-run [gateway] limits stop a run early.)
# ticket_model_tokens = 5000000
# ticket_model_cost_usd = 20.0
# day_model_tokens = 50000000
# day_model_cost_usd = 200.0

[gateway]
# Model agents ("claude-code", "codex", "api") reach their model only through docket's
# gateway, which injects the real credential (the agent gets a dummy key), enforces
# the model allowlist and the limits below, redacts secrets from requests, and records
# every exchange in the ledger.
# Glob patterns of models runs may call; empty allows only agent.model.
allowed_models = []
# "redact" replaces secrets in outgoing requests; "block" refuses such a request.
redaction = "redact"
# Per-run limits on model requests, tokens (input + output) and cost in dollars.
# max_requests = 50
# max_tokens = 2000000
# max_cost_usd = 5.0
# How long one request to a provider may take.
request_timeout = "5m"
# One [[gateway.upstreams]] per provider: "anthropic", "openai", "azure-openai" or
# "bedrock" (with region = "us-east-1"; signs with AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY unless a credential is set; needs docket built with the
# `bedrock` feature). The credential comes from an environment variable or a 0600
# file, never from here.
# [[gateway.upstreams]]
# name = "anthropic"
# provider = "anthropic"
# base_url = "https://api.anthropic.com"
# credential_env = "ANTHROPIC_API_KEY"
# credential_file = "/etc/docket/anthropic.key"

# Who is who: identities (emails, tracker and code-host user names) and roles
# (requester, initiator, approver, admin). Also read from .docket/people.toml.
# When anyone is listed, only people with the initiator (or admin) role may start
# runs and only approvers (or admins) may approve.
# [[people]]
# id = "alice"
# emails = ["alice@example.com"]
# names = ["alice", "alice-gh"]
# roles = ["initiator", "approver"]
"#;

const TEMPLATE_ALIAS_LINE: &str = "alias = \"repo\"\n";
const TEMPLATE_BASE_REF_LINE: &str = "base_ref = \"main\"\n";

/// [`CONFIG_TEMPLATE`] with `alias` and `base_ref` filled in. The values are written as
/// TOML strings, escaped; they are not validated here, so parse the result to check.
pub fn render_template(alias: &str, base_ref: &str) -> String {
    CONFIG_TEMPLATE
        .replacen(
            TEMPLATE_ALIAS_LINE,
            &format!("alias = {}\n", toml_string(alias)),
            1,
        )
        .replacen(
            TEMPLATE_BASE_REF_LINE,
            &format!("base_ref = {}\n", toml_string(base_ref)),
            1,
        )
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_config("docket.toml", text)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("should not parse, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Each text fails with exactly its message (all compared at once, so one run
    /// shows every difference).
    fn assert_errors(cases: &[(&str, &str)]) {
        let actual: Vec<_> = cases.iter().map(|(text, _)| (*text, error(text))).collect();
        let expected: Vec<_> = cases
            .iter()
            .map(|(text, message)| (*text, (*message).to_owned()))
            .collect();
        assert_eq!(actual, expected);
    }

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

    #[test]
    fn forbidden_globs_always_include_defaults() {
        let rules = RulesConfig {
            forbidden_paths: vec!["secrets/**".into()],
            ..RulesConfig::default()
        };
        assert_eq!(
            rules.forbidden_globs(),
            [
                ".github/workflows/**",
                ".gitlab-ci.yml",
                "docket.toml",
                ".docket/**",
                "secrets/**"
            ]
        );
        assert_eq!(RulesConfig::default().forbidden_globs(), DEFAULT_FORBIDDEN);
    }

    #[test]
    fn template_parses_to_defaults() {
        assert_eq!(parse(CONFIG_TEMPLATE).unwrap(), Config::default());
    }

    #[test]
    fn rendered_template_differs_only_in_alias_and_base_ref() {
        let rendered = render_template("infra", "release/2.x");
        let expected = Config {
            repository: RepositoryConfig {
                alias: "infra".into(),
                base_ref: "release/2.x".into(),
            },
            ..Config::default()
        };
        assert_eq!(parse(&rendered).unwrap(), expected);
    }

    #[test]
    fn rendered_template_escapes_values() {
        let rendered = render_template("a\"b", "x\\y\n[z]");
        let table: toml::Table = toml::from_str(&rendered).unwrap();
        assert_eq!(
            (
                table["repository"]["alias"].as_str(),
                table["repository"]["base_ref"].as_str()
            ),
            (Some("a\"b"), Some("x\\y\n[z]"))
        );
    }

    /// The names serde expects in a section, read from its unknown-field error, so the
    /// template test below notices a field added to a struct but not documented.
    fn expected_fields(section: &str) -> Vec<String> {
        let probe = if section.is_empty() {
            "zz_probe = 1\n".to_owned()
        } else {
            format!("[{section}]\nzz_probe = 1\n")
        };
        let message = toml::from_str::<Config>(&probe)
            .unwrap_err()
            .message()
            .to_owned();
        let expected = message.split_once("expected").unwrap().1;
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn template_documents_every_key() {
        let lines: Vec<&str> = CONFIG_TEMPLATE.lines().collect();
        let sections = expected_fields("");
        assert_eq!(sections.len(), 12);
        for section in &sections {
            if section == "gateway" {
                // upstreams is an array of tables, shown commented out.
                assert!(lines.contains(&"# [[gateway.upstreams]]"));
                for field in [
                    "name",
                    "provider",
                    "base_url",
                    "credential_env",
                    "credential_file",
                ] {
                    assert!(
                        lines
                            .iter()
                            .any(|l| l.starts_with(&format!("# {field} = "))),
                        "template lacks gateway.upstreams.{field}"
                    );
                }
            }
            if section == "people" {
                // An array of tables, shown commented out.
                assert!(lines.contains(&"# [[people]]"), "template lacks [[people]]");
                for field in ["id", "emails", "names", "roles"] {
                    assert!(
                        lines
                            .iter()
                            .any(|l| l.starts_with(&format!("# {field} = "))),
                        "template lacks people.{field}"
                    );
                }
                continue;
            }
            assert!(
                lines.contains(&format!("[{section}]").as_str()),
                "template lacks [{section}]"
            );
            let fields = expected_fields(section);
            assert!(!fields.is_empty());
            for field in fields.into_iter().filter(|f| f != "upstreams") {
                let position = lines.iter().position(|l| {
                    l.starts_with(&format!("{field} = ")) || l.starts_with(&format!("# {field} = "))
                });
                let Some(position) = position else {
                    panic!("template lacks {section}.{field}");
                };
                // Every key line follows a comment line explaining it (author_email
                // shares the comment above author_name).
                let previous = lines[position - 1];
                assert!(
                    previous.starts_with('#') || field == "author_email",
                    "{section}.{field} has no comment above it"
                );
            }
        }
    }

    #[test]
    fn unknown_key_reports_key_and_line() {
        let text =
            "[repository]\nalias = \"infra\"\n\n[rules]\nmax_files = 3\nforbiden_paths = [\"x\"]\n";
        assert_eq!(
            parse(text).unwrap_err(),
            ConfigError::Parse {
                file: "docket.toml".into(),
                line: 6,
                column: 1,
                key: Some("rules.forbiden_paths".into()),
                message: "unknown field `forbiden_paths`, expected one of `allowed_paths`, `forbidden_paths`, `max_files`, `max_lines`, `secrets`".into(),
            }
        );
        assert_eq!(
            error("[repository]\nalias = \"x\"\n[reviewers]\nteam = 1\n"),
            "docket.toml:3:2: reviewers: unknown field `reviewers`, expected one of `repository`, `intake`, `agent`, `rules`, `validation`, `checks`, `publish`, `policy`, `approvals`, `budgets`, `people`, `gateway`"
        );
    }

    #[test]
    fn gateway_settings_parse_and_unsafe_ones_are_refused() {
        let config = parse(
            "[agent]\nkind = \"claude-code\"\nmodel = \"claude-sonnet-4-5\"\n\n[gateway]\nmax_cost_usd = 2.5\n\n[[gateway.upstreams]]\nname = \"anthropic\"\nprovider = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\ncredential_env = \"ANTHROPIC_API_KEY\"\n",
        )
        .unwrap();
        assert_eq!(config.agent.kind, Some(AgentKind::ClaudeCode));
        assert_eq!(config.gateway.max_cost_microusd, Some(2_500_000));
        assert_eq!(
            config.gateway.upstreams[0].provider,
            ProviderSetting::Anthropic
        );

        let upstream = |url: &str, credential: &str| {
            format!(
                "[agent]\nkind = \"codex\"\nmodel = \"m\"\n[[gateway.upstreams]]\nname = \"u\"\nprovider = \"openai\"\nbase_url = \"{url}\"\n{credential}\n"
            )
        };
        assert!(
            error(&upstream(
                "http://models.example.com",
                "credential_env = \"K\""
            ))
            .contains("gateway.upstreams[0].base_url: \"http://models.example.com\": use https://")
        );
        assert!(
            parse(&upstream(
                "http://127.0.0.1:8080/v1",
                "credential_env = \"K\""
            ))
            .is_ok()
        );
        assert!(
            error(&upstream(
                "https://x.example.com",
                "credential_env = \"K\"\ncredential_file = \"/k\""
            ))
            .contains("set only one of credential_env and credential_file")
        );
        assert!(
            error(&upstream("https://x.example.com", ""))
                .contains("set exactly one of credential_env and credential_file")
        );
        assert!(
            error("[agent]\nkind = \"claude-code\"\n")
                .contains("a model agent needs a model it may call")
        );
    }

    #[test]
    fn the_api_agent_planner_and_bedrock_settings_are_checked() {
        let bedrock = "[[gateway.upstreams]]\nname = \"b\"\nprovider = \"bedrock\"\nbase_url = \"https://bedrock-runtime.us-east-1.amazonaws.com\"\n";
        // Without base_url, a bedrock upstream uses its region's endpoint; the others
        // must say where they are.
        let no_url = "[agent]\nkind = \"api\"\nmodel = \"m\"\n[[gateway.upstreams]]\nname = \"b\"\nprovider = \"bedrock\"\nregion = \"eu-west-3\"\n";
        assert_eq!(parse(no_url).unwrap().gateway.upstreams[0].base_url, "");
        let no_url_openai =
            "[[gateway.upstreams]]\nname = \"o\"\nprovider = \"openai\"\ncredential_env = \"K\"\n";
        assert!(error(no_url_openai).contains("gateway.upstreams[0].base_url: required"));
        // docket's own client needs a model and a provider it has an upstream for.
        let api =
            format!("[agent]\nkind = \"api\"\nmodel = \"m\"\n{bedrock}region = \"us-east-1\"\n");
        let config = parse(&api).unwrap();
        assert_eq!(config.model_provider(), Some(ProviderSetting::Bedrock));
        assert!(config.agent.calls_model());
        assert_eq!(config.agent.max_turns, 40);
        let cases: &[(&str, &str)] = &[
            (
                "[agent]\nkind = \"api\"\nmodel = \"m\"\n",
                "agent.provider: say which provider to call",
            ),
            (
                "[agent]\nkind = \"api\"\nmodel = \"m\"\nprovider = \"openai\"\n",
                "agent.provider: no [[gateway.upstreams]] has provider = \"openai\"",
            ),
            (
                "[agent]\nkind = \"api\"\ncommand = [\"x\"]\nmodel = \"m\"\n",
                "agent.command: the api agent runs inside docket",
            ),
            (
                "[agent]\nkind = \"api\"\nmax_turns = 0\n",
                "agent.max_turns: max_turns = 0 is out of range: use 1 to 500",
            ),
            (
                "[agent]\nkind = \"exec\"\ncommand = [\"x\"]\nplanner = \"model\"\n",
                "agent.planner: planner = \"model\" is for kind = \"fixer\"",
            ),
            (
                "[agent]\nkind = \"fixer\"\nplanner = \"model\"\n[gateway]\nallowed_models = [\"*\"]\n",
                "agent.model: required",
            ),
            (
                "[agent]\nkind = \"claude-code\"\nmodel = \"m\"\nprovider = \"openai\"\n",
                "the Claude Code CLI speaks the Anthropic Messages API",
            ),
            (
                "[agent]\nkind = \"codex\"\nmodel = \"m\"\nprovider = \"anthropic\"\n",
                "the Codex CLI speaks the OpenAI Responses API",
            ),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text}\n=> {message}");
        }
        let no_region = format!("[agent]\nkind = \"api\"\nmodel = \"m\"\n{bedrock}");
        assert!(error(&no_region).contains("a bedrock upstream needs its AWS region"));
        let bad_region = format!("{bedrock}region = \"US East\"\n");
        assert!(error(&bad_region).contains("invalid AWS region \"US East\""));
        let region_elsewhere = "[[gateway.upstreams]]\nname = \"o\"\nprovider = \"openai\"\nbase_url = \"https://api.openai.com\"\ncredential_env = \"K\"\nregion = \"us-east-1\"\n";
        assert!(error(region_elsewhere).contains("region is for bedrock upstreams only"));
        // The fixer with the model planner, on the only upstream.
        let planner = "[agent]\nkind = \"fixer\"\nplanner = \"model\"\nmodel = \"claude-sonnet-4-5\"\n[[gateway.upstreams]]\nname = \"a\"\nprovider = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\ncredential_env = \"K\"\n";
        let config = parse(planner).unwrap();
        assert!(config.agent.calls_model());
        assert_eq!(config.model_provider(), Some(ProviderSetting::Anthropic));
    }

    #[test]
    fn budgets_parse_and_nonsense_limits_are_refused() {
        let config = parse(
            "[budgets]\nticket_attempts = 6\nticket_model_tokens = 5000000\nticket_model_cost_usd = 20\nday_model_tokens = 50000000\nday_model_cost_usd = 0.25\n",
        )
        .unwrap();
        assert_eq!(
            config.budgets,
            BudgetsConfig {
                ticket_attempts: Some(6),
                ticket_agent_seconds: None,
                day_attempts: None,
                day_agent_seconds: None,
                ticket_model_tokens: Some(5_000_000),
                day_model_tokens: Some(50_000_000),
                ticket_model_cost_microusd: Some(20_000_000),
                day_model_cost_microusd: Some(250_000),
            }
        );

        let cases = [
            (
                "[budgets]\nticket_attempts = 0\n",
                "docket.toml:2:19: budgets.ticket_attempts: ticket_attempts = 0 would refuse every run: remove it for no limit",
            ),
            (
                "[budgets]\nday_model_tokens = 0\n",
                "docket.toml:2:20: budgets.day_model_tokens: day_model_tokens = 0 would refuse every run: remove it for no limit",
            ),
            (
                "[budgets]\nticket_model_cost_usd = 0.0\n",
                "docket.toml:2:25: budgets.ticket_model_cost_usd: ticket_model_cost_usd = 0 would refuse every run: remove it for no limit",
            ),
            (
                "[budgets]\nday_model_tokens = -5\n",
                "docket.toml:2:20: budgets.day_model_tokens: invalid value: integer `-5`, expected u64",
            ),
            (
                "[budgets]\n\nticket_model_cost_usd = -1.5\n",
                "docket.toml:3:25: budgets.ticket_model_cost_usd: invalid amount -1.5: use dollars, like 2.5",
            ),
            (
                "[budgets]\nday_model_cost_usd = nan\n",
                "docket.toml:2:22: budgets.day_model_cost_usd: invalid amount NaN: use dollars, like 2.5",
            ),
            (
                "[budgets]\nday_model_cost_usd = inf\n",
                "docket.toml:2:22: budgets.day_model_cost_usd: invalid amount inf: use dollars, like 2.5",
            ),
            (
                "[budgets]\nday_model_cost_usd = \"5$\"\n",
                "docket.toml:2:22: budgets.day_model_cost_usd: invalid type: string \"5$\", expected f64",
            ),
        ];
        assert_errors(&cases);
    }

    #[test]
    fn wrong_type_reports_key_and_line() {
        assert_eq!(
            error("[rules]\n\nmax_files = \"many\"\n"),
            "docket.toml:3:13: rules.max_files: invalid type: string \"many\", expected u32"
        );
        assert_eq!(
            error("[validation]\ncommands = [\n  [\"make\"],\n  \"make test\",\n]\n"),
            "docket.toml:4:3: validation.commands[1]: invalid type: string \"make test\", expected a sequence"
        );
        assert_eq!(
            error("agent.kind = \"docker\"\n"),
            "docket.toml:1:14: agent.kind: unknown variant `docker`, expected one of `exec`, `fixer`, `claude-code`, `codex`, `api`"
        );
        // The fixer runs inside docket: a command beside it is a mistake, named.
        assert!(
            error("[agent]\nkind = \"fixer\"\ncommand = [\"./fix.sh\"]\n")
                .contains("agent.command"),
            "a command next to the fixer agent must be refused"
        );
    }

    #[test]
    fn syntax_error_reports_line() {
        assert_eq!(
            error("[rules]\nmax_files = \n"),
            "docket.toml:2:13: string values must be quoted, expected literal string"
        );
    }

    #[test]
    fn durations() {
        let timeout =
            |value: &str| parse(&format!("[agent]\ntimeout = {value}\n")).map(|c| c.agent.timeout);
        assert_eq!(timeout("45").unwrap(), Duration::from_secs(45));
        assert_eq!(timeout("\"90s\"").unwrap(), Duration::from_secs(90));
        assert_eq!(timeout("\"10m\"").unwrap(), Duration::from_secs(600));
        assert_eq!(timeout("\"1h\"").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            error("[validation]\ntimeout = \"5 minutes\"\n"),
            "docket.toml:2:11: validation.timeout: invalid duration \"5 minutes\": use whole seconds or a number with a unit, like \"90s\", \"10m\" or \"1h\""
        );
        assert_eq!(
            error("[agent]\ntimeout = \"0s\"\n"),
            "docket.toml:2:11: agent.timeout: invalid duration \"0s\": it must be positive"
        );
        assert_eq!(
            error("[agent]\ntimeout = -5\n"),
            "docket.toml:2:11: agent.timeout: invalid duration -5: it must be positive"
        );
        assert_eq!(
            error("[agent]\ntimeout = 1.5\n"),
            "docket.toml:2:11: agent.timeout: invalid type: floating point `1.5`, expected a duration: whole seconds or a number with a unit, like \"90s\", \"10m\" or \"1h\""
        );
    }

    #[test]
    fn parse_duration_truth_table() {
        let cases = [
            ("1s", Some(1)),
            ("90s", Some(90)),
            ("10m", Some(600)),
            ("2h", Some(7200)),
            ("", None),
            ("10", None),
            ("s", None),
            ("1d", None),
            ("1.5h", None),
            ("-1s", None),
            ("1 s", None),
            ("99999999999999999999h", None),
        ];
        let actual: Vec<_> = cases
            .iter()
            .map(|(text, _)| (*text, parse_duration(text).map(|d| d.as_secs())))
            .collect();
        assert_eq!(actual, cases);
    }

    #[test]
    fn bad_glob_is_named_with_index_and_line() {
        assert_eq!(
            parse("[rules]\nforbidden_paths = [\n  \"ok/**\",\n  \"bad/[a\",\n]\n").unwrap_err(),
            ConfigError::Invalid {
                file: "docket.toml".into(),
                key: "rules.forbidden_paths[1]".into(),
                line: Some(4),
                column: Some(3),
                message: "invalid glob \"bad/[a\": unclosed character class; missing ']'".into(),
            }
        );
    }

    #[test]
    fn exec_without_command_is_rejected() {
        assert_eq!(
            error("[rules]\nmax_files = 1\n\n[agent]\nkind = \"exec\"\n"),
            "docket.toml:4:1: agent.command: required when kind = \"exec\": the agent's program and arguments, like [\"./agent.sh\", \"--ticket\"]"
        );
        assert_eq!(
            error("[agent]\nkind = \"exec\"\ncommand = []\n"),
            "docket.toml:3:11: agent.command: required when kind = \"exec\": the agent's program and arguments, like [\"./agent.sh\", \"--ticket\"]"
        );
        assert_eq!(
            error("[agent]\ncommand = [\"./a\"]\n"),
            "docket.toml:1:1: agent.kind: `agent.command` is set but `agent.kind` is not; add kind = \"exec\""
        );
    }

    #[test]
    fn semantic_errors_name_key_and_line() {
        let cases = [
            (
                "[repository]\nalias = \"Infra\"\n",
                "docket.toml:2:9: repository.alias: invalid alias \"Infra\": use 1-64 lowercase letters, digits and `-`, not starting with `-`",
            ),
            (
                "[repository]\nbase_ref = \"-x\"\n",
                "docket.toml:2:12: repository.base_ref: invalid ref \"-x\": it must be non-empty, without spaces, and not start with `-`",
            ),
            (
                "[intake]\ntickets = \"../elsewhere\"\n",
                "docket.toml:2:11: intake.tickets: \"../elsewhere\" must be a folder inside the repository: a relative path without `..`",
            ),
            (
                "[agent]\nenv = [\"OK\", \"1BAD\"]\n",
                "docket.toml:2:14: agent.env[1]: invalid environment variable name \"1BAD\": use letters, digits and `_`, not starting with a digit",
            ),
            (
                "[validation]\nmode = \"required\"\ncommands = [[\"make\"], []]\n",
                "docket.toml:3:23: validation.commands[1]: empty command: give the program and its arguments, like [\"make\", \"test\"]",
            ),
            (
                "[validation]\nsetup = [[\"\"]]\n",
                "docket.toml:2:10: validation.setup[0]: the program name is empty",
            ),
            (
                "[validation]\nmode = \"advisory\"\n",
                "docket.toml:1:1: validation.commands: mode is \"advisory\" but no commands are configured; add commands or set mode = \"off\"",
            ),
            (
                "[agent]\nrepair = true\n[validation]\nrepair_attempts = 6\n",
                "docket.toml:4:19: validation.repair_attempts: 6 is more than the maximum of 5",
            ),
            (
                "[validation]\nrepair_attempts = 1\n",
                "docket.toml:2:19: validation.repair_attempts: repair attempts need an agent that can repair; set agent.repair = true or repair_attempts = 0",
            ),
            (
                "[publish]\nbranch_prefix = \"a..b/\"\n",
                "docket.toml:2:17: publish.branch_prefix: invalid branch prefix \"a..b/\": use letters, digits, `.`, `_`, `-` and `/`, not starting with `-`, `/` or `.`, without `..` or `//`",
            ),
            (
                "[publish]\nauthor_email = \"x> <y\"\n",
                "docket.toml:2:16: publish.author_email: invalid author_email \"x> <y\": it must be non-empty, without `<`, `>` or control characters",
            ),
        ];
        assert_errors(&cases);
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "ab\nçd\n";
        assert_eq!(
            [0, 2, 3, 4, 5, 6, 7, 100].map(|offset| line_column(text, offset)),
            [
                (1, 1),
                (1, 3),
                (2, 1),
                (2, 1),
                (2, 2),
                (2, 3),
                (3, 1),
                (3, 1)
            ]
        );
    }
}
