//! OpenAI Responses and Chat Completions, and Azure OpenAI deployment paths.

use serde_json::json;

use crate::support::{AZURE_KEY, Harness, OPENAI_KEY};
use crate::wire;

#[tokio::test]
async fn a_responses_stream_goes_through_the_openai_base_url() {
    let h = Harness::start().await;
    assert!(h.gateway.openai_base_url().ends_with("/v1"));
    let dummy = h.gateway.dummy_key().to_owned();
    let body = json!({
        "model": "gpt-5.4",
        "instructions": "You are Codex.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix it"}]}],
        "tools": [],
        "stream": true,
        "prompt_cache_key": "0199-session"
    });
    let response = h.responses(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap(),
        wire::RESPONSES_SSE.as_bytes()
    );
    let done = h.finish().await;
    let seen = &done.seen[0];
    assert_eq!(seen.path_and_query, "/v1/responses");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {OPENAI_KEY}")
    );
    done.assert_upstream_never_saw(&dummy);
    let p = done.payloads("model.exchange")[0];
    assert_eq!(p["api"], "openai.responses");
    assert_eq!(p["upstream"], "openai");
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 37, "output_tokens": 11, "cache_write_tokens": 0, "cache_read_tokens": 0})
    );
    let expected = (37.0 * 2.5 + 11.0 * 15.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(
        done.blob(&p["response"]["digest"]),
        wire::RESPONSES_SSE.as_bytes()
    );
    done.assert_stored_nowhere(OPENAI_KEY);
}

#[tokio::test]
async fn chat_completions_are_metered_from_the_final_usage_chunk() {
    let h = Harness::start().await;
    let body = json!({
        "model": "gpt-5.4-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    let response = h.chat(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), wire::CHAT_SSE.as_bytes());
    let done = h.finish().await;
    let p = done.payloads("model.exchange")[0];
    assert_eq!(p["api"], "openai.chat");
    assert_eq!(p["usage"]["input_tokens"], 19);
    assert_eq!(p["usage"]["output_tokens"], 3);
    assert_eq!(done.seen[0].path_and_query, "/v1/chat/completions");
}

#[tokio::test]
async fn azure_deployments_use_api_key_and_keep_the_api_version() {
    let h = Harness::start().await;
    let dummy = h.gateway.dummy_key().to_owned();
    let body = json!({
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    let url = format!(
        "{}/openai/deployments/gpt-5.4-mini/chat/completions?api-version=2024-10-21",
        h.gateway.azure_endpoint()
    );
    let response = h
        .client
        .post(&url)
        .header("api-key", &dummy)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), wire::CHAT_SSE.as_bytes());

    // A deployment the allowlist does not name is refused, whatever the body says.
    let refused = h
        .client
        .post(format!(
            "{}/openai/deployments/prod-big/chat/completions?api-version=2024-10-21",
            h.gateway.azure_endpoint()
        ))
        .header("api-key", &dummy)
        .json(&json!({"model": "gpt-5.4-mini", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_not_allowed");

    let done = h.finish().await;
    assert_eq!(done.seen.len(), 1);
    let seen = &done.seen[0];
    assert_eq!(
        seen.path_and_query,
        "/openai/deployments/gpt-5.4-mini/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(seen.headers["api-key"], AZURE_KEY);
    assert!(seen.headers.get("authorization").is_none());
    done.assert_upstream_never_saw(&dummy);
    let p = done.payloads("model.exchange")[0];
    assert_eq!(p["api"], "azure.chat");
    assert_eq!(p["provider"], "azure-openai");
    assert_eq!(p["model"], "gpt-5.4-mini");
    assert_eq!(p["request"]["query"], "api-version=2024-10-21");
    assert_eq!(done.payloads("model.denial")[0]["model"], "prod-big");
}
