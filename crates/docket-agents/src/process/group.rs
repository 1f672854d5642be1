//! The child's process group: signalling every process in it, and killing the group if
//! supervision is abandoned midway.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;

/// The child's process group, which has the leader's pid as its id.
pub(super) struct ProcessGroup {
    id: Option<Pid>,
    armed: bool,
}

impl ProcessGroup {
    pub(super) fn of(child: &Child) -> Self {
        let id = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        Self { id, armed: true }
    }

    /// Sends `signal` to every process in the group. Returns whether any process
    /// received it.
    pub(super) fn signal(&self, signal: Signal) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        match killpg(id, signal) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(errno) => {
                tracing::warn!(pgid = id.as_raw(), ?signal, %errno, "could not signal the command's process group");
                false
            }
        }
    }

    /// Supervision finished normally; nothing left to kill on drop.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.armed {
            self.signal(Signal::SIGKILL);
        }
    }
}
