//! `docket gate` end to end: real governed repositories, real runs with attestation
//! notes, then the history rewritten the ways people rewrite it (amend, squash-merge,
//! rebase) and AI-marked commits made by hand; each test checks what CI would see —
//! the exit code, the outcome and reason of each commit, JSON and SARIF.

use std::path::Path;

use serde_json::Value;

use crate::governed::*;
use crate::support::{Env, Run, assert_matches_schema};

/// A governed repository with one published run: (fixture, run id, branch, commit).
fn published() -> (Governed, String, String, String) {
    let g = Governed::new(&[], &[("greet", &task("idempotent", "notes.txt", "hello"))]);
    let (run, record) = g.run_json("greet");
    assert_eq!(run.code, 0, "{run}");
    let id = record["run_id"].as_str().unwrap().to_owned();
    let branch = record["output"]["branch"].as_str().unwrap().to_owned();
    let commit = g.git(&["rev-parse", &branch]);
    assert_eq!(record["output"]["commit"], commit.as_str());
    (g, id, branch, commit)
}

fn gate(g: &Governed, base: &str, head: &str, extra: &[&str]) -> Run {
    gate_in(&g.env, &g.repo, base, head, extra)
}

fn gate_in(env: &Env, repo: &Path, base: &str, head: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "gate",
        "--repo",
        repo.to_str().unwrap(),
        "--base",
        base,
        "--head",
        head,
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// The text line of a commit.
fn line_of<'a>(run: &'a Run, commit: &str) -> &'a str {
    let short = &commit[..12];
    run.stdout
        .lines()
        .find(|l| l.trim_start_matches(['✗', ' ']).starts_with(short))
        .unwrap_or_else(|| panic!("no line for {short}:\n{run}"))
}

/// (outcome, reason) of every commit in a JSON report, oldest first.
fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    report["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["commit"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn commit_file(g: &Governed, file: &str, text: &str, message: &str) -> String {
    std::fs::write(g.repo.join(file), text).unwrap();
    g.git(&["add", "-A"]);
    g.git(&["commit", "-q", "-m", message]);
    g.git(&["rev-parse", "HEAD"])
}

#[test]
fn a_governed_run_passes_the_gate() {
    let (g, id, branch, commit) = published();

    let run = gate(&g, "main", &branch, &[]);
    assert_eq!(run.code, 0, "{run}");
    let line = line_of(&run, &commit);
    assert!(line.contains(" governed "), "{line}");
    assert!(line.contains("Ticket greet"), "{line}");
    assert!(
        line.contains(&format!("attested by run {id}"))
            && line.contains("its commit and diff match"),
        "{line}"
    );
    assert!(
        run.stdout
            .contains("1 commit: 1 governed, 0 ungoverned-ai, 0 invalid-attestation, 0 plain; the range may merge\nOK\n"),
        "{run}"
    );

    let json = gate(&g, "main", &branch, &["--format", "json"]);
    assert_eq!(json.code, 0, "{json}");
    let report = json.json();
    assert_eq!(report["schema"], "docket.gate/v1");
    assert_eq!(report["base"]["rev"], "main");
    assert_eq!(
        report["base"]["commit"],
        g.git(&["rev-parse", "main"]).as_str()
    );
    assert_eq!(report["head"]["commit"], commit.as_str());
    assert_eq!(report["policy"]["source"], "default");
    assert_eq!(
        report["policy"]["fail_on"],
        serde_json::json!(["ungoverned-ai", "invalid-attestation"])
    );
    assert!(
        report["keys"]["source"]
            .as_str()
            .unwrap()
            .starts_with("the key chain of the ledger at "),
        "{report:#}"
    );
    let key = g.env.ok(&["key", "show"]).stdout.trim().to_owned();
    assert_eq!(report["keys"]["trusted"], serde_json::json!([key]));
    let c = &report["commits"][0];
    assert_eq!(c["commit"], commit.as_str());
    assert_eq!(c["subject"], "Ticket greet");
    assert_eq!(c["outcome"], "governed");
    assert_eq!(c["fails"], false);
    assert_eq!(c["runs"], serde_json::json!([id]));
    assert_eq!(c["attestation"]["run_id"], id.as_str());
    assert_eq!(c["attestation"]["commit"], commit.as_str());
    assert_eq!(c["attestation"]["matched"], "this-commit");
    // docket's own trailers mark the commit as agent-assisted; the attestation governs it.
    assert_eq!(
        c["markers"],
        serde_json::json!([{"kind": "Assisted-by", "value": "exec", "assistant": null}])
    );
    assert_eq!(
        report["summary"],
        serde_json::json!({"commits": 1, "governed": 1, "ungoverned_ai": 0,
            "invalid_attestation": 0, "plain": 0, "failing": 0, "passed": true})
    );
}

#[test]
fn an_amended_governed_commit_is_an_invalid_attestation() {
    let (g, id, branch, _) = published();
    g.git(&["checkout", "-q", &branch]);
    std::fs::write(g.repo.join("notes.txt"), "hello, edited after the run\n").unwrap();
    g.git(&["commit", "-q", "-a", "--amend", "--no-edit"]);
    let amended = g.git(&["rev-parse", "HEAD"]);

    let run = gate(&g, "main", &branch, &[]);
    assert_eq!(run.code, 1, "{run}");
    let line = line_of(&run, &amended);
    assert!(line.starts_with('✗'), "{line}");
    assert!(line.contains(" invalid-attestation "), "{line}");
    assert!(
        line.contains(&format!(
            "no attestation for this commit; it was changed after run {id}?"
        )),
        "{line}"
    );
    assert!(
        run.stdout.contains("1 commit must not merge\nFAILED (the policy fails on ungoverned-ai, invalid-attestation)\n"),
        "{run}"
    );
    assert!(run.stderr.contains("hint: fetch the attestations"), "{run}");
}

#[test]
fn ai_marked_commits_without_attestation_fail_and_plain_commits_pass() {
    let g = Governed::new(&[], &[]);
    let base = g.git(&["rev-parse", "main"]);
    g.git(&["checkout", "-q", "-b", "feature"]);
    let plain = commit_file(&g, "human.txt", "by hand\n", "Write by hand\n\nNo help.");
    let tip_plain = plain.clone();
    let ai = commit_file(
        &g,
        "ai.txt",
        "by a model\n",
        "Add ai.txt\n\nCo-authored-by: Claude <noreply@anthropic.com>",
    );

    let run = gate(&g, &base, "feature", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(line_of(&run, &plain).contains(" plain "), "{run}");
    assert!(
        line_of(&run, &plain).contains("no AI marker and no Docket-Run trailer"),
        "{run}"
    );
    let line = line_of(&run, &ai);
    assert!(
        line.starts_with('✗') && line.contains(" ungoverned-ai "),
        "{line}"
    );
    assert!(
        line.contains(
            "Co-authored-by: Claude <noreply@anthropic.com> (Claude), and no docket attestation"
        ),
        "{line}"
    );
    assert!(
        run.stderr
            .contains("hint: make AI-written changes through `docket run`")
    );

    let report = gate(&g, &base, "feature", &["--format", "json"]).json();
    assert_eq!(
        outcomes(&report)
            .into_iter()
            .map(|(c, o, _)| (c, o))
            .collect::<Vec<_>>(),
        vec![
            (plain.clone(), "plain".to_owned()),
            (ai.clone(), "ungoverned-ai".to_owned())
        ]
    );
    assert_eq!(
        report["commits"][1]["markers"],
        serde_json::json!([{"kind": "Co-authored-by",
            "value": "Claude <noreply@anthropic.com>", "assistant": "Claude"}])
    );
    assert_eq!(report["summary"]["failing"], 1);
    assert_eq!(report["summary"]["passed"], false);

    // Only the human commit: the range may merge.
    let run = gate(&g, &base, &tip_plain, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.ends_with("the range may merge\nOK\n"), "{run}");

    // An empty range passes too.
    let run = gate(&g, "feature", "feature", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("0 commits: "), "{run}");

    // The policy decides what fails: nothing, or plain commits as well.
    let lenient = g.env.path("lenient.toml");
    std::fs::write(&lenient, "# report only\nfail_on = []\n").unwrap();
    let run = gate(
        &g,
        &base,
        "feature",
        &["--policy", lenient.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{run}");
    let strict = g.env.path("strict.toml");
    std::fs::write(&strict, "fail_on = [\"plain\"]\n").unwrap();
    let run = gate(
        &g,
        &base,
        &tip_plain,
        &["--policy", strict.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("FAILED (the policy fails on plain)"),
        "{run}"
    );
}

#[test]
fn a_squash_merge_of_the_governed_branch_is_governed() {
    let (g, id, branch, commit) = published();
    let before = g.git(&["rev-parse", "main"]);
    g.git(&["merge", "-q", "--squash", &branch]);
    // `git commit --no-edit` takes git's squash message, which quotes the squashed
    // commit's message (and its Docket-Run trailer) indented.
    g.git(&["commit", "-q", "--no-edit"]);
    let squashed = g.git(&["rev-parse", "HEAD"]);
    assert!(
        g.git(&["log", "-1", "--format=%B"])
            .contains(&format!("    Docket-Run: {id}"))
    );

    let run = gate(&g, &before, "main", &["--format", "json"]);
    assert_eq!(run.code, 0, "{run}");
    let report = run.json();
    let c = &report["commits"][0];
    assert_eq!(c["commit"], squashed.as_str());
    assert_eq!(c["outcome"], "governed");
    assert_eq!(
        c["reason"].as_str().unwrap(),
        format!(
            "squashed or re-committed: its tree equals the tree attested for run {id} at commit {} (signed by {})",
            &commit[..12],
            c["attestation"]["signed_by"].as_str().unwrap()
        )
    );
    assert_eq!(c["attestation"]["matched"], "same-tree");
    assert_eq!(c["attestation"]["commit"], commit.as_str());
}

#[test]
fn a_rebase_onto_a_moved_main_is_governed() {
    let (g, id, branch, commit) = published();
    commit_file(
        &g,
        "unrelated.txt",
        "main moved on\n",
        "Unrelated change on main",
    );
    g.git(&["checkout", "-q", &branch]);
    g.git(&["rebase", "-q", "main"]);
    let rebased = g.git(&["rev-parse", "HEAD"]);
    assert_ne!(rebased, commit);

    let run = gate(&g, "main", &branch, &[]);
    assert_eq!(run.code, 0, "{run}");
    let line = line_of(&run, &rebased);
    assert!(line.contains(" governed "), "{line}");
    assert!(
        line.contains(&format!(
            "rebased or cherry-picked: its diff equals the diff attested for run {id} at commit {}",
            &commit[..12]
        )),
        "{line}"
    );
}

#[test]
fn an_old_attested_tree_replayed_onto_a_newer_main_is_an_invalid_attestation() {
    // The run's commit reaches main; a human then fixes the file the run wrote.
    let (g, id, branch, commit) = published();
    g.git(&["merge", "-q", "--ff-only", &branch]);
    let fix = commit_file(
        &g,
        "notes.txt",
        "hello, fixed by a human\n",
        "Fix the notes",
    );
    // The attack: the run's attested tree committed again on top of the fix, with the
    // run's own message and trailers. Its tree is the attested tree, but the change
    // it makes against its parent deletes the human fix.
    let message = g.git(&["log", "-1", "--format=%B", &commit]);
    let replay_tree = format!("{commit}^{{tree}}");
    let replay = g.git(&["commit-tree", &replay_tree, "-p", &fix, "-m", &message]);
    g.git(&["update-ref", "refs/heads/replay", &replay]);

    let run = gate(&g, "main", "replay", &[]);
    assert_eq!(run.code, 1, "{run}");
    let line = line_of(&run, &replay);
    assert!(line.starts_with('✗'), "{line}");
    assert!(line.contains(" invalid-attestation "), "{line}");
    assert!(
        line.contains(&format!(
            "its tree equals the tree attested for run {id} at commit {}, but the change it makes against its parent is not the attested change",
            &commit[..12]
        )),
        "{line}"
    );
    assert!(
        run.stdout
            .contains("1 commit: 0 governed, 0 ungoverned-ai, 1 invalid-attestation, 0 plain; 1 commit must not merge"),
        "{run}"
    );

    // The same tree re-committed onto the run's own base is the attested change.
    let base = g.git(&["rev-parse", &format!("{commit}~1")]);
    let recommit = g.git(&["commit-tree", &replay_tree, "-p", &base, "-m", &message]);
    let report = gate(&g, &base, &recommit, &["--format", "json"]).json();
    assert_eq!(report["commits"][0]["outcome"], "governed", "{report:#}");
    assert_eq!(report["commits"][0]["attestation"]["matched"], "same-tree");
}

#[test]
fn with_no_trusted_key_the_gate_still_judges_the_range() {
    // CI before anyone has committed .docket/attestation-keys: no --key, no keys file
    // at BASE, no ledger in DOCKET_HOME.
    let (g, id, branch, commit) = published();
    let ci = Env::sqlite();
    g.git(&["checkout", "-q", &branch]);
    let plain = commit_file(&g, "human.txt", "by hand\n", "Write by hand");
    let ai = commit_file(
        &g,
        "ai.txt",
        "by a model\n",
        "Add ai.txt\n\nCo-authored-by: Claude <noreply@anthropic.com>",
    );

    let run = gate_in(&ci, &g.repo, "main", &branch, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(", no trusted key"),
        "{run}"
    );
    let line = line_of(&run, &commit);
    assert!(
        line.starts_with('✗')
            && line.contains(" invalid-attestation ")
            && line.ends_with(" — no trusted key"),
        "{line}"
    );
    assert!(line_of(&run, &plain).contains(" plain "), "{run}");
    assert!(
        line_of(&run, &ai).starts_with('✗') && line_of(&run, &ai).contains(" ungoverned-ai "),
        "{run}"
    );
    assert!(
        run.stdout.contains("3 commits: 0 governed, 1 ungoverned-ai, 1 invalid-attestation, 1 plain; 2 commits must not merge"),
        "{run}"
    );
    assert!(
        run.stderr.contains(
            "warning: no trusted key: commits that claim a docket run cannot be governed"
        ),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(".docket/attestation-keys on the base branch")
            && run.stderr.contains("--key"),
        "{run}"
    );
    assert!(
        !ci.home.join("ledger.sqlite3").exists(),
        "the gate must not create a ledger"
    );

    let report = gate_in(&ci, &g.repo, "main", &branch, &["--format", "json"]).json();
    assert_eq!(
        report["keys"],
        serde_json::json!({"source": "none", "trusted": []})
    );
    assert_eq!(
        outcomes(&report),
        vec![
            (commit.clone(), "invalid-attestation".to_owned(), "no trusted key".to_owned()),
            (plain.clone(), "plain".to_owned(), "no AI marker and no Docket-Run trailer".to_owned()),
            (
                ai.clone(),
                "ungoverned-ai".to_owned(),
                "Co-authored-by: Claude <noreply@anthropic.com> (Claude), and no docket attestation".to_owned()
            ),
        ]
    );
    assert_eq!(report["commits"][0]["runs"], serde_json::json!([id]));

    // Adopting the gate: only human commits pass, and a report-only policy passes all.
    let run = gate_in(&ci, &g.repo, &commit, &plain, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.ends_with("the range may merge\nOK\n"), "{run}");
    assert!(run.stderr.contains("warning: no trusted key"), "{run}");
    let lenient = ci.path("lenient.toml");
    std::fs::write(&lenient, "fail_on = []\n").unwrap();
    let run = gate_in(
        &ci,
        &g.repo,
        "main",
        &branch,
        &["--policy", lenient.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn sarif_names_the_failing_commit_and_validates() {
    let (g, _, branch, _) = published();
    g.git(&["checkout", "-q", &branch]);
    std::fs::create_dir_all(g.repo.join("src dir")).unwrap();
    let ai = commit_file(
        &g,
        "src dir/gen.rs",
        "fn main() {}\n",
        "Generate code\n\nAssisted-by: Copilot",
    );

    let run = gate(&g, "main", &branch, &["--format", "sarif"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("2 commits: 1 governed, 1 ungoverned-ai, 0 invalid-attestation, 0 plain; 1 commit must not merge"),
        "{run}"
    );
    let log = run.json();
    validate_sarif(&log);
    assert_eq!(log["version"], "2.1.0");
    let sarif_run = &log["runs"][0];
    assert_eq!(sarif_run["tool"]["driver"]["name"], "docket");
    assert_eq!(sarif_run["automationDetails"]["id"], "docket-gate/");
    let rules: Vec<&str> = sarif_run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        vec![
            "docket-gate/ungoverned-ai",
            "docket-gate/invalid-attestation"
        ]
    );
    for rule in sarif_run["tool"]["driver"]["rules"].as_array().unwrap() {
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert!(!rule["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
    }
    let results = sarif_run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only the failing commit: {log:#}");
    let result = &results[0];
    assert_eq!(result["ruleId"], "docket-gate/ungoverned-ai");
    assert_eq!(result["ruleIndex"], 0);
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["message"]["text"],
        format!(
            "Commit {} (Generate code) is ungoverned-ai: Assisted-by: Copilot (GitHub Copilot), and no docket attestation",
            &ai[..12]
        )
    );
    // GitHub code scanning rejects a result without a physical location.
    assert_eq!(
        result["locations"][0]["physicalLocation"],
        serde_json::json!({
            "artifactLocation": {"uri": "src%20dir/gen.rs", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 1},
        })
    );
    assert_eq!(result["partialFingerprints"]["docket-gate/v1"], ai.as_str());
    assert_eq!(result["properties"]["commit"], ai.as_str());

    // A passing range is a valid log with no results.
    let clean = gate(&g, "main", &format!("{ai}~1"), &["--format", "sarif"]);
    assert_eq!(clean.code, 0, "{clean}");
    let log = clean.json();
    validate_sarif(&log);
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
}

fn validate_sarif(log: &Value) {
    assert_matches_schema("crates/docket-iac/tests/data/sarif-schema-2.1.0.json", log);
}

#[test]
fn a_key_that_is_not_the_ledgers_makes_governed_commits_invalid() {
    let (g, _, branch, commit) = published();
    let stranger = Env::sqlite();
    let other_key = stranger.ok(&["key", "show"]).stdout.trim().to_owned();
    let key_file = g.env.path("other.pub");
    std::fs::write(&key_file, format!("{other_key}\n")).unwrap();

    let run = gate(
        &g,
        "main",
        &branch,
        &["--key", &format!("@{}", key_file.display())],
    );
    assert_eq!(run.code, 1, "{run}");
    let line = line_of(&run, &commit);
    assert!(line.contains(" invalid-attestation "), "{line}");
    assert!(
        line.contains(
            "its attestation note does not verify: no signature verifies with a trusted key"
        ),
        "{line}"
    );
    assert!(
        run.stdout.starts_with(&format!("gate main..{branch} (")),
        "{run}"
    );
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("keys from --key"),
        "{run}"
    );

    // The ledger's own key, passed explicitly, governs it again.
    let key = g.env.ok(&["key", "show"]).stdout.trim().to_owned();
    let run = gate(&g, "main", &branch, &["--key", &key]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn the_keys_file_is_read_from_the_base_revision_only() {
    let (g, _, branch, commit) = published();
    let ledger_key = g.env.ok(&["key", "show"]).stdout.trim().to_owned();
    let wrong_key = Env::sqlite().ok(&["key", "show"]).stdout.trim().to_owned();
    // CI: a DOCKET_HOME with no ledger at all.
    let ci = Env::sqlite();

    // The base branch trusts the wrong key; the pull request brings the right one.
    commit_file(
        &g,
        ".docket/attestation-keys",
        &format!("# keys that sign docket runs\n{wrong_key}\n"),
        "Trust a key",
    );
    g.git(&["checkout", "-q", &branch]);
    commit_file(
        &g,
        ".docket/attestation-keys",
        &format!("{ledger_key}\n"),
        "Bring my own key",
    );
    g.git(&["checkout", "-q", "main"]);
    let run = gate_in(&ci, &g.repo, "main", &branch, &[]);
    assert_eq!(run.code, 1, "{run}");
    let main = g.git(&["rev-parse", "main"]);
    assert!(
        run.stdout.lines().next().unwrap().ends_with(&format!(
            "keys from .docket/attestation-keys at {}",
            &main[..12]
        )),
        "{run}"
    );
    assert!(
        line_of(&run, &commit).contains(" invalid-attestation "),
        "{run}"
    );

    // Once the base branch trusts the ledger's key, the run is governed.
    commit_file(
        &g,
        ".docket/attestation-keys",
        &format!("# keys that sign docket runs\n{ledger_key}\n"),
        "Trust the ledger key",
    );
    let run = gate_in(&ci, &g.repo, "main", &branch, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(line_of(&run, &commit).contains(" governed "), "{run}");
}

#[test]
fn bad_revisions_repositories_and_policies_are_errors_that_name_them() {
    let g = Governed::new(&[], &[]);
    let run = gate(&g, "no-such-branch", "HEAD", &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("bad --base `no-such-branch`"), "{run}");
    assert!(
        run.stderr
            .contains("`no-such-branch` does not name a commit in"),
        "{run}"
    );

    let run = gate(&g, "main", "nope~3", &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("bad --head `nope~3`"), "{run}");

    let elsewhere = g.env.path("not-a-repo");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run = gate_in(&g.env, &elsewhere, "main", "HEAD", &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("is not inside a git working tree"),
        "{run}"
    );

    let policy = g.env.path("gate.toml");
    std::fs::write(&policy, "fail_on = [\"ungoverned-ai\"]\nwarn_on = []\n").unwrap();
    let run = gate(&g, "main", "HEAD", &["--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(&format!(
            "error: invalid gate policy {}: ",
            policy.display()
        )),
        "{run}"
    );
    assert!(run.stderr.contains("warn_on"), "{run}");
    std::fs::write(&policy, "fail_on = [\"ai\"]\n").unwrap();
    let run = gate(&g, "main", "HEAD", &["--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("unknown outcome `ai` in fail_on"),
        "{run}"
    );
    let missing = g.env.path("missing.toml");
    let run = gate(&g, "main", "HEAD", &["--policy", missing.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("cannot read the gate policy"), "{run}");
}
