//! An incremental Server-Sent Events parser (the WHATWG event-stream format): it is
//! fed the response's chunks as they pass through the relay, split anywhere, and
//! hands over each event's `data` as it completes. It only reads; the relayed bytes
//! are never changed or held back.

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The current line so far (a line may span chunks).
    line: Vec<u8>,
    /// The current event's data lines, joined by `\n`.
    data: Vec<u8>,
    has_data: bool,
    /// The last chunk ended in `\r`: a `\n` starting the next one ends nothing.
    after_cr: bool,
}

impl SseParser {
    /// Feeds one chunk; `on_event` gets the data of every event the chunk completes.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = chunk.split_at(end);
            self.line.extend_from_slice(head);
            let line = std::mem::take(&mut self.line);
            self.end_line(&line, on_event);
            self.line = line;
            self.line.clear();
            let terminator = tail.first().copied();
            chunk = tail.get(1..).unwrap_or_default();
            if terminator == Some(b'\r') {
                match chunk.first() {
                    Some(b'\n') => chunk = chunk.get(1..).unwrap_or_default(),
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(chunk);
    }

    fn end_line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (line.get(..colon).unwrap_or_default(), value)
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut |data| {
                events.push(String::from_utf8_lossy(data).into_owned())
            });
        }
        events
    }

    #[test]
    fn events_come_out_the_same_however_the_stream_is_split() {
        let stream: &[u8] = b"event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: x\r\ndata: two\r\ndata:lines\r\n\r\ndata: [DONE]\r\rdata: last\n\n";
        let expected = vec!["{\"a\":1}", "two\nlines", "[DONE]", "last"];
        assert_eq!(events_of(&[stream]), expected);
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(events_of(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events_of(&bytes), expected);
    }

    #[test]
    fn an_unterminated_event_is_not_dispatched() {
        assert_eq!(events_of(&[b"data: partial\n"]), Vec::<String>::new());
        assert_eq!(events_of(&[b""]), Vec::<String>::new());
    }
}
