//! Anthropic Messages through the gateway, as the Claude CLI speaks it.

use serde_json::json;

use crate::support::{ANTHROPIC_KEY, Harness, RUN_ID};
use crate::wire;

/// A Claude Code turn: streamed, with a `role: "system"` message mid-conversation.
fn claude_turn() -> serde_json::Value {
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Fix the bug."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Looking."}]},
            {"role": "system", "content": "<system-reminder>The user changed a file.</system-reminder>"},
            {"role": "user", "content": [{"type": "text", "text": "Go on."}]}
        ],
        "metadata": {"user_id": "user_abc_session_123"},
        "tools": [{"name": "Edit", "description": "Edit a file", "input_schema": {"type": "object"}}]
    })
}

#[tokio::test]
async fn a_streamed_turn_is_relayed_and_recorded_byte_for_byte() {
    let h = Harness::start().await;
    let body = claude_turn();
    let sent = serde_json::to_vec(&body).unwrap();
    let dummy = h.gateway.dummy_key().to_owned();
    let response = h.messages(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(response.headers()["request-id"], "req_fake_1");
    let received = response.bytes().await.unwrap();
    assert_eq!(received, wire::ANTHROPIC_SSE.as_bytes());

    let done = h.finish().await;
    // The upstream got the request exactly as the agent sent it (the mid-conversation
    // system message included), with the real key and none of the agent's auth.
    assert_eq!(done.seen.len(), 1);
    let seen = &done.seen[0];
    assert_eq!(seen.path_and_query, "/v1/messages?beta=true");
    assert_eq!(seen.body, sent);
    assert_eq!(seen.headers["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        seen.headers["anthropic-beta"],
        "claude-code-20250219,interleaved-thinking-2025-05-14"
    );
    assert_eq!(seen.headers["x-app"], "cli");
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.headers.get("accept-encoding").is_none());
    done.assert_upstream_never_saw(&dummy);

    // One exchange entry, with tokens, cost, timings and both bodies.
    let summary = &done.summary;
    assert_eq!(
        (
            summary.requests,
            summary.input_tokens,
            summary.output_tokens,
            summary.denials
        ),
        (1, 472, 15, 0)
    );
    assert!((summary.cost_usd - wire::ANTHROPIC_SSE_COST).abs() < 1e-12);
    assert_eq!(summary.entries.len(), 1);
    assert_eq!(summary.exchanges[0].index, summary.entries[0].0);
    assert!(summary.exchanges[0].time_to_first_byte.is_some());
    let exchanges = done.payloads("model.exchange");
    assert_eq!(exchanges.len(), 1);
    let p = exchanges[0];
    assert_eq!(p["schema"], "docket.model-exchange/v1");
    assert_eq!(p["run_id"], RUN_ID);
    assert_eq!(p["seq"], 0);
    assert_eq!(p["api"], "anthropic.messages");
    assert_eq!(p["provider"], "anthropic");
    assert_eq!(p["upstream"], "anthropic");
    assert_eq!(p["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(p["stream"], true);
    assert_eq!(p["status"], 200);
    assert_eq!(p["outcome"], "complete");
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 472, "output_tokens": 15, "cache_write_tokens": 0, "cache_read_tokens": 0})
    );
    assert!((p["cost_usd"].as_f64().unwrap() - wire::ANTHROPIC_SSE_COST).abs() < 1e-12);
    assert_eq!(p["price"]["pattern"], "claude-sonnet-4*");
    assert_eq!(p["price"]["table"], "2026-11-22");
    assert!(p["latency_us"].as_u64().unwrap() >= p["ttfb_us"].as_u64().unwrap());
    assert_eq!(p["request"]["path"], "/v1/messages");
    assert_eq!(p["request"]["query"], "beta=true");
    assert_eq!(
        p["request"]["credential"],
        format!("x-api-key from file:{}", done_key_path(&done))
    );
    assert_eq!(p["request"]["redactions"], json!([]));
    assert_eq!(p["request"]["stored_redacted"], false);
    assert_eq!(p["response"]["stored_redacted"], false);
    assert_eq!(p["response"]["bytes"], wire::ANTHROPIC_SSE.len());
    assert_eq!(done.blob(&p["request"]["digest"]), sent);
    assert_eq!(
        done.blob(&p["response"]["digest"]),
        wire::ANTHROPIC_SSE.as_bytes()
    );
    assert_eq!(
        done.entries
            .iter()
            .find(|e| e.kind == "model.exchange")
            .unwrap()
            .blobs
            .len(),
        2
    );
    // Neither key is stored anywhere.
    done.assert_stored_nowhere(ANTHROPIC_KEY);
    done.assert_stored_nowhere(&dummy);
}

/// The credential source recorded for the anthropic upstream: a file in the
/// harness's directory.
fn done_key_path(done: &crate::support::Done) -> String {
    let p = done.payloads("model.exchange")[0];
    let credential = p["request"]["credential"].as_str().unwrap();
    let path = credential.strip_prefix("x-api-key from file:").unwrap();
    assert!(path.ends_with("/anthropic.key"), "{path}");
    path.to_owned()
}

#[tokio::test]
async fn a_non_streamed_message_is_metered_from_its_body() {
    let h = Harness::start().await;
    let body = json!({
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Hi"}]
    });
    let response = h.messages(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.bytes().await.unwrap(),
        wire::ANTHROPIC_JSON.as_bytes()
    );
    let done = h.finish().await;
    let p = done.payloads("model.exchange")[0];
    assert_eq!(p["stream"], false);
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 112, "output_tokens": 6, "cache_write_tokens": 100, "cache_read_tokens": 0})
    );
    // Haiku 4.5: $1 input, $1.25 cache writes, $5 output per million.
    let expected = (12.0 * 1.0 + 100.0 * 1.25 + 6.0 * 5.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(
        done.blob(&p["response"]["digest"]),
        wire::ANTHROPIC_JSON.as_bytes()
    );
}

#[tokio::test]
async fn head_on_the_base_url_answers_200_and_records_nothing() {
    let h = Harness::start().await;
    for url in [
        h.gateway.anthropic_base_url(),
        format!("{}/", h.gateway.anthropic_base_url()),
    ] {
        let response = h.client.head(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
    let done = h.finish().await;
    assert!(done.seen.is_empty());
    assert_eq!(done.payloads("model.exchange").len(), 0);
    assert_eq!(done.payloads("model.denial").len(), 0);
}

#[tokio::test]
async fn an_unknown_model_is_relayed_with_price_unknown() {
    let h = Harness::start().await;
    let mut body = claude_turn();
    body["model"] = json!("claude-future-9");
    let response = h.messages(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let done = h.finish().await;
    let p = done.payloads("model.exchange")[0];
    assert_eq!(p["price"], "unknown");
    assert!(p["cost_usd"].is_null());
    assert_eq!(done.summary.cost_usd, 0.0);
    assert_eq!(done.summary.input_tokens, 472);
    assert_eq!(done.summary.exchanges[0].cost_usd, None);
}
