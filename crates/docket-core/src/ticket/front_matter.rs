//! The optional YAML front matter of a ticket: finding it between `---` lines and
//! reading its known keys, naming an unknown or mistyped key with its line.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::error::{FRONT_MATTER_KEYS, TicketError};
use super::{escape, lines_of};

pub(super) enum FrontMatterSplit<'a> {
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

pub(super) fn split_front_matter(text: &str) -> FrontMatterSplit<'_> {
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
pub(super) struct FrontMatter {
    pub(super) id: Option<ScalarString>,
    pub(super) title: Option<ScalarString>,
    pub(super) labels: Option<Labels>,
    pub(super) state: Option<ScalarString>,
    pub(super) requester: Option<ScalarString>,
    pub(super) assignee: Option<ScalarString>,
}

pub(super) fn parse_front_matter(path: &Path, yaml: &str) -> Result<FrontMatter, TicketError> {
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
pub(super) struct ScalarString(pub(super) String);

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
pub(super) struct Labels(pub(super) Vec<String>);

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

#[cfg(test)]
mod tests {
    use crate::ticket::test_support::{error, parse_ok};

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
}
