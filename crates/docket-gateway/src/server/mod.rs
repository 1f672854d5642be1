//! The relay: an axum server on 127.0.0.1 that checks each request (dummy key, route,
//! model allowlist, the run's request policy, secrets, limits), forwards it with the
//! real credential (a header, or a SigV4 signature over the bytes sent), and streams
//! the response back as it arrives while a copy is metered and handed to the
//! recorder.
//!
//! This module owns the gateway's life (start, addresses, shutdown), the state every
//! handler shares, and the routing of each request; by concern:
//! - `upstream`: upstreams resolved at start, and the real credential on each request;
//! - `check`: what a request must pass before it may leave, and refusals;
//! - `headers`: which headers cross in each direction, and how they are recorded;
//! - `limits`: running totals, admission against the run's limits, the stop signal;
//! - `relay`: the upstream call and the response streamed back while it is recorded;
//! - `replayed`: a replay gateway, answering from the recording instead of a provider.
//!
//! Invariant: the response body is the upstream's bytes, unchanged and in order; the
//! gateway observes chunks, it never holds one back or rewrites it.

mod check;
mod headers;
mod limits;
mod relay;
mod replayed;
mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use docket_ledger::{Hash, Ledger};
use globset::GlobSet;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::GatewayError;
use crate::protocol::{self, Dialect, Refusal, Route};
use crate::record::{self, Denial, Job, RecordTarget};
use crate::replay::ReplayQueue;
use crate::{
    ExchangeSummary, GatewayConfig, GatewayLimits, GatewaySummary, PriceTable, RedactionMode,
    RequestPolicy,
};

pub(crate) use relay::error_chain;
pub(crate) use upstream::ResolvedUpstream;

use check::allowlist;
use limits::Meter;
use upstream::resolve;

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

/// What every request handler shares.
pub(crate) struct Shared {
    run_id: String,
    /// Random per gateway, so `(run_id, gateway, seq)` names one exchange even when a
    /// run starts several gateways.
    gateway_id: String,
    token: String,
    dummy_key: String,
    upstreams: Vec<ResolvedUpstream>,
    allowlist: GlobSet,
    redaction: RedactionMode,
    limits: GatewayLimits,
    prices: PriceTable,
    timeout: Duration,
    policy: Option<Arc<dyn RequestPolicy>>,
    client: reqwest::Client,
    ledger: Arc<Ledger>,
    seq: AtomicU64,
    meter: Mutex<Meter>,
    stop: watch::Sender<Option<String>>,
    records: mpsc::UnboundedSender<Job>,
    replay: Option<ReplayQueue>,
}

fn random_hex(bytes: usize) -> Result<String, GatewayError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| GatewayError::Random {
        reason: e.to_string(),
    })?;
    Ok(hex::encode(buf))
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

    async fn launch(
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

impl Shared {
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
}

impl RecordTarget for Shared {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn gateway_id(&self) -> &str {
        &self.gateway_id
    }

    fn prices(&self) -> Option<&PriceTable> {
        // A replay's exchanges cost nothing and are recorded as priced by `replay`.
        self.replay.is_none().then_some(&self.prices)
    }

    fn note_entry(&self, index: u64, leaf: Hash, exchange: Option<ExchangeSummary>) {
        Shared::note_entry(self, index, leaf, exchange);
    }

    fn stop(&self, reason: String) {
        Shared::stop(self, reason);
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
