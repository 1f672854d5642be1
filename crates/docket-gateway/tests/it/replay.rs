//! Replay: a recorded run's exchanges served again, in order, matched on the
//! normalized request; anything else is refused with where it differs.

use docket_gateway::{Gateway, recorded_exchanges};
use serde_json::{Value, json};

use crate::support::{Harness, RUN_ID};
use crate::wire;

fn turn(session: &str, text: &str) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": true,
        "metadata": {"user_id": session},
        "messages": [{"role": "user", "content": text}]
    })
}

#[tokio::test]
async fn a_recorded_run_replays_and_a_different_request_is_refused() {
    let h = Harness::start().await;
    for text in ["first", "second"] {
        let response = h.messages(&turn("session-1", text)).send().await.unwrap();
        response.bytes().await.unwrap();
    }
    let response = h
        .responses(
            &json!({"model": "gpt-5.4", "input": "hi", "stream": true, "prompt_cache_key": "a"}),
        )
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap();
    let recorded_run = h.finish().await;
    let ledger = recorded_run.ledger.clone();

    let recorded = recorded_exchanges(&ledger, RUN_ID).await.unwrap();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].api, "anthropic.messages");
    assert_eq!(
        recorded[0].content_type.as_deref(),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(
        recorded_exchanges(&ledger, "another-run")
            .await
            .unwrap()
            .is_empty()
    );

    let replay = Gateway::start_replay(recorded, ledger.clone(), "run-0002")
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let messages = |body: &Value| {
        client
            .post(format!(
                "{}/v1/messages?beta=true",
                replay.anthropic_base_url()
            ))
            .header("x-api-key", replay.dummy_key())
            .json(body)
    };
    // A new session id is not a difference; order among equal requests is kept.
    for text in ["first", "second"] {
        let response = messages(&turn("session-2", text)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream; charset=utf-8"
        );
        assert_eq!(
            response.bytes().await.unwrap(),
            wire::ANTHROPIC_SSE.as_bytes()
        );
    }
    let response = messages(&turn("session-2", "third")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is a openai.responses request"),
        "{message}"
    );
    let response = client
        .post(format!("{}/responses", replay.openai_base_url()))
        .bearer_auth(replay.dummy_key())
        .json(&json!({"model": "gpt-5.4", "input": "bye", "stream": true, "prompt_cache_key": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "replay_mismatch");
    assert_eq!(
        error["error"]["message"],
        "docket gateway: the request matches no recorded exchange; against the next one (seq 2): /input is \"bye\" where the recording has \"hi\""
    );
    let summary = replay.shutdown().await;
    assert_eq!(summary.requests, 2);
    assert_eq!(summary.input_tokens, 2 * 472);
    assert_eq!(summary.cost_usd, 0.0);
    let mut seqs: Vec<u64> = summary.exchanges.iter().map(|e| e.seq).collect();
    seqs.sort();
    assert_eq!(seqs, vec![0, 1]);
    assert!(summary.exchanges.iter().all(|e| e.outcome == "replayed"));
    assert_eq!(summary.denials, 2);
    // Replayed exchanges are recorded under the new run and never replayed themselves.
    assert!(
        recorded_exchanges(&ledger, "run-0002")
            .await
            .unwrap()
            .is_empty()
    );
}
