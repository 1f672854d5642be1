//! Per-run limits: once usage reaches one, the gateway records a budget decision,
//! reports the stop, and refuses every further request in the protocol's shape.

use docket_gateway::GatewayLimits;
use serde_json::{Value, json};

use crate::support::Harness;

fn turn() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": true,
        "messages": [{"role": "user", "content": "Hi"}]
    })
}

#[tokio::test]
async fn each_limit_stops_the_run_once_reached() {
    // (limits, requests that pass, the limit named, the stop reason's start)
    let cases = [
        (
            GatewayLimits {
                max_requests: Some(2),
                ..GatewayLimits::default()
            },
            2,
            "max_requests",
            "model request limit reached: 2 of 2 requests",
        ),
        (
            // One streamed turn is 487 tokens.
            GatewayLimits {
                max_tokens: Some(500),
                ..GatewayLimits::default()
            },
            2,
            "max_tokens",
            "model token limit reached: 974 of 500 tokens",
        ),
        (
            // One streamed turn costs $0.001641.
            GatewayLimits {
                max_cost_usd: Some(0.001),
                ..GatewayLimits::default()
            },
            1,
            "max_cost_usd",
            "model cost limit reached: $0.0016 of $0.0010",
        ),
    ];
    for (limits, passing, limit, reason) in cases {
        let h = Harness::start_with(|c| c.limits = limits).await;
        let mut stopped = h.gateway.stopped();
        assert_eq!(*stopped.borrow(), None);
        for _ in 0..passing {
            let response = h.messages(&turn()).send().await.unwrap();
            assert_eq!(response.status(), 200, "{limit}");
            response.bytes().await.unwrap();
        }
        let stop = stopped.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(stop.as_deref(), Some(reason), "{limit}");

        let response = h.messages(&turn()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{limit}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
        let response = h
            .responses(&json!({"model": "gpt-5.4", "input": "hi", "stream": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{limit}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "insufficient_quota");

        let done = h.finish().await;
        assert_eq!(done.seen.len(), passing, "{limit}");
        assert_eq!(done.summary.stop.as_deref(), Some(reason));
        assert_eq!(done.summary.requests, passing as u64);
        let budgets = done.payloads("model.budget");
        assert_eq!(budgets.len(), 1, "{limit}: one budget decision");
        assert_eq!(budgets[0]["limit"], limit);
        assert_eq!(budgets[0]["decision"], "stop");
        assert_eq!(budgets[0]["reason"], reason);
        assert_eq!(budgets[0]["usage"]["requests"], passing);
        let denials = done.payloads("model.denial");
        assert_eq!(denials.len(), 2);
        assert!(denials.iter().all(|d| d["reason"] == "insufficient_quota"));
        // The budget entry follows the exchange that reached the limit.
        let index_of = |kind: &str, seq: usize| {
            done.entries
                .iter()
                .find(|e| e.kind == kind && e.payload["seq"] == seq)
                .unwrap()
                .index
        };
        assert!(index_of("model.budget", passing - 1) > index_of("model.exchange", passing - 1));
        assert_eq!(done.summary.decision_entries.len(), 3);
    }
}

#[tokio::test]
async fn no_limits_means_no_stop() {
    let h = Harness::start().await;
    for _ in 0..3 {
        let response = h.messages(&turn()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    assert_eq!(*h.gateway.stopped().borrow(), None);
    let done = h.finish().await;
    assert_eq!(done.summary.stop, None);
    assert!(done.payloads("model.budget").is_empty());
}
