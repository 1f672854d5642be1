//! Repository rules applied to an agent's diff: allowed and forbidden paths, path
//! safety, symlinks that leave the repository, size limits, and secrets in added
//! lines. Every violation is reported; any violation blocks the run.

use std::collections::{BTreeMap, BTreeSet};

use docket_core::config::RulesConfig;
use docket_core::paths::{PathRules, PathVerdict, normalize_repo_path};
use docket_core::secrets::SecretScanner;

use docket_core::record::RuleResult;
use docket_git::{Diff, FileChange, TreeFile};

fn result(rule: &str, failures: Vec<String>, pass_detail: String) -> RuleResult {
    if failures.is_empty() {
        RuleResult {
            rule: rule.to_owned(),
            outcome: "pass".into(),
            detail: pass_detail,
        }
    } else {
        RuleResult {
            rule: rule.to_owned(),
            outcome: "fail".into(),
            detail: failures.join("; "),
        }
    }
}

fn touched_paths(file: &FileChange) -> impl Iterator<Item = &str> {
    std::iter::once(file.path.as_str()).chain(file.old_path.as_deref())
}

/// What the rules read from the judged tree besides the diff: every symlink in it
/// (path to target, as git stores it) and the content of the added or changed binary
/// files, which contribute no lines to the patch.
#[derive(Debug, Clone, Default)]
pub struct TreeContent {
    pub symlinks: BTreeMap<String, String>,
    pub binaries: Vec<(String, TreeFile)>,
}

/// Most links followed while resolving one link, as Linux allows.
const MAX_LINK_HOPS: usize = 40;

/// Where a symlink ends up when resolved inside the tree.
#[derive(Debug, PartialEq, Eq)]
enum Resolution<'a> {
    Inside,
    /// Outside the repository root, after following these other links.
    Leaves {
        through: Vec<&'a str>,
    },
    /// A loop, or more than [`MAX_LINK_HOPS`] links.
    Unresolved,
}

/// Resolves the link at `link` pointing at `target` the way the filesystem would, but
/// against the tree's own `links` only: each component that names another link is
/// replaced by that link's target, so `..` after a link climbs from where the link
/// points, not from where its text is. Nothing outside the tree is ever read.
fn resolve_link<'a>(
    link: &'a str,
    target: &'a str,
    links: &'a BTreeMap<String, String>,
) -> Resolution<'a> {
    let mut through = Vec::new();
    if target.starts_with('/') {
        return Resolution::Leaves { through };
    }
    let mut dir: Vec<&str> = link.split('/').collect();
    dir.pop();
    let mut pending: Vec<&str> = target.split('/').rev().collect();
    while let Some(component) = pending.pop() {
        match component {
            "" | "." => {}
            ".." => {
                if dir.pop().is_none() {
                    return Resolution::Leaves { through };
                }
            }
            name => {
                dir.push(name);
                if let Some((other, next)) = links.get_key_value(dir.join("/").as_str()) {
                    if through.len() == MAX_LINK_HOPS {
                        return Resolution::Unresolved;
                    }
                    dir.pop();
                    through.push(other.as_str());
                    if next.starts_with('/') {
                        return Resolution::Leaves { through };
                    }
                    pending.extend(next.split('/').rev());
                }
            }
        }
    }
    Resolution::Inside
}

/// Every link the change made or changed, and every other link in the tree that
/// resolves through one of them, that leaves the repository or does not resolve.
fn escaping_symlinks(diff: &Diff, links: &BTreeMap<String, String>) -> Vec<String> {
    let changed: BTreeSet<&str> = diff
        .files
        .iter()
        .filter(|f| f.is_symlink && f.new_mode.is_some())
        .map(|f| f.path.as_str())
        .collect();
    // A link the tree listing lacks (it should not) is still judged by its own text.
    let mut all = links.clone();
    for file in diff
        .files
        .iter()
        .filter(|f| changed.contains(f.path.as_str()))
    {
        if let Some(target) = &file.symlink_target {
            all.entry(file.path.clone())
                .or_insert_with(|| target.clone());
        }
    }
    let mut failures = Vec::new();
    for (link, target) in &all {
        let resolution = resolve_link(link, target, &all);
        let judged = changed.contains(link.as_str())
            || match &resolution {
                Resolution::Leaves { through } => through.iter().any(|l| changed.contains(l)),
                Resolution::Inside | Resolution::Unresolved => false,
            };
        if !judged {
            continue;
        }
        match resolution {
            Resolution::Inside => {}
            Resolution::Leaves { through } if through.is_empty() => {
                failures.push(format!("{link} -> {target} leaves the repository"))
            }
            Resolution::Leaves { through } => failures.push(format!(
                "{link} -> {target} leaves the repository (through {})",
                through
                    .iter()
                    .map(|l| format!("{l} -> {}", all.get(*l).map_or("", String::as_str)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Resolution::Unresolved => failures.push(format!(
                "{link} -> {target} does not resolve: a loop or more than {MAX_LINK_HOPS} links"
            )),
        }
    }
    failures
}

/// Scans the bytes of binary files (decoded lossily) with the same scanner as added
/// lines. A file too large to read fails: what was not scanned is not published.
fn secrets_in_binaries(binaries: &[(String, TreeFile)], max_scan_bytes: u64) -> Vec<String> {
    let scanner = SecretScanner::builtin();
    let mut found = Vec::new();
    for (path, file) in binaries {
        match file {
            TreeFile::Bytes(bytes) => {
                for finding in scanner.scan(&String::from_utf8_lossy(bytes)) {
                    found.push(format!(
                        "{} in {path} (binary, fingerprint {})",
                        finding.rule_id,
                        &finding.fingerprint[..finding.fingerprint.len().min(12)]
                    ));
                }
            }
            TreeFile::TooLarge { size } => found.push(format!(
                "{path} is {size} bytes, more than max_scan_bytes ({max_scan_bytes}), so it could not be scanned"
            )),
        }
    }
    found
}

/// Evaluates every rule; the caller blocks the run when any result is `fail`.
pub fn evaluate(
    diff: &Diff,
    tree: &TreeContent,
    config: &RulesConfig,
) -> Result<Vec<RuleResult>, docket_core::paths::PathRuleError> {
    let forbidden_globs: Vec<String> = config
        .forbidden_globs()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let rules = PathRules::new(&config.allowed_paths, &forbidden_globs)?;
    let mut forbidden = Vec::new();
    let mut not_allowed = Vec::new();
    let mut unsafe_paths = Vec::new();
    for file in &diff.files {
        for path in touched_paths(file) {
            if let Err(e) = normalize_repo_path(path) {
                unsafe_paths.push(e.to_string());
                continue;
            }
            match rules.check(path) {
                PathVerdict::Allowed => {}
                PathVerdict::Forbidden { glob } => {
                    forbidden.push(format!("{path} (matches {glob})"))
                }
                PathVerdict::NotAllowed => not_allowed.push(path.to_owned()),
                PathVerdict::Unsafe(e) => unsafe_paths.push(e.to_string()),
            }
        }
    }
    let files = diff.files.len() as u64;
    let lines: u64 = diff
        .files
        .iter()
        .map(|f| f.added_lines + f.removed_lines)
        .sum();
    let mut results = vec![
        result(
            "forbidden-paths",
            forbidden,
            format!("no path matches {}", config.forbidden_globs().join(", ")),
        ),
        result(
            "allowed-paths",
            not_allowed
                .into_iter()
                .map(|p| format!("{p} is outside {}", config.allowed_paths.join(", ")))
                .collect(),
            "every path is allowed".into(),
        ),
        result(
            "path-safety",
            unsafe_paths,
            "every path stays inside the repository".into(),
        ),
        result(
            "symlinks",
            escaping_symlinks(diff, &tree.symlinks),
            "no symlink leaves the repository".into(),
        ),
        result(
            "max-files",
            if files > u64::from(config.max_files) {
                vec![format!("{files} files changed, limit {}", config.max_files)]
            } else {
                vec![]
            },
            format!("{files} of at most {} files", config.max_files),
        ),
        result(
            "max-lines",
            if lines > u64::from(config.max_lines) {
                vec![format!("{lines} lines changed, limit {}", config.max_lines)]
            } else {
                vec![]
            },
            format!("{lines} of at most {} lines", config.max_lines),
        ),
    ];
    if config.secrets {
        results.push(result(
            "secrets",
            secrets_in_added_lines(&diff.patch)
                .into_iter()
                .chain(secrets_in_binaries(&tree.binaries, config.max_scan_bytes))
                .collect(),
            "no secret in added lines or binary files".into(),
        ));
    }
    Ok(results)
}

/// Scans the `+` lines of a unified patch, reporting rule, file, line and the
/// secret's fingerprint, never the secret.
pub fn secrets_in_added_lines(patch: &[u8]) -> Vec<String> {
    let scanner = SecretScanner::builtin();
    let text = String::from_utf8_lossy(patch);
    let mut file = String::new();
    let mut new_line = 0u64;
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("+++ ") {
            file = rest.strip_prefix("b/").unwrap_or(rest).to_owned();
            continue;
        }
        if line.starts_with("@@") {
            // @@ -a,b +c,d @@
            new_line = line
                .split(" +")
                .nth(1)
                .and_then(|s| s.split([',', ' ']).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            continue;
        }
        if let Some(added) = line.strip_prefix('+') {
            for finding in scanner.scan(added) {
                found.push(format!(
                    "{} in {file} line {new_line} (fingerprint {})",
                    finding.rule_id,
                    &finding.fingerprint[..finding.fingerprint.len().min(12)]
                ));
            }
            new_line += 1;
        } else if line.starts_with(' ') {
            new_line += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(link: &str, links: &[(&str, &str)]) -> String {
        let links: BTreeMap<String, String> = links
            .iter()
            .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
            .collect();
        let target = links.get(link).map_or("", String::as_str);
        format!("{:?}", resolve_link(link, target, &links))
    }

    #[test]
    fn symlinks_are_resolved_through_the_tree() {
        assert_eq!(resolve("a/link", &[("a/link", "../b/file")]), "Inside");
        assert_eq!(resolve("link", &[("link", "docs/x")]), "Inside");
        assert_eq!(
            resolve("root", &[("x/root", ".."), ("root", "x/root")]),
            "Inside"
        );
        let out = "Leaves { through: [] }";
        assert_eq!(resolve("a/link", &[("a/link", "../../etc/passwd")]), out);
        assert_eq!(resolve("link", &[("link", "/etc/passwd")]), out);
        // `..` after a link climbs from where the link points.
        assert_eq!(
            resolve("top", &[("x/y/d", ".."), ("top", "x/y/d/../../etc")]),
            "Leaves { through: [\"x/y/d\"] }"
        );
        assert_eq!(
            resolve("a", &[("a", "b/c"), ("b", "/tmp")]),
            "Leaves { through: [\"b\"] }"
        );
        assert_eq!(
            resolve(
                "r",
                &[("docs", "sub/deeper"), ("r", "docs/../../README.md")]
            ),
            "Inside"
        );
        assert_eq!(resolve("a", &[("a", "b"), ("b", "a")]), "Unresolved");
        assert_eq!(resolve("a", &[("a", "a/x")]), "Unresolved");
    }

    #[test]
    fn binaries_too_large_to_scan_fail() {
        let key = format!("AKIA{}", "QWERTYUIOPASDFGH");
        let mut bytes = format!("id={key}\n").into_bytes();
        bytes.push(0);
        let found = secrets_in_binaries(
            &[
                ("k.bin".into(), TreeFile::Bytes(bytes)),
                ("big.bin".into(), TreeFile::TooLarge { size: 9 }),
                ("clean.bin".into(), TreeFile::Bytes(vec![0, 1, 2])),
            ],
            8,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("aws-access-token in k.bin (binary, fingerprint "));
        assert!(!found[0].contains(&key));
        assert_eq!(
            found[1],
            "big.bin is 9 bytes, more than max_scan_bytes (8), so it could not be scanned"
        );
    }

    #[test]
    fn secrets_are_located_in_added_lines_only() {
        let key = format!("AKIA{}", "QWERTYUIOPASDFGH");
        let patch = format!(
            "diff --git a/c.env b/c.env\n--- a/c.env\n+++ b/c.env\n@@ -1,2 +1,3 @@\n keep\n-old = \"{key}\"\n+new = 1\n+aws_key = \"{key}\"\n"
        );
        let found = secrets_in_added_lines(patch.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("in c.env line 3"), "{found:?}");
        assert!(!found[0].contains(&key));
    }
}
