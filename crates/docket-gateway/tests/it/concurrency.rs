//! Many agents' streams at once: every one complete, intact and recorded.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::Harness;
use crate::wire;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_streams_complete_intact() {
    let h = Harness::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let request = h.messages(&json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "stream": true,
            "messages": [{"role": "user", "content": format!("request {i}")}]
        }));
        tasks.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        });
    }
    while let Some(body) = tasks.join_next().await {
        assert_eq!(body.unwrap(), wire::ANTHROPIC_SSE.as_bytes());
    }
    let done = h.finish().await;
    assert_eq!(done.seen.len(), 50);
    assert_eq!(done.summary.requests, 50);
    assert_eq!(done.summary.input_tokens, 50 * 472);
    assert_eq!(done.summary.output_tokens, 50 * 15);
    assert_eq!(done.summary.entries.len(), 50);
    let exchanges = done.payloads("model.exchange");
    assert_eq!(exchanges.len(), 50);
    let seqs: BTreeSet<u64> = exchanges
        .iter()
        .map(|p| p["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..50).collect());
    let requests: BTreeSet<String> = exchanges
        .iter()
        .map(|p| {
            let body: serde_json::Value =
                serde_json::from_slice(&done.blob(&p["request"]["digest"])).unwrap();
            body["messages"][0]["content"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(requests.len(), 50);
    for p in &exchanges {
        assert_eq!(
            done.blob(&p["response"]["digest"]),
            wire::ANTHROPIC_SSE.as_bytes()
        );
    }
    // The summary lists the entries in ledger order.
    let indexes: Vec<u64> = done.summary.entries.iter().map(|(i, _)| *i).collect();
    let mut sorted = indexes.clone();
    sorted.sort();
    assert_eq!(indexes, sorted);
}
