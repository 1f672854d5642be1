//! The tamper matrix: a real ledger is edited with SQL (or on disk) behind docket's
//! back, and `docket log verify` must exit 1 naming the damaged entry. An untouched
//! ledger must verify.

use sha2::{Digest, Sha256};

use crate::support::{Backend, Env, backends, payloads};

/// A ledger of 20 entries (genesis + 19) built in three group commits, so that it
/// has several stored checkpoints.
fn ledger(backend: Backend) -> Env {
    let env = Env::new(backend);
    env.append_lines("evidence", &payloads(6, "a")[..]);
    let lines: Vec<String> = (6..13)
        .map(|n| format!(r#"{{"tag":"b","n":{n}}}"#))
        .collect();
    env.append_lines("evidence", &lines);
    let lines: Vec<String> = (13..19)
        .map(|n| format!(r#"{{"tag":"c","n":{n}}}"#))
        .collect();
    env.append_lines("evidence", &lines);
    let verify = env.ok(&["log", "verify"]);
    assert!(verify.stdout.contains("entries    20"), "{verify}");
    env
}

fn verify_fails(env: &Env, args: &[&str], expect: &str) {
    let mut full = vec!["log", "verify"];
    full.extend_from_slice(args);
    let run = env.run(&full);
    assert_eq!(
        run.code, 1,
        "verify should fail ({expect}) on {:?}:\n{run}",
        env.backend
    );
    assert!(
        run.stdout.contains(expect),
        "verify on {:?} should say `{expect}`:\n{run}",
        env.backend
    );
}

fn leaf_hash(bytes: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().to_vec()
}

#[test]
fn untouched_ledger_verifies() {
    for backend in backends("untouched_ledger_verifies") {
        let env = ledger(backend);
        let run = env.ok(&["log", "verify", "--blobs"]);
        assert!(run.stdout.contains("OK: every entry"), "{run}");
        let json = env.ok(&["log", "verify", "--format", "json"]).json();
        assert_eq!(json["ok"], true);
        assert_eq!(json["entries"], 20);
        assert!(json["checkpoints_checked"].as_u64().unwrap() >= 3);
    }
}

#[test]
fn one_changed_payload_byte_is_named() {
    for backend in backends("one_changed_payload_byte_is_named") {
        let env = ledger(backend);
        // One digit of the payload's `n` (entries of one --jsonl call may commit in any
        // order, so the value is read, not assumed).
        let mut bytes = env.sql_bytes("SELECT entry FROM entries WHERE idx = 7");
        let text = String::from_utf8(bytes.clone()).unwrap();
        let pos = text.find(r#""n":"#).unwrap() + 4;
        bytes[pos] = if bytes[pos] == b'7' { b'8' } else { b'7' };
        env.sql_set_bytes("entries", "entry", 7, bytes);
        verify_fails(&env, &[], "entry 7: its stored bytes no longer hash");
    }
}

#[test]
fn a_payload_rewritten_with_a_matching_leaf_hash_is_caught_by_the_checkpoints() {
    for backend in backends("payload_with_matching_leaf_hash") {
        let env = ledger(backend);
        let text =
            String::from_utf8(env.sql_bytes("SELECT entry FROM entries WHERE idx = 9")).unwrap();
        let forged = text.replace(r#""n":"#, r#""n":1"#).into_bytes();
        assert_ne!(forged, text.as_bytes());
        env.sql_set_bytes("entries", "leaf_hash", 9, leaf_hash(&forged));
        env.sql_set_bytes("entries", "entry", 9, forged);
        // The checkpoint signed for the group commit that carried entry 9 no longer
        // matches; the report names the range of entries that commit covered.
        let run = env.run(&["log", "verify"]);
        assert_eq!(run.code, 1, "{run}");
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("FAILED"))
            .unwrap();
        assert!(
            line.contains("no longer match the checkpoint signed at size"),
            "{run}"
        );
        let range = line
            .split("entries ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let (lo, hi) = range.split_once("..").unwrap();
        let (lo, hi): (u64, u64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(
            lo <= 9 && 9 <= hi,
            "range {lo}..{hi} should contain entry 9: {run}"
        );
    }
}

#[test]
fn a_deleted_row_is_named() {
    for backend in backends("a_deleted_row_is_named") {
        let env = ledger(backend);
        env.sql("DELETE FROM entries WHERE idx = 5");
        verify_fails(&env, &[], "entry 5 is missing");
    }
}

#[test]
fn swapped_rows_are_named() {
    for backend in backends("swapped_rows_are_named") {
        let env = ledger(backend);
        let (a, b) = (3u64, 11u64);
        let entry_a = env.sql_bytes(&format!("SELECT entry FROM entries WHERE idx = {a}"));
        let entry_b = env.sql_bytes(&format!("SELECT entry FROM entries WHERE idx = {b}"));
        let leaf_a = env.sql_bytes(&format!("SELECT leaf_hash FROM entries WHERE idx = {a}"));
        let leaf_b = env.sql_bytes(&format!("SELECT leaf_hash FROM entries WHERE idx = {b}"));
        env.sql_set_bytes("entries", "entry", a, entry_b);
        env.sql_set_bytes("entries", "leaf_hash", a, leaf_b);
        env.sql_set_bytes("entries", "entry", b, entry_a);
        env.sql_set_bytes("entries", "leaf_hash", b, leaf_a);
        verify_fails(&env, &[], "position 3 holds the entry written as index 11");
    }
}

#[test]
fn a_dropped_tail_is_named() {
    for backend in backends("a_dropped_tail_is_named") {
        let env = ledger(backend);
        env.sql("DELETE FROM entries WHERE idx >= 16");
        verify_fails(&env, &[], "entries 16..19 were removed");
        // docket refuses to append on top of a truncated ledger.
        let run = env.run(&["log", "append", "--kind", "x", "--data", "{}"]);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains("entries were removed"), "{run}");
    }
}

#[test]
fn a_tail_dropped_with_its_checkpoints_is_caught_by_a_saved_checkpoint() {
    for backend in backends("tail_dropped_with_checkpoints") {
        let env = ledger(backend);
        let saved = env.path("auditor.note");
        env.ok(&["log", "checkpoint", "--out", saved.to_str().unwrap()]);
        env.sql(
            "DELETE FROM entries WHERE idx >= 14;
             DELETE FROM checkpoints WHERE size > 14;
             DELETE FROM tree_nodes WHERE ((idx + 1) << level) > 14;",
        );
        // Without anything kept outside the writer the cut is invisible...
        env.ok(&["log", "verify"]);
        // ...with the auditor's checkpoint it is not.
        verify_fails(
            &env,
            &["--checkpoint", saved.to_str().unwrap()],
            "entries 14..19 are gone",
        );
    }
}

#[test]
fn a_forked_history_is_caught_by_a_saved_checkpoint() {
    for backend in backends("a_forked_history") {
        let env = ledger(backend);
        let saved = env.path("auditor.note");
        env.ok(&["log", "checkpoint", "--out", saved.to_str().unwrap()]);
        // An insider with the signing key cuts the log back to a signed size (docket
        // refuses to extend any other), rewrites entries 14.. and re-signs.
        env.sql(
            "DELETE FROM entries WHERE idx >= 14;
             DELETE FROM checkpoints WHERE size > 14;
             DELETE FROM tree_nodes WHERE ((idx + 1) << level) > 14;",
        );
        env.append_lines("evidence", &payloads(6, "forged"));
        env.ok(&["log", "verify"]);
        verify_fails(
            &env,
            &["--checkpoint", saved.to_str().unwrap()],
            "the first 20 entries differ from checkpoint",
        );
    }
}

#[test]
fn a_replaced_checkpoint_is_named() {
    for backend in backends("a_replaced_checkpoint") {
        let env = ledger(backend);
        env.sql("UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 7) WHERE size = 14");
        verify_fails(
            &env,
            &[],
            "stored checkpoint row for size 14 holds a checkpoint of",
        );

        let env = ledger(backend);
        // A checkpoint for the right size signed by a key that is not the ledger's.
        let attacker = docket_ledger::Signer::generate("attacker.example/log").unwrap();
        let origin = env.ok(&["key", "show", "--format", "json"]).json()["origin"]
            .as_str()
            .unwrap()
            .to_owned();
        let forged = docket_ledger::Checkpoint {
            origin,
            size: 14,
            root: docket_ledger::Hash::digest(b"forged"),
            extensions: vec![],
        }
        .sign(&attacker)
        .unwrap();
        env.sql(&format!(
            "UPDATE checkpoints SET note = '{}' WHERE size = 14",
            forged.replace('\'', "''")
        ));
        verify_fails(&env, &[], "stored checkpoint of size 14 does not verify");
    }
}

#[test]
fn a_corrupted_blob_is_named_and_a_shredded_one_is_not_corruption() {
    for backend in backends("blobs") {
        let env = ledger(backend);
        let file = env.path("build.log");
        std::fs::write(&file, "all tests passed\n").unwrap();
        let kept = env.path("kept.log");
        std::fs::write(&kept, "kept for seven years\n").unwrap();
        env.ok(&[
            "log",
            "append",
            "--kind",
            "ci",
            "--data",
            "{}",
            "--attach",
            file.to_str().unwrap(),
            "--attach",
            kept.to_str().unwrap(),
        ]);
        let digest = env
            .ok(&["blob", "put", file.to_str().unwrap()])
            .stdout
            .trim()
            .to_owned();
        env.ok(&["blob", "shred", &digest, "--reason", "retention"]);
        let run = env.ok(&["log", "verify", "--blobs"]);
        assert!(
            run.stdout
                .contains(&format!("shredded {digest} by entry 21")),
            "{run}"
        );
        assert!(
            run.stdout.contains("2 referenced, 1 intact, 1 shredded"),
            "{run}"
        );
        assert!(env.run(&["blob", "get", &digest]).code == 2);

        let kept_digest = env
            .ok(&["blob", "put", kept.to_str().unwrap()])
            .stdout
            .trim()
            .to_owned();
        let hex = kept_digest.trim_start_matches("sha256:");
        let path = env
            .home
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(&hex[2..]);
        std::fs::write(&path, "kept for seven days\n").unwrap();
        verify_fails(
            &env,
            &["--blobs"],
            &format!("blob {kept_digest}, referenced by entry 20, is corrupt"),
        );
        // Without --blobs the entries themselves still verify.
        env.ok(&["log", "verify"]);
    }
}
