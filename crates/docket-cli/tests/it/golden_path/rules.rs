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

/// Replaces the governed repository's agent with `script` (committed, so the run's
/// checkout has it).
fn use_agent(g: &Governed, script: &str) {
    write_executable(&g.repo.join(".docket/agent.sh"), script);
    g.git(&["add", "-A"]);
    g.git(&["commit", "-q", "-m", "another agent"]);
}

/// Links that each look harmless alone but resolve outside through another link.
const CHAIN_AGENT: &str = r#"#!/bin/sh
set -eu
case "$(sed -n 's/^mode: *//p' "$DOCKET_TICKET_FILE")" in
  chain) mkdir -p x/y; ln -s .. x/y/d; ln -s x/y/d/../../etc/passwd top ;;
  through-base) ln -s y/z/up/../../outside top ;;
  loop) ln -s b a; ln -s a b ;;
  inner) mkdir -p sub/deeper; touch sub/deeper/keep; ln -s sub/deeper docs; ln -s docs/../../README.md readme ;;
esac
"#;

#[test]
fn a_symlink_chain_that_leaves_the_repository_blocks_the_run() {
    let g = Governed::new(
        &[],
        &[
            ("chain", "mode: chain\n"),
            ("through-base", "mode: through-base\n"),
            ("loop", "mode: loop\n"),
            ("inner", "mode: inner\n"),
        ],
    );
    // A link already on the base branch, inside the repository by itself.
    std::fs::create_dir_all(g.repo.join("y/z")).unwrap();
    std::os::unix::fs::symlink("..", g.repo.join("y/z/up")).unwrap();
    use_agent(&g, CHAIN_AGENT);

    for (ticket, expected) in [
        (
            "chain",
            "top -> x/y/d/../../etc/passwd leaves the repository (through x/y/d -> ..)",
        ),
        (
            "through-base",
            "top -> y/z/up/../../outside leaves the repository (through y/z/up -> ..)",
        ),
        (
            "loop",
            "a -> b does not resolve: a loop or more than 40 links; \
             b -> a does not resolve: a loop or more than 40 links",
        ),
    ] {
        let (run, record) = g.run_json(ticket);
        assert_eq!(run.code, 1, "{ticket}: {run}");
        assert_eq!(status(&record), "blocked", "{ticket}: {record:#}");
        assert_eq!(
            rule(&record, "symlinks"),
            &json!({"rule": "symlinks", "outcome": "fail", "detail": expected}),
            "{ticket}"
        );
        assert_eq!(reasons(&record), [format!("symlinks: {expected}")]);
    }
    assert_eq!(g.docket_branches(), Vec::<String>::new());

    // A chain that stays inside is published, though its text alone climbs out.
    let (run, record) = g.run_json("inner");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(rule(&record, "symlinks")["outcome"], "pass", "{record:#}");
    assert_eq!(g.published_file(&record, "readme"), "docs/../../README.md");
}

/// Writes an AWS key pair into a file git calls binary (a NUL byte at the end).
const BINARY_SECRET_AGENT: &str = r#"#!/bin/sh
set -eu
key=$(printf 'AKIA%s' QWERTYUIOPASDFGH)
secret=$(printf '%s%s' kT9vQ2mX7bR4nW8pL3cZ y6hJ1dF5gS0aE2uV9oBq)
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n\000' "$key" "$secret" > creds.dat
"#;

#[test]
fn a_secret_in_a_binary_file_blocks_the_run() {
    let g = Governed::new(&[], &[("leak", "mode: leak\n")]);
    use_agent(&g, BINARY_SECRET_AGENT);
    let (run, record) = g.run_json("leak");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked", "{record:#}");
    assert_eq!(record["diff"]["files"][0]["binary"], true, "{record:#}");
    let secrets = rule(&record, "secrets");
    assert_eq!(secrets["outcome"], "fail", "{record:#}");
    let detail = secrets["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("aws-access-token in creds.dat (binary, fingerprint "),
        "{detail}"
    );
    assert!(
        detail.contains("; aws-secret-access-key in creds.dat (binary, fingerprint "),
        "{detail}"
    );
    assert!(!run.all().contains(&aws_key()), "{run}");
    assert_eq!(g.docket_branches(), Vec::<String>::new());
}

#[test]
fn a_binary_file_too_large_to_scan_blocks_the_run() {
    let g = Governed::new(
        &[("rules", "max_scan_bytes", "64")],
        &[("leak", "mode: leak\n")],
    );
    use_agent(&g, BINARY_SECRET_AGENT);
    let (run, record) = g.run_json("leak");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "blocked", "{record:#}");
    let expected =
        "creds.dat is 103 bytes, more than max_scan_bytes (64), so it could not be scanned";
    assert_eq!(
        rule(&record, "secrets"),
        &json!({"rule": "secrets", "outcome": "fail", "detail": expected})
    );
    assert_eq!(reasons(&record), [format!("secrets: {expected}")]);
    assert_eq!(g.docket_branches(), Vec::<String>::new());
}
