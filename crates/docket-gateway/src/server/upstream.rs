//! The upstreams a gateway calls: each resolved once at start (its base URL checked,
//! its credential read), and the real credential put on every request that leaves.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::http::HeaderMap;
#[cfg(feature = "bedrock")]
use axum::http::header;

use super::Shared;
use crate::credential::{self, UpstreamAuth};
use crate::error::GatewayError;
use crate::{Provider, Upstream};

/// An upstream ready for use.
#[derive(Debug)]
pub(crate) struct ResolvedUpstream {
    pub(crate) name: String,
    provider: Provider,
    /// No trailing `/`.
    base: String,
    pub(crate) auth: UpstreamAuth,
}

impl ResolvedUpstream {
    /// The upstream URL of a request path (below the run's base URL) and query.
    pub(super) fn url(&self, path: &str, query: Option<&str>) -> String {
        let base = match self.base.strip_suffix("/v1") {
            Some(root) if path.starts_with("/v1/") => root,
            _ => &self.base,
        };
        match query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        }
    }
}

/// `https://`, or `http://` to a loopback address only: the real credential goes
/// there. No user info, query or fragment.
fn check_base_url(name: &str, url: &str) -> Result<String, GatewayError> {
    let bad = |reason: &str| GatewayError::UpstreamUrl {
        upstream: name.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let Some(host) = parsed.host_str() else {
        return Err(bad("it has no host"));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(bad(
                "use https:// (plain http only to a loopback address): the gateway sends the real credential there",
            ));
        }
        other => return Err(bad(&format!("scheme {other:?} is not http(s)"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials do not belong in the URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The `base_url` a Bedrock upstream is called at: its own, or its region's runtime
/// endpoint when it is empty. The region must be a region name: it is signed for.
#[cfg(feature = "bedrock")]
fn bedrock_base_url(upstream: &Upstream) -> Result<String, GatewayError> {
    let region = upstream
        .region
        .as_deref()
        .ok_or_else(|| GatewayError::RegionMissing {
            upstream: upstream.name.clone(),
        })?;
    if !crate::aws::is_region(region) {
        return Err(GatewayError::RegionInvalid {
            upstream: upstream.name.clone(),
            region: region.to_owned(),
        });
    }
    Ok(if upstream.base_url.trim().is_empty() {
        crate::aws::default_base_url(region)
    } else {
        upstream.base_url.clone()
    })
}

/// Without the `bedrock` feature a Bedrock upstream cannot be served: refusing to
/// start says so before the run relies on it.
#[cfg(not(feature = "bedrock"))]
fn bedrock_base_url(upstream: &Upstream) -> Result<String, GatewayError> {
    Err(GatewayError::BedrockNotBuilt {
        upstream: upstream.name.clone(),
    })
}

pub(super) fn resolve(upstream: &Upstream) -> Result<ResolvedUpstream, GatewayError> {
    let base_url = match upstream.provider {
        Provider::Bedrock => bedrock_base_url(upstream)?,
        Provider::Anthropic | Provider::OpenAi | Provider::AzureOpenAi => upstream.base_url.clone(),
    };
    let base = check_base_url(&upstream.name, &base_url)?;
    let auth = credential::load(upstream)?;
    Ok(ResolvedUpstream {
        name: upstream.name.clone(),
        provider: upstream.provider,
        base,
        auth,
    })
}

impl Shared {
    pub(super) fn upstream_for(&self, provider: Provider) -> Option<&ResolvedUpstream> {
        self.upstreams.iter().find(|u| u.provider == provider)
    }
}

/// Adds the credential to a request about to be sent: the provider's header, or the
/// SigV4 headers computed over exactly these headers, URL and body (so it runs after
/// redaction, on the bytes that leave).
#[cfg_attr(not(feature = "bedrock"), allow(unused_variables))]
pub(super) fn authenticate(
    auth: &UpstreamAuth,
    url: &str,
    headers: &mut HeaderMap,
    body: &Bytes,
) -> Result<(), String> {
    match auth {
        UpstreamAuth::Header(header) => {
            headers.insert(header.name.clone(), header.value.clone());
            Ok(())
        }
        #[cfg(feature = "bedrock")]
        UpstreamAuth::SigV4(signer) => {
            // Signed: the content type (what the body is); `host` comes from the URL,
            // the body by its hash. SigV4 lets the signer choose the headers it
            // covers: the other forwarded ones travel unsigned.
            let content_types: Vec<&str> = headers
                .get_all(header::CONTENT_TYPE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let signed: Vec<(&str, &str)> = content_types
                .iter()
                .map(|value| ("content-type", *value))
                .collect();
            let added = signer.sign("POST", url, &signed, body, std::time::SystemTime::now())?;
            for (name, value) in added {
                headers.insert(name, value);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(provider: Provider, base: &str, region: Option<&str>) -> Upstream {
        Upstream {
            name: "u".into(),
            provider,
            base_url: base.into(),
            credential: crate::Credential::Env("PATH".into()),
            region: region.map(str::to_owned),
        }
    }

    fn resolved(base: &str) -> ResolvedUpstream {
        resolve(&upstream(Provider::OpenAi, base, None)).unwrap()
    }

    #[test]
    fn upstream_urls_keep_paths_and_queries_and_do_not_double_v1() {
        assert_eq!(
            resolved("https://api.openai.com").url("/v1/responses", None),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            resolved("https://api.openai.com/v1/").url("/v1/responses", None),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            resolved("https://r.openai.azure.com").url(
                "/openai/deployments/d/chat/completions",
                Some("api-version=2024-10-21")
            ),
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            resolved("http://127.0.0.1:9/proxy").url("/v1/messages", Some("beta=true")),
            "http://127.0.0.1:9/proxy/v1/messages?beta=true"
        );
    }

    #[test]
    fn base_urls_must_be_https_or_loopback() {
        for ok in [
            "https://api.anthropic.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(check_base_url("u", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://api.anthropic.com", "use https://"),
            ("https://user:pw@api.example.com", "credentials"),
            ("https://api.example.com/?key=1", "query"),
            ("ftp://x", "scheme"),
            ("not a url", "not usable"),
        ] {
            let err = check_base_url("u", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("upstream u"), "{err}");
        }
    }

    #[cfg(feature = "bedrock")]
    #[test]
    fn bedrock_upstreams_need_a_region_and_default_to_its_endpoint() {
        let resolved = resolve(&upstream(Provider::Bedrock, "", Some("eu-west-3"))).unwrap();
        assert_eq!(
            resolved.url("/model/m/converse", None),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m/converse"
        );
        let resolved = resolve(&upstream(
            Provider::Bedrock,
            "http://127.0.0.1:9",
            Some("us-east-1"),
        ))
        .unwrap();
        assert_eq!(resolved.base, "http://127.0.0.1:9");
        let err = resolve(&upstream(Provider::Bedrock, "", None))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "upstream u: a bedrock upstream needs its AWS region (e.g. us-east-1)"
        );
        let err = resolve(&upstream(Provider::Bedrock, "", Some("evil.example/x")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"evil.example/x\" is not an AWS region name"),
            "{err}"
        );
    }

    #[cfg(not(feature = "bedrock"))]
    #[tokio::test]
    async fn without_the_feature_a_bedrock_upstream_stops_the_start() {
        use std::sync::Arc;

        use docket_ledger::Ledger;

        use crate::{Gateway, GatewayConfig};

        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(
            Ledger::open(&docket_ledger::LedgerConfig::sqlite_in(
                dir.path().join("home"),
            ))
            .await
            .unwrap(),
        );
        let config = GatewayConfig::new(
            vec![upstream(Provider::Bedrock, "", Some("us-east-1"))],
            vec!["*".into()],
        );
        let err = Gateway::start(config, ledger, "r").await.unwrap_err();
        assert!(matches!(err, GatewayError::BedrockNotBuilt { .. }));
        assert_eq!(
            err.to_string(),
            "upstream u: this docket was built without the `bedrock` feature; rebuild with --features bedrock"
        );
    }
}
