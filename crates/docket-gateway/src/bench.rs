//! The measurement behind `docket bench gateway`: a fake Anthropic provider and a
//! gateway in this process, the same HTTP client calling each, interleaved, so the
//! difference is what the gateway adds (checks, redaction scan, relay, metering;
//! recording runs beside it, as in a real run). Returns figures; the binary prints.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use axum::serve::ListenerExt;
use docket_ledger::Ledger;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::error::GatewayError;
use crate::{Credential, Gateway, GatewayConfig, Provider, Upstream};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Timed non-streaming requests of each kind (direct, via the gateway).
    pub requests: u32,
    /// Timed streams of each kind.
    pub streams: u32,
    /// Streams through the gateway at once.
    pub concurrent_streams: u32,
    /// Size of each request body (a Claude Code turn is tens of KiB).
    pub request_bytes: usize,
    /// Untimed requests first, to warm connections and caches.
    pub warmup: u32,
    /// A 0600 file holding the fake provider's "real" key.
    pub credential_file: std::path::PathBuf,
}

/// Percentiles of one series, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p99_us: f64,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub requests: u32,
    pub streams: u32,
    pub request_bytes: usize,
    pub stream_bytes: usize,
    /// Non-streaming request latency, fake called directly.
    pub direct: Percentiles,
    /// The same through the gateway.
    pub gateway: Percentiles,
    /// `gateway - direct` at each percentile.
    pub added: Percentiles,
    /// Time to the first body byte of a stream, direct.
    pub stream_ttfb_direct: Percentiles,
    pub stream_ttfb_gateway: Percentiles,
    pub stream_ttfb_added: Percentiles,
    pub concurrent_streams: u32,
    /// Concurrent streams whose bytes arrived identical to what the fake sent.
    pub concurrent_intact: u32,
    pub concurrent_seconds: f64,
    /// Exchanges the gateway recorded in the ledger, and the requests it relayed.
    pub recorded: u64,
    pub relayed: u64,
}

fn fail(reason: impl std::fmt::Display) -> GatewayError {
    GatewayError::Bench {
        reason: reason.to_string(),
    }
}

/// A streamed turn as Anthropic documents it, with enough text to look like one.
fn stream_events() -> Vec<String> {
    let mut events = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":9000,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n".to_owned(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
    ];
    for i in 0..20 {
        events.push(format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"word {i} of the answer, \"}}}}\n\n"
        ));
    }
    events.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            .to_owned(),
    );
    events.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":120}}\n\n".to_owned());
    events.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned());
    events
}

const MESSAGE_JSON: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Done."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9000,"output_tokens":3}}"#;

async fn fake_provider(events: Arc<Vec<Bytes>>, request: Request) -> Response {
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let streamed = serde_json::from_slice::<Value>(&body)
        .map(|v| v["stream"] == true)
        .unwrap_or(false);
    let mut response = if streamed {
        let chunks: Vec<Result<Bytes, Infallible>> = events.iter().cloned().map(Ok).collect();
        let mut r = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        r
    } else {
        let mut r = Response::new(Body::from(MESSAGE_JSON));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        r
    };
    response
        .headers_mut()
        .insert("request-id", header::HeaderValue::from_static("req_bench"));
    response
}

/// A Claude Code-like turn of about `size` bytes: system prompt, tools, history.
fn request_body(size: usize, stream: bool) -> Vec<u8> {
    let words = [
        "the",
        "change",
        "edits",
        "files",
        "inside",
        "repository",
        "tests",
        "should",
        "pass",
        "before",
        "review",
        "function",
        "returns",
        "value",
        "module",
        "reads",
        "config",
    ];
    let mut text = String::new();
    let mut i = 0usize;
    while text.len() < size {
        text.push_str(words[i % words.len()]);
        text.push(if i % 13 == 12 { '\n' } else { ' ' });
        i += 1;
    }
    let quarter = text.len() / 4;
    let (system, rest) = text.split_at(quarter);
    let (tools, history) = rest.split_at(quarter);
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "stream": stream,
        "system": [{"type": "text", "text": system}],
        "tools": [{"name": "Edit", "description": tools, "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": history}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Reading the files."}]},
            {"role": "user", "content": [{"type": "text", "text": "Go on."}]}
        ],
        "metadata": {"user_id": "bench"}
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len().saturating_sub(1)) as f64 * p).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Percentiles {
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

fn added(gateway: Percentiles, direct: Percentiles) -> Percentiles {
    Percentiles {
        p50_us: gateway.p50_us - direct.p50_us,
        p99_us: gateway.p99_us - direct.p99_us,
    }
}

struct Target<'a> {
    url: String,
    key: &'a str,
}

/// One request; returns (time to first body byte, total time, body).
async fn call(
    client: &reqwest::Client,
    target: &Target<'_>,
    body: &Bytes,
) -> Result<(Duration, Duration, Vec<u8>), GatewayError> {
    let started = Instant::now();
    let mut response = client
        .post(&target.url)
        .header("x-api-key", target.key)
        .header("anthropic-version", "2023-06-01")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| fail(crate::server::error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(fail(format!(
            "{} answered {}",
            target.url,
            response.status()
        )));
    }
    let mut first = None;
    let mut all = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        first.get_or_insert_with(|| started.elapsed());
        all.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    Ok((first.unwrap_or(total), total, all))
}

/// Runs the benchmark against a gateway recording into `ledger`.
pub async fn run(options: &BenchOptions, ledger: Arc<Ledger>) -> Result<BenchReport, GatewayError> {
    let events: Vec<String> = stream_events();
    let expected_stream: Vec<u8> = events.concat().into_bytes();
    let events = Arc::new(events.into_iter().map(Bytes::from).collect::<Vec<_>>());
    let app =
        Router::new().fallback(move |request: Request| fake_provider(events.clone(), request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| GatewayError::Bind { source: e.into() })?;
    let fake_addr = listener
        .local_addr()
        .map_err(|e| GatewayError::Bind { source: e.into() })?;
    // Like a real provider, the fake writes each event as it comes: without
    // TCP_NODELAY, Nagle's algorithm would hold the last small events back.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop_fake, fake_stopped) = oneshot::channel::<()>();
    let fake = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = fake_stopped.await;
            })
            .await;
    });

    let config = GatewayConfig::new(
        vec![Upstream {
            name: "bench".into(),
            provider: Provider::Anthropic,
            base_url: format!("http://{fake_addr}"),
            credential: Credential::File(options.credential_file.clone()),
            region: None,
        }],
        vec!["claude-*".into()],
    );
    let gateway = Gateway::start(config, ledger, "bench").await?;
    let result = measure(options, &gateway, fake_addr, &expected_stream).await;
    let summary = gateway.shutdown().await;
    let _ = stop_fake.send(());
    let _ = fake.await;
    let mut report = result?;
    report.recorded = summary.entries.len() as u64;
    report.relayed = summary.requests;
    Ok(report)
}

async fn measure(
    options: &BenchOptions,
    gateway: &Gateway,
    fake_addr: std::net::SocketAddr,
    expected_stream: &[u8],
) -> Result<BenchReport, GatewayError> {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(options.concurrent_streams.max(8) as usize)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let direct = Target {
        url: format!("http://{fake_addr}/v1/messages"),
        key: "bench-direct",
    };
    let via = Target {
        url: format!("{}/v1/messages?beta=true", gateway.anthropic_base_url()),
        key: gateway.dummy_key(),
    };
    let plain = Bytes::from(request_body(options.request_bytes, false));
    let streamed = Bytes::from(request_body(options.request_bytes, true));

    for _ in 0..options.warmup {
        call(&client, &direct, &plain).await?;
        call(&client, &via, &plain).await?;
        call(&client, &direct, &streamed).await?;
        call(&client, &via, &streamed).await?;
    }

    let mut direct_times = Vec::with_capacity(options.requests as usize);
    let mut gateway_times = Vec::with_capacity(options.requests as usize);
    for _ in 0..options.requests {
        direct_times.push(call(&client, &direct, &plain).await?.1);
        gateway_times.push(call(&client, &via, &plain).await?.1);
    }
    let mut direct_ttfb = Vec::with_capacity(options.streams as usize);
    let mut gateway_ttfb = Vec::with_capacity(options.streams as usize);
    for _ in 0..options.streams {
        let (first, _, body) = call(&client, &direct, &streamed).await?;
        if body != expected_stream {
            return Err(fail("the fake's stream arrived changed"));
        }
        direct_ttfb.push(first);
        let (first, _, body) = call(&client, &via, &streamed).await?;
        if body != expected_stream {
            return Err(fail("a stream through the gateway arrived changed"));
        }
        gateway_ttfb.push(first);
    }

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.concurrent_streams {
        let client = client.clone();
        let url = via.url.clone();
        let key = via.key.to_owned();
        let body = streamed.clone();
        tasks.spawn(async move {
            let target = Target { url, key: &key };
            call(&client, &target, &body)
                .await
                .map(|(_, _, bytes)| bytes)
        });
    }
    let mut intact = 0u32;
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Ok(bytes)) = joined
            && bytes == expected_stream
        {
            intact += 1;
        }
    }
    let concurrent_seconds = started.elapsed().as_secs_f64();

    let direct = percentiles(direct_times);
    let gateway_p = percentiles(gateway_times);
    let ttfb_direct = percentiles(direct_ttfb);
    let ttfb_gateway = percentiles(gateway_ttfb);
    Ok(BenchReport {
        requests: options.requests,
        streams: options.streams,
        request_bytes: plain.len(),
        stream_bytes: expected_stream.len(),
        direct,
        gateway: gateway_p,
        added: added(gateway_p, direct),
        stream_ttfb_direct: ttfb_direct,
        stream_ttfb_gateway: ttfb_gateway,
        stream_ttfb_added: added(ttfb_gateway, ttfb_direct),
        concurrent_streams: options.concurrent_streams,
        concurrent_intact: intact,
        concurrent_seconds,
        recorded: 0,
        relayed: 0,
    })
}
