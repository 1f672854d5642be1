//! `docket gate`: the CI check that every AI-marked commit of a range carries a valid
//! docket attestation. Flags are resolved into a repository, two commits, a gate
//! policy and the trusted keys; `docket_evidence::gate` judges the range; this module
//! prints text, JSON (`docket.gate/v1`) or SARIF 2.1.0 and picks the exit code
//! (0 may merge, 1 must not, 2 error).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use docket_evidence::gate::{
    self, GatePolicy, GateReport, Judged, KEYS_FILE, Outcome as GateOutcome,
};
use docket_git::Repo;
use docket_iac::sarif::{INFORMATION_URI, SCHEMA_URI, artifact_uri};
use docket_ledger::{Database, Ledger, Verifier};
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::GlobalArgs;
use crate::log_cmd::parse_keys;
use crate::output::Output;
use crate::{Format, Outcome};

/// `schema` of the JSON report.
const SCHEMA: &str = "docket.gate/v1";
/// Prefix of SARIF rule ids; also the SARIF run's category (`automationDetails.id`).
const RULE_PREFIX: &str = "docket-gate";

#[derive(Debug, Args)]
#[command(
    long_about = "Judge every commit of BASE..HEAD (git rev-list, merge commits included): \
        `governed` (a trusted docket attestation covers it, also after a squash, rebase \
        or cherry-pick), `invalid-attestation` (it claims a run or carries a note, and no \
        trusted attestation covers it), `ungoverned-ai` (AI markers such as \
        `Co-authored-by: Claude <noreply@anthropic.com>`, no attestation) or `plain`.\n\n\
        Keys: --key, else .docket/attestation-keys as committed at BASE (never HEAD: a \
        pull request cannot bring its own key), else the key chain of the ledger in \
        DOCKET_HOME. With no key at all the gate still runs (with a warning): every commit \
        that claims a run is `invalid-attestation`.\n\nExit 0 the range may merge, 1 the policy says it must not, 2 error.",
    after_help = "CI setup: docs/gate.md (fetch refs/notes/docket before running the gate)."
)]
pub struct GateArgs {
    /// The revision the range starts after (the pull request's target, e.g. origin/main).
    #[arg(long, value_name = "REV")]
    base: String,
    /// The last revision of the range (the pull request's head).
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    head: String,
    /// A directory inside the repository.
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// Gate policy (TOML): `fail_on = ["ungoverned-ai", "invalid-attestation"]` (the
    /// default); `plain` may be added, an empty list never fails.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Trust this public key (`name+hash+key`, or @FILE); repeat for several.
    #[arg(long, value_name = "PUBKEY")]
    key: Vec<String>,
}

pub async fn gate(args: GateArgs, global: &GlobalArgs, out: &Output) -> anyhow::Result<Outcome> {
    let repo = Repo::open(&args.repo).await?;
    let base = repo
        .resolve(&args.base)
        .await
        .with_context(|| format!("bad --base `{}`", args.base))?;
    let head = repo
        .resolve(&args.head)
        .await
        .with_context(|| format!("bad --head `{}`", args.head))?;
    let (policy, policy_source) = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the gate policy {}", path.display()))?;
            (GatePolicy::parse(&text, path)?, path.display().to_string())
        }
        None => (GatePolicy::default(), "default".to_owned()),
    };
    let (trusted, key_source) = match trusted_keys(&args.key, &repo, &base, global).await? {
        Some((keys, source)) => (keys, Some(source)),
        None => {
            // Fail closed but keep going: a team can run the gate before it has keys,
            // and no commit that claims a run can pass without one.
            out.note(format!(
                "warning: no trusted key: commits that claim a docket run cannot be governed and are invalid-attestation\nhint: commit the output of `docket key show` (where the runs are made) to {KEYS_FILE} on the base branch, or pass --key PUBKEY"
            ));
            (Vec::new(), None)
        }
    };
    let key_source = key_source.as_deref();
    let report = gate::check(&repo, &base, &head, &trusted).await?;
    let failing: Vec<&Judged> = report.failing(&policy).collect();

    match out.format {
        Format::Json => out.json_value(&view(
            &args,
            &report,
            &policy,
            &policy_source,
            &trusted,
            key_source,
        ))?,
        Format::Sarif => {
            let paths = gate::first_changed_paths(&repo, &failing).await?;
            out.json_value(&sarif(&policy, &failing, &paths))?;
            out.note(summary_line(&report, failing.len()));
        }
        // main refuses csv for this command before it runs.
        Format::Text | Format::Csv => {
            print_text(out, &args, &report, &policy, key_source, failing.len())
        }
    }
    Ok(if failing.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// The keys attestations must be signed with, and where they came from; `None` when
/// no source has a key.
async fn trusted_keys(
    flags: &[String],
    repo: &Repo,
    base: &str,
    global: &GlobalArgs,
) -> anyhow::Result<Option<(Vec<Verifier>, String)>> {
    if !flags.is_empty() {
        return Ok(Some((parse_keys(flags)?, "--key".to_owned())));
    }
    // Read from the base commit, never from HEAD: the change under review must not be
    // able to bring the key that vouches for it.
    if let Some(keys) = gate::keys_at(repo, base).await? {
        if keys.is_empty() {
            bail!(
                "{KEYS_FILE} at {} (--base) lists no key\nhint: add the output of `docket key show` to it, or pass --key PUBKEY",
                gate::short(base)
            );
        }
        return Ok(Some((
            keys,
            format!("{KEYS_FILE} at {}", gate::short(base)),
        )));
    }
    let config = global.ledger_config()?;
    // Opening a ledger that does not exist would create one with a fresh key that
    // signed nothing; no ledger simply means no key from this source.
    let exists = match &config.database {
        Database::Sqlite(path) => path.exists(),
        Database::Postgres(_) => true,
    };
    if exists {
        let ledger = Ledger::open(&config).await?;
        let chain = ledger.key_chain().await;
        let location = ledger.location().to_owned();
        ledger.close().await;
        let chain = chain?;
        if !chain.is_empty() {
            return Ok(Some((
                chain,
                format!("the key chain of the ledger at {location}"),
            )));
        }
    }
    Ok(None)
}

fn outcome_counts(report: &GateReport) -> String {
    GateOutcome::ALL
        .iter()
        .map(|o| format!("{} {o}", report.count(*o)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary_line(report: &GateReport, failing: usize) -> String {
    let verdict = if failing == 0 {
        "the range may merge".to_owned()
    } else {
        format!(
            "{failing} commit{} must not merge",
            if failing == 1 { "" } else { "s" }
        )
    };
    format!(
        "{} commit{}: {}; {verdict}",
        report.commits.len(),
        if report.commits.len() == 1 { "" } else { "s" },
        outcome_counts(report)
    )
}

fn fail_on_list(policy: &GatePolicy) -> String {
    let list: Vec<&str> = policy.fail_on().map(GateOutcome::as_str).collect();
    if list.is_empty() {
        "nothing".to_owned()
    } else {
        list.join(", ")
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

fn print_text(
    out: &Output,
    args: &GateArgs,
    report: &GateReport,
    policy: &GatePolicy,
    key_source: Option<&str>,
    failing: usize,
) {
    let keys = key_source.map_or_else(
        || "no trusted key".to_owned(),
        |source| format!("keys from {source}"),
    );
    out.line(format!(
        "gate {}..{} ({} → {}), {keys}",
        args.base,
        args.head,
        gate::short(&report.base),
        gate::short(&report.head)
    ));
    for judged in &report.commits {
        let mark = if policy.fails(judged.outcome) {
            "✗"
        } else {
            " "
        };
        out.line(format!(
            "{mark} {}  {:<19}  {}  — {}",
            gate::short(&judged.commit.id),
            judged.outcome.as_str(),
            clip(judged.subject(), 50),
            judged.reason
        ));
    }
    out.line(summary_line(report, failing));
    if failing == 0 {
        out.line("OK");
        return;
    }
    out.line(format!(
        "FAILED (the policy fails on {})",
        fail_on_list(policy)
    ));
    if report.count(GateOutcome::UngovernedAi) > 0 && policy.fails(GateOutcome::UngovernedAi) {
        out.note(
            "hint: make AI-written changes through `docket run`, so they are published with an attestation",
        );
    }
    // With no key, the warning at the start already said how to add one.
    if report.count(GateOutcome::InvalidAttestation) > 0
        && policy.fails(GateOutcome::InvalidAttestation)
        && let Some(key_source) = key_source
    {
        out.note(format!(
            "hint: fetch the attestations (git fetch origin refs/notes/docket:refs/notes/docket) and check the trusted key ({key_source}); a commit changed after its run needs a new run"
        ));
    }
}

#[derive(Debug, Serialize)]
struct GateView<'a> {
    schema: &'static str,
    base: RevView<'a>,
    head: RevView<'a>,
    policy: PolicyView,
    keys: KeysView,
    commits: Vec<CommitView<'a>>,
    summary: SummaryView,
}

#[derive(Debug, Serialize)]
struct RevView<'a> {
    rev: &'a str,
    commit: &'a str,
}

#[derive(Debug, Serialize)]
struct PolicyView {
    source: String,
    fail_on: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct KeysView {
    source: String,
    trusted: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CommitView<'a> {
    commit: &'a str,
    subject: &'a str,
    outcome: &'static str,
    /// Whether the policy fails the range for this commit.
    fails: bool,
    reason: &'a str,
    markers: Vec<MarkerView<'a>>,
    runs: &'a [String],
    attestation: Option<AttestationView<'a>>,
}

#[derive(Debug, Serialize)]
struct MarkerView<'a> {
    kind: &'static str,
    value: &'a str,
    assistant: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct AttestationView<'a> {
    run_id: &'a str,
    commit: &'a str,
    signed_by: &'a str,
    matched: &'static str,
}

#[derive(Debug, Serialize)]
struct SummaryView {
    commits: usize,
    governed: usize,
    ungoverned_ai: usize,
    invalid_attestation: usize,
    plain: usize,
    failing: usize,
    passed: bool,
}

fn view<'a>(
    args: &'a GateArgs,
    report: &'a GateReport,
    policy: &GatePolicy,
    policy_source: &str,
    trusted: &[Verifier],
    key_source: Option<&str>,
) -> GateView<'a> {
    let failing = report.failing(policy).count();
    GateView {
        schema: SCHEMA,
        base: RevView {
            rev: &args.base,
            commit: &report.base,
        },
        head: RevView {
            rev: &args.head,
            commit: &report.head,
        },
        policy: PolicyView {
            source: policy_source.to_owned(),
            fail_on: policy.fail_on().map(GateOutcome::as_str).collect(),
        },
        keys: KeysView {
            source: key_source.unwrap_or("none").to_owned(),
            trusted: trusted.iter().map(ToString::to_string).collect(),
        },
        commits: report
            .commits
            .iter()
            .map(|j| CommitView {
                commit: &j.commit.id,
                subject: j.subject(),
                outcome: j.outcome.as_str(),
                fails: policy.fails(j.outcome),
                reason: &j.reason,
                markers: j
                    .markers
                    .iter()
                    .map(|m| MarkerView {
                        kind: m.kind.label(),
                        value: &m.value,
                        assistant: m.assistant,
                    })
                    .collect(),
                runs: &j.runs,
                attestation: j.governing.as_ref().map(|g| AttestationView {
                    run_id: &g.run_id,
                    commit: &g.attested_commit,
                    signed_by: &g.signed_by,
                    matched: g.matched.as_str(),
                }),
            })
            .collect(),
        summary: SummaryView {
            commits: report.commits.len(),
            governed: report.count(GateOutcome::Governed),
            ungoverned_ai: report.count(GateOutcome::UngovernedAi),
            invalid_attestation: report.count(GateOutcome::InvalidAttestation),
            plain: report.count(GateOutcome::Plain),
            failing,
            passed: failing == 0,
        },
    }
}

/// The SARIF rule of a failing outcome: (name, short description, full description,
/// help).
fn rule_text(outcome: GateOutcome) -> (&'static str, &'static str, &'static str, &'static str) {
    match outcome {
        GateOutcome::UngovernedAi => (
            "UngovernedAiCommit",
            "AI-marked commit without a docket attestation",
            "The commit carries an AI marker (a Co-authored-by trailer naming an AI assistant, Assisted-by, Generated-by or AI-Assisted, or an assistant's identity as author or committer) but no docket attestation covers it, so nothing records which ticket, policy decisions, validation and checks the change went through.",
            "Make AI-written changes through `docket run`, which publishes them with a signed attestation (a git note under refs/notes/docket), or remove the change. See docs/gate.md.",
        ),
        GateOutcome::InvalidAttestation => (
            "InvalidAttestation",
            "Commit claims a docket run but no trusted attestation covers it",
            "The commit names a docket run (Docket-Run trailer) or carries an attestation note, but no attestation signed by a trusted key covers this commit: its tree and diff both differ from what the run attested (it was changed after the run), its tree is an attested tree committed on a parent the run did not start from (which undoes the changes made since), the note does not verify, the gate trusts no key, or the attestations were not fetched.",
            "Fetch the attestations (git fetch origin refs/notes/docket:refs/notes/docket), check that the gate trusts the ledger's key, and re-run the ticket through `docket run` if the change was edited after its run. See docs/gate.md.",
        ),
        GateOutcome::Plain | GateOutcome::Governed => (
            "UnattestedCommit",
            "Commit without a docket attestation",
            "The gate policy requires every commit of the range to be governed by a docket run, and this commit has no attestation.",
            "Make the change through `docket run`, or relax fail_on in the gate policy. See docs/gate.md.",
        ),
    }
}

fn rule_id(outcome: GateOutcome) -> String {
    format!("{RULE_PREFIX}/{}", outcome.as_str())
}

/// A SARIF 2.1.0 log with one result per failing commit, as GitHub code scanning
/// accepts it: every result has a physical location (the commit's first changed
/// file, line 1; the repository root for a commit that changes nothing) and a
/// fingerprint, so re-uploads do not duplicate alerts.
fn sarif(policy: &GatePolicy, failing: &[&Judged], paths: &[Option<String>]) -> Value {
    let mut outcomes: Vec<GateOutcome> =
        vec![GateOutcome::UngovernedAi, GateOutcome::InvalidAttestation];
    if policy.fails(GateOutcome::Plain) {
        outcomes.push(GateOutcome::Plain);
    }
    let rules: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let (name, short, full, help) = rule_text(*o);
            json!({
                "id": rule_id(*o),
                "name": name,
                "shortDescription": { "text": short },
                "fullDescription": { "text": full },
                "help": { "text": help, "markdown": help },
                "helpUri": format!("{INFORMATION_URI}/blob/main/docs/gate.md"),
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["docket", "ai-governance", "provenance"] },
            })
        })
        .collect();
    let results: Vec<Value> = failing
        .iter()
        .zip(paths.iter().chain(std::iter::repeat(&None)))
        .map(|(judged, path)| {
            let index = outcomes
                .iter()
                .position(|o| *o == judged.outcome)
                .unwrap_or_default();
            let uri = path.as_deref().map_or_else(|| ".".to_owned(), artifact_uri);
            json!({
                "ruleId": rule_id(judged.outcome),
                "ruleIndex": index,
                "level": "error",
                "message": {
                    "text": format!(
                        "Commit {} ({}) is {}: {}",
                        gate::short(&judged.commit.id),
                        judged.subject(),
                        judged.outcome,
                        judged.reason
                    ),
                },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri, "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": 1 },
                    },
                }],
                "partialFingerprints": { "docket-gate/v1": judged.commit.id },
                "properties": {
                    "commit": judged.commit.id,
                    "outcome": judged.outcome.as_str(),
                    "markers": judged.markers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "runs": judged.runs,
                },
            })
        })
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "docket",
                    "version": version,
                    "semanticVersion": version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                },
            },
            "automationDetails": { "id": format!("{RULE_PREFIX}/") },
            "results": results,
        }],
    })
}
