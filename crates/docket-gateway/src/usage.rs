//! Token usage as the provider reports it, read from streamed events as they pass
//! (Anthropic `message_start`/`message_delta`, Responses `response.completed`, the
//! final Chat Completions chunk, Bedrock ConverseStream's `metadata` event) or from a
//! non-streamed body.

use serde::Serialize;
use serde_json::Value;

use crate::eventstream::{EventStreamParser, MessageKind};
use crate::sse::SseParser;

/// Tokens of one exchange (or of a whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Every input token: uncached, written to the cache and read from it.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of `input_tokens`, those written to the prompt cache (Anthropic).
    pub cache_write_tokens: u64,
    /// Of `input_tokens`, those read from the prompt cache.
    pub cache_read_tokens: u64,
}

impl Usage {
    /// Input plus output: what `max_tokens` limits.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Which usage fields a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageFormat {
    Anthropic,
    Responses,
    Chat,
    /// Bedrock Converse: `usage` with `inputTokens` (uncached), `outputTokens`,
    /// `cacheReadInputTokens`, `cacheWriteInputTokens`.
    Converse,
}

/// How a response's body is framed, from its content type.
#[derive(Debug)]
enum Framing {
    /// Read whole when it ends (JSON).
    Body,
    /// `text/event-stream`, parsed as it passes.
    Sse(SseParser),
    /// `application/vnd.amazon.eventstream`, parsed as it passes.
    EventStream(EventStreamParser),
}

/// Anthropic reports uncached input and the two cache counts separately, spread over
/// `message_start` and `message_delta`; each count is cumulative, so the largest seen
/// wins.
#[derive(Debug, Default, Clone, Copy)]
struct AnthropicCounts {
    input: u64,
    cache_write: u64,
    cache_read: u64,
    output: u64,
}

#[derive(Debug)]
pub(crate) struct UsageMeter {
    format: UsageFormat,
    framing: Framing,
    anthropic: AnthropicCounts,
    usage: Option<Usage>,
}

fn count(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

impl UsageMeter {
    /// A meter for a response of `content_type`: event streams (`text/event-stream`,
    /// `application/vnd.amazon.eventstream`) are metered chunk by chunk, anything else
    /// as a whole body.
    pub(crate) fn new(format: UsageFormat, content_type: Option<&str>) -> UsageMeter {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        let framing = match media.as_deref() {
            Some("text/event-stream") => Framing::Sse(SseParser::default()),
            Some("application/vnd.amazon.eventstream") => {
                Framing::EventStream(EventStreamParser::default())
            }
            _ => Framing::Body,
        };
        UsageMeter {
            format,
            framing,
            anthropic: AnthropicCounts::default(),
            usage: None,
        }
    }

    /// Whether the response is metered as it passes (else: as a whole body).
    pub(crate) fn is_streamed(&self) -> bool {
        !matches!(self.framing, Framing::Body)
    }

    /// Sees one chunk of a streamed response.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        match std::mem::replace(&mut self.framing, Framing::Body) {
            Framing::Body => {}
            Framing::Sse(mut parser) => {
                parser.feed(chunk, &mut |data| self.event(data));
                self.framing = Framing::Sse(parser);
            }
            Framing::EventStream(mut parser) => {
                parser.feed(chunk, &mut |kind, payload| self.message(kind, payload));
                self.framing = Framing::EventStream(parser);
            }
        }
    }

    /// Reads usage from a whole non-streamed body.
    pub(crate) fn body(&mut self, body: &[u8]) {
        if self.is_streamed() {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            self.object(&value, "/usage");
        }
    }

    /// One event-stream message: ConverseStream reports usage in its `metadata`
    /// event.
    fn message(&mut self, kind: &MessageKind, payload: &[u8]) {
        if kind.message_type.as_deref() != Some("event")
            || kind.event_type.as_deref() != Some("metadata")
        {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(payload) {
            self.object(&value, "/usage");
        }
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn event(&mut self, data: &[u8]) {
        // Most events are content deltas: only parse the ones that can carry usage.
        if !data.windows(7).any(|w| w == b"\"usage\"") {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        match self.format {
            UsageFormat::Anthropic => {
                self.object(&value, "/message/usage");
                self.object(&value, "/usage");
            }
            UsageFormat::Responses => self.object(&value, "/response/usage"),
            UsageFormat::Chat | UsageFormat::Converse => self.object(&value, "/usage"),
        }
    }

    fn object(&mut self, value: &Value, pointer: &str) {
        let Some(usage) = value.pointer(pointer).filter(|u| u.is_object()) else {
            return;
        };
        match self.format {
            UsageFormat::Anthropic => {
                let a = &mut self.anthropic;
                let take = |field: &str, into: &mut u64| {
                    if let Some(n) = usage.get(field).and_then(Value::as_u64) {
                        *into = (*into).max(n);
                    }
                };
                take("input_tokens", &mut a.input);
                take("cache_creation_input_tokens", &mut a.cache_write);
                take("cache_read_input_tokens", &mut a.cache_read);
                take("output_tokens", &mut a.output);
                let a = *a;
                self.usage = Some(Usage {
                    input_tokens: a.input + a.cache_write + a.cache_read,
                    output_tokens: a.output,
                    cache_write_tokens: a.cache_write,
                    cache_read_tokens: a.cache_read,
                });
            }
            UsageFormat::Responses => {
                self.usage = Some(Usage {
                    input_tokens: count(usage, "/input_tokens").unwrap_or(0),
                    output_tokens: count(usage, "/output_tokens").unwrap_or(0),
                    cache_write_tokens: 0,
                    cache_read_tokens: count(usage, "/input_tokens_details/cached_tokens")
                        .unwrap_or(0),
                });
            }
            UsageFormat::Chat => {
                self.usage = Some(Usage {
                    input_tokens: count(usage, "/prompt_tokens").unwrap_or(0),
                    output_tokens: count(usage, "/completion_tokens").unwrap_or(0),
                    cache_write_tokens: 0,
                    cache_read_tokens: count(usage, "/prompt_tokens_details/cached_tokens")
                        .unwrap_or(0),
                });
            }
            UsageFormat::Converse => {
                // Like Anthropic's, Bedrock's input count leaves the cache out.
                let cache_read = count(usage, "/cacheReadInputTokens").unwrap_or(0);
                let cache_write = count(usage, "/cacheWriteInputTokens").unwrap_or(0);
                self.usage = Some(Usage {
                    input_tokens: count(usage, "/inputTokens")
                        .unwrap_or(0)
                        .saturating_add(cache_read)
                        .saturating_add(cache_write),
                    output_tokens: count(usage, "/outputTokens").unwrap_or(0),
                    cache_write_tokens: cache_write,
                    cache_read_tokens: cache_read,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(format: UsageFormat, stream: &str) -> Option<Usage> {
        let mut meter = UsageMeter::new(format, Some("text/event-stream; charset=utf-8"));
        for chunk in stream.as_bytes().chunks(7) {
            meter.feed(chunk);
        }
        meter.usage()
    }

    #[test]
    fn anthropic_stream_usage_adds_cache_tokens_to_input() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\\"usage\\\"\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            streamed(UsageFormat::Anthropic, stream),
            Some(Usage {
                input_tokens: 1125,
                output_tokens: 15,
                cache_write_tokens: 100,
                cache_read_tokens: 1000,
            })
        );
    }

    #[test]
    fn responses_and_chat_streams_and_bodies() {
        let responses = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"usage\":null}}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":8},\"output_tokens\":7,\"total_tokens\":47}}}\n\n",
        );
        assert_eq!(
            streamed(UsageFormat::Responses, responses),
            Some(Usage {
                input_tokens: 40,
                output_tokens: 7,
                cache_write_tokens: 0,
                cache_read_tokens: 8,
            })
        );
        let chat = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n",
            "data: [DONE]\n\n",
        );
        let expected = Usage {
            input_tokens: 9,
            output_tokens: 3,
            ..Usage::default()
        };
        assert_eq!(streamed(UsageFormat::Chat, chat), Some(expected));
        let mut meter = UsageMeter::new(UsageFormat::Chat, Some("application/json"));
        meter.body(br#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#);
        assert_eq!(meter.usage(), Some(expected));
        let mut meter = UsageMeter::new(UsageFormat::Anthropic, None);
        meter.body(br#"{"type":"message","usage":{"input_tokens":5,"output_tokens":2}}"#);
        assert_eq!(meter.usage().map(|u| u.total()), Some(7));
    }

    #[test]
    fn no_usage_is_none() {
        assert_eq!(streamed(UsageFormat::Chat, "data: [DONE]\n\n"), None);
        let mut meter = UsageMeter::new(UsageFormat::Responses, None);
        meter.body(b"not json");
        assert_eq!(meter.usage(), None);
    }

    #[test]
    fn converse_bodies_and_streams_add_cache_tokens_to_input() {
        let expected = Usage {
            input_tokens: 30 + 1200 + 100,
            output_tokens: 8,
            cache_write_tokens: 100,
            cache_read_tokens: 1200,
        };
        let mut meter = UsageMeter::new(UsageFormat::Converse, Some("application/json"));
        meter.body(br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":30,"outputTokens":8,"totalTokens":1338,"cacheReadInputTokens":1200,"cacheWriteInputTokens":100},"metrics":{"latencyMs":400}}"#);
        assert_eq!(meter.usage(), Some(expected));

        use crate::eventstream::tests::message;
        let mut stream = message("messageStart", r#"{"role":"assistant"}"#);
        // A delta whose text looks like usage is not usage.
        stream.extend(message(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"\"usage\":{\"inputTokens\":9}"}}"#,
        ));
        stream.extend(message("messageStop", r#"{"stopReason":"end_turn"}"#));
        stream.extend(message(
            "metadata",
            r#"{"usage":{"inputTokens":30,"outputTokens":8,"totalTokens":1338,"cacheReadInputTokens":1200,"cacheWriteInputTokens":100},"metrics":{"latencyMs":400}}"#,
        ));
        let mut meter = UsageMeter::new(
            UsageFormat::Converse,
            Some("application/vnd.amazon.eventstream"),
        );
        assert!(meter.is_streamed());
        for chunk in stream.chunks(5) {
            meter.feed(chunk);
        }
        meter.body(&stream);
        assert_eq!(meter.usage(), Some(expected));
    }
}
