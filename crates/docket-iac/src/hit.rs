//! A finding before it is reported ([`Hit`]): which rule, resource and place, with
//! what its fix needs, and the ways of finding the blocks a check looks at.
//!
//! Both the declarative checks (`scan`) and the built-in ones (`custom`) produce
//! hits, and the fixer consumes them; this module is what they share.

use std::ops::Range;

use serde::Serialize;

use crate::eval::{Node, Scope, Val};
use crate::model::{Resource, Workspace};
use crate::rule::Rule;

/// A finding is either a violation or a value that could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Violation,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Violation => "violation",
            Status::Unknown => "unknown",
        }
    }
}

/// A finding before it is reported, with what the fixer needs.
#[derive(Clone)]
pub struct Hit<'w> {
    pub rule: &'w Rule,
    pub resource: &'w Resource,
    pub status: Status,
    pub file: usize,
    pub span: Range<usize>,
    pub message: String,
    pub reason: Option<String>,
    /// Where inside the resource: `multi_az`, `container[1]`.
    pub place: String,
    /// The block the fix applies to (resource or nested block).
    pub node: Node<'w>,
    /// Custom checks attach what their fix needs.
    pub custom: Option<FixData>,
}

/// What a custom check hands to its fix.
#[derive(Debug, Clone)]
pub enum FixData {
    /// The open CIDR elements of a rule, with where they are written.
    OpenCidrs(Vec<Val>, bool),
    /// The `for_each` of a dynamic `authorized_networks` block, or the static
    /// blocks' `value` attributes that are open.
    SqlNetworks {
        for_each: Option<(Val, Range<usize>, usize)>,
    },
    /// An inline `subnet` block of a virtual network, or an `azurerm_subnet`.
    AzureSubnet { inline: bool },
}

/// The resource's block as a node to judge or edit.
pub fn resource_node<'w>(ws: &'w Workspace, r: &Resource) -> Option<Node<'w>> {
    // `count`/`for_each` make instances whose bodies are the same text: the text is
    // judged once, and values that differ per instance (`count.index`) are unknown.
    Some(Node {
        ws,
        instance: r.instance,
        file: r.block.file,
        block: ws.block(r.block)?,
        scope: Scope::default(),
        dynamic_unknown: None,
        dynamic_span: None,
    })
}

/// The nested blocks an `each` check applies to, with their place names.
pub fn each_nodes<'w>(node: &Node<'w>, paths: &[String]) -> Vec<(String, Node<'w>)> {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        let mut current = vec![node.clone()];
        for seg in &segments {
            current = current.iter().flat_map(|n| n.children(seg)).collect();
            if current.is_empty() {
                break;
            }
        }
        if !current.is_empty() {
            return current
                .into_iter()
                .enumerate()
                .map(|(i, n)| (format!("{path}[{i}]"), n))
                .collect();
        }
    }
    Vec::new()
}

/// Where a finding about `path` in `node` points: the attribute, or the header
/// of the deepest block that exists.
pub fn header_span(node: &Node<'_>) -> Range<usize> {
    let s = node.span();
    let text = node.ws.file(node.file).map(|f| f.slice(&s)).unwrap_or("");
    let end = text.find('{').map_or(s.end, |i| s.start + i + 1);
    s.start..end
}
