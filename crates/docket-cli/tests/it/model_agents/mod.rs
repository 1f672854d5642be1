//! Model agents end to end: the real Claude Code CLI (installed by `.ci/run` into
//! `.cache/agent-clis`) runs through docket's gateway against a scripted model on
//! 127.0.0.1 that speaks the Anthropic Messages streaming protocol. The scripted model
//! asks the CLI to write a file; the run must publish exactly that change, with every
//! exchange in the evidence and the real credential only ever on the upstream side.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::governed::*;
use crate::support::git;

const MODEL: &str = "claude-sonnet-4-5";
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

/// A scripted Anthropic Messages server: the first turn asks for a `Write` of
/// `notes/hello.txt` in the working directory the CLI reports, the next turn (after
/// the tool result) ends the conversation.
struct FakeAnthropic {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    /// `DOCKET_HOME/worktrees/` of the run, set before it starts.
    worktrees: Arc<Mutex<String>>,
    /// `script` (read, write, finish), `idle` (finish at once), `fail` (HTTP 500), or
    /// `rate_limited` (HTTP 429 with `retry-after: 0`).
    mode: Arc<Mutex<&'static str>>,
}

fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

/// The run's checkout, as the CLI reports it in its system prompt: the path under
/// `worktrees` (DOCKET_HOME/worktrees/<id>).
fn checkout_in(text: &str, worktrees: &str) -> String {
    text.split(worktrees)
        .nth(1)
        .map(|rest| {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            format!("{worktrees}{id}")
        })
        .unwrap_or_else(|| "/nonexistent".into())
}

/// One scripted turn, by how many tool results the conversation holds: first read
/// the ticket file the prompt names, then write notes/hello.txt, then finish.
fn turn(body: &Value, worktrees: &str) -> String {
    let text = body.to_string();
    let results = text.matches("\"tool_result\"").count();
    let start = json!({"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 1200, "output_tokens": 1}}});
    let tool = |name: &str, input: Value| {
        sse(&[
            start.clone(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": format!("toolu_fake_{results}"), "name": name, "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 40}}),
            json!({"type": "message_stop"}),
        ])
    };
    match results {
        0 => {
            let ticket = text
                .split("The ticket is the file ")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .unwrap_or("/nonexistent")
                .to_owned();
            tool("Read", json!({"file_path": ticket}))
        }
        1 => {
            let cwd = checkout_in(&text, worktrees);
            tool(
                "Write",
                json!({"file_path": format!("{cwd}/notes/hello.txt"), "content": "hello from claude\n"}),
            )
        }
        _ => sse(&[
            start,
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
            json!({"type": "message_stop"}),
        ]),
    }
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

impl FakeAnthropic {
    fn start() -> FakeAnthropic {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let worktrees = Arc::new(Mutex::new(String::new()));
        let mode = Arc::new(Mutex::new("script"));
        let (dirs, modes) = (worktrees.clone(), mode.clone());
        let addr = serve("/v1/messages", "x-api-key", seen.clone(), move |text| {
            let mut body: Value = serde_json::from_str(text).unwrap_or_default();
            match *modes.lock().unwrap() {
                "fail" => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        JSON,
                        r#"{"type":"error","error":{"type":"api_error","message":"scripted failure"}}"#.into(),
                    );
                }
                // Anthropic's rate-limit answer (platform.claude.com/docs/en/api/errors):
                // `retry-after` is the seconds to wait; 0 keeps the retries quick.
                "rate_limited" => {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        &[("content-type", "application/json"), ("retry-after", "0")],
                        r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your organization's rate limit. Please try again later."},"request_id":"req_fake_rate_limited"}"#.into(),
                    );
                }
                // As if the conversation were over: no tool calls.
                "idle" => {
                    body["messages"] = json!([{"role": "user", "content": [{"type": "tool_result"}, {"type": "tool_result"}]}]);
                }
                _ => {}
            }
            let worktrees = dirs.lock().unwrap().clone();
            (StatusCode::OK, SSE, turn(&body, &worktrees))
        });
        FakeAnthropic {
            addr,
            seen,
            worktrees,
            mode,
        }
    }
}

/// A repository whose agent is Claude Code, with its Anthropic upstream at `base_url`.
fn governed_with_claude(claude: &std::path::Path, base_url: &str) -> Governed {
    let command = format!("[{:?}]", claude.display().to_string());
    Governed::new(
        &[
            ("agent", "kind", "\"claude-code\""),
            ("agent", "command", command.as_str()),
            ("agent", "model", &format!("\"{MODEL}\"")),
            ("agent", "timeout", "\"120s\""),
            ("checks", "reproducibility", "\"required\""),
        ],
        &[(
            "hello",
            &format!(
                "Please add a greeting file notes/hello.txt that says hello from claude.\nThe old deploy key was {} (do not use it).\n",
                aws_key()
            ),
        )],
    )
    .with_upstream("anthropic", base_url, "FAKE_ANTHROPIC_KEY")
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

#[test]
fn claude_code_edits_through_the_gateway_and_every_exchange_is_evidence() {
    let Some(claude) = claude() else { return };
    let fake = FakeAnthropic::start();
    let g = governed_with_claude(&claude, &format!("http://{}", fake.addr));
    *fake.worktrees.lock().unwrap() = format!("{}/worktrees/", g.env.home.display());
    let (record, code, stderr) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    if record["outcome"]["status"] != "published" {
        let digest = record["attempts"][0]["stdout_digest"].as_str().unwrap();
        let agent_out = String::from_utf8_lossy(&g.blob(digest)).into_owned();
        let bodies = fake.seen.lock().unwrap().bodies.join("\n----\n");
        panic!(
            "{record:#}\nagent stdout:\n{agent_out}\nrequests:\n{}",
            &bodies[..bodies.len().min(3000)]
        );
    }
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["agent"]["kind"], "claude-code");
    assert_eq!(record["agent"]["model"], MODEL);
    assert_eq!(
        g.published_file(&record, "notes/hello.txt"),
        "hello from claude"
    );

    // The upstream saw the real key on every request, and the agent never had it.
    let seen = fake.seen.lock().unwrap();
    assert!(seen.bodies.len() >= 3, "{} requests", seen.bodies.len());
    // The model read the ticket, but the secret in it never left the machine.
    assert!(seen.bodies.iter().any(|b| b.contains("hello from claude")));
    assert!(
        seen.bodies.iter().all(|b| !b.contains(&aws_key())),
        "the ticket's secret reached the provider"
    );
    assert!(seen.bodies.iter().any(|b| b.contains("REDACTED")));
    assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);

    // Every exchange is a ledger entry with tokens and cost, linked from the record.
    let shown = g.show(record["run_id"].as_str().unwrap());
    let exchanges: Vec<&Value> = shown["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model.exchange")
        .collect();
    // Each request the provider saw, and once more each replayed by the check.
    assert_eq!(exchanges.len(), 2 * seen.bodies.len(), "{shown:#}");
    let entries: Vec<Value> = exchanges
        .iter()
        .map(|e| g.entry(e["index"].as_u64().unwrap()))
        .collect();
    let replayed = entries
        .iter()
        .filter(|e| e["payload"]["outcome"] == "replayed")
        .count();
    assert_eq!(replayed, seen.bodies.len(), "{shown:#}");
    for entry in entries
        .iter()
        .filter(|e| e["payload"]["outcome"] != "replayed")
    {
        assert_eq!(entry["payload"]["model"], MODEL, "{entry:#}");
        assert!(
            entry["payload"]["usage"]["input_tokens"].as_u64().unwrap() >= 1200,
            "{entry:#}"
        );
        assert!(
            entry["payload"]["cost_usd"].as_f64().unwrap() > 0.0,
            "{entry:#}"
        );
    }
    // The text view lists each exchange with its tokens and cost, and the totals.
    let text = g
        .env
        .ok(&["runs", "show", record["run_id"].as_str().unwrap()])
        .stdout;
    let listed = text
        .lines()
        .filter(|l| l.contains("model.exchange") && !l.contains("replayed from"))
        .count();
    assert_eq!(listed, seen.bodies.len(), "{text}");
    assert!(
        text.contains(&format!("model.exchange  {MODEL} 200 1200 in / ")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\nmodel      {listed} exchanges, {} in / ",
            1200 * listed
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "({replayed} more replayed by the reproducibility check)"
        )),
        "{text}"
    );
    g.verify_ledger();
    let requests = seen.bodies.len();
    drop(seen);
    // The reproducibility check replayed the recorded exchanges with the real CLI in
    // the run's own checkout path: it passed without asking the provider again.
    let check = &record["checks"][0];
    assert_eq!(check["check"], "reproducibility", "{record:#}");
    assert_eq!(check["outcome"], "pass", "{record:#}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("replaying {requests} recorded exchange(s)")),
        "{check}"
    );
    assert_replay_reproduces(
        &g,
        record["run_id"].as_str().unwrap(),
        record["diff"]["digest"].as_str().unwrap(),
        requests,
        &fake.seen,
    );
    assert_no_secret_in_docket_home(&g);
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

fn responses_sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

/// One scripted OpenAI Responses turn: first a `exec_command` call that applies a
/// patch adding notes/hello.txt, then (after its output) a final message.
fn responses_turn(body: &Value) -> String {
    let finished = body["input"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["type"] == "function_call_output"));
    let model = body["model"].clone();
    let created = json!({"type": "response.created", "response": {"id": "resp_fake", "object": "response", "status": "in_progress", "model": model, "output": []}});
    let item = if finished {
        json!({"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "Done.", "annotations": []}]})
    } else {
        let cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: notes/hello.txt\n+hello from codex\n*** End Patch\nEOF\n";
        json!({"type": "function_call", "id": "fc_fake", "call_id": "call_fake_1", "name": "exec_command",
               "arguments": json!({"cmd": cmd}).to_string(), "status": "completed"})
    };
    responses_sse(&[
        created,
        json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": {"id": "resp_fake", "object": "response", "status": "completed", "model": model, "output": [item],
               "usage": {"input_tokens": 900, "output_tokens": 30, "total_tokens": 930}}}),
    ])
}

/// A scripted OpenAI Responses server (`POST /v1/responses`, SSE); with
/// `rate_limited` it answers every request 429 instead.
fn fake_responses(rate_limited: bool) -> (SocketAddr, Arc<Mutex<Seen>>) {
    fake_responses_on("/v1/responses", "authorization", rate_limited)
}

/// The same at `path`, reading the credential from `key_header`.
fn fake_responses_on(
    path: &'static str,
    key_header: &'static str,
    rate_limited: bool,
) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = serve(path, key_header, seen.clone(), move |text| {
        if rate_limited {
            // OpenAI's rate-limit answer (its error-codes guide: 429 "Rate limit
            // reached for requests", code `rate_limit_exceeded`), with no wait asked.
            return (
                StatusCode::TOO_MANY_REQUESTS,
                JSON,
                r#"{"error":{"message":"Rate limit reached for fake-codex-model in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.into(),
            );
        }
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        (StatusCode::OK, SSE, responses_turn(&body))
    });
    (addr, seen)
}

/// A repository whose agent is Codex, with its OpenAI upstream at `base_url`.
fn governed_with_codex(codex: &std::path::Path, base_url: &str) -> Governed {
    let command = format!("[{:?}]", codex.display().to_string());
    Governed::new(
        &[
            ("agent", "kind", "\"codex\""),
            ("agent", "command", command.as_str()),
            ("agent", "model", "\"fake-codex-model\""),
            ("agent", "timeout", "\"120s\""),
        ],
        &[(
            "hello",
            "Please add notes/hello.txt saying hello from codex.\n",
        )],
    )
    .with_upstream("openai", base_url, "FAKE_OPENAI_KEY")
}

#[test]
fn codex_edits_through_the_gateway_with_a_per_run_provider() {
    let Some(codex) = codex() else { return };
    let (addr, seen) = fake_responses(false);
    let g = governed_with_codex(&codex, &format!("http://{addr}/v1"));
    let (record, code, stderr) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(record["agent"]["kind"], "codex");
    assert_eq!(
        g.published_file(&record, "notes/hello.txt"),
        "hello from codex"
    );
    let requests = {
        let seen = seen.lock().unwrap();
        assert!(seen.bodies.len() >= 2, "{} requests", seen.bodies.len());
        assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);
        seen.bodies.len()
    };
    assert_replay_reproduces(
        &g,
        record["run_id"].as_str().unwrap(),
        record["diff"]["digest"].as_str().unwrap(),
        requests,
        &seen,
    );
}

#[test]
fn codex_on_azure_openai_goes_through_the_v1_responses_path_with_an_api_key() {
    let Some(codex) = codex() else { return };
    let (addr, seen) = fake_responses_on("/openai/v1/responses", "api-key", false);
    let command = format!("[{:?}]", codex.display().to_string());
    let g = Governed::new(
        &[
            ("agent", "kind", "\"codex\""),
            ("agent", "command", command.as_str()),
            ("agent", "model", "\"fake-codex-model\""),
            ("agent", "provider", "\"azure-openai\""),
            ("agent", "timeout", "\"120s\""),
        ],
        &[(
            "hello",
            "Please add notes/hello.txt saying hello from codex.\n",
        )],
    )
    .with_upstream("azure-openai", &format!("http://{addr}"), "FAKE_AZURE_KEY");
    let (record, code, stderr) = run_hello(&g, "FAKE_AZURE_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(
        g.published_file(&record, "notes/hello.txt"),
        "hello from codex"
    );
    // Azure's key went in `api-key`, and every exchange is recorded as Azure's API.
    let seen = seen.lock().unwrap();
    assert!(seen.bodies.len() >= 2, "{} requests", seen.bodies.len());
    assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);
    let (exchanges, _) = model_evidence(&g, &record);
    assert_eq!(exchanges.len(), seen.bodies.len());
    for entry in &exchanges {
        assert_eq!(entry["payload"]["api"], "azure.responses", "{entry:#}");
        assert_eq!(entry["payload"]["upstream"], "azure-openai", "{entry:#}");
        assert_eq!(entry["payload"]["request"]["path"], "/openai/v1/responses");
    }
}

#[test]
fn a_model_outside_the_allowlist_is_refused_at_the_wire_and_recorded() {
    let Some(claude) = claude() else { return };
    let fake = FakeAnthropic::start();
    let command = format!("[{:?}]", claude.display().to_string());
    let g = Governed::new(
        &[
            ("agent", "kind", "\"claude-code\""),
            ("agent", "command", command.as_str()),
            ("agent", "model", "\"claude-opus-4-1\""),
            ("agent", "timeout", "\"120s\""),
            ("gateway", "allowed_models", "[\"claude-sonnet-*\"]"),
        ],
        &[("hello", "Please add notes/hello.txt.\n")],
    )
    .with_upstream(
        "anthropic",
        &format!("http://{}", fake.addr),
        "FAKE_ANTHROPIC_KEY",
    );
    *fake.worktrees.lock().unwrap() = format!("{}/worktrees/", g.env.home.display());
    let (record, code, _) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    assert_eq!(code, 1, "{record:#}");
    assert_ne!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(
        fake.seen.lock().unwrap().bodies.len(),
        0,
        "nothing reached the provider"
    );
    let denials: Vec<Value> = g.show(record["run_id"].as_str().unwrap())["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model.denial")
        .cloned()
        .collect();
    assert!(!denials.is_empty(), "{record:#}");
    let denial = g.entry(denials[0]["index"].as_u64().unwrap());
    // The CLI may map the configured name to another id; the wire is what is judged.
    assert_eq!(
        denial["payload"]["reason"], "model_not_allowed",
        "{denial:#}"
    );
    let asked = denial["payload"]["model"].as_str().unwrap();
    assert!(asked.starts_with("claude-opus-"), "{denial:#}");
    assert!(
        denial["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("is not allowed for this run"),
        "{denial:#}"
    );
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

/// Runs the `hello` ticket with Claude Code against `fake` in `mode`; returns the record.
fn run_claude_in(mode: &'static str) -> Option<(Governed, FakeAnthropic, Value, i32)> {
    let claude = claude()?;
    let fake = FakeAnthropic::start();
    *fake.mode.lock().unwrap() = mode;
    let g = governed_with_claude(&claude, &format!("http://{}", fake.addr));
    *fake.worktrees.lock().unwrap() = format!("{}/worktrees/", g.env.home.display());
    let (record, code, _) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    Some((g, fake, record, code))
}

#[test]
fn a_cli_that_changes_nothing_is_no_change_not_success() {
    let Some((_g, fake, record, code)) = run_claude_in("idle") else {
        return;
    };
    assert_eq!(code, 1, "{record:#}");
    assert_eq!(record["outcome"]["status"], "failed");
    assert_eq!(
        record["outcome"]["reasons"][0],
        "no change: the agent exited successfully but changed nothing",
        "{record:#}"
    );
    // The CLI itself reported success: the run is judged by its diff.
    assert_eq!(record["attempts"][0]["exit_code"], 0, "{record:#}");
    assert!(!fake.seen.lock().unwrap().bodies.is_empty());
}

#[test]
fn a_failing_provider_ends_the_run_with_the_reason_on_record() {
    let Some((g, fake, record, code)) = run_claude_in("fail") else {
        return;
    };
    assert_eq!(code, 1, "{record:#}");
    assert_ne!(record["outcome"]["status"], "published");
    let reasons = record["outcome"]["reasons"].to_string();
    assert!(
        reasons.contains("the model provider answered 500 to 3 of 3 request(s)"),
        "{record:#}"
    );
    // Bounded retries: the CLI gave up after a few attempts, each one recorded.
    let attempts = fake.seen.lock().unwrap().bodies.len();
    assert_eq!(attempts, 3, "one try and CLAUDE_CODE_MAX_RETRIES=2 retries");
    let (recorded, _) = model_evidence(&g, &record);
    assert_eq!(recorded.len(), attempts, "{record:#}");
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

/// A run its provider could not serve: the CLI gave up by itself (docket's timeout
/// did not have to stop it), the run exited 1 unpublished with a reason that reads
/// `reason` with `{n}` standing for N, and each of the N requests is a
/// `model.exchange` entry with `status` and `outcome`. Returns those entries and
/// the run's model evidence (see [`model_evidence`]).
fn ended_by_the_provider(
    g: &Governed,
    record: &Value,
    code: i32,
    reason: &str,
    status: u16,
    outcome: &str,
) -> (Vec<Value>, Value) {
    assert_eq!(code, 1, "{record:#}");
    assert_ne!(record["outcome"]["status"], "published", "{record:#}");
    for attempt in record["attempts"].as_array().unwrap() {
        assert_eq!(attempt["timed_out"], false, "{record:#}");
    }
    let (exchanges, model) = model_evidence(g, record);
    let n = exchanges.len();
    assert!(n > 0, "{record:#}");
    let reason = reason.replace("{n}", &n.to_string());
    assert!(
        record["outcome"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&reason)),
        "no reason says {reason:?}: {record:#}"
    );
    for entry in &exchanges {
        assert_eq!(entry["payload"]["status"], status, "{entry:#}");
        assert_eq!(entry["payload"]["outcome"], outcome, "{entry:#}");
    }
    assert_eq!(model["gateway"]["requests"], n, "{model:#}");
    (exchanges, model)
}

/// A `base_url` on 127.0.0.1 where nothing listens: a port the system just handed
/// out, released again.
fn nobody_listening() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Each exchange with an `upstream` at `base_url` that nobody answers is on record with
/// no response and the connection error naming where it tried; the CLI was told
/// which upstream failed (docket's 502 message) and its recorded final result says so.
fn assert_unreachable_on_record(
    exchanges: &[Value],
    model: &Value,
    upstream: &str,
    base_url: &str,
) {
    for entry in exchanges {
        let payload = &entry["payload"];
        assert_eq!(payload["upstream"], upstream, "{entry:#}");
        assert!(payload["response"].is_null(), "{entry:#}");
        let error = payload["error"].as_str().unwrap();
        assert!(
            error.contains(base_url) && error.contains("Connection refused"),
            "{entry:#}"
        );
    }
    let told = format!("docket gateway: upstream {upstream} is unreachable");
    assert!(model["result"].to_string().contains(&told), "{model:#}");
}

const ANSWERED_429: &str = "the model provider answered 429 to {n} of {n} request(s)";

#[test]
fn claude_code_against_a_rate_limited_provider_ends_after_bounded_retries() {
    let Some((g, fake, record, code)) = run_claude_in("rate_limited") else {
        return;
    };
    let (exchanges, model) =
        ended_by_the_provider(&g, &record, code, ANSWERED_429, 429, "complete");
    let attempts = fake.seen.lock().unwrap().bodies.len();
    assert_eq!(attempts, 3, "one try and CLAUDE_CODE_MAX_RETRIES=2 retries");
    assert_eq!(exchanges.len(), attempts, "{record:#}");
    // The provider's answer is on record as it came, its retry-after included.
    for entry in &exchanges {
        let headers = entry["payload"]["response"]["headers"].as_array().unwrap();
        assert!(headers.contains(&json!(["retry-after", "0"])), "{entry:#}");
    }
    // The CLI's own final word, recorded in the run.agent entry, names the 429.
    assert!(model["result"].to_string().contains("429"), "{model:#}");
    assert_no_secret_in_docket_home(&g);
}

#[test]
fn claude_code_against_an_unreachable_upstream_ends_with_the_reason_on_record() {
    let Some(claude) = claude() else { return };
    let base_url = nobody_listening();
    let g = governed_with_claude(&claude, &base_url);
    let (record, code, _) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    let (exchanges, model) = ended_by_the_provider(
        &g,
        &record,
        code,
        "docket's gateway could not reach upstream anthropic for {n} of {n} request(s)",
        502,
        "unreachable",
    );
    // The gateway answers 502, which the CLI retries like any 5xx.
    assert_eq!(
        exchanges.len(),
        3,
        "one try and CLAUDE_CODE_MAX_RETRIES=2 retries"
    );
    assert_unreachable_on_record(&exchanges, &model, "anthropic", &base_url);
    assert_no_secret_in_docket_home(&g);
}

/// docket configures Codex with `request_max_retries = 2` and `stream_max_retries = 2`:
/// at most 3 requests for each of at most 3 stream attempts.
const CODEX_MAX_REQUESTS: usize = 9;

#[test]
fn codex_against_an_unreachable_upstream_ends_with_the_reason_on_record() {
    let Some(codex) = codex() else { return };
    let base_url = nobody_listening();
    let g = governed_with_codex(&codex, &format!("{base_url}/v1"));
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    let (exchanges, model) = ended_by_the_provider(
        &g,
        &record,
        code,
        "docket's gateway could not reach upstream openai for {n} of {n} request(s)",
        502,
        "unreachable",
    );
    assert!(exchanges.len() <= CODEX_MAX_REQUESTS, "{record:#}");
    assert_unreachable_on_record(&exchanges, &model, "openai", &base_url);
    assert_no_secret_in_docket_home(&g);
}

#[test]
fn codex_against_a_rate_limited_provider_ends_after_bounded_retries() {
    let Some(codex) = codex() else { return };
    let (addr, seen) = fake_responses(true);
    let g = governed_with_codex(&codex, &format!("http://{addr}/v1"));
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    let (exchanges, model) =
        ended_by_the_provider(&g, &record, code, ANSWERED_429, 429, "complete");
    // Codex 0.169 does not retry a 429 at all ("exceeded retry limit, last status:
    // 429"): one request. Whatever it does, docket's settings bound it.
    let attempts = seen.lock().unwrap().bodies.len();
    assert_eq!(exchanges.len(), attempts, "{record:#}");
    assert!(attempts <= CODEX_MAX_REQUESTS, "{record:#}");
    assert!(model["result"].to_string().contains("429"), "{model:#}");
    assert_no_secret_in_docket_home(&g);
}
