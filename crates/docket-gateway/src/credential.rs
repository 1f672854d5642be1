//! Reading each upstream's real credential, once, at start, and turning it into the
//! header the provider expects. The value lives only in a sensitive `HeaderValue`;
//! nothing here formats it, and errors name the variable or file, never the value.

use std::fmt;

use axum::http::{HeaderName, HeaderValue};

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

/// Reads the credential of `upstream` and builds its header: Anthropic `x-api-key`,
/// OpenAI `Authorization: Bearer`, Azure OpenAI `api-key`.
pub(crate) fn load(upstream: &Upstream) -> Result<AuthHeader, GatewayError> {
    let (secret, source) = match &upstream.credential {
        Credential::Env(variable) => {
            let value = if variable.is_empty() {
                None
            } else {
                std::env::var(variable).ok()
            };
            match value.map(|v| v.trim().to_owned()) {
                Some(v) if !v.is_empty() => (v, format!("env:{variable}")),
                _ => {
                    return Err(GatewayError::CredentialEnvMissing {
                        upstream: upstream.name.clone(),
                        variable: variable.clone(),
                    });
                }
            }
        }
        Credential::File(path) => {
            check_file_mode(&upstream.name, path)?;
            let text =
                std::fs::read_to_string(path).map_err(|e| GatewayError::CredentialFileRead {
                    upstream: upstream.name.clone(),
                    path: path.clone(),
                    source: e.into(),
                })?;
            (text.trim().to_owned(), format!("file:{}", path.display()))
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
        Provider::OpenAi => (
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

/// A credential file must not be readable by group or others: a key any local user
/// can read is already leaked.
#[cfg(unix)]
fn check_file_mode(upstream: &str, path: &std::path::Path) -> Result<(), GatewayError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| GatewayError::CredentialFileRead {
        upstream: upstream.to_owned(),
        path: path.to_owned(),
        source: e.into(),
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(GatewayError::CredentialFileMode {
            upstream: upstream.to_owned(),
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file_mode(_upstream: &str, _path: &std::path::Path) -> Result<(), GatewayError> {
    Ok(())
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
            let header = load(&upstream(provider, Credential::File(path.clone()))).unwrap();
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
}
