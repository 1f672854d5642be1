//! `[gateway]` and `[[gateway.upstreams]]`: the model gateway's limits and the
//! providers it forwards to.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::units::{deserialize_duration, deserialize_usd};

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
