//! Reading a credential's text from where it is kept — a variable of docket's own
//! environment, or a file only its owner can read — for every provider's credential
//! (`credential`) and Bedrock's AWS keys (`aws`) alike. Errors name the variable or
//! file, never the value.

use std::path::Path;

use crate::error::GatewayError;

/// The value of `variable` in docket's own environment, trimmed; an unset or empty
/// variable is an error naming it.
pub(crate) fn read_env(upstream: &str, variable: &str) -> Result<String, GatewayError> {
    let value = if variable.is_empty() {
        None
    } else {
        std::env::var(variable).ok()
    };
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(GatewayError::CredentialEnvMissing {
            upstream: upstream.to_owned(),
            variable: variable.to_owned(),
        }),
    }
}

/// The text of a credential file, after checking that only its owner can read it.
pub(crate) fn read_private_file(upstream: &str, path: &Path) -> Result<String, GatewayError> {
    check_file_mode(upstream, path)?;
    std::fs::read_to_string(path).map_err(|e| GatewayError::CredentialFileRead {
        upstream: upstream.to_owned(),
        path: path.to_owned(),
        source: e.into(),
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
