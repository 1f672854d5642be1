//! Codex against a scripted OpenAI Responses server: an edit through the gateway
//! with a per-run provider, and the same on Azure OpenAI.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::governed::*;

use super::{
    JSON, REAL_KEY, SSE, Seen, assert_replay_reproduces, codex, model_evidence, run_hello, serve,
};

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
pub(super) fn fake_responses(rate_limited: bool) -> (SocketAddr, Arc<Mutex<Seen>>) {
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
pub(super) fn governed_with_codex(codex: &std::path::Path, base_url: &str) -> Governed {
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
