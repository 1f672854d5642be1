//! Policy at the wire: the dummy key, the model allowlist, the run's request policy,
//! secrets, routes, and the credentials the gateway starts with.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use docket_gateway::{
    Credential, Gateway, PolicyDenial, PolicyRequest, Provider, RedactionMode, ReplayOptions,
    RequestPolicy, recorded_exchanges,
};
use serde_json::{Value, json};

use crate::support::{self, Harness, RUN_ID, aws_secret, turn};

#[tokio::test]
async fn requests_without_the_dummy_key_are_refused() {
    let h = Harness::start().await;
    let url = format!("{}/v1/messages", h.gateway.anthropic_base_url());
    let body = turn("claude-sonnet-4-5");
    // No key, a wrong key, and the real provider key all fail the same way.
    for key in [None, Some("sk-ant-wrong"), Some(support::ANTHROPIC_KEY)] {
        let mut request = h
            .client
            .post(&url)
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{key:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "authentication_error");
    }
    let response = h
        .client
        .post(format!("{}/responses", h.gateway.openai_base_url()))
        .bearer_auth("not-the-key")
        .json(&turn("gpt-5.4"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    // The dummy key as a Bearer token works for Anthropic too (ANTHROPIC_AUTH_TOKEN).
    let response = h
        .client
        .post(&url)
        .bearer_auth(h.gateway.dummy_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let done = h.finish().await;
    assert_eq!(done.seen.len(), 1);
    assert_eq!(done.summary.denials, 4);
    let denials = done.payloads("model.denial");
    assert_eq!(denials.len(), 4);
    for denial in &denials {
        assert_eq!(denial["reason"], "invalid_api_key");
        assert!(denial["request"].is_null());
    }
    assert_eq!(done.summary.decision_entries.len(), 4);
    done.assert_stored_nowhere("sk-ant-wrong");
}

#[tokio::test]
async fn a_disallowed_model_is_refused_in_each_protocol_shape_and_recorded() {
    let h = Harness::start().await;
    let response = h.messages(&turn("claude-opus-4-1")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let response = h.messages(&turn("opus-unlisted")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "permission_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"opus-unlisted\" is not allowed"),
        "{error}"
    );

    let response = h.responses(&turn("gpt-4o")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["code"], "model_not_allowed");
    assert!(error["error"]["param"].is_null());

    // No model at all is refused too (fail closed).
    let response = h.messages(&json!({"messages": []})).send().await.unwrap();
    assert_eq!(response.status(), 400);

    let done = h.finish().await;
    assert_eq!(done.seen.len(), 1, "only the allowed request went upstream");
    let denials = done.payloads("model.denial");
    let reasons: Vec<(&str, &str)> = denials
        .iter()
        .map(|d| {
            (
                d["reason"].as_str().unwrap(),
                d["model"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("model_not_allowed", "opus-unlisted"),
            ("model_not_allowed", "gpt-4o"),
            ("invalid_request", "-"),
        ]
    );
    // The refused request's body is kept (it holds no secret) for the evidence.
    let body: Value = serde_json::from_slice(&done.blob(&denials[0]["request"]["digest"])).unwrap();
    assert_eq!(body["model"], "opus-unlisted");
    assert_eq!(done.summary.requests, 1);
    assert_eq!(done.summary.denials, 3);
}

fn leaky_turn(secret: &str) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": true,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": format!("deploy with AWS_ACCESS_KEY_ID={secret} please")}]},
            {"role": "user", "content": "nothing here"}
        ]
    })
}

#[tokio::test]
async fn secrets_are_redacted_before_they_leave_and_never_stored() {
    let h = Harness::start().await;
    let secret = aws_secret();
    let response = h
        .messages(&leaky_turn(&secret))
        .header("x-extra-context", format!("key {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let done = h.finish().await;
    done.assert_upstream_never_saw(&secret);
    let seen: Value = serde_json::from_slice(&done.seen[0].body).unwrap();
    assert_eq!(
        seen["messages"][0]["content"][0]["text"],
        "deploy with AWS_ACCESS_KEY_ID=[REDACTED:aws-access-token] please"
    );
    assert_eq!(
        done.seen[0].headers["x-extra-context"],
        "key [REDACTED:aws-access-token]"
    );
    done.assert_stored_nowhere(&secret);
    let p = done.payloads("model.exchange")[0];
    let redactions: Vec<(&str, &str, u64)> = p["request"]["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap(),
                r["location"].as_str().unwrap(),
                r["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        redactions,
        vec![
            ("aws-access-token", "/messages/0/content/0/text", 30),
            ("aws-access-token", "header:x-extra-context", 4),
        ]
    );
    assert_eq!(done.summary.redactions, 2);
    // What is stored is what was sent.
    assert_eq!(done.blob(&p["request"]["digest"]), done.seen[0].body);
}

#[tokio::test]
async fn block_mode_refuses_a_request_with_a_secret() {
    let h = Harness::start_with(|c| c.redaction = RedactionMode::Block).await;
    let secret = aws_secret();
    let response = h.messages(&leaky_turn(&secret)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("aws-access-token"),
        "{error}"
    );
    let response = h
        .responses(&json!({"model": "gpt-5.4", "input": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "secret_detected");
    let done = h.finish().await;
    assert!(done.seen.is_empty());
    let denials = done.payloads("model.denial");
    assert_eq!(denials.len(), 2);
    assert_eq!(denials[0]["reason"], "secret_detected");
    assert_eq!(
        denials[0]["request"]["redactions"][0]["location"],
        "/messages/0/content/0/text"
    );
    assert_eq!(denials[1]["request"]["redactions"][0]["location"], "/input");
    done.assert_stored_nowhere(&secret);
    assert_eq!(done.summary.redactions, 0);
}

#[tokio::test]
async fn unknown_routes_are_refused_and_other_paths_are_not_this_run() {
    let h = Harness::start().await;
    let base = h.gateway.anthropic_base_url();
    let response = h
        .client
        .post(format!("{base}/v1/messages/count_tokens"))
        .header("x-api-key", h.gateway.dummy_key())
        .header("anthropic-version", "2023-06-01")
        .json(&turn("claude-sonnet-4-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "not_found_error");
    let response = h
        .client
        .get(format!("{}/models", h.gateway.openai_base_url()))
        .bearer_auth(h.gateway.dummy_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unknown_url");
    // Another run's token (or none) is not this gateway's business: plain 404.
    let addr = h.gateway.local_addr();
    for path in ["/run/0000/v1/messages", "/v1/messages", "/"] {
        let response = h
            .client
            .post(format!("http://{addr}{path}"))
            .header("x-api-key", h.gateway.dummy_key())
            .json(&turn("claude-sonnet-4-5"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let done = h.finish().await;
    assert!(done.seen.is_empty());
    let reasons: Vec<&str> = done
        .payloads("model.denial")
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["unknown_url", "unknown_url"]);
}

#[tokio::test]
async fn the_gateway_refuses_to_start_with_a_readable_credential_file_or_no_variable() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open_ledger(dir.path()).await;
    let mut config = support::config(dir.path(), "http://127.0.0.1:9");
    let Credential::File(path) = config.upstreams[0].credential.clone() else {
        unreachable!()
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = Gateway::start(config.clone(), ledger.clone(), "r")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "upstream anthropic: credential file {} has mode 0640; it must be readable by its owner only (chmod 600 {})",
            path.display(),
            path.display()
        )
    );
    assert!(!err.contains(support::ANTHROPIC_KEY));
    config.upstreams[0].credential = Credential::Env("DOCKET_GATEWAY_TEST_NO_SUCH_VARIABLE".into());
    let err = Gateway::start(config.clone(), ledger.clone(), "r")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DOCKET_GATEWAY_TEST_NO_SUCH_VARIABLE"),
        "{err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.upstreams.truncate(1);
    config.upstreams[0].credential = Credential::File(path);
    config.upstreams[0].base_url = "http://api.anthropic.com".into();
    let err = Gateway::start(config.clone(), ledger.clone(), "r")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("use https://"), "{err}");
    config.upstreams[0].base_url = "https://api.anthropic.com".into();
    config.allowed_models = vec!["claude-[".into()];
    let err = Gateway::start(config, ledger, "r")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"claude-[\""), "{err}");
}

/// A request policy that refuses the models it lists (panicking for `panic-model`),
/// and remembers every request it was asked about.
pub struct DenyModels {
    denied: Vec<String>,
    evidence: Value,
    pub asked: Mutex<Vec<(String, Provider, String)>>,
}

impl DenyModels {
    pub fn new(denied: &[&str], evidence: Value) -> Arc<DenyModels> {
        Arc::new(DenyModels {
            denied: denied.iter().map(|m| (*m).to_owned()).collect(),
            evidence,
            asked: Mutex::new(Vec::new()),
        })
    }

    pub fn asked(&self) -> Vec<(String, Provider, String)> {
        self.asked.lock().unwrap().clone()
    }
}

impl RequestPolicy for DenyModels {
    fn check(&self, request: &PolicyRequest<'_>) -> Result<(), PolicyDenial> {
        self.asked.lock().unwrap().push((
            request.api.to_owned(),
            request.provider,
            request.model.to_owned(),
        ));
        if request.model == "panic-model" {
            panic!("a policy bug");
        }
        if self.denied.iter().any(|m| m == request.model) {
            return Err(PolicyDenial {
                message: format!("{} is not approved for this ticket", request.model),
                evidence: self.evidence.clone(),
            });
        }
        Ok(())
    }
}

pub fn decision_evidence() -> Value {
    json!({
        "point": "model.request",
        "decision": "deny",
        "bundle": "sha256:0f4c2a",
        "reasons": ["data.docket.models.deny"]
    })
}

#[tokio::test]
async fn the_request_policy_refuses_a_model_in_each_dialect_before_anything_leaves() {
    let policy = DenyModels::new(&["claude-opus-4-1", "gpt-5.4-mini"], decision_evidence());
    let h = Harness::start_with(|c| c.request_policy = Some(policy.clone())).await;

    let response = h.messages(&turn("claude-opus-4-1")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error,
        json!({"type": "error", "error": {
            "type": "permission_error",
            "message": "docket gateway: policy denied model \"claude-opus-4-1\": claude-opus-4-1 is not approved for this ticket"
        }})
    );
    for response in [
        h.responses(&json!({"model": "gpt-5.4-mini", "input": "hi", "stream": true})),
        h.chat(&json!({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]})),
    ] {
        let response = response.send().await.unwrap();
        assert_eq!(response.status(), 403);
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error,
            json!({"error": {
                "message": "docket gateway: policy denied model \"gpt-5.4-mini\": gpt-5.4-mini is not approved for this ticket",
                "type": "invalid_request_error",
                "param": null,
                "code": "policy_denied"
            }})
        );
    }
    // An allowed model passes; one the allowlist refuses never reaches the policy.
    let response = h.messages(&turn("claude-sonnet-4-5")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let response = h.messages(&turn("opus-unlisted")).send().await.unwrap();
    assert_eq!(response.status(), 403);

    let done = h.finish().await;
    assert_eq!(done.seen.len(), 1, "only the allowed request went upstream");
    let seen: Value = serde_json::from_slice(&done.seen[0].body).unwrap();
    assert_eq!(seen["model"], "claude-sonnet-4-5");
    assert_eq!(
        policy.asked(),
        vec![
            (
                "anthropic.messages".into(),
                Provider::Anthropic,
                "claude-opus-4-1".into()
            ),
            (
                "openai.responses".into(),
                Provider::OpenAi,
                "gpt-5.4-mini".into()
            ),
            (
                "openai.chat".into(),
                Provider::OpenAi,
                "gpt-5.4-mini".into()
            ),
            (
                "anthropic.messages".into(),
                Provider::Anthropic,
                "claude-sonnet-4-5".into()
            ),
        ]
    );
    let denials = done.payloads("model.denial");
    let summary: Vec<(&str, &str, &str)> = denials
        .iter()
        .map(|d| {
            (
                d["reason"].as_str().unwrap(),
                d["api"].as_str().unwrap(),
                d["model"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("policy_denied", "anthropic.messages", "claude-opus-4-1"),
            ("policy_denied", "openai.responses", "gpt-5.4-mini"),
            ("policy_denied", "openai.chat", "gpt-5.4-mini"),
            ("model_not_allowed", "anthropic.messages", "opus-unlisted"),
        ]
    );
    for denial in &denials[..3] {
        assert_eq!(denial["policy"], decision_evidence());
        assert!(
            denial["message"]
                .as_str()
                .unwrap()
                .starts_with("docket gateway: policy denied model ")
        );
        // The refused body is kept as evidence, like any refusal's.
        let body: Value = serde_json::from_slice(&done.blob(&denial["request"]["digest"])).unwrap();
        assert_eq!(body["model"], denial["model"]);
    }
    assert!(denials[3].get("policy").is_none());
    assert_eq!(done.summary.denials, 4);
    assert_eq!(done.summary.requests, 1);
    assert_eq!(done.summary.decision_entries.len(), 4);
}

#[tokio::test]
async fn a_failing_policy_refuses_and_its_evidence_is_redacted() {
    let secret = aws_secret();
    let policy = DenyModels::new(
        &["claude-opus-4-1"],
        json!({"decision": "deny", "input": {"note": format!("saw {secret}")}}),
    );
    let h = Harness::start_with(|c| {
        c.allowed_models.push("panic-model".into());
        c.request_policy = Some(policy.clone());
    })
    .await;
    let response = h.messages(&turn("panic-model")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
    let response = h.messages(&turn("claude-opus-4-1")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let done = h.finish().await;
    assert!(done.seen.is_empty());
    let denials = done.payloads("model.denial");
    assert_eq!(denials[0]["reason"], "policy_denied");
    assert_eq!(
        denials[0]["policy"],
        json!({"error": "the request policy panicked"})
    );
    assert_eq!(
        denials[1]["policy"]["input"]["note"],
        "saw [REDACTED:aws-access-token]"
    );
    done.assert_stored_nowhere(&secret);
}

#[tokio::test]
async fn the_request_policy_holds_in_replay_too() {
    let h = Harness::start().await;
    let response = h.messages(&turn("claude-sonnet-4-5")).send().await.unwrap();
    response.bytes().await.unwrap();
    let recorded_run = h.finish().await;
    let ledger = recorded_run.ledger.clone();
    let recorded = recorded_exchanges(&ledger, RUN_ID).await.unwrap();
    assert_eq!(recorded.len(), 1);

    let policy = DenyModels::new(&["claude-sonnet-4-5"], decision_evidence());
    let replay = Gateway::start_replay_with_policy(
        recorded,
        ledger.clone(),
        "run-0002",
        ReplayOptions::default(),
        Some(policy.clone()),
    )
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", replay.anthropic_base_url()))
        .header("x-api-key", replay.dummy_key())
        .json(&turn("claude-sonnet-4-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
    let summary = replay.shutdown().await;
    assert_eq!((summary.requests, summary.denials), (0, 1));
    assert_eq!(
        policy.asked(),
        vec![(
            "anthropic.messages".into(),
            Provider::Anthropic,
            "claude-sonnet-4-5".into()
        )]
    );
    let denials: Vec<Value> = ledger
        .list(&docket_ledger::EntryFilter {
            kind: Some("model.denial".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|s| s.decode().unwrap().payload)
        .collect();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0]["run_id"], "run-0002");
    assert_eq!(denials[0]["reason"], "policy_denied");
    assert_eq!(denials[0]["policy"], decision_evidence());
}

/// Without the `bedrock` feature, a Bedrock upstream stops the gateway from starting
/// and Bedrock's routes are not relayed.
#[cfg(not(feature = "bedrock"))]
#[tokio::test]
async fn without_the_bedrock_feature_bedrock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open_ledger(dir.path()).await;
    let mut config = support::config(dir.path(), "http://127.0.0.1:9");
    config.upstreams.push(docket_gateway::Upstream {
        name: "bedrock".into(),
        provider: Provider::Bedrock,
        base_url: String::new(),
        credential: Credential::AwsEnv,
        region: Some("us-east-1".into()),
    });
    let err = Gateway::start(config, ledger, "r")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "upstream bedrock: this docket was built without the `bedrock` feature; rebuild with --features bedrock"
    );

    let h = Harness::start().await;
    let response = h
        .client
        .post(format!(
            "{}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            h.gateway.anthropic_base_url()
        ))
        .bearer_auth(h.gateway.dummy_key())
        .json(&json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error,
        json!({"message": "docket gateway: POST /model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse is not relayed: this docket was built without the `bedrock` feature; rebuild with --features bedrock"})
    );
    let done = h.finish().await;
    assert!(done.seen.is_empty());
    let denials = done.payloads("model.denial");
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0]["reason"], "unknown_url");
}
