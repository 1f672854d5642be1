//! Claude Code against a scripted Anthropic Messages server: an edit through the
//! gateway with every exchange as evidence, a model outside the allowlist refused at
//! the wire, and a CLI that changes nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::governed::*;

use super::{
    JSON, REAL_KEY, SSE, Seen, assert_no_secret_in_docket_home, assert_replay_reproduces, claude,
    run_hello, serve,
};

const MODEL: &str = "claude-sonnet-4-5";

/// A scripted Anthropic Messages server: the first turn asks for a `Write` of
/// `notes/hello.txt` in the working directory the CLI reports, the next turn (after
/// the tool result) ends the conversation.
pub(super) struct FakeAnthropic {
    addr: SocketAddr,
    pub(super) seen: Arc<Mutex<Seen>>,
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
pub(super) fn governed_with_claude(claude: &std::path::Path, base_url: &str) -> Governed {
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

/// Runs the `hello` ticket with Claude Code against `fake` in `mode`; returns the record.
pub(super) fn run_claude_in(mode: &'static str) -> Option<(Governed, FakeAnthropic, Value, i32)> {
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
