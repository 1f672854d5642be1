//! docket's model gateway: an HTTP relay on 127.0.0.1 that every request between an
//! agent and a model passes through, for one run. It speaks the vendors' own wire
//! formats (Anthropic Messages, OpenAI Responses and Chat Completions, Azure OpenAI,
//! and with the `bedrock` feature AWS Bedrock's Converse API),
//! swaps the agent's per-run dummy key for the real credential, enforces the model
//! allowlist and the run's limits, redacts secrets from what leaves the machine,
//! meters tokens and cost from the usage the provider reports, and records every
//! exchange — request as sent, response bytes as received — in the ledger.
//!
//! Invariants:
//! - The agent only ever holds the dummy key; the real credential is read once at
//!   start, injected per request, and never logged, recorded or returned.
//! - Responses are relayed as they arrive, byte for byte; metering parses a copy.
//! - Nothing the gateway stores (blobs, entries) holds a secret the scanner finds:
//!   requests are redacted before they are sent or stored, responses before they are
//!   stored.
//! - Fails closed: a request that cannot be checked (no model, unparsable body, no
//!   dummy key) is refused, and once recording fails the gateway refuses further
//!   requests and reports a stop.
//! - The caller's [`RequestPolicy`], when there is one, judges every request that
//!   passed the allowlist before anything leaves; a denial is recorded and answered
//!   in the client's own error shape.
//! - Knows nothing about tickets, runs' stages or CLIs: `run_id` is a label.

#[cfg(feature = "bedrock")]
mod aws;
pub mod bench;
mod credential;
mod credential_source;
mod error;
mod eventstream;
mod prices;
mod protocol;
mod record;
mod redact;
mod replay;
mod server;
mod sse;
mod usage;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::GatewayError;
pub use prices::{ModelPrice, PriceTable};
pub use replay::{Recorded, ReplayOptions, VOLATILE_FIELDS, recorded_exchanges};
pub use server::Gateway;
pub use usage::Usage;

/// Everything one run's gateway needs to know.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Where requests go: the first upstream of a request's provider serves it.
    pub upstreams: Vec<Upstream>,
    /// Glob patterns (globset) of model names this run may call; a request for any
    /// other model is refused. An empty list refuses every model.
    pub allowed_models: Vec<String>,
    pub redaction: RedactionMode,
    pub limits: GatewayLimits,
    /// Prices used to cost each exchange.
    pub prices: PriceTable,
    /// Bounds each upstream call, from sending the request to the response's last byte.
    pub request_timeout: Duration,
    /// The run's policy decision, enforced per request: asked about every request
    /// that passed the allowlist, before anything leaves. `None` allows them all.
    pub request_policy: Option<Arc<dyn RequestPolicy>>,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("upstreams", &self.upstreams)
            .field("allowed_models", &self.allowed_models)
            .field("redaction", &self.redaction)
            .field("limits", &self.limits)
            .field("prices", &self.prices)
            .field("request_timeout", &self.request_timeout)
            .field(
                "request_policy",
                &self.request_policy.as_ref().map(|_| "dyn RequestPolicy"),
            )
            .finish()
    }
}

impl GatewayConfig {
    /// A configuration with redaction on, no limits, the built-in prices and a
    /// ten-minute request timeout.
    pub fn new(upstreams: Vec<Upstream>, allowed_models: Vec<String>) -> GatewayConfig {
        GatewayConfig {
            upstreams,
            allowed_models,
            redaction: RedactionMode::Redact,
            limits: GatewayLimits::default(),
            prices: PriceTable::builtin(),
            request_timeout: Duration::from_secs(600),
            request_policy: None,
        }
    }
}

/// A per-request check supplied by the caller (the run's policy decision, enforced at
/// the wire). It must be quick and must not block: it runs on the request's task.
pub trait RequestPolicy: Send + Sync {
    /// Called for every request that passed the allowlist, before anything leaves.
    fn check(&self, request: &PolicyRequest<'_>) -> Result<(), PolicyDenial>;
}

/// What a [`RequestPolicy`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRequest<'a> {
    /// `anthropic.messages`, `openai.responses`, `bedrock.converse`, …
    pub api: &'a str,
    pub provider: Provider,
    /// The model the request asks for, as the allowlist saw it.
    pub model: &'a str,
}

/// Why a [`RequestPolicy`] refused a request. The request is answered `403` with
/// `message` and recorded as a `model.denial` (`reason: policy_denied`) whose `policy`
/// field is `evidence` (redacted like everything the gateway stores).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDenial {
    pub message: String,
    pub evidence: serde_json::Value,
}

/// What to do with a request body in which the secret scanner finds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedactionMode {
    /// Replace each secret with `[REDACTED:<rule-id>]` before the request leaves.
    #[default]
    Redact,
    /// Refuse the request.
    Block,
}

/// Per-run limits. `None` is no limit. Once usage reaches a limit the gateway
/// refuses further requests and reports a stop.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GatewayLimits {
    /// Requests relayed upstream.
    pub max_requests: Option<u64>,
    /// Input plus output tokens, as the provider reports them.
    pub max_tokens: Option<u64>,
    /// Cost from the price table (models with no price count 0).
    pub max_cost_usd: Option<f64>,
}

/// The wire dialect of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Anthropic,
    OpenAi,
    AzureOpenAi,
    /// AWS Bedrock's Converse API. Relayed only by a docket built with the `bedrock`
    /// feature; without it a Bedrock upstream stops [`Gateway::start`].
    Bedrock,
}

impl Provider {
    /// The name used in entries and messages: `anthropic`, `openai`, `azure-openai`,
    /// `bedrock`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::AzureOpenAi => "azure-openai",
            Provider::Bedrock => "bedrock",
        }
    }
}

/// A model provider endpoint and the credential docket uses for it.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// A label for messages and entries.
    pub name: String,
    pub provider: Provider,
    /// The provider's root (`https://api.anthropic.com`, `https://api.openai.com`,
    /// `https://<resource>.openai.azure.com`,
    /// `https://bedrock-runtime.<region>.amazonaws.com`); the request's path
    /// (`/v1/messages`, `/openai/deployments/…`, `/model/…/converse`) is appended. A
    /// trailing `/v1` is accepted and not doubled. `https://`, or `http://` to a
    /// loopback address only. Empty for Bedrock means the region's runtime endpoint.
    pub base_url: String,
    pub credential: Credential,
    /// The AWS region (`us-east-1`): required for Bedrock, which signs for it and
    /// defaults its endpoint to it; ignored for the other providers.
    pub region: Option<String>,
}

/// Where the real credential is read from, once, when the gateway starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An environment variable of docket's own process: the provider's API key (for
    /// Bedrock a Bedrock API key, sent as `Authorization: Bearer`).
    Env(String),
    /// A file readable by its owner only (mode 0600 or 0400). For Anthropic, OpenAI
    /// and Azure it holds the key (surrounding whitespace trimmed); for Bedrock it is
    /// an AWS shared credentials file whose `[default]` profile
    /// (`aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token`)
    /// signs each request with SigV4.
    File(PathBuf),
    /// Bedrock only: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional
    /// `AWS_SESSION_TOKEN` from docket's own environment, signing each request with
    /// SigV4.
    AwsEnv,
}

/// What one run's gateway did, returned by [`Gateway::shutdown`].
#[derive(Debug, Clone, Default)]
pub struct GatewaySummary {
    /// Requests relayed upstream (refused ones are `denials`).
    pub requests: u64,
    /// Input tokens, cache reads and writes included.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Requests refused by the gateway (auth, allowlist, request policy, secrets,
    /// limits, routes).
    pub denials: u64,
    /// Secrets replaced in requests sent upstream.
    pub redactions: u64,
    /// Why the gateway stopped the run, if it did.
    pub stop: Option<String>,
    /// Ledger index and leaf hash of every `model.exchange` entry, in ledger order.
    pub entries: Vec<(u64, docket_ledger::Hash)>,
    /// Ledger index and leaf hash of every `model.denial` and `model.budget` entry,
    /// in ledger order.
    pub decision_entries: Vec<(u64, docket_ledger::Hash)>,
    /// One summary per exchange, in ledger order.
    pub exchanges: Vec<ExchangeSummary>,
}

/// One recorded exchange, as the run record lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeSummary {
    /// The gateway's sequence number (requests and denials share one sequence).
    pub seq: u64,
    /// Ledger index and leaf hash of its `model.exchange` entry.
    pub index: u64,
    pub leaf_hash: docket_ledger::Hash,
    /// `anthropic.messages`, `openai.responses`, `openai.chat`, `azure.chat`,
    /// `azure.responses`, `bedrock.converse`, `bedrock.converse-stream`.
    pub api: &'static str,
    /// The upstream's name (`replay` for a replayed exchange).
    pub upstream: String,
    pub model: String,
    /// Status returned to the agent.
    pub status: u16,
    /// `complete`, `upstream_error`, `client_disconnected`, `timeout`, `unreachable`.
    pub outcome: &'static str,
    pub usage: Usage,
    /// `None` when the price table has no price for the model.
    pub cost_usd: Option<f64>,
    pub latency: Duration,
    pub time_to_first_byte: Option<Duration>,
    pub request_digest: docket_ledger::Digest256,
    pub response_digest: Option<docket_ledger::Digest256>,
}
