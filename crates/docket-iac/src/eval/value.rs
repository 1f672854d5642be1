//! Evaluated values, where they are written ([`Origin`]) and the names bound
//! while evaluating ([`Scope`]).

use std::ops::Range;

/// Where a value is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub span: Range<usize>,
    /// The module instance whose file holds the text.
    pub instance: usize,
    /// The value came through `var.NAME` defaults; names in order of resolution.
    pub via_default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Val>),
    Object(Vec<(String, Val)>),
    /// A reference to another object, known only after apply (`aws_s3_bucket.b.id`).
    Ref {
        address: String,
        attr: String,
    },
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub value: Value,
    pub origin: Option<Origin>,
}

impl Val {
    pub fn unknown(reason: impl Into<String>) -> Val {
        Val {
            value: Value::Unknown(reason.into()),
            origin: None,
        }
    }

    pub(super) fn new(value: Value, origin: Option<Origin>) -> Val {
        Val { value, origin }
    }

    pub fn is_known(&self) -> bool {
        match &self.value {
            Value::Unknown(_) | Value::Ref { .. } => false,
            Value::List(items) => items.iter().all(Val::is_known),
            Value::Object(items) => items.iter().all(|(_, v)| v.is_known()),
            _ => true,
        }
    }

    /// Why the value is unknown, if it is.
    pub fn unknown_reason(&self) -> Option<String> {
        match &self.value {
            Value::Unknown(r) => Some(r.clone()),
            Value::Ref { address, attr } => {
                Some(format!("{address}.{attr} is known only after apply"))
            }
            Value::List(items) => items.iter().find_map(Val::unknown_reason),
            Value::Object(items) => items.iter().find_map(|(_, v)| v.unknown_reason()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Number(n) => Some(*n),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        match &self.value {
            Value::Object(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar as text, the way Terraform converts it to a string.
    pub fn to_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(format_number(*n)),
            _ => None,
        }
    }
}

pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Names bound while evaluating: `count`, `each`, dynamic block iterators.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub bindings: Vec<(String, Val)>,
}

impl Scope {
    pub fn with(&self, name: &str, value: Val) -> Scope {
        let mut bindings = self.bindings.clone();
        bindings.push((name.to_owned(), value));
        Scope { bindings }
    }

    pub(super) fn lookup(&self, name: &str) -> Option<&Val> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}
