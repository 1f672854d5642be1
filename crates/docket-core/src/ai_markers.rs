//! AI markers: what in a commit says that an AI assistant wrote or helped write it.
//! Commit text in, markers out; no IO.
//!
//! A marker is a trailer-shaped line of the message — `Co-authored-by:` naming a known
//! assistant, `Assisted-by:`, `Generated-by:`, `AI-Assisted:` (unless it says no), or
//! `Made-with:` naming a known assistant — or an author/committer identity that is a
//! known assistant's address (agents that commit as themselves, such as GitHub's
//! Copilot coding agent, put the human in `Co-authored-by` instead).
//!
//! Trailers are looked for on every line after the subject, indented or not, not only
//! in the final trailer block: squash merges (`git merge --squash`, a forge's "squash
//! and merge") move each commit's trailers into the body, and a marker must survive
//! that. The cost is that a body line starting with `Assisted-by:` counts even
//! when it sits mid-message; the gate errs towards flagging.

/// A known AI assistant and how commits name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assistant {
    /// The name reports show.
    pub name: &'static str,
    /// Names or phrases that identify the assistant anywhere in a co-author's display
    /// name or a trailer value, matched case-insensitively at word boundaries
    /// ("Claude" matches "Claude Code" and "claude-code", not "Claudette").
    pub words: &'static [&'static str],
    /// Names that are also common human first names: they identify the assistant only
    /// when they are the whole display name or value (ignoring a trailing
    /// parenthesised note such as a model), so `Devin Smith` is a person.
    pub exact_names: &'static [&'static str],
    /// E-mail addresses the assistant commits or co-authors with.
    pub addresses: &'static [&'static str],
    /// GitHub logins whose no-reply address (`login@users.noreply.github.com` or
    /// `ID+login@users.noreply.github.com`) is the assistant's.
    pub github_logins: &'static [&'static str],
}

/// The assistants docket recognises. Each entry says where its names are seen.
pub const ASSISTANTS: &[Assistant] = &[
    // Claude Code ends its commits with `Co-Authored-By: Claude <noreply@anthropic.com>`
    // (later versions put the model in the name); the Claude GitHub app commits as
    // `claude[bot]`.
    Assistant {
        name: "Claude",
        words: &["Claude", "Anthropic"],
        exact_names: &[],
        addresses: &["noreply@anthropic.com"],
        github_logins: &["claude[bot]"],
    },
    // GitHub's Copilot coding agent commits as `Copilot
    // <198982749+Copilot@users.noreply.github.com>` (the `copilot-swe-agent[bot]`
    // app); Copilot co-author trailers use `Copilot <175728472+Copilot@users.noreply.github.com>`.
    Assistant {
        name: "GitHub Copilot",
        words: &["Copilot", "GitHub Copilot"],
        exact_names: &[],
        addresses: &["copilot@github.com"],
        github_logins: &["Copilot", "copilot-swe-agent[bot]", "copilot[bot]"],
    },
    // OpenAI's Codex CLI adds `Co-authored-by: Codex <noreply@openai.com>` (openai/codex
    // pull request 11617); Codex cloud opens pull requests through the
    // `chatgpt-codex-connector[bot]` app.
    Assistant {
        name: "OpenAI Codex",
        words: &["Codex", "ChatGPT", "OpenAI"],
        exact_names: &[],
        addresses: &["noreply@openai.com"],
        github_logins: &["chatgpt-codex-connector[bot]"],
    },
    // Cursor's agents add `Co-authored-by: Cursor Agent <cursoragent@cursor.com>` and a
    // `Made-with: Cursor` trailer.
    Assistant {
        name: "Cursor",
        words: &["Cursor Agent", "Cursor AI"],
        exact_names: &["Cursor"],
        addresses: &["cursoragent@cursor.com"],
        github_logins: &["cursor[bot]"],
    },
    // Google's Jules commits as `google-labs-jules[bot]`; Gemini CLI and Gemini Code
    // Assist (`gemini-code-assist[bot]`) are named Gemini in trailers.
    Assistant {
        name: "Google Gemini / Jules",
        words: &["Gemini", "Google Jules"],
        exact_names: &["Jules"],
        addresses: &[],
        github_logins: &["google-labs-jules[bot]", "gemini-code-assist[bot]"],
    },
    // Devin (Cognition) commits as `devin-ai-integration[bot]` and names itself Devin.
    Assistant {
        name: "Devin",
        words: &["Devin AI", "Cognition AI"],
        exact_names: &["Devin"],
        addresses: &[],
        github_logins: &["devin-ai-integration[bot]"],
    },
    // aider's `--attribute-co-authored-by` adds `Co-authored-by: aider (<model>)
    // <noreply@aider.chat>`; by default it appends ` (aider)` to the author and
    // committer names instead (see `identity_marker`).
    Assistant {
        name: "Aider",
        words: &["aider"],
        exact_names: &[],
        addresses: &["noreply@aider.chat"],
        github_logins: &[],
    },
    // OpenHands (formerly OpenDevin) commits as `openhands <openhands@all-hands.dev>`
    // and stays a co-author when a custom git author is set (OpenHands docs, "Custom
    // Git Settings").
    Assistant {
        name: "OpenHands",
        words: &["OpenHands", "OpenDevin"],
        exact_names: &[],
        addresses: &["openhands@all-hands.dev"],
        github_logins: &["openhands-agent"],
    },
    // Amazon Q Developer (formerly CodeWhisperer) opens pull requests as
    // `amazon-q-developer[bot]`.
    Assistant {
        name: "Amazon Q Developer",
        words: &["Amazon Q", "CodeWhisperer"],
        exact_names: &[],
        addresses: &[],
        github_logins: &["amazon-q-developer[bot]"],
    },
    // Windsurf (formerly Codeium) and its Cascade agent are named in trailers by
    // product name.
    Assistant {
        name: "Windsurf / Codeium",
        words: &["Windsurf", "Codeium"],
        exact_names: &[],
        addresses: &[],
        github_logins: &[],
    },
    // Tabnine's agents are named Tabnine in trailers.
    Assistant {
        name: "Tabnine",
        words: &["Tabnine"],
        exact_names: &[],
        addresses: &[],
        github_logins: &[],
    },
    // Sweep opens pull requests as `sweep-ai[bot]`.
    Assistant {
        name: "Sweep",
        words: &["Sweep AI"],
        exact_names: &["Sweep"],
        addresses: &[],
        github_logins: &["sweep-ai[bot]"],
    },
];

/// Where a marker was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MarkerKind {
    CoAuthoredBy,
    AssistedBy,
    GeneratedBy,
    AiAssisted,
    MadeWith,
    /// The commit's author is an assistant.
    Author,
    /// The commit's committer is an assistant.
    Committer,
}

impl MarkerKind {
    /// The trailer key as usually written, or `author` / `committer`.
    pub fn label(self) -> &'static str {
        match self {
            MarkerKind::CoAuthoredBy => "Co-authored-by",
            MarkerKind::AssistedBy => "Assisted-by",
            MarkerKind::GeneratedBy => "Generated-by",
            MarkerKind::AiAssisted => "AI-Assisted",
            MarkerKind::MadeWith => "Made-with",
            MarkerKind::Author => "author",
            MarkerKind::Committer => "committer",
        }
    }

    fn of_trailer(key: &str) -> Option<MarkerKind> {
        [
            MarkerKind::CoAuthoredBy,
            MarkerKind::AssistedBy,
            MarkerKind::GeneratedBy,
            MarkerKind::AiAssisted,
            MarkerKind::MadeWith,
        ]
        .into_iter()
        .find(|kind| kind.label().eq_ignore_ascii_case(key))
    }
}

/// One AI marker of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub kind: MarkerKind,
    /// The trailer's value, or the identity as `Name <email>`.
    pub value: String,
    /// The assistant it names, when it names a known one.
    pub assistant: Option<&'static str>,
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            MarkerKind::Author | MarkerKind::Committer => {
                write!(f, "{} {}", self.kind.label(), self.value)?
            }
            _ => write!(f, "{}: {}", self.kind.label(), self.value)?,
        }
        match self.assistant {
            Some(name) => write!(f, " ({name})"),
            None => Ok(()),
        }
    }
}

/// Values of `AI-Assisted:` that say the commit was not AI-assisted.
const NEGATIVE: &[&str] = &["no", "false", "none", "0", "n", "off"];

/// The trailer-shaped lines of a message after its subject line, as `(key, value)`:
/// a key of letters, digits and `-`, a colon, a non-empty value. Leading whitespace is
/// ignored (squash merges indent the squashed messages).
pub fn trailers(message: &str) -> Vec<(&str, &str)> {
    message
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (key, value) = line.trim_start().split_once(':')?;
            let value = value.trim();
            let is_key = !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
            (is_key && !value.is_empty()).then_some((key, value))
        })
        .collect()
}

/// The AI markers in a commit message, in the order they appear; one per line.
pub fn message_markers(message: &str) -> Vec<Marker> {
    trailers(message)
        .into_iter()
        .filter_map(|(key, value)| {
            let kind = MarkerKind::of_trailer(key)?;
            let assistant = match kind {
                MarkerKind::CoAuthoredBy => identity_assistant(value),
                _ => value_assistant(value),
            };
            let is_marker = match kind {
                MarkerKind::CoAuthoredBy | MarkerKind::MadeWith => assistant.is_some(),
                MarkerKind::AiAssisted => !NEGATIVE.iter().any(|n| n.eq_ignore_ascii_case(value)),
                _ => true,
            };
            is_marker.then(|| Marker {
                kind,
                value: value.to_owned(),
                assistant: assistant.map(|a| a.name),
            })
        })
        .collect()
}

/// A marker for a commit's author or committer (`kind` is [`MarkerKind::Author`] or
/// [`MarkerKind::Committer`]) when the identity is an assistant's: its address, its
/// GitHub bot login, or aider's ` (aider)` name suffix. Display names alone do not
/// count here: people are called Claude too, and an identity is not a claim of help.
pub fn identity_marker(kind: MarkerKind, name: &str, email: &str) -> Option<Marker> {
    let assistant = address_assistant(email).or_else(|| {
        let lower = name.trim().to_lowercase();
        lower
            .ends_with("(aider)")
            .then(|| ASSISTANTS.iter().find(|a| a.name == "Aider"))
            .flatten()
    })?;
    Some(Marker {
        kind,
        value: format!("{name} <{email}>"),
        assistant: Some(assistant.name),
    })
}

/// Every marker of a commit: its message's, then its author's and committer's.
pub fn commit_markers(message: &str, author: (&str, &str), committer: (&str, &str)) -> Vec<Marker> {
    let mut markers = message_markers(message);
    markers.extend(identity_marker(MarkerKind::Author, author.0, author.1));
    markers.extend(identity_marker(
        MarkerKind::Committer,
        committer.0,
        committer.1,
    ));
    markers
}

/// The assistant a `Name <email>` value names, by address or by name.
fn identity_assistant(value: &str) -> Option<&'static Assistant> {
    let (name, email) = split_identity(value);
    email
        .and_then(address_assistant)
        .or_else(|| value_assistant(name))
}

/// The assistant a free-text value names.
fn value_assistant(value: &str) -> Option<&'static Assistant> {
    let lower = value.to_lowercase();
    let whole = strip_note(&lower);
    ASSISTANTS.iter().find(|a| {
        a.words
            .iter()
            .any(|w| contains_word(&lower, &w.to_lowercase()))
            || a.exact_names.iter().any(|n| whole == n.to_lowercase())
    })
}

/// The assistant whose address this is.
fn address_assistant(email: &str) -> Option<&'static Assistant> {
    let email = email.trim().to_lowercase();
    let github_login = email
        .strip_suffix("@users.noreply.github.com")
        .map(|local| local.split_once('+').map_or(local, |(_, login)| login));
    ASSISTANTS.iter().find(|a| {
        a.addresses.iter().any(|x| x.eq_ignore_ascii_case(&email))
            || github_login.is_some_and(|login| {
                a.github_logins
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(login))
            })
    })
}

/// `Name <email>` → (name, email); a value without `<…>` is all name.
fn split_identity(value: &str) -> (&str, Option<&str>) {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => (
            value.get(..open).unwrap_or_default().trim(),
            value.get(open + 1..close).map(str::trim),
        ),
        _ => (value.trim(), None),
    }
}

/// A value without a trailing parenthesised note: `devin (gpt-5)` → `devin`.
fn strip_note(value: &str) -> &str {
    let value = value.trim();
    match value.strip_suffix(')').and_then(|v| v.rfind('(')) {
        Some(open) => value.get(..open).unwrap_or(value).trim(),
        None => value,
    }
}

/// Whether `needle` occurs in `haystack` with no letter or digit on either side.
fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(found) = haystack.get(from..).and_then(|rest| rest.find(needle)) {
        let start = from + found;
        let end = start + needle.len();
        let before = haystack.get(..start).and_then(|s| s.chars().next_back());
        let after = haystack.get(end..).and_then(|s| s.chars().next());
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        // Move past the first character of this occurrence.
        from = start
            + haystack
                .get(start..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(message: &str) -> Vec<(MarkerKind, Option<&'static str>)> {
        message_markers(message)
            .into_iter()
            .map(|m| (m.kind, m.assistant))
            .collect()
    }

    fn co_author(value: &str) -> Option<&'static str> {
        let markers = message_markers(&format!("Subject\n\nBody.\n\nCo-authored-by: {value}\n"));
        assert!(markers.len() <= 1, "{markers:?}");
        markers.first().and_then(|m| m.assistant)
    }

    #[test]
    fn co_authors_are_assistants_by_name_or_address() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Claude <noreply@anthropic.com>", Some("Claude")),
            ("Claude Opus 4.5 <noreply@anthropic.com>", Some("Claude")),
            ("claude <someone@example.com>", Some("Claude")),
            ("Someone <NoReply@Anthropic.com>", Some("Claude")),
            ("Claudette Colvin <claudette@example.com>", None),
            (
                "Copilot <175728472+Copilot@users.noreply.github.com>",
                Some("GitHub Copilot"),
            ),
            (
                "copilot-swe-agent[bot] <198982749+copilot-swe-agent[bot]@users.noreply.github.com>",
                Some("GitHub Copilot"),
            ),
            (
                "GitHub Copilot <copilot@github.com>",
                Some("GitHub Copilot"),
            ),
            ("Codex <noreply@openai.com>", Some("OpenAI Codex")),
            ("ChatGPT <x@example.com>", Some("OpenAI Codex")),
            ("Cursor Agent <cursoragent@cursor.com>", Some("Cursor")),
            ("Cursor <someone@example.com>", Some("Cursor")),
            ("Gemini <gemini@example.com>", Some("Google Gemini / Jules")),
            (
                "google-labs-jules[bot] <161369871+google-labs-jules[bot]@users.noreply.github.com>",
                Some("Google Gemini / Jules"),
            ),
            ("Jules <jules@example.com>", Some("Google Gemini / Jules")),
            ("Jules Verne <jules@example.com>", None),
            (
                "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
                Some("Devin"),
            ),
            ("Devin <devin@example.com>", Some("Devin")),
            ("Devin Smith <devin@example.com>", None),
            ("aider (gpt-4o) <noreply@aider.chat>", Some("Aider")),
            ("openhands <openhands@all-hands.dev>", Some("OpenHands")),
            (
                "Amazon Q Developer <q@example.com>",
                Some("Amazon Q Developer"),
            ),
            ("Windsurf <w@example.com>", Some("Windsurf / Codeium")),
            ("Codeium <c@example.com>", Some("Windsurf / Codeium")),
            ("Tabnine <t@example.com>", Some("Tabnine")),
            (
                "sweep-ai[bot] <128439645+sweep-ai[bot]@users.noreply.github.com>",
                Some("Sweep"),
            ),
            ("Ada Lovelace <ada@example.com>", None),
            (
                "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
                None,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(co_author(value), *expected, "Co-authored-by: {value}");
        }
    }

    #[test]
    fn trailer_keys_match_in_any_case_and_indented() {
        // `git merge --squash` indents each squashed message by four spaces.
        let squashed = "Squashed commit of the following:\n\ncommit 0123\nAuthor: a <a@b>\n\n    Add x\n    \n    Co-Authored-By: Claude <noreply@anthropic.com>\n";
        assert_eq!(
            found(squashed),
            vec![(MarkerKind::CoAuthoredBy, Some("Claude"))]
        );
        assert_eq!(
            found("x\n\nco-authored-by: claude <noreply@anthropic.com>"),
            vec![(MarkerKind::CoAuthoredBy, Some("Claude"))]
        );
    }

    #[test]
    fn the_subject_line_is_not_a_trailer() {
        assert_eq!(found("Assisted-by: nobody"), vec![]);
        assert_eq!(
            found("Fix: Co-authored-by: Claude <noreply@anthropic.com>"),
            vec![]
        );
    }

    #[test]
    fn assisted_and_generated_by_are_markers_whatever_they_name() {
        assert_eq!(
            found("x\n\nAssisted-by: exec\nGenerated-by: claude-code:claude-sonnet-4\n"),
            vec![
                (MarkerKind::AssistedBy, None),
                (MarkerKind::GeneratedBy, Some("Claude")),
            ]
        );
        // An empty value is no trailer at all.
        assert_eq!(found("x\n\nAssisted-by:\n"), vec![]);
    }

    #[test]
    fn ai_assisted_no_is_not_a_marker() {
        for negative in ["no", "No", "false", "none", "NONE", "0"] {
            assert_eq!(found(&format!("x\n\nAI-Assisted: {negative}\n")), vec![]);
        }
        for positive in ["yes", "true", "partly"] {
            assert_eq!(
                found(&format!("x\n\nAI-Assisted: {positive}\n")),
                vec![(MarkerKind::AiAssisted, None)]
            );
        }
        assert_eq!(
            found("x\n\nAI-Assisted: Copilot\n"),
            vec![(MarkerKind::AiAssisted, Some("GitHub Copilot"))]
        );
    }

    #[test]
    fn made_with_counts_only_for_a_known_assistant() {
        assert_eq!(
            found("x\n\nMade-with: Cursor\n"),
            vec![(MarkerKind::MadeWith, Some("Cursor"))]
        );
        assert_eq!(found("x\n\nMade-with: love\n"), vec![]);
    }

    #[test]
    fn other_trailers_and_prose_are_not_markers() {
        let message = "Add a parser\n\nThis was written by hand; Claude reviewed nothing.\nSee https://example.com/a:b\n\nSigned-off-by: Ada <ada@example.com>\nCo-authored-by: Grace <grace@example.com>\nReviewed-by: Claude Shannon <claude@example.com>\n";
        assert_eq!(found(message), vec![]);
        assert_eq!(found(""), vec![]);
        assert_eq!(found("\n\n\n"), vec![]);
    }

    #[test]
    fn each_marker_line_is_reported_once_in_order() {
        let message = "x\n\nCo-authored-by: Claude <noreply@anthropic.com>\nCo-authored-by: Codex <noreply@openai.com>\nAssisted-by: aider\n";
        assert_eq!(
            found(message),
            vec![
                (MarkerKind::CoAuthoredBy, Some("Claude")),
                (MarkerKind::CoAuthoredBy, Some("OpenAI Codex")),
                (MarkerKind::AssistedBy, Some("Aider")),
            ]
        );
        assert_eq!(
            message_markers(message)[0].to_string(),
            "Co-authored-by: Claude <noreply@anthropic.com> (Claude)"
        );
    }

    #[test]
    fn identities_count_by_address_bot_login_or_aider_suffix_only() {
        let copilot = identity_marker(
            MarkerKind::Author,
            "Copilot",
            "198982749+Copilot@users.noreply.github.com",
        )
        .unwrap();
        assert_eq!(copilot.assistant, Some("GitHub Copilot"));
        assert_eq!(
            copilot.to_string(),
            "author Copilot <198982749+Copilot@users.noreply.github.com> (GitHub Copilot)"
        );
        assert_eq!(
            identity_marker(
                MarkerKind::Committer,
                "Ada Lovelace (aider)",
                "ada@example.com"
            )
            .and_then(|m| m.assistant),
            Some("Aider")
        );
        assert_eq!(
            identity_marker(MarkerKind::Author, "Claude", "claude@example.com"),
            None
        );
        assert_eq!(
            identity_marker(MarkerKind::Committer, "GitHub", "noreply@github.com"),
            None
        );
        let all = commit_markers(
            "x\n\nAssisted-by: exec\n",
            ("docket", "docket@localhost"),
            ("openhands", "openhands@all-hands.dev"),
        );
        assert_eq!(
            all.iter().map(|m| m.kind).collect::<Vec<_>>(),
            vec![MarkerKind::AssistedBy, MarkerKind::Committer]
        );
    }

    #[test]
    fn word_boundaries_hold_for_non_ascii_neighbours() {
        assert!(contains_word("claude", "claude"));
        assert!(contains_word("(claude)", "claude"));
        assert!(contains_word("claude-code", "claude"));
        assert!(!contains_word("claudeé", "claude"));
        assert!(!contains_word("éclaude", "claude"));
        assert!(contains_word("ééclaude claude", "claude"));
        assert!(!contains_word("anything", ""));
    }

    #[test]
    fn every_assistant_has_a_way_to_be_named() {
        assert!(!ASSISTANTS.is_empty());
        for a in ASSISTANTS {
            assert!(
                !(a.words.is_empty() && a.exact_names.is_empty() && a.addresses.is_empty()),
                "{}",
                a.name
            );
        }
    }
}
