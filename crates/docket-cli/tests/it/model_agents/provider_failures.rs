//! Providers that cannot serve a run — failing, rate-limited, unreachable: the CLI
//! gives up after bounded retries and the run ends with the reason on record.

use serde_json::{Value, json};

use crate::governed::*;

use super::claude::{governed_with_claude, run_claude_in};
use super::codex::{fake_responses, governed_with_codex};
use super::{assert_no_secret_in_docket_home, claude, codex, model_evidence, run_hello};

#[test]
fn a_failing_provider_ends_the_run_with_the_reason_on_record() {
    let Some((g, fake, record, code)) = run_claude_in("fail") else {
        return;
    };
    assert_eq!(code, 1, "{record:#}");
    assert_ne!(record["outcome"]["status"], "published");
    let reasons = record["outcome"]["reasons"].to_string();
    assert!(
        reasons.contains("the model provider answered 500 to 3 of 3 request(s)"),
        "{record:#}"
    );
    // Bounded retries: the CLI gave up after a few attempts, each one recorded.
    let attempts = fake.seen.lock().unwrap().bodies.len();
    assert_eq!(attempts, 3, "one try and CLAUDE_CODE_MAX_RETRIES=2 retries");
    let (recorded, _) = model_evidence(&g, &record);
    assert_eq!(recorded.len(), attempts, "{record:#}");
}

/// A run its provider could not serve: the CLI gave up by itself (docket's timeout
/// did not have to stop it), the run exited 1 unpublished with a reason that reads
/// `reason` with `{n}` standing for N, and each of the N requests is a
/// `model.exchange` entry with `status` and `outcome`. Returns those entries and
/// the run's model evidence (see [`model_evidence`]).
fn ended_by_the_provider(
    g: &Governed,
    record: &Value,
    code: i32,
    reason: &str,
    status: u16,
    outcome: &str,
) -> (Vec<Value>, Value) {
    assert_eq!(code, 1, "{record:#}");
    assert_ne!(record["outcome"]["status"], "published", "{record:#}");
    for attempt in record["attempts"].as_array().unwrap() {
        assert_eq!(attempt["timed_out"], false, "{record:#}");
    }
    let (exchanges, model) = model_evidence(g, record);
    let n = exchanges.len();
    assert!(n > 0, "{record:#}");
    let reason = reason.replace("{n}", &n.to_string());
    assert!(
        record["outcome"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&reason)),
        "no reason says {reason:?}: {record:#}"
    );
    for entry in &exchanges {
        assert_eq!(entry["payload"]["status"], status, "{entry:#}");
        assert_eq!(entry["payload"]["outcome"], outcome, "{entry:#}");
    }
    assert_eq!(model["gateway"]["requests"], n, "{model:#}");
    (exchanges, model)
}

/// A `base_url` on 127.0.0.1 where nothing listens: a port the system just handed
/// out, released again.
fn nobody_listening() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Each exchange with an `upstream` at `base_url` that nobody answers is on record with
/// no response and the connection error naming where it tried; the CLI was told
/// which upstream failed (docket's 502 message) and its recorded final result says so.
fn assert_unreachable_on_record(
    exchanges: &[Value],
    model: &Value,
    upstream: &str,
    base_url: &str,
) {
    for entry in exchanges {
        let payload = &entry["payload"];
        assert_eq!(payload["upstream"], upstream, "{entry:#}");
        assert!(payload["response"].is_null(), "{entry:#}");
        let error = payload["error"].as_str().unwrap();
        assert!(
            error.contains(base_url) && error.contains("Connection refused"),
            "{entry:#}"
        );
    }
    let told = format!("docket gateway: upstream {upstream} is unreachable");
    assert!(model["result"].to_string().contains(&told), "{model:#}");
}

const ANSWERED_429: &str = "the model provider answered 429 to {n} of {n} request(s)";

#[test]
fn claude_code_against_a_rate_limited_provider_ends_after_bounded_retries() {
    let Some((g, fake, record, code)) = run_claude_in("rate_limited") else {
        return;
    };
    let (exchanges, model) =
        ended_by_the_provider(&g, &record, code, ANSWERED_429, 429, "complete");
    let attempts = fake.seen.lock().unwrap().bodies.len();
    assert_eq!(attempts, 3, "one try and CLAUDE_CODE_MAX_RETRIES=2 retries");
    assert_eq!(exchanges.len(), attempts, "{record:#}");
    // The provider's answer is on record as it came, its retry-after included.
    for entry in &exchanges {
        let headers = entry["payload"]["response"]["headers"].as_array().unwrap();
        assert!(headers.contains(&json!(["retry-after", "0"])), "{entry:#}");
    }
    // The CLI's own final word, recorded in the run.agent entry, names the 429.
    assert!(model["result"].to_string().contains("429"), "{model:#}");
    assert_no_secret_in_docket_home(&g);
}

#[test]
fn claude_code_against_an_unreachable_upstream_ends_with_the_reason_on_record() {
    let Some(claude) = claude() else { return };
    let base_url = nobody_listening();
    let g = governed_with_claude(&claude, &base_url);
    let (record, code, _) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    let (exchanges, model) = ended_by_the_provider(
        &g,
        &record,
        code,
        "docket's gateway could not reach upstream anthropic for {n} of {n} request(s)",
        502,
        "unreachable",
    );
    // The gateway answers 502, which the CLI retries like any 5xx.
    assert_eq!(
        exchanges.len(),
        3,
        "one try and CLAUDE_CODE_MAX_RETRIES=2 retries"
    );
    assert_unreachable_on_record(&exchanges, &model, "anthropic", &base_url);
    assert_no_secret_in_docket_home(&g);
}

/// docket configures Codex with `request_max_retries = 2` and `stream_max_retries = 2`:
/// at most 3 requests for each of at most 3 stream attempts.
const CODEX_MAX_REQUESTS: usize = 9;

#[test]
fn codex_against_an_unreachable_upstream_ends_with_the_reason_on_record() {
    let Some(codex) = codex() else { return };
    let base_url = nobody_listening();
    let g = governed_with_codex(&codex, &format!("{base_url}/v1"));
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    let (exchanges, model) = ended_by_the_provider(
        &g,
        &record,
        code,
        "docket's gateway could not reach upstream openai for {n} of {n} request(s)",
        502,
        "unreachable",
    );
    assert!(exchanges.len() <= CODEX_MAX_REQUESTS, "{record:#}");
    assert_unreachable_on_record(&exchanges, &model, "openai", &base_url);
    assert_no_secret_in_docket_home(&g);
}

#[test]
fn codex_against_a_rate_limited_provider_ends_after_bounded_retries() {
    let Some(codex) = codex() else { return };
    let (addr, seen) = fake_responses(true);
    let g = governed_with_codex(&codex, &format!("http://{addr}/v1"));
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    let (exchanges, model) =
        ended_by_the_provider(&g, &record, code, ANSWERED_429, 429, "complete");
    // Codex 0.169 does not retry a 429 at all ("exceeded retry limit, last status:
    // 429"): one request. Whatever it does, docket's settings bound it.
    let attempts = seen.lock().unwrap().bodies.len();
    assert_eq!(exchanges.len(), attempts, "{record:#}");
    assert!(attempts <= CODEX_MAX_REQUESTS, "{record:#}");
    assert!(model["result"].to_string().contains("429"), "{model:#}");
    assert_no_secret_in_docket_home(&g);
}
