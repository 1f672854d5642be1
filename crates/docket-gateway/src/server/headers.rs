//! Which headers cross the gateway in each direction, and how they are recorded:
//! hop-by-hop headers and the agent's own credential never leave, and secrets in
//! forwarded values are redacted.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::record::RecordedHeaders;
use crate::redact::{self, Redaction};

/// Request headers never forwarded: hop-by-hop ones, the agent's own credential
/// (replaced by the real one, including what a SigV4 signer adds), and
/// `accept-encoding` (the gateway must read the response to meter it, so it asks for
/// it uncompressed).
const REQUEST_HEADERS_DROPPED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "api-key",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Response headers never passed back: hop-by-hop ones, and the length (the body is
/// re-framed as it streams).
const RESPONSE_HEADERS_DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers named by `Connection:` are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The headers to forward (secrets in values redacted), how they are recorded, and
/// what was redacted.
pub(super) fn forward_headers(
    incoming: &HeaderMap,
) -> (HeaderMap, RecordedHeaders, Vec<Redaction>) {
    let listed = connection_listed(incoming);
    let mut forwarded = HeaderMap::with_capacity(incoming.len());
    let mut recorded = Vec::with_capacity(incoming.len());
    let mut found = Vec::new();
    for (name, value) in incoming {
        let lower = name.as_str();
        if REQUEST_HEADERS_DROPPED.contains(&lower) || listed.iter().any(|l| l == lower) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        let location = format!("header:{lower}");
        match redact::redact_text(&text, &location) {
            None => {
                forwarded.append(name.clone(), value.clone());
                recorded.push((lower.to_owned(), text.into_owned()));
            }
            Some((redacted, mut hits)) => {
                found.append(&mut hits);
                if let Ok(clean) = HeaderValue::from_str(&redacted) {
                    forwarded.append(name.clone(), clean);
                }
                recorded.push((lower.to_owned(), redacted));
            }
        }
    }
    (forwarded, recorded, found)
}

/// The response headers passed back to the agent, and as recorded.
pub(super) fn response_headers(upstream: &HeaderMap) -> (HeaderMap, RecordedHeaders) {
    let listed = connection_listed(upstream);
    let mut passed = HeaderMap::with_capacity(upstream.len());
    let mut recorded = Vec::with_capacity(upstream.len());
    for (name, value) in upstream {
        let lower = name.as_str();
        if RESPONSE_HEADERS_DROPPED.contains(&lower) || listed.iter().any(|l| l == lower) {
            continue;
        }
        passed.append(name.clone(), value.clone());
        let text = redact::clean_text(&String::from_utf8_lossy(value.as_bytes()));
        recorded.push((lower.to_owned(), text));
    }
    (passed, recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    #[test]
    fn hop_by_hop_and_agent_credentials_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-api-key", "dummy"),
            ("authorization", "Bearer dummy"),
            ("api-key", "dummy"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("accept-encoding", "gzip"),
            ("content-length", "10"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "a,b"),
            ("x-app", "cli"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-security-token", "agent-token"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let (forwarded, recorded, found) = forward_headers(&headers);
        let names: Vec<&str> = forwarded.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, vec!["anthropic-version", "anthropic-beta", "x-app"]);
        assert_eq!(recorded.len(), 3);
        assert!(found.is_empty());
    }
}
