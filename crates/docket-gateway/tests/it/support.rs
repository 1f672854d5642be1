//! The test harness: a fake provider on 127.0.0.1 (the only fake: everything else is
//! real — the gateway, a SQLite ledger in a temporary directory, reqwest as the
//! agent), and helpers to read what the gateway recorded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use docket_gateway::{
    Credential, Gateway, GatewayConfig, GatewaySummary, Provider, RedactionMode, Upstream,
};
use docket_ledger::{Digest256, Entry, EntryFilter, Hash, Ledger, LedgerConfig};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::wire;

pub const ANTHROPIC_KEY: &str = "real-anthropic-credential-for-tests";
pub const OPENAI_KEY: &str = "real-openai-credential-for-tests";
pub const AZURE_KEY: &str = "real-azure-credential-for-tests";

/// A secret the scanner knows (an AWS access key id), built at run time so that it
/// is not in the source.
pub fn aws_secret() -> String {
    format!("{}{}", "AKIA", "QWERTYUIOPASDFGH")
}

/// One request as the fake provider received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct FakeState {
    seen: Mutex<Vec<Seen>>,
    /// Hanging responses wait for this, so the fake can always shut down.
    release: watch::Receiver<bool>,
}

/// A fake model provider. It answers by path (Messages, Responses, Chat) and by
/// model: `status-429`, `status-500`, `hang-headers` (never answers),
/// `hang-body` (one event, then nothing).
pub struct Fake {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    release: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn sse(stream: &'static str) -> Response {
    let chunks = wire::events(stream)
        .into_iter()
        .map(|event| Ok::<_, Infallible>(Bytes::from_static(event.as_bytes())));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header("request-id", "req_fake_1")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}

fn json_response(status: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("retry-after", "7")
        .body(Body::from(body))
        .unwrap()
}

async fn fake_provider(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    state.seen.lock().unwrap().push(Seen {
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let path = parts.uri.path().to_owned();
    match model.as_str() {
        "status-429" => {
            return json_response(StatusCode::TOO_MANY_REQUESTS, wire::ANTHROPIC_RATE_LIMIT);
        }
        "status-500" => {
            return json_response(StatusCode::INTERNAL_SERVER_ERROR, wire::ANTHROPIC_API_ERROR);
        }
        "hang-headers" => {
            let mut release = state.release.clone();
            let _ = release.wait_for(|r| *r).await;
            return json_response(StatusCode::SERVICE_UNAVAILABLE, wire::ANTHROPIC_API_ERROR);
        }
        "hang-body" => {
            let first = wire::events(wire::ANTHROPIC_SSE)[0];
            let release = state.release.clone();
            let rest = futures_util::stream::once(async move {
                let mut release = release;
                let _ = release.wait_for(|r| *r).await;
                Ok::<_, Infallible>(Bytes::new())
            });
            let stream = futures_util::stream::once(async move {
                Ok::<_, Infallible>(Bytes::from_static(first.as_bytes()))
            })
            .chain(rest);
            return Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap();
        }
        _ => {}
    }
    match path.as_str() {
        "/v1/messages" if request["stream"] == true => sse(wire::ANTHROPIC_SSE),
        "/v1/messages" => json_response(StatusCode::OK, wire::ANTHROPIC_JSON),
        "/v1/responses" | "/openai/responses" => sse(wire::RESPONSES_SSE),
        _ if path.ends_with("/chat/completions") => sse(wire::CHAT_SSE),
        _ => json_response(StatusCode::NOT_FOUND, wire::ANTHROPIC_API_ERROR),
    }
}

impl Fake {
    pub async fn start() -> Fake {
        let (release, release_rx) = watch::channel(false);
        let state = Arc::new(FakeState {
            seen: Mutex::new(Vec::new()),
            release: release_rx,
        });
        let app = Router::new()
            .fallback(fake_provider)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = listener.tap_io(|tcp| tcp.set_nodelay(true).unwrap());
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
        Fake {
            addr,
            state,
            release,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub async fn stop(mut self) {
        let _ = self.release.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A 0600 credential file holding `value`.
pub fn credential_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The three upstreams, all served by `base_url`.
pub fn upstreams(dir: &Path, base_url: &str) -> Vec<Upstream> {
    [
        ("anthropic", Provider::Anthropic, ANTHROPIC_KEY),
        ("openai", Provider::OpenAi, OPENAI_KEY),
        ("azure", Provider::AzureOpenAi, AZURE_KEY),
    ]
    .into_iter()
    .map(|(name, provider, key)| Upstream {
        name: name.into(),
        provider,
        base_url: base_url.into(),
        credential: Credential::File(credential_file(dir, &format!("{name}.key"), key)),
        region: None,
    })
    .collect()
}

pub const RUN_ID: &str = "run-0001";

/// A gateway for one test, in front of a fresh fake, recording into a fresh ledger.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    pub fake: Fake,
    pub gateway: Gateway,
    pub client: reqwest::Client,
}

/// What a test inspects after the gateway shut down.
pub struct Done {
    pub summary: GatewaySummary,
    pub entries: Vec<Entry>,
    /// Every entry's stored bytes.
    pub entry_bytes: Vec<Vec<u8>>,
    /// Every blob file's bytes.
    pub blob_files: Vec<Vec<u8>>,
    pub seen: Vec<Seen>,
    pub ledger: Arc<Ledger>,
    _dir: tempfile::TempDir,
}

pub fn config(dir: &Path, base_url: &str) -> GatewayConfig {
    let mut config = GatewayConfig::new(
        upstreams(dir, base_url),
        vec![
            "claude-*".into(),
            "gpt-5.4*".into(),
            "status-*".into(),
            "hang-*".into(),
        ],
    );
    config.redaction = RedactionMode::Redact;
    config.request_timeout = Duration::from_secs(30);
    config
}

pub async fn open_ledger(dir: &Path) -> Arc<Ledger> {
    Arc::new(
        Ledger::open(&LedgerConfig::sqlite_in(dir.join("home")))
            .await
            .unwrap(),
    )
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut GatewayConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::start().await;
        let ledger = open_ledger(dir.path()).await;
        let mut config = config(dir.path(), &fake.url());
        tweak(&mut config);
        let gateway = Gateway::start(config, ledger.clone(), RUN_ID)
            .await
            .unwrap();
        Harness {
            dir,
            ledger,
            fake,
            gateway,
            client: reqwest::Client::new(),
        }
    }

    /// `POST /v1/messages?beta=true` as the Claude CLI sends it.
    pub fn messages(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!(
                "{}/v1/messages?beta=true",
                self.gateway.anthropic_base_url()
            ))
            .header("x-api-key", self.gateway.dummy_key())
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            )
            .header("x-app", "cli")
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    /// `POST /v1/responses` as Codex sends it to a custom provider.
    pub fn responses(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/responses", self.gateway.openai_base_url()))
            .bearer_auth(self.gateway.dummy_key())
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    pub fn chat(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!(
                "{}/chat/completions",
                self.gateway.openai_base_url()
            ))
            .bearer_auth(self.gateway.dummy_key())
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    /// Shuts the gateway and the fake down and reads everything recorded.
    pub async fn finish(self) -> Done {
        let summary = self.gateway.shutdown().await;
        let seen = self.fake.seen();
        self.fake.stop().await;
        Done::read(summary, self.ledger, self.dir, seen).await
    }
}

fn collect_files(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(std::fs::read(&path).unwrap());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Done {
    /// Everything `ledger` holds, after its gateway shut down and its fake upstream
    /// (which saw `seen`) stopped.
    pub async fn read(
        summary: GatewaySummary,
        ledger: Arc<Ledger>,
        dir: tempfile::TempDir,
        seen: Vec<Seen>,
    ) -> Done {
        let stored = ledger.list(&EntryFilter::default()).await.unwrap();
        let entries = stored.iter().map(|s| s.decode().unwrap()).collect();
        let entry_bytes = stored.into_iter().map(|s| s.bytes).collect();
        let mut blob_files = Vec::new();
        collect_files(ledger.blobs().root(), &mut blob_files);
        Done {
            summary,
            entries,
            entry_bytes,
            blob_files,
            seen,
            ledger,
            _dir: dir,
        }
    }

    /// The payloads of every entry of `kind`, in ledger order.
    pub fn payloads(&self, kind: &str) -> Vec<&Value> {
        self.entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| &e.payload)
            .collect()
    }

    /// The `model.exchange` payloads in request order (`seq`): concurrent recording
    /// may append them to the ledger in another order.
    pub fn exchanges(&self) -> Vec<&Value> {
        let mut exchanges = self.payloads("model.exchange");
        exchanges.sort_by_key(|p| p["seq"].as_u64());
        exchanges
    }

    pub fn blob(&self, digest: &Value) -> Vec<u8> {
        let hex = digest.as_str().unwrap().strip_prefix("sha256:").unwrap();
        self.ledger
            .blobs()
            .get(&Digest256(Hash::from_hex(hex).unwrap()))
            .unwrap()
    }

    /// Asserts that no entry and no blob holds `needle`.
    pub fn assert_stored_nowhere(&self, needle: &str) {
        for bytes in &self.entry_bytes {
            assert!(
                !contains(bytes, needle.as_bytes()),
                "an entry holds {needle:?}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(!self.blob_files.is_empty());
        for bytes in &self.blob_files {
            assert!(
                !contains(bytes, needle.as_bytes()),
                "a blob holds {needle:?}"
            );
        }
    }

    /// Asserts that the fake never saw `needle` in a header or body.
    pub fn assert_upstream_never_saw(&self, needle: &str) {
        for seen in &self.seen {
            assert!(
                !contains(&seen.body, needle.as_bytes()),
                "{needle:?} reached the upstream"
            );
            for value in seen.headers.values() {
                assert!(
                    !contains(value.as_bytes(), needle.as_bytes()),
                    "{needle:?} reached the upstream in a header"
                );
            }
        }
    }
}

/// A minimal streaming Anthropic Messages request for `model`.
pub fn turn(model: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "max_tokens": 100,
        "stream": true,
        "messages": [{"role": "user", "content": "Hi"}]
    })
}
