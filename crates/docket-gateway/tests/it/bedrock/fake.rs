//! The fake Bedrock runtime: it checks each request's credential with the
//! independent verifier, answers Converse with JSON and ConverseStream with an event
//! stream framed here, CRCs included, in the shapes of the Bedrock API reference.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::sigv4::{FakeAuth, verify};
use crate::support::Seen;

// --- Event streams, framed here ---------------------------------------------------

fn string_header(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(name.len()).unwrap()];
    out.extend_from_slice(name.as_bytes());
    out.push(7);
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

/// One `application/vnd.amazon.eventstream` message of ConverseStream.
fn event(event_type: &str, payload: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(payload).unwrap();
    let mut headers = string_header(":event-type", event_type);
    headers.extend(string_header(":content-type", "application/json"));
    headers.extend(string_header(":message-type", "event"));
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
    out.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// A ConverseStream answer: 25 uncached input tokens, 100 written to the cache, 12
/// output tokens (events as the Bedrock API reference lists them; real ones carry a
/// `p` padding field, as the second delta does).
pub(super) fn converse_stream() -> Vec<u8> {
    [
        event("messageStart", &json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
        ),
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": ", world"}, "p": "abcdefghijklmnopqr"}),
        ),
        event("contentBlockStop", &json!({"contentBlockIndex": 0})),
        event("messageStop", &json!({"stopReason": "end_turn"})),
        event(
            "metadata",
            &json!({
                "usage": {"inputTokens": 25, "outputTokens": 12, "totalTokens": 137, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 100},
                "metrics": {"latencyMs": 640}
            }),
        ),
    ]
    .concat()
}

/// A Converse answer: 30 uncached input tokens, 1200 read from the cache, 8 output.
pub(super) const CONVERSE_JSON: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Done."}]}},"stopReason":"end_turn","usage":{"inputTokens":30,"outputTokens":8,"totalTokens":1238,"cacheReadInputTokens":1200,"cacheWriteInputTokens":0},"metrics":{"latencyMs":420}}"#;

// --- The fake Bedrock runtime -----------------------------------------------------

struct FakeState {
    auth: FakeAuth,
    seen: Mutex<Vec<Seen>>,
    /// One verdict per request: what was signed, or why the credential failed.
    verdicts: Mutex<Vec<Result<String, String>>>,
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-amzn-ErrorType", kind)
        .body(Body::from(json!({"message": message}).to_string()))
        .unwrap()
}

async fn fake_bedrock(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_owned();
    let verdict = verify(
        &state.auth,
        parts.method.as_str(),
        &path,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &body,
    );
    state.seen.lock().unwrap().push(Seen {
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    state.verdicts.lock().unwrap().push(verdict.clone());
    if let Err(reason) = verdict {
        return aws_error(StatusCode::FORBIDDEN, "InvalidSignatureException", &reason);
    }
    if path.ends_with("/converse-stream") {
        // Sent in pieces that cut through preludes, headers and payloads.
        let stream = converse_stream();
        let chunks: Vec<Result<Bytes, Infallible>> = stream
            .chunks(13)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
            .header("x-amzn-RequestId", "5d6f5d2c-stream")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
    }
    if path.ends_with("/converse") {
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-amzn-RequestId", "5d6f5d2c-json")
            .body(Body::from(CONVERSE_JSON))
            .unwrap();
    }
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "no such operation",
    )
}

pub(super) struct FakeBedrock {
    pub(super) addr: SocketAddr,
    state: Arc<FakeState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeBedrock {
    pub(super) async fn start(auth: FakeAuth) -> FakeBedrock {
        let state = Arc::new(FakeState {
            auth,
            seen: Mutex::new(Vec::new()),
            verdicts: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(fake_bedrock)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
        FakeBedrock {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(super) async fn stop(mut self) -> (Vec<Seen>, Vec<Result<String, String>>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let seen = self.state.seen.lock().unwrap().clone();
        let verdicts = self.state.verdicts.lock().unwrap().clone();
        (seen, verdicts)
    }
}
