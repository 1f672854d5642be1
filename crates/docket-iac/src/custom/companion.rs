//! New companion resources written beside the resource a fix is about.

use crate::edit::editable_file;
use crate::eval::Node;
use crate::model::Workspace;
use crate::render::{Edit, NewBody};

use super::context::siblings;

pub(super) fn unique_name(ws: &Workspace, instance: usize, kind: &str, base: &str) -> String {
    let taken = |n: &str| siblings(ws, instance, kind).any(|r| r.name == n);
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_owned())
}

/// A new top-level resource right after `node`'s resource block.
pub(super) fn companion(
    ws: &Workspace,
    node: &Node<'_>,
    kind: &str,
    name: &str,
    body: &NewBody,
) -> Result<Vec<Edit>, String> {
    editable_file(ws, node.file)?;
    let file = ws.file(node.file).ok_or("file vanished")?;
    let nl = file.newline();
    let end = node.span().end;
    let rest = file.text.get(end..).unwrap_or("");
    let (at, lead) = match rest.find('\n') {
        Some(i) if rest.get(..i).is_some_and(|t| t.trim().is_empty()) => {
            (end + i + 1, nl.to_owned())
        }
        _ => (end, format!("{nl}{nl}")),
    };
    let text = crate::render::block_text("resource", &[kind, name], body, "", nl);
    Ok(vec![Edit {
        file: node.file,
        span: at..at,
        text: format!("{lead}{text}"),
    }])
}
