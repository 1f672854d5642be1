//! docket's own client for model APIs, used by the `api` agent and the fixer's model
//! planner. It talks only to the run's gateway (which holds the real credential,
//! enforces the allowlist and limits, redacts and records), in the wire format of the
//! configured provider: Anthropic Messages, OpenAI Chat Completions, Azure OpenAI
//! deployments, or AWS Bedrock Converse. Requests are non-streaming and built
//! deterministically from the conversation, so that a replay sends the same bytes.
//!
//! Invariant: the conversation is data. Nothing a model answers is executed here;
//! tool calls are handed back to the caller, which decides what they may do.

use std::time::Duration;

use docket_core::config::ProviderSetting;
use serde_json::{Value, json};

/// The Anthropic API version docket's client speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The Azure OpenAI data-plane API version for deployment paths.
const AZURE_API_VERSION: &str = "2024-10-21";
/// Output tokens asked for per turn where the API requires a number.
const MAX_OUTPUT_TOKENS: u64 = 8192;
/// Retries of a request the provider answered 429, 500, 502, 503 or 529.
const RETRIES: u32 = 2;
/// The longest `retry-after` honoured; longer waits end the attempt.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(20);

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Block {
    Text(String),
    /// The model asks for a tool; `input` is the JSON arguments object.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// docket's answer to a tool use.
    ToolResult {
        id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    User,
    Assistant,
}

/// One message of a conversation. Serialisable so that a run's state between stages
/// (a repair continues the `api` agent's conversation) can be reported and resumed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub(crate) role: Role,
    pub(crate) blocks: Vec<Block>,
}

impl Message {
    pub(crate) fn user_text(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            blocks: vec![Block::Text(text.into())],
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone)]
pub(crate) struct ToolSpec {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    /// JSON Schema of the arguments object.
    pub(crate) schema: Value,
}

/// Why the model stopped its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// It finished (no more tool calls).
    EndTurn,
    /// It wants the results of its tool calls.
    ToolUse,
    /// It ran out of output tokens.
    MaxTokens,
    /// Anything else the provider said (`content_filter`, `guardrail_intervened`, …).
    Other(String),
}

/// One model turn: the assistant's message and why it stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub(crate) message: Message,
    pub(crate) stop: Stop,
}

impl Turn {
    pub(crate) fn text(&self) -> String {
        self.message
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(crate) fn tool_uses(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.message.blocks.iter().filter_map(|b| match b {
            Block::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ModelError {
    #[error("the model call failed: {0}")]
    Transport(String),
    /// The provider (or the gateway) answered with an error status.
    #[error("the model provider answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the model's answer could not be read: {0}")]
    Answer(String),
}

/// The wire format of the configured provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Anthropic,
    OpenAiChat,
    AzureChat,
    Bedrock,
}

impl Wire {
    pub(crate) fn of(provider: ProviderSetting) -> Wire {
        match provider {
            ProviderSetting::Anthropic => Wire::Anthropic,
            ProviderSetting::Openai => Wire::OpenAiChat,
            ProviderSetting::AzureOpenai => Wire::AzureChat,
            ProviderSetting::Bedrock => Wire::Bedrock,
        }
    }
}

/// A client for one model behind one gateway.
pub(crate) struct ModelClient {
    http: reqwest::Client,
    wire: Wire,
    url: String,
    key: String,
    model: String,
}

impl ModelClient {
    /// `base` is the gateway's per-run base URL (no trailing `/`), `key` its dummy key.
    pub(crate) fn new(
        wire: Wire,
        base: &str,
        key: &str,
        model: &str,
    ) -> Result<ModelClient, ModelError> {
        let url = match wire {
            Wire::Anthropic => format!("{base}/v1/messages"),
            Wire::OpenAiChat => format!("{base}/v1/chat/completions"),
            Wire::AzureChat => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={AZURE_API_VERSION}",
                path_segment(model)
            ),
            Wire::Bedrock => format!("{base}/model/{}/converse", path_segment(model)),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ModelError::Transport(e.to_string()))?;
        Ok(ModelClient {
            http,
            wire,
            url,
            key: key.to_owned(),
            model: model.to_owned(),
        })
    }

    /// One turn: sends the conversation, returns the assistant's answer. Retries a
    /// bounded number of times on 429 and 5xx answers (not on a refusal by the gateway:
    /// those are final).
    pub(crate) async fn turn(
        &self,
        system: &str,
        messages: &[Message],
        tools: &[ToolSpec],
    ) -> Result<Turn, ModelError> {
        let body = request_body(self.wire, &self.model, system, messages, tools);
        let bytes = serde_json::to_vec(&body).map_err(|e| ModelError::Answer(e.to_string()))?;
        let mut tries = 0;
        loop {
            tries += 1;
            let request = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .body(bytes.clone());
            let request = match self.wire {
                Wire::Anthropic => request
                    .header("x-api-key", &self.key)
                    .header("anthropic-version", ANTHROPIC_VERSION),
                Wire::AzureChat => request.header("api-key", &self.key),
                Wire::OpenAiChat | Wire::Bedrock => request.bearer_auth(&self.key),
            };
            let response = request
                .send()
                .await
                .map_err(|e| ModelError::Transport(error_chain(&e)))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response
                .text()
                .await
                .map_err(|e| ModelError::Transport(error_chain(&e)))?;
            if (200..300).contains(&status) {
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| ModelError::Answer(format!("not JSON ({e})")))?;
                return parse_turn(self.wire, &value);
            }
            let message = error_message(&text);
            let retryable = matches!(status, 429 | 500 | 502 | 503 | 529)
                && !message.starts_with("docket gateway:");
            if !retryable || tries > RETRIES {
                return Err(ModelError::Status { status, message });
            }
            let wait = retry_after.unwrap_or(Duration::from_millis(500 << tries));
            if wait > MAX_RETRY_WAIT {
                return Err(ModelError::Status { status, message });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// A model id as one URL path segment (Bedrock ids contain `:`, ARNs `/`).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The message of an error body in any of the providers' shapes.
fn error_message(text: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("message"))
        .and_then(Value::as_str);
    match message {
        Some(m) => m.to_owned(),
        None => text.chars().take(300).collect(),
    }
}

/// The request body of one turn in `wire`'s format.
fn request_body(
    wire: Wire,
    model: &str,
    system: &str,
    messages: &[Message],
    tools: &[ToolSpec],
) -> Value {
    match wire {
        Wire::Anthropic => {
            let mut body = json!({
                "model": model,
                "max_tokens": MAX_OUTPUT_TOKENS,
                "system": system,
                "messages": messages.iter().map(anthropic_message).collect::<Vec<_>>(),
            });
            if !tools.is_empty() {
                body["tools"] = tools
                    .iter()
                    .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.schema}))
                    .collect();
            }
            body
        }
        Wire::OpenAiChat | Wire::AzureChat => {
            let mut wire_messages = vec![json!({"role": "system", "content": system})];
            for message in messages {
                chat_messages(message, &mut wire_messages);
            }
            let mut body = json!({"model": model, "messages": wire_messages});
            if !tools.is_empty() {
                body["tools"] = tools
                    .iter()
                    .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}}))
                    .collect();
            }
            body
        }
        Wire::Bedrock => {
            let mut body = json!({
                "system": [{"text": system}],
                "messages": messages.iter().map(converse_message).collect::<Vec<_>>(),
                "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS},
            });
            if !tools.is_empty() {
                body["toolConfig"] = json!({"tools": tools
                    .iter()
                    .map(|t| json!({"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.schema}}}))
                    .collect::<Vec<_>>()});
            }
            body
        }
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn anthropic_message(message: &Message) -> Value {
    let content: Vec<Value> = message
        .blocks
        .iter()
        .map(|block| match block {
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
            Block::ToolResult {
                id,
                content,
                is_error,
            } => json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error}),
        })
        .collect();
    json!({"role": role_name(message.role), "content": content})
}

/// Chat Completions has one message per tool result (`role: tool`), and tool calls
/// on the assistant message.
fn chat_messages(message: &Message, out: &mut Vec<Value>) {
    let text: Vec<&str> = message
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    match message.role {
        Role::Assistant => {
            let calls: Vec<Value> = message
                .blocks
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { id, name, input } => Some(json!({
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": input.to_string()},
                    })),
                    _ => None,
                })
                .collect();
            let mut value = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text.join("\n")) }});
            if !calls.is_empty() {
                value["tool_calls"] = Value::Array(calls);
            }
            out.push(value);
        }
        Role::User => {
            for block in &message.blocks {
                if let Block::ToolResult { id, content, .. } = block {
                    out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                }
            }
            if !text.is_empty() {
                out.push(json!({"role": "user", "content": text.join("\n")}));
            }
        }
    }
}

fn converse_message(message: &Message) -> Value {
    let content: Vec<Value> = message
        .blocks
        .iter()
        .map(|block| match block {
            Block::Text(text) => json!({"text": text}),
            Block::ToolUse { id, name, input } => {
                json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
            }
            Block::ToolResult {
                id,
                content,
                is_error,
            } => json!({"toolResult": {
                "toolUseId": id,
                "content": [{"text": content}],
                "status": if *is_error { "error" } else { "success" },
            }}),
        })
        .collect();
    json!({"role": role_name(message.role), "content": content})
}

/// Reads an assistant turn out of a response body in `wire`'s format.
fn parse_turn(wire: Wire, body: &Value) -> Result<Turn, ModelError> {
    let missing = |what: &str| ModelError::Answer(format!("the response has no {what}"));
    match wire {
        Wire::Anthropic => {
            let content = body
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("content"))?;
            let mut blocks = Vec::new();
            for block in content {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => blocks.push(Block::Text(str_of(block, "text"))),
                    Some("tool_use") => blocks.push(Block::ToolUse {
                        id: str_of(block, "id"),
                        name: str_of(block, "name"),
                        input: block.get("input").cloned().unwrap_or(json!({})),
                    }),
                    // Thinking and other blocks carry no action for docket.
                    _ => {}
                }
            }
            Ok(assistant_turn(
                blocks,
                stop_reason(body.get("stop_reason").and_then(Value::as_str)),
            ))
        }
        Wire::OpenAiChat | Wire::AzureChat => {
            let choice = body
                .pointer("/choices/0")
                .ok_or_else(|| missing("choices"))?;
            let message = choice.get("message").ok_or_else(|| missing("message"))?;
            let mut blocks = Vec::new();
            if let Some(text) = message.get("content").and_then(Value::as_str)
                && !text.is_empty()
            {
                blocks.push(Block::Text(text.to_owned()));
            }
            for call in message
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let arguments = call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}");
                // Arguments that are not a JSON object reach the tool as such and are
                // refused there, with the reason given back to the model.
                let input = serde_json::from_str::<Value>(arguments)
                    .unwrap_or_else(|_| json!({"unparsable_arguments": arguments}));
                blocks.push(Block::ToolUse {
                    id: str_of(call, "id"),
                    name: call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    input,
                });
            }
            // Chat Completions names the same stops differently.
            let finish = match choice.get("finish_reason").and_then(Value::as_str) {
                Some("stop") => Some("end_turn"),
                Some("tool_calls") | Some("function_call") => Some("tool_use"),
                Some("length") => Some("max_tokens"),
                other => other,
            };
            Ok(assistant_turn(blocks, stop_reason(finish)))
        }
        Wire::Bedrock => {
            let content = body
                .pointer("/output/message/content")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("output.message.content"))?;
            let mut blocks = Vec::new();
            for block in content {
                if let Some(text) = block.get("text").and_then(Value::as_str) {
                    blocks.push(Block::Text(text.to_owned()));
                } else if let Some(tool) = block.get("toolUse") {
                    blocks.push(Block::ToolUse {
                        id: str_of(tool, "toolUseId"),
                        name: str_of(tool, "name"),
                        input: tool.get("input").cloned().unwrap_or(json!({})),
                    });
                }
            }
            Ok(assistant_turn(
                blocks,
                stop_reason(body.get("stopReason").and_then(Value::as_str)),
            ))
        }
    }
}

/// Anthropic's and Bedrock's stop reasons (Chat Completions' are mapped to them).
fn stop_reason(reason: Option<&str>) -> Stop {
    match reason {
        Some("end_turn") | Some("stop_sequence") => Stop::EndTurn,
        Some("tool_use") => Stop::ToolUse,
        Some("max_tokens") => Stop::MaxTokens,
        Some(other) => Stop::Other(other.to_owned()),
        None => Stop::Other("none".into()),
    }
}

fn assistant_turn(blocks: Vec<Block>, stop: Stop) -> Turn {
    Turn {
        message: Message {
            role: Role::Assistant,
            blocks,
        },
        stop,
    }
}

fn str_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Vec<Message> {
        vec![
            Message::user_text("fix it"),
            Message {
                role: Role::Assistant,
                blocks: vec![
                    Block::Text("reading".into()),
                    Block::ToolUse {
                        id: "t1".into(),
                        name: "read_file".into(),
                        input: json!({"path": "a.txt"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                blocks: vec![Block::ToolResult {
                    id: "t1".into(),
                    content: "hello".into(),
                    is_error: false,
                }],
            },
        ]
    }

    fn tools() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "read_file",
            description: "Read a file.",
            schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        }]
    }

    #[test]
    fn anthropic_requests_carry_tool_use_and_results_in_content_blocks() {
        let body = request_body(Wire::Anthropic, "m", "sys", &conversation(), &tools());
        assert_eq!(body["system"], "sys");
        assert_eq!(body["max_tokens"], MAX_OUTPUT_TOKENS);
        assert_eq!(body["messages"][1]["content"][1]["type"], "tool_use");
        assert_eq!(body["messages"][1]["content"][1]["input"]["path"], "a.txt");
        assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], "t1");
        assert_eq!(body["tools"][0]["input_schema"]["required"][0], "path");
    }

    #[test]
    fn chat_requests_put_tool_results_in_tool_messages() {
        let body = request_body(Wire::OpenAiChat, "m", "sys", &conversation(), &tools());
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages[0], json!({"role": "system", "content": "sys"}));
        assert_eq!(
            messages[2]["tool_calls"][0]["function"]["name"],
            "read_file"
        );
        assert_eq!(
            messages[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"path":"a.txt"}"#
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": "t1", "content": "hello"})
        );
        assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");
    }

    #[test]
    fn converse_requests_use_tool_use_and_tool_result_members() {
        let body = request_body(Wire::Bedrock, "m", "sys", &conversation(), &tools());
        assert!(body.get("model").is_none(), "the model is in the path");
        assert_eq!(body["system"][0]["text"], "sys");
        assert_eq!(
            body["messages"][1]["content"][1]["toolUse"]["toolUseId"],
            "t1"
        );
        assert_eq!(
            body["messages"][2]["content"][0]["toolResult"]["status"],
            "success"
        );
        assert_eq!(
            body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
            "object"
        );
    }

    #[test]
    fn answers_in_each_format_become_the_same_turn() {
        let expected = Turn {
            message: Message {
                role: Role::Assistant,
                blocks: vec![
                    Block::Text("ok".into()),
                    Block::ToolUse {
                        id: "c1".into(),
                        name: "write_file".into(),
                        input: json!({"path": "x", "content": "y"}),
                    },
                ],
            },
            stop: Stop::ToolUse,
        };
        let anthropic = json!({"content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "c1", "name": "write_file", "input": {"path": "x", "content": "y"}}], "stop_reason": "tool_use"});
        let chat = json!({"choices": [{"message": {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "write_file", "arguments": "{\"path\":\"x\",\"content\":\"y\"}"}}]}, "finish_reason": "tool_calls"}]});
        let converse = json!({"output": {"message": {"role": "assistant", "content": [{"text": "ok"}, {"toolUse": {"toolUseId": "c1", "name": "write_file", "input": {"path": "x", "content": "y"}}}]}}, "stopReason": "tool_use"});
        assert_eq!(parse_turn(Wire::Anthropic, &anthropic).unwrap(), expected);
        assert_eq!(parse_turn(Wire::OpenAiChat, &chat).unwrap(), expected);
        assert_eq!(parse_turn(Wire::Bedrock, &converse).unwrap(), expected);
        assert!(parse_turn(Wire::Anthropic, &json!({})).is_err());
    }

    #[test]
    fn model_ids_are_one_path_segment() {
        assert_eq!(
            path_segment("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
        );
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
