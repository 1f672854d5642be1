//! Repository rules applied to an agent's diff: allowed and forbidden paths, path
//! safety, symlinks that leave the repository, size limits, and secrets in added
//! lines. Every violation is reported; any violation blocks the run.

use docket_core::config::RulesConfig;
use docket_core::paths::{PathRules, PathVerdict, normalize_repo_path};
use docket_core::secrets::SecretScanner;

use docket_core::record::RuleResult;
use docket_git::{Diff, FileChange};

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

/// Whether a symlink at `link` (repository-relative) pointing at `target` resolves
/// inside the repository, judged lexically.
fn symlink_stays_inside(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let dir = link.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let joined = if dir.is_empty() {
        target.to_owned()
    } else {
        format!("{dir}/{target}")
    };
    normalize_repo_path(&joined).is_ok()
}

/// Evaluates every rule; the caller blocks the run when any result is `fail`.
pub fn evaluate(
    diff: &Diff,
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
    let mut symlinks = Vec::new();
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
        if file.is_symlink
            && let Some(target) = &file.symlink_target
            && !symlink_stays_inside(&file.path, target)
        {
            symlinks.push(format!("{} -> {target} leaves the repository", file.path));
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
            symlinks,
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
            secrets_in_added_lines(&diff.patch),
            "no secret in added lines".into(),
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

    #[test]
    fn symlinks_are_judged_lexically() {
        assert!(symlink_stays_inside("a/link", "../b/file"));
        assert!(symlink_stays_inside("link", "docs/x"));
        assert!(!symlink_stays_inside("a/link", "../../etc/passwd"));
        assert!(!symlink_stays_inside("link", "/etc/passwd"));
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
