//! Converse and ConverseStream that go through: signed after redaction, relayed
//! unchanged, metered from the usage Bedrock reports, and recorded.

use docket_gateway::Credential;
use serde_json::{Value, json};

use super::fake::{CONVERSE_JSON, converse_stream};
use super::{
    BedrockHarness, Finished, SECRET_ACCESS_KEY, SESSION_TOKEN, access_key_id, converse_request,
    header_value, sigv4,
};
use crate::support::aws_secret;

#[tokio::test]
async fn converse_is_signed_after_redaction_relayed_metered_and_recorded() {
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "us-east-1"),
        |file| Credential::File(file.to_owned()),
        "us-east-1",
        |_| {},
    )
    .await;
    let dummy = h.gateway.dummy_key().to_owned();
    let credentials_file = h.credentials_file.clone();
    let leak = aws_secret();
    let sent = converse_request(&format!("deploy with AWS_ACCESS_KEY_ID={leak} please"));
    // An inference profile id, its `:` percent-encoded as the AWS SDKs send it; the
    // agent's own SigV4 leftovers are not forwarded.
    let response = h
        .converse(
            "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &sent,
        )
        .header("x-amz-security-token", "agent-token")
        .header("x-amz-date", "20200101T000000Z")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-amzn-requestid"], "5d6f5d2c-json");
    assert_eq!(response.bytes().await.unwrap(), CONVERSE_JSON.as_bytes());
    // An application inference profile ARN: `:` and `/` encoded.
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5";
    let response = h
        .converse(
            &arn.replace(':', "%3A").replace('/', "%2F"),
            false,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let Finished { done, verdicts } = h.finish().await;
    // The fake recomputed both signatures over what it received, session token signed.
    assert_eq!(
        verdicts,
        vec![
            Ok("content-type;host;x-amz-date;x-amz-security-token".to_owned()),
            Ok("content-type;host;x-amz-date;x-amz-security-token".to_owned()),
        ]
    );
    assert_eq!(done.seen.len(), 2);
    let seen = &done.seen[0];
    assert_eq!(
        seen.path_and_query,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_eq!(
        done.seen[1].path_and_query,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3d4e5/converse"
    );
    assert_eq!(seen.headers["x-amz-security-token"], SESSION_TOKEN);
    assert_eq!(seen.headers["amz-sdk-invocation-id"], "0b1e4c6e-agent");
    assert_eq!(seen.headers.get_all("x-amz-date").iter().count(), 1);
    assert_ne!(seen.headers["x-amz-date"], "20200101T000000Z");
    // The secret in the request was redacted before it left, and the signature covers
    // the redacted bytes (the verdict above).
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body["messages"][0]["content"][0]["text"],
        "deploy with AWS_ACCESS_KEY_ID=[REDACTED:aws-access-token] please"
    );
    done.assert_upstream_never_saw(&leak);
    done.assert_upstream_never_saw(&dummy);
    done.assert_upstream_never_saw("agent-token");

    let exchanges = done.exchanges();
    let p = exchanges[0];
    assert_eq!(p["api"], "bedrock.converse");
    assert_eq!(p["provider"], "bedrock");
    assert_eq!(p["upstream"], "bedrock");
    assert_eq!(p["model"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(p["stream"], false);
    assert_eq!(
        (p["status"].as_u64(), p["outcome"].as_str()),
        (Some(200), Some("complete"))
    );
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 1230, "output_tokens": 8, "cache_write_tokens": 0, "cache_read_tokens": 1200})
    );
    let cost = (30.0 * 3.0 + 1200.0 * 0.3 + 8.0 * 15.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert_eq!(p["price"]["pattern"], "*anthropic.claude-sonnet-4-5*");
    // How it was signed and with what, never the keys or the signature.
    assert_eq!(
        p["request"]["credential"],
        format!(
            "aws-sigv4 (bedrock, us-east-1) from file:{} [default]",
            credentials_file.display()
        )
    );
    assert_eq!(
        p["request"]["path"],
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    let recorded_headers = &p["request"]["headers"];
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        assert_eq!(header_value(recorded_headers, name), None, "{name}");
    }
    assert_eq!(
        header_value(recorded_headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(
        p["request"]["redactions"][0]["location"],
        "/messages/0/content/0/text"
    );
    assert_eq!(done.blob(&p["request"]["digest"]), seen.body);
    assert_eq!(
        done.blob(&p["response"]["digest"]),
        CONVERSE_JSON.as_bytes()
    );
    assert_eq!(
        header_value(&p["response"]["headers"], "x-amzn-requestid"),
        Some("5d6f5d2c-json")
    );
    // The ARN names no model the price table knows.
    let arn_exchange = exchanges[1];
    assert_eq!(arn_exchange["model"], arn);
    assert_eq!(arn_exchange["price"], "unknown");
    assert!(arn_exchange["cost_usd"].is_null());

    let summary = &done.summary;
    assert_eq!(
        (
            summary.requests,
            summary.input_tokens,
            summary.output_tokens,
            summary.denials
        ),
        (2, 2460, 16, 0)
    );
    assert_eq!(summary.exchanges.len(), 2);
    assert_eq!(summary.exchanges[0].api, "bedrock.converse");
    let signature = seen.headers["authorization"]
        .to_str()
        .unwrap()
        .rsplit("Signature=")
        .next()
        .unwrap()
        .to_owned();
    for secret in [
        access_key_id().as_str(),
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        signature.as_str(),
        leak.as_str(),
        dummy.as_str(),
    ] {
        done.assert_stored_nowhere(secret);
    }
}

#[tokio::test]
async fn converse_stream_relays_the_event_stream_unchanged_and_meters_its_metadata() {
    let h = BedrockHarness::start(
        sigv4(Some(SESSION_TOKEN), "eu-west-3"),
        |file| Credential::File(file.to_owned()),
        "eu-west-3",
        |_| {},
    )
    .await;
    let credentials_file = h.credentials_file.clone();
    // Some clients leave the `:` unencoded; what is sent (and signed) is canonical.
    let response = h
        .converse(
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            true,
            &converse_request("Say hello"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let received = response.bytes().await.unwrap();
    assert_eq!(received, converse_stream());

    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(
        verdicts,
        vec![Ok(
            "content-type;host;x-amz-date;x-amz-security-token".to_owned()
        )]
    );
    assert_eq!(
        done.seen[0].path_and_query,
        "/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream"
    );
    let p = done.exchanges()[0];
    assert_eq!(p["api"], "bedrock.converse-stream");
    assert_eq!(p["model"], "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert_eq!(p["stream"], true);
    assert_eq!(p["outcome"], "complete");
    assert!(p["ttfb_us"].is_u64());
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 125, "output_tokens": 12, "cache_write_tokens": 100, "cache_read_tokens": 0})
    );
    let cost = (25.0 * 1.0 + 100.0 * 1.25 + 12.0 * 5.0) / 1e6;
    assert!((p["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert_eq!(
        p["request"]["credential"],
        format!(
            "aws-sigv4 (bedrock, eu-west-3) from file:{} [default]",
            credentials_file.display()
        )
    );
    assert_eq!(done.blob(&p["response"]["digest"]), converse_stream());
    assert_eq!(p["response"]["stored_redacted"], false);
    assert_eq!(
        (done.summary.input_tokens, done.summary.output_tokens),
        (125, 12)
    );
}
