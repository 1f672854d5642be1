//! Validation of `[gateway]` and of the agent settings that depend on it: upstreams
//! must be safe to send a credential to, and a model agent must have a model and a
//! provider it can reach.

use super::{Problem, is_env_name, problem};
use crate::config::key_path::{KeySegment, indexed, key};
use crate::config::{AgentKind, Config, Planner, ProviderSetting};

pub(super) fn validate_gateway(config: &Config) -> Result<(), Problem> {
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

#[cfg(test)]
mod tests {
    use crate::config::test_support::{error, parse};
    use crate::config::{AgentKind, ProviderSetting};

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
}
