//! Reads for `docket gate` over a whole commit range, one git call per question: every
//! commit of the range with its first parent's tree (one `git log`), and the diff
//! digest or first changed path of many pairs of trees (one `git diff-tree --stdin`).

use std::collections::HashMap;

use crate::command::GitCall;
use crate::diff::{DIFF_OPTIONS, EMPTY_TREE, PATCH_OPTIONS, patch_digest};
use crate::{GitError, Repo};

/// One commit of a range, as `docket gate` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCommit {
    pub id: String,
    pub tree: String,
    pub parents: Vec<String>,
    /// The first parent's tree; `None` for a root commit (its diff is from the empty tree).
    pub first_parent_tree: Option<String>,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    /// The raw message (subject, body, trailers).
    pub message: String,
}

/// Two trees to compare; `from: None` is the empty tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePair {
    pub from: Option<String>,
    pub to: String,
}

const RANGE_FIELDS: usize = 9;

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Repo {
    /// Every commit of `base..head` (full commit ids), parents before children, from
    /// one `git log` call that also lists the boundary (the parents outside the range)
    /// so that every commit's first-parent tree is known without another call.
    pub async fn range_commits(
        &self,
        base: &str,
        head: &str,
    ) -> Result<Vec<RangeCommit>, GitError> {
        let call = GitCall::new(&self.root)
            .args([
                "log",
                "--boundary",
                "--topo-order",
                "--reverse",
                "-z",
                "--no-color",
                "--no-show-signature",
                "--no-notes",
                "--no-mailmap",
                "--format=%m%x00%H%x00%T%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%B",
            ])
            .arg(format!("{base}..{head}"))
            .arg("--");
        let args = call.display_args();
        let output = call.run().await?;
        parse_range(&output).map_err(|detail| GitError::UnexpectedOutput {
            args,
            dir: self.root.clone(),
            detail,
        })
    }

    /// The diff digest of each pair of trees, byte for byte as
    /// [`Repo::commit_diff_digest`] computes a commit's (same options, same patch), from
    /// one `git diff-tree --stdin` call.
    pub async fn tree_diff_digests(&self, pairs: &[TreePair]) -> Result<Vec<String>, GitError> {
        let call = GitCall::new(&self.root)
            .args(["diff-tree", "--stdin"])
            .args(DIFF_OPTIONS)
            .args(PATCH_OPTIONS);
        let parts = self.diff_tree_stdin(call, pairs).await?;
        Ok(parts.iter().map(|patch| patch_digest(patch)).collect())
    }

    /// The first path each pair of trees changes (`None` when nothing changed), added
    /// or modified paths before deleted ones, from one `git diff-tree --stdin` call.
    pub async fn first_changed_paths(
        &self,
        pairs: &[TreePair],
    ) -> Result<Vec<Option<String>>, GitError> {
        let call = GitCall::new(&self.root).args([
            "diff-tree",
            "--stdin",
            "-r",
            "--no-renames",
            "--raw",
            "-z",
            "--no-color",
            "--no-ext-diff",
        ]);
        let parts = self.diff_tree_stdin(call, pairs).await?;
        Ok(parts.iter().map(|raw| first_raw_path(raw)).collect())
    }

    /// Feeds `from to` lines to a `diff-tree --stdin` call and splits its output into
    /// one part per pair. git prints `from to\n` before each pair's output; no patch or
    /// raw line has that shape (a patch line starts with a space, `+`, `-`, `\`, `@`,
    /// a keyword or base85 data, which has no spaces), so the split is exact.
    async fn diff_tree_stdin(
        &self,
        call: GitCall<'_>,
        pairs: &[TreePair],
    ) -> Result<Vec<Vec<u8>>, GitError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let headers: Vec<String> = pairs
            .iter()
            .map(|p| format!("{} {}\n", p.from.as_deref().unwrap_or(EMPTY_TREE), p.to))
            .collect();
        let args = call.display_args();
        let output = call.stdin(headers.concat().into_bytes()).run().await?;
        split_by_headers(&output, &headers)
            .map(|parts| parts.into_iter().map(<[u8]>::to_vec).collect())
            .map_err(|detail| GitError::UnexpectedOutput {
                args,
                dir: self.root.clone(),
                detail,
            })
    }
}

/// Parses `git log -z` records of [`Repo::range_commits`]' format: NUL-separated fields,
/// NUL-terminated records, boundary commits marked `-`.
fn parse_range(output: &[u8]) -> Result<Vec<RangeCommit>, String> {
    let mut fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    if fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    if !fields.len().is_multiple_of(RANGE_FIELDS) {
        return Err(format!(
            "{} fields do not make whole records of {RANGE_FIELDS} (a NUL byte in a commit message?)",
            fields.len()
        ));
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut trees: HashMap<String, String> = HashMap::new();
    let mut listed = Vec::new();
    for record in fields.chunks(RANGE_FIELDS) {
        let [mark, id, tree, parents, an, ae, cn, ce, message] = record else {
            return Err("a short record".into());
        };
        let (id, tree) = (text(id), text(tree));
        if !is_object_id(&id) || !is_object_id(&tree) {
            return Err(format!("`{id}` / `{tree}` are not object ids"));
        }
        trees.insert(id.clone(), tree.clone());
        if *mark == b"-" {
            continue;
        }
        let parents: Vec<String> = text(parents)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        listed.push(RangeCommit {
            id,
            tree,
            parents,
            first_parent_tree: None,
            author_name: text(an),
            author_email: text(ae),
            committer_name: text(cn),
            committer_email: text(ce),
            message: text(message),
        });
    }
    for commit in &mut listed {
        if let Some(parent) = commit.parents.first() {
            let tree = trees.get(parent).ok_or_else(|| {
                format!(
                    "the tree of {parent}, parent of {}, is not listed",
                    commit.id
                )
            })?;
            commit.first_parent_tree = Some(tree.clone());
        }
    }
    Ok(listed)
}

/// Splits `diff-tree --stdin` output at the header line printed before each pair.
fn split_by_headers<'a>(output: &'a [u8], headers: &[String]) -> Result<Vec<&'a [u8]>, String> {
    let mut parts = Vec::with_capacity(headers.len());
    let mut rest = output;
    for (i, header) in headers.iter().enumerate() {
        rest = rest
            .strip_prefix(header.as_bytes())
            .ok_or_else(|| format!("expected the header `{}` of pair {i}", header.trim_end()))?;
        let end = match headers.get(i + 1) {
            Some(next) => find_header(rest, next.as_bytes()).ok_or_else(|| {
                format!(
                    "the header `{}` of pair {} is missing",
                    next.trim_end(),
                    i + 1
                )
            })?,
            None => rest.len(),
        };
        let (part, next_rest) = rest.split_at(end);
        parts.push(part);
        rest = next_rest;
    }
    Ok(parts)
}

/// The first position in `bytes` where `header` starts a line (at the start, or after
/// a newline or a NUL).
fn find_header(bytes: &[u8], header: &[u8]) -> Option<usize> {
    if bytes.starts_with(header) {
        return Some(0);
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n' || **b == 0)
        .map(|(i, _)| i + 1)
        .find(|start| {
            bytes
                .get(*start..)
                .is_some_and(|tail| tail.starts_with(header))
        })
}

/// The first path of `diff-tree --raw -z` output, preferring a path that exists after
/// the change. Records are `:modes ids status NUL path NUL`.
fn first_raw_path(raw: &[u8]) -> Option<String> {
    let fields: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let mut first = None;
    for pair in fields.chunks(2) {
        let [meta, path] = pair else { break };
        let path = String::from_utf8_lossy(path).into_owned();
        if meta.ends_with(b"D") {
            first.get_or_insert(path);
        } else {
            return Some(path);
        }
    }
    first
}
