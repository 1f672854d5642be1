//! The rules a well-typed `docket.toml` must still follow. Each rule names the key
//! that breaks it; `parse` finds that key's line.

mod gateway;

use std::path::Component;

use super::key_path::{KeyPath, KeySegment, indexed, key};
use super::{
    AgentConfig, AgentKind, Config, IntakeConfig, MAX_REPAIR_ATTEMPTS, MAX_TURNS_LIMIT, Mode,
    Planner, PublishConfig, ROLES, RepositoryConfig, RulesConfig, ValidationConfig,
};
use gateway::validate_gateway;

/// A rule broken by a parsed config; located in the text afterwards.
pub(super) struct Problem {
    pub(super) key: KeyPath,
    pub(super) message: String,
}

fn problem(key: KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        key,
        message: message.into(),
    }
}

pub(super) fn validate(config: &Config) -> Result<(), Problem> {
    validate_repository(&config.repository)?;
    validate_intake(&config.intake)?;
    validate_agent(&config.agent)?;
    validate_rules(&config.rules)?;
    validate_validation(&config.validation, &config.agent)?;
    validate_publish(&config.publish)?;
    validate_gateway(config)?;
    validate_policy(config)
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

#[cfg(test)]
mod tests {
    use crate::config::test_support::{assert_errors, error, parse};
    use crate::config::{BudgetsConfig, ConfigError};

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
}
