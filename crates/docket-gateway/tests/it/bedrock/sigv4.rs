//! SigV4, independently: AWS's "Create a signed AWS API request" steps, recomputed
//! with hmac and sha2 (never with the gateway's signer) to check what the fake
//! Bedrock runtime receives, and checked itself against AWS's published test suite.

use axum::http::{HeaderMap, header};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS's UriEncode: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper case).
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The canonical request of a request as the server received it. The path arrives
/// encoded once; outside S3 each segment is encoded again.
fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let path: Vec<String> = raw_path.split('/').map(uri_encode).collect();
    let mut query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k), uri_encode(v))
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        path.join("/"),
        query.join("&")
    )
}

/// The signature of `canonical` for `secret` at `amz_date` in `region`/`service`.
fn signature(secret: &str, amz_date: &str, region: &str, service: &str, canonical: &str) -> String {
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    let key = hmac_sha256(&key, b"aws4_request");
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// What the fake runtime expects of each request's credential.
#[derive(Clone)]
pub(super) enum FakeAuth {
    SigV4 {
        access_key_id: String,
        secret: String,
        session_token: Option<String>,
        region: String,
    },
    Bearer(String),
}

/// Checks a received request's credential; `Ok` says what was signed.
pub(super) fn verify(
    auth: &FakeAuth,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or("no authorization header")?
        .to_str()
        .unwrap();
    let (access_key_id, secret, session_token, region) = match auth {
        FakeAuth::Bearer(key) => {
            return (authorization == format!("Bearer {key}"))
                .then(|| "bearer".to_owned())
                .ok_or_else(|| "wrong bearer token".to_owned());
        }
        FakeAuth::SigV4 {
            access_key_id,
            secret,
            session_token,
            region,
        } => (access_key_id, secret, session_token, region),
    };
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name))
            .ok_or(format!("no {name}"))
    };
    let credential = field("Credential=")?;
    let signed_headers = field("SignedHeaders=")?;
    let claimed = field("Signature=")?;
    let amz_date = headers["x-amz-date"].to_str().unwrap();
    let expected_scope = format!(
        "{access_key_id}/{}/{region}/bedrock/aws4_request",
        &amz_date[..8]
    );
    if credential != expected_scope {
        return Err(format!("credential scope {credential}"));
    }
    let mut required = vec!["content-type", "host", "x-amz-date"];
    if let Some(token) = session_token {
        required.push("x-amz-security-token");
        if headers["x-amz-security-token"] != token.as_str() {
            return Err("wrong session token".into());
        }
    }
    if signed_headers != required.join(";") {
        return Err(format!("signed headers {signed_headers}"));
    }
    let canonical = canonical_request(
        method,
        path,
        query,
        headers,
        signed_headers,
        &sha256_hex(body),
    );
    let computed = signature(secret, amz_date, region, "bedrock", &canonical);
    if computed != claimed {
        return Err(format!(
            "signature mismatch; canonical request:\n{canonical}"
        ));
    }
    Ok(signed_headers.to_owned())
}

/// The verifier against AWS's Signature Version 4 test suite (`post-x-www-form-
/// urlencoded`, `post-sts-token/post-sts-header-before`, `get-vanilla-query-order-key-
/// case`), so that a pass below means the gateway's signatures are AWS's.
#[test]
fn the_test_verifier_reproduces_the_aws_test_suite() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    };
    let cases = [
        (
            "POST",
            "",
            headers(&[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ]),
            "content-type;host;x-amz-date",
            &b"Param1=value1"[..],
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        (
            "POST",
            "",
            headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("x-amz-security-token", token),
            ]),
            "host;x-amz-date;x-amz-security-token",
            &b""[..],
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ),
        (
            "GET",
            "Param2=value2&Param1=value1",
            headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ]),
            "host;x-amz-date",
            &b""[..],
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ];
    for (method, query, headers, signed, body, expected) in cases {
        let canonical = canonical_request(method, "/", query, &headers, signed, &sha256_hex(body));
        assert_eq!(
            signature(
                secret,
                "20150830T123600Z",
                "us-east-1",
                "service",
                &canonical
            ),
            expected
        );
    }
}
