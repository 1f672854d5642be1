//! Upstream failures: relayed when the provider answers, a protocol-correct 502/504
//! when it does not, and recorded either way.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Harness, turn};
use crate::wire;

#[tokio::test]
async fn rate_limits_and_server_errors_are_relayed_as_they_come() {
    let h = Harness::start().await;
    for (model, status, body) in [
        ("status-429", 429, wire::ANTHROPIC_RATE_LIMIT),
        ("status-500", 500, wire::ANTHROPIC_API_ERROR),
    ] {
        let response = h.messages(&turn(model)).send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.bytes().await.unwrap(), body.as_bytes());
    }
    let done = h.finish().await;
    assert_eq!(done.seen.len(), 2);
    let exchanges = done.exchanges();
    let statuses: Vec<(u64, &str)> = exchanges
        .iter()
        .map(|p| {
            (
                p["status"].as_u64().unwrap(),
                p["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, vec![(429, "complete"), (500, "complete")]);
    assert_eq!(
        done.blob(&exchanges[0]["response"]["digest"]),
        wire::ANTHROPIC_RATE_LIMIT.as_bytes()
    );
    assert!(exchanges[0]["usage"].is_null());
    assert_eq!(done.summary.requests, 2);
}

#[tokio::test]
async fn an_unreachable_upstream_gives_a_502_quickly_and_a_recorded_reason() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let h = Harness::start_with(|c| {
        for upstream in &mut c.upstreams {
            upstream.base_url = dead.clone();
        }
    })
    .await;
    let started = Instant::now();
    let response = h.messages(&turn("claude-sonnet-4-5")).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "api_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("docket gateway: upstream anthropic is unreachable"),
        "{message}"
    );
    let response = h
        .responses(&json!({"model": "gpt-5.4", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "upstream_unreachable");
    assert_eq!(error["error"]["type"], "server_error");

    let done = h.finish().await;
    let exchanges = done.exchanges();
    assert_eq!(exchanges.len(), 2);
    assert_eq!(exchanges[0]["outcome"], "unreachable");
    assert_eq!(exchanges[0]["status"], 502);
    assert!(exchanges[0]["response"].is_null());
    let reason = exchanges[0]["error"].as_str().unwrap();
    assert!(reason.to_lowercase().contains("connect"), "{reason}");
    // The request was still stored as it would have been sent.
    let sent: Value =
        serde_json::from_slice(&done.blob(&exchanges[0]["request"]["digest"])).unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn the_request_timeout_bounds_each_upstream_call() {
    let h = Harness::start_with(|c| c.request_timeout = Duration::from_secs(1)).await;
    // No response headers at all: a 504 in the protocol's shape.
    let started = Instant::now();
    let response = h.messages(&turn("hang-headers")).send().await.unwrap();
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "api_error");
    // A stream that stops mid-way: the agent sees it break, not end cleanly.
    let response = h.messages(&turn("hang-body")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
    let done = h.finish().await;
    let exchanges = done.exchanges();
    let outcomes: Vec<(&str, u64)> = exchanges
        .iter()
        .map(|p| {
            (
                p["outcome"].as_str().unwrap(),
                p["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, vec![("timeout", 504), ("timeout", 200)]);
    // What did arrive is on the record, and metered.
    let first_event = wire::events(wire::ANTHROPIC_SSE)[0];
    assert_eq!(
        done.blob(&exchanges[1]["response"]["digest"]),
        first_event.as_bytes()
    );
    assert_eq!(exchanges[1]["usage"]["input_tokens"], 472);
}

#[tokio::test]
async fn an_agent_that_goes_away_mid_stream_is_recorded() {
    let h = Harness::start().await;
    let mut response = h.messages(&turn("hang-body")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(first, wire::events(wire::ANTHROPIC_SSE)[0].as_bytes());
    drop(response);
    let done = h.finish().await;
    let exchanges = done.exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0]["outcome"], "client_disconnected");
    assert_eq!(done.blob(&exchanges[0]["response"]["digest"]), first);
}
