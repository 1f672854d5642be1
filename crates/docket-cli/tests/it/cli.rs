//! The ledger through the command line: what a user types and what they see.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Env, backends, git, payloads};

#[test]
fn help_and_version() {
    let env = Env::sqlite();
    let help = env.ok(&["--help"]);
    for word in [
        "log",
        "key",
        "blob",
        "quickstart",
        "--home",
        "--format",
        "Exit codes",
    ] {
        assert!(help.stdout.contains(word), "--help lacks {word}:\n{help}");
    }
    let version = env.ok(&["--version"]);
    assert_eq!(
        version.stdout.trim(),
        format!("docket {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in [["log", "--help"], ["key", "--help"], ["blob", "--help"]] {
        env.ok(&sub);
    }
    let log_help = env.ok(&["log", "verify", "--help"]);
    assert!(log_help.stdout.contains("--checkpoint"), "{log_help}");
}

#[test]
fn append_list_show_round_trip_with_json() {
    for backend in backends("append_list_show_round_trip_with_json") {
        let env = Env::new(backend);
        let run = env.append(
            "approval",
            r#"{"approver":"alice@example.com","change":"PR 7"}"#,
        );
        assert!(
            run.stdout.starts_with("appended entry 1 (leaf hash "),
            "{run}"
        );
        let data = env.path("event.json");
        std::fs::write(&data, r#"{"source":"jira","event":"transition"}"#).unwrap();
        let run = env.ok(&[
            "log",
            "append",
            "--kind",
            "external.event",
            "--data",
            &format!("@{}", data.display()),
            "--format",
            "json",
        ]);
        let appended = run.json();
        assert_eq!(appended["index"], 2);
        assert_eq!(appended["leaf_hash"].as_str().unwrap().len(), 64);

        let list = env.ok(&["log", "list", "--format", "json"]).json();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["kind"], "ledger.genesis");
        assert_eq!(list[1]["payload"]["approver"], "alice@example.com");
        assert_eq!(list[2]["payload"]["source"], "jira");
        assert_eq!(list[2]["leaf_hash"], appended["leaf_hash"]);

        let only = env
            .ok(&["log", "list", "--kind", "approval", "--format", "json"])
            .json();
        assert_eq!(only.as_array().unwrap().len(), 1);
        let limited = env
            .ok(&["log", "list", "--limit", "2", "--format", "json"])
            .json();
        assert_eq!(limited.as_array().unwrap().len(), 2);
        let future = env
            .ok(&["log", "list", "--since", "2999-01-01", "--format", "json"])
            .json();
        assert!(future.as_array().unwrap().is_empty());
        let past = env.ok(&["log", "list", "--until", "2000-01-01"]);
        assert!(past.stderr.contains("no entries match"));
        let recent = env
            .ok(&["log", "list", "--since", "1h", "--format", "json"])
            .json();
        assert_eq!(recent.as_array().unwrap().len(), 3);

        let text = env.ok(&["log", "list"]);
        assert!(text.stdout.contains("approval"), "{text}");

        let show = env.ok(&["log", "show", "1"]);
        assert!(show.stdout.contains("alice@example.com"), "{show}");
        assert!(
            show.stdout
                .contains("inclusion proof against checkpoint of size 3"),
            "{show}"
        );
        let show = env.ok(&["log", "show", "2", "--format", "json"]).json();
        assert_eq!(show["inclusion"]["tree_size"], 3);
        assert_eq!(show["inclusion"]["index"], 2);
    }
}

#[test]
fn errors_name_the_cause_and_exit_2() {
    let env = Env::sqlite();
    env.append("x", "{}");
    let cases: [(&[&str], &str); 6] = [
        (
            &["log", "append", "--kind", "x", "--data", "{not json"],
            "--data is not valid JSON",
        ),
        (
            &["log", "append", "--kind", "Bad Kind", "--data", "{}"],
            "invalid entry kind `Bad Kind`",
        ),
        (
            &[
                "log",
                "append",
                "--kind",
                "x",
                "--data",
                r#"{"n":9007199254740993}"#,
            ],
            "cannot be encoded exactly",
        ),
        (
            &[
                "log",
                "append",
                "--kind",
                "x",
                "--data",
                "@/nonexistent/file.json",
            ],
            "cannot read /nonexistent/file.json",
        ),
        (
            &["log", "show", "99"],
            "entry 99 does not exist: the ledger has 2 entries",
        ),
        (
            &["log", "prove", "1", "--size", "50"],
            "tree size 50 is not available",
        ),
    ];
    for (args, message) in cases {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}:\n{run}");
        assert!(
            run.stderr.contains(message),
            "{args:?} should say `{message}`:\n{run}"
        );
    }
    let bad_time = env.run(&["log", "list", "--since", "yesterday"]);
    assert_eq!(bad_time.code, 2);
    assert!(
        bad_time.stderr.contains("`yesterday` is not a time"),
        "{bad_time}"
    );
    // Nothing was appended by the failures.
    assert_eq!(
        env.ok(&["log", "list", "--format", "json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_secret_is_never_recorded() {
    let env = Env::sqlite();
    env.append("x", "{}");
    // Built at run time so that this file holds no secret-looking literal.
    let token = format!("ghp_{}", "Zx9QwErTy7UiOp3AsDfGh5JkLzXcVbNm1Q2w");
    let run = env.run(&[
        "log",
        "append",
        "--kind",
        "x",
        "--data",
        &format!(r#"{{"note":"{token}"}}"#),
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("contains what looks like a secret (github-pat"),
        "{run}"
    );
    assert!(!run.all().contains(&token));
    let file = env.path("build.log");
    std::fs::write(&file, format!("token={token}\n")).unwrap();
    let run = env.run(&[
        "log",
        "append",
        "--kind",
        "x",
        "--data",
        "{}",
        "--attach",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("build.log contains what looks like a secret"),
        "{run}"
    );
    // Nothing was appended, and no blob was stored.
    assert_eq!(
        env.ok(&["log", "list", "--format", "json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(!env.home.join("blobs").exists());
}

#[test]
fn a_corrupt_database_file_is_named() {
    let env = Env::sqlite();
    std::fs::create_dir_all(&env.home).unwrap();
    let file = env.home.join("ledger.sqlite3");
    std::fs::write(&file, vec![0x42u8; 8192]).unwrap();
    let run = env.run(&["log", "list"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&file.display().to_string()), "{run}");
    assert!(run.stderr.contains("not a database"), "{run}");
    // The file was not replaced.
    assert_eq!(std::fs::read(&file).unwrap(), vec![0x42u8; 8192]);
}

#[test]
fn a_password_in_the_database_flag_is_refused() {
    let env = Env::sqlite();
    let run = env.run(&[
        "--database-url",
        "postgres://app:s3cret@127.0.0.1/db",
        "log",
        "list",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("DOCKET_DATABASE_URL"), "{run}");
    assert!(!run.all().contains("s3cret"), "{run}");
}

#[test]
fn the_signing_key_is_private_and_never_printed() {
    let env = Env::sqlite();
    let mut outputs = String::new();
    outputs += &env.append("x", "{}").all();
    outputs += &env.ok(&["key", "show"]).all();
    outputs += &env.ok(&["key", "show", "--format", "json"]).all();
    outputs += &env.ok(&["log", "checkpoint"]).all();
    outputs += &env.ok(&["log", "verify", "--format", "json"]).all();
    outputs += &env.ok(&["-vv", "log", "show", "0"]).all();
    let keys: Vec<_> = std::fs::read_dir(env.home.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1);
    let meta = std::fs::metadata(&keys[0]).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(env.home.join("keys"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let secret = std::fs::read_to_string(&keys[0]).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+"));
    // `PRIVATE+KEY+name+hash+key`: base64 may itself contain `+`, so split only four times.
    let encoded = secret.trim().splitn(5, '+').nth(4).unwrap();
    assert!(encoded.len() >= 44, "{encoded}");
    assert!(!outputs.contains("PRIVATE+KEY"));
    assert!(
        !outputs.contains(encoded),
        "the private key appeared in output"
    );
}

#[test]
fn proofs_check_offline_with_only_the_public_key() {
    for backend in backends("proofs_check_offline_with_only_the_public_key") {
        let env = Env::new(backend);
        env.append_lines("evidence", &payloads(40, "p"));
        env.append("late", r#"{"late":true}"#);
        let key = env.ok(&["key", "show"]).stdout.trim().to_owned();
        let keyfile = env.path("ledger.pub");
        std::fs::write(&keyfile, format!("{key}\n")).unwrap();
        let key_arg = format!("@{}", keyfile.display());

        let proof = env.path("proof.json");
        env.ok(&["log", "prove", "17", "--out", proof.to_str().unwrap()]);
        // Checking needs no DOCKET_HOME: run it from an empty environment.
        let stranger = Env::sqlite();
        let run = stranger.ok(&[
            "log",
            "check-proof",
            proof.to_str().unwrap(),
            "--key",
            &key_arg,
        ]);
        assert!(run.stdout.contains("OK: entry 17 is included"), "{run}");
        assert!(!stranger.home.exists(), "check-proof must not create state");

        // Any changed hash in the proof fails.
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
        doc["proof"][2] = serde_json::json!("00".repeat(32));
        let bad = env.path("bad.json");
        std::fs::write(&bad, doc.to_string()).unwrap();
        let run = stranger.run(&[
            "log",
            "check-proof",
            bad.to_str().unwrap(),
            "--key",
            &key_arg,
        ]);
        assert_eq!(run.code, 1, "{run}");
        assert!(run.stdout.contains("entry 17 is not included"), "{run}");

        // A proof checked against a different key fails.
        let other = docket_ledger::Signer::generate("someone.example/log")
            .unwrap()
            .verifier()
            .to_string();
        let run = stranger.run(&[
            "log",
            "check-proof",
            proof.to_str().unwrap(),
            "--key",
            &other,
        ]);
        assert_eq!(run.code, 1, "{run}");
        assert!(
            run.stdout.contains("not signed by any trusted key"),
            "{run}"
        );

        // Proofs against an older size, and a consistency proof between sizes.
        env.ok(&[
            "log",
            "prove",
            "3",
            "--size",
            "10",
            "--out",
            proof.to_str().unwrap(),
        ]);
        stranger.ok(&[
            "log",
            "check-proof",
            proof.to_str().unwrap(),
            "--key",
            &key_arg,
        ]);
        let cons = env.path("consistency.json");
        env.ok(&[
            "log",
            "consistency",
            "10",
            "42",
            "--out",
            cons.to_str().unwrap(),
        ]);
        let run = stranger.ok(&[
            "log",
            "check-proof",
            cons.to_str().unwrap(),
            "--key",
            &key_arg,
        ]);
        assert!(
            run.stdout
                .contains("tree size 10 is a prefix of tree size 42"),
            "{run}"
        );
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cons).unwrap()).unwrap();
        doc["proof"][0] = serde_json::json!("11".repeat(32));
        std::fs::write(&bad, doc.to_string()).unwrap();
        assert_eq!(
            stranger
                .run(&[
                    "log",
                    "check-proof",
                    bad.to_str().unwrap(),
                    "--key",
                    &key_arg
                ])
                .code,
            1
        );
    }
}

#[test]
fn checkpoints_published_to_a_git_ref_are_verified() {
    let env = Env::sqlite();
    let repo = env.path("audit-repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    env.append_lines("evidence", &payloads(5, "g"));
    env.ok(&["log", "checkpoint", "--git-ref", repo.to_str().unwrap()]);
    env.append_lines("evidence", &payloads(5, "h"));
    env.ok(&["log", "checkpoint", "--git-ref", repo.to_str().unwrap()]);
    let log = git(&repo, &["log", "--format=%s", "refs/docket/checkpoints"]);
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.lines().next().unwrap().ends_with("size 11"), "{log}");
    let run = env.ok(&["log", "verify", "--git-ref", repo.to_str().unwrap()]);
    assert!(run.stdout.contains("2 external"), "{run}");
    env.sql(
        "DELETE FROM entries WHERE idx >= 8; DELETE FROM checkpoints WHERE size > 8;
         DELETE FROM tree_nodes WHERE ((idx + 1) << level) > 8;",
    );
    let run = env.run(&["log", "verify", "--git-ref", repo.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("entries 8..10 are gone"), "{run}");
    let not_repo = env.run(&[
        "log",
        "checkpoint",
        "--git-ref",
        env.path("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(not_repo.code, 2);
    assert!(
        not_repo.stderr.contains("is not a git repository"),
        "{not_repo}"
    );
}

#[test]
fn key_rotation_is_recorded_and_verification_follows_the_chain() {
    for backend in backends("key_rotation") {
        let env = Env::new(backend);
        env.append_lines("evidence", &payloads(5, "before"));
        let old_key = env.ok(&["key", "show"]).stdout.trim().to_owned();
        let saved = env.path("before-rotation.note");
        env.ok(&["log", "checkpoint", "--out", saved.to_str().unwrap()]);

        let rotated = env.ok(&["key", "rotate", "--format", "json"]).json();
        assert_eq!(rotated["old_key"], old_key.as_str());
        let new_key = rotated["new_key"].as_str().unwrap().to_owned();
        assert_ne!(new_key, old_key);
        assert_eq!(env.ok(&["key", "show"]).stdout.trim(), new_key);
        // The old private key is gone; only the new one remains.
        assert_eq!(std::fs::read_dir(env.home.join("keys")).unwrap().count(), 1);

        env.append_lines("evidence", &payloads(5, "after"));
        let run = env.ok(&[
            "log",
            "verify",
            "--checkpoint",
            saved.to_str().unwrap(),
            "--key",
            &old_key,
        ]);
        assert!(
            run.stdout
                .contains(&format!("key        {old_key} (checkpoints from size 1)")),
            "{run}"
        );
        assert!(
            run.stdout
                .contains(&format!("key        {new_key} (checkpoints from size 7)")),
            "{run}"
        );
        let chain = env.ok(&["key", "show", "--format", "json"]).json();
        assert_eq!(chain["chain"].as_array().unwrap().len(), 2);

        // New checkpoints are signed by the new key only.
        let cp = env.ok(&["log", "checkpoint"]).stdout;
        let proof = env.path("p.json");
        env.ok(&["log", "prove", "9", "--out", proof.to_str().unwrap()]);
        env.ok(&[
            "log",
            "check-proof",
            proof.to_str().unwrap(),
            "--key",
            &new_key,
        ]);
        assert_eq!(
            env.run(&[
                "log",
                "check-proof",
                proof.to_str().unwrap(),
                "--key",
                &old_key
            ])
            .code,
            1
        );
        assert!(cp.contains("\u{2014} docket.ledger/"), "{cp}");

        // A forged rotation entry (signed by a key outside the chain) is caught.
        let unknown = docket_ledger::Signer::generate("attacker.example/x")
            .unwrap()
            .verifier()
            .to_string();
        let run = env.run(&["log", "verify", "--key", &unknown]);
        assert_eq!(run.code, 1, "{run}");
        assert!(
            run.stdout.contains("none of the keys given with --key"),
            "{run}"
        );
    }
}

#[test]
fn a_home_without_the_ledgers_key_is_refused() {
    let env = Env::sqlite();
    env.append("x", "{}");
    for key in std::fs::read_dir(env.home.join("keys")).unwrap() {
        std::fs::remove_file(key.unwrap().path()).unwrap();
    }
    let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("which is not among the keys in"),
        "{run}"
    );
}

#[test]
fn quickstart_publishes_one_ticket_blocks_another_and_verifies() {
    let env = Env::sqlite();
    let dir = env.path("tour");
    let run = env.ok(&["quickstart", dir.to_str().unwrap()]);
    for expected in [
        "eligible  NOTES-1",
        "outcome    published",
        "Docket-Run: ",
        "Docket-Ticket: NOTES-1",
        "Requested-by: alice@example.com",
        "rule       forbidden-paths  fail .github/workflows/ci.yml",
        "outcome    blocked",
        "check      idempotency (required): pass",
        "check      reproducibility (required): pass",
        "OK: every entry, tree node and checkpoint verifies",
        "OK: entry 1 is included",
    ] {
        assert!(
            run.stdout.contains(expected),
            "quickstart lacks `{expected}`:\n{run}"
        );
    }
    // The published branch exists in the demo repository; the blocked one does not.
    let branches = git(&dir.join("repo"), &["branch", "--list", "docket/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    assert!(branches.contains("docket/NOTES-1-"), "{branches}");
    let again = env.run(&["quickstart", dir.to_str().unwrap()]);
    assert_eq!(
        again.code, 2,
        "quickstart must refuse a non-empty directory"
    );
}
