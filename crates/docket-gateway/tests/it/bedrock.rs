//! AWS Bedrock's Converse API through the gateway (feature `bedrock`). The fake
//! Bedrock runtime checks every request's credential itself: a SigV4 signature is
//! recomputed here from AWS's specification with hmac and sha2 (never with the
//! gateway's signer), and this verifier is itself checked against AWS's published
//! test-suite signatures. It answers Converse with JSON and ConverseStream with an
//! event stream framed here, CRCs included, in the shapes of the Bedrock API
//! reference.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use docket_gateway::{
    Credential, Gateway, GatewayConfig, PriceTable, Provider, RequestPolicy, Upstream,
};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::policy::{DenyModels, decision_evidence};
use crate::support::{self, Done, Seen, aws_secret};

// --- SigV4, independently: AWS's "Create a signed AWS API request" steps ----------

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS's UriEncode: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper case).
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The canonical request of a request as the server received it. The path arrives
/// encoded once; outside S3 each segment is encoded again.
fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let path: Vec<String> = raw_path.split('/').map(uri_encode).collect();
    let mut query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k), uri_encode(v))
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        path.join("/"),
        query.join("&")
    )
}

/// The signature of `canonical` for `secret` at `amz_date` in `region`/`service`.
fn signature(secret: &str, amz_date: &str, region: &str, service: &str, canonical: &str) -> String {
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    let key = hmac_sha256(&key, b"aws4_request");
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// What the fake runtime expects of each request's credential.
#[derive(Clone)]
enum FakeAuth {
    SigV4 {
        access_key_id: String,
        secret: String,
        session_token: Option<String>,
        region: String,
    },
    Bearer(String),
}

/// Checks a received request's credential; `Ok` says what was signed.
fn verify(
    auth: &FakeAuth,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or("no authorization header")?
        .to_str()
        .unwrap();
    let (access_key_id, secret, session_token, region) = match auth {
        FakeAuth::Bearer(key) => {
            return (authorization == format!("Bearer {key}"))
                .then(|| "bearer".to_owned())
                .ok_or_else(|| "wrong bearer token".to_owned());
        }
        FakeAuth::SigV4 {
            access_key_id,
            secret,
            session_token,
            region,
        } => (access_key_id, secret, session_token, region),
    };
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name))
            .ok_or(format!("no {name}"))
    };
    let credential = field("Credential=")?;
    let signed_headers = field("SignedHeaders=")?;
    let claimed = field("Signature=")?;
    let amz_date = headers["x-amz-date"].to_str().unwrap();
    let expected_scope = format!(
        "{access_key_id}/{}/{region}/bedrock/aws4_request",
        &amz_date[..8]
    );
    if credential != expected_scope {
        return Err(format!("credential scope {credential}"));
    }
    let mut required = vec!["content-type", "host", "x-amz-date"];
    if let Some(token) = session_token {
        required.push("x-amz-security-token");
        if headers["x-amz-security-token"] != token.as_str() {
            return Err("wrong session token".into());
        }
    }
    if signed_headers != required.join(";") {
        return Err(format!("signed headers {signed_headers}"));
    }
    let canonical = canonical_request(
        method,
        path,
        query,
        headers,
        signed_headers,
        &sha256_hex(body),
    );
    let computed = signature(secret, amz_date, region, "bedrock", &canonical);
    if computed != claimed {
        return Err(format!(
            "signature mismatch; canonical request:\n{canonical}"
        ));
    }
    Ok(signed_headers.to_owned())
}

/// The verifier against AWS's Signature Version 4 test suite (`post-x-www-form-
/// urlencoded`, `post-sts-token/post-sts-header-before`, `get-vanilla-query-order-key-
/// case`), so that a pass below means the gateway's signatures are AWS's.
#[test]
fn the_test_verifier_reproduces_the_aws_test_suite() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    };
    let cases = [
        (
            "POST",
            "",
            headers(&[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ]),
            "content-type;host;x-amz-date",
            &b"Param1=value1"[..],
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        (
            "POST",
            "",
            headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("x-amz-security-token", token),
            ]),
            "host;x-amz-date;x-amz-security-token",
            &b""[..],
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ),
        (
            "GET",
            "Param2=value2&Param1=value1",
            headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ]),
            "host;x-amz-date",
            &b""[..],
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ];
    for (method, query, headers, signed, body, expected) in cases {
        let canonical = canonical_request(method, "/", query, &headers, signed, &sha256_hex(body));
        assert_eq!(
            signature(
                secret,
                "20150830T123600Z",
                "us-east-1",
                "service",
                &canonical
            ),
            expected
        );
    }
}

// --- Event streams, framed here ---------------------------------------------------

fn string_header(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(name.len()).unwrap()];
    out.extend_from_slice(name.as_bytes());
    out.push(7);
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

/// One `application/vnd.amazon.eventstream` message of ConverseStream.
fn event(event_type: &str, payload: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(payload).unwrap();
    let mut headers = string_header(":event-type", event_type);
    headers.extend(string_header(":content-type", "application/json"));
    headers.extend(string_header(":message-type", "event"));
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
    out.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// A ConverseStream answer: 25 uncached input tokens, 100 written to the cache, 12
/// output tokens (events as the Bedrock API reference lists them; real ones carry a
/// `p` padding field, as the second delta does).
fn converse_stream() -> Vec<u8> {
    [
        event("messageStart", &json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
        ),
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": ", world"}, "p": "abcdefghijklmnopqr"}),
        ),
        event("contentBlockStop", &json!({"contentBlockIndex": 0})),
        event("messageStop", &json!({"stopReason": "end_turn"})),
        event(
            "metadata",
            &json!({
                "usage": {"inputTokens": 25, "outputTokens": 12, "totalTokens": 137, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 100},
                "metrics": {"latencyMs": 640}
            }),
        ),
    ]
    .concat()
}

/// A Converse answer: 30 uncached input tokens, 1200 read from the cache, 8 output.
const CONVERSE_JSON: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Done."}]}},"stopReason":"end_turn","usage":{"inputTokens":30,"outputTokens":8,"totalTokens":1238,"cacheReadInputTokens":1200,"cacheWriteInputTokens":0},"metrics":{"latencyMs":420}}"#;

// --- The fake Bedrock runtime -----------------------------------------------------

struct FakeState {
    auth: FakeAuth,
    seen: Mutex<Vec<Seen>>,
    /// One verdict per request: what was signed, or why the credential failed.
    verdicts: Mutex<Vec<Result<String, String>>>,
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-amzn-ErrorType", kind)
        .body(Body::from(json!({"message": message}).to_string()))
        .unwrap()
}

async fn fake_bedrock(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_owned();
    let verdict = verify(
        &state.auth,
        parts.method.as_str(),
        &path,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &body,
    );
    state.seen.lock().unwrap().push(Seen {
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    state.verdicts.lock().unwrap().push(verdict.clone());
    if let Err(reason) = verdict {
        return aws_error(StatusCode::FORBIDDEN, "InvalidSignatureException", &reason);
    }
    if path.ends_with("/converse-stream") {
        // Sent in pieces that cut through preludes, headers and payloads.
        let stream = converse_stream();
        let chunks: Vec<Result<Bytes, Infallible>> = stream
            .chunks(13)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
            .header("x-amzn-RequestId", "5d6f5d2c-stream")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
    }
    if path.ends_with("/converse") {
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-amzn-RequestId", "5d6f5d2c-json")
            .body(Body::from(CONVERSE_JSON))
            .unwrap();
    }
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "no such operation",
    )
}

struct FakeBedrock {
    addr: SocketAddr,
    state: Arc<FakeState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeBedrock {
    async fn start(auth: FakeAuth) -> FakeBedrock {
        let state = Arc::new(FakeState {
            auth,
            seen: Mutex::new(Vec::new()),
            verdicts: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(fake_bedrock)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
        FakeBedrock {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) -> (Vec<Seen>, Vec<Result<String, String>>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let seen = self.state.seen.lock().unwrap().clone();
        let verdicts = self.state.verdicts.lock().unwrap().clone();
        (seen, verdicts)
    }
}

// --- The harness --------------------------------------------------------------------

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

// --- The tests --------------------------------------------------------------------

#[tokio::test]
async fn converse_is_signed_after_redaction_relayed_metered_and_recorded() {
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "us-east-1"),
        |file| Credential::File(file.to_owned()),
        "us-east-1",
        |_| {},
    )
    .await;
    let dummy = h.gateway.dummy_key().to_owned();
    let credentials_file = h.credentials_file.clone();
    let leak = aws_secret();
    let sent = converse_request(&format!("deploy with AWS_ACCESS_KEY_ID={leak} please"));
    // An inference profile id, its `:` percent-encoded as the AWS SDKs send it; the
    // agent's own SigV4 leftovers are not forwarded.
    let response = h
        .converse(
            "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &sent,
        )
        .header("x-amz-security-token", "agent-token")
        .header("x-amz-date", "20200101T000000Z")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-amzn-requestid"], "5d6f5d2c-json");
    assert_eq!(response.bytes().await.unwrap(), CONVERSE_JSON.as_bytes());
    // An application inference profile ARN: `:` and `/` encoded.
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5";
    let response = h
        .converse(
            &arn.replace(':', "%3A").replace('/', "%2F"),
            false,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let Finished { done, verdicts } = h.finish().await;
    // The fake recomputed both signatures over what it received, session token signed.
    assert_eq!(
        verdicts,
        vec![
            Ok("content-type;host;x-amz-date;x-amz-security-token".to_owned()),
            Ok("content-type;host;x-amz-date;x-amz-security-token".to_owned()),
        ]
    );
    assert_eq!(done.seen.len(), 2);
    let seen = &done.seen[0];
    assert_eq!(
        seen.path_and_query,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_eq!(
        done.seen[1].path_and_query,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3d4e5/converse"
    );
    assert_eq!(seen.headers["x-amz-security-token"], SESSION_TOKEN);
    assert_eq!(seen.headers["amz-sdk-invocation-id"], "0b1e4c6e-agent");
    assert_eq!(seen.headers.get_all("x-amz-date").iter().count(), 1);
    assert_ne!(seen.headers["x-amz-date"], "20200101T000000Z");
    // The secret in the request was redacted before it left, and the signature covers
    // the redacted bytes (the verdict above).
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body["messages"][0]["content"][0]["text"],
        "deploy with AWS_ACCESS_KEY_ID=[REDACTED:aws-access-token] please"
    );
    done.assert_upstream_never_saw(&leak);
    done.assert_upstream_never_saw(&dummy);
    done.assert_upstream_never_saw("agent-token");

    let exchanges = done.exchanges();
    let p = exchanges[0];
    assert_eq!(p["api"], "bedrock.converse");
    assert_eq!(p["provider"], "bedrock");
    assert_eq!(p["upstream"], "bedrock");
    assert_eq!(p["model"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(p["stream"], false);
    assert_eq!(
        (p["status"].as_u64(), p["outcome"].as_str()),
        (Some(200), Some("complete"))
    );
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 1230, "output_tokens": 8, "cache_write_tokens": 0, "cache_read_tokens": 1200})
    );
    let cost = (30.0 * 3.0 + 1200.0 * 0.3 + 8.0 * 15.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert_eq!(p["price"]["pattern"], "*anthropic.claude-sonnet-4-5*");
    // How it was signed and with what, never the keys or the signature.
    assert_eq!(
        p["request"]["credential"],
        format!(
            "aws-sigv4 (bedrock, us-east-1) from file:{} [default]",
            credentials_file.display()
        )
    );
    assert_eq!(
        p["request"]["path"],
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    let recorded_headers = &p["request"]["headers"];
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        assert_eq!(header_value(recorded_headers, name), None, "{name}");
    }
    assert_eq!(
        header_value(recorded_headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(
        p["request"]["redactions"][0]["location"],
        "/messages/0/content/0/text"
    );
    assert_eq!(done.blob(&p["request"]["digest"]), seen.body);
    assert_eq!(
        done.blob(&p["response"]["digest"]),
        CONVERSE_JSON.as_bytes()
    );
    assert_eq!(
        header_value(&p["response"]["headers"], "x-amzn-requestid"),
        Some("5d6f5d2c-json")
    );
    // The ARN names no model the price table knows.
    let arn_exchange = exchanges[1];
    assert_eq!(arn_exchange["model"], arn);
    assert_eq!(arn_exchange["price"], "unknown");
    assert!(arn_exchange["cost_usd"].is_null());

    let summary = &done.summary;
    assert_eq!(
        (
            summary.requests,
            summary.input_tokens,
            summary.output_tokens,
            summary.denials
        ),
        (2, 2460, 16, 0)
    );
    assert_eq!(summary.exchanges.len(), 2);
    assert_eq!(summary.exchanges[0].api, "bedrock.converse");
    let signature = seen.headers["authorization"]
        .to_str()
        .unwrap()
        .rsplit("Signature=")
        .next()
        .unwrap()
        .to_owned();
    for secret in [
        access_key_id().as_str(),
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        signature.as_str(),
        leak.as_str(),
        dummy.as_str(),
    ] {
        done.assert_stored_nowhere(secret);
    }
}

#[tokio::test]
async fn converse_stream_relays_the_event_stream_unchanged_and_meters_its_metadata() {
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "eu-west-3"),
        |file| Credential::File(file.to_owned()),
        "eu-west-3",
        |_| {},
    )
    .await;
    let credentials_file = h.credentials_file.clone();
    // Some clients leave the `:` unencoded; what is sent (and signed) is canonical.
    let response = h
        .converse(
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            true,
            &converse_request("Say hello"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let received = response.bytes().await.unwrap();
    assert_eq!(received, converse_stream());

    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(
        verdicts,
        vec![Ok(
            "content-type;host;x-amz-date;x-amz-security-token".to_owned()
        )]
    );
    assert_eq!(
        done.seen[0].path_and_query,
        "/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream"
    );
    let p = done.exchanges()[0];
    assert_eq!(p["api"], "bedrock.converse-stream");
    assert_eq!(p["model"], "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert_eq!(p["stream"], true);
    assert_eq!(p["outcome"], "complete");
    assert!(p["ttfb_us"].is_u64());
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 125, "output_tokens": 12, "cache_write_tokens": 100, "cache_read_tokens": 0})
    );
    let cost = (25.0 * 1.0 + 100.0 * 1.25 + 12.0 * 5.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert_eq!(
        p["request"]["credential"],
        format!(
            "aws-sigv4 (bedrock, eu-west-3) from file:{} [default]",
            credentials_file.display()
        )
    );
    assert_eq!(done.blob(&p["response"]["digest"]), converse_stream());
    assert_eq!(p["response"]["stored_redacted"], false);
    assert_eq!(
        (done.summary.input_tokens, done.summary.output_tokens),
        (125, 12)
    );
}

#[tokio::test]
async fn refusals_come_in_the_bedrock_error_shape_and_nothing_leaves() {
    let policy = DenyModels::new(
        &["us.anthropic.claude-opus-4-1-20250805-v1:0"],
        decision_evidence(),
    );
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "us-east-1"),
        |file| Credential::File(file.to_owned()),
        "us-east-1",
        |c| {
            c.request_policy = Some(policy.clone() as Arc<dyn RequestPolicy>);
            c.limits.max_requests = Some(1);
        },
    )
    .await;
    let body = converse_request("hi");
    let expect = |status: u16, kind: &'static str, message: String| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status, "{kind}");
            assert_eq!(response.headers()["x-amzn-errortype"], kind);
            assert_eq!(response.headers()["content-type"], "application/json");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error, json!({"message": message}));
        }
    };

    // A model outside the allowlist.
    let response = h
        .converse("meta.llama3-70b-instruct-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        403,
        "AccessDeniedException",
        "docket gateway: model \"meta.llama3-70b-instruct-v1:0\" is not allowed for this run (gateway allowed_models)".into(),
    )(response)
    .await;
    // A model the run's policy refuses.
    let response = h
        .converse("us.anthropic.claude-opus-4-1-20250805-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        403,
        "AccessDeniedException",
        "docket gateway: policy denied model \"us.anthropic.claude-opus-4-1-20250805-v1:0\": us.anthropic.claude-opus-4-1-20250805-v1:0 is not approved for this ticket".into(),
    )(response)
    .await;
    // No dummy key: the real AWS key is no key here.
    let response = h
        .client
        .post(format!(
            "{}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            h.gateway.bedrock_base_url()
        ))
        .bearer_auth(access_key_id())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    response.bytes().await.unwrap();
    // A body that is not JSON.
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &json!(null),
        )
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ValidationException"
    );
    response.bytes().await.unwrap();
    // The dummy key in x-api-key works too; the one request allowed is used up…
    let response = h
        .client
        .post(format!(
            "{}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            h.gateway.bedrock_base_url()
        ))
        .header("x-api-key", h.gateway.dummy_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    // …so the next one meets the limit, as a quota error the AWS SDKs do not retry.
    let response = h
        .converse("anthropic.claude-sonnet-4-5-20250929-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        400,
        "ServiceQuotaExceededException",
        "docket gateway: the run is stopped: model request limit reached: 1 of 1 requests".into(),
    )(response)
    .await;

    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(done.seen.len(), 1, "only the allowed request went upstream");
    assert_eq!(
        verdicts,
        vec![Ok(
            "content-type;host;x-amz-date;x-amz-security-token".to_owned()
        )]
    );
    let reasons: Vec<&str> = done
        .payloads("model.denial")
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "model_not_allowed",
            "policy_denied",
            "invalid_api_key",
            "invalid_request",
            "insufficient_quota"
        ]
    );
    let policy_denial = done.payloads("model.denial")[1];
    assert_eq!(policy_denial["api"], "bedrock.converse");
    assert_eq!(policy_denial["policy"], decision_evidence());
    assert_eq!(
        policy.asked(),
        vec![
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "us.anthropic.claude-opus-4-1-20250805-v1:0".to_owned()
            ),
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()
            ),
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()
            ),
        ]
    );
    assert_eq!(done.summary.denials, 5);
}

#[tokio::test]
async fn a_bedrock_upstream_needs_a_valid_region_and_aws_keys_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open_ledger(dir.path()).await;
    let not_aws = support::credential_file(dir.path(), "plain.key", "just-a-key");
    let upstream = |region: Option<&str>, credential: Credential| Upstream {
        name: "bedrock".into(),
        provider: Provider::Bedrock,
        base_url: String::new(),
        credential,
        region: region.map(str::to_owned),
    };
    for (upstream, expected) in [
        (
            upstream(None, Credential::AwsEnv),
            "upstream bedrock: a bedrock upstream needs its AWS region (e.g. us-east-1)".to_owned(),
        ),
        (
            upstream(Some("us-east-1.evil.example"), Credential::AwsEnv),
            "upstream bedrock: region \"us-east-1.evil.example\" is not an AWS region name (e.g. us-east-1)".to_owned(),
        ),
        (
            upstream(Some("us-east-1"), Credential::File(not_aws.clone())),
            format!(
                "upstream bedrock: credential file {} is not an AWS shared credentials file docket can use: it has no [default] profile",
                not_aws.display()
            ),
        ),
    ] {
        let config = GatewayConfig::new(vec![upstream], vec!["*".into()]);
        let err = Gateway::start(config, ledger.clone(), "r")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, expected);
    }
}

/// The variables of the child process below.
const CHILD: &str = "DOCKET_GATEWAY_TEST_BEDROCK_CHILD";
const API_KEY_VARIABLE: &str = "DOCKET_GATEWAY_TEST_BEDROCK_API_KEY";
const API_KEY: &str = "bedrock-api-key-ABSKZG9ja2V0LXRlc3Q=";

/// Credentials from docket's environment: a Bedrock API key (`Credential::Env`) sent
/// as a bearer token, and `Credential::AwsEnv` signing with SigV4. Environment
/// variables cannot be set safely in this multi-threaded test process, so the test
/// runs itself again as a child process with them set.
#[test]
fn credentials_from_the_environment_bear_or_sign() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bedrock::environment_credentials_in_a_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(API_KEY_VARIABLE, API_KEY)
        .env("AWS_ACCESS_KEY_ID", access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Run by the test above, with the variables set; on its own it has nothing to do.
#[tokio::test]
async fn environment_credentials_in_a_child_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // A Bedrock API key: `Authorization: Bearer`, no signature.
    let h = BedrockHarness::start(
        FakeAuth::Bearer(API_KEY.into()),
        |_| Credential::Env(API_KEY_VARIABLE.into()),
        "us-west-2",
        |_| {},
    )
    .await;
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(verdicts, vec![Ok("bearer".to_owned())]);
    assert!(done.seen[0].headers.get("x-amz-date").is_none());
    let p = done.exchanges()[0];
    assert_eq!(
        p["request"]["credential"],
        format!("authorization from env:{API_KEY_VARIABLE}")
    );
    done.assert_stored_nowhere(API_KEY);

    // AWS keys from the environment: SigV4, no session token.
    let h = BedrockHarness::start(
        sigv4(None, "us-west-2"),
        |_| Credential::AwsEnv,
        "us-west-2",
        |_| {},
    )
    .await;
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            true,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), converse_stream());
    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(
        verdicts,
        vec![Ok("content-type;host;x-amz-date".to_owned())]
    );
    let p = done.exchanges()[0];
    assert_eq!(
        p["request"]["credential"],
        "aws-sigv4 (bedrock, us-west-2) from env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY"
    );
    done.assert_stored_nowhere(&access_key_id());
    done.assert_stored_nowhere(SECRET_ACCESS_KEY);
}
