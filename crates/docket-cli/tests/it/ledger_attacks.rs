//! Attacks on the ledger from issue 15, each performed through the real `docket`
//! binary against a real SQLite file (and PostgreSQL where the writer is concerned):
//! history forged without the key, auditors holding only a public key and a
//! read-only copy, read-only commands that must not create anything, and verify
//! reports that must name what they actually checked.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::support::{Env, Run, backends, git, runtime};

fn leaf_hash(bytes: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().to_vec()
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().to_vec()
}

fn sqlite_file(env: &Env) -> String {
    format!("sqlite://{}", env.home.join("ledger.sqlite3").display())
}

/// One integer from the SQLite ledger, read behind docket's back.
fn count(env: &Env, query: &str) -> i64 {
    let (url, query) = (sqlite_file(env), query.to_owned());
    runtime().block_on(async move {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// What an attacker with write access to the file and no key does: rewrite entry
/// `index`'s payload, recompute its leaf hash and every stored tree node, so that the
/// stored tree is self-consistent again.
fn forge_entry(env: &Env, index: u64, from: &str, to: &str) {
    let text =
        String::from_utf8(env.sql_bytes(&format!("SELECT entry FROM entries WHERE idx = {index}")))
            .unwrap();
    assert!(text.contains(from), "entry {index} has no `{from}`: {text}");
    let forged = text.replace(from, to).into_bytes();
    env.sql_set_bytes("entries", "leaf_hash", index, leaf_hash(&forged));
    env.sql_set_bytes("entries", "entry", index, forged);
    let url = sqlite_file(env);
    runtime().block_on(async move {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let leaves: Vec<Vec<u8>> = sqlx::query_scalar("SELECT leaf_hash FROM entries ORDER BY idx")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM tree_nodes")
            .execute(&mut conn)
            .await
            .unwrap();
        // Level 0 are the leaves; docket stores perfect subtrees from level 4 up.
        let mut level = leaves;
        for height in 1u32.. {
            if level.len() < 2 {
                break;
            }
            level = level
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            if height >= 4 {
                for (i, hash) in level.iter().enumerate() {
                    sqlx::query("INSERT INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
                        .bind(i64::from(height))
                        .bind(i as i64)
                        .bind(hash.clone())
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
            }
        }
    });
}

/// Genesis plus `n` entries, each appended by its own `docket log append`, so that
/// a checkpoint is signed at every size from 2 to n + 1.
fn ledger_of_single_appends(env: &Env, n: usize) {
    for i in 0..n {
        env.append("approval", &format!(r#"{{"initiator":"alice","n":{i}}}"#));
    }
}

fn assert_refused(run: &Run, what: &str, expect: &[&str]) {
    assert_eq!(run.code, 2, "{what} must be refused (exit 2):\n{run}");
    for e in expect {
        assert!(run.stderr.contains(e), "{what} should say `{e}`:\n{run}");
    }
}

/// Runs a verification that must fail (exit 1) and returns its JSON report.
fn failed_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let run = env.run(args);
    assert_eq!(
        run.code, 1,
        "docket {args:?} should fail verification:\n{run}"
    );
    run.json()
}

fn failed_line(run: &Run) -> &str {
    run.stdout
        .lines()
        .find(|l| l.starts_with("FAILED"))
        .unwrap_or_else(|| panic!("no FAILED line:\n{run}"))
}

#[test]
fn history_forged_without_the_key_fails_verify_and_is_never_signed() {
    let env = Env::sqlite();
    ledger_of_single_appends(&env, 19);
    env.ok(&["log", "verify"]);
    forge_entry(
        &env,
        5,
        r#""initiator":"alice""#,
        r#""initiator":"mallory""#,
    );
    env.sql("DELETE FROM checkpoints WHERE size > 5");
    let checkpoints = count(&env, "SELECT COUNT(*) FROM checkpoints");

    // No signature covers entries 5..19 any more: verify must say so.
    let run = env.run(&["log", "verify"]);
    assert_eq!(run.code, 1, "verify must fail on an unsigned tail:\n{run}");
    assert!(
        failed_line(&run).contains("entries 5..19 are not covered by any signed checkpoint"),
        "{run}"
    );
    let json = failed_json(&env, &["log", "verify", "--format", "json"]);
    assert_eq!(json["problems"][0]["code"], "entries-unsigned", "{json}");
    assert_eq!(json["problems"][0]["entry"], 5, "{json}");

    // docket signs nothing over the forged history: not on append, not for a proof,
    // not on request.
    let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
    assert_refused(&run, "an append", &["entries 5..19", "not covered"]);
    assert_eq!(
        run.stderr.matches("not covered").count(),
        1,
        "said once:\n{run}"
    );
    let run = env.run(&["log", "prove", "3", "--size", "20"]);
    assert_refused(&run, "a proof at size 20", &["entries 5..19"]);
    let run = env.run(&["log", "checkpoint"]);
    assert_refused(&run, "a checkpoint", &["entries 5..19"]);
    assert_eq!(count(&env, "SELECT COUNT(*) FROM checkpoints"), checkpoints);
    assert_eq!(count(&env, "SELECT COUNT(*) FROM entries"), 20);
}

#[test]
fn an_edit_under_signed_checkpoints_is_refused_naming_the_entry() {
    let env = Env::sqlite();
    ledger_of_single_appends(&env, 19);
    forge_entry(
        &env,
        5,
        r#""initiator":"alice""#,
        r#""initiator":"mallory""#,
    );
    let checkpoints = count(&env, "SELECT COUNT(*) FROM checkpoints");

    let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
    assert_refused(&run, "an append over an edited entry", &["entry 5 "]);
    let run = env.run(&["log", "prove", "0", "--size", "1"]);
    assert_refused(&run, "a proof over an edited entry", &["entry 5 "]);
    assert_eq!(count(&env, "SELECT COUNT(*) FROM checkpoints"), checkpoints);

    let run = env.run(&["log", "verify"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        failed_line(&run).contains("entries 5..5 no longer match"),
        "{run}"
    );
}

#[test]
fn an_unsigned_tail_is_refused_by_the_writer_on_every_backend() {
    for backend in backends("an_unsigned_tail_is_refused") {
        let env = Env::new(backend);
        for i in 0..6 {
            env.append("approval", &format!(r#"{{"n":{i}}}"#));
        }
        env.sql("DELETE FROM checkpoints WHERE size > 4");
        let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
        assert_refused(
            &run,
            "an append on an unsigned tail",
            &["entries 4..6 are not covered by any signed checkpoint"],
        );
        let run = env.run(&["log", "verify"]);
        assert_eq!(run.code, 1, "{backend:?}: {run}");
        assert!(failed_line(&run).contains("entries 4..6"), "{run}");
        // A ledger whose checkpoints are intact goes on growing.
        let env = Env::new(backend);
        env.append("approval", "{}");
        env.append("approval", "{}");
        env.ok(&["log", "verify"]);
    }
}

#[test]
fn a_fork_by_an_insider_truncating_to_a_signed_size_is_caught_by_a_saved_checkpoint() {
    let env = Env::sqlite();
    ledger_of_single_appends(&env, 11);
    let saved = env.path("auditor.note");
    env.ok(&["log", "checkpoint", "--out", saved.to_str().unwrap()]);
    // Cut back to a size that has a signed checkpoint: nothing left is unsigned, so
    // docket extends it — only the checkpoint kept outside the writer tells.
    env.sql(
        "DELETE FROM entries WHERE idx >= 8;
         DELETE FROM checkpoints WHERE size > 8;
         DELETE FROM tree_nodes WHERE ((idx + 1) << level) > 8;",
    );
    for i in 0..4 {
        env.append("approval", &format!(r#"{{"initiator":"mallory","n":{i}}}"#));
    }
    env.ok(&["log", "verify"]);
    let run = env.run(&["log", "verify", "--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        failed_line(&run).contains("the first 12 entries differ from checkpoint"),
        "{run}"
    );
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_auditor_verifies_a_read_only_copy_with_only_the_public_key() {
    let env = Env::sqlite();
    ledger_of_single_appends(&env, 4);
    env.ok(&["key", "rotate"]);
    env.append("approval", r#"{"after":"rotation"}"#);
    let first_key = env.ok(&["key", "show", "--format", "json"]).json()["chain"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = env.path("ledger.pub");
    std::fs::write(&public, format!("{first_key}\n")).unwrap();

    // The auditor's copy: the database file alone, read-only, in a read-only folder.
    let audit = env.path("audit");
    std::fs::create_dir(&audit).unwrap();
    let copy = audit.join("ledger.sqlite3");
    std::fs::copy(env.home.join("ledger.sqlite3"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = std::fs::read(&copy).unwrap();

    let auditor = |args: &[&str]| -> Run {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_docket"));
        cmd.arg("--home")
            .arg(&audit)
            .env_remove("DOCKET_HOME")
            .env_remove("DOCKET_DATABASE_URL")
            .current_dir(env.dir.path())
            .args(args);
        Run::from(cmd.output().unwrap())
    };
    let run = auditor(&["log", "verify", "--key", public.to_str().unwrap()]);
    assert_eq!(run.code, 0, "the auditor's verify must pass:\n{run}");
    assert!(run.stdout.contains("entries    7"), "{run}");
    assert!(run.stdout.contains("OK: every entry"), "{run}");
    // A key that is not the ledger's is named as such.
    let stranger = docket_ledger::Signer::generate("stranger.example/log").unwrap();
    let other = env.path("other.pub");
    std::fs::write(&other, stranger.verifier().to_string()).unwrap();
    let run = auditor(&["log", "verify", "--key", other.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("none of the keys given with --key"),
        "{run}"
    );
    // Read-only listing works too.
    let run = auditor(&["log", "list"]);
    assert_eq!(run.code, 0, "{run}");

    // Nothing was created next to the copy, and the copy is unchanged.
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(file_names(&audit), vec!["ledger.sqlite3".to_owned()]);
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

#[test]
fn read_only_commands_never_create_a_home_or_a_ledger() {
    let env = Env::sqlite();
    let repo = env.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    );
    let zip = env.path("out.zip");
    let commands: Vec<Vec<&str>> = vec![
        vec!["log", "verify"],
        vec!["log", "list"],
        vec!["log", "show", "0"],
        vec!["log", "prove", "0"],
        vec!["runs", "list"],
        vec!["runs", "show", "abc"],
        vec!["attest", "verify", "HEAD", "--repo", repo.to_str().unwrap()],
        vec!["export", "--out", zip.to_str().unwrap()],
    ];
    // A mistyped --home: an error naming it, and nothing created.
    let missing = env.path("mistyped-home");
    for args in &commands {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_docket"));
        cmd.arg("--home")
            .arg(&missing)
            .env_remove("DOCKET_HOME")
            .env_remove("DOCKET_DATABASE_URL")
            .current_dir(env.dir.path())
            .args(args);
        let run = Run::from(cmd.output().unwrap());
        assert_eq!(run.code, 2, "docket {args:?} with a missing home:\n{run}");
        assert!(
            run.stderr.contains(missing.to_str().unwrap()) && run.stderr.contains("does not exist"),
            "docket {args:?} should name the missing home:\n{run}"
        );
        assert!(
            !missing.exists(),
            "docket {args:?} created {}",
            missing.display()
        );
        assert!(!zip.exists(), "docket {args:?} wrote {}", zip.display());
    }
    // A home that exists but holds no ledger: named, and left empty.
    std::fs::create_dir(&env.home).unwrap();
    for args in &commands {
        let run = env.run(args);
        assert_eq!(run.code, 2, "docket {args:?} without a ledger:\n{run}");
        let db = env.home.join("ledger.sqlite3");
        assert!(
            run.stderr.contains(db.to_str().unwrap()),
            "docket {args:?} should name {}:\n{run}",
            db.display()
        );
        assert!(
            file_names(&env.home).is_empty(),
            "docket {args:?} created files"
        );
    }
}

#[test]
fn a_docket_home_that_is_a_file_is_named_as_such() {
    let env = Env::sqlite();
    std::fs::write(&env.home, "not a directory").unwrap();
    let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
    assert_refused(
        &run,
        "a home that is a file",
        &[env.home.to_str().unwrap(), "is a file, not a directory"],
    );
    let run = env.run(&["log", "verify"]);
    assert_refused(
        &run,
        "verify in a home that is a file",
        &[env.home.to_str().unwrap(), "is a file, not a directory"],
    );
}

#[test]
fn run_with_a_missing_ticket_file_says_it_does_not_exist() {
    let env = Env::sqlite();
    let run = env.run(&["run", "--ticket", "./missing.md"]);
    assert_refused(
        &run,
        "a missing ticket file",
        &["./missing.md", "does not exist"],
    );
    assert!(
        !env.home.exists(),
        "a refused run created {}",
        env.home.display()
    );
}

#[test]
fn a_one_entry_edit_checked_against_a_saved_checkpoint_names_that_entry() {
    let env = Env::sqlite();
    let lines: Vec<String> = (0..104).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    env.append_lines("evidence", &lines);
    let saved = env.path("auditor.note");
    env.ok(&["log", "checkpoint", "--out", saved.to_str().unwrap()]);
    // One byte of entry 50, leaf hash untouched.
    let mut bytes = env.sql_bytes("SELECT entry FROM entries WHERE idx = 50");
    let pos = String::from_utf8(bytes.clone())
        .unwrap()
        .find(r#""n":"#)
        .unwrap()
        + 4;
    bytes[pos] = if bytes[pos] == b'7' { b'8' } else { b'7' };
    env.sql_set_bytes("entries", "entry", 50, bytes);

    let run = env.run(&["log", "verify", "--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        failed_line(&run).contains("entry 50: its stored bytes no longer hash"),
        "{run}"
    );
    assert!(!run.stdout.contains("are gone"), "no entry is gone:\n{run}");
    assert!(
        !run.stdout.contains("also:"),
        "one edit is one problem:\n{run}"
    );
    // The header counts what was checked: 50 entries, and the saved checkpoint
    // (size 105) could not be checked past the edit.
    assert!(
        run.stdout
            .contains("entries    50 verified before the first problem\n"),
        "{run}"
    );
    let json = failed_json(
        &env,
        &[
            "log",
            "verify",
            "--checkpoint",
            saved.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(json["entries"], 50, "{json}");
    assert_eq!(json["stored_entries"], 105, "{json}");
    assert_eq!(json["anchors_checked"], 0, "{json}");
    assert_eq!(json["anchors_given"], 1, "{json}");
    assert!(
        run.stdout.contains("0 of 1 external"),
        "the saved checkpoint was not checked:\n{run}"
    );
}

#[test]
fn a_report_cut_at_50_problems_says_so() {
    let env = Env::sqlite();
    let lines: Vec<String> = (0..1000).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    env.append_lines("evidence", &lines);
    env.sql("UPDATE tree_nodes SET hash = zeroblob(32)");
    let run = env.run(&["log", "verify"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("also:").count(), 49, "{run}");
    assert!(
        run.stdout
            .contains("the report stops after 50 problems; there are more"),
        "{run}"
    );
    let json = failed_json(&env, &["log", "verify", "--format", "json"]);
    assert_eq!(json["problems"].as_array().unwrap().len(), 50);
    assert_eq!(json["problems_truncated"], true, "{json}");
}
