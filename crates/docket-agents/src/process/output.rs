//! The child's pipes: feeding stdin, and reading stdout and stderr while keeping only
//! the first bytes up to the output limit.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;

/// Size of one read from a child's stdout or stderr.
const READ_CHUNK: usize = 64 * 1024;

/// The kept part of one output stream.
#[derive(Debug, Default)]
pub(super) struct Captured {
    pub(super) bytes: Vec<u8>,
    pub(super) truncated: bool,
}

impl Captured {
    fn keep(&mut self, data: &[u8], limit: usize) {
        let room = limit.saturating_sub(self.bytes.len());
        let (kept, dropped) = data.split_at(room.min(data.len()));
        self.bytes.extend_from_slice(kept);
        self.truncated |= !dropped.is_empty();
    }
}

/// Reads `reader` to its end, keeping the first `limit` bytes. It keeps reading past the
/// limit so that the child never blocks on a full pipe.
pub(super) async fn drain_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
    captured: &mut Captured,
) {
    let Some(mut reader) = reader else {
        return;
    };
    let mut chunk = vec![0_u8; READ_CHUNK];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return,
            Ok(read) => captured.keep(chunk.get(..read).unwrap_or_default(), limit),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(%error, "could not read the command's output; keeping what was read");
                captured.truncated = true;
                return;
            }
        }
    }
}

/// Writes `bytes` to the child's stdin, then closes it so the child sees end of file.
pub(super) async fn feed_stdin(stdin: Option<ChildStdin>, bytes: &[u8]) {
    let Some(mut stdin) = stdin else {
        return;
    };
    match stdin.write_all(bytes).await {
        Ok(()) => {}
        // The child exited or closed stdin without reading everything: its choice.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
        Err(error) => tracing::warn!(%error, "could not write the command's stdin"),
    }
    // Dropping `stdin` closes the pipe.
}
