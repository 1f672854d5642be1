//! The golden path end to end: `docket run` takes tickets through real git
//! repositories with a shell agent, and each test checks what a user can see
//! afterwards — the exit code, branches and commit trailers, the run record, ledger
//! entries, the files under DOCKET_HOME, and a working tree nobody touched.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::governed::*;
use crate::support::{Backend, Env, Run, assert_matches_schema, backends, git, line_value};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn status(record: &Value) -> &str {
    record["outcome"]["status"].as_str().unwrap()
}

fn reasons(record: &Value) -> Vec<String> {
    record["outcome"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn rule<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {:#}", record["rules"]))
}

fn check<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#}", record["checks"]))
}

fn run_id(record: &Value) -> String {
    record["run_id"].as_str().unwrap().to_owned()
}

/// Every file under `dir` (recursively, not following symlinks), with its bytes.
fn files_under(dir: &Path, skip: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if skip.iter().any(|s| relative == Path::new(s)) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, skip, out);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(relative, target.into_os_string().into_encoded_bytes());
            } else {
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// What the user sees of their repository: status, HEAD, current branch, index,
/// stashes, worktrees and every file's bytes outside `.git`.
fn user_view(repo: &Path) -> BTreeMap<String, String> {
    let mut view = BTreeMap::new();
    for (name, args) in [
        (
            "status",
            &["status", "--porcelain=v2", "--untracked-files=all"][..],
        ),
        ("head", &["rev-parse", "HEAD"][..]),
        ("current branch", &["symbolic-ref", "HEAD"][..]),
        ("index", &["ls-files", "--stage"][..]),
        ("staged diff", &["diff", "--cached"][..]),
        ("stashes", &["stash", "list"][..]),
        ("worktrees", &["worktree", "list", "--porcelain"][..]),
        ("main", &["rev-parse", "refs/heads/main"][..]),
    ] {
        view.insert(name.to_owned(), git(repo, args));
    }
    for (path, bytes) in files_under(repo, &[".git"]) {
        view.insert(
            format!("file {}", path.display()),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
    }
    view
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
fn process_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
        }
        Err(_) => false,
    }
}

/// Waits until the agent has written `path` (it is the signal the test waits for),
/// failing early with docket's output if docket exits first.
fn wait_for_file(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        if let Some(exit) = child.try_wait().unwrap() {
            let mut output = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            panic!(
                "docket exited ({exit}) before the agent wrote {}:\n{output}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the agent never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().unwrap())
}

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
fn the_users_working_tree_index_and_branch_are_untouched() {
    let g = Governed::new(
        &[],
        &[(
            "add-greeting",
            &task("idempotent", "notes/hello.txt", "hello from docket"),
        )],
    );
    // Work in progress of every kind: a staged change, an unstaged one on top of it,
    // an unstaged change to another file, and untracked files.
    std::fs::write(g.repo.join("README.md"), "# demo\n\nstaged\n").unwrap();
    g.git(&["add", "README.md"]);
    std::fs::write(g.repo.join("README.md"), "# demo\n\nstaged\nand more\n").unwrap();
    std::fs::write(g.repo.join(".docket/check.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::create_dir_all(g.repo.join("scratch")).unwrap();
    std::fs::write(g.repo.join("scratch/untracked.txt"), "mine\n").unwrap();
    std::fs::write(g.repo.join("notes.txt"), "not for the agent\n").unwrap();
    let before = user_view(&g.repo);
    assert!(
        before["status"].contains("scratch/untracked.txt"),
        "{before:?}"
    );

    // No --as: the initiator is the repository's user.email.
    let run = g.env.run(&[
        "run",
        "--repo",
        g.repo_arg(),
        "--ticket",
        "add-greeting",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let record = run.json();
    assert_eq!(record["initiator"], USER_EMAIL);

    assert_eq!(user_view(&g.repo), before);
    // The change starts from the base commit, not from the working tree.
    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        g.git(&["diff", "--name-only", "main", branch]),
        "notes/hello.txt"
    );
    assert_eq!(g.git(&["show", &format!("{branch}:README.md")]), "# demo");
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn a_forbidden_path_blocks_the_run() {
    let g = Governed::new(
        &[],
        &[
            (
                "touch-ci",
                &task("idempotent", ".github/workflows/ci.yml", "on: push"),
            ),
            (
                "loosen-config",
                &task("idempotent", "docket.toml", "# relaxed"),
            ),
        ],
    );
    let run = g.run("touch-ci", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("\noutcome    blocked\n"), "{run}");
    assert!(
        run.stdout.contains(
            "  reason   forbidden-paths: .github/workflows/ci.yml (matches .github/workflows/**)"
        ),
        "{run}"
    );
    let record = g.show(line_value(&run.stdout, "run"));
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["forbidden-paths: .github/workflows/ci.yml (matches .github/workflows/**)"]
    );
    assert_eq!(rule(&record, "forbidden-paths")["outcome"], "fail");
    assert_eq!(record["output"], Value::Null);

    // An agent cannot edit the configuration that judges it either.
    let (run, record) = g.run_json("loosen-config");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        reasons(&record),
        ["forbidden-paths: docket.toml (matches docket.toml)"]
    );

    assert_eq!(g.docket_branches(), Vec::<String>::new());
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
    g.verify_ledger();
}

#[test]
fn a_secret_blocks_the_run_and_appears_nowhere() {
    let g = Governed::new(&[], &[("leak", &task("secret", "leak.env", ""))]);
    let secret = aws_key();
    let run = g.run("leak", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    let record = g.show(&id);
    assert_eq!(status(&record), "blocked");
    let why = reasons(&record);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with("secrets: aws-access-token in leak.env line 1 (fingerprint "),
        "{why:?}"
    );
    assert_eq!(rule(&record, "secrets")["outcome"], "fail");
    assert_eq!(g.docket_branches(), Vec::<String>::new());

    // Evidence keeps what happened, redacted: the patch and the agent's output.
    let patch = g.blob(record["diff"]["patch_blob"].as_str().unwrap());
    let patch = String::from_utf8(patch).unwrap();
    assert!(
        patch.contains("+aws_access_key_id = [REDACTED:aws-access-token]"),
        "{patch}"
    );
    let agent_stdout = g.blob(record["attempts"][0]["stdout_digest"].as_str().unwrap());
    assert_eq!(
        String::from_utf8(agent_stdout).unwrap(),
        "agent: secret leak.env\nwrote [REDACTED:aws-access-token]\n"
    );

    // Not in anything docket printed…
    let json_run = g.run_json("leak").0;
    assert_eq!(json_run.code, 1, "{json_run}");
    let outputs = [
        ("run", run),
        ("run --format json", json_run),
        ("runs show", g.env.ok(&["runs", "show", &id])),
        (
            "runs show --format json",
            g.env.ok(&["runs", "show", &id, "--format", "json"]),
        ),
        (
            "runs list --format json",
            g.env.ok(&["runs", "list", "--format", "json"]),
        ),
        ("log list", g.env.ok(&["log", "list"])),
        (
            "log list --format json",
            g.env.ok(&["log", "list", "--format", "json"]),
        ),
    ];
    for (what, output) in &outputs {
        assert!(
            !output.all().contains(&secret),
            "`docket {what}` shows the secret:\n{output}"
        );
    }
    // …nor in any file under DOCKET_HOME: blobs, the database and its WAL, keys.
    let files = files_under(&g.env.home, &[]);
    assert!(
        files.keys().any(|p| p.starts_with("blobs")),
        "no blobs in {files:?}"
    );
    assert!(
        files.contains_key(Path::new("ledger.sqlite3")),
        "{:?}",
        files.keys()
    );
    let needle = secret.as_bytes();
    for (path, bytes) in &files {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "DOCKET_HOME/{} contains the secret",
            path.display()
        );
    }
    let redacted = b"[REDACTED:aws-access-token]";
    assert!(
        files
            .values()
            .any(|bytes| bytes.windows(redacted.len()).any(|w| w == redacted)),
        "the walk read no redacted evidence"
    );
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn an_escaping_symlink_blocks_the_run() {
    let g = Governed::new(
        &[],
        &[
            ("abs-link", &task("symlink", "passwd-link", "/etc/passwd")),
            ("rel-link", &task("symlink", "docs/up", "../../outside")),
            (
                "inner-link",
                &task("symlink", "docs/readme", "../README.md"),
            ),
        ],
    );
    for (ticket, expected) in [
        (
            "abs-link",
            "passwd-link -> /etc/passwd leaves the repository",
        ),
        ("rel-link", "docs/up -> ../../outside leaves the repository"),
    ] {
        let (run, record) = g.run_json(ticket);
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(status(&record), "blocked", "{record:#}");
        assert_eq!(
            rule(&record, "symlinks"),
            &json!({"rule": "symlinks", "outcome": "fail", "detail": expected})
        );
        assert_eq!(reasons(&record), [format!("symlinks: {expected}")]);
        assert_eq!(record["diff"]["files"][0]["new_mode"], "120000");
    }
    assert_eq!(g.docket_branches(), Vec::<String>::new());

    // A link that stays inside is fine.
    let (run, record) = g.run_json("inner-link");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(rule(&record, "symlinks")["outcome"], "pass");
    assert_eq!(g.docket_branches().len(), 1);
}

#[test]
fn required_validation_failure_blocks_and_advisory_failure_publishes() {
    let tickets = [("say-bad", task("idempotent", "notes/status.txt", "BAD"))];
    let tickets: Vec<(&str, &str)> = tickets.iter().map(|(i, b)| (*i, b.as_str())).collect();
    let required = Governed::new(
        &[
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &tickets,
    );
    let (run, record) = required.run_json("say-bad");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["validation failed: `.docket/check.sh` exited with 1"]
    );
    assert_eq!(record["validation_mode"], "required");
    assert_eq!(record["validation"].as_array().unwrap().len(), 1);
    assert_eq!(record["validation"][0]["exit_code"], 1);
    let output = required.blob(record["validation"][0]["output_digest"].as_str().unwrap());
    assert!(
        String::from_utf8(output)
            .unwrap()
            .starts_with("check: found a BAD line\n"),
        "the validation output is evidence"
    );
    assert_eq!(required.docket_branches(), Vec::<String>::new());

    let advisory = Governed::new(
        &[
            ("validation", "mode", "\"advisory\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &tickets,
    );
    let (run, record) = advisory.run_json("say-bad");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(record["validation_mode"], "advisory");
    let validation = record["validation"].as_array().unwrap();
    assert_eq!(validation.len(), 1, "{record:#}");
    assert_eq!(
        (
            &validation[0]["phase"],
            &validation[0]["attempt"],
            &validation[0]["argv"],
            &validation[0]["exit_code"],
            &validation[0]["timed_out"]
        ),
        (
            &json!("validate"),
            &json!(1),
            &json!([".docket/check.sh"]),
            &json!(1),
            &json!(false)
        )
    );
    let shown = advisory.show(&run_id(&record));
    let validation_entries: Vec<&Value> = shown["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "run.validation")
        .collect();
    assert_eq!(validation_entries.len(), 1, "{shown:#}");
    assert_eq!(validation_entries[0]["payload"]["passed"], false);
    assert_eq!(validation_entries[0]["payload"]["mode"], "advisory");
    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        advisory.git(&["show", &format!("{branch}:notes/status.txt")]),
        "BAD"
    );
}

#[test]
fn repair_loop_fixes_a_failed_validation_on_the_second_attempt() {
    let marker = tempfile::tempdir().unwrap();
    let report_copy = marker.path().join("report.json");
    let body = format!(
        "{}marker: {}\n",
        task("repair", "notes/status.txt", "fixed"),
        report_copy.display()
    );
    let g = Governed::new(
        &[
            ("agent", "repair", "true"),
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
            ("validation", "repair_attempts", "2"),
        ],
        &[("needs-repair", &body)],
    );
    let (run, record) = g.run_json("needs-repair");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    let id = run_id(&record);

    let attempts: Vec<(Value, Value, Value)> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["purpose"].clone(),
                a["attempt"].clone(),
                a["exit_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (json!("initial"), json!(1), json!(0)),
            (json!("repair"), json!(2), json!(0))
        ]
    );
    let validation: Vec<(Value, Value)> = record["validation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["attempt"].clone(), v["exit_code"].clone()))
        .collect();
    assert_eq!(validation, [(json!(1), json!(1)), (json!(2), json!(0))]);

    // The agent was handed a JSON report of what failed.
    let report: Value = serde_json::from_slice(&std::fs::read(&report_copy).unwrap()).unwrap();
    assert_eq!(report["run_id"], id.as_str());
    assert_eq!(report["attempt"], 1);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    assert_eq!(failures[0]["argv"], json!([".docket/check.sh"]));
    assert_eq!(failures[0]["exit_code"], 1);
    assert_eq!(failures[0]["stdout_tail"], "check: found a BAD line\n");

    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        g.git(&["show", &format!("{branch}:notes/status.txt")]),
        "fixed"
    );
    let kinds: Vec<String> = g.show(&id)["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
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
            "run.validation",
            "run.agent",
            "run.diff",
            "run.rules",
            "run.validation",
            "policy.decision",
            "run.attestation",
            "run.published"
        ]
    );
    g.verify_ledger();
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn idempotency_and_reproducibility_checks_catch_unstable_agents() {
    let g = Governed::new(
        &[
            ("checks", "idempotency", "\"required\""),
            ("checks", "reproducibility", "\"required\""),
        ],
        &[
            ("appends", &task("append", "notes/log.txt", "one more")),
            ("random", &task("random", "notes/seed.txt", "")),
            ("stable", &task("idempotent", "notes/hello.txt", "hello")),
        ],
    );

    let (run, record) = g.run_json("appends");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(check(&record, "reproducibility")["outcome"], "pass");
    assert_eq!(check(&record, "idempotency")["outcome"], "fail");
    assert_eq!(check(&record, "idempotency")["mode"], "required");
    let why = reasons(&record);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with(
            "idempotency check failed: re-running the agent on its own result changed it again"
        ),
        "{why:?}"
    );

    let (run, record) = g.run_json("random");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    assert_eq!(check(&record, "reproducibility")["outcome"], "fail");
    let why = reasons(&record);
    assert!(
        why.iter().any(|r| r.starts_with(
            "reproducibility check failed: re-running the agent from the base produced diff "
        )),
        "{why:?}"
    );

    let (run, record) = g.run_json("stable");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(check(&record, "reproducibility")["outcome"], "pass");
    assert_eq!(check(&record, "idempotency")["outcome"], "pass");
    let purposes: Vec<&Value> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["purpose"])
        .collect();
    assert_eq!(
        purposes,
        [
            &json!("initial"),
            &json!("reproducibility"),
            &json!("idempotency")
        ]
    );

    assert_eq!(g.docket_branches().len(), 1);
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
    g.verify_ledger();
}

#[test]
fn an_agent_that_times_out_is_killed_with_its_process_group() {
    let pids = tempfile::tempdir().unwrap();
    let pid_file = pids.path().join("sleep.pid");
    let body = format!(
        "{}marker: {}\n",
        task("sleep", "notes/never.txt", ""),
        pid_file.display()
    );
    let g = Governed::new(&[("agent", "timeout", "\"1s\"")], &[("slow", &body)]);
    let (run, record) = g.run_json("slow");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "failed");
    assert_eq!(
        reasons(&record),
        ["agent timed out after 1 s; its process group was killed"]
    );
    assert_eq!(record["attempts"][0]["timed_out"], true);
    assert_eq!(record["diff"], Value::Null);

    // The agent's background `sleep 30` died with it.
    let sleep_pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !process_alive(sleep_pid.trim()),
        "the agent's child {sleep_pid} still runs"
    );
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
    assert_eq!(g.docket_branches(), Vec::<String>::new());
    g.verify_ledger();
}

#[test]
fn sigint_and_sigterm_cancel_the_run_and_clean_up() {
    let pids = tempfile::tempdir().unwrap();
    let signals = ["INT", "TERM"];
    let bodies: Vec<(String, String)> = signals
        .iter()
        .map(|signal| {
            let body = format!(
                "{}marker: {}\n",
                task("sleep", "notes/never.txt", ""),
                pids.path().join(format!("{signal}.pid")).display()
            );
            (format!("stop-{}", signal.to_lowercase()), body)
        })
        .collect();
    let tickets: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(id, body)| (id.as_str(), body.as_str()))
        .collect();
    let g = Governed::new(&[], &tickets);
    let before = user_view(&g.repo);

    for (signal, (ticket, _)) in signals.iter().zip(&bodies) {
        let mut child = g.spawn(ticket);
        let sleep_pid = wait_for_file(&pids.path().join(format!("{signal}.pid")), &mut child);
        assert!(
            process_alive(&sleep_pid),
            "SIG{signal}: the agent is not running"
        );
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let run = finish(child);
        assert_eq!(run.code, 1, "SIG{signal}: {run}");
        assert!(
            run.stdout.contains("\noutcome    cancelled\n"),
            "SIG{signal}: {run}"
        );
        assert!(
            !process_alive(&sleep_pid),
            "SIG{signal}: the agent's child {sleep_pid} still runs"
        );
        assert_eq!(g.leftover_worktrees(), Vec::<String>::new(), "SIG{signal}");
    }

    let runs = g.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (record, (ticket, _)) in runs.iter().zip(&bodies) {
        assert_eq!(record["ticket"]["id"], ticket.as_str());
        assert_eq!(
            record["outcome"],
            json!({"status": "cancelled", "reasons": ["cancelled by signal"]})
        );
        assert_eq!(record["attempts"][0]["timed_out"], false);
        assert_eq!(record["diff"], Value::Null);
    }
    assert_eq!(g.docket_branches(), Vec::<String>::new());
    assert_eq!(user_view(&g.repo), before);
    g.verify_ledger();
}

#[test]
fn two_runs_of_one_repository_at_once_both_publish() {
    let g = Governed::new(
        &[],
        &[
            ("first", &task("idempotent", "notes/first.txt", "one")),
            ("second", &task("idempotent", "notes/second.txt", "two")),
        ],
    );
    let children = [g.spawn("first"), g.spawn("second")];
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    for run in &runs {
        assert_eq!(run.code, 0, "{run}");
    }
    let mut branches = g.docket_branches();
    branches.sort();
    assert_eq!(branches.len(), 2, "{branches:?}");
    assert!(branches[0].starts_with("docket/first-"), "{branches:?}");
    assert!(branches[1].starts_with("docket/second-"), "{branches:?}");
    assert_eq!(
        g.git(&["diff", "--name-only", "main", &branches[0]]),
        "notes/first.txt"
    );
    assert_eq!(
        g.git(&["diff", "--name-only", "main", &branches[1]]),
        "notes/second.txt"
    );
    let records = g.runs();
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| status(r) == "published"),
        "{records:?}"
    );
    assert_ne!(records[0]["run_id"], records[1]["run_id"]);
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
fn configuration_errors_exit_2_and_only_committed_configuration_governs() {
    // An unknown key, committed: exit 2 naming the key and its line.
    let g = Governed::new(&[], &[("t", &task("idempotent", "notes/t.txt", "t"))]);
    let good = std::fs::read_to_string(g.repo.join("docket.toml")).unwrap();
    let typo = good.replace("max_files = 50\n", "max_file = 50\n");
    let line = typo.lines().position(|l| l == "max_file = 50").unwrap() + 1;
    std::fs::write(g.repo.join("docket.toml"), &typo).unwrap();
    g.git(&["commit", "-q", "-am", "typo"]);
    let run = g.run("t", &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("docket.toml")
            && run.stderr.contains(&format!(
                ":{line}:1: rules.max_file: unknown field `max_file`"
            )),
        "{run}"
    );
    // Fixing only the working copy does not help: the committed file rules.
    std::fs::write(g.repo.join("docket.toml"), &good).unwrap();
    let run = g.run("t", &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(&format!(
            "docket.toml@HEAD:{line}:1: rules.max_file: unknown field `max_file`"
        )),
        "{run}"
    );
    assert_eq!(g.runs(), Vec::<Value>::new());

    // `docket init` refuses to overwrite.
    let again = g.env.run(&["init", "--repo", g.repo_arg()]);
    assert_eq!(again.code, 2, "{again}");
    assert!(
        again.stderr.contains("docket.toml already exists"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(g.repo.join("docket.toml")).unwrap(),
        good
    );

    // No docket.toml at all, or one that is not committed.
    let bare = g.env.path("ungoverned");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "-b", "main"]);
    git(&bare, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let run = g.env.run(&[
        "run",
        "--repo",
        bare.to_str().unwrap(),
        "--ticket",
        "t",
        "--as",
        INITIATOR,
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("no docket.toml in")
            && run.stderr.contains("run `docket init` there and commit it"),
        "{run}"
    );
    g.env.ok(&["init", "--repo", bare.to_str().unwrap()]);
    let run = g.env.run(&[
        "run",
        "--repo",
        bare.to_str().unwrap(),
        "--ticket",
        "t",
        "--as",
        INITIATOR,
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("docket.toml in")
            && run.stderr.contains("is not committed; commit it first"),
        "{run}"
    );

    // A loosened but uncommitted configuration does not govern.
    let strict = Governed::new(
        &[("rules", "forbidden_paths", "[\"vault/**\"]")],
        &[("into-vault", &task("idempotent", "vault/key.txt", "k"))],
    );
    let loosened = set_key(
        &std::fs::read_to_string(strict.repo.join("docket.toml")).unwrap(),
        "rules",
        "forbidden_paths",
        "[]",
    );
    std::fs::write(strict.repo.join("docket.toml"), loosened).unwrap();
    let (run, record) = strict.run_json("into-vault");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        reasons(&record),
        ["forbidden-paths: vault/key.txt (matches vault/**)"]
    );
    assert_eq!(strict.docket_branches(), Vec::<String>::new());
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

#[test]
fn keep_worktree_leaves_the_judged_change_for_inspection() {
    let g = Governed::new(
        &[],
        &[("kept", &task("idempotent", "notes/hello.txt", "kept"))],
    );
    let run = g.run("kept", &["--keep-worktree"]);
    assert_eq!(run.code, 0, "{run}");
    let kept = PathBuf::from(line_value(&run.stdout, "worktree kept"));
    let id = line_value(&run.stdout, "run");
    assert_eq!(
        kept,
        std::fs::canonicalize(g.env.home.join("worktrees").join(id)).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(kept.join("notes/hello.txt")).unwrap(),
        "kept\n"
    );
    // The checkout is a separate repository: the directory stays, and nothing is
    // registered in the user's repository.
    assert_eq!(g.leftover_worktrees().len(), 1, "the directory stays");
}

// The tests below show product bugs found while writing this file; see the report.

/// An agent is untrusted, and it runs git in a worktree that shares refs and
/// configuration with the user's repository. Whatever it does with git must not reach
/// the user's branches, current branch or configuration.
#[test]
fn an_agents_git_commands_do_not_reach_the_users_repository() {
    let g = Governed::new(&[], &[("meddle", &task("git", "notes/agent.txt", "done"))]);
    let refs = |g: &Governed| {
        g.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .lines()
            // docket's own: the published branch and its attestation note.
            .filter(|l| {
                !l.starts_with("refs/heads/docket/") && !l.starts_with("refs/notes/docket ")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before_view = user_view(&g.repo);
    let before_refs = refs(&g);
    let before_config = g.git(&["config", "--local", "--list"]);

    let (run, record) = g.run_json("meddle");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(
        refs(&g),
        before_refs,
        "the agent's refs reached the user's repository"
    );
    assert_eq!(
        g.git(&["config", "--local", "--list"]),
        before_config,
        "the agent's git config reached the user's repository"
    );
    assert_eq!(user_view(&g.repo), before_view);
}

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

/// The base ref's committed docket.toml governs, "never the working tree": an
/// uncommitted edit that does not parse must not stop a run.
#[test]
fn a_broken_uncommitted_docket_toml_does_not_stop_runs() {
    let g = Governed::new(&[], &[("t", &task("idempotent", "notes/t.txt", "t"))]);
    let committed = std::fs::read_to_string(g.repo.join("docket.toml")).unwrap();
    std::fs::write(
        g.repo.join("docket.toml"),
        committed.replace("max_files = 50\n", "max_file = 50\n"),
    )
    .unwrap();
    let run = g.run("t", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("\noutcome    published\n"), "{run}");
}

/// Nor may an uncommitted `base_ref` pick which committed configuration governs: here
/// it points at a branch whose docket.toml drops a forbidden path.
#[test]
fn an_uncommitted_base_ref_does_not_pick_a_looser_configuration() {
    let g = Governed::new(
        &[("rules", "forbidden_paths", "[\"vault/**\"]")],
        &[("into-vault", &task("idempotent", "vault/key.txt", "k"))],
    );
    let strict = std::fs::read_to_string(g.repo.join("docket.toml")).unwrap();
    g.git(&["checkout", "-q", "-b", "loose"]);
    std::fs::write(
        g.repo.join("docket.toml"),
        set_key(&strict, "rules", "forbidden_paths", "[]"),
    )
    .unwrap();
    g.git(&["commit", "-q", "-am", "unreviewed: allow vault"]);
    g.git(&["checkout", "-q", "main"]);
    std::fs::write(
        g.repo.join("docket.toml"),
        set_key(&strict, "repository", "base_ref", "\"loose\""),
    )
    .unwrap();

    let run = g.run("into-vault", &[]);
    assert_ne!(run.code, 0, "{run}");
    assert_eq!(g.docket_branches(), Vec::<String>::new(), "{run}");
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

/// A repository policy (committed Rego) that forbids production Terraform, and
/// honours exceptions granted for its rule.
const PROD_POLICY: &str = r#"package docket.publish

deny contains msg if {
	some path in input.diff.paths
	glob.match("terraform/prod/**", ["/"], path)
	not prod_excepted
	msg := sprintf("prod-terraform: %s is production infrastructure", [path])
}

prod_excepted if {
	some e in input.exceptions
	e.rule == "prod-terraform"
	e.active
}
"#;

impl Governed {
    /// Commits a file into the governed repository.
    fn commit_file(&self, path: &str, text: &str) {
        let full = self.repo.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("add {path}")]);
    }

    /// The bundle digest `docket policy show` computes for the working tree's policies.
    fn bundle_digest(&self) -> String {
        let dir = self.repo.join(".docket/policies");
        let shown = self
            .env
            .ok(&[
                "policy",
                "show",
                "--policies",
                dir.to_str().unwrap(),
                "--format",
                "json",
            ])
            .json();
        shown["digest"].as_str().unwrap().to_owned()
    }
}

/// Checks an input document the engine stored against the documented JSON Schema
/// of its decision point (docs/policy/schemas).
fn assert_input_matches_schema(input: &Value) {
    let point = input["point"].as_str().unwrap();
    assert_matches_schema(
        &format!("docs/policy/schemas/{point}.v1.schema.json"),
        input,
    );
}

fn decisions(record: &Value) -> Vec<(String, String)> {
    record["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["point"].as_str().unwrap().to_owned(),
                d["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_repository_policy_blocks_prod_terraform_until_an_exception_lets_it_publish() {
    let g = Governed::new(
        &[],
        &[(
            "prod-change",
            &task("idempotent", "terraform/prod/main.tf", "# tuned"),
        )],
    );
    g.commit_file(".docket/policies/prod.rego", PROD_POLICY);
    let digest = g.bundle_digest();

    let run = g.run("prod-change", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    let record = g.show(&id);
    assert_eq!(status(&record), "blocked");
    assert_eq!(
        reasons(&record),
        ["prod-terraform: terraform/prod/main.tf is production infrastructure"]
    );
    // The decision, with the digest of exactly the bundle in force, is evidence.
    let publish = record["decisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(publish["point"], "publish");
    assert_eq!(publish["verdict"], "deny");
    assert_eq!(publish["bundle_digest"], digest.as_str());
    let entry = record["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "policy.decision")
        .unwrap()
        .clone();
    assert_eq!(
        entry["payload"]["decision"]["bundle_digest"],
        digest.as_str()
    );
    assert!(
        entry["payload"]["bundle"]["files"]
            .as_array()
            .unwrap()
            .contains(&json!(".docket/policies/prod.rego")),
        "{entry:#}"
    );
    // The exact input is stored; its digest is the one the decision cites.
    let input = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
    assert_eq!(
        sha256(&input),
        publish["input_digest"].as_str().unwrap(),
        "the stored input is the one decided on"
    );
    let input: Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(input["diff"]["paths"], json!(["terraform/prod/main.tf"]));
    // Every input the engine gave a policy is the documented, versioned document.
    for entry in g.entries_of_kind("policy.decision") {
        let stored = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
        assert_input_matches_schema(&serde_json::from_slice(&stored).unwrap());
    }
    assert!(run.stdout.contains("held       refs/docket/held/"), "{run}");
    assert_eq!(g.docket_branches(), Vec::<String>::new());

    // Nobody publishes by asking: not before an exception, not by granting their own.
    let early = g.env.run(&["publish", &id]);
    assert_eq!(early.code, 1, "{early}");
    let own = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "prod-terraform",
        "--as",
        INITIATOR,
        "--reason",
        "I need it",
    ]);
    assert_eq!(own.code, 1, "{own}");
    assert!(own.stdout.contains("segregation of duties"), "{own}");
    let unknown = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "max-files",
        "--as",
        "carol@example.com",
        "--reason",
        "x",
    ]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("prod-terraform"), "{unknown}");

    let granted = g.env.run(&[
        "exception",
        "grant",
        "--run",
        &id,
        "--rule",
        "prod-terraform",
        "--as",
        "carol@example.com",
        "--reason",
        "capacity change approved in CAB-12",
        "--expires",
        "24h",
    ]);
    assert_eq!(granted.code, 0, "{granted}");
    let published = g.env.run(&["publish", &id, "--format", "json"]);
    assert_eq!(published.code, 0, "{published}");
    let record = published.json();
    assert_eq!(status(&record), "published");
    let last = record["decisions"].as_array().unwrap().last().unwrap();
    assert_eq!(last["verdict"], "allow");
    assert_eq!(last["bundle_digest"], digest.as_str());
    let branch = record["output"]["branch"].as_str().unwrap().to_owned();
    assert_eq!(g.docket_branches(), std::slice::from_ref(&branch));
    assert_eq!(
        g.git(&["diff", "--name-status", "main", &branch]),
        "A\tterraform/prod/main.tf"
    );
    assert_eq!(g.git(&["for-each-ref", "refs/docket/held/"]), "");
    // `runs list` shows the run once, in its final state.
    let runs = g.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(status(&runs[0]), "published");
    // Publishing twice is refused: the run is no longer held.
    let again = g.env.run(&["publish", &id]);
    assert_eq!(again.code, 2, "{again}");
    let points: Vec<String> = g
        .entries_of_kind("policy.decision")
        .iter()
        .map(|entry| {
            let stored = g.blob(entry["payload"]["input_blob"].as_str().unwrap());
            let input: Value = serde_json::from_slice(&stored).unwrap();
            assert_input_matches_schema(&input);
            input["point"].as_str().unwrap().to_owned()
        })
        .collect();
    for point in ["intake", "run", "publish", "approve"] {
        assert!(points.iter().any(|p| p == point), "{points:?}");
    }
    g.verify_ledger();
}

#[test]
fn an_approval_is_needed_and_the_requester_and_initiator_cannot_give_it() {
    let g = Governed::new(
        &[("approvals", "required", "true")],
        &[("greet", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    let run = g.run("greet", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    assert!(
        run.stdout.contains("\noutcome    awaiting-approval\n"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("approval required: needs 1 approval(s) of this change, has 0"),
        "{run}"
    );

    for who in [INITIATOR, REQUESTER] {
        let refused = g.env.run(&["approve", &id, "--as", who]);
        assert_eq!(refused.code, 1, "{who}: {refused}");
        assert!(
            refused.stdout.contains("segregation of duties"),
            "{refused}"
        );
    }
    let still = g.env.run(&["publish", &id]);
    assert_eq!(still.code, 1, "{still}");
    assert!(still.stdout.contains("awaiting-approval"), "{still}");

    let ok = g.env.run(&[
        "approve",
        &id,
        "--as",
        "carol@example.com",
        "--reason",
        "looks right",
    ]);
    assert_eq!(ok.code, 0, "{ok}");
    let published = g.env.run(&["publish", &id]);
    assert_eq!(published.code, 0, "{published}");
    assert!(
        published.stdout.contains("\noutcome    published\n"),
        "{published}"
    );
    let record = g.show(&id);
    let points: Vec<(String, String)> = decisions(&record);
    assert_eq!(
        points
            .iter()
            .filter(|(p, _)| p == "publish")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>(),
        ["approval-required", "approval-required", "allow"]
    );
    // Every refused approval is on the record too.
    let approve_decisions: Vec<Value> = g
        .entries_of_kind("policy.decision")
        .into_iter()
        .filter(|e| e["payload"]["decision"]["point"] == "approve")
        .collect();
    assert_eq!(approve_decisions.len(), 3);
    assert_eq!(g.entries_of_kind("run.approval").len(), 1);
    g.verify_ledger();
}

#[test]
fn changing_one_byte_of_a_policy_changes_the_recorded_digest() {
    let g = Governed::new(
        &[],
        &[
            ("one", &task("idempotent", "notes/one.txt", "1")),
            ("two", &task("idempotent", "notes/two.txt", "2")),
        ],
    );
    g.commit_file(".docket/policies/prod.rego", PROD_POLICY);
    let first = g.run_json("one").1;
    g.commit_file(
        ".docket/policies/prod.rego",
        &PROD_POLICY.replace("production infrastructure", "production infrastructurE"),
    );
    let second = g.run_json("two").1;
    let digest = |r: &Value| {
        r["decisions"][0]["bundle_digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&first), "published");
    assert_eq!(status(&second), "published");
    assert_ne!(digest(&first), digest(&second));
    assert_eq!(digest(&second), g.bundle_digest());
    // Every decision of one run cites the same bundle.
    for d in second["decisions"].as_array().unwrap() {
        assert_eq!(d["bundle_digest"], digest(&second).as_str());
    }
}

#[test]
fn a_policy_that_does_not_parse_denies_with_the_file_named() {
    let g = Governed::new(&[], &[("greet", &task("idempotent", "notes/hi.txt", "hi"))]);
    g.commit_file(
        ".docket/policies/broken.rego",
        "package docket.run\n\ndeny contains msg if {\n",
    );
    let (run, record) = g.run_json("greet");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked");
    let why = reasons(&record).join("\n");
    assert!(why.contains(".docket/policies/broken.rego"), "{why}");
    // Fail closed at the first point: nothing ran.
    assert_eq!(record["attempts"], json!([]));
    assert_eq!(
        decisions(&record),
        [("intake".to_owned(), "deny".to_owned())]
    );
}

#[test]
fn a_ticket_over_its_attempt_budget_is_refused_at_the_run_point() {
    let g = Governed::new(
        &[("budgets", "ticket_attempts", "1")],
        &[("greet", &task("idempotent", "notes/hi.txt", "hi"))],
    );
    let (run, first) = g.run_json("greet");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&first), "published");
    let (run, second) = g.run_json("greet");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&second), "blocked");
    let why = reasons(&second).join("\n");
    assert!(why.contains("budget"), "{why}");
    assert!(why.contains("1 of 1"), "{why}");
    assert_eq!(second["attempts"], json!([]), "the agent never started");
    assert_eq!(
        decisions(&second),
        [
            ("intake".to_owned(), "allow".to_owned()),
            ("run".to_owned(), "deny".to_owned())
        ]
    );
}

#[test]
fn policy_test_runs_the_policies_own_tests() {
    let env = Env::sqlite();
    let dir = env.path("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prod.rego"), PROD_POLICY).unwrap();
    std::fs::write(
        dir.join("prod_test.rego"),
        r#"package docket.publish_test

test_prod_is_denied if {
	count(data.docket.publish.deny) > 0 with input as {"diff": {"paths": ["terraform/prod/a.tf"]}, "exceptions": []}
}

test_wrong_on_purpose if {
	count(data.docket.publish.deny) > 0 with input as {"diff": {"paths": ["docs/a.md"]}, "exceptions": []}
}
"#,
    )
    .unwrap();
    let run = env.run(&["policy", "test", dir.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("PASS docket.publish_test.test_prod_is_denied"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("FAIL docket.publish_test.test_wrong_on_purpose"),
        "{run}"
    );
    assert!(run.stdout.contains("1 passed, 1 failed"), "{run}");

    std::fs::write(
        dir.join("prod_test.rego"),
        "package docket.publish_test\n\ntest_prod_is_denied if {\n\tcount(data.docket.publish.deny) > 0 with input as {\"diff\": {\"paths\": [\"terraform/prod/a.tf\"]}, \"exceptions\": []}\n}\n",
    )
    .unwrap();
    let run = env.run(&["policy", "test", dir.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(run.code, 0, "{run}");

    // One decision from the command line, with its bundle digest.
    let input = env.path("input.json");
    std::fs::write(
        &input,
        r#"{"diff": {"paths": ["terraform/prod/x.tf"]}, "exceptions": []}"#,
    )
    .unwrap();
    let eval = env.run(&[
        "policy",
        "eval",
        "--point",
        "publish",
        "--input",
        input.to_str().unwrap(),
        "--policies",
        dir.to_str().unwrap(),
        "--no-builtin",
        "--format",
        "json",
    ]);
    assert_eq!(eval.code, 1, "{eval}");
    let decision = eval.json();
    assert_eq!(decision["verdict"], "deny");
    assert!(
        decision["bundle_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}
