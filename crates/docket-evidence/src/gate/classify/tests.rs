//! Tests of how a commit is judged: rewritten runs (squashes, re-commits, replays of
//! an old tree) against real git repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use docket_git::Repo;
use docket_ledger::Verifier;

use super::*;
use crate::gate::check;
use crate::gate::test_repo::{commit_all, git};

/// Signs a run attestation for `commit` as a published run would, and attaches it.
async fn attest(repo: &Repo, commit: &str, run_id: &str, signer: &docket_ledger::Signer) {
    use crate::attest::*;
    use docket_ledger::dsse::{Statement, Subject};
    let tree = repo.resolve(commit).await.unwrap();
    let tree = git(repo.root(), &["rev-parse", &format!("{tree}^{{tree}}")]);
    let digest = repo.commit_diff_digest(commit).await.unwrap();
    let predicate = RunPredicate {
        schema: PREDICATE_SCHEMA.into(),
        run_id: run_id.into(),
        started_at: "2026-11-22T07:00:00Z".into(),
        attested_at: "2026-11-22T07:00:01Z".into(),
        ticket: TicketSummary {
            id: "T-1".into(),
            title: "t".into(),
            source: "t.md".into(),
            digest: "sha256:00".into(),
            requester: None,
            labels: vec![],
        },
        initiator: "a@example.com".into(),
        repository: RepositorySummary {
            alias: "r".into(),
            base_ref: "main".into(),
            base_commit: None,
        },
        agent: docket_core::record::AgentRef {
            kind: "exec".into(),
            command: vec![],
            model: None,
        },
        worker: WorkerSummary {
            host: "h".into(),
            docket_version: "0".into(),
        },
        diff: DiffDigest {
            digest: digest.clone(),
            tree: tree.clone(),
            files_changed: 1,
            lines_added: 1,
            lines_removed: 0,
        },
        policy: PolicySummary { decisions: vec![] },
        rules: vec![],
        validation: ValidationSummary {
            mode: "off".into(),
            results: vec![],
        },
        checks: vec![],
        fixer: None,
        ledger: LedgerPointer {
            origin: "o".into(),
            entries: vec![],
            key: signer.verifier().to_string(),
        },
    };
    let statement = Statement::new(
        vec![
            Subject::new(SUBJECT_COMMIT, "gitCommit", commit),
            Subject::new(SUBJECT_TREE, "gitTree", tree),
            Subject::new(SUBJECT_DIFF, "sha256", digest.trim_start_matches("sha256:")),
        ],
        PREDICATE_TYPE,
        predicate,
    );
    let envelope = sign(&statement, signer).unwrap();
    repo.add_note(
        commit,
        envelope.to_json().as_bytes(),
        "docket",
        "docket@localhost",
    )
    .await
    .unwrap();
}

fn write_commit(dir: &Path, file: &str, text: &str, message: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    commit_all(dir, message)
}

/// (outcome, reason) of one commit of `base..head`.
async fn judge(
    repo: &Repo,
    base: &str,
    head: &str,
    trusted: &[Verifier],
) -> Vec<(Outcome, String)> {
    let base = repo.resolve(base).await.unwrap();
    let head = repo.resolve(head).await.unwrap();
    check(repo, &base, &head, trusted)
        .await
        .unwrap()
        .commits
        .into_iter()
        .map(|j| (j.outcome, j.reason))
        .collect()
}

#[tokio::test]
async fn with_no_trusted_key_claims_are_invalid_and_the_rest_judged_by_markers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    let base = write_commit(d, "README", "r\n", "base");
    let repo = Repo::open(d).await.unwrap();
    let signer = docket_ledger::Signer::generate("gate-test").unwrap();
    let run = write_commit(d, "one.txt", "1\n", "Run one\n\nDocket-Run: run-1");
    attest(&repo, &run, "run-1", &signer).await;
    let noted = write_commit(d, "n.txt", "n\n", "Noted");
    git(
        d,
        &["notes", "--ref", "refs/notes/docket", "copy", &run, &noted],
    );
    write_commit(d, "ai.txt", "a\n", "AI\n\nAssisted-by: Copilot");
    write_commit(d, "h.txt", "h\n", "By hand");
    let judged = judge(&repo, &base, "HEAD", &[]).await;
    assert_eq!(
        judged,
        vec![
            (Outcome::InvalidAttestation, "no trusted key".to_owned()),
            (Outcome::InvalidAttestation, "no trusted key".to_owned()),
            (
                Outcome::UngovernedAi,
                "Assisted-by: Copilot (GitHub Copilot), and no docket attestation".to_owned()
            ),
            (
                Outcome::Plain,
                "no AI marker and no Docket-Run trailer".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn rewritten_runs_are_judged_by_their_signed_tree_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    let base = write_commit(d, "README", "r\n", "base");
    let signer = docket_ledger::Signer::generate("gate-test").unwrap();
    let trusted = [signer.verifier()];
    let repo = Repo::open(d).await.unwrap();
    git(d, &["checkout", "-q", "-b", "runs"]);
    let r1 = write_commit(d, "one.txt", "1\n", "Run one\n\nDocket-Run: run-1");
    let r2 = write_commit(d, "two.txt", "2\n", "Run two\n\nDocket-Run: run-2");
    attest(&repo, &r1, "run-1", &signer).await;
    attest(&repo, &r2, "run-2", &signer).await;
    let ok = judge(&repo, &base, &r2, &trusted).await;
    assert!(ok.iter().all(|(o, _)| *o == Outcome::Governed), "{ok:?}");

    // A squash of both runs: the tree of the last run, both trailers.
    let squash_message =
        "Runs (#1)\n\n* Run one\n\nDocket-Run: run-1\n\n* Run two\n\nDocket-Run: run-2\n";
    let r2_tree = format!("{r2}^{{tree}}");
    let squash = git(
        d,
        &["commit-tree", &r2_tree, "-p", &base, "-m", squash_message],
    );
    let judged = judge(&repo, &base, &squash, &trusted).await;
    assert_eq!(judged.len(), 1);
    assert_eq!(judged[0].0, Outcome::Governed, "{judged:?}");
    assert!(
        judged[0].1.starts_with(&format!(
            "squashed or re-committed: its tree equals the tree attested for run run-2 at commit {}",
            short(&r2)
        )),
        "{judged:?}"
    );

    assert!(
        judged[0]
            .1
            .ends_with("and runs run-1, run-2 attested every change from its parent's tree to it"),
        "{judged:?}"
    );

    // The same squashed tree on a parent that moved on (a human fix landed after
    // the runs): committing it would undo the fix, so its tree proves nothing.
    git(d, &["checkout", "-q", "-b", "fixed", &r2]);
    let fixed = write_commit(d, "one.txt", "1, fixed by hand\n", "Fix one");
    let replay = git(
        d,
        &["commit-tree", &r2_tree, "-p", &fixed, "-m", squash_message],
    );
    let judged = judge(&repo, &fixed, &replay, &trusted).await;
    assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
    assert!(
        judged[0].1.starts_with(&format!(
            "its tree equals the tree attested for run run-2 at commit {}, but the change it makes against its parent is not the attested change",
            short(&r2)
        )),
        "{judged:?}"
    );

    // A human commit between two runs breaks the chain: the squash would carry it
    // in unattested.
    git(d, &["checkout", "-q", "-b", "between", &r1]);
    write_commit(d, "human.txt", "h\n", "Human in between");
    let r3 = write_commit(d, "three.txt", "3\n", "Run three\n\nDocket-Run: run-3");
    attest(&repo, &r3, "run-3", &signer).await;
    let r3_tree = format!("{r3}^{{tree}}");
    let squash = git(
        d,
        &[
            "commit-tree",
            &r3_tree,
            "-p",
            &base,
            "-m",
            "Runs\n\nDocket-Run: run-1\nDocket-Run: run-3\n",
        ],
    );
    let judged = judge(&repo, &base, &squash, &trusted).await;
    assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
    assert!(
        judged[0]
            .1
            .starts_with("its tree equals the tree attested for run run-3"),
        "{judged:?}"
    );

    // The same squash with a human edit folded in: changed after the runs.
    git(d, &["checkout", "-q", "-b", "edited", &r2]);
    let edited = write_commit(d, "two.txt", "2, edited\n", "edit");
    let edited_tree = format!("{edited}^{{tree}}");
    let squash = git(
        d,
        &[
            "commit-tree",
            &edited_tree,
            "-p",
            &base,
            "-m",
            squash_message,
        ],
    );
    let judged = judge(&repo, &base, &squash, &trusted).await;
    assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
    assert!(
        judged[0]
            .1
            .starts_with("no attestation for this commit; it was changed after run run-1, run-2?"),
        "{judged:?}"
    );

    // A note copied by git's notes.rewriteRef onto an amended commit does not
    // cover it; onto a cherry-pick with the same diff, it does.
    git(d, &["checkout", "-q", "-b", "amended", &r1]);
    std::fs::write(d.join("one.txt"), "1, amended\n").unwrap();
    git(d, &["commit", "-q", "-a", "--amend", "--no-edit"]);
    let amended = git(d, &["rev-parse", "HEAD"]);
    git(
        d,
        &["notes", "--ref", "refs/notes/docket", "copy", &r1, &amended],
    );
    let judged = judge(&repo, &base, &amended, &trusted).await;
    assert_eq!(judged[0].0, Outcome::InvalidAttestation, "{judged:?}");
    git(d, &["checkout", "-q", "-b", "moved", &base]);
    let moved = write_commit(d, "other.txt", "o\n", "main moved");
    git(d, &["cherry-pick", &r1]);
    let picked = git(d, &["rev-parse", "HEAD"]);
    git(
        d,
        &["notes", "--ref", "refs/notes/docket", "copy", &r1, &picked],
    );
    let judged = judge(&repo, &moved, &picked, &trusted).await;
    assert_eq!(judged[0].0, Outcome::Governed, "{judged:?}");
    assert!(
        judged[0].1.starts_with(
            "rebased or cherry-picked: its diff equals the diff attested for run run-1"
        ),
        "{judged:?}"
    );

    // A note for another run than the trailer says; an untrusted signature; a
    // trailer whose run has no attestation anywhere.
    git(d, &["checkout", "-q", "-b", "odd", &base]);
    let mislabelled = write_commit(d, "x.txt", "x\n", "X\n\nDocket-Run: run-9");
    attest(&repo, &mislabelled, "run-1", &signer).await;
    let stranger = docket_ledger::Signer::generate("stranger").unwrap();
    let untrusted = write_commit(d, "y.txt", "y\n", "Y\n\nDocket-Run: run-y");
    attest(&repo, &untrusted, "run-y", &stranger).await;
    let unknown = write_commit(d, "z.txt", "z\n", "Z\n\nDocket-Run: run-z");
    let judged = judge(&repo, &base, &unknown, &trusted).await;
    assert_eq!(
        judged.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![Outcome::InvalidAttestation; 3]
    );
    assert_eq!(
        judged[0].1,
        "its attestation is for run run-1, but its Docket-Run trailer names run-9"
    );
    assert!(
        judged[1].1.starts_with(
            "its attestation note does not verify: no signature verifies with a trusted key"
        ),
        "{judged:?}"
    );
    assert!(
        judged[2].1.starts_with("its Docket-Run trailer names run run-z, but refs/notes/docket holds no attestation for it"),
        "{judged:?}"
    );
}
