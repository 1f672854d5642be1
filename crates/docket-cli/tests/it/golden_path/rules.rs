//! The built-in rules that block a run: a forbidden path, a secret (which then
//! appears nowhere), a symlink escaping the checkout.

use std::path::Path;

use serde_json::{Value, json};

use crate::governed::*;
use crate::support::line_value;

use super::{files_under, reasons, rule, status};

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
