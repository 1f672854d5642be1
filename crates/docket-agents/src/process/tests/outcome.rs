//! What a finished command reports: exit code or signal, both streams, and a `Debug`
//! that keeps secrets out of logs.

use std::path::Path;

use nix::sys::signal::Signal;

use super::{run, sh, spec, strings};
use crate::process::{CommandOutcome, StdinSpec};

#[tokio::test]
async fn captures_exit_code_and_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh("printf out; printf err >&2; exit 3", dir.path())).await;

    assert_eq!(
        outcome,
        CommandOutcome {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "printf out; printf err >&2; exit 3".into()
            ],
            exit_code: Some(3),
            signal: None,
            timed_out: false,
            cancelled: false,
            duration: outcome.duration,
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
            stdout_truncated: false,
            stderr_truncated: false,
        }
    );
    assert!(!outcome.success());
}

#[tokio::test]
async fn exit_zero_is_success_and_runs_in_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&spec(&["pwd"], dir.path())).await;

    assert!(outcome.success());
    let expected = format!("{}\n", dir.path().canonicalize().unwrap().display());
    assert_eq!(String::from_utf8(outcome.stdout).unwrap(), expected);
}

#[tokio::test]
async fn death_by_signal_is_reported_as_signal() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh("kill -KILL $$", dir.path())).await;

    assert_eq!(
        (outcome.exit_code, outcome.signal),
        (None, Some(Signal::SIGKILL as i32))
    );
    assert!(!outcome.success());
}

#[test]
fn debug_hides_env_values_and_stdin_bytes() {
    let mut command = spec(&["agent"], Path::new("/work"));
    command.env = strings(&[("API_KEY", "sk-secret")]);
    command.stdin = StdinSpec::Bytes(b"ticket".to_vec());
    let debug = format!("{command:?}");

    assert!(
        debug.contains("API_KEY") && debug.contains("Bytes(6 bytes)"),
        "{debug}"
    );
    assert!(
        !debug.contains("sk-secret") && !debug.contains("ticket"),
        "{debug}"
    );
}
