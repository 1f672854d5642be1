//! [`TicketError`]: why a ticket file was refused, with the path and line to fix.

use std::path::{Path, PathBuf};

use super::id::IdOrigin;

/// The keys a ticket's front matter may carry. Kept here, below `front_matter`, because
/// an unknown key's error lists them; `front_matter` checks keys against the same list.
pub(super) const FRONT_MATTER_KEYS: &[&str] =
    &["id", "title", "labels", "state", "requester", "assignee"];

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
