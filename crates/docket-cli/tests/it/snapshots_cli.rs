//! Snapshots of what a user reads first: the help texts and the shape of a failed
//! verification. A change to any of them shows up as a reviewed snapshot diff.

use crate::support::Env;

fn snapshot_help(name: &str, args: &[&str]) {
    let env = Env::sqlite();
    let run = env.ok(args);
    insta::assert_snapshot!(name, run.stdout);
}

#[test]
fn help_texts() {
    let cases: [(&str, &[&str]); 5] = [
        ("help_top", &["--help"]),
        ("help_run", &["run", "--help"]),
        ("help_log_verify", &["log", "verify", "--help"]),
        ("help_log_append", &["log", "append", "--help"]),
        ("help_runs_list", &["runs", "list", "--help"]),
    ];
    for (name, args) in cases {
        snapshot_help(name, args);
    }
}

#[test]
fn a_failed_verification_reads_like_this() {
    let env = Env::sqlite();
    env.append("approval", r#"{"by":"alice"}"#);
    env.append("approval", r#"{"by":"bob"}"#);
    env.sql("DELETE FROM entries WHERE idx = 1");
    let run = env.run(&["log", "verify"]);
    assert_eq!(run.code, 1);
    // Origins, keys and roots are random per ledger: keep the lines that are not.
    let stable: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| {
            l.starts_with("entries") || l.starts_with("FAILED") || l.starts_with("checkpoints")
        })
        .collect();
    insta::assert_snapshot!(stable.join("\n"));
}
