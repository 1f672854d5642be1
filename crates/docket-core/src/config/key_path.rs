//! Dotted key paths (`validation.commands[1]`) and where they are in the text: the
//! link between a serde or validation error and the line a user has to fix.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeySegment {
    Key(String),
    Index(usize),
}

pub(super) type KeyPath = Vec<KeySegment>;

pub(super) fn key(parts: &[&str]) -> KeyPath {
    parts
        .iter()
        .map(|p| KeySegment::Key((*p).to_owned()))
        .collect()
}

pub(super) fn indexed(parts: &[&str], index: usize) -> KeyPath {
    let mut path = key(parts);
    path.push(KeySegment::Index(index));
    path
}

pub(super) fn render_key(path: &[KeySegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            KeySegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            KeySegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The deepest key whose name or value contains `offset`.
pub(super) fn key_at(table: &DeTable<'_>, offset: usize) -> Option<KeyPath> {
    for (name, value) in table {
        let in_name = name.span().contains(&offset);
        let in_value = value.span().contains(&offset);
        // A table opened by a `[header]` has a value span that may not cover its keys,
        // so tables are always searched.
        let inner = match value.get_ref() {
            DeValue::Table(inner) => key_at(inner, offset),
            DeValue::Array(items) if in_value => index_at(items, offset),
            _ => None,
        };
        if let Some(mut rest) = inner {
            rest.insert(0, KeySegment::Key(name.get_ref().to_string()));
            return Some(rest);
        }
        if in_name || in_value {
            return Some(vec![KeySegment::Key(name.get_ref().to_string())]);
        }
    }
    None
}

fn index_at(items: &[toml::Spanned<DeValue<'_>>], offset: usize) -> Option<KeyPath> {
    items.iter().enumerate().find_map(|(i, item)| {
        if !item.span().contains(&offset) {
            return None;
        }
        let mut path = vec![KeySegment::Index(i)];
        match item.get_ref() {
            DeValue::Array(inner) => path.extend(index_at(inner, offset).unwrap_or_default()),
            DeValue::Table(inner) => path.extend(key_at(inner, offset).unwrap_or_default()),
            _ => {}
        }
        Some(path)
    })
}

/// The span of the value at `path`, or of the closest enclosing value that exists.
pub(super) fn find_span(table: &DeTable<'_>, path: &[KeySegment]) -> Option<Range<usize>> {
    let (KeySegment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let value = table
        .iter()
        .find(|(name, _)| name.get_ref() == first)
        .map(|(_, value)| value)?;
    let mut current = value;
    for segment in rest {
        let next = match (segment, current.get_ref()) {
            (KeySegment::Key(k), DeValue::Table(t)) => t
                .iter()
                .find(|(name, _)| name.get_ref() == k)
                .map(|(_, v)| v),
            (KeySegment::Index(i), DeValue::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    Some(current.span())
}
