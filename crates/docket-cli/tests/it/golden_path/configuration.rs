//! Configuration: errors exit 2, and only the committed docket.toml of the base ref
//! governs, never the working tree.

use serde_json::Value;

use crate::governed::*;
use crate::support::git;

use super::reasons;

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

// The tests below show product bugs found while writing the golden-path tests; see
// the report.

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
