//! Local tickets: parsing a markdown file (optional YAML front matter, a title heading,
//! ```` ```docket ```` directive blocks) into a [`Ticket`] with a validated id and a digest
//! of the exact text.
//!
//! Ticket text is untrusted input. This module only parses it: nothing in a ticket is
//! executed or interpreted beyond the fields below, and any piece of it quoted in an
//! error is escaped so it cannot smuggle terminal control sequences.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A parsed ticket. `text` and `digest` pin down exactly what the agent was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub title: String,
    pub labels: Vec<String>,
    pub state: Option<String>,
    pub requester: Option<String>,
    pub assignee: Option<String>,
    /// The markdown after the front matter (the whole text when there is none).
    pub body: String,
    /// `key: value` lines from ```` ```docket ```` blocks; keys lowercased, values trimmed.
    pub directives: BTreeMap<String, String>,
    /// The exact original file text.
    pub text: String,
    /// `sha256:<lowercase hex>` of the bytes of `text`.
    pub digest: String,
}

/// Where a ticket's id came from, so an error can say what to rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOrigin {
    FrontMatter,
    FileStem,
    ParentFolder,
}

impl fmt::Display for IdOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdOrigin::FrontMatter => "front matter `id`",
            IdOrigin::FileStem => "file name",
            IdOrigin::ParentFolder => "folder name",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error(
        "{}:1: front matter opened with `---` has no closing `---` line; add one, or remove the opening line for a plain markdown ticket",
        path.display()
    )]
    UnclosedFrontMatter { path: PathBuf },

    #[error("{}: front matter is not valid YAML: {message}", location(path, *line, *column))]
    FrontMatterSyntax {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    #[error(
        "{}:2: front matter must be a mapping of keys (id, title, labels, state, requester, assignee)",
        path.display()
    )]
    FrontMatterNotMapping { path: PathBuf },

    #[error(
        "{}: unknown front-matter key `{key}`{}; known keys are {}",
        location(path, *line, None),
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        FRONT_MATTER_KEYS.join(", ")
    )]
    UnknownFrontMatterKey {
        path: PathBuf,
        line: Option<usize>,
        /// Escaped for display.
        key: String,
        suggestion: Option<&'static str>,
    },

    /// A known key with a value of the wrong type; `message` starts with the key.
    #[error("{}: {message}", location(path, *line, *column))]
    FrontMatterValue {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    #[error("{}: cannot derive a ticket id from the file name; add `id:` to the front matter", path.display())]
    NoId { path: PathBuf },

    #[error("{}: invalid ticket id `{id}` (from the {origin}): {reason}", path.display())]
    InvalidId {
        path: PathBuf,
        /// Escaped for display.
        id: String,
        origin: IdOrigin,
        reason: &'static str,
    },

    #[error(
        "{}:{line}: ```docket block is never closed; end it with a ``` line",
        path.display()
    )]
    UnclosedDirectiveBlock { path: PathBuf, line: usize },

    #[error(
        "{}:{line}: malformed line `{content}` in ```docket block: {reason}",
        path.display()
    )]
    MalformedDirective {
        path: PathBuf,
        line: usize,
        /// Escaped for display.
        content: String,
        reason: &'static str,
    },

    #[error(
        "{}:{line}: directive `{key}` is given twice; keep one so the ticket's routing is unambiguous",
        path.display()
    )]
    DuplicateDirective {
        path: PathBuf,
        line: usize,
        key: String,
    },
}

fn location(path: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{}:{line}:{column}", path.display()),
        (Some(line), None) => format!("{}:{line}", path.display()),
        _ => path.display().to_string(),
    }
}

const FRONT_MATTER_KEYS: &[&str] = &["id", "title", "labels", "state", "requester", "assignee"];

/// Longest ticket id; ids become part of branch names and folder names.
const MAX_ID_LEN: usize = 64;

/// Whether `id` is safe to put in a git branch name and a file name.
pub fn is_valid_ticket_id(id: &str) -> bool {
    ticket_id_problem(id).is_none()
}

fn ticket_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        return Some("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return Some("it is longer than 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some("only letters, digits, `.`, `_` and `-` are allowed");
    }
    // A leading `-` would read as an option to git; a leading `.` is a hidden file.
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or digit");
    }
    // git refuses these in ref names.
    if id.contains("..") {
        return Some("it must not contain `..`");
    }
    if id.ends_with('.') {
        return Some("it must not end with `.`");
    }
    if id.to_ascii_lowercase().ends_with(".lock") {
        return Some("it must not end with `.lock`");
    }
    None
}

/// Parses a ticket file. `file_name` is only used for the id fallback and for error
/// messages; no file is read.
pub fn parse_ticket(file_name: &Path, text: &str) -> Result<Ticket, TicketError> {
    let path = file_name.to_path_buf();
    // Editors on Windows may add a byte order mark; it is not content.
    let bom_len = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let unmarked = text.get(bom_len..).unwrap_or_default();

    let (front, body, body_first_line) = match split_front_matter(unmarked) {
        FrontMatterSplit::None => (FrontMatter::default(), unmarked, 1),
        FrontMatterSplit::Unclosed => return Err(TicketError::UnclosedFrontMatter { path }),
        FrontMatterSplit::Found {
            yaml,
            body,
            body_first_line,
        } => (parse_front_matter(&path, yaml)?, body, body_first_line),
    };

    let (id, origin) = match front.id {
        Some(ScalarString(id)) => (id, IdOrigin::FrontMatter),
        None => {
            id_from_file_name(file_name).ok_or_else(|| TicketError::NoId { path: path.clone() })?
        }
    };
    if let Some(reason) = ticket_id_problem(&id) {
        return Err(TicketError::InvalidId {
            path,
            id: escape(&id),
            origin,
            reason,
        });
    }

    let scan = scan_markdown(&path, body, body_first_line)?;
    let title = front
        .title
        .map(|ScalarString(t)| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .or(scan.heading)
        .unwrap_or_else(|| id.clone());

    Ok(Ticket {
        id,
        title,
        labels: front.labels.map(|Labels(l)| l).unwrap_or_default(),
        state: front.state.map(|ScalarString(s)| s),
        requester: front.requester.map(|ScalarString(s)| s),
        assignee: front.assignee.map(|ScalarString(s)| s),
        body: body.to_owned(),
        directives: scan.directives,
        text: text.to_owned(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes()))),
    })
}

/// `REMEDIATION.md` and `README.md` describe the folder they sit in, so the folder
/// names the ticket; any other file is named by its stem.
fn id_from_file_name(file_name: &Path) -> Option<(String, IdOrigin)> {
    let name = file_name.file_name()?.to_str()?;
    let folder_named = ["remediation.md", "readme.md"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
    if folder_named {
        let folder = file_name.parent()?.file_name()?.to_str()?;
        Some((folder.to_owned(), IdOrigin::ParentFolder))
    } else {
        let stem = file_name.file_stem()?.to_str()?;
        Some((stem.to_owned(), IdOrigin::FileStem))
    }
}

/// A line of text with its 1-based number; `content` has no line ending.
struct Line<'a> {
    number: usize,
    content: &'a str,
    /// Byte offset just past the line ending.
    end: usize,
}

fn lines_of(text: &str, first_number: usize) -> impl Iterator<Item = Line<'_>> {
    let mut offset = 0;
    text.split_inclusive('\n')
        .enumerate()
        .map(move |(index, raw)| {
            offset += raw.len();
            let content = raw.strip_suffix('\n').unwrap_or(raw);
            let content = content.strip_suffix('\r').unwrap_or(content);
            Line {
                number: first_number + index,
                content,
                end: offset,
            }
        })
}

enum FrontMatterSplit<'a> {
    None,
    Unclosed,
    Found {
        /// From the opening `---` up to (not including) the closing one. Keeping the
        /// opening line makes YAML line numbers equal file line numbers.
        yaml: &'a str,
        body: &'a str,
        body_first_line: usize,
    },
}

fn split_front_matter(text: &str) -> FrontMatterSplit<'_> {
    let mut lines = lines_of(text, 1);
    match lines.next() {
        Some(first) if first.content.trim_end() == "---" => {}
        _ => return FrontMatterSplit::None,
    }
    let mut yaml_end = None;
    for line in lines {
        if line.content.trim_end() == "---" {
            let start = line.end - line.content.len() - line_ending_len(text, line.end);
            yaml_end = Some((start, line.end, line.number + 1));
            break;
        }
    }
    match yaml_end {
        None => FrontMatterSplit::Unclosed,
        Some((yaml_end, body_start, body_first_line)) => FrontMatterSplit::Found {
            yaml: text.get(..yaml_end).unwrap_or_default(),
            body: text.get(body_start..).unwrap_or_default(),
            body_first_line,
        },
    }
}

/// Length of the line ending (0, 1 or 2 bytes) of the line that ends at `end`.
fn line_ending_len(text: &str, end: usize) -> usize {
    let before = text.get(..end).unwrap_or_default();
    if before.ends_with("\r\n") {
        2
    } else if before.ends_with('\n') {
        1
    } else {
        0
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<ScalarString>,
    title: Option<ScalarString>,
    labels: Option<Labels>,
    state: Option<ScalarString>,
    requester: Option<ScalarString>,
    assignee: Option<ScalarString>,
}

fn parse_front_matter(path: &Path, yaml: &str) -> Result<FrontMatter, TicketError> {
    // First as a generic value: syntax errors, the overall shape and unknown keys are
    // reported before types, so a typo like `lables` is named as such.
    let value: yaml_serde::Value =
        yaml_serde::from_str(yaml).map_err(|e| TicketError::FrontMatterSyntax {
            path: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            message: yaml_message(&e),
        })?;
    let mapping = match value {
        yaml_serde::Value::Null => return Ok(FrontMatter::default()),
        yaml_serde::Value::Mapping(mapping) => mapping,
        _ => {
            return Err(TicketError::FrontMatterNotMapping {
                path: path.to_path_buf(),
            });
        }
    };
    for key in mapping.keys() {
        let name = match key {
            yaml_serde::Value::String(s) => s.clone(),
            other => yaml_serde::to_string(other)
                .map(|s| s.trim_end().to_owned())
                .unwrap_or_default(),
        };
        if !FRONT_MATTER_KEYS.contains(&name.as_str()) {
            return Err(TicketError::UnknownFrontMatterKey {
                path: path.to_path_buf(),
                line: top_level_key_line(yaml, &name),
                key: escape(&name),
                suggestion: closest_key(&name),
            });
        }
    }
    yaml_serde::from_str(yaml).map_err(|e| TicketError::FrontMatterValue {
        path: path.to_path_buf(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        message: yaml_message(&e),
    })
}

/// The YAML error's message without its " at line L column C" part, which we report
/// as structured fields instead.
fn yaml_message(error: &yaml_serde::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(l) => message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => message,
    }
}

/// Line of a top-level block-mapping key; `None` for flow style, where a line is
/// less useful anyway.
fn top_level_key_line(yaml: &str, key: &str) -> Option<usize> {
    lines_of(yaml, 1)
        .find(|line| {
            let content = line.content;
            [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    content
                        .strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
        })
        .map(|line| line.number)
}

/// The known key within edit distance 2 of `key`, for a "did you mean" hint.
fn closest_key(key: &str) -> Option<&'static str> {
    FRONT_MATTER_KEYS
        .iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let delete = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = current.get(j).copied().unwrap_or(0) + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// A scalar front-matter value. Integers are accepted as text because ids and states
/// like `42` are common and YAML would otherwise type them as numbers.
#[derive(Debug)]
struct ScalarString(String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ScalarString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `labels:` as a list of strings, or a single string for one label.
#[derive(Debug)]
struct Labels(Vec<String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Labels, E> {
                Ok(Labels(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Labels, A::Error> {
                let mut labels = Vec::new();
                while let Some(ScalarString(label)) = seq.next_element()? {
                    labels.push(label);
                }
                Ok(Labels(labels))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What one pass over the markdown body finds.
struct MarkdownScan {
    heading: Option<String>,
    directives: BTreeMap<String, String>,
}

struct OpenFence {
    marker: char,
    len: usize,
    is_docket: bool,
    line: usize,
}

/// Finds the first ATX heading and the ```` ```docket ```` blocks, skipping other fenced
/// code so that a `# comment` in a shell snippet is not taken for the title.
fn scan_markdown(path: &Path, body: &str, first_line: usize) -> Result<MarkdownScan, TicketError> {
    let mut scan = MarkdownScan {
        heading: None,
        directives: BTreeMap::new(),
    };
    let mut fence: Option<OpenFence> = None;
    for line in lines_of(body, first_line) {
        match &fence {
            Some(open) => {
                if closes_fence(line.content, open) {
                    fence = None;
                } else if open.is_docket {
                    parse_directive(path, &line, &mut scan.directives)?;
                }
            }
            None => {
                if let Some(open) = opening_fence(line.content, line.number) {
                    fence = Some(open);
                } else if scan.heading.is_none() {
                    scan.heading = atx_heading(line.content);
                }
            }
        }
    }
    match fence {
        // An unclosed docket block would swallow the rest of the ticket as directives;
        // refuse rather than guess where it was meant to end.
        Some(open) if open.is_docket => Err(TicketError::UnclosedDirectiveBlock {
            path: path.to_path_buf(),
            line: open.line,
        }),
        _ => Ok(scan),
    }
}

/// Strips up to three spaces of indentation, as CommonMark allows for block starts.
fn strip_block_indent(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    (indent <= 3).then(|| line.trim_start_matches(' '))
}

fn opening_fence(line: &str, number: usize) -> Option<OpenFence> {
    let rest = strip_block_indent(line)?;
    let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.len() - rest.trim_start_matches(marker).len();
    if len < 3 {
        return None;
    }
    let info = rest.get(len..).unwrap_or_default().trim();
    if marker == '`' && info.contains('`') {
        return None;
    }
    Some(OpenFence {
        marker,
        len,
        is_docket: info.split_whitespace().next() == Some("docket"),
        line: number,
    })
}

fn closes_fence(line: &str, open: &OpenFence) -> bool {
    let Some(rest) = strip_block_indent(line) else {
        return false;
    };
    let len = rest.len() - rest.trim_start_matches(open.marker).len();
    len >= open.len && rest.get(len..).unwrap_or_default().trim().is_empty()
}

/// The text of an ATX heading (`# Title`, `## Title ##`), or `None`.
fn atx_heading(line: &str) -> Option<String> {
    let rest = strip_block_indent(line)?;
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = rest.get(level..).unwrap_or_default();
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let content = after.trim();
    // A closing run of `#` counts only when separated by whitespace (or it is all there is).
    let without_closing = content.trim_end_matches('#');
    let content = if without_closing.is_empty() {
        ""
    } else if without_closing.ends_with([' ', '\t']) {
        without_closing.trim_end()
    } else {
        content
    };
    (!content.is_empty()).then(|| content.to_owned())
}

fn parse_directive(
    path: &Path,
    line: &Line<'_>,
    directives: &mut BTreeMap<String, String>,
) -> Result<(), TicketError> {
    let trimmed = line.content.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(());
    }
    let malformed = |reason| TicketError::MalformedDirective {
        path: path.to_path_buf(),
        line: line.number,
        content: escape(trimmed),
        reason,
    };
    let (key, value) = trimmed
        .split_once(':')
        .ok_or_else(|| malformed("expected `key: value`"))?;
    let key = key.trim().to_ascii_lowercase();
    let value = value.trim();
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(malformed(
            "the key must be letters, digits, `_` or `-`, followed by `:`",
        ));
    }
    if value.is_empty() {
        return Err(malformed("the value is empty"));
    }
    if directives.contains_key(&key) {
        return Err(TicketError::DuplicateDirective {
            path: path.to_path_buf(),
            line: line.number,
            key,
        });
    }
    directives.insert(key, value.to_owned());
    Ok(())
}

/// Untrusted text made safe to show in a terminal.
fn escape(text: &str) -> String {
    text.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(file: &str, text: &str) -> Result<Ticket, TicketError> {
        parse_ticket(Path::new(file), text)
    }

    fn parse_ok(file: &str, text: &str) -> Ticket {
        parse(file, text).unwrap_or_else(|e| panic!("{file} should parse: {e}"))
    }

    fn error(file: &str, text: &str) -> String {
        match parse(file, text) {
            Ok(t) => panic!("{file} should not parse, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn sha256(text: &str) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
    }

    #[test]
    fn front_matter_fields_and_labels() {
        let text = "---\nid: fix-sg\ntitle: Restrict ingress\nlabels: [docket, repo-infra]\nstate: Ready\nrequester: alice\nassignee: bob\n---\nOpen port 22 only to the VPN.\n";
        assert_eq!(
            parse_ok(".docket/tickets/whatever.md", text),
            Ticket {
                id: "fix-sg".into(),
                title: "Restrict ingress".into(),
                labels: vec!["docket".into(), "repo-infra".into()],
                state: Some("Ready".into()),
                requester: Some("alice".into()),
                assignee: Some("bob".into()),
                body: "Open port 22 only to the VPN.\n".into(),
                directives: BTreeMap::new(),
                text: text.into(),
                digest: sha256(text),
            }
        );
    }

    #[test]
    fn labels_may_be_a_single_string_and_ids_numbers() {
        let ticket = parse_ok("t.md", "---\nid: 42\nlabels: docket\n---\n");
        assert_eq!(
            (ticket.id.as_str(), ticket.labels, ticket.title.as_str()),
            ("42", vec!["docket".to_owned()], "42")
        );
    }

    #[test]
    fn empty_front_matter_is_plain() {
        let ticket = parse_ok("tickets/empty-fm.md", "---\n---\n# Heading\n");
        assert_eq!(
            (
                ticket.id.as_str(),
                ticket.title.as_str(),
                ticket.body.as_str()
            ),
            ("empty-fm", "Heading", "# Heading\n")
        );
    }

    #[test]
    fn plain_markdown_takes_title_from_first_heading() {
        let text =
            "Some intro.\n\n```sh\n# not a title\n```\n\n## Rotate the  keys ##\n\n# Later\n";
        let ticket = parse_ok("tickets/rotate-keys.md", text);
        assert_eq!(
            ticket,
            Ticket {
                id: "rotate-keys".into(),
                title: "Rotate the  keys".into(),
                labels: vec![],
                state: None,
                requester: None,
                assignee: None,
                body: text.into(),
                directives: BTreeMap::new(),
                text: text.into(),
                digest: sha256(text),
            }
        );
    }

    #[test]
    fn heading_edge_cases() {
        let cases = [
            ("# Title", Some("Title")),
            ("   ### Deep #", Some("Deep")),
            ("# C# tips", Some("C# tips")),
            ("# Issue#", Some("Issue#")),
            ("#Hashtag", None),
            ("####### seven", None),
            ("    # indented code", None),
            ("#", None),
            ("# ###", None),
        ];
        let actual: Vec<_> = cases.iter().map(|(line, _)| atx_heading(line)).collect();
        let expected: Vec<_> = cases.iter().map(|(_, t)| t.map(str::to_owned)).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn title_falls_back_to_id() {
        assert_eq!(
            parse_ok("x/no-heading.md", "just text\n").title,
            "no-heading"
        );
    }

    #[test]
    fn remediation_and_readme_take_id_from_parent_folder() {
        let ids: Vec<_> = [
            "benchmarks/rattleback/04-aws-sg-restrict-ingress/REMEDIATION.md",
            "tickets/05-rotate/readme.md",
            "tickets/06-other/notes.md",
        ]
        .iter()
        .map(|f| parse_ok(f, "# T\n").id)
        .collect();
        assert_eq!(ids, ["04-aws-sg-restrict-ingress", "05-rotate", "notes"]);
    }

    #[test]
    fn readme_without_folder_has_no_id() {
        assert_eq!(
            error("README.md", "# T\n"),
            "README.md: cannot derive a ticket id from the file name; add `id:` to the front matter"
        );
    }

    #[test]
    fn invalid_ids_are_rejected_with_reason() {
        assert_eq!(
            error("t/a.md", "---\nid: ../../etc\n---\n"),
            "t/a.md: invalid ticket id `../../etc` (from the front matter `id`): only letters, digits, `.`, `_` and `-` are allowed"
        );
        assert_eq!(
            error("t/fix.lock.md", ""),
            "t/fix.lock.md: invalid ticket id `fix.lock` (from the file name): it must not end with `.lock`"
        );
        assert_eq!(
            error("t/-x/README.md", ""),
            "t/-x/README.md: invalid ticket id `-x` (from the folder name): it must start with a letter or digit"
        );
    }

    #[test]
    fn ticket_id_truth_table() {
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        let cases = [
            ("", false),
            ("a", true),
            ("0", true),
            ("04-aws_sg.v2", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("-a", false),
            (".a", false),
            ("_a", false),
            ("a..b", false),
            ("a.", false),
            ("a.lock", false),
            ("a.LOCK", false),
            ("a.locks", true),
            ("a/b", false),
            ("a b", false),
            ("é", false),
        ];
        let actual: Vec<_> = cases
            .iter()
            .map(|(id, _)| (*id, is_valid_ticket_id(id)))
            .collect();
        assert_eq!(actual, cases);
    }

    #[test]
    fn unknown_front_matter_key_is_named_with_line_and_hint() {
        assert_eq!(
            error("t/a.md", "---\ntitle: x\nlables: [docket]\n---\n"),
            "t/a.md:3: unknown front-matter key `lables` (did you mean `labels`?); known keys are id, title, labels, state, requester, assignee"
        );
        assert_eq!(
            error("t/a.md", "---\npriority: high\n---\n"),
            "t/a.md:2: unknown front-matter key `priority`; known keys are id, title, labels, state, requester, assignee"
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_eq!(
            error("t/a.md", "---\nlabels: {a: b}\n---\n"),
            "t/a.md:2:9: labels: invalid type: map, expected a string or a list of strings"
        );
        assert_eq!(
            error("t/a.md", "---\nlabels: [ok, [nested]]\n---\n"),
            "t/a.md:2:14: labels[1]: invalid type: sequence, expected a string"
        );
        assert_eq!(
            error("t/a.md", "---\nassignee: true\n---\n"),
            "t/a.md:2:11: assignee: invalid type: boolean `true`, expected a string"
        );
    }

    #[test]
    fn malformed_yaml_reports_message_and_line() {
        assert_eq!(
            error("t/a.md", "---\ntitle: ok\nlabels: [a, b\n---\n"),
            "t/a.md:4:1: front matter is not valid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 3 column 9"
        );
        assert_eq!(
            error("t/a.md", "---\n- a\n---\n"),
            "t/a.md:2: front matter must be a mapping of keys (id, title, labels, state, requester, assignee)"
        );
        assert_eq!(
            error("t/a.md", "---\ntitle: x\n"),
            "t/a.md:1: front matter opened with `---` has no closing `---` line; add one, or remove the opening line for a plain markdown ticket"
        );
    }

    #[test]
    fn duplicate_and_empty_front_matter_values() {
        assert_eq!(
            error("t/a.md", "---\nid: a\nid: b\n---\n"),
            // The YAML parser points at the mapping, not the repeated key.
            "t/a.md:2:1: front matter is not valid YAML: duplicate entry with key \"id\""
        );
        assert_eq!(
            error("t/a.md", "---\nid: ''\n---\n"),
            "t/a.md: invalid ticket id `` (from the front matter `id`): it is empty"
        );
        // An explicit null is the same as leaving the key out.
        let ticket = parse_ok(
            "t/from-stem.md",
            "---\nid: ~\ntitle: ''\nassignee:\n---\n# Heading\n",
        );
        assert_eq!(
            (ticket.id.as_str(), ticket.title.as_str(), ticket.assignee),
            ("from-stem", "Heading", None)
        );
    }

    #[test]
    fn crlf_file_parses_and_keeps_exact_text() {
        let text = "---\r\nid: win\r\nlabels:\r\n  - docket\r\n---\r\n# Windows title\r\n\r\n```docket\r\nrepo: infra\r\n```\r\n";
        let ticket = parse_ok("t/x.md", text);
        assert_eq!(
            (
                ticket.id.as_str(),
                ticket.title.as_str(),
                ticket.labels,
                ticket.body.as_str(),
                ticket.directives.get("repo").map(String::as_str),
                ticket.text.as_str(),
            ),
            (
                "win",
                "Windows title",
                vec!["docket".to_owned()],
                "# Windows title\r\n\r\n```docket\r\nrepo: infra\r\n```\r\n",
                Some("infra"),
                text,
            )
        );
    }

    #[test]
    fn byte_order_mark_does_not_hide_front_matter() {
        let text = "\u{feff}---\nid: bom\n---\nbody\n";
        let ticket = parse_ok("t/x.md", text);
        assert_eq!(
            (
                ticket.id.as_str(),
                ticket.body.as_str(),
                ticket.text.as_str()
            ),
            ("bom", "body\n", text)
        );
    }

    #[test]
    fn directive_blocks_are_collected() {
        let text = "# Route me\n\n```docket\nRepo: infra\n# a comment\n\nrunner :  fast lane \n```\n\n~~~ docket extra\nteam: platform\n~~~\n\n````md\n```docket\nrepo: not-this\n```\n````\n";
        let ticket = parse_ok("t/route.md", text);
        assert_eq!(
            ticket.directives,
            BTreeMap::from([
                ("repo".to_owned(), "infra".to_owned()),
                ("runner".to_owned(), "fast lane".to_owned()),
                ("team".to_owned(), "platform".to_owned()),
            ])
        );
    }

    #[test]
    fn malformed_directives_are_errors_with_line() {
        assert_eq!(
            error(
                "t/a.md",
                "---\nid: a\n---\n# T\n```docket\nrepo infra\n```\n"
            ),
            "t/a.md:6: malformed line `repo infra` in ```docket block: expected `key: value`"
        );
        assert_eq!(
            error("t/a.md", "```docket\nrepo:\n```\n"),
            "t/a.md:2: malformed line `repo:` in ```docket block: the value is empty"
        );
        assert_eq!(
            error("t/a.md", "```docket\nre po: x\u{1b}[2J\n```\n"),
            "t/a.md:2: malformed line `re po: x\\u{1b}[2J` in ```docket block: the key must be letters, digits, `_` or `-`, followed by `:`"
        );
        assert_eq!(
            error(
                "t/a.md",
                "```docket\nrepo: a\n```\n```docket\nREPO: b\n```\n"
            ),
            "t/a.md:5: directive `repo` is given twice; keep one so the ticket's routing is unambiguous"
        );
        assert_eq!(
            error("t/a.md", "text\n```docket\nrepo: a\n"),
            "t/a.md:2: ```docket block is never closed; end it with a ``` line"
        );
    }

    #[test]
    fn digest_is_sha256_of_exact_text() {
        let ticket = parse_ok("t/abc.md", "abc");
        assert_eq!(
            ticket.digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
