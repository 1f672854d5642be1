//! Writing new HCL the way `terraform fmt` lays it out, and placing it in a file
//! without touching a byte outside the edited span.

use std::ops::Range;

use serde_json::Value as Json;

use crate::eval::Node;
use crate::source::ParsedFile;

/// A value to write: either data rendered as an HCL literal, or an expression
/// written as-is (a reference such as `var.kms_key_arn`).
#[derive(Debug, Clone, PartialEq)]
pub enum Hcl {
    Data(Json),
    Expr(String),
}

/// Attributes and nested blocks to add to a block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewBody {
    pub attrs: Vec<(String, Hcl)>,
    pub blocks: Vec<(String, NewBody)>,
}

impl NewBody {
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.blocks.is_empty()
    }

    /// Adds `value` at the dotted path `rest`, creating nested blocks.
    pub fn put(&mut self, rest: &[String], value: Hcl) {
        match rest {
            [] => {}
            [key] => {
                if !self.attrs.iter().any(|(k, _)| k == key) {
                    self.attrs.push((key.clone(), value));
                }
            }
            [head, tail @ ..] => {
                if let Some((_, b)) = self.blocks.iter_mut().find(|(k, _)| k == head) {
                    b.put(tail, value);
                } else {
                    let mut b = NewBody::default();
                    b.put(tail, value);
                    self.blocks.push((head.clone(), b));
                }
            }
        }
    }
}

/// A text edit on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub file: usize,
    pub span: Range<usize>,
    pub text: String,
}

/// Quotes a string the way HCL needs it, escaping template sequences.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object key: bare when it is an identifier, quoted otherwise.
pub fn key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident && !k.contains('-') {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// Renders a value. Scalars and lists of scalars stay on one line; objects are
/// written one key per line at `indent`, with `=` aligned.
pub fn value(v: &Hcl, indent: &str, nl: &str) -> String {
    match v {
        Hcl::Expr(e) => e.clone(),
        Hcl::Data(j) => json(j, indent, nl),
    }
}

fn json(j: &Json, indent: &str, nl: &str) -> String {
    match j {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => quote(s),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| json(i, indent, nl)).collect();
            format!("[{}]", parts.join(", "))
        }
        Json::Object(map) => {
            if map.is_empty() {
                return "{}".into();
            }
            let inner = format!("{indent}  ");
            let entries: Vec<(String, Hcl)> = map
                .iter()
                .map(|(k, v)| (key(k), Hcl::Data(v.clone())))
                .collect();
            let mut out = format!("{{{nl}");
            out.push_str(&attr_lines(&entries, &inner, nl));
            out.push_str(indent);
            out.push('}');
            out
        }
    }
}

/// Attribute lines at `indent`, `=` aligned over runs of single-line values the way
/// `terraform fmt` does (a multi-line value ends the run and is not padded).
pub fn attr_lines(attrs: &[(String, Hcl)], indent: &str, nl: &str) -> String {
    let rendered: Vec<(String, String)> = attrs
        .iter()
        .map(|(k, v)| (k.clone(), value(v, indent, nl)))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < rendered.len() {
        let mut j = i;
        while j < rendered.len() && !rendered.get(j).is_some_and(|(_, v)| v.contains('\n')) {
            j += 1;
        }
        let width = rendered
            .get(i..j)
            .unwrap_or(&[])
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rendered.get(i..j).unwrap_or(&[]) {
            out.push_str(&format!("{indent}{k:<width$} = {v}{nl}"));
        }
        if let Some((k, v)) = rendered.get(j) {
            out.push_str(&format!("{indent}{k} = {v}{nl}"));
            j += 1;
        }
        i = j;
    }
    out
}

/// Renders a body's content at `indent`: attributes, then (after a blank line)
/// each block.
pub fn body_lines(body: &NewBody, indent: &str, nl: &str) -> String {
    let mut out = attr_lines(&body.attrs, indent, nl);
    for (i, (ident, inner)) in body.blocks.iter().enumerate() {
        if i > 0 || !body.attrs.is_empty() {
            out.push_str(nl);
        }
        out.push_str(&block_text(ident, &[], inner, indent, nl));
    }
    out
}

/// `ident "label" {` … `}` at `indent`, ending with a newline.
pub fn block_text(ident: &str, labels: &[&str], body: &NewBody, indent: &str, nl: &str) -> String {
    let mut head = ident.to_owned();
    for l in labels {
        head.push(' ');
        head.push_str(&quote(l));
    }
    let inner = format!("{indent}  ");
    let lines = nested_lines(body, &inner, nl);
    format!("{indent}{head} {{{nl}{lines}{indent}}}{nl}")
}

/// Like [`body_lines`] but without blank lines: used inside new nested blocks.
fn nested_lines(body: &NewBody, indent: &str, nl: &str) -> String {
    let mut out = attr_lines(&body.attrs, indent, nl);
    for (ident, inner) in &body.blocks {
        out.push_str(&block_text(ident, &[], inner, indent, nl));
    }
    out
}

/// Places `body` at the end of an existing block's body: one new group after a
/// blank line, indented one level deeper than the block header.
pub fn append_to_block(
    file: &ParsedFile,
    file_id: usize,
    node: &Node<'_>,
    body: &NewBody,
) -> Result<Edit, String> {
    let span = node.span();
    let text = file.slice(&span);
    let nl = file.newline();
    let header_indent = file.indent_at(span.start).to_owned();
    let inner = format!("{header_indent}  ");
    let lines = body_lines(body, &inner, nl);
    let Some(close) = text.rfind('}') else {
        return Err("the block has no closing brace".into());
    };
    let close_abs = span.start + close;
    let open = text.find('{').map(|o| span.start + o);
    let content = open
        .and_then(|o| file.text.get(o + 1..close_abs))
        .unwrap_or("");
    if content.trim().is_empty() {
        // `name {}` or an empty body: rewrite the braces' inside.
        let Some(open) = open else {
            return Err("the block has no opening brace".into());
        };
        return Ok(Edit {
            file: file_id,
            span: open + 1..close_abs,
            text: format!("{nl}{lines}{header_indent}"),
        });
    }
    let line_start = file.line_start(close_abs);
    let before_close = file.text.get(line_start..close_abs).unwrap_or("");
    if !before_close.trim().is_empty() {
        return Err("the block is written on one line; edit it by hand".into());
    }
    Ok(Edit {
        file: file_id,
        span: line_start..line_start,
        text: format!("{nl}{lines}"),
    })
}
