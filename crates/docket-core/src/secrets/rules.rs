//! The built-in detection rules: one pattern per kind of secret, most specific first,
//! and how each decides that a match is a real secret.

/// How a rule decides that a match is a real secret and not an example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Validation {
    /// A token with a vendor prefix or a fixed shape: real when random enough
    /// (Shannon entropy in bits per character) and not a documented example.
    Token { min_entropy: f64 },
    /// `<credential key> = <value>`: real when the key names a credential rather
    /// than, say, its length or URL, and the value is neither a placeholder nor an
    /// identifier and is random for its length.
    Assignment,
}

pub(super) struct RuleDef {
    pub(super) id: &'static str,
    pub(super) description: &'static str,
    /// The secret is the text of the capture groups whose names start with
    /// `secret` (the first that took part), or the whole match if there are none.
    /// A group named `key` marks the credential key name for [`Validation::Assignment`].
    pub(super) pattern: &'static str,
    pub(super) validation: Validation,
}

pub(super) const fn token(min_entropy: f64) -> Validation {
    Validation::Token { min_entropy }
}

/// The built-in rules, most specific first: when matches overlap, the earliest rule
/// names the finding. Patterns use ASCII word boundaries `(?-u:\b)` because Unicode
/// ones make the regex engine leave its fast DFA on non-ASCII text, and bounded
/// repetitions stay small so the combined `RegexSet` stays fast on megabytes.
pub(super) const RULE_DEFS: &[RuleDef] = &[
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

#[cfg(test)]
mod tests {
    use crate::secrets::scanner::fingerprint;
    use crate::secrets::test_support::{
        BASE64, DIGITS, UPPER32, alnum, cat, pem_body, random_chars, rule_ids, urlsafe,
    };
    use crate::secrets::{SecretFinding, SecretScanner};

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
    fn prose_after_a_bare_key_header_is_not_a_key() {
        let text = cat(&[
            "-----BEGIN ",
            "PRIVATE KEY-----\nPaste the rest of your key below this line and keep the END line\n",
        ]);
        assert_eq!(SecretScanner::builtin().scan(&text), vec![]);
    }
}
