//! Everything a request must pass before it may leave: the dummy key, the body, the
//! model allowlist, the run's request policy and the secret scan. A refusal is
//! recorded and answered here.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;

use super::Shared;
use super::headers::forward_headers;
use crate::error::GatewayError;
use crate::protocol::{self, Api, Dialect, Refusal};
use crate::record::{self, Denial, ExchangeCtx, RecordedHeaders};
use crate::redact::{self, Redaction};
use crate::{PolicyDenial, PolicyRequest, RedactionMode, RequestPolicy};

/// The largest request body relayed (Anthropic's own limit for Messages is 32 MB).
pub(crate) const MAX_REQUEST_BYTES: usize = 32 << 20;

/// Bodies larger than this are scanned on the blocking pool, not on a runtime worker.
const INLINE_SCAN_BYTES: usize = 64 << 10;

pub(super) fn allowlist(patterns: &[String]) -> Result<GlobSet, GatewayError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| GatewayError::AllowedModel {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| GatewayError::AllowedModel {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Everything checked about a request before it may leave: what is sent, and what
/// is recorded of it.
pub(super) struct Checked {
    pub(crate) model: String,
    pub(crate) body: Bytes,
    pub(crate) value: Value,
    pub(crate) headers: HeaderMap,
    pub(crate) recorded_headers: RecordedHeaders,
    pub(crate) redactions: Vec<Redaction>,
}

impl Checked {
    /// The exchange this request starts, as it is recorded. `credential` says how the
    /// real credential was applied; `None` for a replay, which sends nothing upstream.
    pub(super) fn exchange(
        &self,
        seq: u64,
        api: Api,
        upstream: &str,
        credential: Option<String>,
        path: &str,
        query: Option<&str>,
    ) -> ExchangeCtx {
        ExchangeCtx {
            seq,
            api,
            upstream: upstream.to_owned(),
            credential,
            model: redact::clean_text(&self.model),
            stream: api.always_streams() || self.value.get("stream") == Some(&Value::Bool(true)),
            path: redact::clean_text(path),
            query: query.map(redact::clean_text),
            request: self.body.clone(),
            headers: self.recorded_headers.clone(),
            redactions: self.redactions.clone(),
            started_at: jiff::Timestamp::now(),
            started: std::time::Instant::now(),
        }
    }
}

impl Shared {
    pub(super) fn authorized(&self, headers: &HeaderMap) -> bool {
        let key = self.dummy_key.as_bytes();
        let direct = ["x-api-key", "api-key"]
            .iter()
            .filter_map(|name| headers.get(*name))
            .any(|value| constant_time_eq(value.as_bytes(), key));
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .any(|token| constant_time_eq(token.as_bytes(), key));
        direct || bearer
    }

    /// Records a refusal and answers it.
    pub(super) async fn deny(
        self: &Arc<Self>,
        denial: Denial,
        refusal: Refusal,
        dialect: Dialect,
    ) -> Response {
        self.count_denial();
        tracing::info!(run_id = %self.run_id, seq = denial.seq, reason = refusal.code, "model request refused");
        record::append_denial(self.as_ref(), denial, &refusal).await;
        refusal.response(dialect)
    }

    /// Checks one API request up to the point where it may be sent: the dummy key,
    /// the body, the model, the allowlist and secrets. `Err` is the refusal, already
    /// recorded and answered.
    pub(super) async fn check(
        self: &Arc<Self>,
        api: Api,
        path_model: Option<&str>,
        headers: &HeaderMap,
        body: Body,
        denial: &mut Denial,
    ) -> Result<Checked, Response> {
        let dialect = api.dialect();
        if !self.authorized(headers) {
            return Err(self
                .deny(denial.clone(), Refusal::unauthenticated(), dialect)
                .await);
        }
        let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
            return Err(self
                .deny(
                    denial.clone(),
                    Refusal::too_large(MAX_REQUEST_BYTES),
                    dialect,
                )
                .await);
        };
        let value = match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if value.is_object() => value,
            Ok(_) => {
                let refusal = Refusal::bad_request("the request body is not a JSON object".into());
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
            Err(e) => {
                let refusal = Refusal::bad_request(format!("the request body is not JSON: {e}"));
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
        };
        let (value, mut redactions) = if bytes.len() > INLINE_SCAN_BYTES {
            let scanned = tokio::task::spawn_blocking(move || {
                let mut value = value;
                let found = redact::redact_json(&mut value);
                (value, found)
            })
            .await;
            match scanned {
                Ok(scanned) => scanned,
                Err(e) => {
                    // Fail closed: an unscanned body never leaves.
                    let refusal = Refusal::bad_request(format!("the secret scan failed: {e}"));
                    return Err(self.deny(denial.clone(), refusal, dialect).await);
                }
            }
        } else {
            let mut value = value;
            let found = redact::redact_json(&mut value);
            (value, found)
        };
        let (forwarded, recorded_headers, mut header_redactions) = forward_headers(headers);
        redactions.append(&mut header_redactions);
        let body = if redactions.is_empty() {
            bytes
        } else {
            match serde_json::to_vec(&value) {
                Ok(body) => Bytes::from(body),
                Err(e) => {
                    let refusal =
                        Refusal::bad_request(format!("the redacted body cannot be encoded: {e}"));
                    return Err(self.deny(denial.clone(), refusal, dialect).await);
                }
            }
        };
        denial.request = Some(body.clone());
        denial.redactions = redactions.clone();
        let model = match protocol::model_of(&value, path_model) {
            Ok(model) => model,
            Err(message) => {
                return Err(self
                    .deny(denial.clone(), Refusal::bad_request(message), dialect)
                    .await);
            }
        };
        // The body's model is already redacted; a model from the path is not.
        let shown = redact::clean_text(&model);
        denial.model = Some(shown.clone());
        if self.replay.is_none() && !self.allowlist.is_match(&model) {
            return Err(self
                .deny(denial.clone(), Refusal::model_not_allowed(&shown), dialect)
                .await);
        }
        if let Some(policy) = &self.policy {
            let request = PolicyRequest {
                api: api.name(),
                provider: api.provider(),
                model: &model,
            };
            if let Some(refused) = ask_policy(policy.as_ref(), &request) {
                // What is recorded and answered goes through the scanner like the rest.
                let mut evidence = refused.evidence;
                redact::redact_json(&mut evidence);
                denial.policy = Some(evidence);
                let refusal = Refusal::policy_denied(&shown, &redact::clean_text(&refused.message));
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
        }
        if !redactions.is_empty() && self.redaction == RedactionMode::Block {
            let mut rules: Vec<&str> = redactions.iter().map(|r| r.rule).collect();
            rules.dedup();
            let refusal = Refusal::secret_detected(&rules.join(", "));
            return Err(self.deny(denial.clone(), refusal, dialect).await);
        }
        Ok(Checked {
            model,
            body,
            value,
            headers: forwarded,
            recorded_headers,
            redactions,
        })
    }
}

/// Asks the request policy; a policy that panics denies (fail closed).
fn ask_policy(policy: &dyn RequestPolicy, request: &PolicyRequest<'_>) -> Option<PolicyDenial> {
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.check(request)));
    match verdict {
        Ok(Ok(())) => None,
        Ok(Err(denial)) => Some(denial),
        Err(_) => Some(PolicyDenial {
            message: "the request policy failed (it panicked), so the request is refused".into(),
            evidence: serde_json::json!({"error": "the request policy panicked"}),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
