//! Reading a plan out of a model's answer: find the one JSON document in the text,
//! then read it strictly.
//!
//! The answer is untrusted data. Nothing in it is executed or followed; a plan
//! that cannot be read is an error naming what is wrong, which the engine turns
//! into a needs-human outcome.

use serde_json::Value as Json;
use thiserror::Error;

use super::document::{PLAN_SCHEMA, Plan};

/// Why a model's answer (or a plan file) is not a plan docket can read. Each
/// message is one sentence saying what to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanAnswerError {
    #[error(
        "the answer holds no JSON plan; answer with one JSON object (schema \"{PLAN_SCHEMA}\") in a ```json block"
    )]
    NoJson,
    #[error(
        "the answer holds {count} JSON blocks, so docket cannot tell which is the plan; answer with exactly one"
    )]
    SeveralJson { count: usize },
    #[error("the plan is not valid JSON at line {line}, column {column}: {message}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the plan is {found}, not a JSON object; answer with one object")]
    NotAnObject { found: &'static str },
    #[error("the plan has no \"schema\" field; set \"schema\": \"{PLAN_SCHEMA}\"")]
    MissingSchema,
    #[error("the plan's schema is {found}, but docket reads \"{PLAN_SCHEMA}\"; write that value")]
    WrongSchema { found: String },
    #[error("the plan has an unknown field \"{field}\" in {at}; the fields there are {allowed}")]
    UnknownField {
        field: String,
        /// Where: `the plan`, `items[0]`, `needs_human[2]`, `identifiers[1]`.
        at: String,
        allowed: String,
    },
    #[error(
        "the plan does not have docket's plan shape at line {line}, column {column}: {message}"
    )]
    Shape {
        line: usize,
        column: usize,
        message: String,
    },
}

/// The fields of each object of the plan document, as serde names them (a test
/// checks them against a serialized plan).
const PLAN_FIELDS: &[&str] = &[
    "schema",
    "ticket_digest",
    "identifiers",
    "items",
    "needs_human",
];
const ITEM_FIELDS: &[&str] = &["rule", "targets", "params", "because"];
const NEEDS_HUMAN_FIELDS: &[&str] = &["subject", "reason"];
const IDENTIFIER_FIELDS: &[&str] = &["text", "resources"];

/// Finds the plan in a model's answer and reads it.
///
/// Where the plan is looked for, first match wins:
/// 1. fenced blocks whose info string is `json` (any case);
/// 2. otherwise, other fenced blocks whose content starts with `{`;
/// 3. otherwise, the first balanced `{…}` object in the text (strings and
///    escapes respected; an unbalanced one runs to the end, so the error says
///    where the JSON broke off).
///
/// More than one block at the chosen level is [`PlanAnswerError::SeveralJson`]:
/// docket does not guess which one the model meant. An unclosed fence runs to the
/// end of the answer (a cut-off answer then fails as invalid JSON).
///
/// Reading is strict, as for a plan file: an unknown field is an error that names
/// it, and `schema` must be [`PLAN_SCHEMA`]. `ticket_digest`, `identifiers`,
/// `needs_human` and an item's `params` may be left out (empty); `items` and each
/// item's `rule`, `targets` and `because` must be there. Line and column in errors
/// count in the whole answer.
pub fn parse_plan_answer(text: &str) -> Result<Plan, PlanAnswerError> {
    let (start, json) = locate(text)?;
    parse_at(text, start, json)
}

/// Reads a plan document: the whole text must be one JSON object, read as
/// strictly as [`parse_plan_answer`] reads the plan it finds.
pub fn parse_plan_json(text: &str) -> Result<Plan, PlanAnswerError> {
    parse_at(text, 0, text)
}

fn parse_at(whole: &str, start: usize, json: &str) -> Result<Plan, PlanAnswerError> {
    let value: Json = serde_json::from_str(json).map_err(|e| {
        let (line, column) = position(whole, start, e.line(), e.column());
        PlanAnswerError::NotJson {
            line,
            column,
            message: bare_message(&e),
        }
    })?;
    check_fields(&value)?;
    serde_json::from_str::<Plan>(json).map_err(|e| {
        let (line, column) = position(whole, start, e.line(), e.column());
        PlanAnswerError::Shape {
            line,
            column,
            message: bare_message(&e),
        }
    })
}

/// The schema first (the most useful thing to say about a document of another
/// kind), then unknown fields with their place, before serde judges the types.
fn check_fields(value: &Json) -> Result<(), PlanAnswerError> {
    let Json::Object(top) = value else {
        return Err(PlanAnswerError::NotAnObject { found: kind(value) });
    };
    match top.get("schema") {
        None => return Err(PlanAnswerError::MissingSchema),
        Some(Json::String(s)) if s == PLAN_SCHEMA => {}
        Some(other) => {
            return Err(PlanAnswerError::WrongSchema {
                found: cut(&other.to_string(), 80),
            });
        }
    }
    unknown_in(value, "the plan", PLAN_FIELDS)?;
    for (list, fields) in [
        ("items", ITEM_FIELDS),
        ("needs_human", NEEDS_HUMAN_FIELDS),
        ("identifiers", IDENTIFIER_FIELDS),
    ] {
        if let Some(Json::Array(entries)) = top.get(list) {
            for (i, entry) in entries.iter().enumerate() {
                unknown_in(entry, &format!("{list}[{i}]"), fields)?;
            }
        }
    }
    Ok(())
}

fn unknown_in(value: &Json, at: &str, fields: &[&str]) -> Result<(), PlanAnswerError> {
    let Json::Object(map) = value else {
        return Ok(());
    };
    match map.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(field) => Err(PlanAnswerError::UnknownField {
            field: cut(field, 80),
            at: at.to_owned(),
            allowed: fields.join(", "),
        }),
        None => Ok(()),
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// At most `max` characters; the answer is untrusted and may be huge.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// serde_json's message without its " at line L column C" suffix (the position is
/// reported separately, counted in the whole answer).
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
}

/// A (line, column) inside the JSON that starts at byte `start` of `whole`, as a
/// (line, column) of `whole`. Both count from 1.
fn position(whole: &str, start: usize, line: usize, column: usize) -> (usize, usize) {
    let before = whole.get(..start).unwrap_or("");
    let lines_before = before.matches('\n').count();
    if line <= 1 {
        let start_column = before
            .rfind('\n')
            .map_or(before.len(), |n| before.len() - n - 1);
        (lines_before + 1, start_column + column.max(1))
    } else {
        (lines_before + line, column)
    }
}

/// The byte offset and text of the plan's JSON in the answer.
fn locate(text: &str) -> Result<(usize, &str), PlanAnswerError> {
    let fences = fenced_blocks(text);
    let json: Vec<&Fenced> = fences.iter().filter(|f| f.is_json).collect();
    let chosen: Vec<&Fenced> = if json.is_empty() {
        fences
            .iter()
            .filter(|f| f.body.trim_start().starts_with('{'))
            .collect()
    } else {
        json
    };
    match chosen.as_slice() {
        [one] => return Ok((one.start, one.body)),
        [] => {}
        many => return Err(PlanAnswerError::SeveralJson { count: many.len() }),
    }
    let open = text.find('{').ok_or(PlanAnswerError::NoJson)?;
    let rest = text.get(open..).unwrap_or("");
    let end = balanced_end(rest).unwrap_or(rest.len());
    Ok((open, rest.get(..end).unwrap_or(rest)))
}

struct Fenced<'a> {
    is_json: bool,
    /// Byte offset of `body` in the answer.
    start: usize,
    body: &'a str,
}

/// Fenced code blocks (``` or ~~~, at most three spaces of indent), CommonMark
/// style: a block closes at a line of the same fence character, at least as long,
/// and nothing else.
fn fenced_blocks(text: &str) -> Vec<Fenced<'_>> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    let mut i = 0;
    while let Some(&(_, line)) = lines.get(i) {
        i += 1;
        let Some((fence_char, fence_len, info)) = fence_open(line) else {
            continue;
        };
        let body_start = lines.get(i).map_or(text.len(), |(o, _)| *o);
        let mut body_end = text.len();
        while let Some(&(o, l)) = lines.get(i) {
            i += 1;
            if is_fence_close(l, fence_char, fence_len) {
                body_end = o;
                break;
            }
        }
        let lang = info.split_whitespace().next().unwrap_or("");
        out.push(Fenced {
            is_json: lang.eq_ignore_ascii_case("json"),
            start: body_start,
            body: text.get(body_start..body_end).unwrap_or(""),
        });
    }
    out
}

fn fence_open(line: &str) -> Option<(char, usize, &str)> {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = trimmed.get(indent..)?;
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.len() - rest.trim_start_matches(c).len();
    if len < 3 {
        return None;
    }
    let info = rest.get(len..)?.trim();
    // A backtick fence's info string may not hold a backtick (CommonMark).
    if c == '`' && info.contains('`') {
        return None;
    }
    Some((c, len, info))
}

fn is_fence_close(line: &str, c: char, min: usize) -> bool {
    let trimmed = line.trim_end_matches(['\n', '\r']).trim_end();
    let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
    if indent > 3 {
        return false;
    }
    let rest = trimmed.get(indent..).unwrap_or("");
    !rest.is_empty() && rest.chars().all(|x| x == c) && rest.len() >= min
}

/// Length of the `{…}` object at the start of `text`, braces inside JSON strings
/// ignored; `None` when it never closes.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::plan::{Identifier, NeedsHuman, PlanItem};

    /// The field lists used for error messages are exactly the serialized ones.
    #[test]
    fn field_lists_match_what_serde_writes() {
        let plan = Plan {
            schema: PLAN_SCHEMA.into(),
            ticket_digest: String::new(),
            identifiers: vec![Identifier {
                text: "x".into(),
                resources: vec![],
            }],
            items: vec![PlanItem {
                rule: "r".into(),
                targets: vec![],
                params: Default::default(),
                because: "b".into(),
            }],
            needs_human: vec![NeedsHuman {
                subject: "s".into(),
                reason: "r".into(),
            }],
        };
        let v = serde_json::to_value(&plan).unwrap();
        let keys = |v: &Json| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&v), PLAN_FIELDS);
        assert_eq!(keys(&v["items"][0]), ITEM_FIELDS);
        assert_eq!(keys(&v["needs_human"][0]), NEEDS_HUMAN_FIELDS);
        assert_eq!(keys(&v["identifiers"][0]), IDENTIFIER_FIELDS);
    }

    #[test]
    fn positions_count_in_the_whole_answer() {
        let text = "ab\ncd {x";
        assert_eq!(position(text, 6, 1, 2), (2, 5));
        assert_eq!(position(text, 6, 3, 4), (4, 4));
        assert_eq!(position("{", 0, 1, 1), (1, 1));
    }
}
