//! A run that publishes: its branch, commit trailers and complete evidence, the push
//! to a remote, its record on PostgreSQL, and ticket text that cannot forge trailers.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::governed::*;
use crate::support::{backends, git, line_value};

use super::{reasons, rule, run_id, sha256};

#[test]
fn published_run_creates_a_branch_with_trailers_and_complete_evidence() {
    let g = Governed::new(
        &[],
        &[(
            "add-greeting",
            &task("idempotent", "notes/hello.txt", "hello from docket"),
        )],
    );
    let base = g.git(&["rev-parse", "main"]);

    let run = g.run("add-greeting", &[]);
    assert_eq!(run.code, 0, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    let branch = format!("docket/add-greeting-{}", &id[..8]);
    assert!(run.stdout.contains("\noutcome    published\n"), "{run}");
    assert!(
        run.stdout.contains(&format!("\nbranch     {branch} (")),
        "{run}"
    );

    // The branch: one commit on the base with the change and the trailers; main and
    // the current branch stay where they were (docket never merges).
    assert_eq!(g.docket_branches(), std::slice::from_ref(&branch));
    let commit = g.git(&["rev-parse", &branch]);
    assert_eq!(g.git(&["rev-parse", &format!("{branch}^")]), base);
    assert_eq!(g.git(&["rev-parse", "main"]), base);
    assert_eq!(g.git(&["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(
        g.git(&["log", "-1", "--format=%(trailers:only,unfold)", &branch]),
        format!(
            "Docket-Run: {id}\nDocket-Ticket: add-greeting\nAssisted-by: exec\nRequested-by: {REQUESTER}"
        )
    );
    assert_eq!(
        g.git(&["log", "-1", "--format=%s%n%an <%ae>", &branch]),
        "Ticket add-greeting\ndocket <docket@localhost>"
    );
    assert_eq!(
        g.git(&["diff", "--name-status", "main", &branch]),
        "A\tnotes/hello.txt"
    );
    assert_eq!(
        g.git(&["show", &format!("{branch}:notes/hello.txt")]),
        "hello from docket"
    );

    // The run record.
    let record = g.show(&id);
    assert_eq!(record["schema"], "docket.run/v1");
    assert_eq!(record["run_id"], id.as_str());
    let ticket_bytes = std::fs::read(g.repo.join(".docket/tickets/add-greeting.md")).unwrap();
    assert_eq!(record["ticket"]["id"], "add-greeting");
    assert_eq!(record["ticket"]["title"], "Ticket add-greeting");
    assert_eq!(record["ticket"]["digest"], sha256(&ticket_bytes));
    assert_eq!(record["ticket"]["requester"], REQUESTER);
    assert_eq!(
        record["ticket"]["labels"],
        json!(["docket", format!("repo-{ALIAS}")])
    );
    assert_eq!(
        g.blob(record["ticket"]["text_blob"].as_str().unwrap()),
        ticket_bytes,
        "the ticket text the agent was given is in the blob store"
    );
    assert_eq!(record["initiator"], INITIATOR);
    assert_eq!(
        record["repository"],
        json!({"alias": ALIAS, "root": std::fs::canonicalize(&g.repo).unwrap(), "base_ref": "main"})
    );
    assert_eq!(record["base_commit"], base.as_str());
    assert_eq!(
        record["agent"],
        json!({"kind": "exec", "command": [".docket/agent.sh"], "model": null})
    );
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{record:#}");
    assert_eq!(
        (
            &attempts[0]["purpose"],
            &attempts[0]["attempt"],
            &attempts[0]["exit_code"],
            &attempts[0]["timed_out"]
        ),
        (&json!("initial"), &json!(1), &json!(0), &json!(false))
    );
    assert_eq!(
        g.blob(attempts[0]["stdout_digest"].as_str().unwrap()),
        b"agent: idempotent notes/hello.txt\n"
    );

    let diff = &record["diff"];
    assert_eq!(
        diff["files"],
        json!([{
            "path": "notes/hello.txt", "old_path": null, "status": "added",
            "added": 1, "removed": 0, "binary": false, "old_mode": null, "new_mode": "100644"
        }])
    );
    assert_eq!(
        (
            &diff["files_changed"],
            &diff["lines_added"],
            &diff["lines_removed"]
        ),
        (&json!(1), &json!(1), &json!(0))
    );
    let patch = g.blob(diff["patch_blob"].as_str().unwrap());
    assert_eq!(
        diff["digest"],
        sha256(&patch),
        "the digest is the stored patch's"
    );
    let patch = String::from_utf8(patch).unwrap();
    assert!(
        patch.contains("+++ b/notes/hello.txt\n") && patch.contains("\n+hello from docket\n"),
        "{patch}"
    );

    let rules = record["rules"].as_array().unwrap();
    assert_eq!(
        rules.iter().map(|r| r["rule"].clone()).collect::<Vec<_>>(),
        RULES.map(Value::from)
    );
    for r in rules {
        assert_eq!(r["outcome"], "pass", "{r}");
        assert!(!r["detail"].as_str().unwrap().is_empty(), "{r}");
    }
    assert_eq!(
        rule(&record, "max-files")["detail"],
        "1 of at most 50 files"
    );
    assert_eq!(record["validation_mode"], "off");
    assert_eq!(record["validation"], json!([]));
    assert_eq!(record["checks"], json!([]));
    assert_eq!(
        record["outcome"],
        json!({"status": "published", "reasons": []})
    );
    assert_eq!(record["output"]["branch"], branch.as_str());
    assert_eq!(record["output"]["commit"], commit.as_str());
    assert_eq!(record["output"]["pushed_to"], Value::Null);

    // The review request body is a blob, and its path is printed.
    let review_path = PathBuf::from(line_value(&run.stdout, "review request"));
    assert!(review_path.starts_with(&g.env.home), "{run}");
    let review = std::fs::read(&review_path).unwrap();
    assert_eq!(record["output"]["review_blob"], sha256(&review));
    let review = String::from_utf8(review).unwrap();
    assert!(
        review.starts_with(&format!("## docket run `{id}`\n")),
        "{review}"
    );
    assert!(
        review.contains("| Ticket | `add-greeting` — Ticket add-greeting |"),
        "{review}"
    );

    // Every stage is a ledger entry of this run; the record closes them in order.
    let stages: Vec<u64> = record["ledger"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    let kinds: Vec<String> = stages
        .iter()
        .map(|&index| {
            let entry = g.entry(index);
            assert_eq!(entry["index"], index);
            assert_eq!(entry["payload"]["run_id"], id.as_str(), "{entry:#}");
            entry["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "intake.decision",
            "policy.decision",
            "policy.decision",
            "run.started",
            "run.agent",
            "run.diff",
            "run.rules",
            "policy.decision",
            "run.attestation",
            "run.published"
        ]
    );
    let shown_kinds: Vec<&str> = record["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(shown_kinds, kinds, "runs show lists the same stage entries");
    let record_index = record["ledger"]["index"].as_u64().unwrap();
    assert!(stages.iter().all(|&s| s < record_index));
    let record_entry = g.entry(record_index);
    assert_eq!(record_entry["kind"], "run.record");
    assert_eq!(record_entry["payload"]["run_id"], id.as_str());
    assert_eq!(record_entry["payload"]["outcome"]["status"], "published");

    let runs = g.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run_id"], id.as_str());
    assert_eq!(runs[0]["outcome"]["status"], "published");
    g.verify_ledger();
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn push_sends_the_branch_to_the_remote() {
    let g = Governed::new(
        &[],
        &[("pushed", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    let remote = g.env.path("origin.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "-q", "--bare"]);
    g.git(&["remote", "add", "origin", remote.to_str().unwrap()]);

    let run = g.run("pushed", &["--push", "origin"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("\npushed to  origin\n"), "{run}");
    let record = g.show(line_value(&run.stdout, "run"));
    assert_eq!(record["output"]["pushed_to"], "origin");
    let branch = record["output"]["branch"].as_str().unwrap();
    let commit = record["output"]["commit"].as_str().unwrap();
    let notes = g.git(&["rev-parse", "refs/notes/docket"]);
    assert_eq!(
        git(
            &remote,
            &["for-each-ref", "--format=%(refname) %(objectname)"]
        ),
        format!("refs/heads/{branch} {commit}\nrefs/notes/docket {notes}"),
        "only the run's branch and its attestation notes are pushed"
    );
    // The pushed note is the commit's attestation.
    assert!(
        git(&remote, &["notes", "--ref", "docket", "show", commit])
            .contains("application/vnd.in-toto+json")
    );
}

/// The golden path with the ledger on PostgreSQL (when configured): the run publishes,
/// its record and stage entries are in the database, and the ledger verifies.
#[test]
fn a_run_records_its_evidence_on_postgres_too() {
    for backend in backends("a_run_records_its_evidence_on_postgres_too") {
        let g = Governed::on(
            backend,
            &[],
            &[("pg-1", &task("idempotent", "notes/pg.txt", "on postgres"))],
        );
        let run = g.run("pg-1", &[]);
        assert_eq!(run.code, 0, "{backend:?}: {run}");
        let runs = g.runs();
        assert_eq!(runs.len(), 1, "{backend:?}");
        assert_eq!(runs[0]["outcome"]["status"], "published");
        let stages = runs[0]["ledger"]["stages"].as_array().unwrap().len();
        // intake, two decisions, started, agent, diff, rules, decision, attestation,
        // published
        assert_eq!(stages, 10, "{:#}", runs[0]);
        g.verify_ledger();
    }
}

// The tests below show product bugs found while writing the golden-path tests; see
// the report.

/// Ticket text is untrusted: a requester with a line break must not add trailers to
/// the commit (the title is already stripped of control characters).
#[test]
fn ticket_fields_cannot_forge_commit_trailers() {
    let g = Governed::new(&[], &[]);
    g.add_ticket(
        "forge",
        &format!(
            "---\nid: forge\nlabels: [docket, repo-{ALIAS}]\nstate: ready\nrequester: \"{REQUESTER}\\nDocket-Run: forged\"\n---\n{}",
            task("idempotent", "notes/forge.txt", "x")
        ),
    );
    let (run, record) = g.run_json("forge");
    if run.code == 0 {
        let branch = record["output"]["branch"].as_str().unwrap();
        let trailers = g.git(&["log", "-1", "--format=%(trailers:only,unfold)", branch]);
        let keys: Vec<&str> = trailers
            .lines()
            .map(|l| l.split_once(':').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            ["Docket-Run", "Docket-Ticket", "Assisted-by", "Requested-by"],
            "forged trailers:\n{trailers}"
        );
        assert_eq!(
            g.git(&[
                "log",
                "-1",
                "--format=%(trailers:key=Docket-Run,valueonly)",
                branch
            ]),
            run_id(&record)
        );
    } else {
        assert_eq!(g.docket_branches(), Vec::<String>::new(), "{run}");
    }
}

/// A push that fails after the branch was created: the run must still be on the
/// record, saying what happened, not only leave a branch behind.
#[test]
fn a_failed_push_is_still_on_the_record() {
    let g = Governed::new(
        &[],
        &[("pushed", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    let run = g.run("pushed", &["--push", "nowhere"]);
    assert_ne!(run.code, 0, "{run}");
    assert!(run.all().contains("nowhere"), "{run}");
    let runs = g.runs();
    assert_eq!(
        runs.len(),
        1,
        "no run record, but branches {:?} exist",
        g.docket_branches()
    );
    let record = &runs[0];
    assert_ne!(record["output"]["pushed_to"], "nowhere");
    assert!(
        reasons(record).iter().any(|r| r.contains("nowhere")),
        "{record:#}"
    );
    for branch in g.docket_branches() {
        assert_eq!(record["output"]["branch"], branch.as_str());
    }
    g.verify_ledger();
}
