//! Secret detection and redaction: the built-in rules (modelled on gitleaks' default
//! rule set, MIT), scanning text for secrets and replacing each with
//! `[REDACTED:<rule-id>]`. A finding names a secret by fingerprint, never by value.
//!
//! Invariant: no value this module returns holds secret text, apart from the
//! unredacted parts of the caller's own input.

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet, RegexSetBuilder};
use sha2::{Digest, Sha256};

/// Rule id reported when the built-in rules failed to compile. It cannot happen with
/// the patterns below (a test compiles them), but if it did, every scan fails closed:
/// the whole text is one finding and redaction removes all of it.
pub const SCANNER_UNAVAILABLE_RULE_ID: &str = "secret-scanner-unavailable";

/// Prefix hashed before the secret, so a fingerprint is not a plain SHA-256 that
/// could be looked up in a table of hashed common passwords.
const FINGERPRINT_DOMAIN: &[u8] = b"docket secret fingerprint v1\n";

/// How a rule decides that a match is a real secret and not an example.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Validation {
    /// A token with a vendor prefix or a fixed shape: real when random enough
    /// (Shannon entropy in bits per character) and not a documented example.
    Token { min_entropy: f64 },
    /// `<credential key> = <value>`: real when the key names a credential rather
    /// than, say, its length or URL, and the value is neither a placeholder nor an
    /// identifier and is random for its length.
    Assignment,
}

struct RuleDef {
    id: &'static str,
    description: &'static str,
    /// The secret is the text of the capture groups whose names start with
    /// `secret` (the first that took part), or the whole match if there are none.
    /// A group named `key` marks the credential key name for [`Validation::Assignment`].
    pattern: &'static str,
    validation: Validation,
}

const fn token(min_entropy: f64) -> Validation {
    Validation::Token { min_entropy }
}

/// The built-in rules, most specific first: when matches overlap, the earliest rule
/// names the finding. Patterns use ASCII word boundaries `(?-u:\b)` because Unicode
/// ones make the regex engine leave its fast DFA on non-ASCII text, and bounded
/// repetitions stay small so the combined `RegexSet` stays fast on megabytes.
const RULE_DEFS: &[RuleDef] = &[
    RuleDef {
        id: "private-key",
        description: "Private key block (PEM, OpenSSH, PGP)",
        // The body may not contain `-----`, so one match never spans two blocks. A
        // block without its END line (truncated output) is still caught by the
        // second alternative: base64 lines, the first at least 40 characters long
        // so that prose after a bare header is not mistaken for a key.
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:(?:[^-]|-{1,4}[^-]){64,}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\s*[A-Za-z0-9+/=\\]{40,}(?:[\r\n]+[+ \t]*[A-Za-z0-9+/=\\]+)*)",
        validation: token(0.0),
    },
    RuleDef {
        id: "aws-access-token",
        description: "AWS access key id",
        pattern: r"(?-u:\b)(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?-u:\b)",
        validation: token(3.0),
    },
    RuleDef {
        id: "github-fine-grained-pat",
        description: "GitHub fine-grained personal access token",
        pattern: r"github_pat_[A-Za-z0-9_]{82}",
        validation: token(3.0),
    },
    RuleDef {
        id: "github-pat",
        description: "GitHub personal access token (classic)",
        pattern: r"ghp_[A-Za-z0-9]{36}",
        validation: token(3.0),
    },
    RuleDef {
        id: "github-oauth",
        description: "GitHub OAuth access token",
        pattern: r"gho_[A-Za-z0-9]{36}",
        validation: token(3.0),
    },
    RuleDef {
        id: "github-app-token",
        description: "GitHub App user-to-server or server-to-server token",
        pattern: r"(?:ghu|ghs)_[A-Za-z0-9]{36}",
        validation: token(3.0),
    },
    RuleDef {
        id: "github-refresh-token",
        description: "GitHub refresh token",
        pattern: r"ghr_[A-Za-z0-9]{36}",
        validation: token(3.0),
    },
    RuleDef {
        id: "gitlab-pat",
        description: "GitLab personal access token",
        // Unbounded, unlike gitleaks' 20 characters: newer (routable) tokens are
        // longer, and redaction must remove every byte of them.
        pattern: r"glpat-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{2,})*",
        validation: token(3.0),
    },
    RuleDef {
        id: "gitlab-deploy-token",
        description: "GitLab deploy token",
        pattern: r"gldt-[A-Za-z0-9_-]{20,}",
        validation: token(3.0),
    },
    RuleDef {
        id: "gitlab-runner-authentication-token",
        description: "GitLab runner authentication token",
        pattern: r"glrt-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{2,})*",
        validation: token(3.0),
    },
    RuleDef {
        id: "slack-bot-token",
        description: "Slack bot token",
        pattern: r"xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]*",
        validation: token(3.0),
    },
    RuleDef {
        id: "slack-user-token",
        description: "Slack user token",
        pattern: r"xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34}",
        validation: token(2.0),
    },
    RuleDef {
        id: "slack-app-token",
        description: "Slack app-level token",
        pattern: r"xapp-[0-9]-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]+",
        validation: token(2.0),
    },
    RuleDef {
        id: "slack-webhook-url",
        description: "Slack incoming webhook URL",
        pattern: r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}",
        validation: token(0.0),
    },
    RuleDef {
        id: "stripe-access-token",
        description: "Stripe secret or restricted key",
        pattern: r"(?-u:\b)(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{20,255}",
        validation: token(3.0),
    },
    RuleDef {
        id: "gcp-api-key",
        description: "Google Cloud API key",
        pattern: r"(?-u:\b)AIza[A-Za-z0-9_-]{35}",
        validation: token(4.0),
    },
    RuleDef {
        id: "anthropic-admin-api-key",
        description: "Anthropic admin API key",
        pattern: r"(?-u:\b)sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{32,}",
        validation: token(3.0),
    },
    RuleDef {
        id: "anthropic-api-key",
        description: "Anthropic API key",
        pattern: r"(?-u:\b)sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{32,}",
        validation: token(3.0),
    },
    RuleDef {
        id: "openai-api-key",
        description: "OpenAI API key",
        // Project, service-account and admin keys; legacy keys carry `T3BlbkFJ`
        // (base64 of "OpenAI") or are 48 characters after `sk-`.
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?-u:\b)|[A-Za-z0-9]{48}(?-u:\b))",
        validation: token(3.0),
    },
    RuleDef {
        id: "npm-access-token",
        description: "npm access token",
        pattern: r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
        validation: token(3.0),
    },
    RuleDef {
        id: "pypi-upload-token",
        description: "PyPI upload token",
        // The fixed part is base64 of the macaroon's location, `pypi.org`.
        pattern: r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        validation: token(3.0),
    },
    RuleDef {
        id: "aws-secret-access-key",
        description: "AWS secret access key assigned to an AWS key name",
        pattern: r#"(?i)(?:aws[a-z0-9_.-]{0,32}(?:secret|sk)|secret[_.-]?access[_.-]?key)[a-z0-9_.-]{0,32}["'`]?[ \t]*(?::=|=>|=|:)[ \t]*["'`]?(?P<secret>[a-z0-9/+]{40})(?:[^a-z0-9/+=]|$)"#,
        validation: token(4.0),
    },
    RuleDef {
        id: "jwt",
        description: "JSON Web Token",
        // An unsecured JWT (`alg: none`) has an empty third part and is still a
        // bearer credential.
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        validation: token(3.0),
    },
    RuleDef {
        id: "authorization-header",
        description: "Credential in an HTTP Authorization header",
        pattern: r#"(?i:authorization)["'`]?[ \t]*[:=][ \t]*["'`]?(?i:bearer|token|basic)[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{8,})"#,
        validation: Validation::Assignment,
    },
    RuleDef {
        id: "url-credentials",
        description: "Password in a URL's user information (scheme://user:password@host)",
        // Only the password is the secret: the user and host stay readable.
        pattern: r#"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/:@'"<>]*:(?P<secret>[^\s/@'"<>]{4,})@"#,
        validation: Validation::Assignment,
    },
    RuleDef {
        id: "generic-api-key",
        description: "Credential assigned to a key such as password, secret, token or api_key",
        // A quoted value may hold any non-space character; a bare one must start
        // like a value (so `==` and `$VAR` are not values) and end at whitespace,
        // `;`, `,` or the end of text (so `token = get_token()` is not a value).
        pattern: r#"(?P<key>(?i:passw(?:or)?d|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|auth[_.-]?key|credentials?)[A-Za-z0-9_.-]{0,24})["'`]?[ \t]*(?::=|=>|\|\|=|\?=|=|:)[ \t]*(?:"(?P<secret_dq>[^"\s\\]{8,})"|'(?P<secret_sq>[^'\s\\]{8,})'|`(?P<secret_bq>[^`\s\\]{8,})`|(?P<secret_bare>[A-Za-z0-9_][A-Za-z0-9_.+/=@!~%^*-]{7,})(?:[\s;,]|$))"#,
        validation: Validation::Assignment,
    },
];

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
struct Hit {
    span: Range<usize>,
    rule: usize,
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

    /// `text` with each secret replaced by `[REDACTED:<rule-id>]`, and the findings.
    /// Everything outside the secrets is copied byte for byte.
    pub fn redact(&self, text: &str) -> (String, Vec<SecretFinding>) {
        let hits = self.hits(text);
        let mut redacted = String::with_capacity(text.len());
        let mut cursor = 0;
        for hit in &hits {
            redacted.push_str(text.get(cursor..hit.span.start).unwrap_or_default());
            redacted.push_str("[REDACTED:");
            redacted.push_str(self.rule_id(hit.rule));
            redacted.push(']');
            cursor = hit.span.end;
        }
        redacted.push_str(text.get(cursor..).unwrap_or_default());
        let findings = self.findings(text, &hits);
        (redacted, findings)
    }

    /// Never fails: a pattern that does not compile leaves a scanner that fails
    /// closed, because a scanner that silently skipped a rule would leak.
    fn compile(defs: &[RuleDef]) -> SecretScanner {
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

    fn rule_id(&self, rule: usize) -> &'static str {
        self.rules
            .get(rule)
            .map_or(SCANNER_UNAVAILABLE_RULE_ID, |rule| rule.id)
    }

    /// Non-overlapping secret spans in order, each named by its most specific rule.
    fn hits(&self, text: &str) -> Vec<Hit> {
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

    fn findings(&self, text: &str, hits: &[Hit]) -> Vec<SecretFinding> {
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
fn fingerprint(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_DOMAIN);
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Shannon entropy of the bytes of `value`, in bits per byte.
fn shannon_entropy(value: &str) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for byte in value.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let total = value.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / total;
            -p * p.log2()
        })
        .sum()
}

/// The entropy an assigned value needs. gitleaks asks 3.5 bits of its generic rule,
/// but n characters carry at most log2(n) bits each, so 3.5 would reject every value
/// under 12 characters; short values must instead use most of their possible
/// entropy (an 8-character value needs 2.7 bits: at least 7 distinct characters).
fn required_entropy(len: usize) -> f64 {
    (0.9 * (len as f64).log2()).min(3.5)
}

/// Words that, as the last word of a key name, say the value describes a credential
/// instead of being one: `token_url`, `secretName`, `password_length`, `api_key_id`.
const NON_SECRET_KEY_LAST_WORDS: &[&str] = &[
    "arn",
    "count",
    "endpoint",
    "env",
    "expiration",
    "expires",
    "expiry",
    "field",
    "file",
    "format",
    "header",
    "hint",
    "id",
    "ids",
    "label",
    "len",
    "length",
    "limit",
    "mode",
    "name",
    "names",
    "param",
    "path",
    "pattern",
    "policy",
    "prefix",
    "provider",
    "ref",
    "regex",
    "scope",
    "scopes",
    "size",
    "timeout",
    "ttl",
    "type",
    "uri",
    "url",
    "var",
    "version",
];

/// Words that anywhere in a key name mark a value that is public or not a credential:
/// `csrf_token`, `public_key`, `next_page_token`, `max_tokens`, tokenizer `pad_token`.
const NON_SECRET_KEY_WORDS: &[&str] = &[
    "bos",
    "cancellation",
    "cls",
    "continuation",
    "csrf",
    "eos",
    "mask",
    "max",
    "min",
    "next",
    "num",
    "pad",
    "page",
    "pub",
    "public",
    "sep",
    "unk",
    "xsrf",
];

/// Values that are placeholders, templates or well-known test values rather than
/// secrets. Compared against the lowercased value.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "${",
    "{{",
    "}}",
    "<",
    ">",
    "****",
    "xxxx",
    "changeme",
    "change_me",
    "change-me",
    "dummy",
    "example",
    "fake",
    "insert",
    "mock",
    "p@ss",
    "passw",
    "placeholder",
    "redacted",
    "replace",
    "sample",
    "test",
    "todo",
    "your",
];

/// The key name around a credential keyword match: the keyword may sit inside a
/// longer identifier (`MY_TOKEN`), whose start the regex does not capture.
fn credential_key_name(text: &str, key: Range<usize>) -> &str {
    let bytes = text.as_bytes();
    let mut start = key.start;
    // At most 64 bytes back, so a long run of identifier characters costs little.
    while start > 0 && key.start - start < 64 {
        match bytes.get(start - 1) {
            Some(byte) if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') => {
                start -= 1;
            }
            _ => break,
        }
    }
    text.get(start..key.end).unwrap_or_default()
}

/// Splits an identifier into lowercase words at `_`, `.`, `-` and camelCase humps.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for ch in key.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        word.push(ch.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn is_credential_key(key: &str) -> bool {
    let words = key_words(key);
    let last_is_descriptive = words
        .last()
        .is_some_and(|last| NON_SECRET_KEY_LAST_WORDS.contains(&last.as_str()));
    let any_is_public = words
        .iter()
        .any(|word| NON_SECRET_KEY_WORDS.contains(&word.as_str()));
    !last_is_descriptive && !any_is_public
}

fn is_credential_value(value: &str) -> bool {
    // gitleaks' generic allowlist: letters and punctuation only is an identifier
    // (`SecretString`, `process.env.API_KEY`), not a credential.
    let identifier = value
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'.' | b'-'));
    // Numbers, dates and versions.
    let numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-' | b':' | b'/' | b'+'));
    // Shell (`$HOME`), Windows (`%APPDATA%`) and build-tool (`@VAR@`) variables, and
    // format-string fields (`{password}`, `{0}`) in templates.
    let variable = value.starts_with('$')
        || (value.starts_with('%') && value.ends_with('%'))
        || (value.starts_with('@') && value.ends_with('@'))
        || (value.contains('{') && value.contains('}'));
    let lower = value.to_ascii_lowercase();
    let placeholder = PLACEHOLDER_MARKERS
        .iter()
        .any(|marker| lower.contains(marker));
    !identifier
        && !numeric
        && !variable
        && !placeholder
        && shannon_entropy(value) >= required_entropy(value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic, high-entropy token text, so no live-looking secret is written
    /// literally in this file.
    fn random_chars(len: usize, alphabet: &str, seed: u64) -> String {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let value = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
                alphabet[(value % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const DIGITS: &str = "0123456789";

    fn alnum(len: usize, seed: u64) -> String {
        random_chars(len, ALNUM, seed)
    }

    fn urlsafe(len: usize, seed: u64) -> String {
        random_chars(len, URLSAFE, seed)
    }

    fn pem_body(seed: u64) -> String {
        (0..6)
            .map(|line| random_chars(64, BASE64, seed + line))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Joins pieces, so prefixes such as `gh` + `p_` never appear whole in this file.
    fn cat(parts: &[&str]) -> String {
        parts.concat()
    }

    struct Case {
        rule: &'static str,
        /// Text containing exactly one secret, `secret`.
        text: String,
        secret: String,
        /// Text that looks similar but must produce no finding at all.
        negative: String,
    }

    fn case(rule: &'static str, secret: String, template: &str, negative: String) -> Case {
        Case {
            rule,
            text: template.replace("{}", &secret),
            secret,
            negative,
        }
    }

    fn cases() -> Vec<Case> {
        let begin = |kind: &str| cat(&["-----BEGIN ", kind, "PRIVATE KEY-----"]);
        let end = |kind: &str| cat(&["-----END ", kind, "PRIVATE KEY-----"]);
        let akia = cat(&["AK", "IA"]);
        let jwt_header = cat(&["ey", "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"]);
        let jwt_claims = cat(&["ey", "JzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9"]);
        let aws_secret = random_chars(40, BASE64, 7);
        vec![
            case(
                "private-key",
                cat(&[&begin("RSA "), "\n", &pem_body(1), "\n", &end("RSA ")]),
                "key = '''\n{}\n'''\n",
                // Code that looks for key headers is not a key.
                format!(
                    "if line.starts_with(\"{}\") {{\n    return true;\n}}\n",
                    begin("")
                ),
            ),
            case(
                "aws-access-token",
                cat(&[&akia, &random_chars(16, UPPER32, 2)]),
                "aws_access_key_id = {}\n",
                // AWS's documented example key.
                format!("aws_access_key_id = {}IOSFODNN7{}\n", akia, "EXAMPLE"),
            ),
            case(
                "aws-secret-access-key",
                aws_secret.clone(),
                "AWS_SECRET_ACCESS_KEY={}\n",
                // The same value without an AWS key name is only 40 random characters.
                format!("checksum = {}\n", aws_secret.replace(['+', '/'], "")),
            ),
            case(
                "github-fine-grained-pat",
                cat(&["github", "_pat_", &alnum(22, 3), "_", &alnum(59, 4)]),
                "GH_TOKEN={}\n",
                cat(&["github", "_pat_", "too_short"]),
            ),
            case(
                "github-pat",
                cat(&["gh", "p_", &alnum(36, 5)]),
                "token = \"{}\"\n",
                cat(&["gh", "p_", &"0".repeat(36)]),
            ),
            case(
                "github-oauth",
                cat(&["gh", "o_", &alnum(36, 6)]),
                "Authorization: token {}\n",
                cat(&["gh", "o_", &alnum(20, 6)]),
            ),
            case(
                "github-app-token",
                cat(&["gh", "s_", &alnum(36, 8)]),
                "GITHUB_TOKEN: {}\n",
                cat(&["gh", "s_", "abababababababababababababababababab"]),
            ),
            case(
                "github-refresh-token",
                cat(&["gh", "r_", &alnum(36, 9)]),
                "refresh({})\n",
                cat(&["gh", "r_", "ab"]),
            ),
            case(
                "gitlab-pat",
                cat(&["gl", "pat-", &urlsafe(20, 10)]),
                "private-token: {}\n",
                cat(&["gl", "pat-", "xxxxxxxxxxxxxxxxxxxx"]),
            ),
            case(
                "gitlab-deploy-token",
                cat(&["gl", "dt-", &urlsafe(20, 11)]),
                "deploy with {} now\n",
                cat(&["gl", "dt-", "short"]),
            ),
            case(
                "gitlab-runner-authentication-token",
                cat(&["gl", "rt-", &urlsafe(20, 12)]),
                "runner: {}\n",
                cat(&["gl", "rt-", "aaaaaaaaaaaaaaaaaaaaaaaa"]),
            ),
            case(
                "slack-bot-token",
                cat(&[
                    "xo",
                    "xb-",
                    &random_chars(12, DIGITS, 13),
                    "-",
                    &random_chars(13, DIGITS, 14),
                    "-",
                    &alnum(24, 15),
                ]),
                "SLACK_BOT_TOKEN={}\n",
                cat(&["xo", "xb-", "123-456"]),
            ),
            case(
                "slack-user-token",
                cat(&[
                    "xo",
                    "xp-",
                    &random_chars(12, DIGITS, 16),
                    "-",
                    &random_chars(12, DIGITS, 17),
                    "-",
                    &random_chars(12, DIGITS, 18),
                    "-",
                    &alnum(32, 19),
                ]),
                "slack: {}\n",
                cat(&["xo", "xp-", "1234"]),
            ),
            case(
                "slack-app-token",
                cat(&[
                    "xa",
                    "pp-1-",
                    "A0123BCDE",
                    "-",
                    &random_chars(13, DIGITS, 20),
                    "-",
                    &random_chars(64, "abcdef0123456789", 21),
                ]),
                "app_level={}\n",
                cat(&["xa", "pp-", "one-two"]),
            ),
            case(
                "slack-webhook-url",
                cat(&[
                    "https://hooks.",
                    "slack.com/services/T",
                    &alnum(8, 22),
                    "/B",
                    &alnum(8, 23),
                    "/",
                    &alnum(24, 24),
                ]),
                "post({})\n",
                cat(&["https://hooks.", "slack.com/services/T000/B000/short"]),
            ),
            case(
                "stripe-access-token",
                cat(&["sk", "_live_", &alnum(24, 25)]),
                "Stripe.api_key = '{}'\n",
                // A publishable key is public.
                cat(&["pk", "_live_", &alnum(24, 25)]),
            ),
            case(
                "gcp-api-key",
                cat(&["AI", "za", &urlsafe(35, 26)]),
                "maps({})\n",
                cat(&["AI", "za", "SyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]),
            ),
            case(
                "anthropic-admin-api-key",
                cat(&["sk-", "ant-admin01-", &urlsafe(93, 27), "AA"]),
                "ADMIN_KEY={}\n",
                cat(&["sk-", "ant-admin01-", "short"]),
            ),
            case(
                "anthropic-api-key",
                cat(&["sk-", "ant-api03-", &urlsafe(93, 28), "AA"]),
                "client = Anthropic(api_key=\"{}\")\n",
                cat(&["sk-", "ant-", "..."]),
            ),
            case(
                "openai-api-key",
                cat(&[
                    "sk-",
                    "proj-",
                    &urlsafe(74, 29),
                    "T3Blbk",
                    "FJ",
                    &urlsafe(74, 30),
                ]),
                "OPENAI_API_KEY={}\n",
                cat(&["sk-", "proj-", "abc"]),
            ),
            case(
                "npm-access-token",
                cat(&["np", "m_", &alnum(36, 31)]),
                "//registry.npmjs.org/:_authToken={}\n",
                cat(&["np", "m_", "install"]),
            ),
            case(
                "pypi-upload-token",
                cat(&["pypi-", "AgEIcHlwaS5vcmc", &urlsafe(60, 32)]),
                "password: {}\n",
                cat(&["pypi-", "AgEIcHlwaS5vcmc", "short"]),
            ),
            case(
                "jwt",
                cat(&[&jwt_header, ".", &jwt_claims, ".", &urlsafe(43, 33)]),
                "Authorization: Bearer {}\n",
                // Two parts are not a token.
                cat(&[&jwt_header, ".", &jwt_claims]),
            ),
            case(
                "authorization-header",
                urlsafe(32, 36),
                "curl -H \"Authorization: Bearer {}\" https://api.internal\n",
                "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.internal\n".to_owned(),
            ),
            case(
                "url-credentials",
                alnum(16, 37),
                "DATABASE_URL=postgres://app:{}@db.internal:5432/app\n",
                "DATABASE_URL=postgres://app:${DB_PASSWORD}@db.internal:5432/app\n".to_owned(),
            ),
            case(
                "generic-api-key",
                cat(&[&alnum(12, 34), "+/", &alnum(10, 35)]),
                "    client_secret: \"{}\",\n",
                "password = \"changeme\"\n".to_owned(),
            ),
        ]
    }

    #[test]
    fn every_builtin_rule_compiles() {
        let scanner = SecretScanner::builtin();
        assert!(scanner.set.is_some());
        let ids: Vec<&str> = scanner.rules().iter().map(|rule| rule.id).collect();
        let expected: Vec<&str> = RULE_DEFS.iter().map(|def| def.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn every_rule_has_a_positive_and_a_negative_case() {
        let cases = cases();
        assert!(!cases.is_empty());
        let covered: Vec<&str> = cases.iter().map(|case| case.rule).collect();
        for rule in SecretScanner::builtin().rules() {
            assert!(covered.contains(&rule.id), "no test case for {}", rule.id);
        }
    }

    #[test]
    fn rule_table() {
        let scanner = SecretScanner::builtin();
        for case in cases() {
            let start = case.text.find(&case.secret).unwrap();
            let line_start = case.text[..start].rfind('\n').map_or(0, |i| i + 1);
            let expected = vec![SecretFinding {
                rule_id: case.rule,
                line: case.text[..start].matches('\n').count() + 1,
                column: start - line_start + 1,
                length: case.secret.len(),
                fingerprint: fingerprint(&case.secret),
            }];
            assert_eq!(
                scanner.scan(&case.text),
                expected,
                "positive case for {}",
                case.rule
            );
            assert_eq!(
                scanner.scan(&case.negative),
                vec![],
                "negative case for {}",
                case.rule
            );
        }
    }

    /// One place that runs the context rules (generic assignments, headers, URLs)
    /// over a line and names what it found.
    fn rule_ids(text: &str) -> Vec<&'static str> {
        SecretScanner::builtin()
            .scan(text)
            .into_iter()
            .map(|finding| finding.rule_id)
            .collect()
    }

    #[test]
    fn context_rules_truth_table() {
        const GENERIC: Option<&str> = Some("generic-api-key");
        const HEADER: Option<&str> = Some("authorization-header");
        const URL: Option<&str> = Some("url-credentials");
        let value = cat(&["Zq8", "vR2m", "Kx7pL"]); // 12 characters, 12 distinct
        let table: Vec<(String, Option<&str>)> = vec![
            (format!("password = \"{value}\""), GENERIC),
            (format!("DB_PASSWORD={value}"), GENERIC),
            (format!("\"apiKey\": \"{value}\""), GENERIC),
            (format!("secret: '{value}'"), GENERIC),
            (format!("auth_token := `{value}`"), GENERIC),
            (format!("my.access-key => {value};"), GENERIC),
            (format!("passwd: {value}"), GENERIC),
            // Eight distinct characters are enough.
            ("password = \"Tr0ub4d&\"".to_owned(), GENERIC),
            // Placeholders and templates.
            ("password = \"changeme\"".to_owned(), None),
            ("token = \"${GITHUB_TOKEN}\"".to_owned(), None),
            ("token: ${{ secrets.GITHUB_TOKEN }}".to_owned(), None),
            ("api_key = \"<your-api-key>\"".to_owned(), None),
            ("secret = \"xxxxxxxxxxxx\"".to_owned(), None),
            ("password = \"example-password-1\"".to_owned(), None),
            ("password = \"\"".to_owned(), None),
            ("secret = \"%APPDATA%\"".to_owned(), None),
            ("password = \"$DB_PASSWORD\"".to_owned(), None),
            // Too short, or too little entropy for its length.
            ("password = \"s3cr3t!\"".to_owned(), None),
            ("password = \"aaaa1111\"".to_owned(), None),
            // Identifiers, expressions, numbers and comparisons.
            ("token = get_token()".to_owned(), None),
            ("password: Option<String>,".to_owned(), None),
            ("secret: SecretString,".to_owned(), None),
            ("api_key = process.env.API_KEY".to_owned(), None),
            ("token_count = 12345678".to_owned(), None),
            (format!("if token == \"{value}\""), None),
            // Key names that describe a credential instead of holding one.
            (format!("token_url = \"{value}\""), None),
            (format!("secretName: {value}"), None),
            (format!("csrf_token = \"{value}\""), None),
            (format!("public_key = \"{value}\""), None),
            (format!("next_page_token = \"{value}\""), None),
            (format!("api_key_id = \"{value}\""), None),
            // Authorization headers.
            (format!("Authorization: Bearer {value}"), HEADER),
            (
                format!("headers = {{\"authorization\": \"Basic {value}\"}}"),
                HEADER,
            ),
            ("Authorization: Bearer <token>".to_owned(), None),
            ("Authorization: Bearer YOUR_TOKEN_HERE".to_owned(), None),
            // Passwords in URLs; the user name is not part of the secret.
            (
                format!("git clone https://deploy:{value}@git.internal/repo.git"),
                URL,
            ),
            (format!("redis://:{value}@cache:6379/0"), URL),
            ("postgres://app:password@localhost/app".to_owned(), None),
            ("https://user:${TOKEN}@example.com".to_owned(), None),
            (
                "url = f\"https://{user}:{password}@{host}/\"".to_owned(),
                None,
            ),
            ("password = \"{db_password}\"".to_owned(), None),
            ("git@github.com:org/repo.git".to_owned(), None),
            ("https://github.com/org/repo@v1.2.3".to_owned(), None),
        ];
        assert!(!table.is_empty());
        for (text, expected) in table {
            let expected: Vec<&str> = expected.into_iter().collect();
            assert_eq!(rule_ids(&text), expected, "text {text:?}");
        }
    }

    #[test]
    fn url_redaction_keeps_user_and_host() {
        let password = alnum(16, 38);
        let text = format!("remote: https://ci:{password}@git.internal/repo.git\n");
        let (redacted, _) = SecretScanner::builtin().redact(&text);
        assert_eq!(
            redacted,
            "remote: https://ci:[REDACTED:url-credentials]@git.internal/repo.git\n"
        );
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
    fn overlap_redaction_covers_every_matched_byte() {
        // The generic value is longer than the token inside it: both are removed.
        let pat = cat(&["gh", "p_", &alnum(36, 41)]);
        let value = format!("prefix.{pat}");
        let text = format!("secret = \"{value}\"\n");
        let (redacted, findings) = SecretScanner::builtin().redact(&text);
        assert_eq!(redacted, "secret = \"[REDACTED:github-pat]\"\n");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].fingerprint, fingerprint(&value));
    }

    #[test]
    fn redaction_removes_secrets_and_keeps_everything_else() {
        let pat = cat(&["gh", "p_", &alnum(36, 42)]);
        let jwt = cat(&[
            "ey",
            "JhbGciOiJFUzI1NiJ9.",
            "ey",
            "Jpc3MiOiJkb2NrZXQifQ.",
            &urlsafe(40, 43),
        ]);
        let text = format!("naïve café ☕\nlet a = \"{pat}\";\n\tBearer {jwt}\r\nend — {pat}");
        let (redacted, findings) = SecretScanner::builtin().redact(&text);
        assert_eq!(
            redacted,
            "naïve café ☕\nlet a = \"[REDACTED:github-pat]\";\n\tBearer [REDACTED:jwt]\r\nend — [REDACTED:github-pat]"
        );
        assert!(!redacted.contains(&pat) && !redacted.contains(&jwt));
        let positions: Vec<(&str, usize, usize)> = findings
            .iter()
            .map(|finding| (finding.rule_id, finding.line, finding.column))
            .collect();
        // Columns count bytes: `—` is three bytes, so `end — ` is 8 bytes wide.
        assert_eq!(
            positions,
            vec![("github-pat", 2, 10), ("jwt", 3, 9), ("github-pat", 4, 9)]
        );
        assert_eq!(findings, SecretScanner::builtin().scan(&text));
        // Redacted output holds nothing that is still a secret.
        assert_eq!(SecretScanner::builtin().scan(&redacted), vec![]);
    }

    #[test]
    fn redaction_of_text_without_secrets_is_identity() {
        let text = "fn main() {\n    println!(\"hello, world\");\n}\n";
        assert_eq!(
            SecretScanner::builtin().redact(text),
            (text.to_owned(), vec![])
        );
        assert_eq!(SecretScanner::builtin().redact(""), (String::new(), vec![]));
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

    #[test]
    fn truncated_private_key_is_still_redacted() {
        let body = pem_body(50);
        let header = cat(&["-----BEGIN ", "OPENSSH PRIVATE KEY-----"]);
        let text = format!("{header}\n{body}\n");
        let (redacted, findings) = SecretScanner::builtin().redact(&text);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule_id, "private-key");
        assert_eq!(redacted, "[REDACTED:private-key]\n");
        // Indented, as in YAML, and with JSON's `\n` escapes.
        let yaml = format!("key: |\n  {header}\n  {}\n", body.replace('\n', "\n  "));
        let json = format!("{{\"key\": \"{}\"}}", text.replace('\n', "\\n"));
        for text in [yaml, json] {
            let findings = SecretScanner::builtin().scan(&text);
            assert_eq!(rule_ids(&text), ["private-key"], "{text}");
            assert!(findings[0].length > body.len(), "{text}");
        }
    }

    #[test]
    fn prose_after_a_bare_key_header_is_not_a_key() {
        let text = cat(&[
            "-----BEGIN ",
            "PRIVATE KEY-----\nPaste the rest of your key below this line and keep the END line\n",
        ]);
        assert_eq!(SecretScanner::builtin().scan(&text), vec![]);
    }

    #[test]
    fn two_private_keys_are_two_findings() {
        let key = |seed| {
            cat(&[
                "-----BEGIN ",
                "EC PRIVATE KEY-----\n",
                &pem_body(seed),
                "\n-----END ",
                "EC PRIVATE KEY-----",
            ])
        };
        let text = format!("{}\nbetween\n{}\n", key(60), key(70));
        let (redacted, findings) = SecretScanner::builtin().redact(&text);
        assert_eq!(findings.len(), 2);
        assert_eq!(
            redacted,
            "[REDACTED:private-key]\nbetween\n[REDACTED:private-key]\n"
        );
    }

    #[test]
    fn scanner_that_failed_to_compile_fails_closed() {
        let broken = [RuleDef {
            id: "broken",
            description: "does not compile",
            pattern: "(",
            validation: token(0.0),
        }];
        let scanner = SecretScanner::compile(&broken);
        assert!(scanner.rules().is_empty());
        let (redacted, findings) = scanner.redact("anything at all\nsecond line");
        assert_eq!(redacted, "[REDACTED:secret-scanner-unavailable]");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule_id, SCANNER_UNAVAILABLE_RULE_ID);
        assert_eq!(findings[0].length, 27);
        assert_eq!(scanner.redact(""), (String::new(), vec![]));
    }

    #[test]
    fn entropy_and_required_entropy() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcdefgh") - 3.0).abs() < 1e-9);
        assert!((required_entropy(8) - 2.7).abs() < 1e-9);
        assert_eq!(required_entropy(64), 3.5);
    }

    #[test]
    fn key_words_split_identifiers() {
        assert_eq!(key_words("nextPageToken"), ["next", "page", "token"]);
        assert_eq!(
            key_words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(key_words("my.api-key2"), ["my", "api", "key2"]);
    }

    /// Test tokens are built at run time, so this file holds nothing a scanner
    /// (this one included) would flag.
    #[test]
    fn this_source_file_holds_no_secrets() {
        assert_eq!(
            SecretScanner::builtin().scan(include_str!("secrets.rs")),
            vec![]
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
