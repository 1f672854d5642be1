//! AWS for Bedrock upstreams (feature `bedrock`): the AWS keys that sign requests —
//! read once from docket's environment or from a shared credentials file — and
//! Signature Version 4 over each request as it is sent, with the `aws-sigv4` crate.
//!
//! Invariant: the keys live only in an `aws_credential_types::Credentials` inside the
//! signer (zeroized on drop, the secret hidden from `Debug`). What leaves this module
//! is one request's signing headers, marked sensitive, and a description that names
//! the source; errors name variables, files and key names, never values.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::{HeaderName, HeaderValue};

use crate::credential_source::{read_env, read_private_file};
use crate::error::GatewayError;
use crate::{Credential, Upstream};

/// The SigV4 signing name of Bedrock's runtime API.
pub(crate) const SERVICE: &str = "bedrock";

/// The profile of a shared credentials file that docket reads.
const PROFILE: &str = "default";

/// An access key pair and optional session token. No `Debug`: nothing prints it.
struct AwsKeys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// Signs requests to one upstream.
pub(crate) struct SigV4Signer {
    credentials: Credentials,
    region: String,
    service: &'static str,
    /// `env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY`, `file:PATH [default]`.
    source: String,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    fn new(keys: AwsKeys, region: &str, service: &'static str, source: String) -> SigV4Signer {
        SigV4Signer {
            credentials: Credentials::new(
                keys.access_key_id,
                keys.secret_access_key,
                keys.session_token,
                None,
                "docket",
            ),
            region: region.to_owned(),
            service,
            source,
        }
    }

    /// What entries record: that requests were SigV4-signed, for which service and
    /// region, with keys from where.
    pub(crate) fn describe(&self) -> String {
        format!(
            "aws-sigv4 ({}, {}) from {}",
            self.service, self.region, self.source
        )
    }

    /// The headers that sign one request — `x-amz-date`, `x-amz-security-token` for
    /// temporary credentials, and `authorization` — over exactly `method`, `url` (as
    /// it will be sent: percent-encoded once), the request's own headers in `signed`
    /// (`host` is taken from the URL) and the body bytes. The URL path is
    /// double-encoded in the canonical request, as AWS requires for every service but
    /// S3.
    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        signed: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("SigV4 parameters: {e}"))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            signed.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("the request cannot be signed: {e}"))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("SigV4 signing failed: {e}"))?
            .into_parts();
        let (headers, _query) = instructions.into_parts();
        headers
            .into_iter()
            .map(|header| {
                let name = HeaderName::from_bytes(header.name().as_bytes())
                    .map_err(|e| format!("SigV4 header {}: {e}", header.name()))?;
                let mut value = HeaderValue::from_str(header.value())
                    .map_err(|_| format!("SigV4 header {} is not a header value", header.name()))?;
                // The signature and the session token are the credential side.
                value.set_sensitive(
                    header.sensitive() || name == "authorization" || name == "x-amz-security-token",
                );
                Ok((name, value))
            })
            .collect()
    }
}

/// The signer of a Bedrock upstream with AWS keys (`Credential::AwsEnv` or a shared
/// credentials file).
pub(crate) fn load_signer(upstream: &Upstream) -> Result<SigV4Signer, GatewayError> {
    let region = upstream
        .region
        .as_deref()
        .ok_or_else(|| GatewayError::RegionMissing {
            upstream: upstream.name.clone(),
        })?;
    let (keys, source) = match &upstream.credential {
        Credential::AwsEnv => keys_from_env(&upstream.name, &|variable| {
            read_env(&upstream.name, variable).ok()
        })?,
        Credential::File(path) => {
            let text = read_private_file(&upstream.name, path)?;
            let keys = parse_shared_credentials(&text).map_err(|reason| {
                GatewayError::CredentialFileFormat {
                    upstream: upstream.name.clone(),
                    path: path.clone(),
                    reason,
                }
            })?;
            (keys, format!("file:{} [{PROFILE}]", path.display()))
        }
        Credential::Env(_) => {
            return Err(GatewayError::CredentialUnsupported {
                upstream: upstream.name.clone(),
                provider: upstream.provider.as_str(),
            });
        }
    };
    // Each value goes into a header (the token as is, the key id in `authorization`).
    let usable = |value: &str| {
        !value.is_empty()
            && value.bytes().all(|b| b.is_ascii_graphic())
            && HeaderValue::from_str(value).is_ok()
    };
    if !usable(&keys.access_key_id)
        || !usable(&keys.secret_access_key)
        || !keys.session_token.as_deref().is_none_or(usable)
    {
        return Err(GatewayError::CredentialInvalid {
            upstream: upstream.name.clone(),
            source_name: source,
        });
    }
    Ok(SigV4Signer::new(keys, region, SERVICE, source))
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`
/// through `lookup` (trimmed, non-empty values only), and the source they name.
fn keys_from_env(
    upstream: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(AwsKeys, String), GatewayError> {
    let required = |variable: &str| {
        lookup(variable).ok_or_else(|| GatewayError::CredentialEnvMissing {
            upstream: upstream.to_owned(),
            variable: variable.to_owned(),
        })
    };
    let keys = AwsKeys {
        access_key_id: required("AWS_ACCESS_KEY_ID")?,
        secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
        session_token: lookup("AWS_SESSION_TOKEN"),
    };
    let mut source = "env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY".to_owned();
    if keys.session_token.is_some() {
        source.push_str(",AWS_SESSION_TOKEN");
    }
    Ok((keys, source))
}

/// The `[default]` profile of an AWS shared credentials file (INI: `[profile]`
/// sections, `key = value` lines, `#` and `;` comment lines). The error names what is
/// missing, never a value.
fn parse_shared_credentials(text: &str) -> Result<AwsKeys, String> {
    let mut in_profile = false;
    let mut seen_profile = false;
    let (mut access_key_id, mut secret_access_key, mut session_token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == PROFILE;
            seen_profile |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => access_key_id = Some(value),
            "aws_secret_access_key" => secret_access_key = Some(value),
            "aws_session_token" => session_token = Some(value),
            _ => {}
        }
    }
    if !seen_profile {
        return Err(format!("it has no [{PROFILE}] profile"));
    }
    let required = |value: Option<String>, key: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the [{PROFILE}] profile has no {key}"))
    };
    Ok(AwsKeys {
        access_key_id: required(access_key_id, "aws_access_key_id")?,
        secret_access_key: required(secret_access_key, "aws_secret_access_key")?,
        session_token: session_token.filter(|t| !t.is_empty()),
    })
}

/// Whether `region` is shaped like an AWS region name (`us-east-1`, `us-gov-west-1`,
/// `ap-southeast-4`). It becomes part of the default endpoint's host name, so nothing
/// else passes.
pub(crate) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let letters = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    region.len() <= 32
        && parts.len() >= 3
        && parts.first().is_some_and(|p| p.len() == 2 && letters(p))
        && parts
            .last()
            .is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .get(1..parts.len() - 1)
            .is_some_and(|middle| middle.iter().all(letters))
}

/// Bedrock's runtime endpoint in `region`.
pub(crate) fn default_base_url(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials of AWS's Signature Version 4 test suite.
    fn suite_signer(session_token: Option<&str>) -> SigV4Signer {
        let keys = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: session_token.map(str::to_owned),
        };
        SigV4Signer::new(keys, "us-east-1", "service", "test".into())
    }

    fn suite_time() -> SystemTime {
        let at: jiff::Timestamp = "2015-08-30T12:36:00Z".parse().unwrap();
        SystemTime::from(at)
    }

    fn header<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Known answers from AWS's published Signature Version 4 test suite
    /// (aws-sig-v4-test-suite: `post-vanilla`, `post-x-www-form-urlencoded`,
    /// `post-sts-token/post-sts-header-before`), signed as of 2015-08-30T12:36:00Z for
    /// service `service` in us-east-1 with AKIDEXAMPLE.
    #[test]
    fn signatures_match_the_aws_test_suite() {
        let scope = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
        /// Name, session token, signed request headers, body, signed headers, signature.
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [(&'a str, &'a str)],
            &'a [u8],
            &'a str,
            &'a str,
        );
        let cases: [Case<'_>; 3] = [
            (
                "post-vanilla",
                None,
                &[],
                b"",
                "host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "post-x-www-form-urlencoded",
                None,
                &[("content-type", "application/x-www-form-urlencoded")],
                b"Param1=value1",
                "content-type;host;x-amz-date",
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
            (
                "post-sts-header-before",
                Some(
                    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==",
                ),
                &[],
                b"",
                "host;x-amz-date;x-amz-security-token",
                "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            ),
        ];
        for (name, token, signed, body, signed_headers, signature) in cases {
            let signer = suite_signer(token);
            let headers = signer
                .sign(
                    "POST",
                    "https://example.amazonaws.com/",
                    signed,
                    body,
                    suite_time(),
                )
                .unwrap();
            assert_eq!(
                header(&headers, "authorization"),
                format!(
                    "AWS4-HMAC-SHA256 {scope}, SignedHeaders={signed_headers}, Signature={signature}"
                ),
                "{name}"
            );
            assert_eq!(header(&headers, "x-amz-date"), "20150830T123600Z", "{name}");
            if let Some(token) = token {
                assert_eq!(header(&headers, "x-amz-security-token"), token);
            }
            for (name, value) in &headers {
                assert_eq!(
                    value.is_sensitive(),
                    name != "x-amz-date",
                    "{name} sensitivity"
                );
            }
        }
    }

    #[test]
    fn the_signer_never_prints_its_keys() {
        let signer = suite_signer(Some("TOKENVALUE"));
        let debug = format!("{signer:?}");
        for secret in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "TOKENVALUE"] {
            assert!(!debug.contains(secret), "{debug}");
            assert!(!signer.describe().contains(secret));
        }
        assert_eq!(
            signer.describe(),
            "aws-sigv4 (service, us-east-1) from test"
        );
    }

    #[test]
    fn shared_credentials_files_give_their_default_profile() {
        let text = "# docket\n[work]\naws_access_key_id = OTHER\n\n[default]\naws_access_key_id=AKIDEXAMPLE\n  aws_secret_access_key = se/cr+et \n; a comment\naws_session_token = tok\nregion = us-east-1\n";
        let keys = parse_shared_credentials(text).unwrap();
        assert_eq!(keys.access_key_id, "AKIDEXAMPLE");
        assert_eq!(keys.secret_access_key, "se/cr+et");
        assert_eq!(keys.session_token.as_deref(), Some("tok"));
        let keys =
            parse_shared_credentials("[default]\naws_access_key_id=a\naws_secret_access_key=b\n")
                .unwrap();
        assert_eq!(keys.session_token, None);
        for (text, expected) in [
            (
                "[work]\naws_access_key_id=a\n",
                "it has no [default] profile",
            ),
            ("plain-key-value\n", "it has no [default] profile"),
            (
                "[default]\naws_secret_access_key=s3cr3t\n",
                "the [default] profile has no aws_access_key_id",
            ),
            (
                "[default]\naws_access_key_id=a\naws_secret_access_key=\n",
                "the [default] profile has no aws_secret_access_key",
            ),
        ] {
            let err = parse_shared_credentials(text).err().unwrap();
            assert_eq!(err, expected);
            assert!(!err.contains("s3cr3t"));
        }
    }

    #[test]
    fn environment_keys_name_what_is_missing() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let (keys, source) = keys_from_env(
            "up",
            &env(&[
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_SESSION_TOKEN", "token"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                keys.access_key_id.as_str(),
                keys.secret_access_key.as_str(),
                keys.session_token.as_deref()
            ),
            ("id", "secret", Some("token"))
        );
        assert_eq!(
            source,
            "env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN"
        );
        let (_, source) = keys_from_env(
            "up",
            &env(&[("AWS_ACCESS_KEY_ID", "id"), ("AWS_SECRET_ACCESS_KEY", "s")]),
        )
        .unwrap();
        assert_eq!(source, "env:AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY");
        let err = keys_from_env("up", &env(&[("AWS_ACCESS_KEY_ID", "id")]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        assert!(err.contains("upstream up"), "{err}");
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1.evil.example",
            "us-east-1/x",
            "u-east-1",
            "us--1",
            "us-east-123",
            "useast1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        assert_eq!(
            default_base_url("eu-west-3"),
            "https://bedrock-runtime.eu-west-3.amazonaws.com"
        );
    }
}
