//! `[rules]`, `[validation]` and `[checks]`: what a change may touch and which checks
//! judge it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::units::deserialize_duration;

/// Paths an agent may never change, whatever `docket.toml` says: CI definitions and
/// docket's own configuration and state. Otherwise an agent could weaken the checks
/// that judge it.
pub const DEFAULT_FORBIDDEN: &[&str] = &[
    ".github/workflows/**",
    ".gitlab-ci.yml",
    "docket.toml",
    ".docket/**",
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    pub allowed_paths: Vec<String>,
    /// In addition to [`DEFAULT_FORBIDDEN`]; see [`RulesConfig::forbidden_globs`].
    pub forbidden_paths: Vec<String>,
    pub max_files: u32,
    pub max_lines: u32,
    pub secrets: bool,
    /// The largest binary file the secrets rule reads; a larger one fails the rule,
    /// since a file that was not scanned may hold a secret.
    pub max_scan_bytes: u64,
}

/// Default [`RulesConfig::max_scan_bytes`]: 8 MiB.
pub const DEFAULT_MAX_SCAN_BYTES: u64 = 8 * 1024 * 1024;

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            allowed_paths: vec!["**".into()],
            forbidden_paths: Vec::new(),
            max_files: 50,
            max_lines: 2000,
            secrets: true,
            max_scan_bytes: DEFAULT_MAX_SCAN_BYTES,
        }
    }
}

impl RulesConfig {
    /// [`DEFAULT_FORBIDDEN`] followed by the configured `forbidden_paths`. Use this, not
    /// the field, so the built-in protections cannot be configured away.
    pub fn forbidden_globs(&self) -> Vec<&str> {
        DEFAULT_FORBIDDEN
            .iter()
            .copied()
            .chain(self.forbidden_paths.iter().map(String::as_str))
            .collect()
    }
}

/// How a check counts: not run, run and recorded, or run and blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Off,
    Advisory,
    Required,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::Advisory => "advisory",
            Mode::Required => "required",
        })
    }
}

/// Most repair rounds allowed; each round is a full agent run.
pub const MAX_REPAIR_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    pub mode: Mode,
    /// argv lists run before `commands`.
    pub setup: Vec<Vec<String>>,
    /// argv lists; each is one validation command.
    pub commands: Vec<Vec<String>>,
    /// Per command.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    pub repair_attempts: u32,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            setup: Vec::new(),
            commands: Vec::new(),
            timeout: Duration::from_secs(5 * 60),
            repair_attempts: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    pub idempotency: Mode,
    pub reproducibility: Mode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_globs_always_include_defaults() {
        let rules = RulesConfig {
            forbidden_paths: vec!["secrets/**".into()],
            ..RulesConfig::default()
        };
        assert_eq!(
            rules.forbidden_globs(),
            [
                ".github/workflows/**",
                ".gitlab-ci.yml",
                "docket.toml",
                ".docket/**",
                "secrets/**"
            ]
        );
        assert_eq!(RulesConfig::default().forbidden_globs(), DEFAULT_FORBIDDEN);
    }
}
