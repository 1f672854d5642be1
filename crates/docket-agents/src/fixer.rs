//! The IO edge of the IaC engine: reading a Terraform workspace from disk, writing
//! fixes back, and the `fixer` agent that plans from a ticket and applies the plan.

use std::path::{Path, PathBuf};

use docket_iac::catalog::Catalog;
use docket_iac::fix::{FixOutcome, FixRequest, fix};
use docket_iac::model::Workspace;
use docket_iac::plan::{Plan, make_plan};
use docket_iac::scan::{ScanOptions, ScanReport, Status, scan};
use docket_iac::source::SourceSet;
use serde::Serialize;

use crate::error::AgentError;

/// Directories never scanned: VCS data and Terraform's own caches.
const SKIP_DIRS: &[&str] = &[".git", ".terraform", "node_modules", ".docket"];

/// Reads every `.tf` file under `root` (or `root` itself when it is a file).
/// Symlinks are skipped, so nothing outside the tree is ever read.
pub fn read_workspace(root: &Path) -> Result<(PathBuf, SourceSet), AgentError> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| AgentError::Io {
        path: root.to_owned(),
        source: e,
    })?;
    let mut set = SourceSet::new();
    if meta.is_file() {
        let text = read_text(root)?;
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        set.insert(name, text);
        return Ok((root.parent().unwrap_or(Path::new(".")).to_owned(), set));
    }
    walk(root, root, &mut set)?;
    Ok((root.to_owned(), set))
}

fn read_text(path: &Path) -> Result<String, AgentError> {
    let bytes = std::fs::read(path).map_err(|e| AgentError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    String::from_utf8(bytes)
        .map_err(|_| AgentError::Config(format!("{} is not UTF-8 text", path.display())))
}

fn walk(root: &Path, dir: &Path, out: &mut SourceSet) -> Result<(), AgentError> {
    let io = |e| AgentError::Io {
        path: dir.to_owned(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(root, &path, out)?;
            }
        } else if kind.is_file() && name.ends_with(".tf") {
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or(name);
            out.insert(rel, read_text(&path)?);
        }
    }
    Ok(())
}

/// Writes changed files back under `root`, each through a temporary file and a
/// rename. A path that would leave `root` is refused.
pub fn write_changes(root: &Path, outcome: &FixOutcome) -> Result<(), AgentError> {
    for (rel, text) in &outcome.changed {
        if rel.split('/').any(|s| s == ".." || s.is_empty()) {
            return Err(AgentError::Config(format!(
                "refusing to write {rel}: it leaves the workspace"
            )));
        }
        let path = root.join(rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(AgentError::Config(format!(
                "refusing to write {}: it is a symlink",
                path.display()
            )));
        }
        let tmp = path.with_extension("tf.docket-tmp");
        std::fs::write(&tmp, text).map_err(|e| AgentError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        std::fs::rename(&tmp, &path).map_err(|e| AgentError::Io {
            path: path.clone(),
            source: e,
        })?;
    }
    Ok(())
}

/// What the fixer agent did, kept as run evidence.
#[derive(Debug, Clone, Serialize)]
pub struct FixerReport {
    schema: &'static str,
    pub plan: Plan,
    pub outcome: FixOutcome,
    /// Findings of the planned rules before and after, and what is new.
    before: Vec<String>,
    after: Vec<String>,
    pub new_findings: Vec<String>,
    pub unresolved: Vec<String>,
    files_failing_to_parse: Vec<String>,
    pub verdict: &'static str,
}

fn fingerprints(report: &ScanReport) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.status == Status::Violation)
        .map(|f| format!("{} {} {}", f.rule_id, f.address, f.fingerprint))
        .collect()
}

/// The fixer agent with the deterministic planner: plan from the ticket, apply the
/// plan, re-scan. No model.
pub fn run_fixer(dir: &Path, ticket: &str) -> Result<FixerReport, AgentError> {
    let catalog = Catalog::builtin().map_err(|e| AgentError::Config(e.to_string()))?;
    let (root, sources) = read_workspace(dir)?;
    let plan = make_plan(&sources, catalog, ticket);
    apply_plan(&root, &sources, catalog, plan)
}

/// The fixer agent with a plan the model planner proposed (and docket-iac validated):
/// applies it to the workspace in `dir`, re-scans, and reports.
pub fn apply_planned(dir: &Path, plan: Plan) -> Result<FixerReport, AgentError> {
    let catalog = Catalog::builtin().map_err(|e| AgentError::Config(e.to_string()))?;
    let (root, sources) = read_workspace(dir)?;
    apply_plan(&root, &sources, catalog, plan)
}

/// Applies a plan (from either planner) to the workspace at `root`, writes the
/// changed files back, re-scans, and reports.
fn apply_plan(
    root: &Path,
    sources: &SourceSet,
    catalog: &Catalog,
    plan: Plan,
) -> Result<FixerReport, AgentError> {
    let req: FixRequest = plan.request();
    let opts = ScanOptions {
        rules: Default::default(),
        min_severity: None,
        params: req.params.clone(),
    };
    let before = scan(&Workspace::load(sources), catalog, &opts);
    let outcome = if plan.items.is_empty() {
        FixOutcome {
            changed: Default::default(),
            applied: Vec::new(),
            skipped: Vec::new(),
        }
    } else {
        fix(sources, catalog, &req)
    };
    write_changes(root, &outcome)?;
    let mut fixed = sources.clone();
    for (p, t) in &outcome.changed {
        fixed.insert(p.clone(), t.clone());
    }
    let ws = Workspace::load(&fixed);
    let after = scan(&ws, catalog, &opts);
    let (b, a) = (fingerprints(&before), fingerprints(&after));
    let new_findings: Vec<String> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    let unresolved: Vec<String> = outcome
        .applied
        .iter()
        .flat_map(|f| {
            f.findings
                .iter()
                .filter(|t| t.status != docket_iac::fix::AfterStatus::Resolved)
                .map(move |t| format!("{} {} {}", f.rule_id, f.address, t.fingerprint))
                .collect::<Vec<_>>()
        })
        .collect();
    let files_failing_to_parse: Vec<String> = ws
        .errors
        .iter()
        .map(|e| format!("{}:{}:{}: {}", e.file, e.line, e.column, e.message))
        .collect();
    let verdict =
        if !new_findings.is_empty() || !unresolved.is_empty() || !files_failing_to_parse.is_empty()
        {
            "failed"
        } else {
            match plan.status() {
                "fixable" => "fixed",
                "partial" => "partial",
                _ => "needs-human",
            }
        };
    Ok(FixerReport {
        schema: "docket.fixer-report/v1",
        plan,
        outcome,
        before: b,
        after: a,
        new_findings,
        unresolved,
        files_failing_to_parse,
        verdict,
    })
}
