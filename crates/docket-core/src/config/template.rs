//! The commented `docket.toml` that `docket init` writes, and filling it in.

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
# Whether to reject changes that add something that looks like a secret, in added
# lines and in the bytes of added or changed binary files.
secrets = true
# The largest binary file (in bytes) the secrets check reads. A larger binary file
# fails the check: a file that was not scanned is not published.
max_scan_bytes = 8388608

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
    use crate::config::test_support::parse;
    use crate::config::{Config, RepositoryConfig};

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
}
