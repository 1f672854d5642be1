//! The markdown body of a ticket: its title (the first ATX heading outside fenced
//! code) and the `key: value` lines of its ```` ```docket ```` blocks.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::TicketError;
use super::{Line, escape, lines_of};

/// What one pass over the markdown body finds.
pub(super) struct MarkdownScan {
    pub(super) heading: Option<String>,
    pub(super) directives: BTreeMap<String, String>,
}

struct OpenFence {
    marker: char,
    len: usize,
    is_docket: bool,
    line: usize,
}

/// Finds the first ATX heading and the ```` ```docket ```` blocks, skipping other fenced
/// code so that a `# comment` in a shell snippet is not taken for the title.
pub(super) fn scan_markdown(
    path: &Path,
    body: &str,
    first_line: usize,
) -> Result<MarkdownScan, TicketError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::test_support::{error, parse_ok};

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
}
