//! The review-request body: markdown a reviewer reads on the branch's pull request,
//! summarising the evidence and where to check it.

use docket_core::record::RunRecord;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the body. Ticket text is not included (it is untrusted); only its id,
/// title and digest are, with the title escaped for a table cell.
pub fn render(record: &RunRecord, checkpoint: Option<&docket_ledger::Checkpoint>) -> String {
    let mut md = String::new();
    md.push_str(&format!("## docket run `{}`\n\n", record.run_id));
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!(
        "| Ticket | `{}` — {} |\n",
        record.ticket.id,
        cell(&record.ticket.title)
    ));
    md.push_str(&format!("| Ticket digest | `{}` |\n", record.ticket.digest));
    if let Some(r) = &record.ticket.requester {
        md.push_str(&format!("| Requested by | {} |\n", cell(r)));
    }
    md.push_str(&format!("| Initiated by | {} |\n", cell(&record.initiator)));
    let model = record
        .agent
        .model
        .as_deref()
        .map(|m| format!(":{m}"))
        .unwrap_or_default();
    md.push_str(&format!("| Agent | `{}{model}` |\n", record.agent.kind));
    if let Some(base) = &record.base_commit {
        md.push_str(&format!(
            "| Base | `{}` @ `{}` |\n",
            record.repository.base_ref, base
        ));
    }
    md.push_str(&format!(
        "| Outcome | **{}** |\n\n",
        record.outcome.status.as_str()
    ));

    md.push_str("### Repository rules\n\n| Rule | Outcome | Detail |\n|---|---|---|\n");
    for r in &record.rules {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            r.rule,
            r.outcome,
            cell(&r.detail)
        ));
    }
    md.push_str(&format!(
        "\n### Validation (mode: {})\n\n",
        record.validation_mode
    ));
    if record.validation.is_empty() {
        md.push_str("No validation commands ran.\n");
    } else {
        md.push_str(
            "| Attempt | Phase | Command | Exit | Duration | Output |\n|---|---|---|---|---|---|\n",
        );
        for v in &record.validation {
            md.push_str(&format!(
                "| {} | {} | `{}` | {} | {} ms | `{}` |\n",
                v.attempt,
                v.phase,
                cell(&v.argv.join(" ")),
                if v.timed_out {
                    "timed out".to_owned()
                } else {
                    v.exit_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "signal".into())
                },
                v.duration_ms,
                v.output_digest
            ));
        }
    }
    md.push_str("\n### Governance checks\n\n");
    if record.checks.is_empty() {
        md.push_str("No checks configured.\n");
    } else {
        md.push_str("| Check | Mode | Outcome | Detail |\n|---|---|---|---|\n");
        for c in &record.checks {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.check,
                c.mode,
                c.outcome,
                cell(&c.detail)
            ));
        }
    }
    if let Some(diff) = &record.diff {
        md.push_str(&format!(
            "\n### Diff\n\n{} files changed, +{} −{} (digest `{}`)\n\n",
            diff.files_changed, diff.lines_added, diff.lines_removed, diff.digest
        ));
        for f in &diff.files {
            let name = match &f.old_path {
                Some(old) => format!("{old} → {}", f.path),
                None => f.path.clone(),
            };
            let size = if f.binary {
                "binary".to_owned()
            } else {
                format!("+{} −{}", f.added, f.removed)
            };
            md.push_str(&format!("- `{}` {} ({size})\n", cell(&name), f.status));
        }
    }
    md.push_str("\n### Evidence\n\n");
    let stages: Vec<String> = record.ledger.stages.iter().map(u64::to_string).collect();
    md.push_str(&format!(
        "Every stage above is an entry in the docket ledger (entries {}). ",
        stages.join(", ")
    ));
    if let Some(cp) = checkpoint {
        md.push_str(&format!(
            "They are covered by the signed checkpoint of `{}` at tree size {} (root `{}`); `docket log prove INDEX --size {}` proves any of them against it. ",
            cp.origin, cp.size, cp.root, cp.size
        ));
    }
    md.push_str(&format!(
        "Check it with `docket runs show {}` and `docket log verify`.\n",
        record.run_id
    ));
    md
}
