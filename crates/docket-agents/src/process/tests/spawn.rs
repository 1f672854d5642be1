//! Starting the program: lookup in the child's `PATH`, paths relative to the working
//! directory, argv passed as given, and spawn errors that name what went wrong.

use std::io;
use std::os::unix::fs::PermissionsExt;

use super::{PATH, run, spec, strings};
use crate::process::{CommandSpec, ProcessError, cancel_channel, run_command};

#[tokio::test]
async fn missing_program_is_a_spawn_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_cancel, mut cancelled) = cancel_channel();
    let error = run_command(
        &spec(&["docket-no-such-program"], dir.path()),
        &mut cancelled,
    )
    .await
    .unwrap_err();

    let message = error.to_string();
    let ProcessError::Spawn {
        program,
        cwd,
        source,
    } = error
    else {
        panic!("expected a spawn error, got {error:?}");
    };
    assert_eq!(program, "docket-no-such-program");
    assert_eq!(cwd, dir.path());
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        message,
        format!(
            "could not start `docket-no-such-program` in {}: not found in the absolute \
             directories of the command's PATH ({PATH})",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn spawn_error_kinds_truth_table() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tool");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();

    let no_path = CommandSpec {
        env: Vec::new(),
        ..spec(&["sh"], dir.path())
    };
    let relative_path_entry = CommandSpec {
        env: strings(&[("PATH", ".:bin:")]),
        ..spec(&["tool"], dir.path())
    };
    let missing_cwd = spec(&["true"], &dir.path().join("missing"));
    let bad_env = CommandSpec {
        env: strings(&[("A=B", "1")]),
        ..spec(&["true"], dir.path())
    };
    let cases = [
        (
            spec(&["./tool"], dir.path()),
            io::ErrorKind::PermissionDenied,
        ),
        (spec(&["./absent"], dir.path()), io::ErrorKind::NotFound),
        (spec(&["/"], dir.path()), io::ErrorKind::PermissionDenied),
        (spec(&[""], dir.path()), io::ErrorKind::NotFound),
        (no_path, io::ErrorKind::NotFound),
        (relative_path_entry, io::ErrorKind::NotFound),
        (missing_cwd, io::ErrorKind::NotFound),
        (bad_env, io::ErrorKind::InvalidInput),
    ];
    for (command, kind) in cases {
        let (_cancel, mut cancelled) = cancel_channel();
        match run_command(&command, &mut cancelled).await {
            Err(ProcessError::Spawn { source, .. }) => {
                assert_eq!(source.kind(), kind, "{command:?}: {source}");
            }
            other => panic!("{command:?}: expected a spawn error, got {other:?}"),
        }
    }

    let (_cancel, mut cancelled) = cancel_channel();
    let empty = CommandSpec {
        argv: Vec::new(),
        ..spec(&["true"], dir.path())
    };
    assert!(matches!(
        run_command(&empty, &mut cancelled).await,
        Err(ProcessError::EmptyArgv)
    ));
}

#[tokio::test]
async fn relative_program_path_is_resolved_from_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tool");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let outcome = run(&spec(&["./tool"], dir.path())).await;

    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, b"ran\n");
}

#[tokio::test]
async fn program_sees_argv_exactly_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&spec(
        &["cat", "/proc/self/cmdline", "$HOME; *"],
        dir.path(),
    ))
    .await;

    assert_eq!(outcome.stdout, b"cat\0/proc/self/cmdline\0$HOME; *\0");
}
