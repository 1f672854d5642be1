//! Everything the binary prints goes through here: data to stdout, diagnostics to
//! stderr, JSON when asked, and a quiet exit when stdout is closed early.

use std::io::{self, Write};

use serde::Serialize;

use crate::Format;

pub struct Output {
    pub format: Format,
}

impl Output {
    pub fn new(format: Format) -> Output {
        Output { format }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Writes one line to stdout; a closed pipe ends the process quietly.
    pub fn line(&self, text: impl AsRef<str>) {
        let mut stdout = io::stdout().lock();
        if let Err(e) = writeln!(stdout, "{}", text.as_ref()).and_then(|_| stdout.flush())
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }

    /// Writes a value as pretty JSON to stdout.
    pub fn json_value<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.line(text);
        Ok(())
    }

    /// A note for humans on stderr (not part of the data).
    pub fn note(&self, text: impl AsRef<str>) {
        let _ = writeln!(io::stderr().lock(), "{}", text.as_ref());
    }

    pub fn error(&self, err: &anyhow::Error) {
        let mut stderr = io::stderr().lock();
        let mut message = format!("error: {err}");
        for cause in err.chain().skip(1) {
            let cause = cause.to_string();
            if !message.contains(&cause) {
                message.push_str(&format!("\n  caused by: {cause}"));
            }
        }
        let _ = writeln!(stderr, "{message}");
    }
}
