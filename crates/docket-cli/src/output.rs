//! Everything the binary prints goes through here: data to stdout, diagnostics to
//! stderr, JSON or CSV when asked, and a quiet exit when stdout is closed early.
//! Text that came from outside (tickets, agents, configuration) is printed through
//! [`untrusted`], so that it cannot move the cursor or forge a line.

use std::borrow::Cow;
use std::fmt::Write as _;
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

    /// Writes one CSV record (RFC 4180: CRLF, quoted when needed) to stdout.
    pub fn csv_row<S: AsRef<str>>(&self, fields: &[S]) {
        let row: Vec<Cow<'_, str>> = fields.iter().map(|f| csv_field(f.as_ref())).collect();
        self.line(format!("{}\r", row.join(",")));
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

/// `text` for a terminal: control characters (line breaks, escape sequences, C1
/// codes) and the Unicode bidirectional overrides are shown escaped (`\n`,
/// `\u{1b}`), so a ticket title cannot print a fake line or rewrite the screen.
/// JSON output needs none of this (serde escapes), and CSV keeps data as it is.
pub fn untrusted(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(shown, "{}", c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// One CSV field. A field a spreadsheet would evaluate as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`; a field with a
/// comma, quote or line break is quoted with its quotes doubled (RFC 4180).
fn csv_field(value: &str) -> Cow<'_, str> {
    let mut field = Cow::Borrowed(value);
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        field = Cow::Owned(format!("'{value}"));
    }
    if field.contains([',', '"', '\r', '\n']) {
        field = Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")));
    }
    field
}

#[cfg(test)]
mod tests {
    use super::{csv_field, untrusted};

    #[test]
    fn untrusted_text_shows_control_characters_escaped() {
        assert_eq!(untrusted("plain — text"), "plain — text");
        assert_eq!(
            untrusted("x\n  outcome    published\u{1b}[2K\r\t\u{9b}\u{202e}"),
            "x\\n  outcome    published\\u{1b}[2K\\r\\t\\u{9b}\\u{202e}"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("bob@example.com"), "bob@example.com");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-2+3,x"), "\"'-2+3,x\"");
        assert_eq!(csv_field("+1"), "'+1");
    }
}
