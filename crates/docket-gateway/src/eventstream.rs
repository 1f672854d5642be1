//! An incremental parser of AWS event streams (`application/vnd.amazon.eventstream`,
//! the framing of Bedrock's ConverseStream): fed the response's chunks as they pass
//! through the relay, split anywhere, it hands over each complete message's type
//! headers and payload. It only reads; the relayed bytes are never changed or held
//! back.
//!
//! A message is: total length (u32, big-endian), headers length (u32), a CRC32 of
//! those 8 bytes, the headers, the payload, and a CRC32 of everything before it. With
//! the `bedrock` feature both CRCs are checked; once a frame does not add up, the
//! parser stops (nothing after a broken frame can be trusted) and the meter simply
//! sees no more messages.

/// The largest message accepted (the format's own limit is 16 MiB).
const MAX_MESSAGE: usize = 16 << 20;
const PRELUDE: usize = 12;
const MESSAGE_CRC: usize = 4;

/// The headers of a message that say what it is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MessageKind {
    /// `:message-type`: `event`, `exception` or `error`.
    pub(crate) message_type: Option<String>,
    /// `:event-type`: `messageStart`, `contentBlockDelta`, `metadata`, …
    pub(crate) event_type: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct EventStreamParser {
    /// Bytes of a message not yet complete.
    pending: Vec<u8>,
    broken: bool,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let four: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(four))
}

#[cfg(feature = "bedrock")]
fn crc_ok(covered: &[u8], expected: u32) -> bool {
    crc32fast::hash(covered) == expected
}

/// Without the `bedrock` feature no event stream is relayed; the lengths are still
/// checked.
#[cfg(not(feature = "bedrock"))]
fn crc_ok(_covered: &[u8], _expected: u32) -> bool {
    true
}

impl EventStreamParser {
    /// Feeds one chunk; `on_message` gets each message the chunk completes.
    pub(crate) fn feed(&mut self, chunk: &[u8], on_message: &mut impl FnMut(&MessageKind, &[u8])) {
        if self.broken {
            return;
        }
        if self.pending.is_empty() {
            // The usual case: whole messages straight from the chunk, keeping only
            // the incomplete tail.
            let used = self.parse(chunk, on_message);
            if !self.broken {
                self.pending
                    .extend_from_slice(chunk.get(used..).unwrap_or_default());
            }
            return;
        }
        self.pending.extend_from_slice(chunk);
        let pending = std::mem::take(&mut self.pending);
        let used = self.parse(&pending, on_message);
        if !self.broken {
            self.pending = pending;
            self.pending.drain(..used.min(self.pending.len()));
        }
    }

    /// Parses the complete messages at the start of `bytes`; returns the bytes used.
    fn parse(&mut self, bytes: &[u8], on_message: &mut impl FnMut(&MessageKind, &[u8])) -> usize {
        let mut at = 0;
        loop {
            let rest = bytes.get(at..).unwrap_or_default();
            if rest.len() < PRELUDE {
                return at;
            }
            let (Some(total), Some(headers_len), Some(prelude_crc)) =
                (u32_at(rest, 0), u32_at(rest, 4), u32_at(rest, 8))
            else {
                return at;
            };
            let (total, headers_len) = (total as usize, headers_len as usize);
            // (The subtraction only runs once `total` is known to be large enough.)
            let fits = (PRELUDE + MESSAGE_CRC..=MAX_MESSAGE).contains(&total)
                && headers_len <= total - PRELUDE - MESSAGE_CRC;
            if !fits || !crc_ok(rest.get(..8).unwrap_or_default(), prelude_crc) {
                self.broken = true;
                return at;
            }
            let Some(message) = rest.get(..total) else {
                return at;
            };
            let body = message.get(..total - MESSAGE_CRC).unwrap_or_default();
            let crc = u32_at(message, total - MESSAGE_CRC);
            if !crc.is_some_and(|crc| crc_ok(body, crc)) {
                self.broken = true;
                return at;
            }
            let headers = body.get(PRELUDE..PRELUDE + headers_len).unwrap_or_default();
            let payload = body.get(PRELUDE + headers_len..).unwrap_or_default();
            match kind_of(headers) {
                Some(kind) => on_message(&kind, payload),
                None => {
                    self.broken = true;
                    return at;
                }
            }
            at += total;
        }
    }
}

/// The `:message-type` and `:event-type` of a message's headers, or `None` when the
/// headers do not parse. Header: name length (u8), name, value type (u8), value.
fn kind_of(mut headers: &[u8]) -> Option<MessageKind> {
    let mut kind = MessageKind::default();
    while let Some((&name_len, rest)) = headers.split_first() {
        let name = rest.get(..usize::from(name_len))?;
        let (&value_type, rest) = rest.get(usize::from(name_len)..)?.split_first()?;
        let value_len = match value_type {
            0 | 1 => 0, // bool true / false
            2 => 1,     // byte
            3 => 2,     // short
            4 => 4,     // integer
            5 | 8 => 8, // long, timestamp
            9 => 16,    // uuid
            6 | 7 => {
                // bytes, string: u16 length first
                let len: [u8; 2] = rest.get(..2)?.try_into().ok()?;
                2 + usize::from(u16::from_be_bytes(len))
            }
            _ => return None,
        };
        let value = rest.get(..value_len)?;
        if value_type == 7 {
            let text = std::str::from_utf8(value.get(2..)?).ok()?;
            match name {
                b":message-type" => kind.message_type = Some(text.to_owned()),
                b":event-type" => kind.event_type = Some(text.to_owned()),
                _ => {}
            }
        }
        headers = rest.get(value_len..)?;
    }
    Some(kind)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Vec<u8> {
        let mut out = vec![u8::try_from(name.len()).unwrap()];
        out.extend_from_slice(name.as_bytes());
        out.push(7);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        out.extend_from_slice(value.as_bytes());
        out
    }

    fn crc(bytes: &[u8]) -> u32 {
        // CRC-32 (IEEE), bit by bit: the test does not lean on the code under test.
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// One event-stream message, CRCs included.
    pub(crate) fn message(event_type: &str, payload: &str) -> Vec<u8> {
        let mut headers = header(":event-type", event_type);
        headers.extend(header(":content-type", "application/json"));
        headers.extend(header(":message-type", "event"));
        // A header of another type, which must be skipped.
        headers.extend([4, b'x', b'-', b'n', b'o', 4, 0, 0, 0, 7]);
        let total = PRELUDE + headers.len() + payload.len() + MESSAGE_CRC;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
        out.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
        let prelude_crc = crc(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(&headers);
        out.extend_from_slice(payload.as_bytes());
        let message_crc = crc(&out);
        out.extend_from_slice(&message_crc.to_be_bytes());
        out
    }

    fn events_of(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = EventStreamParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut |kind, payload| {
                events.push((
                    kind.event_type.clone().unwrap_or_default(),
                    String::from_utf8_lossy(payload).into_owned(),
                ));
            });
        }
        events
    }

    #[test]
    fn the_crc_is_the_ieee_one() {
        // The standard check value of CRC-32.
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn messages_come_out_the_same_however_the_stream_is_split() {
        let mut stream = message("messageStart", r#"{"role":"assistant"}"#);
        stream.extend(message(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        stream.extend(message(
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":1}}"#,
        ));
        let expected = vec![
            (
                "messageStart".to_owned(),
                r#"{"role":"assistant"}"#.to_owned(),
            ),
            (
                "contentBlockDelta".to_owned(),
                r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#.to_owned(),
            ),
            (
                "metadata".to_owned(),
                r#"{"usage":{"inputTokens":3,"outputTokens":1}}"#.to_owned(),
            ),
        ];
        assert_eq!(events_of(&[&stream]), expected);
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(events_of(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events_of(&bytes), expected);
    }

    #[test]
    fn an_incomplete_message_is_not_dispatched_and_a_broken_one_stops_the_parser() {
        let whole = message("metadata", r#"{"usage":{}}"#);
        assert!(events_of(&[&whole[..whole.len() - 1]]).is_empty());
        let mut lengths_wrong = whole.clone();
        // A total length below the minimum.
        lengths_wrong[..4].copy_from_slice(&3u32.to_be_bytes());
        let mut stream = lengths_wrong;
        stream.extend(message("metadata", "{}"));
        assert!(events_of(&[&stream]).is_empty());
    }

    #[cfg(feature = "bedrock")]
    #[test]
    fn crcs_are_checked() {
        let mut corrupt = message("metadata", r#"{"usage":{}}"#);
        let last = corrupt.len() - 5;
        corrupt[last] ^= 1; // a payload byte
        corrupt.extend(message("metadata", "{}"));
        assert!(events_of(&[&corrupt]).is_empty());
        let mut prelude = message("metadata", "{}");
        prelude[9] ^= 1;
        assert!(events_of(&[&prelude]).is_empty());
    }
}
