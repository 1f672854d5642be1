//! The child's pipes: output capped without blocking the child, stdin fed then closed.

use super::{run, sh, spec};
use crate::process::StdinSpec;

#[tokio::test]
async fn large_output_is_truncated_without_blocking_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = sh(
        "head -c 10000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        dir.path(),
    );
    command.output_limit = 1000;
    let outcome = run(&command).await;

    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, vec![0_u8; 1000]);
    assert_eq!(outcome.stderr, vec![0_u8; 1000]);
    assert!(outcome.stdout_truncated && outcome.stderr_truncated);
}

#[tokio::test]
async fn output_limit_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    for (limit, kept, truncated) in [
        (0, &b""[..], true),
        (4, b"abcd", true),
        (5, b"abcde", false),
        (6, b"abcde", false),
    ] {
        let mut command = spec(&["printf", "abcde"], dir.path());
        command.output_limit = limit;
        let outcome = run(&command).await;
        assert_eq!(
            (outcome.stdout.as_slice(), outcome.stdout_truncated),
            (kept, truncated),
            "limit {limit}"
        );
        assert_eq!(
            (outcome.stderr.as_slice(), outcome.stderr_truncated),
            (&b""[..], false)
        );
    }
}

#[tokio::test]
async fn stdin_bytes_are_delivered_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = spec(&["cat"], dir.path());
    command.stdin = StdinSpec::Bytes(b"ticket text\0with a nul\n".to_vec());
    let outcome = run(&command).await;

    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, b"ticket text\0with a nul\n");
}

#[tokio::test]
async fn default_stdin_is_null() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&spec(&["cat"], dir.path())).await;

    assert!(outcome.success(), "{outcome:?}");
    assert!(outcome.stdout.is_empty());
}

#[tokio::test]
async fn unread_stdin_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = spec(&["true"], dir.path());
    command.stdin = StdinSpec::Bytes(vec![b'x'; 4 * 1024 * 1024]);
    let outcome = run(&command).await;

    assert!(outcome.success(), "{outcome:?}");
}
