//! Secret detection and redaction: the built-in rules (modelled on gitleaks' default
//! rule set, MIT), scanning text for secrets and replacing each with
//! `[REDACTED:<rule-id>]`. A finding names a secret by fingerprint, never by value.
//!
//! Invariant: no value this module returns holds secret text, apart from the
//! unredacted parts of the caller's own input.
//!
//! Split by concern: `rules` is the table of built-in patterns, `credential` judges
//! whether a matched value is a real credential, `scanner` compiles the rules and
//! finds secrets, and `redact` replaces them.

mod credential;
mod redact;
mod rules;
mod scanner;
#[cfg(test)]
mod test_support;

pub use scanner::{SCANNER_UNAVAILABLE_RULE_ID, SecretFinding, SecretRule, SecretScanner};

#[cfg(test)]
mod tests {
    use super::*;

    /// Test tokens are built at run time, so no file of this module holds anything a
    /// scanner (this one included) would flag.
    #[test]
    fn this_modules_source_files_hold_no_secrets() {
        let files = [
            ("mod.rs", include_str!("mod.rs")),
            ("credential.rs", include_str!("credential.rs")),
            ("redact.rs", include_str!("redact.rs")),
            ("rules.rs", include_str!("rules.rs")),
            ("scanner.rs", include_str!("scanner.rs")),
            ("test_support.rs", include_str!("test_support.rs")),
        ];
        for (name, text) in files {
            assert_eq!(SecretScanner::builtin().scan(text), vec![], "{name}");
        }
    }
}
