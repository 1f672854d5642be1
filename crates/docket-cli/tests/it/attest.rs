//! Run attestations end to end: a published run attaches a signed in-toto statement to
//! its commit, and `docket attest verify` accepts it and refuses every way of breaking
//! it (payload, signature, key, amended commit, a ledger that never recorded it).

use base64::Engine as _;
use serde_json::Value;

use crate::governed::*;
use crate::support::{Env, assert_matches_schema};

/// A governed repository with one published run; returns (repo, its branch commit).
fn published() -> (Governed, String) {
    let g = Governed::new(
        &[
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &[("attested", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    let run = g.run("attested", &["--format", "json"]);
    assert_eq!(run.code, 0, "{run}");
    let record = run.json();
    let commit = record["output"]["commit"].as_str().unwrap().to_owned();
    (g, commit)
}

fn verify(g: &Governed, commit: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["attest", "verify", commit, "--repo", g.repo_arg()];
    args.extend_from_slice(extra);
    g.env.run(&args)
}

/// The `run.attestation` entries of `env`'s ledger.
fn attestation_entries(env: &Env) -> Vec<Value> {
    env.ok(&[
        "log",
        "list",
        "--kind",
        "run.attestation",
        "--format",
        "json",
    ])
    .json()
    .as_array()
    .unwrap()
    .clone()
}

fn public_key(env: &Env) -> String {
    env.ok(&["key", "show"]).stdout.trim().to_owned()
}

fn note(g: &Governed, commit: &str) -> Value {
    serde_json::from_str(&g.git(&["notes", "--ref", "docket", "show", commit])).unwrap()
}

fn replace_note(g: &Governed, commit: &str, envelope: &Value) {
    g.git(&[
        "notes",
        "--ref",
        "docket",
        "add",
        "-f",
        "-m",
        &envelope.to_string(),
        commit,
    ]);
}

#[test]
fn a_published_commit_carries_a_signed_statement_that_verifies() {
    let (g, commit) = published();
    let envelope = note(&g, &commit);
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let signatures = envelope["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1);
    let key = public_key(&g.env);
    // The keyid is the ledger key's `name+hash`.
    assert!(key.starts_with(signatures[0]["keyid"].as_str().unwrap()));

    let statement = assert_statement_matches_schema(&envelope);
    assert_eq!(
        statement["subject"][0]["digest"]["gitCommit"],
        commit.as_str()
    );
    assert_eq!(
        statement["subject"][1]["digest"]["gitTree"],
        g.git(&["rev-parse", &format!("{commit}^{{tree}}")])
            .as_str()
    );
    let predicate = &statement["predicate"];
    assert_eq!(predicate["ticket"]["id"], "attested");
    assert_eq!(predicate["initiator"], "alice@example.com");
    assert_eq!(predicate["ticket"]["requester"], "bob@example.com");
    let points: Vec<&str> = predicate["policy"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["point"].as_str().unwrap())
        .collect();
    assert_eq!(points, ["intake", "run", "publish"]);
    assert_eq!(predicate["validation"]["mode"], "required");
    assert_eq!(
        predicate["validation"]["results"][0]["argv"],
        serde_json::json!([".docket/check.sh"])
    );
    assert_eq!(predicate["validation"]["results"][0]["exit_code"], 0);
    assert_eq!(predicate["ledger"]["key"], public_key(&g.env).as_str());

    let ok = verify(&g, &commit, &["--format", "json"]);
    assert_eq!(ok.code, 0, "{ok}");
    let report = ok.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["ticket"], "attested");
    assert_eq!(report["signed_by"], key.as_str());
    let tree_size = report["ledger"]["tree_size"].as_u64().unwrap();
    assert!(report["ledger"]["index"].as_u64().unwrap() < tree_size);

    // The ledger entry for the attestation is one of the run's stages, and it names
    // the envelope stored in the blob store.
    let run_id = report["run_id"].as_str().unwrap();
    let shown = g
        .env
        .ok(&["runs", "show", run_id, "--format", "json"])
        .json();
    assert_eq!(shown["output"]["attestation"].as_str().unwrap().len(), 71);
    let entries = attestation_entries(&g.env);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["payload"]["commit"], commit.as_str());
    assert_eq!(
        entries[0]["payload"]["envelope"],
        shown["output"]["attestation"]
    );

    // Offline, with only the public key, the same commit verifies.
    let offline = verify(&g, &commit, &["--offline", "--key", &key]);
    assert_eq!(offline.code, 0, "{offline}");
    assert!(
        offline.stdout.starts_with(&format!("OK: {commit}")),
        "{offline}"
    );
    assert!(
        offline.stdout.contains("not consulted (--offline)"),
        "{offline}"
    );
}

/// The statement inside a note, checked against the documented schema.
fn assert_statement_matches_schema(envelope: &Value) -> Value {
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_matches_schema("docs/attestation/run-v1.schema.json", &statement);
    statement
}

#[test]
fn a_changed_payload_or_signature_fails() {
    let (g, commit) = published();
    let original = note(&g, &commit);

    // One character of the payload changed.
    let mut changed = original.clone();
    let payload = changed["payload"].as_str().unwrap().to_owned();
    let middle = payload.len() / 2;
    let flipped = if &payload[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    changed["payload"] = Value::from(format!(
        "{}{flipped}{}",
        &payload[..middle],
        &payload[middle + 1..]
    ));
    replace_note(&g, &commit, &changed);
    let run = verify(&g, &commit, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("FAILED: the attestation of"), "{run}");
    assert!(run.stdout.contains("no signature verifies"), "{run}");

    // The signature replaced by another valid-looking one.
    let mut resigned = original.clone();
    resigned["signatures"][0]["sig"] = Value::from("A".repeat(86) + "==");
    replace_note(&g, &commit, &resigned);
    let run = verify(&g, &commit, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("no signature verifies"), "{run}");

    // Restored, it verifies again: the failures were the changes, not the repository.
    replace_note(&g, &commit, &original);
    assert_eq!(verify(&g, &commit, &[]).code, 0);
}

#[test]
fn another_key_an_amended_commit_or_an_unknown_ledger_fail() {
    let (g, commit) = published();

    // A key that is not the ledger's.
    let other = Env::sqlite();
    let foreign = public_key(&other);
    let run = verify(&g, &commit, &["--offline", "--key", &foreign]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("no signature verifies"), "{run}");

    // The right key, but a ledger that never recorded this attestation.
    let key = public_key(&g.env);
    let run = other.run(&[
        "attest",
        "verify",
        &commit,
        "--repo",
        g.repo_arg(),
        "--key",
        &key,
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("holds no entry for this attestation"),
        "{run}"
    );

    // The published commit amended: a new commit the attestation does not cover.
    let branch = g.git(&["branch", "--list", "docket/*", "--format=%(refname:short)"]);
    g.git(&["checkout", "-q", &branch]);
    std::fs::write(g.repo.join("notes/hello.txt"), "hello, amended\n").unwrap();
    g.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    let amended = g.git(&["rev-parse", "HEAD"]);
    assert_ne!(amended, commit);
    let run = verify(&g, "HEAD", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains(&format!("commit {amended} has no attestation note")),
        "{run}"
    );

    // Its note moved onto the amended commit: the subject and diff no longer match.
    let envelope = note(&g, &commit);
    replace_note(&g, &amended, &envelope);
    let run = verify(&g, "HEAD", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("(the commit was rewritten after its run)"),
        "{run}"
    );
}

#[test]
fn a_blocked_run_attaches_nothing() {
    let g = Governed::new(
        &[],
        &[(
            "blocked",
            &task("idempotent", ".github/workflows/ci.yml", "on: push"),
        )],
    );
    let run = g.run("blocked", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("outcome    blocked"), "{run}");
    assert_eq!(g.git(&["notes", "--ref", "docket", "list"]), "");
    let listed = attestation_entries(&g.env);
    assert_eq!(listed.len(), 0);
    // And `attest verify` on the base says so, exit 1.
    let run = verify(&g, "main", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("has no attestation note"), "{run}");
}

#[test]
fn an_audit_package_stands_in_for_the_ledger() {
    let (g, commit) = published();
    let key = public_key(&g.env);
    let zip = g.env.path("audit.zip");
    g.env.ok(&["export", "--out", zip.to_str().unwrap()]);

    // Another machine: no ledger of its own, only the repository, the package and the key.
    let auditor = Env::sqlite();
    let args = |extra: &[&str]| {
        let mut args = vec![
            "attest",
            "verify",
            commit.as_str(),
            "--repo",
            g.repo_arg(),
            "--package",
            zip.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let with_key = args(&["--key", &key]);
    let run = auditor.run(&with_key.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{run}");
    let report = run.json();
    assert_eq!(report["ok"], true);
    let entries = attestation_entries(&g.env);
    assert_eq!(report["ledger"]["index"], entries[0]["index"]);
    assert!(
        !auditor.home.join("ledger.sqlite3").exists(),
        "no ledger was needed"
    );

    // Without a key the package's own is trusted, and the command says what that means.
    let without = args(&[]);
    let run = auditor.run(&without.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .contains("proves the package's integrity, not who made it"),
        "{run}"
    );

    // A key that did not sign the package fails, naming the package.
    let foreign = public_key(&auditor);
    let wrong = args(&["--key", &foreign]);
    let run = auditor.run(&wrong.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.json()["problem"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{run}"
    );
}
