//! The gateway's error type: what stops it from starting. Every variant names the
//! upstream, file, variable or pattern at fault, never a credential's value.
//! Per-request failures are not errors of this type: they become protocol-correct
//! responses and ledger entries.

use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "upstream {upstream}: environment variable {variable} is not set or empty; export the provider's API key in docket's environment"
    )]
    CredentialEnvMissing { upstream: String, variable: String },
    #[error("upstream {upstream}: cannot read credential file {path}: {source}")]
    CredentialFileRead {
        upstream: String,
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error(
        "upstream {upstream}: credential file {path} has mode {mode:04o}; it must be readable by its owner only (chmod 600 {path})"
    )]
    CredentialFileMode {
        upstream: String,
        path: PathBuf,
        mode: u32,
    },
    #[error(
        "upstream {upstream}: the credential from {source_name} is empty or not a valid header value"
    )]
    CredentialInvalid {
        upstream: String,
        source_name: String,
    },
    #[error(
        "upstream {upstream}: credential file {path} is not an AWS shared credentials file docket can use: {reason}"
    )]
    CredentialFileFormat {
        upstream: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "upstream {upstream}: the AWS environment credential (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) is for bedrock upstreams only; provider {provider} takes its API key from an environment variable or a file"
    )]
    CredentialUnsupported {
        upstream: String,
        provider: &'static str,
    },
    #[error(
        "upstream {upstream}: this docket was built without the `bedrock` feature; rebuild with --features bedrock"
    )]
    BedrockNotBuilt { upstream: String },
    #[error("upstream {upstream}: a bedrock upstream needs its AWS region (e.g. us-east-1)")]
    RegionMissing { upstream: String },
    #[error("upstream {upstream}: region {region:?} is not an AWS region name (e.g. us-east-1)")]
    RegionInvalid { upstream: String, region: String },
    #[error("upstream {upstream}: base_url {url:?} is not usable: {reason}")]
    UpstreamUrl {
        upstream: String,
        url: String,
        reason: String,
    },
    #[error("allowed_models pattern {pattern:?} is not a valid glob: {reason}")]
    AllowedModel { pattern: String, reason: String },
    #[error("price table: {reason}")]
    Prices { reason: String },
    #[error("request_timeout must be more than zero")]
    Timeout,
    #[error("cannot listen on 127.0.0.1: {source}")]
    Bind { source: Arc<std::io::Error> },
    #[error("the system random source failed: {reason}")]
    Random { reason: String },
    #[error("cannot build the HTTP client: {reason}")]
    Client { reason: String },
    #[error("reading recorded exchanges: {reason}")]
    Recorded { reason: String },
    #[error("gateway benchmark: {reason}")]
    Bench { reason: String },
    #[error(transparent)]
    Ledger(#[from] docket_ledger::LedgerError),
}
