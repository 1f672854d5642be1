//! Running git: every call goes through [`GitCall`], which gives git argv only (no
//! shell), docket's fixed `-c` settings (no hooks, no fsmonitor, no auto-gc), a
//! scrubbed environment (only the `GIT_*` variables that say how to reach a remote),
//! no system config, no terminal prompts and the C locale. Whatever git says back is
//! shown with credentials in URLs redacted.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{GitError, display_args};

/// Config given to every git command with `-c`, before the subcommand.
///
/// Hooks and fsmonitor would run user-controlled programs inside docket's own
/// operations, so they are switched off for every call, not just commits.
const BASE_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.quotePath=true",
    "gc.auto=0",
    "maintenance.auto=false",
    "commit.gpgSign=false",
    "i18n.commitEncoding=UTF-8",
];

/// Inherited `GIT_*` variables that may pass through to git; every other `GIT_*` variable
/// is removed. They only say how to reach a remote or where the global config lives;
/// anything that redirects the repository, the index, the identity or the config
/// (`GIT_DIR`, `GIT_INDEX_FILE`, `GIT_AUTHOR_*`, `GIT_CONFIG_PARAMETERS`, ...) must not.
const PASSED_GIT_VARS: &[&str] = &[
    "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL",
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
];
const PASSED_GIT_VAR_PREFIXES: &[&str] = &[
    "GIT_SSL_",
    "GIT_PROXY_",
    "GIT_HTTP_",
    "GIT_CURL_",
    "GIT_TRACE",
];

/// One git invocation: `git -c <config>... <args>` in `dir` with a scrubbed environment.
pub(crate) struct GitCall<'a> {
    dir: &'a Path,
    config: Vec<&'static str>,
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    stdin: Option<Vec<u8>>,
}

/// What a git call printed, and how it exited (`None` when killed by a signal).
pub(crate) struct GitOutput {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl GitOutput {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub(crate) fn stderr_text(&self) -> String {
        redact_credentials(String::from_utf8_lossy(&self.stderr).trim())
    }

    pub(crate) fn into_error(self, args: Vec<String>, dir: &Path) -> GitError {
        GitError::Command {
            stderr: self.stderr_text(),
            args,
            dir: dir.to_path_buf(),
            code: self.code,
        }
    }
}

impl<'a> GitCall<'a> {
    pub(crate) fn new(dir: &'a Path) -> Self {
        GitCall {
            dir,
            config: BASE_CONFIG.to_vec(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub(crate) fn config(mut self, setting: &'static str) -> Self {
        self.config.push(setting);
        self
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    pub(crate) fn env(mut self, key: &'static str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key, value.as_ref().to_os_string()));
        self
    }

    pub(crate) fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// The command as shown in errors and logs: the subcommand and its arguments,
    /// without the fixed `-c` settings, with credentials redacted.
    pub(crate) fn display_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|arg| redact_credentials(&arg.to_string_lossy()))
            .collect()
    }

    fn command(&self) -> Command {
        let mut command = Command::new("git");
        for setting in &self.config {
            command.arg("-c").arg(setting);
        }
        command.args(&self.args).current_dir(self.dir);
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            let passed = PASSED_GIT_VARS.contains(&key)
                || PASSED_GIT_VAR_PREFIXES
                    .iter()
                    .any(|prefix| key.starts_with(prefix));
            if key.starts_with("GIT_") && !passed {
                command.env_remove(key);
            }
        }
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("LC_ALL", "C");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs git and returns its output whatever the exit status; only a failure to run
    /// git at all is an error.
    pub(crate) async fn output(self) -> Result<GitOutput, GitError> {
        let args = self.display_args();
        tracing::debug!(dir = %self.dir.display(), args = %display_args(&args), "running git");
        let spawn_error = |source: io::Error| GitError::Spawn {
            args: args.clone(),
            dir: self.dir.to_path_buf(),
            source,
        };
        let mut child = self.command().spawn().map_err(spawn_error)?;
        let pipe = child.stdin.take();
        let feed = async {
            if let (Some(mut pipe), Some(bytes)) = (pipe, self.stdin.as_deref()) {
                pipe.write_all(bytes).await?;
                pipe.shutdown().await?;
            }
            Ok::<(), io::Error>(())
        };
        // Write stdin while draining stdout and stderr, so neither side can block the
        // other on a full pipe.
        let ((), output) = tokio::try_join!(feed, child.wait_with_output()).map_err(spawn_error)?;
        Ok(GitOutput {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// Runs git and returns its stdout; a non-zero exit is a [`GitError::Command`].
    pub(crate) async fn run(self) -> Result<Vec<u8>, GitError> {
        let args = self.display_args();
        let dir = self.dir;
        let output = self.output().await?;
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(output.into_error(args, dir))
        }
    }
}

/// Removes credentials from every URL in `text`: `scheme://user:secret@host` becomes
/// `scheme://user:****@host`, and `scheme://token@host` becomes `scheme://****@host`
/// (a lone user name is often a token).
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after_scheme) = rest.split_at(start + 3);
        out.push_str(before);
        let authority_end = after_scheme
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\'' | '"' | '`' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(after_scheme.len());
        let (authority, remainder) = after_scheme.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                let (userinfo, host) = authority.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _secret)) => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    None => out.push_str("****"),
                }
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = remainder;
    }
    out.push_str(rest);
    out
}

/// A full object id (SHA-1 or SHA-256) on git's stdout.
pub(crate) fn parse_object_id(stdout: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stdout).ok()?.trim();
    let valid = matches!(text.len(), 40 | 64)
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_truth_table() {
        let cases = [
            ("", ""),
            ("no urls here", "no urls here"),
            ("https://github.com/o/r.git", "https://github.com/o/r.git"),
            ("https://user:pass@host/r", "https://user:****@host/r"),
            ("https://user:pa:ss@host", "https://user:****@host"),
            ("https://user:p@ss@host/r", "https://user:****@host/r"),
            ("https://ghp_token@host/r", "https://****@host/r"),
            ("https://user:@host", "https://user:****@host"),
            (
                "fatal: 'https://a:b@x/y' and ssh://c:d@z",
                "fatal: 'https://a:****@x/y' and ssh://c:****@z",
            ),
            ("weird :// end", "weird :// end"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            (
                "user@example.com https://h/p?x=a@b",
                "user@example.com https://h/p?x=a@b",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_credentials(input), expected, "input {input:?}");
        }
    }
}
