//! Credentials from docket's own environment, tested in a child process because
//! environment variables cannot be set safely in this multi-threaded one.

use docket_gateway::Credential;

use super::fake::converse_stream;
use super::sigv4::FakeAuth;
use super::{BedrockHarness, Finished, SECRET_ACCESS_KEY, access_key_id, converse_request, sigv4};

/// The variables of the child process below.
const CHILD: &str = "DOCKET_GATEWAY_TEST_BEDROCK_CHILD";
const API_KEY_VARIABLE: &str = "DOCKET_GATEWAY_TEST_BEDROCK_API_KEY";
const API_KEY: &str = "bedrock-api-key-ABSKZG9ja2V0LXRlc3Q=";

/// Credentials from docket's environment: a Bedrock API key (`Credential::Env`) sent
/// as a bearer token, and `Credential::AwsEnv` signing with SigV4. Environment
/// variables cannot be set safely in this multi-threaded test process, so the test
/// runs itself again as a child process with them set.
#[test]
fn credentials_from_the_environment_bear_or_sign() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bedrock::credentials::environment_credentials_in_a_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(API_KEY_VARIABLE, API_KEY)
        .env("AWS_ACCESS_KEY_ID", access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Run by the test above, with the variables set; on its own it has nothing to do.
#[tokio::test]
async fn environment_credentials_in_a_child_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // A Bedrock API key: `Authorization: Bearer`, no signature.
    let h = BedrockHarness::start(
        FakeAuth::Bearer(API_KEY.into()),
        |_| Credential::Env(API_KEY_VARIABLE.into()),
        "us-west-2",
        |_| {},
    )
    .await;
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            false,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(verdicts, vec![Ok("bearer".to_owned())]);
    assert!(done.seen[0].headers.get("x-amz-date").is_none());
    let p = done.exchanges()[0];
    assert_eq!(
        p["request"]["credential"],
        format!("authorization from env:{API_KEY_VARIABLE}")
    );
    done.assert_stored_nowhere(API_KEY);

    // AWS keys from the environment: SigV4, no session token.
    let h = BedrockHarness::start(
        sigv4(None, "us-west-2"),
        |_| Credential::AwsEnv,
        "us-west-2",
        |_| {},
    )
    .await;
    let response = h
        .converse(
            "anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            true,
            &converse_request("hi"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), converse_stream());
    let Finished { done, verdicts } = h.finish().await;
    assert_eq!(
        verdicts,
        vec![Ok("content-type;host;x-amz-date".to_owned())]
    );
    let p = done.exchanges()[0];
    assert_eq!(
        p["request"]["credential"],
        "aws-sigv4 (bedrock, us-west-2) from env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY"
    );
    done.assert_stored_nowhere(&access_key_id());
    done.assert_stored_nowhere(SECRET_ACCESS_KEY);
}
