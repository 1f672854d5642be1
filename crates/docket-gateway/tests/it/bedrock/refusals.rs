//! What the gateway refuses on a Bedrock route, answered in Bedrock's error shape
//! with nothing sent upstream, and the upstreams it refuses to start with.

use std::sync::Arc;

use docket_gateway::{Credential, Gateway, GatewayConfig, Provider, RequestPolicy, Upstream};
use serde_json::{Value, json};

use super::{BedrockHarness, Finished, SESSION_TOKEN, access_key_id, converse_request, sigv4};
use crate::policy::{DenyModels, decision_evidence};
use crate::support;

#[tokio::test]
async fn refusals_come_in_the_bedrock_error_shape_and_nothing_leaves() {
    let policy = DenyModels::new(
        &["us.anthropic.claude-opus-4-1-20250805-v1:0"],
        decision_evidence(),
    );
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "us-east-1"),
        |file| Credential::File(file.to_owned()),
        "us-east-1",
        |c| {
            c.request_policy = Some(policy.clone() as Arc<dyn RequestPolicy>);
            c.limits.max_requests = Some(1);
        },
    )
    .await;
    let body = converse_request("hi");
    let expect = |status: u16, kind: &'static str, message: String| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status, "{kind}");
            assert_eq!(response.headers()["x-amzn-errortype"], kind);
            assert_eq!(response.headers()["content-type"], "application/json");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error, json!({"message": message}));
        }
    };

    // A model outside the allowlist.
    let response = h
        .converse("meta.llama3-70b-instruct-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        403,
        "AccessDeniedException",
        "docket gateway: model \"meta.llama3-70b-instruct-v1:0\" is not allowed for this run (gateway allowed_models)".into(),
    )(response)
    .await;
    // A model the run's policy refuses.
    let response = h
        .converse("us.anthropic.claude-opus-4-1-20250805-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        403,
        "AccessDeniedException",
        "docket gateway: policy denied model \"us.anthropic.claude-opus-4-1-20250805-v1:0\": us.anthropic.claude-opus-4-1-20250805-v1:0 is not approved for this ticket".into(),
    )(response)
    .await;
    // No dummy key: the real AWS key is no key here.
    let response = h
        .client
        .post(format!(
            "{}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            h.gateway.bedrock_base_url()
        ))
        .bearer_auth(access_key_id())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    response.bytes().await.unwrap();
    // A body that is not JSON.
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &json!(null),
        )
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ValidationException"
    );
    response.bytes().await.unwrap();
    // The dummy key in x-api-key works too; the one request allowed is used up…
    let response = h
        .client
        .post(format!(
            "{}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            h.gateway.bedrock_base_url()
        ))
        .header("x-api-key", h.gateway.dummy_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    // …so the next one meets the limit, as a quota error the AWS SDKs do not retry.
    let response = h
        .converse("anthropic.claude-sonnet-4-5-20250929-v1%3A0", false, &body)
        .send()
        .await
        .unwrap();
    expect(
        400,
        "ServiceQuotaExceededException",
        "docket gateway: the run is stopped: model request limit reached: 1 of 1 requests".into(),
    )(response)
    .await;

    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(done.seen.len(), 1, "only the allowed request went upstream");
    assert_eq!(
        verdicts,
        vec![Ok(
            "content-type;host;x-amz-date;x-amz-security-token".to_owned()
        )]
    );
    let reasons: Vec<&str> = done
        .payloads("model.denial")
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "model_not_allowed",
            "policy_denied",
            "invalid_api_key",
            "invalid_request",
            "insufficient_quota"
        ]
    );
    let policy_denial = done.payloads("model.denial")[1];
    assert_eq!(policy_denial["api"], "bedrock.converse");
    assert_eq!(policy_denial["policy"], decision_evidence());
    assert_eq!(
        policy.asked(),
        vec![
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "us.anthropic.claude-opus-4-1-20250805-v1:0".to_owned()
            ),
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()
            ),
            (
                "bedrock.converse".to_owned(),
                Provider::Bedrock,
                "anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()
            ),
        ]
    );
    assert_eq!(done.summary.denials, 5);
}

#[tokio::test]
async fn a_bedrock_upstream_needs_a_valid_region_and_aws_keys_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = support::open_ledger(dir.path()).await;
    let not_aws = support::credential_file(dir.path(), "plain.key", "just-a-key");
    let upstream = |region: Option<&str>, credential: Credential| Upstream {
        name: "bedrock".into(),
        provider: Provider::Bedrock,
        base_url: String::new(),
        credential,
        region: region.map(str::to_owned),
    };
    for (upstream, expected) in [
        (
            upstream(None, Credential::AwsEnv),
            "upstream bedrock: a bedrock upstream needs its AWS region (e.g. us-east-1)".to_owned(),
        ),
        (
            upstream(Some("us-east-1.evil.example"), Credential::AwsEnv),
            "upstream bedrock: region \"us-east-1.evil.example\" is not an AWS region name (e.g. us-east-1)".to_owned(),
        ),
        (
            upstream(Some("us-east-1"), Credential::File(not_aws.clone())),
            format!(
                "upstream bedrock: credential file {} is not an AWS shared credentials file docket can use: it has no [default] profile",
                not_aws.display()
            ),
        ),
    ] {
        let config = GatewayConfig::new(vec![upstream], vec!["*".into()]);
        let err = Gateway::start(config, ledger.clone(), "r")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, expected);
    }
}
