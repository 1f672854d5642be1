//! The one place config tests call the parser, so each test states only its text
//! and the outcome it expects.

use super::{Config, ConfigError, parse_config};

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_config("docket.toml", text)
}

pub(super) fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("should not parse, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// Each text fails with exactly its message (all compared at once, so one run
/// shows every difference).
pub(super) fn assert_errors(cases: &[(&str, &str)]) {
    let actual: Vec<_> = cases.iter().map(|(text, _)| (*text, error(text))).collect();
    let expected: Vec<_> = cases
        .iter()
        .map(|(text, message)| (*text, (*message).to_owned()))
        .collect();
    assert_eq!(actual, expected);
}
