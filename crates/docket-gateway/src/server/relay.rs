//! The relay of one admitted request: the upstream call, and the response streamed
//! back as it arrives while a copy is metered and handed to the recorder.
//!
//! Invariant: the response body is the upstream's bytes, unchanged and in order; the
//! gateway observes chunks, it never holds one back or rewrites it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::Stream;
use futures_util::stream::{BoxStream, StreamExt};

use super::Shared;
use super::headers::response_headers;
use super::upstream::authenticate;
use crate::protocol::{self, Api, Refusal};
use crate::record::{self, Denial, ExchangeCtx, Finished, Outcome, RecordedHeaders, join};
use crate::redact;
use crate::usage::{Usage, UsageMeter};

impl Shared {
    /// One API request: checks, admission, the upstream call, and the relayed
    /// response.
    pub(super) async fn exchange(
        self: Arc<Self>,
        api: Api,
        path_model: Option<&str>,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Body,
    ) -> Response {
        let dialect = api.dialect();
        let seq = self.next_seq();
        let mut denial = Denial::new(seq, Some(api), "POST", path);
        let mut checked = match self
            .check(api, path_model, headers, body, &mut denial)
            .await
        {
            Ok(checked) => checked,
            Err(response) => return response,
        };
        if self.replay.is_some() {
            return self
                .serve_replay(seq, api, path, query, checked, denial)
                .await;
        }
        let Some(upstream) = self.upstream_for(api.provider()) else {
            return self
                .deny(denial, Refusal::no_upstream(api.provider()), dialect)
                .await;
        };
        // Bedrock's path names the model: it is sent in the encoding the AWS SDKs
        // use, whatever the client's, so that the signed bytes are canonical.
        let upstream_path = match api {
            Api::BedrockConverse | Api::BedrockConverseStream => {
                protocol::bedrock_path(api, &checked.model)
            }
            _ => path.to_owned(),
        };
        let url = upstream.url(&upstream_path, query);
        let mut outgoing = std::mem::take(&mut checked.headers);
        if let Err(reason) = authenticate(&upstream.auth, &url, &mut outgoing, &checked.body) {
            let refusal = Refusal::signing_failed(&upstream.name, &redact::clean_text(&reason));
            return self.deny(denial, refusal, dialect).await;
        }
        if let Err((reason, budget)) = self.admit() {
            if let Some(hit) = budget {
                record::append_budget(self.as_ref(), seq, &hit).await;
            }
            return self.deny(denial, Refusal::stopped(&reason), dialect).await;
        }
        self.count_redactions(checked.redactions.len());
        let ctx = checked.exchange(
            seq,
            api,
            &upstream.name,
            Some(upstream.auth.describe()),
            path,
            query,
        );
        let request = self
            .client
            .post(url)
            .timeout(self.timeout)
            .headers(outgoing)
            .body(checked.body);
        match request.send().await {
            Err(e) => {
                let reason = error_chain(&e);
                let (refusal, outcome) = if e.is_timeout() {
                    (
                        Refusal::upstream_timeout(&upstream.name, self.timeout),
                        Outcome::Timeout,
                    )
                } else {
                    (
                        Refusal::unreachable(&upstream.name, &reason),
                        Outcome::Unreachable,
                    )
                };
                tracing::warn!(run_id = %self.run_id, seq, upstream = %upstream.name, error = %reason, "upstream call failed");
                let status = refusal.status(dialect);
                self.complete(Finished::failed(ctx, status.as_u16(), outcome, reason));
                refusal.response(dialect)
            }
            Ok(upstream_response) => {
                let status = upstream_response.status();
                let (passed, recorded) = response_headers(upstream_response.headers());
                let content_type = passed
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let meter = UsageMeter::new(api.usage_format(), content_type);
                let inflight = InFlight {
                    shared: self.clone(),
                    ctx,
                    status: status.as_u16(),
                    headers: recorded,
                    meter,
                    chunks: Vec::new(),
                    first_byte: None,
                };
                let stream = RecordingStream {
                    upstream: upstream_response.bytes_stream().boxed(),
                    inflight: Some(inflight),
                };
                let mut response = Response::new(Body::from_stream(stream));
                *response.status_mut() = status;
                *response.headers_mut() = passed;
                response
            }
        }
    }
}

/// The chain of an error's causes, which says "connection refused" where the
/// top-level message only says "error sending request".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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

/// An exchange whose response is streaming back.
struct InFlight {
    shared: Arc<Shared>,
    ctx: ExchangeCtx,
    status: u16,
    headers: RecordedHeaders,
    meter: UsageMeter,
    chunks: Vec<Bytes>,
    first_byte: Option<Duration>,
}

impl InFlight {
    fn observe(&mut self, chunk: &Bytes) {
        if self.first_byte.is_none() {
            self.first_byte = Some(self.ctx.started.elapsed());
        }
        self.meter.feed(chunk);
        self.chunks.push(chunk.clone());
    }

    fn finish(mut self, outcome: Outcome, error: Option<String>) {
        let latency = self.ctx.started.elapsed();
        if !self.meter.is_streamed() {
            // A JSON body is read whole for its usage (bodies are small; streams are
            // metered event by event as they pass).
            let body = join(std::mem::take(&mut self.chunks));
            self.meter.body(&body);
            self.chunks.push(body);
        }
        let usage: Option<Usage> = self.meter.usage();
        let shared = self.shared.clone();
        shared.complete(Finished {
            ctx: self.ctx,
            status: self.status,
            response_headers: Some(self.headers),
            response: Some(self.chunks),
            usage,
            latency,
            first_byte: self.first_byte,
            outcome,
            error,
            cost_usd: None,
            budget: None,
            replay_of: None,
        });
    }
}

/// The response body: the upstream's chunks, passed on as they come, each shown to
/// the meter and kept for the record. When the stream ends — completely, with an
/// error, or because the agent went away (drop) — the exchange is finished.
struct RecordingStream {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    inflight: Option<InFlight>,
}

impl Stream for RecordingStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.upstream.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(inflight) = &mut this.inflight {
                    inflight.observe(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let reason = error_chain(&e);
                let outcome = if e.is_timeout() {
                    Outcome::Timeout
                } else {
                    Outcome::UpstreamError
                };
                if let Some(inflight) = this.inflight.take() {
                    inflight.finish(outcome, Some(reason.clone()));
                }
                // The agent sees a broken stream, not a clean end.
                Poll::Ready(Some(Err(std::io::Error::other(reason))))
            }
            Poll::Ready(None) => {
                if let Some(inflight) = this.inflight.take() {
                    inflight.finish(Outcome::Complete, None);
                }
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for RecordingStream {
    fn drop(&mut self) {
        if let Some(inflight) = self.inflight.take() {
            inflight.finish(
                Outcome::ClientDisconnected,
                Some("the agent closed the connection before the response ended".into()),
            );
        }
    }
}
