//! The relay: an axum server on 127.0.0.1 that checks each request (dummy key, route,
//! model allowlist, the run's request policy, secrets, limits), forwards it with the
//! real credential (a header, or a SigV4 signature over the bytes sent), and streams
//! the response back as it arrives while a copy is metered and handed to the
//! recorder.
//!
//! Invariant: the response body is the upstream's bytes, unchanged and in order; the
//! gateway observes chunks, it never holds one back or rewrites it.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use docket_ledger::Ledger;
use futures_util::Stream;
use futures_util::stream::{BoxStream, StreamExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::credential::{self, UpstreamAuth};
use crate::error::GatewayError;
use crate::protocol::{self, Api, Dialect, Refusal, Route};
use crate::record::{self, BudgetHit, Denial, ExchangeCtx, Finished, Job, Outcome};
use crate::redact::{self, Redaction};
use crate::replay::ReplayQueue;
use crate::usage::{Usage, UsageMeter};
use crate::{
    ExchangeSummary, GatewayConfig, GatewayLimits, GatewaySummary, PolicyDenial, PolicyRequest,
    PriceTable, Provider, RedactionMode, RequestPolicy, Upstream,
};

/// The largest request body relayed (Anthropic's own limit for Messages is 32 MB).
pub(crate) const MAX_REQUEST_BYTES: usize = 32 << 20;

/// Bodies larger than this are scanned on the blocking pool, not on a runtime worker.
const INLINE_SCAN_BYTES: usize = 64 << 10;

/// How long a new upstream connection may take, at most.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One run's gateway. Dropping it without [`Gateway::shutdown`] stops it too, but
/// nobody waits for the last exchanges to be recorded.
pub struct Gateway {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop_rx: watch::Receiver<Option<String>>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    recorder_close: Option<oneshot::Sender<()>>,
    recorder: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .field("run_id", &self.shared.run_id)
            .finish_non_exhaustive()
    }
}

/// An upstream ready for use.
#[derive(Debug)]
pub(crate) struct ResolvedUpstream {
    pub(crate) name: String,
    provider: Provider,
    /// No trailing `/`.
    base: String,
    pub(crate) auth: UpstreamAuth,
}

impl ResolvedUpstream {
    /// The upstream URL of a request path (below the run's base URL) and query.
    fn url(&self, path: &str, query: Option<&str>) -> String {
        let base = match self.base.strip_suffix("/v1") {
            Some(root) if path.starts_with("/v1/") => root,
            _ => &self.base,
        };
        match query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        }
    }
}

/// Running totals, guarded by one lock held only for arithmetic.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    admitted: u64,
    finished: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    denials: u64,
    redactions: u64,
    budget_recorded: bool,
    entries: Vec<(u64, docket_ledger::Hash)>,
    decision_entries: Vec<(u64, docket_ledger::Hash)>,
    exchanges: Vec<ExchangeSummary>,
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) run_id: String,
    /// Random per gateway, so `(run_id, gateway, seq)` names one exchange even when a
    /// run starts several gateways.
    pub(crate) gateway_id: String,
    token: String,
    dummy_key: String,
    upstreams: Vec<ResolvedUpstream>,
    allowlist: GlobSet,
    redaction: RedactionMode,
    limits: GatewayLimits,
    pub(crate) prices: PriceTable,
    pub(crate) timeout: Duration,
    policy: Option<Arc<dyn RequestPolicy>>,
    client: reqwest::Client,
    pub(crate) ledger: Arc<Ledger>,
    seq: AtomicU64,
    meter: Mutex<Meter>,
    stop: watch::Sender<Option<String>>,
    records: mpsc::UnboundedSender<Job>,
    pub(crate) replay: Option<ReplayQueue>,
}

fn random_hex(bytes: usize) -> Result<String, GatewayError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| GatewayError::Random {
        reason: e.to_string(),
    })?;
    Ok(hex::encode(buf))
}

/// `https://`, or `http://` to a loopback address only: the real credential goes
/// there. No user info, query or fragment.
fn check_base_url(name: &str, url: &str) -> Result<String, GatewayError> {
    let bad = |reason: &str| GatewayError::UpstreamUrl {
        upstream: name.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let Some(host) = parsed.host_str() else {
        return Err(bad("it has no host"));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(bad(
                "use https:// (plain http only to a loopback address): the gateway sends the real credential there",
            ));
        }
        other => return Err(bad(&format!("scheme {other:?} is not http(s)"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials do not belong in the URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn allowlist(patterns: &[String]) -> Result<GlobSet, GatewayError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| GatewayError::AllowedModel {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| GatewayError::AllowedModel {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

/// The `base_url` a Bedrock upstream is called at: its own, or its region's runtime
/// endpoint when it is empty. The region must be a region name: it is signed for.
#[cfg(feature = "bedrock")]
fn bedrock_base_url(upstream: &Upstream) -> Result<String, GatewayError> {
    let region = upstream
        .region
        .as_deref()
        .ok_or_else(|| GatewayError::RegionMissing {
            upstream: upstream.name.clone(),
        })?;
    if !crate::aws::is_region(region) {
        return Err(GatewayError::RegionInvalid {
            upstream: upstream.name.clone(),
            region: region.to_owned(),
        });
    }
    Ok(if upstream.base_url.trim().is_empty() {
        crate::aws::default_base_url(region)
    } else {
        upstream.base_url.clone()
    })
}

/// Without the `bedrock` feature a Bedrock upstream cannot be served: refusing to
/// start says so before the run relies on it.
#[cfg(not(feature = "bedrock"))]
fn bedrock_base_url(upstream: &Upstream) -> Result<String, GatewayError> {
    Err(GatewayError::BedrockNotBuilt {
        upstream: upstream.name.clone(),
    })
}

fn resolve(upstream: &Upstream) -> Result<ResolvedUpstream, GatewayError> {
    let base_url = match upstream.provider {
        Provider::Bedrock => bedrock_base_url(upstream)?,
        Provider::Anthropic | Provider::OpenAi | Provider::AzureOpenAi => upstream.base_url.clone(),
    };
    let base = check_base_url(&upstream.name, &base_url)?;
    let auth = credential::load(upstream)?;
    Ok(ResolvedUpstream {
        name: upstream.name.clone(),
        provider: upstream.provider,
        base,
        auth,
    })
}

impl Gateway {
    /// Reads the credentials, binds 127.0.0.1 on a random port and starts serving.
    pub async fn start(
        config: GatewayConfig,
        ledger: Arc<Ledger>,
        run_id: &str,
    ) -> Result<Gateway, GatewayError> {
        let upstreams = config
            .upstreams
            .iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        Gateway::launch(config, upstreams, ledger, run_id, None).await
    }

    pub(crate) async fn launch(
        config: GatewayConfig,
        upstreams: Vec<ResolvedUpstream>,
        ledger: Arc<Ledger>,
        run_id: &str,
        replay: Option<ReplayQueue>,
    ) -> Result<Gateway, GatewayError> {
        if config.request_timeout.is_zero() {
            return Err(GatewayError::Timeout);
        }
        let allowlist = allowlist(&config.allowed_models)?;
        let client = reqwest::Client::builder()
            .connect_timeout(config.request_timeout.min(MAX_CONNECT_TIMEOUT))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| GatewayError::Client {
                reason: e.to_string(),
            })?;
        let listener = tokio::net::TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0))
            .await
            .map_err(|e| GatewayError::Bind { source: e.into() })?;
        let addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Bind { source: e.into() })?;
        let (stop, stop_rx) = watch::channel(None);
        let (records, jobs) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            run_id: run_id.to_owned(),
            gateway_id: random_hex(8)?,
            token: random_hex(16)?,
            dummy_key: format!("sk-docket-{}", random_hex(24)?),
            upstreams,
            allowlist,
            redaction: config.redaction,
            limits: config.limits,
            prices: config.prices,
            timeout: config.request_timeout,
            policy: config.request_policy,
            client,
            ledger,
            seq: AtomicU64::new(0),
            meter: Mutex::new(Meter::default()),
            stop,
            records,
            replay,
        });
        let (recorder_close, close_rx) = oneshot::channel();
        let recorder = tokio::spawn(record::run_recorder(shared.clone(), jobs, close_rx));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            // Small SSE events must not wait for Nagle's algorithm.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the model gateway's server failed");
            }
        });
        tracing::debug!(%addr, run_id, "model gateway started");
        Ok(Gateway {
            shared,
            addr,
            stop_rx,
            shutdown_tx: Some(shutdown_tx),
            server: Some(server),
            recorder_close: Some(recorder_close),
            recorder: Some(recorder),
        })
    }

    /// `ANTHROPIC_BASE_URL` for the Claude CLI, which appends `/v1/messages`.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}/run/{}", self.addr, self.shared.token)
    }

    /// The `base_url` of a Codex custom provider (ends in `/v1`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/run/{}/v1", self.addr, self.shared.token)
    }

    /// The endpoint an Azure OpenAI client appends `/openai/…` to.
    pub fn azure_endpoint(&self) -> String {
        self.anthropic_base_url()
    }

    /// The endpoint a Bedrock runtime client appends `/model/{modelId}/converse` (or
    /// `/converse-stream`) to. It authenticates with the dummy key as a Bedrock API
    /// key (`Authorization: Bearer`).
    pub fn bedrock_base_url(&self) -> String {
        self.anthropic_base_url()
    }

    /// The per-run key the agent sends (`x-api-key`, `Authorization: Bearer` or
    /// `api-key`). It opens this gateway only; no provider accepts it.
    pub fn dummy_key(&self) -> &str {
        &self.shared.dummy_key
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Becomes `Some(reason)` when a limit is reached or recording fails; the run
    /// then stops its agent. Every later request is refused.
    pub fn stopped(&self) -> watch::Receiver<Option<String>> {
        self.stop_rx.clone()
    }

    /// Stops accepting connections, lets in-flight exchanges finish (each is bounded
    /// by the request timeout), waits until every exchange is recorded, and returns
    /// the totals.
    pub async fn shutdown(mut self) -> GatewaySummary {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = self.server.take() {
            let grace = self.shared.timeout + Duration::from_secs(5);
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!(
                    "model gateway connections still open {:.0} s after shutdown; closing them",
                    grace.as_secs_f64()
                );
                server.abort();
                let _ = server.await;
            }
        }
        if let Some(tx) = self.recorder_close.take() {
            let _ = tx.send(());
        }
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.await;
        }
        self.shared.summary()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.recorder_close.take() {
            let _ = tx.send(());
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Request headers never forwarded: hop-by-hop ones, the agent's own credential
/// (replaced by the real one, including what a SigV4 signer adds), and
/// `accept-encoding` (the gateway must read the response to meter it, so it asks for
/// it uncompressed).
const REQUEST_HEADERS_DROPPED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "api-key",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Response headers never passed back: hop-by-hop ones, and the length (the body is
/// re-framed as it streams).
const RESPONSE_HEADERS_DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers named by `Connection:` are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Headers as recorded: `[name, value]` pairs, values redacted for storage.
pub(crate) type RecordedHeaders = Vec<(String, String)>;

/// The headers to forward (secrets in values redacted), how they are recorded, and
/// what was redacted.
fn forward_headers(incoming: &HeaderMap) -> (HeaderMap, RecordedHeaders, Vec<Redaction>) {
    let listed = connection_listed(incoming);
    let mut forwarded = HeaderMap::with_capacity(incoming.len());
    let mut recorded = Vec::with_capacity(incoming.len());
    let mut found = Vec::new();
    for (name, value) in incoming {
        let lower = name.as_str();
        if REQUEST_HEADERS_DROPPED.contains(&lower) || listed.iter().any(|l| l == lower) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        let location = format!("header:{lower}");
        match redact::redact_text(&text, &location) {
            None => {
                forwarded.append(name.clone(), value.clone());
                recorded.push((lower.to_owned(), text.into_owned()));
            }
            Some((redacted, mut hits)) => {
                found.append(&mut hits);
                if let Ok(clean) = HeaderValue::from_str(&redacted) {
                    forwarded.append(name.clone(), clean);
                }
                recorded.push((lower.to_owned(), redacted));
            }
        }
    }
    (forwarded, recorded, found)
}

/// The response headers passed back to the agent, and as recorded.
fn response_headers(upstream: &HeaderMap) -> (HeaderMap, RecordedHeaders) {
    let listed = connection_listed(upstream);
    let mut passed = HeaderMap::with_capacity(upstream.len());
    let mut recorded = Vec::with_capacity(upstream.len());
    for (name, value) in upstream {
        let lower = name.as_str();
        if RESPONSE_HEADERS_DROPPED.contains(&lower) || listed.iter().any(|l| l == lower) {
            continue;
        }
        passed.append(name.clone(), value.clone());
        let text = redact::clean_text(&String::from_utf8_lossy(value.as_bytes()));
        recorded.push((lower.to_owned(), text));
    }
    (passed, recorded)
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

/// Everything checked about a request before it may leave: what is sent, and what
/// is recorded of it.
pub(crate) struct Checked {
    pub(crate) model: String,
    pub(crate) body: Bytes,
    pub(crate) value: Value,
    pub(crate) headers: HeaderMap,
    pub(crate) recorded_headers: RecordedHeaders,
    pub(crate) redactions: Vec<Redaction>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Meter> {
        // A poisoned lock only means a panic elsewhere; the totals are still valid.
        self.meter.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The path below `/run/<token>`, or `None` for a path outside this run.
    fn below_base<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path
            .strip_prefix("/run/")?
            .strip_prefix(self.token.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let key = self.dummy_key.as_bytes();
        let direct = ["x-api-key", "api-key"]
            .iter()
            .filter_map(|name| headers.get(*name))
            .any(|value| constant_time_eq(value.as_bytes(), key));
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .any(|token| constant_time_eq(token.as_bytes(), key));
        direct || bearer
    }

    fn upstream_for(&self, provider: Provider) -> Option<&ResolvedUpstream> {
        self.upstreams.iter().find(|u| u.provider == provider)
    }

    /// Sets the stop reason; the first reason stays.
    pub(crate) fn stop(&self, reason: String) {
        let stopped = self.stop.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.clone());
                true
            } else {
                false
            }
        });
        if stopped {
            tracing::warn!(run_id = %self.run_id, reason, "model gateway stopped the run");
        }
    }

    /// The first limit `meter` has reached, judged on finished exchanges.
    fn limit_reached(&self, m: &Meter, requests: u64) -> Option<BudgetHit> {
        let limits = &self.limits;
        let tokens = m.input_tokens.saturating_add(m.output_tokens);
        let hit = if let Some(max) = limits.max_requests
            && requests >= max
        {
            Some((
                "max_requests",
                serde_json::json!(max),
                format!("model request limit reached: {requests} of {max} requests"),
            ))
        } else if let Some(max) = limits.max_tokens
            && tokens >= max
        {
            Some((
                "max_tokens",
                serde_json::json!(max),
                format!("model token limit reached: {tokens} of {max} tokens"),
            ))
        } else if let Some(max) = limits.max_cost_usd
            && m.cost_usd >= max
        {
            Some((
                "max_cost_usd",
                serde_json::json!(max),
                format!("model cost limit reached: ${:.4} of ${max:.4}", m.cost_usd),
            ))
        } else {
            None
        };
        hit.map(|(limit, value, reason)| BudgetHit {
            limit,
            value,
            reason,
            requests,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
            cost_usd: m.cost_usd,
        })
    }

    /// Lets a request through, or says why not. A limit hit here for the first time
    /// comes back to be recorded.
    pub(crate) fn admit(&self) -> Result<(), (String, Option<Box<BudgetHit>>)> {
        if let Some(reason) = self.stop.borrow().clone() {
            return Err((reason, None));
        }
        let mut m = self.lock();
        let admitted = m.admitted;
        if let Some(hit) = self.limit_reached(&m, admitted) {
            let first = !m.budget_recorded;
            m.budget_recorded = true;
            drop(m);
            self.stop(hit.reason.clone());
            return Err((hit.reason.clone(), first.then(|| Box::new(hit))));
        }
        m.admitted += 1;
        Ok(())
    }

    /// Accounts a finished exchange and hands it to the recorder.
    pub(crate) fn complete(&self, mut finished: Finished) {
        let usage = finished.usage;
        let cost = match (&self.replay, usage) {
            (Some(_), _) => Some(0.0),
            (None, Some(usage)) => self.prices.cost(&finished.ctx.model, &usage),
            (None, None) => None,
        };
        finished.cost_usd = cost;
        let budget = {
            let mut m = self.lock();
            m.finished += 1;
            if let Some(usage) = usage {
                m.input_tokens = m.input_tokens.saturating_add(usage.input_tokens);
                m.output_tokens = m.output_tokens.saturating_add(usage.output_tokens);
            }
            m.cost_usd += cost.unwrap_or(0.0);
            let finished_count = m.finished;
            match self.limit_reached(&m, finished_count) {
                Some(hit) if !m.budget_recorded => {
                    m.budget_recorded = true;
                    Some(hit)
                }
                _ => None,
            }
        };
        if let Some(hit) = &budget {
            self.stop(hit.reason.clone());
        }
        finished.budget = budget;
        if self
            .records
            .send(Job::Exchange(Box::new(finished)))
            .is_err()
        {
            tracing::error!(run_id = %self.run_id, "an exchange finished after the gateway shut down; it is not recorded");
        }
    }

    pub(crate) fn note_entry(
        &self,
        index: u64,
        leaf: docket_ledger::Hash,
        exchange: Option<ExchangeSummary>,
    ) {
        let mut m = self.lock();
        match exchange {
            Some(summary) => {
                m.entries.push((index, leaf));
                m.exchanges.push(summary);
            }
            None => m.decision_entries.push((index, leaf)),
        }
    }

    fn summary(&self) -> GatewaySummary {
        let mut m = self.lock();
        m.entries.sort_by_key(|(index, _)| *index);
        m.decision_entries.sort_by_key(|(index, _)| *index);
        m.exchanges.sort_by_key(|e| e.index);
        GatewaySummary {
            requests: m.admitted,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
            cost_usd: m.cost_usd,
            denials: m.denials,
            redactions: m.redactions,
            stop: self.stop.borrow().clone(),
            entries: m.entries.clone(),
            decision_entries: m.decision_entries.clone(),
            exchanges: m.exchanges.clone(),
        }
    }

    /// Records a refusal and answers it.
    pub(crate) async fn deny(
        self: &Arc<Self>,
        denial: Denial,
        refusal: Refusal,
        dialect: Dialect,
    ) -> Response {
        self.lock().denials += 1;
        tracing::info!(run_id = %self.run_id, seq = denial.seq, reason = refusal.code, "model request refused");
        record::append_denial(self, denial, &refusal).await;
        refusal.response(dialect)
    }

    /// Checks one API request up to the point where it may be sent: the dummy key,
    /// the body, the model, the allowlist and secrets. `Err` is the refusal, already
    /// recorded and answered.
    async fn check(
        self: &Arc<Self>,
        api: Api,
        path_model: Option<&str>,
        headers: &HeaderMap,
        body: Body,
        denial: &mut Denial,
    ) -> Result<Checked, Response> {
        let dialect = api.dialect();
        if !self.authorized(headers) {
            return Err(self
                .deny(denial.clone(), Refusal::unauthenticated(), dialect)
                .await);
        }
        let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
            return Err(self
                .deny(
                    denial.clone(),
                    Refusal::too_large(MAX_REQUEST_BYTES),
                    dialect,
                )
                .await);
        };
        let value = match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if value.is_object() => value,
            Ok(_) => {
                let refusal = Refusal::bad_request("the request body is not a JSON object".into());
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
            Err(e) => {
                let refusal = Refusal::bad_request(format!("the request body is not JSON: {e}"));
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
        };
        let (value, mut redactions) = if bytes.len() > INLINE_SCAN_BYTES {
            let scanned = tokio::task::spawn_blocking(move || {
                let mut value = value;
                let found = redact::redact_json(&mut value);
                (value, found)
            })
            .await;
            match scanned {
                Ok(scanned) => scanned,
                Err(e) => {
                    // Fail closed: an unscanned body never leaves.
                    let refusal = Refusal::bad_request(format!("the secret scan failed: {e}"));
                    return Err(self.deny(denial.clone(), refusal, dialect).await);
                }
            }
        } else {
            let mut value = value;
            let found = redact::redact_json(&mut value);
            (value, found)
        };
        let (forwarded, recorded_headers, mut header_redactions) = forward_headers(headers);
        redactions.append(&mut header_redactions);
        let body = if redactions.is_empty() {
            bytes
        } else {
            match serde_json::to_vec(&value) {
                Ok(body) => Bytes::from(body),
                Err(e) => {
                    let refusal =
                        Refusal::bad_request(format!("the redacted body cannot be encoded: {e}"));
                    return Err(self.deny(denial.clone(), refusal, dialect).await);
                }
            }
        };
        denial.request = Some(body.clone());
        denial.redactions = redactions.clone();
        let model = match protocol::model_of(&value, path_model) {
            Ok(model) => model,
            Err(message) => {
                return Err(self
                    .deny(denial.clone(), Refusal::bad_request(message), dialect)
                    .await);
            }
        };
        // The body's model is already redacted; a model from the path is not.
        let shown = redact::clean_text(&model);
        denial.model = Some(shown.clone());
        if self.replay.is_none() && !self.allowlist.is_match(&model) {
            return Err(self
                .deny(denial.clone(), Refusal::model_not_allowed(&shown), dialect)
                .await);
        }
        if let Some(policy) = &self.policy {
            let request = PolicyRequest {
                api: api.name(),
                provider: api.provider(),
                model: &model,
            };
            if let Some(refused) = ask_policy(policy.as_ref(), &request) {
                // What is recorded and answered goes through the scanner like the rest.
                let mut evidence = refused.evidence;
                redact::redact_json(&mut evidence);
                denial.policy = Some(evidence);
                let refusal = Refusal::policy_denied(&shown, &redact::clean_text(&refused.message));
                return Err(self.deny(denial.clone(), refusal, dialect).await);
            }
        }
        if !redactions.is_empty() && self.redaction == RedactionMode::Block {
            let mut rules: Vec<&str> = redactions.iter().map(|r| r.rule).collect();
            rules.dedup();
            let refusal = Refusal::secret_detected(&rules.join(", "));
            return Err(self.deny(denial.clone(), refusal, dialect).await);
        }
        Ok(Checked {
            model,
            body,
            value,
            headers: forwarded,
            recorded_headers,
            redactions,
        })
    }

    /// One API request: checks, admission, the upstream call, and the relayed
    /// response.
    async fn exchange(
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
            return crate::replay::serve(&self, seq, api, path, query, checked, denial).await;
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
                record::append_budget(&self, seq, &hit).await;
            }
            return self.deny(denial, Refusal::stopped(&reason), dialect).await;
        }
        self.lock().redactions += checked.redactions.len() as u64;
        let ctx = ExchangeCtx::new(
            seq,
            api,
            &upstream.name,
            upstream.auth.describe(),
            path,
            query,
            &checked,
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

/// Every request under 127.0.0.1:PORT lands here.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(path) = shared.below_base(parts.uri.path()) else {
        // Not this run's base URL: nothing to record.
        return StatusCode::NOT_FOUND.into_response();
    };
    let query = parts.uri.query();
    match protocol::classify(&parts.method, path) {
        Route::Warmup => StatusCode::OK.into_response(),
        Route::Api { api, path_model } if api.relayed() => {
            shared
                .exchange(
                    api,
                    path_model.as_deref(),
                    path,
                    query,
                    &parts.headers,
                    body,
                )
                .await
        }
        route => {
            let dialect = match &route {
                Route::Api { api, .. } => api.dialect(),
                _ => Dialect::guess(path, &parts.headers),
            };
            let seq = shared.next_seq();
            let denial = Denial::new(seq, None, parts.method.as_str(), path);
            let refusal = if !shared.authorized(&parts.headers) {
                Refusal::unauthenticated()
            } else if matches!(route, Route::Api { .. }) {
                Refusal::bedrock_not_built(path)
            } else {
                Refusal::unknown_route(&parts.method, path)
            };
            shared.deny(denial, refusal, dialect).await
        }
    }
}

/// Adds the credential to a request about to be sent: the provider's header, or the
/// SigV4 headers computed over exactly these headers, URL and body (so it runs after
/// redaction, on the bytes that leave).
#[cfg_attr(not(feature = "bedrock"), allow(unused_variables))]
fn authenticate(
    auth: &UpstreamAuth,
    url: &str,
    headers: &mut HeaderMap,
    body: &Bytes,
) -> Result<(), String> {
    match auth {
        UpstreamAuth::Header(header) => {
            headers.insert(header.name.clone(), header.value.clone());
            Ok(())
        }
        #[cfg(feature = "bedrock")]
        UpstreamAuth::SigV4(signer) => {
            // Signed: the content type (what the body is); `host` comes from the URL,
            // the body by its hash. SigV4 lets the signer choose the headers it
            // covers: the other forwarded ones travel unsigned.
            let content_types: Vec<&str> = headers
                .get_all(header::CONTENT_TYPE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let signed: Vec<(&str, &str)> = content_types
                .iter()
                .map(|value| ("content-type", *value))
                .collect();
            let added = signer.sign("POST", url, &signed, body, std::time::SystemTime::now())?;
            for (name, value) in added {
                headers.insert(name, value);
            }
            Ok(())
        }
    }
}

/// Asks the request policy; a policy that panics denies (fail closed).
fn ask_policy(policy: &dyn RequestPolicy, request: &PolicyRequest<'_>) -> Option<PolicyDenial> {
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.check(request)));
    match verdict {
        Ok(Ok(())) => None,
        Ok(Err(denial)) => Some(denial),
        Err(_) => Some(PolicyDenial {
            message: "the request policy failed (it panicked), so the request is refused".into(),
            evidence: serde_json::json!({"error": "the request policy panicked"}),
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    fn upstream(provider: Provider, base: &str, region: Option<&str>) -> Upstream {
        Upstream {
            name: "u".into(),
            provider,
            base_url: base.into(),
            credential: crate::Credential::Env("PATH".into()),
            region: region.map(str::to_owned),
        }
    }

    fn resolved(base: &str) -> ResolvedUpstream {
        resolve(&upstream(Provider::OpenAi, base, None)).unwrap()
    }

    #[test]
    fn upstream_urls_keep_paths_and_queries_and_do_not_double_v1() {
        assert_eq!(
            resolved("https://api.openai.com").url("/v1/responses", None),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            resolved("https://api.openai.com/v1/").url("/v1/responses", None),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            resolved("https://r.openai.azure.com").url(
                "/openai/deployments/d/chat/completions",
                Some("api-version=2024-10-21")
            ),
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            resolved("http://127.0.0.1:9/proxy").url("/v1/messages", Some("beta=true")),
            "http://127.0.0.1:9/proxy/v1/messages?beta=true"
        );
    }

    #[test]
    fn base_urls_must_be_https_or_loopback() {
        for ok in [
            "https://api.anthropic.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(check_base_url("u", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://api.anthropic.com", "use https://"),
            ("https://user:pw@api.example.com", "credentials"),
            ("https://api.example.com/?key=1", "query"),
            ("ftp://x", "scheme"),
            ("not a url", "not usable"),
        ] {
            let err = check_base_url("u", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("upstream u"), "{err}");
        }
    }

    #[cfg(feature = "bedrock")]
    #[test]
    fn bedrock_upstreams_need_a_region_and_default_to_its_endpoint() {
        let resolved = resolve(&upstream(Provider::Bedrock, "", Some("eu-west-3"))).unwrap();
        assert_eq!(
            resolved.url("/model/m/converse", None),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m/converse"
        );
        let resolved = resolve(&upstream(
            Provider::Bedrock,
            "http://127.0.0.1:9",
            Some("us-east-1"),
        ))
        .unwrap();
        assert_eq!(resolved.base, "http://127.0.0.1:9");
        let err = resolve(&upstream(Provider::Bedrock, "", None))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "upstream u: a bedrock upstream needs its AWS region (e.g. us-east-1)"
        );
        let err = resolve(&upstream(Provider::Bedrock, "", Some("evil.example/x")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"evil.example/x\" is not an AWS region name"),
            "{err}"
        );
    }

    #[cfg(not(feature = "bedrock"))]
    #[tokio::test]
    async fn without_the_feature_a_bedrock_upstream_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(
            Ledger::open(&docket_ledger::LedgerConfig::sqlite_in(
                dir.path().join("home"),
            ))
            .await
            .unwrap(),
        );
        let config = GatewayConfig::new(
            vec![upstream(Provider::Bedrock, "", Some("us-east-1"))],
            vec!["*".into()],
        );
        let err = Gateway::start(config, ledger, "r").await.unwrap_err();
        assert!(matches!(err, GatewayError::BedrockNotBuilt { .. }));
        assert_eq!(
            err.to_string(),
            "upstream u: this docket was built without the `bedrock` feature; rebuild with --features bedrock"
        );
    }

    #[test]
    fn hop_by_hop_and_agent_credentials_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-api-key", "dummy"),
            ("authorization", "Bearer dummy"),
            ("api-key", "dummy"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("accept-encoding", "gzip"),
            ("content-length", "10"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "a,b"),
            ("x-app", "cli"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-security-token", "agent-token"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let (forwarded, recorded, found) = forward_headers(&headers);
        let names: Vec<&str> = forwarded.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, vec!["anthropic-version", "anthropic-beta", "x-app"]);
        assert_eq!(recorded.len(), 3);
        assert!(found.is_empty());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
