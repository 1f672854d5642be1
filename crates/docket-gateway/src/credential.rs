//! Reading each upstream's real credential, once, at start, and turning it into what
//! authenticates a request: the header the provider expects, or (Bedrock, feature
//! `bedrock`) a SigV4 signer. The value lives only in a sensitive `HeaderValue` or the
//! signer; nothing here formats it, and errors name the variable or file, never the
//! value.

use std::fmt;

use axum::http::{HeaderName, HeaderValue};

use crate::credential_source::{read_env, read_private_file};
use crate::error::GatewayError;
use crate::{Credential, Provider, Upstream};

/// The header that carries an upstream's credential, marked sensitive so that
/// `Debug` and HTTP/2 header compression treat it as a secret.
#[derive(Clone)]
pub(crate) struct AuthHeader {
    pub(crate) name: HeaderName,
    pub(crate) value: HeaderValue,
    /// Where the credential came from (`env:NAME`, `file:PATH`), for entries.
    pub(crate) source: String,
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: [credential from {}]", self.name, self.source)
    }
}

/// How requests to an upstream are authenticated.
#[derive(Debug)]
pub(crate) enum UpstreamAuth {
    /// One header per request (`x-api-key`, `Authorization: Bearer`, `api-key`).
    Header(AuthHeader),
    /// AWS Signature Version 4 over each request as sent (Bedrock with AWS keys).
    #[cfg(feature = "bedrock")]
    SigV4(crate::aws::SigV4Signer),
}

impl UpstreamAuth {
    /// What entries record as the request's `credential`: the scheme and where the
    /// credential came from, never a value or a signature.
    pub(crate) fn describe(&self) -> String {
        match self {
            UpstreamAuth::Header(header) => format!("{} from {}", header.name, header.source),
            #[cfg(feature = "bedrock")]
            UpstreamAuth::SigV4(signer) => signer.describe(),
        }
    }
}

/// Reads the credential of `upstream`: Anthropic `x-api-key`, OpenAI and Bedrock API
/// keys `Authorization: Bearer`, Azure OpenAI `api-key`, or a SigV4 signer for
/// Bedrock with AWS keys (environment or shared credentials file).
pub(crate) fn load(upstream: &Upstream) -> Result<UpstreamAuth, GatewayError> {
    match (&upstream.credential, upstream.provider) {
        (Credential::AwsEnv | Credential::File(_), Provider::Bedrock) => signer(upstream),
        (Credential::AwsEnv, provider) => Err(GatewayError::CredentialUnsupported {
            upstream: upstream.name.clone(),
            provider: provider.as_str(),
        }),
        (Credential::Env(_) | Credential::File(_), _) => header(upstream).map(UpstreamAuth::Header),
    }
}

#[cfg(feature = "bedrock")]
fn signer(upstream: &Upstream) -> Result<UpstreamAuth, GatewayError> {
    crate::aws::load_signer(upstream).map(UpstreamAuth::SigV4)
}

#[cfg(not(feature = "bedrock"))]
fn signer(upstream: &Upstream) -> Result<UpstreamAuth, GatewayError> {
    Err(GatewayError::BedrockNotBuilt {
        upstream: upstream.name.clone(),
    })
}

fn header(upstream: &Upstream) -> Result<AuthHeader, GatewayError> {
    let (secret, source) = match &upstream.credential {
        Credential::Env(variable) => (
            read_env(&upstream.name, variable)?,
            format!("env:{variable}"),
        ),
        Credential::File(path) => (
            read_private_file(&upstream.name, path)?.trim().to_owned(),
            format!("file:{}", path.display()),
        ),
        Credential::AwsEnv => {
            return Err(GatewayError::CredentialUnsupported {
                upstream: upstream.name.clone(),
                provider: upstream.provider.as_str(),
            });
        }
    };
    let invalid = || GatewayError::CredentialInvalid {
        upstream: upstream.name.clone(),
        source_name: source.clone(),
    };
    if secret.is_empty() {
        return Err(invalid());
    }
    let (name, text) = match upstream.provider {
        Provider::Anthropic => (HeaderName::from_static("x-api-key"), secret),
        Provider::OpenAi | Provider::Bedrock => (
            HeaderName::from_static("authorization"),
            format!("Bearer {secret}"),
        ),
        Provider::AzureOpenAi => (HeaderName::from_static("api-key"), secret),
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| invalid())?;
    value.set_sensitive(true);
    Ok(AuthHeader {
        name,
        value,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn upstream(provider: Provider, credential: Credential) -> Upstream {
        Upstream {
            name: "up".into(),
            provider,
            base_url: "https://example.invalid".into(),
            credential,
            region: Some("us-east-1".into()),
        }
    }

    fn header_of(auth: UpstreamAuth) -> AuthHeader {
        match auth {
            UpstreamAuth::Header(header) => header,
            #[cfg(feature = "bedrock")]
            other => panic!("not a header credential: {other:?}"),
        }
    }

    #[test]
    fn file_credentials_need_owner_only_mode_and_errors_never_hold_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-file-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&upstream(
            Provider::Anthropic,
            Credential::File(path.clone()),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("0644"), "{err}");
        assert!(!err.contains("sk-file-value"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        for (provider, name, value) in [
            (Provider::Anthropic, "x-api-key", "sk-file-value"),
            (Provider::OpenAi, "authorization", "Bearer sk-file-value"),
            (Provider::AzureOpenAi, "api-key", "sk-file-value"),
        ] {
            let auth = load(&upstream(provider, Credential::File(path.clone()))).unwrap();
            assert_eq!(
                auth.describe(),
                format!("{name} from file:{}", path.display())
            );
            let header = header_of(auth);
            assert_eq!(header.name, name);
            assert_eq!(header.value, value);
            assert!(header.value.is_sensitive());
            let debug = format!("{header:?}");
            assert!(!debug.contains("sk-file-value"), "{debug}");
        }
    }

    #[test]
    fn a_missing_variable_or_file_is_named() {
        let err = load(&upstream(
            Provider::OpenAi,
            Credential::Env("DOCKET_TEST_SURELY_UNSET_VARIABLE".into()),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("DOCKET_TEST_SURELY_UNSET_VARIABLE"), "{err}");
        assert!(err.contains("upstream up"), "{err}");
        let err = load(&upstream(
            Provider::OpenAi,
            Credential::File("/nonexistent/docket/key".into()),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/docket/key"), "{err}");
    }

    #[test]
    fn the_aws_environment_credential_is_for_bedrock_only() {
        let err = load(&upstream(Provider::Anthropic, Credential::AwsEnv))
            .unwrap_err()
            .to_string();
        assert!(err.contains("for bedrock upstreams only"), "{err}");
        assert!(
            err.contains("provider anthropic takes its API key"),
            "{err}"
        );
    }

    #[test]
    fn a_bedrock_api_key_is_a_bearer_token() {
        // PATH is set in every test environment; its value stands in for a key.
        let auth = load(&upstream(Provider::Bedrock, Credential::Env("PATH".into()))).unwrap();
        assert_eq!(auth.describe(), "authorization from env:PATH");
        let header = header_of(auth);
        let path = std::env::var("PATH").unwrap();
        assert_eq!(header.value, format!("Bearer {}", path.trim()).as_str());
        assert!(header.value.is_sensitive());
    }

    #[cfg(not(feature = "bedrock"))]
    #[test]
    fn aws_keys_need_the_bedrock_feature() {
        for credential in [Credential::AwsEnv, Credential::File("/tmp/creds".into())] {
            let err = load(&upstream(Provider::Bedrock, credential))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(
                    "built without the `bedrock` feature; rebuild with --features bedrock"
                ),
                "{err}"
            );
        }
    }
}
