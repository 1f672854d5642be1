//! Timeouts, cancellation and termination: the whole process group is stopped, strays
//! left behind are killed, and a process that escaped the group cannot hang the run.
//! A FIFO, not a sleep, tells a test that its script has started its background child.

use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::{run, sh, spec};
use crate::process::supervise::{Timing, not_started, run_command_with};
use crate::process::{CommandOutcome, CommandSpec, cancel_channel, run_command};

fn short_timing() -> Timing {
    Timing {
        grace: Duration::from_millis(200),
        drain: Duration::from_millis(200),
    }
}

/// Whether `pid` is gone. A zombie counts as gone: it runs nothing, and whether it
/// is reaped depends on whoever is pid 1 here, not on docket.
fn process_gone(pid: Pid) -> bool {
    if kill(pid, None) == Err(Errno::ESRCH) {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Asserts that `pid` disappears, allowing the kernel a bounded moment to deliver
/// SIGKILL.
async fn assert_process_gone(pid: Pid) {
    for _ in 0..200 {
        if process_gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = kill(pid, Signal::SIGKILL);
    panic!("process {pid} survived the command's process group");
}

fn read_pid(path: &Path) -> Pid {
    parse_pid(&std::fs::read_to_string(path).unwrap())
}

fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `spec` while reading a pid from the FIFO at `fifo` (the script writes it once
/// its background child is started), then calls `on_pid`. The FIFO replaces sleeps
/// as the signal that the script got that far.
async fn run_with_pid_from_fifo(
    spec: &CommandSpec,
    cancel: &mut watch::Receiver<bool>,
    timing: Timing,
    fifo: &Path,
    on_pid: impl FnOnce(),
) -> (CommandOutcome, Pid) {
    let (outcome, pid) = tokio::join!(
        async {
            let outcome = run_command_with(spec, cancel, timing).await;
            // Opening read-write never blocks; it releases the reader below if the
            // script died before writing, so a failure cannot hang the test.
            drop(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(fifo),
            );
            outcome
        },
        async {
            let text = tokio::fs::read_to_string(fifo).await.unwrap();
            on_pid();
            text
        },
    );
    (outcome.unwrap(), parse_pid(&pid))
}

fn parse_pid(text: &str) -> Pid {
    let raw: i32 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("script wrote no pid: {text:?}"));
    Pid::from_raw(raw)
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pid");
    make_fifo(&fifo);
    let mut command = sh(
        "sleep 30 & echo $! > pid; echo started; sleep 30; echo done",
        dir.path(),
    );
    command.timeout = Duration::from_secs(1);
    let (_cancel, mut cancelled) = cancel_channel();

    let (outcome, grandchild) =
        run_with_pid_from_fifo(&command, &mut cancelled, short_timing(), &fifo, || {}).await;

    assert!(outcome.timed_out && !outcome.cancelled, "{outcome:?}");
    assert_eq!(
        (outcome.exit_code, outcome.signal),
        (None, Some(Signal::SIGTERM as i32))
    );
    assert_eq!(outcome.stdout, b"started\n");
    assert!(!outcome.success());
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
    assert_process_gone(grandchild).await;
}

#[tokio::test]
async fn cancellation_stops_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pid");
    make_fifo(&fifo);
    let command = sh("sleep 30 & echo $! > pid; sleep 30; echo done", dir.path());
    let (cancel, mut cancelled) = cancel_channel();

    let (outcome, grandchild) =
        run_with_pid_from_fifo(&command, &mut cancelled, short_timing(), &fifo, || {
            cancel.send_replace(true);
        })
        .await;

    assert!(outcome.cancelled && !outcome.timed_out, "{outcome:?}");
    assert_eq!(
        (outcome.exit_code, outcome.signal),
        (None, Some(Signal::SIGTERM as i32))
    );
    assert!(outcome.stdout.is_empty());
    assert_process_gone(grandchild).await;
}

#[tokio::test]
async fn group_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pid");
    make_fifo(&fifo);
    // An ignored signal stays ignored across fork and exec, so both sleeps ignore
    // SIGTERM too.
    let command = sh(
        "trap '' TERM; sleep 30 & echo $! > pid; sleep 30",
        dir.path(),
    );
    let (cancel, mut cancelled) = cancel_channel();

    let (outcome, grandchild) =
        run_with_pid_from_fifo(&command, &mut cancelled, short_timing(), &fifo, || {
            cancel.send_replace(true);
        })
        .await;

    assert!(outcome.cancelled, "{outcome:?}");
    assert_eq!(
        (outcome.exit_code, outcome.signal),
        (None, Some(Signal::SIGKILL as i32))
    );
    assert!(outcome.duration >= short_timing().grace, "{outcome:?}");
    assert_process_gone(grandchild).await;
}

#[tokio::test]
async fn cancelled_before_start_does_not_run_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let (cancel, mut cancelled) = cancel_channel();
    cancel.send_replace(true);
    let command = spec(&["touch", "ran"], dir.path());

    let outcome = run_command(&command, &mut cancelled).await.unwrap();

    assert_eq!(outcome, not_started(&command));
    assert!(!dir.path().join("ran").exists());
}

#[tokio::test]
async fn dropped_cancel_sender_does_not_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let (cancel, mut cancelled) = cancel_channel();
    drop(cancel);
    let outcome = run_command(&spec(&["true"], dir.path()), &mut cancelled)
        .await
        .unwrap();

    assert!(outcome.success(), "{outcome:?}");
}

#[tokio::test]
async fn processes_left_behind_after_a_normal_exit_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    // The background sleep inherits stdout, so without the group kill the read
    // would last until the timeout.
    let outcome = run(&sh("sleep 30 & echo $! > pid; echo bye", dir.path())).await;

    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, b"bye\n");
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
    assert_process_gone(read_pid(&dir.path().join("pid"))).await;
}

#[tokio::test]
async fn process_escaping_the_group_does_not_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // The leader waits until the background shell is in its own session, so the
    // group kill at the leader's exit cannot reach it first.
    let command = sh(
        "mkfifo ready; setsid sh -c 'echo $$ > pid; echo > ready; exec sleep 30' & \
         read line < ready; echo bye",
        dir.path(),
    );
    let (_cancel, mut cancelled) = cancel_channel();

    let outcome = run_command_with(&command, &mut cancelled, short_timing())
        .await
        .unwrap();
    let escaped = read_pid(&dir.path().join("pid"));
    // Out of docket's reach by design (see the module docs); clean up by hand.
    let _ = kill(escaped, Signal::SIGKILL);

    assert_eq!(
        (outcome.exit_code, outcome.timed_out),
        (Some(0), false),
        "{outcome:?}"
    );
    assert_eq!(outcome.stdout, b"bye\n");
    assert!(
        outcome.stdout_truncated,
        "output not read to its end is marked truncated"
    );
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
    assert_process_gone(escaped).await;
}
