//! [`SecretScanner`]: the compiled rules, finding secrets in text and naming each by
//! rule, position and fingerprint.

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet, RegexSetBuilder};
use sha2::{Digest, Sha256};

use super::credential::{
    credential_key_name, is_credential_key, is_credential_value, shannon_entropy,
};
use super::rules::{RULE_DEFS, RuleDef, Validation};

/// Rule id reported when the built-in rules failed to compile. It cannot happen with
/// the built-in patterns (a test compiles them), but if it did, every scan fails closed:
/// the whole text is one finding and redaction removes all of it.
pub const SCANNER_UNAVAILABLE_RULE_ID: &str = "secret-scanner-unavailable";

/// Prefix hashed before the secret, so a fingerprint is not a plain SHA-256 that
/// could be looked up in a table of hashed common passwords.
const FINGERPRINT_DOMAIN: &[u8] = b"docket secret fingerprint v1\n";

/// One built-in detection rule.
#[derive(Debug)]
pub struct SecretRule {
    /// Stable id, following gitleaks' where one exists (`github-pat`, `jwt`, ...).
    pub id: &'static str,
    pub description: &'static str,
    regex: Regex,
    validation: Validation,
    /// Indexes of the capture groups that hold the secret; empty means the whole match.
    secret_groups: Vec<usize>,
    key_group: Option<usize>,
}

impl SecretRule {
    fn compile(def: &RuleDef) -> Result<SecretRule, regex::Error> {
        let regex = Regex::new(def.pattern)?;
        let mut secret_groups = Vec::new();
        let mut key_group = None;
        for (index, name) in regex.capture_names().enumerate() {
            match name {
                Some(name) if name.starts_with("secret") => secret_groups.push(index),
                Some("key") => key_group = Some(index),
                _ => {}
            }
        }
        Ok(SecretRule {
            id: def.id,
            description: def.description,
            regex,
            validation: def.validation,
            secret_groups,
            key_group,
        })
    }

    /// Byte ranges of every secret this rule finds in `text`.
    fn find_secrets(&self, text: &str, out: &mut Vec<Range<usize>>) {
        for captures in self.regex.captures_iter(text) {
            let secret = if self.secret_groups.is_empty() {
                captures.get(0)
            } else {
                self.secret_groups
                    .iter()
                    .find_map(|&index| captures.get(index))
            };
            let Some(secret) = secret else { continue };
            let key = self
                .key_group
                .and_then(|index| captures.get(index))
                .map(|key| credential_key_name(text, key.range()));
            if self.accepts(secret.as_str(), key) {
                out.push(secret.range());
            }
        }
    }

    fn accepts(&self, value: &str, key: Option<&str>) -> bool {
        match self.validation {
            Validation::Token { min_entropy } => {
                !value.to_ascii_lowercase().contains("example")
                    && shannon_entropy(value) >= min_entropy
            }
            Validation::Assignment => {
                key.is_none_or(is_credential_key) && is_credential_value(value)
            }
        }
    }
}

/// Where one secret is, and which one it is, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretFinding {
    pub rule_id: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in bytes from the start of the line.
    pub column: usize,
    /// Length of the secret in bytes.
    pub length: usize,
    /// Lowercase hex SHA-256 of a fixed domain prefix followed by the secret, so
    /// evidence can say "the same secret" without holding it.
    pub fingerprint: String,
}

impl fmt::Display for SecretFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.fingerprint.get(..12).unwrap_or(&self.fingerprint);
        write!(
            f,
            "{} at line {}, column {} ({} bytes, fingerprint {short})",
            self.rule_id, self.line, self.column, self.length
        )
    }
}

/// A set of compiled rules. Use [`SecretScanner::builtin`].
#[derive(Debug)]
pub struct SecretScanner {
    rules: Vec<SecretRule>,
    /// Finds which rules match at all in one pass, so a rule's own (slower) regex
    /// runs only on texts it matches. `None` only if compilation failed; then every
    /// scan fails closed.
    set: Option<RegexSet>,
}

/// Where a secret is and the index of the rule that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub(super) span: Range<usize>,
    pub(super) rule: usize,
}

static BUILTIN: LazyLock<SecretScanner> = LazyLock::new(|| SecretScanner::compile(RULE_DEFS));

impl SecretScanner {
    /// The built-in rules, compiled once per process.
    pub fn builtin() -> &'static SecretScanner {
        &BUILTIN
    }

    /// The rules, most specific first.
    pub fn rules(&self) -> &[SecretRule] {
        &self.rules
    }

    /// Every secret in `text`, sorted by position. Overlapping matches are reported
    /// once, under the most specific rule, covering all of their bytes.
    pub fn scan(&self, text: &str) -> Vec<SecretFinding> {
        let hits = self.hits(text);
        self.findings(text, &hits)
    }

    /// Never fails: a pattern that does not compile leaves a scanner that fails
    /// closed, because a scanner that silently skipped a rule would leak.
    pub(super) fn compile(defs: &[RuleDef]) -> SecretScanner {
        let compiled = defs
            .iter()
            .map(SecretRule::compile)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|rules| {
                let set = RegexSetBuilder::new(defs.iter().map(|def| def.pattern))
                    // Room for the union of all patterns; the default is tuned for
                    // single regexes.
                    .size_limit(64 << 20)
                    .dfa_size_limit(16 << 20)
                    .build()?;
                Ok((rules, set))
            });
        match compiled {
            Ok((rules, set)) => SecretScanner {
                rules,
                set: Some(set),
            },
            Err(_) => SecretScanner {
                rules: Vec::new(),
                set: None,
            },
        }
    }

    pub(super) fn rule_id(&self, rule: usize) -> &'static str {
        self.rules
            .get(rule)
            .map_or(SCANNER_UNAVAILABLE_RULE_ID, |rule| rule.id)
    }

    /// Non-overlapping secret spans in order, each named by its most specific rule.
    pub(super) fn hits(&self, text: &str) -> Vec<Hit> {
        let Some(set) = &self.set else {
            // Fail closed: all of the text is treated as one secret.
            return if text.is_empty() {
                Vec::new()
            } else {
                vec![Hit {
                    span: 0..text.len(),
                    rule: usize::MAX,
                }]
            };
        };
        let mut candidates: Vec<Hit> = Vec::new();
        let mut spans = Vec::new();
        for index in set.matches(text).iter() {
            let Some(rule) = self.rules.get(index) else {
                continue;
            };
            spans.clear();
            rule.find_secrets(text, &mut spans);
            candidates.extend(spans.drain(..).map(|span| Hit { span, rule: index }));
        }
        merge_overlapping(candidates)
    }

    pub(super) fn findings(&self, text: &str, hits: &[Hit]) -> Vec<SecretFinding> {
        let mut findings = Vec::with_capacity(hits.len());
        let bytes = text.as_bytes();
        let mut line = 1;
        let mut line_start = 0;
        let mut cursor = 0;
        for hit in hits {
            let skipped = bytes.get(cursor..hit.span.start).unwrap_or_default();
            for (offset, byte) in skipped.iter().enumerate() {
                if *byte == b'\n' {
                    line += 1;
                    line_start = cursor + offset + 1;
                }
            }
            cursor = hit.span.start;
            let secret = text.get(hit.span.clone()).unwrap_or_default();
            findings.push(SecretFinding {
                rule_id: self.rule_id(hit.rule),
                line,
                column: hit.span.start - line_start + 1,
                length: hit.span.len(),
                fingerprint: fingerprint(secret),
            });
        }
        findings
    }
}

/// Sorts candidates by position and merges every group of overlapping ones into one
/// hit that covers all their bytes, named by the most specific (lowest-index) rule.
/// So `token = "ghp_…"` is one `github-pat`, and nothing a rule matched escapes
/// redaction.
fn merge_overlapping(mut candidates: Vec<Hit>) -> Vec<Hit> {
    candidates.sort_by_key(|hit| (hit.span.start, hit.rule));
    let mut merged: Vec<Hit> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        match merged.last_mut() {
            Some(last) if candidate.span.start < last.span.end => {
                last.span.end = last.span.end.max(candidate.span.end);
                last.rule = last.rule.min(candidate.rule);
            }
            _ => merged.push(candidate),
        }
    }
    merged
}

/// See [`SecretFinding::fingerprint`].
pub(super) fn fingerprint(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_DOMAIN);
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::test_support::{alnum, cat};

    #[test]
    fn every_builtin_rule_compiles() {
        let scanner = SecretScanner::builtin();
        assert!(scanner.set.is_some());
        let ids: Vec<&str> = scanner.rules().iter().map(|rule| rule.id).collect();
        let expected: Vec<&str> = RULE_DEFS.iter().map(|def| def.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn overlapping_matches_are_reported_once_under_the_specific_rule() {
        let pat = cat(&["gh", "p_", &alnum(36, 40)]);
        let text = format!("github_token = \"{pat}\"\n");
        let findings = SecretScanner::builtin().scan(&text);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule_id, "github-pat");
        assert_eq!(findings[0].length, pat.len());
    }

    #[test]
    fn same_secret_same_fingerprint() {
        let pat = cat(&["gh", "p_", &alnum(36, 44)]);
        let other = cat(&["gh", "p_", &alnum(36, 45)]);
        let text = format!("a = {pat}\nb: \"{pat}\"\nc = {other}\n");
        let findings = SecretScanner::builtin().scan(&text);
        assert_eq!(findings.len(), 3);
        assert_eq!(findings[0].fingerprint, findings[1].fingerprint);
        assert_ne!(findings[0].fingerprint, findings[2].fingerprint);
        assert_eq!(findings[0].fingerprint.len(), 64);
        assert!(!findings[0].fingerprint.contains(&pat));
    }

    #[test]
    fn findings_never_show_the_secret() {
        let pat = cat(&["gh", "p_", &alnum(36, 46)]);
        let finding = SecretScanner::builtin().scan(&pat).remove(0);
        let shown = format!("{finding} {finding:?}");
        assert!(!shown.contains(&pat));
        assert!(!shown.contains(&pat[4..]));
        assert_eq!(
            finding.to_string(),
            format!(
                "github-pat at line 1, column 1 (40 bytes, fingerprint {})",
                &finding.fingerprint[..12]
            )
        );
    }

    /// Megabytes of ordinary diff text, including keywords that never complete a
    /// secret and non-ASCII lines, must scan in one pass; this only has to finish.
    #[test]
    fn scans_five_megabytes_without_secrets() {
        let lines = [
            "+fn tokenize(input: &str) -> Vec<Token> { input.split(' ').map(Token::from).collect() }\n",
            "+    let password_length = config.password.len(); // secret sauce: none\n",
            "-    let api_key = std::env::var(\"API_KEY\")?;\n",
            " naïve café — 日本語のテキスト, emoji 🚀 and a hash 3f786850e387550fdab836ed7e6dc881de23001b\n",
            "+const HEADER: &str = \"Authorization\"; // token: see docs\n",
            "+    if key.starts_with(\"sk-\") || key.starts_with(\"gh\") { return Err(Invalid); }\n",
        ];
        let mut text = String::new();
        let mut index = 0;
        while text.len() < 5 << 20 {
            text.push_str(lines[index % lines.len()]);
            index += 1;
        }
        let (redacted, findings) = SecretScanner::builtin().redact(&text);
        assert_eq!(findings, vec![]);
        assert_eq!(redacted.len(), text.len());
    }
}
