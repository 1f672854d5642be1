//! The text of a Terraform workspace, and positions inside it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
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

    /// Splits the set into independent parts: folders joined by a local module
    /// call (`source = "./…"` or `"../…"`) stay in one part, unrelated root
    /// modules go to separate parts. A scan of each part alone gives the same
    /// findings as a scan of the whole, while only one part's syntax trees are
    /// held at a time.
    ///
    /// The links come from the text, not the syntax tree, so that finding them
    /// costs no parse. They may over-join (a `source` argument of a resource that
    /// happens to name a sibling folder), which is harmless; they cannot miss a
    /// call, because Terraform requires a module source to be a literal string.
    pub fn into_parts(self) -> Vec<SourceSet> {
        let Some(local_source) = LOCAL_SOURCE.as_ref() else {
            return vec![self];
        };
        let dirs: Vec<String> = self
            .files
            .keys()
            .map(|p| dir_of(p).to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: BTreeMap<&str, usize> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i))
            .collect();
        let mut parent: Vec<usize> = (0..dirs.len()).collect();
        for (path, text) in &self.files {
            let dir = dir_of(path);
            let Some(&from) = index.get(dir) else {
                continue;
            };
            for cap in local_source.captures_iter(text) {
                let target = cap.get(1).and_then(|m| join_dir(dir, m.as_str()));
                if let Some(&to) = target.as_deref().and_then(|t| index.get(t)) {
                    let (a, b) = (find(&mut parent, from), find(&mut parent, to));
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        let mut parts: BTreeMap<usize, SourceSet> = BTreeMap::new();
        for (path, text) in self.files {
            let Some(&d) = index.get(dir_of(&path)) else {
                continue;
            };
            let root = find(&mut parent, d);
            parts.entry(root).or_default().files.insert(path, text);
        }
        parts.into_values().collect()
    }
}

/// `source = "./x"` or `source = "../x"` anywhere in a file.
static LOCAL_SOURCE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"\bsource\s*=\s*"(\.{1,2}/[^"]*)""#).ok());

/// Union-find root with path halving.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
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
