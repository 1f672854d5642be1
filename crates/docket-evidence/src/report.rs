//! `report.html` of an audit package: one standalone page (inline CSS, no script, no
//! external resource) with a section per run — who asked, who ran it, which agent,
//! what policy decided, what was validated, what changed — where each fact can be
//! checked, and the control mapping.
//!
//! Invariant: everything shown is escaped. Ticket titles, rule details, command lines
//! and diffs are untrusted text; the template auto-escapes (minijinja, HTML mode) and
//! the one pre-rendered fragment, the diff, is escaped here by [`escape_html`].

use std::collections::BTreeMap;

use docket_ledger::entry::Entry;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::contents::{ARTEFACTS, ConsistencyRef, ControlMapping, EvidenceRef, Selection};
use docket_core::record::{
    CheckResult, RepositoryRef, RuleResult, RunRecord, TicketRef, WorkerRef,
};

const TEMPLATE: &str = include_str!("../templates/report.html.j2");
/// Longest patch shown in full; longer ones are cut with a note.
pub const PATCH_LIMIT: usize = 200 * 1024;

/// Everything the report shows.
pub struct ReportInput<'a> {
    pub origin: &'a str,
    pub created_at: &'a str,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
    pub key: String,
    pub selection: &'a Selection,
    pub runs: Vec<RunEvidence<'a>>,
    pub mapping: &'a ControlMapping,
    pub evidence: &'a [EvidenceRef],
    pub consistency: &'a [ConsistencyRef],
}

/// One run: its latest record and the entries around it.
pub struct RunEvidence<'a> {
    pub record: &'a RunRecord,
    pub record_index: u64,
    /// The record's stage entries: index and kind.
    pub stages: Vec<(u64, &'a str)>,
    /// `policy.decision` entries by input digest.
    pub decisions: BTreeMap<String, u64>,
    /// Approval and exception entries.
    pub grants: Vec<(u64, &'a Entry)>,
    /// The patch, when the run recorded a diff.
    pub patch: Option<Patch<'a>>,
    /// `attestations/<commit>.dsse.json`, when the run was published.
    pub attestation: Option<&'a str>,
}

pub enum Patch<'a> {
    Text { file: String, bytes: &'a [u8] },
    Shredded { file: String },
    Absent,
}

#[derive(Serialize)]
struct View<'a> {
    origin: &'a str,
    created_at: &'a str,
    checkpoint_size: u64,
    checkpoint_root: &'a str,
    key: &'a str,
    selection: &'a Selection,
    counts: BTreeMap<String, usize>,
    runs: Vec<RunView<'a>>,
    controls: Vec<ControlView<'a>>,
    consistency: &'a [ConsistencyRef],
}

#[derive(Serialize)]
struct RunView<'a> {
    anchor: String,
    run_id: &'a str,
    status: &'static str,
    reasons: &'a [String],
    ticket: &'a TicketRef,
    initiator: &'a str,
    repository: &'a RepositoryRef,
    base_commit: Option<&'a str>,
    worker: &'a WorkerRef,
    agent_kind: &'a str,
    agent_command: String,
    agent_model: Option<&'a str>,
    started_at: &'a str,
    finished_at: &'a str,
    attempts: Vec<AttemptView<'a>>,
    decisions: Vec<DecisionView<'a>>,
    rules: &'a [RuleResult],
    validation_mode: &'a str,
    validation: Vec<ValidationView<'a>>,
    checks: &'a [CheckResult],
    grants: Vec<GrantView>,
    output: Option<OutputView<'a>>,
    held: Option<&'a docket_core::record::HeldRun>,
    diff: Option<DiffView<'a>>,
    patch: PatchView,
    record_index: u64,
    entries: Vec<EntryView<'a>>,
}

#[derive(Serialize)]
struct AttemptView<'a> {
    purpose: &'a str,
    attempt: u32,
    result: String,
    duration_ms: u64,
}

#[derive(Serialize)]
struct DecisionView<'a> {
    point: &'a str,
    verdict: &'a str,
    messages: &'a [String],
    bundle_digest: &'a str,
    input_digest: &'a str,
    entry: Option<u64>,
}

#[derive(Serialize)]
struct ValidationView<'a> {
    phase: &'a str,
    attempt: u32,
    command: String,
    result: String,
    passed: bool,
    duration_ms: u64,
    output_digest: &'a str,
}

#[derive(Serialize)]
struct GrantView {
    kind: &'static str,
    entry: u64,
    approver: String,
    at: String,
    reason: String,
    rule: String,
    expires_at: String,
}

#[derive(Serialize)]
struct OutputView<'a> {
    branch: &'a str,
    commit: &'a str,
    pushed_to: Option<&'a str>,
    attestation_blob: Option<&'a str>,
    attestation_file: Option<&'a str>,
}

#[derive(Serialize)]
struct DiffView<'a> {
    digest: &'a str,
    files_changed: u64,
    lines_added: u64,
    lines_removed: u64,
    files: Vec<DiffFileView<'a>>,
}

#[derive(Serialize)]
struct DiffFileView<'a> {
    name: String,
    status: &'a str,
    size: String,
}

#[derive(Serialize)]
struct PatchView {
    /// `text`, `shredded`, `absent` or `none`.
    state: &'static str,
    file: String,
    /// Escaped by [`escape_html`]; the template marks it safe.
    html: String,
    truncated: bool,
    shown_bytes: usize,
    total_bytes: usize,
}

#[derive(Serialize)]
struct EntryView<'a> {
    index: u64,
    kind: &'a str,
}

#[derive(Serialize)]
struct ControlView<'a> {
    label: String,
    title: &'a str,
    requirement: &'a str,
    source: &'a str,
    url: &'a str,
    evidence: Vec<ControlEvidenceView<'a>>,
}

#[derive(Serialize)]
struct ControlEvidenceView<'a> {
    evidence: &'a str,
    why: &'a str,
    /// What in this package it is: "12 entries", "checkpoint.note", "none in this package".
    here: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A patch as HTML lines, escaped, each line classed for colour.
fn patch_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.lines() {
        let class = if line.starts_with("+++ ") || line.starts_with("--- ") {
            "m"
        } else if line.starts_with('+') {
            "a"
        } else if line.starts_with('-') {
            "d"
        } else if line.starts_with("@@") {
            "h"
        } else if line.starts_with("diff ") || line.starts_with("index ") {
            "m"
        } else {
            ""
        };
        if class.is_empty() {
            out.push_str(&escape_html(line));
        } else {
            out.push_str("<span class=\"");
            out.push_str(class);
            out.push_str("\">");
            out.push_str(&escape_html(line));
            out.push_str("</span>");
        }
        out.push('\n');
    }
    out
}

fn patch_view(patch: Option<&Patch<'_>>) -> PatchView {
    let empty = |state| PatchView {
        state,
        file: String::new(),
        html: String::new(),
        truncated: false,
        shown_bytes: 0,
        total_bytes: 0,
    };
    match patch {
        None => empty("none"),
        Some(Patch::Absent) => empty("absent"),
        Some(Patch::Shredded { file }) => PatchView {
            file: file.clone(),
            ..empty("shredded")
        },
        Some(Patch::Text { file, bytes }) => {
            let mut cut = bytes.len().min(PATCH_LIMIT);
            // Cut at a line end when there is one near, so no line is half shown.
            if cut < bytes.len()
                && let Some(newline) = bytes[..cut].iter().rposition(|b| *b == b'\n')
            {
                cut = newline + 1;
            }
            let text = String::from_utf8_lossy(&bytes[..cut]);
            PatchView {
                state: "text",
                file: file.clone(),
                html: patch_html(&text),
                truncated: cut < bytes.len(),
                shown_bytes: cut,
                total_bytes: bytes.len(),
            }
        }
    }
}

fn text_field(value: &Value, name: &str) -> String {
    match value.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn run_view<'a>(run: &'a RunEvidence<'a>) -> RunView<'a> {
    let record = run.record;
    let exit = |timed_out: bool, code: Option<i32>| {
        if timed_out {
            "timed out".to_owned()
        } else {
            code.map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed by a signal".into())
        }
    };
    let grants = run
        .grants
        .iter()
        .map(|(index, entry)| {
            let approver = entry.payload.get("approver");
            GrantView {
                kind: if entry.kind == docket_core::record::kinds::APPROVAL {
                    "approval"
                } else {
                    "exception"
                },
                entry: *index,
                approver: approver.map(|a| text_field(a, "name")).unwrap_or_default(),
                at: text_field(&entry.payload, "at"),
                reason: text_field(&entry.payload, "reason"),
                rule: text_field(&entry.payload, "rule"),
                expires_at: text_field(&entry.payload, "expires_at"),
            }
        })
        .collect();
    RunView {
        anchor: format!("run-{}", record.run_id),
        run_id: &record.run_id,
        status: record.outcome.status.as_str(),
        reasons: &record.outcome.reasons,
        ticket: &record.ticket,
        initiator: &record.initiator,
        repository: &record.repository,
        base_commit: record.base_commit.as_deref(),
        worker: &record.worker,
        agent_kind: &record.agent.kind,
        agent_command: record.agent.command.join(" "),
        agent_model: record.agent.model.as_deref(),
        started_at: &record.started_at,
        finished_at: &record.finished_at,
        attempts: record
            .attempts
            .iter()
            .map(|a| AttemptView {
                purpose: &a.purpose,
                attempt: a.attempt,
                result: exit(a.timed_out, a.exit_code),
                duration_ms: a.duration_ms,
            })
            .collect(),
        decisions: record
            .decisions
            .iter()
            .map(|d| DecisionView {
                point: &d.point,
                verdict: &d.verdict,
                messages: &d.messages,
                bundle_digest: &d.bundle_digest,
                input_digest: &d.input_digest,
                entry: run.decisions.get(&d.input_digest).copied(),
            })
            .collect(),
        rules: &record.rules,
        validation_mode: &record.validation_mode,
        validation: record
            .validation
            .iter()
            .map(|v| ValidationView {
                phase: &v.phase,
                attempt: v.attempt,
                command: v.argv.join(" "),
                result: exit(v.timed_out, v.exit_code),
                passed: !v.timed_out && v.exit_code == Some(0),
                duration_ms: v.duration_ms,
                output_digest: &v.output_digest,
            })
            .collect(),
        checks: &record.checks,
        grants,
        output: record.output.as_ref().map(|o| OutputView {
            branch: &o.branch,
            commit: &o.commit,
            pushed_to: o.pushed_to.as_deref(),
            attestation_blob: o.attestation.as_deref(),
            attestation_file: run.attestation,
        }),
        held: record.held.as_ref(),
        diff: record.diff.as_ref().map(|d| DiffView {
            digest: &d.digest,
            files_changed: d.files_changed,
            lines_added: d.lines_added,
            lines_removed: d.lines_removed,
            files: d
                .files
                .iter()
                .map(|f| DiffFileView {
                    name: match &f.old_path {
                        Some(old) => format!("{old} → {}", f.path),
                        None => f.path.clone(),
                    },
                    status: &f.status,
                    size: if f.binary {
                        "binary".into()
                    } else {
                        format!("+{} −{}", f.added, f.removed)
                    },
                })
                .collect(),
        }),
        patch: patch_view(run.patch.as_ref()),
        record_index: run.record_index,
        entries: run
            .stages
            .iter()
            .map(|(index, kind)| EntryView {
                index: *index,
                kind,
            })
            .collect(),
    }
}

fn control_views<'a>(input: &'a ReportInput<'a>) -> Vec<ControlView<'a>> {
    input
        .mapping
        .controls
        .iter()
        .map(|control| ControlView {
            label: control.label(),
            title: &control.title,
            requirement: &control.requirement,
            source: &control.source,
            url: &control.url,
            evidence: control
                .evidence
                .iter()
                .map(|item| {
                    let found = input.evidence.iter().find(|e| e.evidence == item.evidence);
                    let artefact = ARTEFACTS.iter().any(|(name, _)| *name == item.evidence);
                    let here = match found {
                        Some(e) if !e.entries.is_empty() => format!(
                            "{} {} in this package",
                            e.entries.len(),
                            if e.entries.len() == 1 {
                                "entry"
                            } else {
                                "entries"
                            }
                        ),
                        Some(e) if !e.files.is_empty() => e.files.join(", "),
                        _ if artefact => "not in this package".into(),
                        _ => "no such entries in this package".into(),
                    };
                    ControlEvidenceView {
                        evidence: &item.evidence,
                        why: &item.why,
                        here,
                    }
                })
                .collect(),
        })
        .collect()
}

/// Renders report.html.
pub fn render(input: &ReportInput<'_>) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    // A typo in the template is an error, not an empty cell.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The name ends in .html(.j2): minijinja escapes every `{{ }}` as HTML.
    env.add_template("report.html.j2", TEMPLATE)?;
    let runs: Vec<RunView<'_>> = input.runs.iter().map(run_view).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    counts.insert("runs".into(), runs.len());
    for status in [
        "published",
        "blocked",
        "failed",
        "awaiting-approval",
        "cancelled",
        "discarded",
    ] {
        let count = runs.iter().filter(|r| r.status == status).count();
        counts.insert(status.replace('-', "_"), count);
    }
    let view = View {
        origin: input.origin,
        created_at: input.created_at,
        checkpoint_size: input.checkpoint_size,
        checkpoint_root: &input.checkpoint_root,
        key: &input.key,
        selection: input.selection,
        counts,
        runs,
        controls: control_views(input),
        consistency: input.consistency,
    };
    env.get_template("report.html.j2")?
        .render(minijinja::Value::from(minijinja::value::Serde(&view)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(
            patch_html("+<script>\n-</b>\n@@ -1 +1 @@\n ctx\n"),
            "<span class=\"a\">+&lt;script&gt;</span>\n<span class=\"d\">-&lt;/b&gt;</span>\n<span class=\"h\">@@ -1 +1 @@</span>\n ctx\n"
        );
    }

    #[test]
    fn long_patches_are_cut_at_a_line_end() {
        let line = "+x\n".repeat(PATCH_LIMIT);
        let view = patch_view(Some(&Patch::Text {
            file: "blobs/sha256/ab".into(),
            bytes: line.as_bytes(),
        }));
        assert!(view.truncated);
        assert_eq!(view.total_bytes, line.len());
        assert!(view.shown_bytes <= PATCH_LIMIT && view.shown_bytes.is_multiple_of(3));
    }
}
