//! A run never touches the user's repository: working tree, index and branch stay
//! as they were, an agent's git commands do not reach it, and a kept checkout is a
//! separate repository.

use std::path::PathBuf;

use crate::governed::*;
use crate::support::line_value;

use super::{status, user_view};

#[test]
fn the_users_working_tree_index_and_branch_are_untouched() {
    let g = Governed::new(
        &[],
        &[(
            "add-greeting",
            &task("idempotent", "notes/hello.txt", "hello from docket"),
        )],
    );
    // Work in progress of every kind: a staged change, an unstaged one on top of it,
    // an unstaged change to another file, and untracked files.
    std::fs::write(g.repo.join("README.md"), "# demo\n\nstaged\n").unwrap();
    g.git(&["add", "README.md"]);
    std::fs::write(g.repo.join("README.md"), "# demo\n\nstaged\nand more\n").unwrap();
    std::fs::write(g.repo.join(".docket/check.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::create_dir_all(g.repo.join("scratch")).unwrap();
    std::fs::write(g.repo.join("scratch/untracked.txt"), "mine\n").unwrap();
    std::fs::write(g.repo.join("notes.txt"), "not for the agent\n").unwrap();
    let before = user_view(&g.repo);
    assert!(
        before["status"].contains("scratch/untracked.txt"),
        "{before:?}"
    );

    // No --as: the initiator is the repository's user.email.
    let run = g.env.run(&[
        "run",
        "--repo",
        g.repo_arg(),
        "--ticket",
        "add-greeting",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let record = run.json();
    assert_eq!(record["initiator"], USER_EMAIL);

    assert_eq!(user_view(&g.repo), before);
    // The change starts from the base commit, not from the working tree.
    let branch = record["output"]["branch"].as_str().unwrap();
    assert_eq!(
        g.git(&["diff", "--name-only", "main", branch]),
        "notes/hello.txt"
    );
    assert_eq!(g.git(&["show", &format!("{branch}:README.md")]), "# demo");
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}

#[test]
fn keep_worktree_leaves_the_judged_change_for_inspection() {
    let g = Governed::new(
        &[],
        &[("kept", &task("idempotent", "notes/hello.txt", "kept"))],
    );
    let run = g.run("kept", &["--keep-worktree"]);
    assert_eq!(run.code, 0, "{run}");
    let kept = PathBuf::from(line_value(&run.stdout, "worktree kept"));
    let id = line_value(&run.stdout, "run");
    assert_eq!(
        kept,
        std::fs::canonicalize(g.env.home.join("worktrees").join(id)).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(kept.join("notes/hello.txt")).unwrap(),
        "kept\n"
    );
    // The checkout is a separate repository: the directory stays, and nothing is
    // registered in the user's repository.
    assert_eq!(g.leftover_worktrees().len(), 1, "the directory stays");
}

// The tests below show product bugs found while writing the golden-path tests; see
// the report.

/// An agent is untrusted, and it runs git in a worktree that shares refs and
/// configuration with the user's repository. Whatever it does with git must not reach
/// the user's branches, current branch or configuration.
#[test]
fn an_agents_git_commands_do_not_reach_the_users_repository() {
    let g = Governed::new(&[], &[("meddle", &task("git", "notes/agent.txt", "done"))]);
    let refs = |g: &Governed| {
        g.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .lines()
            // docket's own: the published branch and its attestation note.
            .filter(|l| {
                !l.starts_with("refs/heads/docket/") && !l.starts_with("refs/notes/docket ")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before_view = user_view(&g.repo);
    let before_refs = refs(&g);
    let before_config = g.git(&["config", "--local", "--list"]);

    let (run, record) = g.run_json("meddle");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(status(&record), "published");
    assert_eq!(
        refs(&g),
        before_refs,
        "the agent's refs reached the user's repository"
    );
    assert_eq!(
        g.git(&["config", "--local", "--list"]),
        before_config,
        "the agent's git config reached the user's repository"
    );
    assert_eq!(user_view(&g.repo), before_view);
}
