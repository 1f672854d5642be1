//! Recording: every exchange, refusal and limit decision becomes a ledger entry
//! (`model.exchange`, `model.denial`, `model.budget`), with request and response
//! bodies in the blob store. The recorder task takes finished exchanges from the
//! relay without ever making it wait, and writes them concurrently (the ledger
//! gathers the appends into group commits).
//!
//! Invariants: a body is stored only after the secret scanner has run over it (a
//! stored body that differs from the wire because of this says so); a failure to
//! record stops the gateway, which then refuses every request (no unrecorded
//! traffic).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use docket_ledger::{BlobError, BlobStore, Digest256, Hash, Ledger, NewEntry};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::protocol::{Api, Refusal};
use crate::redact::{self, Redaction, clean_text};
use crate::usage::Usage;
use crate::{ExchangeSummary, PriceTable};

pub(crate) const KIND_EXCHANGE: &str = "model.exchange";
pub(crate) const KIND_DENIAL: &str = "model.denial";
pub(crate) const KIND_BUDGET: &str = "model.budget";
pub(crate) const SCHEMA_EXCHANGE: &str = "docket.model-exchange/v1";
const SCHEMA_DENIAL: &str = "docket.model-denial/v1";
const SCHEMA_BUDGET: &str = "docket.model-budget/v1";

/// The gateway a recording belongs to, as the recorder sees it: where entries go,
/// whose they are, how exchanges are priced, and where each appended entry — or a
/// failure to record — is reported. The relay's shared state implements it, so that
/// recording sits below the relay and knows nothing else about it.
pub(crate) trait RecordTarget: Send + Sync {
    fn ledger(&self) -> &Ledger;
    fn run_id(&self) -> &str;
    /// Random per gateway, so `(run_id, gateway, seq)` names one exchange.
    fn gateway_id(&self) -> &str;
    /// The prices exchanges are costed with; `None` for a replay, whose exchanges
    /// cost nothing.
    fn prices(&self) -> Option<&PriceTable>;
    /// An entry was appended: its index and leaf hash, and the exchange's summary
    /// when it is a `model.exchange`.
    fn note_entry(&self, index: u64, leaf: Hash, exchange: Option<ExchangeSummary>);
    /// Recording failed: the gateway must stop and refuse every later request (no
    /// unrecorded traffic).
    fn stop(&self, reason: String);
}

/// Headers as recorded: `[name, value]` pairs, values redacted for storage.
pub(crate) type RecordedHeaders = Vec<(String, String)>;

/// A body whole, from the chunks it arrived in.
pub(crate) fn join(chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.into_iter().next().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
            for chunk in &chunks {
                all.extend_from_slice(chunk);
            }
            Bytes::from(all)
        }
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream's response arrived whole (whatever its status).
    Complete,
    /// The upstream's stream broke off.
    UpstreamError,
    /// The agent closed the connection first.
    ClientDisconnected,
    /// `request_timeout` ran out.
    Timeout,
    /// No response at all: connection refused, DNS, TLS.
    Unreachable,
    /// Served from a recording.
    Replayed,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::UpstreamError => "upstream_error",
            Outcome::ClientDisconnected => "client_disconnected",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Replayed => "replayed",
        }
    }
}

/// A request as it was sent upstream, and when.
#[derive(Debug)]
pub(crate) struct ExchangeCtx {
    pub(crate) seq: u64,
    pub(crate) api: Api,
    pub(crate) upstream: String,
    /// `x-api-key from env:ANTHROPIC_API_KEY`, `aws-sigv4 (bedrock, us-east-1) from
    /// file:…`: which credential and how it was applied, never a value or signature.
    pub(crate) credential: Option<String>,
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) request: Bytes,
    pub(crate) headers: RecordedHeaders,
    pub(crate) redactions: Vec<Redaction>,
    pub(crate) started_at: Timestamp,
    pub(crate) started: Instant,
}

/// A limit reached, with the usage that reached it.
#[derive(Debug, Clone)]
pub(crate) struct BudgetHit {
    pub(crate) limit: &'static str,
    pub(crate) value: Value,
    pub(crate) reason: String,
    pub(crate) requests: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: f64,
}

/// A finished exchange on its way to the ledger.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) ctx: ExchangeCtx,
    /// Status returned to the agent.
    pub(crate) status: u16,
    /// `None` when no response came (unreachable, timeout before headers).
    pub(crate) response_headers: Option<RecordedHeaders>,
    pub(crate) response: Option<Vec<Bytes>>,
    pub(crate) usage: Option<Usage>,
    pub(crate) latency: Duration,
    pub(crate) first_byte: Option<Duration>,
    pub(crate) outcome: Outcome,
    pub(crate) error: Option<String>,
    pub(crate) cost_usd: Option<f64>,
    /// A limit this exchange reached: recorded right after it.
    pub(crate) budget: Option<BudgetHit>,
    /// The `seq` of the recorded exchange a replay served.
    pub(crate) replay_of: Option<u64>,
}

impl Finished {
    pub(crate) fn failed(
        ctx: ExchangeCtx,
        status: u16,
        outcome: Outcome,
        error: String,
    ) -> Finished {
        Finished {
            latency: ctx.started.elapsed(),
            ctx,
            status,
            response_headers: None,
            response: None,
            usage: None,
            first_byte: None,
            outcome,
            error: Some(error),
            cost_usd: None,
            budget: None,
            replay_of: None,
        }
    }
}

/// A refused request.
#[derive(Debug, Clone)]
pub(crate) struct Denial {
    pub(crate) seq: u64,
    pub(crate) api: Option<Api>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) model: Option<String>,
    /// The body as it would have been sent (redacted), once it was read.
    pub(crate) request: Option<Bytes>,
    pub(crate) redactions: Vec<Redaction>,
    /// The request policy's evidence, for a `policy_denied` refusal.
    pub(crate) policy: Option<Value>,
}

impl Denial {
    pub(crate) fn new(seq: u64, api: Option<Api>, method: &str, path: &str) -> Denial {
        Denial {
            seq,
            api,
            method: method.to_owned(),
            path: path.to_owned(),
            model: None,
            request: None,
            redactions: Vec::new(),
            policy: None,
        }
    }
}

pub(crate) enum Job {
    Exchange(Box<Finished>),
}

/// Records jobs until `close`, then drains what is queued and waits for every write.
pub(crate) async fn run_recorder(
    target: Arc<dyn RecordTarget>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut close: oneshot::Receiver<()>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    tasks.spawn(record_job(target.clone(), job));
                }
                None => break,
            },
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "a model exchange recording task failed");
                }
            }
            _ = &mut close => break,
        }
    }
    jobs.close();
    while let Some(job) = jobs.recv().await {
        tasks.spawn(record_job(target.clone(), job));
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "a model exchange recording task failed");
        }
    }
}

async fn record_job(target: Arc<dyn RecordTarget>, job: Job) {
    match job {
        Job::Exchange(finished) => record_exchange(target.as_ref(), *finished).await,
    }
}

/// A body in the blob store: its digest, its size on the wire, and what the storage
/// scan redacted (empty when the stored bytes are the wire bytes).
struct StoredBody {
    digest: Digest256,
    bytes: usize,
    redactions: Vec<Redaction>,
}

fn store_body(blobs: &BlobStore, bytes: &[u8]) -> Result<StoredBody, BlobError> {
    let (redacted, redactions) = redact::redact_bytes(bytes);
    let digest = blobs.put(redacted.as_deref().unwrap_or(bytes))?;
    Ok(StoredBody {
        digest,
        bytes: bytes.len(),
        redactions,
    })
}

/// Stores bodies on the blocking pool (blob writes fsync).
async fn store_bodies(
    target: &dyn RecordTarget,
    bodies: Vec<Bytes>,
) -> Result<Vec<StoredBody>, String> {
    let blobs = target.ledger().blobs().clone();
    tokio::task::spawn_blocking(move || {
        bodies
            .iter()
            .map(|body| store_body(&blobs, body))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn headers_json(headers: &RecordedHeaders) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(name, value)| json!([name, value]))
            .collect(),
    )
}

fn body_json(stored: &StoredBody, redactions_before: Option<&[Redaction]>) -> Value {
    let mut body = json!({
        "digest": stored.digest.to_string(),
        "bytes": stored.bytes,
        "stored_redacted": !stored.redactions.is_empty(),
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(before) = redactions_before {
            map.insert("redactions".into(), json!(before));
        }
        if !stored.redactions.is_empty() {
            map.insert("stored_redactions".into(), json!(stored.redactions));
        }
    }
    body
}

async fn record_exchange(target: &dyn RecordTarget, mut f: Finished) {
    let seq = f.ctx.seq;
    let mut bodies = vec![f.ctx.request.clone()];
    let response = f.response.take().map(join);
    if let Some(response) = &response {
        bodies.push(response.clone());
    }
    let stored = match store_bodies(target, bodies).await {
        Ok(stored) => stored,
        Err(e) => {
            target.stop(format!(
                "recording model exchange {seq} failed: cannot store its bodies: {e}"
            ));
            return;
        }
    };
    let mut stored = stored.into_iter();
    let (Some(request), response) = (stored.next(), stored.next()) else {
        return;
    };
    let price = match target.prices() {
        None => json!("replay"),
        Some(prices) => match prices.lookup(&f.ctx.model) {
            Some(p) => json!({
                "table": prices.checked(),
                "pattern": p.pattern,
                "input": p.input,
                "output": p.output,
                "cache_write": p.cache_write.unwrap_or(p.input),
                "cache_read": p.cache_read.unwrap_or(p.input),
            }),
            None => json!("unknown"),
        },
    };
    let response_json = match (&response, &f.response_headers) {
        (Some(stored), headers) => {
            let mut body = body_json(stored, None);
            if let (Some(map), Some(headers)) = (body.as_object_mut(), headers) {
                map.insert("headers".into(), headers_json(headers));
            }
            body
        }
        (None, _) => Value::Null,
    };
    let ctx = &f.ctx;
    let mut request_json = body_json(&request, Some(&ctx.redactions));
    if let Some(map) = request_json.as_object_mut() {
        map.insert("method".into(), json!("POST"));
        map.insert("path".into(), json!(ctx.path));
        map.insert("query".into(), json!(ctx.query));
        map.insert("headers".into(), headers_json(&ctx.headers));
        map.insert("credential".into(), json!(ctx.credential));
    }
    let payload = json!({
        "schema": SCHEMA_EXCHANGE,
        "run_id": target.run_id(),
        "gateway": target.gateway_id(),
        "seq": seq,
        "api": ctx.api.name(),
        "provider": ctx.api.provider().as_str(),
        "upstream": ctx.upstream,
        "model": ctx.model,
        "stream": ctx.stream,
        "status": f.status,
        "outcome": f.outcome.as_str(),
        "error": f.error,
        "started_at": docket_ledger::entry::format_time(ctx.started_at),
        "latency_us": micros(f.latency),
        "ttfb_us": f.first_byte.map(micros),
        "usage": f.usage,
        "cost_usd": f.cost_usd,
        "price": price,
        "replay_of": f.replay_of,
        "request": request_json,
        "response": response_json,
    });
    let mut blobs = vec![request.digest];
    blobs.extend(response.as_ref().map(|r| r.digest));
    let entry = NewEntry::new(KIND_EXCHANGE, payload).with_blobs(blobs);
    match target.ledger().append(entry).await {
        Ok(appended) => {
            let summary = ExchangeSummary {
                seq,
                index: appended.index,
                leaf_hash: appended.leaf_hash,
                api: ctx.api.name(),
                upstream: ctx.upstream.clone(),
                model: ctx.model.clone(),
                status: f.status,
                outcome: f.outcome.as_str(),
                usage: f.usage.unwrap_or_default(),
                cost_usd: f.cost_usd,
                latency: f.latency,
                time_to_first_byte: f.first_byte,
                request_digest: request.digest,
                response_digest: response.as_ref().map(|r| r.digest),
            };
            target.note_entry(appended.index, appended.leaf_hash, Some(summary));
        }
        Err(e) => {
            target.stop(format!("recording model exchange {seq} failed: {e}"));
            return;
        }
    }
    if let Some(hit) = &f.budget {
        append_budget(target, seq, hit).await;
    }
}

/// Records the limit decision that stops the run.
pub(crate) async fn append_budget(target: &dyn RecordTarget, seq: u64, hit: &BudgetHit) {
    let payload = json!({
        "schema": SCHEMA_BUDGET,
        "run_id": target.run_id(),
        "gateway": target.gateway_id(),
        "seq": seq,
        "decision": "stop",
        "limit": hit.limit,
        "limit_value": hit.value,
        "reason": hit.reason,
        "usage": {
            "requests": hit.requests,
            "input_tokens": hit.input_tokens,
            "output_tokens": hit.output_tokens,
            "cost_usd": hit.cost_usd,
        },
    });
    match target
        .ledger()
        .append(NewEntry::new(KIND_BUDGET, payload))
        .await
    {
        Ok(appended) => target.note_entry(appended.index, appended.leaf_hash, None),
        Err(e) => target.stop(format!("recording the model budget decision failed: {e}")),
    }
}

/// Records a refused request (with its redacted body, when it was read).
pub(crate) async fn append_denial(target: &dyn RecordTarget, denial: Denial, refusal: &Refusal) {
    let stored = match &denial.request {
        Some(body) => match store_bodies(target, vec![body.clone()]).await {
            Ok(stored) => stored.into_iter().next(),
            Err(e) => {
                target.stop(format!(
                    "recording model denial {} failed: cannot store its body: {e}",
                    denial.seq
                ));
                return;
            }
        },
        None => None,
    };
    let request = match &stored {
        Some(stored) => body_json(stored, Some(&denial.redactions)),
        None => Value::Null,
    };
    let mut payload = json!({
        "schema": SCHEMA_DENIAL,
        "run_id": target.run_id(),
        "gateway": target.gateway_id(),
        "seq": denial.seq,
        "reason": refusal.code,
        "message": refusal.message,
        "api": denial.api.map(Api::name),
        "method": denial.method,
        "path": clean_text(&denial.path),
        "model": denial.model,
        "request": request,
    });
    if let (Some(map), Some(evidence)) = (payload.as_object_mut(), denial.policy) {
        map.insert("policy".into(), evidence);
    }
    let entry =
        NewEntry::new(KIND_DENIAL, payload).with_blobs(stored.iter().map(|s| s.digest).collect());
    match target.ledger().append(entry).await {
        Ok(appended) => target.note_entry(appended.index, appended.leaf_hash, None),
        Err(e) => target.stop(format!("recording model denial {} failed: {e}", denial.seq)),
    }
}
