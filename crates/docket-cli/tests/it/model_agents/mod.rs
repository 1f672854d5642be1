//! Model agents end to end: the real Claude Code CLI (installed by `.ci/run` into
//! `.cache/agent-clis`) runs through docket's gateway against a scripted model on
//! 127.0.0.1 that speaks the Anthropic Messages streaming protocol. The scripted model
//! asks the CLI to write a file; the run must publish exactly that change, with every
//! exchange in the evidence and the real credential only ever on the upstream side.
//! This module holds what every agent's tests share: finding the CLIs, the scripted
//! server, running the ticket, and the evidence and replay assertions.

mod claude;
mod codex;
mod provider_failures;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::governed::*;
use crate::support::git;

pub(crate) const REAL_KEY: &str = "sk-ant-fake-real-key-0123456789";

/// The real `claude` binary, or `None` (announced) when `.ci/run` has not installed it.
fn claude() -> Option<PathBuf> {
    let path = std::env::var_os("DOCKET_TEST_AGENT_CLIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/agent-clis")
        })
        .join("node_modules/.bin/claude");
    if path.exists() {
        return Some(path);
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED a model-agent test: {} is missing; .ci/run installs it (npm install --prefix .cache/agent-clis @anthropic-ai/claude-code) ***\n",
        path.display()
    );
    None
}

/// What the scripted model saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) bodies: Vec<String>,
    pub(crate) keys: Vec<String>,
}

/// Response headers of a scripted answer.
pub(crate) type Headers = &'static [(&'static str, &'static str)];
const SSE: Headers = &[("content-type", "text/event-stream")];
pub(crate) const JSON: Headers = &[("content-type", "application/json")];

/// Serves `path` on 127.0.0.1:0 from its own thread: each POST is recorded in `seen`
/// (body, and the credential found in `key_header`, `Bearer ` removed) and answered
/// by `respond(body)` as `(status, headers, body)`.
pub(crate) fn serve(
    path: &'static str,
    key_header: &'static str,
    seen: Arc<Mutex<Seen>>,
    respond: impl Fn(&str) -> (StatusCode, Headers, String) + Clone + Send + Sync + 'static,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let handler = move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                let respond = respond.clone();
                async move {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let key = headers
                        .get(key_header)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .trim_start_matches("Bearer ")
                        .to_owned();
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.bodies.push(text.clone());
                        seen.keys.push(key);
                    }
                    let (status, headers, body) = respond(&text);
                    let mut response = Response::builder().status(status);
                    for (name, value) in headers {
                        response = response.header(*name, *value);
                    }
                    response
                        .body(axum::body::Body::from(body))
                        .unwrap()
                        .into_response()
                }
            };
            let app = Router::new()
                .route(path, post(handler))
                .fallback(|| async { StatusCode::OK });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

impl Governed {
    /// Adds a `[[gateway.upstreams]]` named after its `provider` at `base_url`
    /// (credential from the `key_var` variable) and commits it.
    pub(crate) fn with_upstream(self, provider: &str, base_url: &str, key_var: &str) -> Governed {
        let path = self.repo.join("docket.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(&format!(
            "\n[[gateway.upstreams]]\nname = \"{provider}\"\nprovider = \"{provider}\"\nbase_url = \"{base_url}\"\ncredential_env = \"{key_var}\"\n"
        ));
        std::fs::write(&path, config).unwrap();
        git(&self.repo, &["commit", "-q", "-am", "model upstream"]);
        self
    }
}

/// `docket replay RUN` with the provider's key absent: the recorded responses alone
/// (each of the `upstream_requests` the provider saw, served once) must reproduce the
/// run's diff.
pub(crate) fn assert_replay_reproduces(
    g: &Governed,
    run_id: &str,
    diff: &str,
    upstream_requests: usize,
    seen: &Arc<Mutex<Seen>>,
) {
    let replay = g.env.ok(&["replay", run_id, "--format", "json"]);
    let report = replay.json();
    assert_eq!(report["outcome"], "reproduced", "{replay}");
    assert_eq!(report["replay_diff"], diff);
    assert_eq!(report["served"], upstream_requests, "{replay}");
    // Nothing reached the provider during the replay.
    assert_eq!(seen.lock().unwrap().bodies.len(), upstream_requests);
    let entry = g.entry(report["ledger_index"].as_u64().unwrap());
    assert_eq!(entry["kind"], "run.replay");
    assert_eq!(entry["payload"]["outcome"], "reproduced");
    g.verify_ledger();
}

/// Neither the real key nor the ticket's secret appears anywhere in docket's state.
fn assert_no_secret_in_docket_home(g: &Governed) {
    let leaked = std::process::Command::new("grep")
        .args(["-r", "-l", "-e", REAL_KEY, "-e", &aws_key()])
        .arg(&g.env.home)
        .output()
        .unwrap();
    assert!(
        leaked.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&leaked.stdout)
    );
}

/// The real `codex` binary, or `None` (announced).
fn codex() -> Option<PathBuf> {
    let path = claude()?.with_file_name("codex");
    if path.exists() {
        return Some(path);
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED a model-agent test: {} is missing; .ci/run installs it ***\n",
        path.display()
    );
    None
}

/// `docket run hello --format json` with the provider's real key in `key_var` of
/// docket's own environment: the record, the exit code, and stderr.
pub(crate) fn run_hello(g: &Governed, key_var: &str) -> (Value, i32, String) {
    let output = g
        .env
        .command()
        .args(g.run_args("hello", &["--format", "json"]))
        .env(key_var, REAL_KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let record = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));
    (record, output.status.code().unwrap(), stderr)
}

/// The run's `model.exchange` ledger entries in order, and the `model` part of its
/// last `run.agent` entry: the CLI, its final result and the gateway's totals.
fn model_evidence(g: &Governed, record: &Value) -> (Vec<Value>, Value) {
    let shown = g.show(record["run_id"].as_str().unwrap());
    let of_kind = |kind: &str| -> Vec<Value> {
        shown["stage_entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| g.entry(e["index"].as_u64().unwrap()))
            .collect()
    };
    let agent = of_kind("run.agent").pop().expect("a run.agent entry");
    (of_kind("model.exchange"), agent["payload"]["model"].clone())
}
