//! `docket bench package`: `docket export` and `docket verify-package` of a ledger with
//! many runs. The runs are synthetic but shaped like real ones — the same stage entries,
//! blobs of realistic sizes, a signed attestation and a run record linking its stages —
//! written straight through the ledger API (no git, no agent).

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use docket_core::record::{
    AgentAttempt, AgentRef, CheckResult, DecisionSummary, DiffFile, DiffSummary, LedgerRef,
    RepositoryRef, RuleResult, RunOutcome, RunOutput, RunRecord, RunStatus, TicketRef,
    ValidationCommand, WorkerRef, kinds,
};
use docket_evidence::attest;
use docket_evidence::package::{self, ExportOptions, Trust};
use docket_ledger::{Digest256, Hash, Ledger, LedgerConfig, NewEntry, Signer, Verifier};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct PackageBenchArgs {
    /// Runs in the ledger, all exported (every fifth is blocked, the rest published).
    #[arg(long, default_value_t = 1000)]
    runs: u32,
}

#[derive(Debug, Serialize)]
struct Figures {
    runs: u32,
    ledger_entries: u64,
    package_entries: usize,
    package_blobs: usize,
    package_bytes: u64,
    report_bytes: u64,
    setup_seconds: f64,
    export_seconds: f64,
    /// Of which: selecting, reading, proving, rendering and signing (before the zip).
    export_build_seconds: f64,
    verify_seconds: f64,
}

pub async fn run(args: PackageBenchArgs, out: &Output) -> anyhow::Result<Outcome> {
    let scratch = tempfile::Builder::new()
        .prefix("docket-bench-package-")
        .tempdir()?;
    let ledger = Ledger::open(&LedgerConfig::sqlite_in(scratch.path().join("home"))).await?;
    let started = Instant::now();
    let result = bench(&ledger, &args, scratch.path(), started).await;
    ledger.close().await;
    let figures = result?;
    if out.json() {
        out.json_value(&figures)?;
        return Ok(Outcome::Success);
    }
    out.line(format!(
        "ledger            {} runs, {} entries (setup {:.1} s)",
        figures.runs, figures.ledger_entries, figures.setup_seconds
    ));
    out.line(format!(
        "package           {} entries, {} blobs, {:.1} MiB (report.html {:.1} MiB)",
        figures.package_entries,
        figures.package_blobs,
        figures.package_bytes as f64 / f64::from(1 << 20),
        figures.report_bytes as f64 / f64::from(1 << 20)
    ));
    out.line(format!(
        "export            {:.2} s   (goal < 10 s; {:.2} s before the zip is written)",
        figures.export_seconds, figures.export_build_seconds
    ));
    out.line(format!(
        "verify-package    {:.2} s   (goal < 10 s)",
        figures.verify_seconds
    ));
    Ok(Outcome::Success)
}

async fn bench(
    ledger: &Ledger,
    args: &PackageBenchArgs,
    dir: &std::path::Path,
    started: Instant,
) -> anyhow::Result<Figures> {
    let key = ledger.signing_key().await?;
    let signer = ledger.keys().find(&key)?;
    // Runs append their stages in order, many runs at once (group commit batches them).
    let mut pending = FuturesUnordered::new();
    let mut next = 0u32;
    let mut failure = None;
    while next < args.runs || !pending.is_empty() {
        while next < args.runs && pending.len() < 64 {
            pending.push(synthetic_run(ledger, &signer, &key, next));
            next += 1;
        }
        if let Some(result) = pending.next().await
            && let Err(e) = result
        {
            failure.get_or_insert(e);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let setup_seconds = started.elapsed().as_secs_f64();
    let ledger_entries = ledger.size().await?;

    // Export: select, read, prove, render, sign, zip, write.
    let path = dir.join("package.zip");
    let t = Instant::now();
    let built = package::build(ledger, &ExportOptions::default()).await?;
    let build_seconds = t.elapsed().as_secs_f64();
    let bytes = package::write_zip(&built.files)?;
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let export_seconds = t.elapsed().as_secs_f64();

    // Verify: read, unzip, check everything.
    let t = Instant::now();
    let read = std::fs::read(&path)?;
    let archive = package::read_zip(&read)?;
    let verified = package::verify_archive(&archive, &Trust::Keys(vec![key.clone()]));
    let verify_seconds = t.elapsed().as_secs_f64();
    let verified = verified.map_err(|f| anyhow::anyhow!("the package does not verify: {f}"))?;
    if verified.runs != args.runs as usize {
        anyhow::bail!(
            "the package holds {} runs, expected {}",
            verified.runs,
            args.runs
        );
    }
    Ok(Figures {
        runs: args.runs,
        ledger_entries,
        package_entries: built.summary.entries,
        package_blobs: built.summary.blobs,
        package_bytes: bytes.len() as u64,
        report_bytes: built
            .files
            .get(package::REPORT)
            .map_or(0, |r| r.len() as u64),
        setup_seconds,
        export_seconds,
        export_build_seconds: build_seconds,
        verify_seconds,
    })
}

/// Deterministic filler text of `len` bytes that compresses like prose, not like zeros.
fn filler(seed: u32, len: usize) -> String {
    const WORDS: [&str; 16] = [
        "resource", "bucket", "policy", "encrypt", "version", "logging", "public", "access",
        "block", "server", "side", "kms", "tags", "owner", "module", "variable",
    ];
    let mut out = String::with_capacity(len + 16);
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out.push_str(WORDS[(state % 16) as usize]);
        out.push(if state.is_multiple_of(11) { '\n' } else { ' ' });
    }
    out.truncate(len);
    out
}

fn patch(n: u32) -> String {
    let mut text = String::new();
    for file in 0..3 {
        text.push_str(&format!(
            "diff --git a/infra/module{file}/main.tf b/infra/module{file}/main.tf\nindex 1111111..2222222 100644\n--- a/infra/module{file}/main.tf\n+++ b/infra/module{file}/main.tf\n@@ -10,6 +10,14 @@ resource \"aws_s3_bucket\" \"b{n}\" {{\n"
        ));
        for line in filler(n * 7 + file, 2400).lines() {
            text.push(' ');
            text.push_str(line);
            text.push('\n');
        }
        for line in filler(n * 13 + file, 600).lines() {
            text.push('+');
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

async fn synthetic_run(
    ledger: &Ledger,
    signer: &Signer,
    key: &Verifier,
    n: u32,
) -> anyhow::Result<()> {
    let run_id = format!("{:08x}-0000-4000-8000-{:012x}", n, u64::from(n) * 7919);
    let blocked = n % 5 == 4;
    let ticket_id = format!("TICKET-{n}");
    let put = |bytes: &[u8]| ledger.blobs().put(bytes);
    let mut stages: Vec<(u64, Hash)> = Vec::new();
    let mut decisions = Vec::new();
    let started_at = docket_engine::governance::now();

    let ticket_text = format!(
        "---\nid: {ticket_id}\ntitle: Encrypt bucket {n}\nlabels: [docket, repo-demo]\nstate: ready\nrequester: requester{}@example.com\n---\n# Encrypt bucket {n}\n\n{}",
        n % 17,
        filler(n, 900)
    );
    let ticket_blob = put(ticket_text.as_bytes())?;
    let ticket = TicketRef {
        id: ticket_id.clone(),
        title: format!("Encrypt bucket {n}"),
        source: format!(".docket/tickets/{ticket_id}.md"),
        digest: Digest256::of(ticket_text.as_bytes()).to_string(),
        text_blob: Some(ticket_blob.to_string()),
        labels: vec!["docket".into(), "repo-demo".into()],
        requester: Some(format!("requester{}@example.com", n % 17)),
        assignee: None,
    };

    macro_rules! stage {
        ($kind:expr, $payload:expr, $blobs:expr) => {{
            let mut payload: Value = $payload;
            payload["run_id"] = Value::String(run_id.clone());
            let appended = ledger
                .append(NewEntry::new($kind, payload).with_blobs($blobs))
                .await?;
            stages.push((appended.index, appended.leaf_hash));
        }};
    }

    stage!(
        kinds::INTAKE,
        json!({"ticket": {"id": ticket_id, "digest": ticket.digest, "source": ticket.source}, "eligible": true, "reasons": []}),
        vec![]
    );
    let points: &[&str] = &["intake", "run", "publish"];
    for (i, point) in points.iter().enumerate() {
        let input = json!({"schema": "docket.policy-input/v1", "point": point, "ticket": {"id": ticket_id}, "padding": filler(n * 3 + i as u32, 2500)});
        let input_bytes = serde_json::to_vec(&input)?;
        let input_blob = put(&input_bytes)?;
        let deny = blocked && *point == "publish";
        let summary = DecisionSummary {
            point: (*point).into(),
            verdict: if deny { "deny" } else { "allow" }.into(),
            messages: if deny {
                vec!["forbidden-paths: .github/workflows/ci.yml is protected".into()]
            } else {
                vec![]
            },
            bundle_digest: Digest256::of(b"bundle").to_string(),
            input_digest: Digest256::of(&input_bytes).to_string(),
        };
        stage!(
            kinds::POLICY,
            json!({"decision": {"point": point, "verdict": summary.verdict, "deny": summary.messages, "warn": [], "approval": [], "errors": [], "bundle_digest": summary.bundle_digest, "input_digest": summary.input_digest, "elapsed_us": 900}, "bundle": {"digest": summary.bundle_digest, "files": ["builtin/publish.rego"]}, "input_blob": input_blob.to_string()}),
            vec![input_blob]
        );
        decisions.push(summary);
    }
    let agent = AgentRef {
        kind: "exec".into(),
        command: vec![".docket/agent.sh".into()],
        model: Some("claude-sonnet-4".into()),
    };
    let worker = WorkerRef {
        host: "bench".into(),
        docket_version: env!("CARGO_PKG_VERSION").into(),
        key: key.to_string(),
    };
    let repository = RepositoryRef {
        alias: "demo".into(),
        root: "/srv/repos/demo".into(),
        base_ref: "main".into(),
    };
    let base_commit = format!("{:040x}", u128::from(n) * 104_729);
    stage!(
        kinds::STARTED,
        json!({"ticket": ticket, "initiator": "initiator@example.com", "repository": repository, "base_commit": base_commit, "agent": agent, "worker": worker}),
        vec![ticket_blob]
    );
    let stdout = put(filler(n + 11, 2000).as_bytes())?;
    let stderr = put(filler(n + 12, 200).as_bytes())?;
    let attempt = AgentAttempt {
        purpose: "initial".into(),
        attempt: 1,
        argv: agent.command.clone(),
        exit_code: Some(0),
        signal: None,
        timed_out: false,
        duration_ms: 1200 + u64::from(n % 300),
        stdout_digest: stdout.to_string(),
        stderr_digest: stderr.to_string(),
        model_usage: None,
        validation_report: None,
    };
    stage!(
        kinds::AGENT,
        json!({"attempt": attempt}),
        vec![stdout, stderr]
    );
    let patch = patch(n);
    let patch_blob = put(patch.as_bytes())?;
    let diff = DiffSummary {
        digest: Digest256::of(patch.as_bytes()).to_string(),
        files: (0..3)
            .map(|f| DiffFile {
                path: format!("infra/module{f}/main.tf"),
                old_path: None,
                status: "modified".into(),
                added: 20,
                removed: 0,
                binary: false,
                old_mode: Some("100644".into()),
                new_mode: Some("100644".into()),
            })
            .collect(),
        files_changed: 3,
        lines_added: 60,
        lines_removed: 0,
        patch_blob: patch_blob.to_string(),
    };
    stage!(kinds::DIFF, json!({"diff": diff}), vec![patch_blob]);
    let rules: Vec<RuleResult> = [
        "forbidden-paths",
        "allowed-paths",
        "path-safety",
        "symlinks",
        "max-files",
        "max-lines",
        "secrets",
    ]
    .iter()
    .map(|r| RuleResult {
        rule: (*r).into(),
        outcome: if blocked && *r == "forbidden-paths" {
            "fail"
        } else {
            "pass"
        }
        .into(),
        detail: "3 of at most 50 files".into(),
    })
    .collect();
    stage!(kinds::RULES, json!({"rules": rules}), vec![]);
    let output_blob = put(filler(n + 21, 1500).as_bytes())?;
    let validation = vec![ValidationCommand {
        phase: "validate".into(),
        attempt: 1,
        argv: vec!["terraform".into(), "validate".into()],
        exit_code: Some(0),
        timed_out: false,
        duration_ms: 800,
        output_digest: output_blob.to_string(),
    }];
    stage!(
        kinds::VALIDATION,
        json!({"attempt": 1, "mode": "required", "passed": true, "commands": validation}),
        vec![output_blob]
    );
    let checks = vec![CheckResult {
        check: "idempotency".into(),
        mode: "required".into(),
        outcome: "pass".into(),
        detail: "a second application changed nothing".into(),
    }];
    stage!(kinds::CHECK, json!({"check": checks[0]}), vec![]);

    let mut record = RunRecord {
        schema: docket_core::record::RUN_SCHEMA.into(),
        run_id: run_id.clone(),
        started_at,
        finished_at: String::new(),
        ticket,
        initiator: "initiator@example.com".into(),
        repository,
        base_commit: Some(base_commit),
        worker,
        agent,
        attempts: vec![attempt],
        diff: Some(diff),
        rules,
        validation_mode: "required".into(),
        validation,
        checks,
        outcome: RunOutcome {
            status: RunStatus::Blocked,
            reasons: vec!["forbidden-paths: .github/workflows/ci.yml is protected".into()],
        },
        output: None,
        ledger: LedgerRef::default(),
        decisions,
        held: None,
    };
    if !blocked {
        let commit = format!("{:040x}", u128::from(n) * 15_485_863 + 1);
        let tree = format!("{:040x}", u128::from(n) * 32_452_843 + 2);
        let statement = attest::statement(
            &attest::Published {
                record: &record,
                commit: &commit,
                tree: &tree,
                fixer: None,
                origin: ledger.origin(),
                entries: stages.iter().map(|(i, _)| *i).collect(),
                attested_at: docket_engine::governance::now(),
            },
            key,
        );
        let envelope = attest::sign(&statement, signer)?.to_json().into_bytes();
        let envelope_blob = put(&envelope)?;
        stage!(
            kinds::ATTESTATION,
            json!({"commit": commit, "tree": tree, "diff_digest": record.diff.as_ref().map(|d| d.digest.clone()), "predicate_type": attest::PREDICATE_TYPE, "envelope": envelope_blob, "notes_ref": "refs/notes/docket"}),
            vec![envelope_blob]
        );
        let review_blob = put(filler(n + 31, 3000).as_bytes())?;
        let output = RunOutput {
            branch: format!("docket/{ticket_id}-{}", &run_id[..8]),
            commit,
            review_blob: review_blob.to_string(),
            pushed_to: None,
            attestation: Some(envelope_blob.to_string()),
        };
        stage!(
            kinds::PUBLISHED,
            json!({"output": output, "push_error": null}),
            vec![review_blob]
        );
        record.output = Some(output);
        record.outcome = RunOutcome {
            status: RunStatus::Published,
            reasons: vec![],
        };
    }
    record.finished_at = docket_engine::governance::now();
    record.ledger.stages = stages.iter().map(|(i, _)| *i).collect();
    ledger
        .append(NewEntry::new(kinds::RECORD, serde_json::to_value(&record)?).with_links(stages))
        .await?;
    Ok(())
}
