//! Which tickets run: intake lists eligible and skipped tickets and records each
//! decision; tickets by path, unknown ids, and a plain-markdown remediation ticket.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::governed::*;
use crate::support::{Backend, Run};

use super::{reasons, sha256, status};

#[test]
fn intake_lists_eligible_and_skipped_tickets_and_records_each_decision() {
    let g = Governed::new(&[], &[("ok", &task("idempotent", "notes/ok.txt", "ok"))]);
    g.add_ticket(
        "no-label",
        &format!(
            "---\nid: no-label\nlabels: [repo-{ALIAS}]\nstate: ready\n---\nmode: idempotent\n"
        ),
    );
    g.add_ticket(
        "draft",
        &format!(
            "---\nid: draft\nlabels: [docket, repo-{ALIAS}]\nstate: draft\n---\n{}",
            task("idempotent", "notes/draft.txt", "d")
        ),
    );
    g.add_ticket(
        "elsewhere",
        "---\nid: elsewhere\nlabels: [docket, repo-other]\nstate: ready\n---\nmode: idempotent\n",
    );

    let text = g.env.ok(&["intake", "--repo", g.repo_arg()]);
    let mut lines: Vec<&str> = text.stdout.lines().collect();
    lines.sort();
    let expected = [
        "eligible  ok                           .docket/tickets/ok.md",
        "skipped   draft                        .docket/tickets/draft.md  — intake: not ready: state is `draft` (ready: ready)",
        "skipped   elsewhere                    .docket/tickets/elsewhere.md  — intake: routed to `other` instead of `demo`",
        "skipped   no-label                     .docket/tickets/no-label.md  — intake: label `docket` missing",
    ];
    assert_eq!(lines, expected, "{text}");

    let rows = g
        .env
        .ok(&["intake", "--repo", g.repo_arg(), "--format", "json"])
        .json();
    let rows: BTreeMap<String, (Value, Value, Value)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ticket"].as_str().unwrap().to_owned(),
                (
                    r["eligible"].clone(),
                    r["reasons"].clone(),
                    r["path"].clone(),
                ),
            )
        })
        .collect();
    assert_eq!(
        rows,
        BTreeMap::from([
            (
                "draft".to_owned(),
                (
                    json!(false),
                    json!(["intake: not ready: state is `draft` (ready: ready)"]),
                    json!(".docket/tickets/draft.md")
                )
            ),
            (
                "elsewhere".to_owned(),
                (
                    json!(false),
                    json!(["intake: routed to `other` instead of `demo`"]),
                    json!(".docket/tickets/elsewhere.md")
                )
            ),
            (
                "no-label".to_owned(),
                (
                    json!(false),
                    json!(["intake: label `docket` missing"]),
                    json!(".docket/tickets/no-label.md")
                )
            ),
            (
                "ok".to_owned(),
                (json!(true), json!([]), json!(".docket/tickets/ok.md"))
            ),
        ])
    );
    let decisions = g.entries_of_kind("intake.decision");
    assert_eq!(decisions.len(), 8, "two listings of four tickets");
    // Each listing is also an intake policy decision, linked to the eligibility entry.
    let policy: Vec<Value> = g
        .entries_of_kind("policy.decision")
        .into_iter()
        .filter(|d| d["payload"]["decision"]["point"] == "intake")
        .collect();
    assert_eq!(policy.len(), 8);
    assert_eq!(
        policy
            .iter()
            .filter(|d| d["payload"]["decision"]["verdict"] == "allow")
            .count(),
        2
    );
    let eligible: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["payload"]["eligible"] == true)
        .map(|d| &d["payload"]["ticket"]["id"])
        .collect();
    assert_eq!(eligible, [&json!("ok"), &json!("ok")]);

    // An ineligible ticket given to `docket run` is blocked at intake, on the record.
    let (run, record) = g.run_json("draft");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["intake: not ready: state is `draft` (ready: ready)"]
    );
    assert_eq!(record["attempts"], json!([]));
    let stages = record["ledger"]["stages"].as_array().unwrap();
    assert_eq!(
        stages.len(),
        2,
        "eligibility and the intake decision: {record:#}"
    );
    let decision = g.entry(stages[0].as_u64().unwrap());
    assert_eq!(decision["kind"], "intake.decision");
    assert_eq!(decision["payload"]["eligible"], false);
    assert_eq!(decision["payload"]["ticket"]["id"], "draft");
    assert_eq!(g.entries_of_kind("intake.decision").len(), 9);
    assert_eq!(g.docket_branches(), Vec::<String>::new());
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn tickets_by_path_unknown_ids_and_agents_that_change_nothing() {
    let g = Governed::new(&[], &[("idle", &task("nothing", "", ""))]);
    // A ticket file outside the tickets folder, given by path.
    let outside = g.env.path("from-elsewhere.md");
    let text = ticket("by-path", &task("idempotent", "notes/path.txt", "by path"));
    std::fs::write(&outside, &text).unwrap();
    let (run, record) = g.run_json(outside.to_str().unwrap());
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(record["ticket"]["id"], "by-path");
    assert_eq!(record["ticket"]["source"], outside.to_str().unwrap());
    assert_eq!(record["ticket"]["digest"], sha256(text.as_bytes()));
    let branch = record["output"]["branch"].as_str().unwrap();
    assert!(branch.starts_with("docket/by-path-"), "{branch}");
    assert_eq!(
        g.git(&["show", &format!("{branch}:notes/path.txt")]),
        "by path"
    );

    let run = g.run("nope", &[]);
    assert_eq!(run.code, 2, "{run}");
    let tickets_dir = g.repo.join(".docket/tickets");
    assert!(
        run.stderr.contains(&format!(
            "no ticket `nope` in {}",
            std::fs::canonicalize(&tickets_dir).unwrap().display()
        )) || run
            .stderr
            .contains(&format!("no ticket `nope` in {}", tickets_dir.display())),
        "{run}"
    );

    let (run, record) = g.run_json("idle");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "failed");
    assert_eq!(
        reasons(&record),
        ["no change: the agent exited successfully but changed nothing"]
    );
    assert_eq!(g.docket_branches(), [branch.to_owned()]);
    assert_eq!(g.runs().len(), 2, "the unknown id is no run");
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

/// A plain-markdown remediation ticket (no front matter), given by a path relative to
/// its own folder, takes its id from that folder.
#[test]
fn a_plain_remediation_ticket_takes_its_id_from_its_folder() {
    let g = Governed::on(
        Backend::Sqlite,
        &[
            ("intake", "label", "\"\""),
            ("intake", "ready_states", "[]"),
            ("intake", "require_routing", "false"),
        ],
        &[],
    );
    let folder = g.env.path("04-open-ssh");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("REMEDIATION.md"),
        "# Remediation Request\n\nmode: idempotent\nfile: notes/ssh.txt\nline: restricted\n",
    )
    .unwrap();
    let args = g.run_args("REMEDIATION.md", &[]);
    let output = g
        .env
        .command()
        .args(&args)
        .current_dir(&folder)
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .contains("ticket     04-open-ssh — Remediation Request"),
        "{run}"
    );
    assert_eq!(g.docket_branches().len(), 1);
    assert!(g.docket_branches()[0].starts_with("docket/04-open-ssh-"));
}
