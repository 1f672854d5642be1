//! Replay: a gateway that answers from a run's recorded exchanges instead of calling
//! a provider, for `docket replay` and the reproducibility check. This module reads
//! the recording and matches requests against it; the relay (`server`) starts such a
//! gateway and serves what matched. Each request is
//! matched on a normalized digest of its body: SHA-256 of the RFC 8785 canonical JSON
//! of the body after redaction, without the fields that change from one run of the
//! same agent to the next ([`VOLATILE_FIELDS`]) and with the caller's placeholders
//! substituted. A request served once is not served again; among equal requests the
//! recording's order is kept. A request that matches nothing is refused with an error
//! naming where it first differs from the next unserved recording.

use std::sync::Mutex;

use docket_ledger::{Digest256, EntryFilter, Hash, Ledger};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::GatewayError;
use crate::protocol::Api;
use crate::record::{KIND_EXCHANGE, SCHEMA_EXCHANGE};
use crate::redact::clean_text;

/// Top-level request fields left out of the match: per-session identifiers the CLIs
/// generate afresh each time (Anthropic `metadata.user_id` carries the session,
/// OpenAI `user`, `safety_identifier` and `prompt_cache_key`, Codex's
/// `client_metadata`). The `id` of each OpenAI Responses `input` item is left out too.
pub const VOLATILE_FIELDS: &[&str] = &[
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "client_metadata",
];

/// One recorded exchange, as replay serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The original exchange's `seq`.
    pub seq: u64,
    /// `anthropic.messages`, `openai.responses`, …
    pub api: String,
    pub model: String,
    /// The request body as it was sent upstream (after redaction).
    pub request: Vec<u8>,
    pub status: u16,
    pub content_type: Option<String>,
    /// The response bytes as stored (redacted only if the stored copy had to be).
    pub response: Vec<u8>,
}

/// Text replaced by a placeholder on both sides before matching, e.g. the run's
/// checkout path, which differs between the recorded run and the replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// `(placeholder, values)`: each value, wherever it occurs in a string of the
    /// body, is replaced by the placeholder.
    pub placeholders: Vec<(String, Vec<String>)>,
}

struct Item {
    recorded: Recorded,
    normalized: Value,
    digest: Hash,
    served: bool,
}

pub(crate) struct ReplayQueue {
    items: Mutex<Vec<Item>>,
    options: ReplayOptions,
}

fn substitute(value: &mut Value, options: &ReplayOptions) {
    match value {
        Value::String(text) => {
            for (placeholder, values) in &options.placeholders {
                for needle in values.iter().filter(|v| !v.is_empty()) {
                    if text.contains(needle.as_str()) {
                        *text = text.replace(needle.as_str(), placeholder);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, options)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, options)),
        _ => {}
    }
}

/// The body as matched, and its digest.
fn normalize(mut value: Value, options: &ReplayOptions) -> (Value, Hash) {
    if let Some(map) = value.as_object_mut() {
        for field in VOLATILE_FIELDS {
            map.remove(*field);
        }
        // OpenAI Responses input items carry ids the client makes up for each session
        // (Codex: `msg_<uuid>`); the item itself, and `call_id`, are what matter.
        if let Some(Value::Array(items)) = map.get_mut("input") {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.remove("id");
                if item.get("type").and_then(Value::as_str) == Some("function_call_output")
                    && let Some(Value::String(output)) = item.get_mut("output")
                {
                    *output = steady_tool_output(output);
                }
            }
        }
    }
    substitute(&mut value, options);
    let canonical = serde_json_canonicalizer::to_vec(&value)
        .unwrap_or_else(|_| serde_json::to_vec(&value).unwrap_or_default());
    let digest = Hash(Sha256::digest(&canonical).into());
    (value, digest)
}

/// Lines of a tool's output that change from one run of the same command to the next
/// (Codex's `exec_command` reports its wall time and a random chunk id), replaced by
/// their label so that the rest of the output is still compared.
const VOLATILE_OUTPUT_LINES: &[&str] = &["Wall time:", "Chunk ID:"];

fn steady_tool_output(output: &str) -> String {
    output
        .split('\n')
        .map(|line| {
            VOLATILE_OUTPUT_LINES
                .iter()
                .find(|label| line.starts_with(**label))
                .map_or(line, |label| *label)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const SHOWN_VALUE_LEN: usize = 80;

fn shown(value: &Value) -> Option<String> {
    let text = match value {
        Value::Object(_) | Value::Array(_) => return None,
        other => other.to_string(),
    };
    (text.len() <= SHOWN_VALUE_LEN).then_some(text)
}

/// Where `actual` first departs from `expected`, as a JSON pointer and what differs.
fn first_difference(expected: &Value, actual: &Value, path: &mut String) -> Option<String> {
    let here = |path: &String| {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.clone()
        }
    };
    match (expected, actual) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, want) in x {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let found = match y.get(key) {
                    Some(got) => first_difference(want, got, path),
                    None => Some(format!("{} is missing from the request", here(path))),
                };
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            y.keys()
                .find(|key| !x.contains_key(*key))
                .map(|key| format!("{}/{key} is not in the recording", path))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (want, got)) in x.iter().zip(y).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let found = first_difference(want, got, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            (x.len() != y.len()).then(|| {
                format!(
                    "{} has {} items where the recording has {}",
                    here(path),
                    y.len(),
                    x.len()
                )
            })
        }
        _ if expected == actual => None,
        _ => Some(match (shown(expected), shown(actual)) {
            (Some(want), Some(got)) => {
                format!("{} is {got} where the recording has {want}", here(path))
            }
            _ => format!("{} differs from the recording", here(path)),
        }),
    }
}

impl ReplayQueue {
    pub(crate) fn new(
        recorded: Vec<Recorded>,
        options: ReplayOptions,
    ) -> Result<ReplayQueue, GatewayError> {
        let mut items = Vec::with_capacity(recorded.len());
        for recorded in recorded {
            let value: Value =
                serde_json::from_slice(&recorded.request).map_err(|e| GatewayError::Recorded {
                    reason: format!(
                        "the request of recorded exchange {} is not JSON: {e}",
                        recorded.seq
                    ),
                })?;
            let (normalized, digest) = normalize(value, &options);
            items.push(Item {
                recorded,
                normalized,
                digest,
                served: false,
            });
        }
        Ok(ReplayQueue {
            items: Mutex::new(items),
            options,
        })
    }

    /// The first unserved recording of `api` and `model` with this request's digest
    /// (now served), or why there is none. The model is compared on its own because a
    /// path can name it (Bedrock, Azure deployments), outside the digested body.
    pub(crate) fn take(&self, api: Api, model: &str, value: &Value) -> Result<Recorded, String> {
        let (normalized, digest) = normalize(value.clone(), &self.options);
        let model = clean_text(model);
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(item) = items.iter_mut().find(|i| {
            !i.served
                && i.recorded.api == api.name()
                && i.recorded.model == model
                && i.digest == digest
        }) {
            item.served = true;
            return Ok(item.recorded.clone());
        }
        let total = items.len();
        let Some(next) = items.iter().find(|i| !i.served) else {
            return Err(format!(
                "all {total} recorded exchanges were already served; the agent made a request the recorded run did not"
            ));
        };
        if next.recorded.api != api.name() {
            return Err(format!(
                "the next recorded exchange (seq {}) is a {} request, this is {}",
                next.recorded.seq,
                next.recorded.api,
                api.name()
            ));
        }
        let mut path = String::new();
        let difference = if next.recorded.model == model {
            first_difference(&next.normalized, &normalized, &mut path)
                .unwrap_or_else(|| "the bodies differ".into())
        } else {
            format!(
                "the model is {model:?} where the recording has {:?}",
                next.recorded.model
            )
        };
        Err(format!(
            "the request matches no recorded exchange; against the next one (seq {}): {difference}",
            next.recorded.seq
        ))
    }
}

fn parse_digest(value: &Value) -> Option<Digest256> {
    let text = value.as_str()?.strip_prefix("sha256:")?;
    Hash::from_hex(text).ok().map(Digest256)
}

/// The completed exchanges recorded for `run_id` (replays of it excluded), in the
/// order the agent sent them: by gateway (in ledger order), then by `seq` (the
/// ledger order of one gateway's exchanges is the order they were recorded, which
/// for concurrent requests may differ), with their bodies from the blob store.
pub async fn recorded_exchanges(
    ledger: &Ledger,
    run_id: &str,
) -> Result<Vec<Recorded>, GatewayError> {
    let filter = EntryFilter {
        kind: Some(KIND_EXCHANGE.into()),
        ..EntryFilter::default()
    };
    // (gateway's first ledger index, seq, exchange)
    let mut recorded: Vec<(u64, u64, Recorded)> = Vec::new();
    let mut gateways: Vec<(String, u64)> = Vec::new();
    for stored in ledger.list(&filter).await? {
        let entry = stored.decode().map_err(docket_ledger::LedgerError::from)?;
        let p = &entry.payload;
        if p["schema"] != SCHEMA_EXCHANGE
            || p["run_id"] != run_id
            || p["outcome"] != "complete"
            || !p["replay_of"].is_null()
        {
            continue;
        }
        let missing = |what: &str| GatewayError::Recorded {
            reason: format!("entry {} has no {what}", entry.index),
        };
        let request =
            parse_digest(&p["request"]["digest"]).ok_or_else(|| missing("request digest"))?;
        let response =
            parse_digest(&p["response"]["digest"]).ok_or_else(|| missing("response digest"))?;
        let content_type = p["response"]["headers"].as_array().and_then(|headers| {
            headers.iter().find_map(|pair| {
                (pair[0] == "content-type").then(|| pair[1].as_str().map(str::to_owned))?
            })
        });
        let blobs = ledger.blobs();
        let get = |digest: &Digest256| {
            blobs.get(digest).map_err(|e| GatewayError::Recorded {
                reason: format!("entry {}: {e}", entry.index),
            })
        };
        let gateway = p["gateway"].as_str().unwrap_or_default().to_owned();
        let group = match gateways.iter().find(|(g, _)| *g == gateway) {
            Some((_, first)) => *first,
            None => {
                gateways.push((gateway, entry.index));
                entry.index
            }
        };
        let seq = p["seq"].as_u64().ok_or_else(|| missing("seq"))?;
        recorded.push((
            group,
            seq,
            Recorded {
                seq,
                api: p["api"].as_str().unwrap_or_default().to_owned(),
                model: p["model"].as_str().unwrap_or_default().to_owned(),
                request: get(&request)?,
                status: p["status"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| missing("status"))?,
                content_type,
                response: get(&response)?,
            },
        ));
    }
    recorded.sort_by_key(|(group, seq, _)| (*group, *seq));
    Ok(recorded.into_iter().map(|(_, _, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_fields_and_placeholders_do_not_change_the_digest() {
        let options = ReplayOptions {
            placeholders: vec![("<DIR>".into(), vec!["/a/run-1".into(), "/a/run-2".into()])],
        };
        let a = json!({"model": "m", "metadata": {"user_id": "session-1"}, "system": "cwd /a/run-1", "stream": true});
        let b = json!({"stream": true, "system": "cwd /a/run-2", "model": "m", "metadata": {"user_id": "session-2"}});
        assert_eq!(normalize(a, &options).1, normalize(b, &options).1);
        let c = json!({"model": "m", "system": "cwd /elsewhere", "stream": true});
        assert_ne!(
            normalize(c, &options).1,
            normalize(
                json!({"model": "m", "system": "cwd /a/run-1", "stream": true}),
                &options
            )
            .1
        );
    }

    #[test]
    fn differences_are_named_by_pointer() {
        let expected = json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]});
        let cases = [
            (
                json!({"model": "n", "messages": []}),
                "/model is \"n\" where the recording has \"m\"",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "a"}]}),
                "/messages has 1 items where the recording has 2",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}),
                "/messages/1/content is missing from the request",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "tools": []}),
                "/tools is not in the recording",
            ),
        ];
        for (actual, want) in cases {
            let mut path = String::new();
            assert_eq!(
                first_difference(&expected, &actual, &mut path).as_deref(),
                Some(want)
            );
        }
        let mut path = String::new();
        assert_eq!(first_difference(&expected, &expected, &mut path), None);
    }
}
