//! The child's environment: exactly the given one, and the minimal one docket builds.

use super::{PATH, run, spec, strings};
use crate::process::env::minimal_env_from;
use crate::process::minimal_env;

#[tokio::test]
async fn child_environment_is_exactly_the_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = spec(&["env"], dir.path());
    command.env = strings(&[
        ("PATH", PATH),
        ("HOME", "/nonexistent-home"),
        ("DOCKET_TEST_MARKER", "value with spaces"),
    ]);
    let outcome = run(&command).await;

    let mut seen: Vec<String> = String::from_utf8(outcome.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    seen.sort();
    let mut expected: Vec<String> = command
        .env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn minimal_env_keeps_only_the_basics_pass_through_and_extra() {
    let parent = strings(&[
        ("HOME", "/home/dev"),
        ("PATH", "/usr/bin"),
        ("LANG", "C.UTF-8"),
        ("DOCKET_TEST_LEAK_MARKER", "must-not-leak"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("CARGO_HOME", "/cargo"),
    ]);
    let env = minimal_env_from(
        parent,
        &[
            "CARGO_HOME".to_owned(),
            "NOT_SET".to_owned(),
            "PATH".to_owned(),
        ],
        &strings(&[("HOME", "/sandbox"), ("DOCKET_RUN", "r1")]),
    );

    assert_eq!(
        env,
        strings(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/sandbox"),
            ("LANG", "C.UTF-8"),
            ("CARGO_HOME", "/cargo"),
            ("DOCKET_RUN", "r1"),
        ])
    );
}

#[test]
fn minimal_env_truth_table_for_empty_and_duplicate_inputs() {
    assert_eq!(minimal_env_from(Vec::new(), &[], &[]), Vec::new());
    assert_eq!(
        minimal_env_from(strings(&[("SECRET", "x")]), &[], &[]),
        Vec::new()
    );
    assert_eq!(
        minimal_env_from(Vec::new(), &["SECRET".to_owned()], &[]),
        Vec::new(),
        "a pass-through name that is not set is left out"
    );
    assert_eq!(
        minimal_env_from(strings(&[("PATH", "/old"), ("PATH", "/new")]), &[], &[]),
        strings(&[("PATH", "/new")])
    );
    assert_eq!(
        minimal_env_from(Vec::new(), &[], &strings(&[("A", "1"), ("A", "2")])),
        strings(&[("A", "2")])
    );
}

#[tokio::test]
async fn marker_in_parent_env_does_not_reach_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let parent = strings(&[("PATH", PATH), ("DOCKET_TEST_LEAK_MARKER", "leaked")]);
    let mut command = spec(&["env"], dir.path());
    command.env = minimal_env_from(parent, &[], &strings(&[("DOCKET_STEP", "validate")]));
    let outcome = run(&command).await;

    let mut seen: Vec<String> = String::from_utf8(outcome.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec!["DOCKET_STEP=validate".to_owned(), format!("PATH={PATH}")]
    );
}

#[tokio::test]
async fn minimal_env_from_this_process_passes_path() {
    let env = minimal_env(&[], &[]);
    let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        names
            .iter()
            .all(|name| ["PATH", "HOME", "LANG"].contains(name)),
        "{names:?}"
    );
    assert_eq!(
        env.iter()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.clone()),
        std::env::var("PATH").ok()
    );
}
