//! [`SecretScanner::redact`]: text with every secret replaced by `[REDACTED:<rule-id>]`.

use super::scanner::{SecretFinding, SecretScanner};

impl SecretScanner {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SCANNER_UNAVAILABLE_RULE_ID;
    use crate::secrets::rules::{RuleDef, token};
    use crate::secrets::scanner::fingerprint;
    use crate::secrets::test_support::{alnum, cat, pem_body, rule_ids, urlsafe};

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
}
