//! Checking a range: git is asked once per question for the whole range (commits,
//! notes, diffs), then every commit is classified.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use docket_git::{Repo, TreePair};
use docket_ledger::Verifier;

use super::attestations::{covers_itself, open_all, peek_run_id};
use super::classify::{ChainDigests, Pending, judge_without_diff, judge_without_key};
use super::commit::run_trailers;
use super::error::GateError;
use super::outcome::Judged;
use super::report::{GateReport, Timings};

/// Judges every commit of `base..head` (full commit ids) against attestations signed
/// by one of `trusted`.
pub async fn check(
    repo: &Repo,
    base: &str,
    head: &str,
    trusted: &[Verifier],
) -> Result<GateReport, GateError> {
    let mut timings = Timings::default();
    let started = Instant::now();
    let commits = repo.range_commits(base, head).await?;
    timings.list = started.elapsed();

    let started = Instant::now();
    let notes: HashMap<String, Vec<u8>> = if commits.is_empty() {
        HashMap::new()
    } else {
        repo.notes().await?.into_iter().collect()
    };
    timings.notes = started.elapsed();

    // No key to trust: nothing can be verified, so nothing is opened or diffed. The
    // range is still judged, so a team can run the gate before it has keys; no
    // commit that claims a run can pass (fail closed).
    if trusted.is_empty() {
        let judged = commits
            .into_iter()
            .map(|commit| {
                let runs = run_trailers(&commit.message);
                let has_note = notes.contains_key(&commit.id);
                judge_without_key(commit, runs, has_note)
            })
            .collect();
        return Ok(GateReport {
            base: base.to_owned(),
            head: head.to_owned(),
            commits: judged,
            notes: notes.len(),
            verified: 0,
            diffs: 0,
            timings,
        });
    }

    // Every note on a commit of the range is checked: a note that exists must verify.
    let started = Instant::now();
    let own: Vec<(String, Vec<u8>)> = commits
        .iter()
        .filter_map(|c| notes.get(&c.id).map(|n| (c.id.clone(), n.clone())))
        .collect();
    let mut opened = open_all(own, trusted).await;
    let claims: Vec<Vec<String>> = commits.iter().map(|c| run_trailers(&c.message)).collect();
    // Attestations of the claimed runs, wherever they are attached: a squashed or
    // rebased commit has no note of its own.
    let wanted: HashSet<&str> = claims
        .iter()
        .zip(&commits)
        .filter(|(_, c)| !covers_itself(opened.get(&c.id), &c.id))
        .flat_map(|(runs, _)| runs.iter().map(String::as_str))
        .collect();
    let mut by_run: HashMap<String, Vec<String>> = HashMap::new();
    if !wanted.is_empty() {
        let mut others = Vec::new();
        for (commit, bytes) in &notes {
            if let Some(run) = peek_run_id(bytes).filter(|r| wanted.contains(r.as_str())) {
                by_run.entry(run).or_default().push(commit.clone());
                if !opened.contains_key(commit) {
                    others.push((commit.clone(), bytes.clone()));
                }
            }
        }
        opened.extend(open_all(others, trusted).await);
        for commits in by_run.values_mut() {
            commits.sort();
        }
    }
    let verified = opened.len();
    timings.verify = started.elapsed();

    // First pass: everything that needs no diff.
    let mut pending: Vec<Pending> = commits
        .into_iter()
        .zip(claims)
        .map(|(commit, runs)| judge_without_diff(commit, runs, &opened, &by_run))
        .collect();

    // One diff-tree call for the commits whose judgement needs their actual diff.
    let started = Instant::now();
    let needing: Vec<usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, p)| p.needs_diff())
        .map(|(i, _)| i)
        .collect();
    let pairs: Vec<TreePair> = needing
        .iter()
        .filter_map(|i| pending.get(*i))
        .map(|p| TreePair {
            from: p.commit.first_parent_tree.clone(),
            to: p.commit.tree.clone(),
        })
        .collect();
    let digests = repo.tree_diff_digests(&pairs).await?;
    for (i, digest) in needing.iter().zip(digests) {
        if let Some(p) = pending.get_mut(*i) {
            p.actual_diff = Some(digest);
        }
    }

    // One more diff-tree call, only when a commit may be a squash of several runs: the
    // diffs that link its parent's tree and the runs' attested trees. A failure (an
    // attested commit that is not in this repository) leaves those commits unproven.
    let mut seen: HashSet<(Option<String>, String)> = HashSet::new();
    let links: Vec<TreePair> = pending
        .iter()
        .flat_map(Pending::chain_pairs)
        .filter(|p| seen.insert((p.from.clone(), p.to.clone())))
        .collect();
    let chain: ChainDigests = if links.is_empty() {
        Ok(HashMap::new())
    } else {
        repo.tree_diff_digests(&links)
            .await
            .map(|digests| {
                links
                    .iter()
                    .map(|p| (p.from.clone(), p.to.clone()))
                    .zip(digests)
                    .collect()
            })
            .map_err(|e| e.to_string())
    };
    timings.diffs = started.elapsed();

    let judged = pending.into_iter().map(|p| p.finish(&chain)).collect();
    Ok(GateReport {
        base: base.to_owned(),
        head: head.to_owned(),
        commits: judged,
        notes: notes.len(),
        verified,
        diffs: pairs.len() + links.len(),
        timings,
    })
}

/// The first path each judged commit changes (for locations in reports), from one
/// git call; `None` for a commit that changes nothing.
pub async fn first_changed_paths(
    repo: &Repo,
    commits: &[&Judged],
) -> Result<Vec<Option<String>>, GateError> {
    let pairs: Vec<TreePair> = commits
        .iter()
        .map(|j| TreePair {
            from: j.commit.first_parent_tree.clone(),
            to: j.commit.tree.clone(),
        })
        .collect();
    Ok(repo.first_changed_paths(&pairs).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::Path;

    use super::*;
    use crate::gate::test_repo::{commit_all, git};

    /// A repository whose history has every kind of change a patch can show.
    fn varied_history(dir: &Path) -> Vec<String> {
        git(dir, &["init", "-q", "-b", "main"]);
        let mut commits = Vec::new();
        std::fs::write(dir.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        commits.push(commit_all(dir, "root"));
        std::fs::write(dir.join("a.txt"), "one\n2\nthree\nfour\n").unwrap();
        std::fs::write(dir.join("bin.dat"), [0u8, 1, 2, 255, 0, 7]).unwrap();
        commits.push(commit_all(dir, "modify and binary"));
        git(dir, &["mv", "a.txt", "renamed.txt"]);
        commits.push(commit_all(dir, "rename"));
        std::os::unix::fs::symlink("renamed.txt", dir.join("link")).unwrap();
        std::fs::write(dir.join("tool.sh"), "#!/bin/sh\n").unwrap();
        commits.push(commit_all(dir, "symlink"));
        std::fs::set_permissions(
            dir.join("tool.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.join("bin.dat"), [9u8, 0, 9]).unwrap();
        std::fs::write(dir.join("sp ace ü.txt"), "x 1\n").unwrap();
        commits.push(commit_all(dir, "mode change, binary change, odd name"));
        commits.push(commit_all(dir, "empty"));
        std::fs::remove_file(dir.join("link")).unwrap();
        commits.push(commit_all(dir, "delete"));
        // A side branch merged back: a merge commit's diff is from its first parent.
        git(dir, &["checkout", "-q", "-b", "side", "HEAD~1"]);
        std::fs::write(dir.join("side.txt"), "side\n").unwrap();
        commits.push(commit_all(dir, "side"));
        git(dir, &["checkout", "-q", "main"]);
        git(dir, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
        commits
    }

    #[tokio::test]
    async fn batch_diff_digests_are_byte_identical_to_commit_diff_digest() {
        let dir = tempfile::tempdir().unwrap();
        let commits = varied_history(dir.path());
        let repo = Repo::open(dir.path()).await.unwrap();
        let root = commits.first().unwrap();
        // The whole history: the range from the root's parentless state needs the root
        // listed too, so list root..HEAD and add the root by hand.
        let listed = repo.range_commits(root, "HEAD").await.unwrap();
        assert_eq!(listed.len(), commits.len() - 1, "{listed:?}");
        let mut pairs: Vec<TreePair> = vec![TreePair {
            from: None,
            to: git(dir.path(), &["rev-parse", &format!("{root}^{{tree}}")]),
        }];
        pairs.extend(listed.iter().map(|c| TreePair {
            from: c.first_parent_tree.clone(),
            to: c.tree.clone(),
        }));
        let mut ids = vec![root.clone()];
        ids.extend(listed.iter().map(|c| c.id.clone()));
        let batch = repo.tree_diff_digests(&pairs).await.unwrap();
        assert_eq!(batch.len(), ids.len());
        for (id, digest) in ids.iter().zip(&batch) {
            assert_eq!(
                *digest,
                repo.commit_diff_digest(id).await.unwrap(),
                "commit {id}"
            );
        }
        // The empty commit's patch is empty, and identical pairs in a row split too.
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(batch.iter().filter(|d| *d == empty).count(), 1);
        let twice = [pairs[1].clone(), pairs[1].clone(), pairs[5].clone()];
        let again = repo.tree_diff_digests(&twice).await.unwrap();
        assert_eq!(
            again,
            vec![batch[1].clone(), batch[1].clone(), batch[5].clone()]
        );
        assert_eq!(
            repo.tree_diff_digests(&[]).await.unwrap(),
            Vec::<String>::new()
        );

        let paths = repo.first_changed_paths(&pairs).await.unwrap();
        let expected = [
            Some("a.txt"),       // root
            Some("a.txt"),       // a.txt modified before bin.dat added
            Some("renamed.txt"), // the added side of a rename, not the deleted one
            Some("link"),
            Some("bin.dat"),
            None,         // empty
            Some("link"), // only a deletion: the deleted path
            Some("side.txt"),
            Some("side.txt"), // the merge, from its first parent
        ];
        for (id, path) in ids.iter().zip(&paths) {
            let index = commits.iter().position(|c| c == id).unwrap();
            assert_eq!(path.as_deref(), expected[index], "commit {index}");
        }
    }

    #[tokio::test]
    async fn the_range_lists_merges_and_side_commits_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let commits = varied_history(dir.path());
        let repo = Repo::open(dir.path()).await.unwrap();
        let base = &commits[5];
        let listed = repo.range_commits(base, "HEAD").await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        // delete, side, merge (side branched from "delete"'s parent).
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(ids.last(), Some(&commits[8].as_str()));
        let merge = listed.last().unwrap();
        assert_eq!(merge.parents.len(), 2);
        assert_eq!(merge.message, "merge side\n");
        assert_eq!(merge.author_email, "t@example.com");
        let position = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        assert!(position(&commits[6]) < position(&commits[8]));
        assert!(position(&commits[7]) < position(&commits[8]));
        assert!(repo.range_commits("HEAD", "HEAD").await.unwrap().is_empty());
    }
}
