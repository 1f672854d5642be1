//! Local tickets: parsing a markdown file (optional YAML front matter, a title heading,
//! ```` ```docket ```` directive blocks) into a [`Ticket`] with a validated id and a digest
//! of the exact text.
//!
//! Ticket text is untrusted input. This module only parses it: nothing in a ticket is
//! executed or interpreted beyond the fields below, and any piece of it quoted in an
//! error is escaped so it cannot smuggle terminal control sequences.
//!
//! Split by concern: `front_matter` reads the YAML header, `markdown` the title and
//! directive blocks of the body, `id` decides and checks the ticket's id, and
//! `error` says what is wrong and where.

mod error;
mod front_matter;
mod id;
mod markdown;
#[cfg(test)]
mod test_support;

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use error::TicketError;
pub use id::{IdOrigin, is_valid_ticket_id};

use front_matter::{
    FrontMatter, FrontMatterSplit, Labels, ScalarString, parse_front_matter, split_front_matter,
};
use id::{id_from_file_name, ticket_id_problem};
use markdown::scan_markdown;

/// A parsed ticket. `text` and `digest` pin down exactly what the agent was given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Untrusted text made safe to show in a terminal.
fn escape(text: &str) -> String {
    text.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::test_support::{parse_ok, sha256};
    use super::*;

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
    fn title_falls_back_to_id() {
        assert_eq!(
            parse_ok("x/no-heading.md", "just text\n").title,
            "no-heading"
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
    fn digest_is_sha256_of_exact_text() {
        let ticket = parse_ok("t/abc.md", "abc");
        assert_eq!(
            ticket.digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
