//! Supervising a started command: its timeout, cancellation, and termination of its
//! whole process group (SIGTERM, then SIGKILL after a grace period), while its pipes are
//! fed and drained.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::ProcessError;
use super::group::ProcessGroup;
use super::output::{Captured, drain_capped, feed_stdin};
use super::spawn::spawn_in_group;
use super::spec::{CommandOutcome, CommandSpec, StdinSpec};

/// How long a command's process group has between SIGTERM and SIGKILL when docket
/// stops it (timeout or cancellation).
const TERMINATION_GRACE: Duration = Duration::from_secs(2);

/// How long docket keeps reading stdout and stderr after the command's process group
/// has been killed. Only a process that escaped the group can hold the pipes open that
/// long; docket stops waiting for it rather than hang.
const OUTPUT_DRAIN_WINDOW: Duration = Duration::from_secs(2);

/// A cancellation channel for [`run_command`]: send `true` to cancel. Dropping the
/// sender without sending `true` never cancels.
#[must_use]
pub fn cancel_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Runs `spec.argv` as described in the [`process`](super) module docs and waits until it has exited (or
/// been stopped) and its output has been collected.
///
/// If `cancel` already holds `true`, the command is not started and the outcome says
/// `cancelled` with no exit status. If it becomes `true` while the command runs, the
/// process group is stopped as on timeout.
///
/// # Errors
///
/// [`ProcessError::EmptyArgv`] for an empty argv, [`ProcessError::Spawn`] when the
/// program cannot be started, [`ProcessError::Wait`] when the operating system loses
/// track of it.
pub async fn run_command(
    spec: &CommandSpec,
    cancel: &mut watch::Receiver<bool>,
) -> Result<CommandOutcome, ProcessError> {
    run_command_with(
        spec,
        cancel,
        Timing {
            grace: TERMINATION_GRACE,
            drain: OUTPUT_DRAIN_WINDOW,
        },
    )
    .await
}

/// The supervision delays, separate so tests can shorten them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// SIGTERM to SIGKILL.
    pub(super) grace: Duration,
    /// How long to keep reading output once the group has been killed.
    pub(super) drain: Duration,
}

/// Where supervision is; each phase has its own deadline on one timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Deadline: the command's timeout.
    Running,
    /// SIGTERM sent. Deadline: the grace period, then SIGKILL.
    Terminating,
    /// SIGKILL sent after the grace period. Deadline: the drain window.
    Killed,
    /// The leader exited on its own and strays were killed. Deadline: the drain window.
    Draining,
}

/// Why docket stopped the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TimedOut,
    Cancelled,
}

pub(super) async fn run_command_with(
    spec: &CommandSpec,
    cancel: &mut watch::Receiver<bool>,
    timing: Timing,
) -> Result<CommandOutcome, ProcessError> {
    let program = spec.argv.first().ok_or(ProcessError::EmptyArgv)?;
    if *cancel.borrow() {
        tracing::info!(
            program,
            "run cancelled before the command started; not starting it"
        );
        return Ok(not_started(spec));
    }
    let (mut child, started) = spawn_in_group(spec, program).await?;
    // Declared after `child` so that it drops first: if this future is dropped midway,
    // the whole group is killed, not only the leader that `kill_on_drop` knows about.
    let mut group = ProcessGroup::of(&child);

    let stdin_bytes: &[u8] = match &spec.stdin {
        StdinSpec::Null => &[],
        StdinSpec::Bytes(bytes) => bytes,
    };
    let mut stdout = Captured::default();
    let mut stderr = Captured::default();
    let mut status: Option<ExitStatus> = None;
    let mut stop: Option<Stop> = None;
    let mut phase = Phase::Running;
    let (mut stdin_done, mut stdout_done, mut stderr_done) = (false, false, false);
    {
        let mut stdin_feed = std::pin::pin!(feed_stdin(child.stdin.take(), stdin_bytes));
        let mut stdout_drain = std::pin::pin!(drain_capped(
            child.stdout.take(),
            spec.output_limit,
            &mut stdout
        ));
        let mut stderr_drain = std::pin::pin!(drain_capped(
            child.stderr.take(),
            spec.output_limit,
            &mut stderr
        ));
        // One timer, re-armed with each phase's deadline.
        let mut timer = std::pin::pin!(tokio::time::sleep(spec.timeout));

        while status.is_none() || !stdout_done || !stderr_done {
            tokio::select! {
                () = &mut stdout_drain, if !stdout_done => stdout_done = true,
                () = &mut stderr_drain, if !stderr_done => stderr_done = true,
                () = &mut stdin_feed, if !stdin_done => stdin_done = true,
                waited = child.wait(), if status.is_none() => {
                    let exited = waited.map_err(|source| ProcessError::Wait {
                        program: program.clone(),
                        source,
                    })?;
                    status = Some(exited);
                    if phase == Phase::Running {
                        // The leader is reaped now, but its pid stays allocated while
                        // any member of its group lives, so this reaches only strays;
                        // an empty group answers ESRCH.
                        if group.signal(Signal::SIGKILL) {
                            tracing::warn!(program, "command exited but left processes running in its group; killed them");
                        }
                        phase = Phase::Draining;
                        timer.as_mut().reset(Instant::now() + timing.drain);
                    }
                }
                () = wait_for_cancel(cancel), if phase == Phase::Running => {
                    tracing::warn!(program, "run cancelled; stopping the command");
                    stop = Some(Stop::Cancelled);
                    group.signal(Signal::SIGTERM);
                    phase = Phase::Terminating;
                    timer.as_mut().reset(Instant::now() + timing.grace);
                }
                () = &mut timer => match phase {
                    Phase::Running => {
                        tracing::warn!(program, timeout = ?spec.timeout, "command timed out; stopping it");
                        stop = Some(Stop::TimedOut);
                        group.signal(Signal::SIGTERM);
                        phase = Phase::Terminating;
                        timer.as_mut().reset(Instant::now() + timing.grace);
                    }
                    Phase::Terminating => {
                        tracing::warn!(program, grace = ?timing.grace, "command ignored SIGTERM; killing its process group");
                        group.signal(Signal::SIGKILL);
                        phase = Phase::Killed;
                        timer.as_mut().reset(Instant::now() + timing.drain);
                    }
                    Phase::Killed | Phase::Draining => {
                        // Only a process that escaped the group can still hold the
                        // pipes; stop reading rather than wait for it.
                        tracing::warn!(program, "output pipes still open after the process group was killed; a process escaped the group");
                        break;
                    }
                },
            }
        }
    }

    // A stream abandoned before its end lost whatever came after.
    stdout.truncated |= !stdout_done;
    stderr.truncated |= !stderr_done;
    if phase == Phase::Terminating {
        // The leader exited and the pipes closed within the grace period; anything
        // still in the group (with its output closed) must not outlive the command.
        group.signal(Signal::SIGKILL);
    }
    group.disarm();
    if status.is_none() {
        // SIGKILL has been sent; dropping `child` (kill_on_drop) hands the leader to
        // tokio's reaper instead of blocking here on a process that will not die.
        tracing::warn!(
            program,
            "command did not exit after SIGKILL; leaving it to be reaped in the background"
        );
    }

    Ok(CommandOutcome {
        argv: spec.argv.clone(),
        exit_code: status.and_then(|status| status.code()),
        signal: status.and_then(|status| status.signal()),
        timed_out: stop == Some(Stop::TimedOut),
        cancelled: stop == Some(Stop::Cancelled),
        duration: started.elapsed(),
        stdout: stdout.bytes,
        stderr: stderr.bytes,
        stdout_truncated: stdout.truncated,
        stderr_truncated: stderr.truncated,
    })
}

/// The outcome of a command that was cancelled before it started.
pub(super) fn not_started(spec: &CommandSpec) -> CommandOutcome {
    CommandOutcome {
        argv: spec.argv.clone(),
        exit_code: None,
        signal: None,
        timed_out: false,
        cancelled: true,
        duration: Duration::ZERO,
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
    }
}

/// Resolves when `cancel` holds `true`; never, once the sender is gone.
async fn wait_for_cancel(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|cancelled| *cancelled).await.is_err() {
        std::future::pending::<()>().await;
    }
}
