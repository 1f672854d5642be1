//! Secret redaction at the wire, with docket-core's scanner: every string (and key)
//! of a request's JSON body, forwarded header values, and response bytes before they
//! are stored. A redaction is reported by rule and location (JSON pointer or header
//! name, and the byte offset in that string), with the scanner's fingerprint —
//! never the secret.

use docket_core::secrets::{SecretFinding, SecretScanner};
use serde::Serialize;
use serde_json::{Map, Value};

/// One secret replaced (or, in block mode, found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Redaction {
    pub(crate) rule: &'static str,
    /// `/messages/2/content/0/text` (a JSON pointer), `/tools/0 (key)` for an object
    /// key, `header:<name>`, or `body` for non-JSON text.
    pub(crate) location: String,
    /// Byte offset of the secret in the string at `location`.
    pub(crate) offset: usize,
    pub(crate) length: usize,
    pub(crate) fingerprint: String,
}

fn scanner() -> &'static SecretScanner {
    SecretScanner::builtin()
}

/// Byte offset of a finding's 1-based line and column in `text`.
fn offset_of(text: &str, finding: &SecretFinding) -> usize {
    let line_start = if finding.line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(finding.line - 2)
            .map_or(0, |(i, _)| i + 1)
    };
    line_start + finding.column.saturating_sub(1)
}

fn redactions(text: &str, findings: &[SecretFinding], location: &str) -> Vec<Redaction> {
    findings
        .iter()
        .map(|f| Redaction {
            rule: f.rule_id,
            location: location.to_owned(),
            offset: offset_of(text, f),
            length: f.length,
            fingerprint: f.fingerprint.clone(),
        })
        .collect()
}

/// Redacts `text` if the scanner finds anything; `None` when it is clean.
pub(crate) fn redact_text(text: &str, location: &str) -> Option<(String, Vec<Redaction>)> {
    // Scanning alone is cheaper than redacting, and almost every string is clean.
    if scanner().scan(text).is_empty() {
        return None;
    }
    let (redacted, findings) = scanner().redact(text);
    Some((redacted, redactions(text, &findings, location)))
}

/// `text` with any secret redacted, for text that is recorded but not otherwise
/// scanned (paths, queries, model names from a path, header values).
pub(crate) fn clean_text(text: &str) -> String {
    match redact_text(text, "") {
        None => text.to_owned(),
        Some((redacted, _)) => redacted,
    }
}

/// Replaces every secret in the strings and keys of `value`; returns what it replaced.
pub(crate) fn redact_json(value: &mut Value) -> Vec<Redaction> {
    let mut found = Vec::new();
    let mut path = String::new();
    walk(value, &mut path, &mut found);
    found
}

fn push_segment(path: &mut String, segment: &str) {
    path.push('/');
    for c in segment.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

fn walk(value: &mut Value, path: &mut String, found: &mut Vec<Redaction>) {
    match value {
        Value::String(text) => {
            if let Some((redacted, mut hits)) = redact_text(text, path) {
                *text = redacted;
                found.append(&mut hits);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                push_segment(path, &i.to_string());
                walk(item, path, found);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            let keys_clean = map.keys().all(|key| scanner().scan(key).is_empty());
            if !keys_clean {
                let location = format!("{path} (key)");
                let old = std::mem::take(map);
                let mut renamed = Map::with_capacity(old.len());
                for (key, item) in old {
                    match redact_text(&key, &location) {
                        Some((redacted, mut hits)) => {
                            found.append(&mut hits);
                            renamed.insert(redacted, item);
                        }
                        None => {
                            renamed.insert(key, item);
                        }
                    }
                }
                *map = renamed;
            }
            for (key, item) in map.iter_mut() {
                let len = path.len();
                push_segment(path, key);
                walk(item, path, found);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Redacts response (or other) bytes for storage: the bytes unchanged when clean,
/// else the redacted text.
pub(crate) fn redact_bytes(bytes: &[u8]) -> (Option<Vec<u8>>, Vec<Redaction>) {
    let text = String::from_utf8_lossy(bytes);
    match redact_text(&text, "body") {
        None => (None, Vec::new()),
        Some((redacted, hits)) => (Some(redacted.into_bytes()), hits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aws_key() -> String {
        format!("{}{}", "AKIA", "QWERTYUIOPASDFGH")
    }

    #[test]
    fn secrets_in_strings_and_keys_are_replaced_and_located() {
        let key = aws_key();
        let mut value = json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": format!("line one\nmy key is {key} ok")}]},
                {"role": "system", "content": "clean"},
            ],
            "a/b": {key.clone(): 1},
        });
        let found = redact_json(&mut value);
        let text = value.to_string();
        assert!(!text.contains(&key), "{text}");
        assert_eq!(
            value["messages"][0]["content"][0]["text"],
            "line one\nmy key is [REDACTED:aws-access-token] ok"
        );
        assert_eq!(value["a/b"]["[REDACTED:aws-access-token]"], 1);
        let summary: Vec<(&str, &str, usize, usize)> = found
            .iter()
            .map(|r| (r.rule, r.location.as_str(), r.offset, r.length))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("aws-access-token", "/messages/0/content/0/text", 19, 20),
                ("aws-access-token", "/a~1b (key)", 0, 20),
            ]
        );
        for r in &found {
            assert!(!format!("{r:?}").contains(&key));
        }
    }

    #[test]
    fn clean_values_are_untouched() {
        let mut value = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]});
        let before = value.clone();
        assert!(redact_json(&mut value).is_empty());
        assert_eq!(value, before);
        assert_eq!(redact_bytes(b"data: {}\n\n"), (None, Vec::new()));
    }

    #[test]
    fn bytes_are_redacted_with_offsets() {
        let key = aws_key();
        let text = format!("data: {{\"t\":\"{key}\"}}\n\n");
        let (stored, found) = redact_bytes(text.as_bytes());
        let stored = String::from_utf8(stored.unwrap()).unwrap();
        assert!(!stored.contains(&key));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, text.find(&key).unwrap());
    }
}
