//! Whether a matched value is a real credential and not an example: its entropy,
//! the key name it is assigned to, and placeholder markers.

use std::ops::Range;

/// Shannon entropy of the bytes of `value`, in bits per byte.
pub(super) fn shannon_entropy(value: &str) -> f64 {
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
pub(super) fn credential_key_name(text: &str, key: Range<usize>) -> &str {
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

pub(super) fn is_credential_key(key: &str) -> bool {
    let words = key_words(key);
    let last_is_descriptive = words
        .last()
        .is_some_and(|last| NON_SECRET_KEY_LAST_WORDS.contains(&last.as_str()));
    let any_is_public = words
        .iter()
        .any(|word| NON_SECRET_KEY_WORDS.contains(&word.as_str()));
    !last_is_descriptive && !any_is_public
}

pub(super) fn is_credential_value(value: &str) -> bool {
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
}
