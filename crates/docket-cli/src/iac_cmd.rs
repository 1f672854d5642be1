//! `docket scan`, `fix`, `plan` and `rules`: the Terraform engine from the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use docket_agents::fixer::{read_workspace, write_changes};
use docket_iac::catalog::{Catalog, Rule, Severity};
use docket_iac::fix::{FixOutcome, FixRequest, fix as run_fix};
use docket_iac::model::Workspace;
use docket_iac::plan::{make_plan, parse_plan_json, validate_plan};
use docket_iac::scan::{ScanOptions, Status, scan_sources};
use serde_json::Value as Json;

use crate::output::Output;
use crate::{Format, Outcome};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A Terraform folder (scanned recursively; local modules are followed) or one .tf file.
    pub path: PathBuf,
    /// Only these rules (repeatable); default: the whole catalog.
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
    /// Only rules of at least this severity: low, medium, high, critical.
    #[arg(long, value_name = "SEVERITY")]
    pub severity: Option<String>,
    /// Exit 1 when a violation of at least this severity is found (default: low,
    /// i.e. any violation). `none` never fails on findings.
    #[arg(long, value_name = "SEVERITY", default_value = "low")]
    pub fail_on: String,
    /// Rule parameters for directed rules, as RULE.KEY=VALUE (VALUE may be JSON).
    #[arg(long = "param", value_name = "RULE.KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The Terraform folder to fix in place.
    pub path: PathBuf,
    /// Only these rules (repeatable); default: every fixable rule.
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
    /// Only these resource addresses (repeatable), e.g. aws_s3_bucket.logs.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Fix parameters as KEY=VALUE (for every selected rule) or RULE.KEY=VALUE;
    /// VALUE may be JSON (`["10.0.0.0/8"]`, `7`, `true`).
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// Apply a plan written by `docket plan` (its rules, targets and parameters).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Change nothing; exit 1 when fixing would change files.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The remediation ticket (markdown), e.g. REMEDIATION.md.
    #[arg(long, value_name = "FILE")]
    pub ticket: PathBuf,
    /// The Terraform folder the ticket is about.
    pub path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// One line per rule: id, severity, provider, fixable, title.
    List {
        /// Only rules of this provider: aws, gcp, azure, kubernetes.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Everything about one rule: rationale, references, check, fix and parameters.
    Show { id: String },
}

fn catalog() -> anyhow::Result<&'static Catalog> {
    Catalog::builtin().map_err(|e| anyhow::anyhow!("the built-in rule catalog is broken: {e}"))
}

fn parse_value(v: &str) -> Json {
    serde_json::from_str(v).unwrap_or_else(|_| Json::String(v.to_owned()))
}

fn check_rules(catalog: &Catalog, ids: &[String]) -> anyhow::Result<BTreeSet<String>> {
    for id in ids {
        if catalog.get(id).is_none() {
            bail!("unknown rule {id:?}; `docket rules list` shows the catalog");
        }
    }
    Ok(ids.iter().cloned().collect())
}

fn severity(text: &str) -> anyhow::Result<Severity> {
    Severity::parse(text)
        .with_context(|| format!("unknown severity {text:?}: use low, medium, high or critical"))
}

/// `RULE.KEY=VALUE` (or `KEY=VALUE` applied to every rule in `rules`).
fn parse_params(
    catalog: &Catalog,
    items: &[String],
    rules: &BTreeSet<String>,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, Json>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Json>> = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .with_context(|| format!("--param {item:?} is not KEY=VALUE"))?;
        match k.split_once('.') {
            Some((rule, key)) if catalog.get(rule).is_some() => {
                out.entry(rule.to_owned())
                    .or_default()
                    .insert(key.to_owned(), parse_value(v));
            }
            _ => {
                let targets: Vec<&Rule> = if rules.is_empty() {
                    catalog
                        .rules()
                        .iter()
                        .filter(|r| r.param(k).is_some())
                        .collect()
                } else {
                    rules.iter().filter_map(|r| catalog.get(r)).collect()
                };
                if targets.is_empty() {
                    bail!("no selected rule takes a parameter {k:?}; use RULE.{k}=VALUE or --rule");
                }
                for r in targets {
                    out.entry(r.id.clone())
                        .or_default()
                        .insert(k.to_owned(), parse_value(v));
                }
            }
        }
    }
    Ok(out)
}

fn load(path: &std::path::Path) -> anyhow::Result<(PathBuf, docket_iac::source::SourceSet)> {
    let (root, sources) = read_workspace(path)
        .with_context(|| format!("cannot read Terraform at {}", path.display()))?;
    if sources.is_empty() {
        bail!("{} holds no .tf files", path.display());
    }
    Ok((root, sources))
}

pub fn scan(args: ScanArgs, out: &Output) -> anyhow::Result<Outcome> {
    let catalog = catalog()?;
    let rules = check_rules(catalog, &args.rules)?;
    let min_severity = args.severity.as_deref().map(severity).transpose()?;
    let fail_on = match args.fail_on.as_str() {
        "none" => None,
        s => Some(severity(s)?),
    };
    let params = parse_params(catalog, &args.params, &rules)?;
    let (_, sources) = load(&args.path)?;
    let report = scan_sources(
        sources,
        catalog,
        &ScanOptions {
            rules,
            min_severity,
            params,
        },
    );
    if !report.errors.is_empty() && report.errors.len() == report.files {
        for e in &report.errors {
            out.note(format!("{}:{}:{}: {}", e.file, e.line, e.column, e.message));
        }
        bail!(
            "none of the {} Terraform file(s) under {} could be parsed",
            report.files,
            args.path.display()
        );
    }
    match out.format {
        Format::Sarif => out.json_value(&docket_iac::sarif::to_sarif(
            &report,
            catalog,
            env!("CARGO_PKG_VERSION"),
        ))?,
        Format::Json => {
            // Serialised straight from the report: a `json!` tree of every finding
            // would double the memory of a large scan.
            #[derive(serde::Serialize)]
            struct Summary {
                files: usize,
                resources: usize,
                violations: usize,
                unknown: usize,
                parse_errors: usize,
            }
            #[derive(serde::Serialize)]
            struct ScanJson<'a> {
                findings: &'a [docket_iac::scan::Finding],
                errors: &'a [docket_iac::source::ParseError],
                warnings: &'a [String],
                summary: Summary,
            }
            let violations = report
                .findings
                .iter()
                .filter(|f| f.status == Status::Violation)
                .count();
            out.json_value(&ScanJson {
                findings: &report.findings,
                errors: &report.errors,
                warnings: &report.warnings,
                summary: Summary {
                    files: report.files,
                    resources: report.resources,
                    violations,
                    unknown: report.findings.len() - violations,
                    parse_errors: report.errors.len(),
                },
            })?;
        }
        // main refuses csv for this command before it runs.
        Format::Text | Format::Csv => {
            for f in &report.findings {
                let status = match f.status {
                    Status::Violation => f.severity.as_str().to_uppercase(),
                    Status::Unknown => "UNKNOWN".into(),
                };
                out.line(format!(
                    "{}:{}:{}: {status} {} {}: {}",
                    f.file, f.line, f.column, f.rule_id, f.address, f.message
                ));
                if let Some(reason) = &f.reason {
                    out.line(format!("    unknown because {reason}"));
                }
            }
            for e in &report.errors {
                out.line(format!(
                    "{}:{}:{}: PARSE ERROR {}",
                    e.file, e.line, e.column, e.message
                ));
            }
            for w in &report.warnings {
                out.note(format!("warning: {w}"));
            }
            let violations = report
                .findings
                .iter()
                .filter(|f| f.status == Status::Violation)
                .count();
            let unknown = report.findings.len() - violations;
            out.note(format!(
                "{} file(s), {} resource(s): {violations} violation(s), {unknown} unknown, {} file(s) not parsed",
                report.files,
                report.resources,
                report.errors.len()
            ));
        }
    }
    let failing = report
        .findings
        .iter()
        .any(|f| f.status == Status::Violation && fail_on.is_some_and(|m| f.severity >= m));
    if !report.errors.is_empty() {
        out.note("some files could not be parsed; the rest were scanned");
    }
    Ok(if failing {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

pub fn fix(args: FixArgs, out: &Output) -> anyhow::Result<Outcome> {
    let catalog = catalog()?;
    let plan = match &args.plan {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read plan {}", file.display()))?;
            let plan = parse_plan_json(&text)
                .with_context(|| format!("{} is not a docket plan", file.display()))?;
            Some((file, plan))
        }
        None => None,
    };
    let mut req = plan
        .as_ref()
        .map_or_else(FixRequest::default, |(_, p)| p.request());
    req.rules.extend(check_rules(catalog, &args.rules)?);
    req.targets.extend(args.targets.iter().cloned());
    for (rule, params) in parse_params(catalog, &args.params, &req.rules)? {
        req.params.entry(rule).or_default().extend(params);
    }
    let (root, sources) = load(&args.path)?;
    let ws = Workspace::load(&sources);
    if !ws.errors.is_empty() {
        for e in &ws.errors {
            out.note(format!("{}:{}:{}: {}", e.file, e.line, e.column, e.message));
        }
        bail!(
            "{} file(s) under {} do not parse; fix them before fixing rules (nothing was changed)",
            ws.errors.len(),
            args.path.display()
        );
    }
    // A plan is checked whole before any file is touched: every problem is listed,
    // and none of it is applied.
    if let Some((file, plan)) = &plan {
        let problems = validate_plan(plan, &sources, catalog);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            bail!(
                "{} cannot be applied to {} ({} problem(s)); nothing was changed:\n{}\nhint: correct the plan, or write one with `docket plan --ticket FILE PATH --format json`",
                file.display(),
                args.path.display(),
                problems.len(),
                list.join("\n")
            );
        }
    }
    // An empty request means every rule on every resource; a plan without items
    // asks for nothing, so nothing runs unless --rule or --target chose something.
    let nothing_planned = plan.as_ref().is_some_and(|(_, p)| p.items.is_empty())
        && args.rules.is_empty()
        && args.targets.is_empty();
    let outcome = if nothing_planned {
        FixOutcome {
            changed: BTreeMap::new(),
            applied: Vec::new(),
            skipped: Vec::new(),
        }
    } else {
        run_fix(&sources, catalog, &req)
    };
    if !args.check {
        write_changes(&root, &outcome)
            .with_context(|| format!("cannot write fixes under {}", root.display()))?;
    }
    if out.json() {
        out.json_value(&serde_json::json!({
            "check": args.check,
            "changed_files": outcome.changed.keys().collect::<Vec<_>>(),
            "applied": outcome.applied,
            "skipped": outcome.skipped,
        }))?;
    } else {
        for a in &outcome.applied {
            out.line(format!("fixed {} {}", a.rule_id, a.address));
            if !a.params.is_empty() {
                out.line(format!("    params: {}", serde_json::to_string(&a.params)?));
            }
            for c in &a.changes {
                out.line(format!(
                    "    {}: lines {}-{} -> {}-{}",
                    c.file,
                    c.before.start_line,
                    c.before.end_line,
                    c.after.start_line,
                    c.after.end_line
                ));
                for line in c.after.text.lines().filter(|l| !l.trim().is_empty()) {
                    out.line(format!("      + {line}"));
                }
            }
            for t in &a.findings {
                out.line(
                    format!(
                        "    finding {} at {}:{} -> {:?}",
                        t.fingerprint, t.file, t.line, t.status
                    )
                    .to_lowercase(),
                );
            }
        }
        for s in &outcome.skipped {
            out.line(format!(
                "not fixed {} {}: {}",
                s.rule_id, s.address, s.reason
            ));
        }
        if let Some((_, p)) = plan.as_ref().filter(|_| nothing_planned) {
            out.note("the plan has no items: nothing to apply");
            for n in &p.needs_human {
                out.note(format!("  needs-human {}: {}", n.subject, n.reason));
            }
        } else if outcome.changed.is_empty() {
            out.note("nothing to change: every selected fix is already in place");
        } else if args.check {
            out.note(format!(
                "{} file(s) would change (--check: nothing written)",
                outcome.changed.len()
            ));
        } else {
            out.note(format!("{} file(s) changed", outcome.changed.len()));
        }
    }
    Ok(if args.check && outcome.changed_anything() {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

pub fn plan(args: PlanArgs, out: &Output) -> anyhow::Result<Outcome> {
    let catalog = catalog()?;
    let ticket = std::fs::read_to_string(&args.ticket)
        .with_context(|| format!("cannot read ticket {}", args.ticket.display()))?;
    let (_, sources) = load(&args.path)?;
    let plan = make_plan(&sources, catalog, &ticket);
    if out.format == Format::Text {
        out.line(format!("plan: {}", plan.status()));
        for i in &plan.items {
            out.line(format!(
                "  fix {} on {} {}",
                i.rule,
                i.targets.join(", "),
                serde_json::to_string(&i.params)?
            ));
        }
        for n in &plan.needs_human {
            out.line(format!("  needs-human {}: {}", n.subject, n.reason));
        }
        out.note(
            "write it with --format json > plan.json, then `docket fix --plan plan.json PATH`",
        );
    } else {
        out.json_value(&plan)?;
    }
    Ok(Outcome::Success)
}

pub fn rules(cmd: RulesCommand, out: &Output) -> anyhow::Result<Outcome> {
    let catalog = catalog()?;
    match cmd {
        RulesCommand::List { provider } => {
            let rules: Vec<&Rule> = catalog
                .rules()
                .iter()
                .filter(|r| provider.as_deref().is_none_or(|p| r.provider == p))
                .collect();
            if out.json() {
                out.json_value(&rules)?;
            } else {
                for r in rules {
                    out.line(format!(
                        "{:<42} {:<8} {:<10} {:<7} {}",
                        r.id,
                        r.severity.as_str(),
                        r.provider,
                        if r.fixable() { "fix" } else { "-" },
                        r.title
                    ));
                }
            }
        }
        RulesCommand::Show { id } => {
            let rule = catalog.get(&id).with_context(|| {
                format!("unknown rule {id:?}; `docket rules list` shows the catalog")
            })?;
            if out.json() {
                out.json_value(rule)?;
            } else {
                out.line(format!(
                    "{}  ({} {}, {})",
                    rule.id, rule.severity, rule.category, rule.provider
                ));
                out.line(&rule.title);
                out.line(format!("applies to: {}", rule.resource_types.join(", ")));
                out.line(format!("\n{}", rule.rationale.trim()));
                let r = &rule.references;
                for (name, list) in [
                    ("CIS", &r.cis),
                    ("AWS FSBP", &r.fsbp),
                    ("Checkov", &r.checkov),
                    ("Trivy", &r.trivy),
                    ("links", &r.links),
                ] {
                    if !list.is_empty() {
                        out.line(format!("{name}: {}", list.join(", ")));
                    }
                }
                match &rule.fix {
                    Some(f) => {
                        out.line(format!("\nfix: {}", f.description.trim()));
                        for p in &f.params {
                            let default = match &p.default {
                                Some(d) => format!("default {d}"),
                                None if p.optional => "(optional)".to_owned(),
                                None => "(required)".to_owned(),
                            };
                            out.line(format!(
                                "  --param {}=…  {} {default}",
                                p.name, p.description
                            ));
                        }
                    }
                    None => out.line("\nfix: none (needs a human)"),
                }
            }
        }
    }
    Ok(Outcome::Success)
}
