//! The text of a Terraform workspace, and positions inside it.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl_edit::structure::Body;
use serde::Serialize;

/// The `.tf` files of a workspace, keyed by path relative to the workspace root
/// with `/` separators. The edge reads them; this crate never touches the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSet {
    files: BTreeMap<String, String>,
}

impl SourceSet {
    pub fn new() -> SourceSet {
        SourceSet::default()
    }

    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Directory part of a relative path: `"modules/sg/main.tf"` → `"modules/sg"`,
/// `"main.tf"` → `""`.
pub fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Joins a module directory and a relative `source`, refusing any path that leaves
/// the workspace. `None` means the source escapes the root.
pub fn join_dir(dir: &str, source: &str) -> Option<String> {
    let mut parts: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for seg in source.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// A parse failure, with the position the parser reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One parsed file: its text, syntax tree and line table.
#[derive(Debug)]
pub struct ParsedFile {
    pub path: String,
    pub text: String,
    pub body: Option<Body>,
    line_starts: Vec<usize>,
    pub crlf: bool,
}

impl ParsedFile {
    pub fn parse(path: &str, text: &str) -> (ParsedFile, Option<ParseError>) {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let crlf = text.contains("\r\n");
        let (body, error) = match hcl_edit::parser::parse_body(text) {
            Ok(body) => (Some(body), None),
            Err(e) => {
                let loc = e.location();
                let message = e.message().to_owned();
                (
                    None,
                    Some(ParseError {
                        file: path.to_owned(),
                        line: loc.line(),
                        column: loc.column(),
                        message,
                    }),
                )
            }
        };
        (
            ParsedFile {
                path: path.to_owned(),
                text: text.to_owned(),
                body,
                line_starts,
                crlf,
            },
            error,
        )
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset.min(self.text.len()))
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }

    /// Byte offset where the line holding `offset` starts.
    pub fn line_start(&self, offset: usize) -> usize {
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        self.line_starts.get(line - 1).copied().unwrap_or(0)
    }

    /// The whitespace that opens the line holding `offset`.
    pub fn indent_at(&self, offset: usize) -> &str {
        let start = self.line_start(offset);
        let rest = self.text.get(start..).unwrap_or("");
        let n = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        rest.get(..n).unwrap_or("")
    }

    pub fn newline(&self) -> &'static str {
        if self.crlf { "\r\n" } else { "\n" }
    }

    pub fn slice(&self, span: &Range<usize>) -> &str {
        self.text.get(span.clone()).unwrap_or("")
    }

    /// The comment lines directly above the line holding `offset` (no blank line
    /// in between), without their `#`/`//` markers. Tickets name resources this way.
    pub fn comments_above(&self, offset: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut line = self.line_starts.partition_point(|s| *s <= offset).max(1) - 1;
        while line > 0 {
            line -= 1;
            let start = self.line_starts.get(line).copied().unwrap_or(0);
            let end = self
                .line_starts
                .get(line + 1)
                .copied()
                .unwrap_or(self.text.len());
            let text = self.text.get(start..end).unwrap_or("").trim();
            let comment = text
                .strip_prefix('#')
                .or_else(|| text.strip_prefix("//"))
                .map(str::trim);
            match comment {
                Some(c) => out.push(c.to_owned()),
                None => break,
            }
        }
        out.reverse();
        out
    }
}
