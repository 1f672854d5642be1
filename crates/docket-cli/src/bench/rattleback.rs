//! `docket bench rattleback DIR`: every scenario folder through the golden path with
//! the fixer agent, then independent checks of what was published.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use docket_agents::fixer::read_workspace;
use docket_iac::catalog::Catalog;
use docket_iac::fix::fix;
use docket_iac::model::Workspace;
use docket_iac::plan::make_plan;
use docket_iac::scan::{ScanOptions, Status, scan};
use docket_ledger::{Ledger, LedgerConfig};
use serde::Serialize;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct RattlebackArgs {
    /// The folder of scenario folders, each a Terraform workspace with a
    /// REMEDIATION.md ticket (e.g. ../shared/benchmarks/rattleback).
    pub dir: PathBuf,
}

#[derive(Debug, Serialize)]
struct Row {
    scenario: String,
    status: String,
    fixes: usize,
    rules: Vec<String>,
    seconds: f64,
    checks: Vec<String>,
    detail: String,
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    crate::gitref::git(dir, args, None)
}

pub async fn run(args: RattlebackArgs, out: &Output) -> anyhow::Result<Outcome> {
    let catalog = Catalog::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("REMEDIATION.md").is_file())
        .collect();
    scenarios.sort();
    if scenarios.is_empty() {
        anyhow::bail!(
            "{} holds no scenario folders (folders with a REMEDIATION.md)",
            args.dir.display()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("docket-rattleback-")
        .tempdir()?;
    let home = scratch.path().join("home");
    let ledger = Arc::new(Ledger::open(&LedgerConfig::sqlite_in(&home)).await?);
    let engine = docket_engine::run::Engine {
        ledger: ledger.clone(),
        home: home.clone(),
    };
    let total = Instant::now();
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let name = scenario
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let repo = scratch.path().join(&name);
        copy_tree(scenario, &repo)?;
        std::fs::write(
            repo.join("docket.toml"),
            "[repository]\nalias = \"rattleback\"\n[intake]\nlabel = \"\"\nready_states = []\nrequire_routing = false\n\
             [agent]\nkind = \"fixer\"\n[checks]\nidempotency = \"required\"\nreproducibility = \"required\"\n",
        )?;
        git(&repo, &["init", "-q", "-b", "main"])?;
        git(&repo, &["add", "-A"])?;
        git(
            &repo,
            &[
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.com",
                "commit",
                "-q",
                "-m",
                "scenario",
            ],
        )?;
        let base = git(&repo, &["rev-parse", "HEAD"])?.trim().to_owned();
        let start = Instant::now();
        let (_tx, cancel) = docket_agents::process::cancel_channel();
        let report = engine
            .run(
                docket_engine::run::RunOptions {
                    repo: repo.clone(),
                    ticket: repo.join("REMEDIATION.md").display().to_string(),
                    initiator: Some("bench@example.com".into()),
                    keep_worktree: false,
                    push: None,
                    base: None,
                },
                cancel,
            )
            .await
            .with_context(|| format!("scenario {name}"))?;
        let seconds = start.elapsed().as_secs_f64();
        // Independent checks on the original and the published tree.
        let (_, original) = read_workspace(&repo)?;
        let ticket = std::fs::read_to_string(repo.join("REMEDIATION.md"))?;
        let plan = make_plan(&original, catalog, &ticket);
        let mut checks = Vec::new();
        let mut fixes = 0;
        let published = report.record.outcome.status == docket_core::record::RunStatus::Published;
        let mut status = plan.status().to_owned();
        if let Some(output) = report.record.output.as_ref().filter(|_| published) {
            let wt = scratch.path().join(format!("{name}-published"));
            git(
                &repo,
                &[
                    "worktree",
                    "add",
                    "-q",
                    "--detach",
                    &wt.display().to_string(),
                    &output.commit,
                ],
            )?;
            let (_, fixed) = read_workspace(&wt)?;
            let req = plan.request();
            let opts = ScanOptions {
                rules: req.rules.clone(),
                min_severity: None,
                params: req.params.clone(),
            };
            let before = scan(&Workspace::load(&original), catalog, &opts);
            let ws = Workspace::load(&fixed);
            let after = scan(&ws, catalog, &opts);
            let targeted: BTreeSet<String> = req.targets.clone();
            let left: Vec<_> = after
                .findings
                .iter()
                .filter(|f| f.status == Status::Violation && targeted.contains(&f.address))
                .collect();
            let new: Vec<_> = after
                .findings
                .iter()
                .filter(|f| {
                    !before
                        .findings
                        .iter()
                        .any(|b| b.fingerprint == f.fingerprint)
                })
                .collect();
            checks.push(if left.is_empty() {
                "targets resolved".into()
            } else {
                format!("{} targeted finding(s) remain", left.len())
            });
            checks.push(if new.is_empty() {
                "no new findings".into()
            } else {
                format!("{} new finding(s)", new.len())
            });
            checks.push(if ws.errors.is_empty() {
                "edited files parse".into()
            } else {
                format!("parse errors: {:?}", ws.errors)
            });
            let again = fix(&fixed, catalog, &req);
            checks.push(if again.changed_anything() {
                "NOT idempotent".into()
            } else {
                "idempotent".into()
            });
            let replay = fix(&original, catalog, &req);
            let same = replay
                .changed
                .iter()
                .all(|(p, t)| fixed.get(p) == Some(t.as_str()));
            checks.push(if same {
                "reproducible".into()
            } else {
                "NOT reproducible".into()
            });
            let touched = git(&repo, &["diff", "--name-only", &base, &output.commit])?;
            let unexpected: Vec<&str> = touched
                .lines()
                .filter(|f| !replay.changed.contains_key(*f))
                .collect();
            checks.push(if unexpected.is_empty() {
                "other files byte-identical".into()
            } else {
                format!("unexpected edits: {unexpected:?}")
            });
            fixes = replay.applied.len();
            git(
                &repo,
                &["worktree", "remove", "--force", &wt.display().to_string()],
            )?;
            if !left.is_empty()
                || !new.is_empty()
                || !ws.errors.is_empty()
                || again.changed_anything()
                || !same
                || !unexpected.is_empty()
            {
                status = "failed".into();
            } else if status == "fixable" {
                status = "fixed".into();
            }
        } else if plan.items.is_empty() {
            status = "needs-human".into();
        } else {
            status = format!(
                "not published ({})",
                report.record.outcome.reasons.join("; ")
            );
        }
        let detail = plan
            .needs_human
            .iter()
            .map(|n| format!("{}: {}", n.subject, n.reason))
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(Row {
            scenario: name,
            status,
            fixes,
            rules: plan.items.iter().map(|i| i.rule.clone()).collect(),
            seconds,
            checks,
            detail,
        });
    }
    drop(engine);
    // The last reference closes the ledger (its writer flushes and stops).
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close().await;
    }
    let fixed = rows.iter().filter(|r| r.status == "fixed").count();
    let failed = rows
        .iter()
        .any(|r| r.status.starts_with("failed") || r.status.starts_with("not published"));
    if out.json() {
        out.json_value(&serde_json::json!({"rows": rows, "fixed": fixed, "scenarios": rows.len(), "seconds": total.elapsed().as_secs_f64()}))?;
    } else {
        out.line("| scenario | status | fixes | rules | time | detail |");
        out.line("|---|---|---|---|---|---|");
        for r in &rows {
            let detail = if r.detail.is_empty() {
                r.checks.join(", ")
            } else {
                r.detail.clone()
            };
            out.line(format!(
                "| {} | {} | {} | {} | {:.2} s | {} |",
                r.scenario,
                r.status,
                r.fixes,
                r.rules.join(", "),
                r.seconds,
                detail
            ));
        }
        out.line(format!(
            "\n{fixed} of {} fully fixed; total {:.1} s",
            rows.len(),
            total.elapsed().as_secs_f64()
        ));
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}
