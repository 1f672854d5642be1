//! Blocks seen through a scope ([`Node`]): nested and `dynamic` blocks, and
//! dotted-path lookups through blocks, attributes and object keys ([`Lookup`]).

use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::structure::{Attribute, Block, Body};

use super::{Evaluator, Scope, Val, Value};
use crate::model::{Workspace, label};

/// A block (resource body or nested block) seen through one scope.
#[derive(Clone)]
pub struct Node<'w> {
    pub ws: &'w Workspace,
    pub instance: usize,
    pub file: usize,
    pub block: &'w Block,
    pub scope: Scope,
    /// The block comes from a `dynamic` block whose elements are not known.
    pub dynamic_unknown: Option<String>,
    /// The `dynamic` wrapper's span when the block is generated.
    pub dynamic_span: Option<Range<usize>>,
}

/// What a dotted path leads to.
pub enum Lookup<'w> {
    /// An attribute, evaluated; `attr` is the attribute in the block that holds it
    /// (`None` when the path names a nested block that exists).
    Found {
        value: Val,
        attr: Option<&'w Attribute>,
        node: Node<'w>,
    },
    /// Nothing is written at the path. `node` is the deepest existing block and
    /// `rest` the missing path segments below it.
    Missing { node: Node<'w>, rest: Vec<String> },
    /// The path runs through a value that is not known (a `dynamic` block whose
    /// elements are not known, a map from a variable without default).
    Unknown { reason: String, node: Node<'w> },
}

impl<'w> Node<'w> {
    pub fn body(&self) -> &'w Body {
        &self.block.body
    }

    pub fn evaluator(&self) -> Evaluator<'w> {
        Evaluator::new(self.ws, self.instance, self.file)
    }

    pub fn span(&self) -> Range<usize> {
        self.block.span().unwrap_or(0..0)
    }

    pub fn ident(&self) -> &str {
        self.block.ident.as_str()
    }

    pub fn label(&self, i: usize) -> &str {
        label(self.block, i)
    }

    pub fn eval_attr(&self, key: &str) -> Option<Val> {
        let attr = self.block.body.get_attribute(key)?;
        Some(self.evaluator().eval(&attr.value, &self.scope))
    }

    /// Nested blocks named `ident`, with `dynamic "ident"` blocks expanded.
    pub fn children(&self, ident: &str) -> Vec<Node<'w>> {
        let mut out = Vec::new();
        for s in self.block.body.iter() {
            let Some(b) = s.as_block() else { continue };
            if b.ident.as_str() == ident {
                out.push(Node {
                    block: b,
                    dynamic_unknown: self.dynamic_unknown.clone(),
                    dynamic_span: self.dynamic_span.clone(),
                    ..self.clone()
                });
            } else if b.ident.as_str() == "dynamic" && label(b, 0) == ident {
                out.extend(self.expand_dynamic(b, ident));
            }
        }
        out
    }

    fn expand_dynamic(&self, dynamic: &'w Block, ident: &str) -> Vec<Node<'w>> {
        let Some(content) = dynamic.body.get_blocks("content").next() else {
            return Vec::new();
        };
        let iterator = dynamic
            .body
            .get_attribute("iterator")
            .and_then(|a| a.value.as_variable().map(|v| v.as_str().to_owned()))
            .unwrap_or_else(|| ident.to_owned());
        let for_each = dynamic
            .body
            .get_attribute("for_each")
            .map(|a| self.evaluator().eval(&a.value, &self.scope));
        let elements: Option<Vec<(Val, Val)>> = match for_each.as_ref().map(|v| &v.value) {
            Some(Value::List(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            Val {
                                value: Value::Number(i as f64),
                                origin: None,
                            },
                            v.clone(),
                        )
                    })
                    .collect(),
            ),
            Some(Value::Object(items)) => Some(
                items
                    .iter()
                    .map(|(k, v)| {
                        (
                            Val {
                                value: Value::String(k.clone()),
                                origin: None,
                            },
                            v.clone(),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        };
        let span = dynamic.span();
        match elements {
            Some(elements) => elements
                .into_iter()
                .map(|(key, value)| {
                    let origin = value.origin.clone();
                    let element = Val {
                        value: Value::Object(vec![("key".into(), key), ("value".into(), value)]),
                        origin,
                    };
                    Node {
                        block: content,
                        scope: self.scope.with(&iterator, element),
                        dynamic_unknown: None,
                        dynamic_span: span.clone(),
                        ..self.clone()
                    }
                })
                .collect(),
            None => {
                let reason = for_each
                    .and_then(|v| v.unknown_reason())
                    .unwrap_or_else(|| "the dynamic block's for_each is not known".into());
                vec![Node {
                    block: content,
                    scope: self.scope.with(&iterator, Val::unknown(reason.clone())),
                    dynamic_unknown: Some(reason),
                    dynamic_span: span,
                    ..self.clone()
                }]
            }
        }
    }

    /// Follows a dotted path through nested blocks, attributes and object keys.
    /// With several nested blocks of the same name, the first one is followed.
    pub fn lookup(&self, path: &str) -> Lookup<'w> {
        let segments: Vec<&str> = path.split('.').collect();
        let mut node = self.clone();
        for (i, seg) in segments.iter().enumerate() {
            if let Some(attr) = node.block.body.get_attribute(seg) {
                let mut value = node.evaluator().eval(&attr.value, &node.scope);
                for key in segments.get(i + 1..).unwrap_or(&[]) {
                    value = match &value.value {
                        Value::Object(_) => match value.get(key) {
                            Some(v) => v.clone(),
                            None => {
                                return Lookup::Missing {
                                    node,
                                    rest: segments
                                        .get(i..)
                                        .unwrap_or(&[])
                                        .iter()
                                        .map(|s| (*s).to_owned())
                                        .collect(),
                                };
                            }
                        },
                        Value::Null => {
                            return Lookup::Missing {
                                node,
                                rest: segments
                                    .get(i..)
                                    .unwrap_or(&[])
                                    .iter()
                                    .map(|s| (*s).to_owned())
                                    .collect(),
                            };
                        }
                        _ => {
                            return Lookup::Unknown {
                                reason: value
                                    .unknown_reason()
                                    .unwrap_or_else(|| format!("{seg} is not an object")),
                                node,
                            };
                        }
                    };
                }
                if let Some(reason) = &node.dynamic_unknown
                    && !value.is_known()
                {
                    return Lookup::Unknown {
                        reason: reason.clone(),
                        node,
                    };
                }
                return Lookup::Found {
                    value,
                    attr: Some(attr),
                    node,
                };
            }
            let children = node.children(seg);
            match children.into_iter().next() {
                Some(child) => {
                    if let Some(reason) = &child.dynamic_unknown
                        && i + 1 == segments.len()
                    {
                        return Lookup::Unknown {
                            reason: reason.clone(),
                            node: child,
                        };
                    }
                    node = child;
                    if i + 1 == segments.len() {
                        // The path names a block that exists: present, with no value.
                        return Lookup::Found {
                            value: Val {
                                value: Value::Object(Vec::new()),
                                origin: None,
                            },
                            attr: None,
                            node,
                        };
                    }
                }
                None => {
                    if let Some(reason) = &node.dynamic_unknown {
                        return Lookup::Unknown {
                            reason: reason.clone(),
                            node,
                        };
                    }
                    return Lookup::Missing {
                        node,
                        rest: segments
                            .get(i..)
                            .unwrap_or(&[])
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect(),
                    };
                }
            }
        }
        Lookup::Missing {
            node,
            rest: Vec::new(),
        }
    }
}
