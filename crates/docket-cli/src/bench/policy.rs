//! `docket bench policy`: decision latency of the built-in bundle plus a
//! 20-rule repository bundle, compiled once, input serialisation included.

use std::time::{Duration, Instant};

use clap::Args;
use docket_policy::{Bundle, Limits, Point, Policy};
use serde_json::{Value, json};

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct PolicyBenchArgs {
    /// Decisions per point (after 100 warm-up decisions).
    #[arg(long, default_value_t = 2000)]
    decisions: u32,
}

/// How the bundle's ten path rules are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathRules {
    /// `docket.glob_filter(glob, ["/"], input.diff.paths)`: one builtin call per rule
    /// (the idiom docs/policy.md recommends).
    GlobFilter,
    /// `some path in input.diff.paths; glob.match(glob, ["/"], path)`: the plain OPA
    /// idiom, one builtin call per path and rule.
    GlobMatch,
}

/// Twenty path, size and rule policies of the kind a repository writes.
fn repository_bundle(paths: PathRules) -> String {
    let mut text = String::from("package docket.publish\n\n");
    let globs = [
        "terraform/prod/**",
        "infra/prod/**",
        "k8s/prod/**",
        "db/migrations/**",
        "secrets/**",
        "**/*.pem",
        "**/*.key",
        ".github/**",
        "deploy/**",
        "helm/prod/**",
    ];
    for (i, glob) in globs.iter().enumerate() {
        let body = match paths {
            PathRules::GlobFilter => {
                format!("\tsome path in docket.glob_filter({glob:?}, [\"/\"], input.diff.paths)\n")
            }
            PathRules::GlobMatch => {
                format!("\tsome path in input.diff.paths\n\tglob.match({glob:?}, [\"/\"], path)\n")
            }
        };
        text.push_str(&format!(
            "deny contains msg if {{\n{body}\tmsg := sprintf(\"path-{i}: %s is protected\", [path])\n}}\n\n"
        ));
    }
    for (i, limit) in [50, 100, 200, 400, 800].iter().enumerate() {
        text.push_str(&format!(
            "warn contains msg if {{\n\tinput.diff.lines_added > {limit}\n\tmsg := sprintf(\"size-{i}: %d lines added\", [input.diff.lines_added])\n}}\n\n"
        ));
    }
    for (i, check) in ["idempotency", "reproducibility"].iter().enumerate() {
        text.push_str(&format!(
            "deny contains msg if {{\n\tsome c in input.checks\n\tc.check == {check:?}\n\tc.outcome == \"fail\"\n\tmsg := \"check-{i}: {check} failed\"\n}}\n\n"
        ));
    }
    text.push_str("deny contains msg if {\n\tsome v in input.validation.results\n\tv.outcome == \"fail\"\n\tmsg := sprintf(\"validation: %s failed\", [concat(\" \", v.argv)])\n}\n\n");
    text.push_str("warn contains msg if {\n\tcount(input.approvals) == 0\n\tinput.diff.files_changed > 10\n\tmsg := \"review: a large change without approvals\"\n}\n\n");
    text.push_str("deny contains msg if {\n\tinput.ticket.requester == null\n\tmsg := \"ticket: no requester\"\n}\n");
    text
}

fn identity(name: &str, roles: &[&str]) -> Value {
    json!({"name": name, "id": name, "roles": roles, "known": true})
}

/// A realistic publish input: 40 changed files, rules, validation, checks.
fn publish_input() -> Value {
    let paths: Vec<String> = (0..40)
        .map(|i| format!("src/module{}/file{i}.rs", i % 7))
        .collect();
    let rules: Vec<Value> = [
        "forbidden-paths",
        "allowed-paths",
        "path-safety",
        "symlinks",
        "max-files",
        "max-lines",
        "secrets",
    ]
    .iter()
    .map(|r| json!({"rule": r, "outcome": "pass", "detail": "ok"}))
    .collect();
    let files: Vec<Value> = paths
        .iter()
        .map(|p| json!({"path": p, "status": "modified", "old_path": null}))
        .collect();
    json!({
        "schema": docket_policy::INPUT_SCHEMA,
        "point": "publish",
        "time": "2026-11-22T07:00:00Z",
        "repository": {"alias": "demo", "base_ref": "main", "base_commit": "0123456789abcdef0123456789abcdef01234567"},
        "roles_configured": true,
        "config": {"approvals": {"required": false, "min": 1}, "budgets": {"ticket_attempts": 6, "ticket_agent_seconds": 3600, "day_attempts": 100, "day_agent_seconds": 36000}},
        "ticket": {"id": "FIX-1", "title": "Fix it", "labels": ["docket"], "state": "ready", "requester": identity("bob@example.com", &["requester"]), "digest": "sha256:00"},
        "run": {"id": "r1", "initiator": identity("alice@example.com", &["initiator"]), "requester": identity("bob@example.com", &["requester"]), "started_at": "2026-11-22T06:59:00Z", "last_change_at": "2026-11-22T06:59:30Z", "diff_digest": "sha256:11"},
        "diff": {
            "files_changed": paths.len(), "lines_added": 420, "lines_removed": 80, "digest": "sha256:11",
            "paths": paths,
            "files": files,
        },
        "rules": rules,
        "validation": {"mode": "required", "results": [{"phase": "validate", "argv": ["make", "test"], "exit_code": 0, "timed_out": false, "outcome": "pass"}]},
        "checks": [{"check": "idempotency", "mode": "required", "outcome": "pass", "detail": "no change"}],
        "findings": null,
        "approvals": [],
        "exceptions": [],
        "budget": {"ticket": {"attempts": 1, "agent_seconds": 12.5}, "day": {"attempts": 9, "agent_seconds": 300.0}},
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn median_of(n: u32, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..n.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    percentile(&times, 0.5)
}

/// Decision latency of one bundle: median, p95 and p99 after 100 warm-ups.
struct Latency {
    median: Duration,
    p95: Duration,
    p99: Duration,
}

fn latency(policy: &Policy, input: &Value, decisions: u32) -> Latency {
    for _ in 0..100 {
        std::hint::black_box(policy.decide(Point::Publish, input));
    }
    let mut times = Vec::with_capacity(decisions as usize);
    for _ in 0..decisions {
        let started = Instant::now();
        // `decide` serialises the input (RFC 8785) and digests it: both are counted.
        let decision = policy.decide(Point::Publish, input);
        times.push(started.elapsed());
        std::hint::black_box(decision);
    }
    times.sort();
    Latency {
        median: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        p99: percentile(&times, 0.99),
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The built-in bundle plus the repository bundle written with `paths`.
fn full_bundle(paths: PathRules) -> anyhow::Result<Bundle> {
    let mut bundle = Bundle::builtin();
    bundle.add(
        ".docket/policies/repo.rego",
        repository_bundle(paths).into_bytes(),
    )?;
    Ok(bundle)
}

fn compiled(bundle: &Bundle) -> anyhow::Result<Policy> {
    let policy = Policy::compile(bundle, Limits::default());
    if !policy.compile_errors().is_empty() {
        anyhow::bail!(
            "the benchmark bundle does not compile: {:?}",
            policy.compile_errors()
        );
    }
    Ok(policy)
}

pub fn run(args: PolicyBenchArgs, out: &Output) -> anyhow::Result<Outcome> {
    let bundle = full_bundle(PathRules::GlobFilter)?;
    let compile_started = Instant::now();
    let policy = compiled(&bundle)?;
    let compile = compile_started.elapsed();
    let input = publish_input();
    let check = policy.decide(Point::Publish, &input);
    if !check.errors.is_empty() {
        anyhow::bail!("the benchmark decision failed: {:?}", check.errors);
    }
    let main = latency(&policy, &input, args.decisions);

    // The same twenty rules with the path rules written one glob.match per path.
    let per_path = compiled(&full_bundle(PathRules::GlobMatch)?)?;
    let per_path_check = per_path.decide(Point::Publish, &input);
    if per_path_check.verdict != check.verdict || per_path_check.warn != check.warn {
        anyhow::bail!("the two ways of writing the path rules decided differently");
    }
    let per_path = latency(&per_path, &input, args.decisions);

    // Where the time goes: serialisation alone, and each bundle alone.
    let serialise = median_of(args.decisions, || {
        std::hint::black_box(docket_policy::canonical_input(&input).ok());
    });
    let builtin = latency(&compiled(&Bundle::builtin())?, &input, args.decisions).median;
    let mut repo_bundle = Bundle::empty();
    repo_bundle.add(
        ".docket/policies/repo.rego",
        repository_bundle(PathRules::GlobFilter).into_bytes(),
    )?;
    let repo = latency(&compiled(&repo_bundle)?, &input, args.decisions).median;
    let figures = json!({
        "bundle_files": policy.paths().len(),
        "bundle_digest": policy.digest(),
        "compile_ms": compile.as_secs_f64() * 1000.0,
        "decisions": args.decisions,
        "verdict": check.verdict,
        "median_us": micros(main.median),
        "p95_us": micros(main.p95),
        "p99_us": micros(main.p99),
        "glob_match_per_path": {
            "median_us": micros(per_path.median),
            "p95_us": micros(per_path.p95),
            "p99_us": micros(per_path.p99),
        },
        "serialise_median_us": micros(serialise),
        "builtin_only_median_us": micros(builtin),
        "repository_only_median_us": micros(repo),
    });
    if out.json() {
        out.json_value(&figures)?;
    } else {
        out.line(format!(
            "bundle           {} files (built-in + 20-rule repository bundle), {}",
            policy.paths().len(),
            policy.digest()
        ));
        out.line(format!(
            "compile once     {:.2} ms",
            compile.as_secs_f64() * 1000.0
        ));
        out.line(format!(
            "publish decision median {:.0} µs, p95 {:.0} µs, p99 {:.0} µs over {} decisions ({:?}); path rules with docket.glob_filter",
            micros(main.median),
            micros(main.p95),
            micros(main.p99),
            args.decisions,
            check.verdict
        ));
        out.line(format!(
            "  of which: input serialisation {:.0} µs; built-in bundle alone {:.0} µs; repository bundle alone {:.0} µs (medians, each with serialisation)",
            micros(serialise),
            micros(builtin),
            micros(repo)
        ));
        out.line(format!(
            "same rules, path rules as one glob.match per path: median {:.0} µs, p95 {:.0} µs, p99 {:.0} µs",
            micros(per_path.median),
            micros(per_path.p95),
            micros(per_path.p99)
        ));
    }
    Ok(Outcome::Success)
}
