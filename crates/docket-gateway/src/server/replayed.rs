//! A replay gateway: starting one over a run's recorded exchanges, and answering each
//! checked request from the recording (matched by `crate::replay`) instead of calling
//! a provider. The answer is recorded like any exchange, as `replayed`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_ledger::Ledger;

use super::check::Checked;
use super::{Gateway, Shared};
use crate::error::GatewayError;
use crate::protocol::{Api, Refusal};
use crate::record::{Denial, Finished, Outcome};
use crate::replay::{Recorded, ReplayOptions, ReplayQueue};
use crate::usage::UsageMeter;
use crate::{GatewayConfig, GatewayLimits, PriceTable, RedactionMode, RequestPolicy};

impl Gateway {
    /// A gateway that serves `recorded` instead of calling any provider.
    pub async fn start_replay(
        recorded: Vec<Recorded>,
        ledger: Arc<Ledger>,
        run_id: &str,
    ) -> Result<Gateway, GatewayError> {
        Gateway::start_replay_with(recorded, ledger, run_id, ReplayOptions::default()).await
    }

    /// [`Gateway::start_replay`] with placeholders for run-specific text.
    pub async fn start_replay_with(
        recorded: Vec<Recorded>,
        ledger: Arc<Ledger>,
        run_id: &str,
        options: ReplayOptions,
    ) -> Result<Gateway, GatewayError> {
        Gateway::start_replay_with_policy(recorded, ledger, run_id, options, None).await
    }

    /// [`Gateway::start_replay_with`], enforcing `request_policy` on every replayed
    /// request as [`GatewayConfig::request_policy`] does on live ones.
    pub async fn start_replay_with_policy(
        recorded: Vec<Recorded>,
        ledger: Arc<Ledger>,
        run_id: &str,
        options: ReplayOptions,
        request_policy: Option<Arc<dyn RequestPolicy>>,
    ) -> Result<Gateway, GatewayError> {
        let queue = ReplayQueue::new(recorded, options)?;
        let config = GatewayConfig {
            upstreams: Vec::new(),
            allowed_models: Vec::new(),
            redaction: RedactionMode::Redact,
            limits: GatewayLimits::default(),
            prices: PriceTable::builtin(),
            request_timeout: Duration::from_secs(600),
            request_policy,
        };
        Gateway::launch(config, Vec::new(), ledger, run_id, Some(queue)).await
    }
}

impl Shared {
    /// Answers a checked request from the recording.
    pub(super) async fn serve_replay(
        self: &Arc<Self>,
        seq: u64,
        api: Api,
        path: &str,
        query: Option<&str>,
        checked: Checked,
        denial: Denial,
    ) -> Response {
        let Some(queue) = &self.replay else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let recorded = match queue.take(api, &checked.model, &checked.value) {
            Ok(recorded) => recorded,
            Err(message) => {
                let refusal = Refusal::replay("replay_mismatch", message);
                return self.deny(denial, refusal, api.dialect()).await;
            }
        };
        if let Err((reason, _)) = self.admit() {
            return self
                .deny(denial, Refusal::stopped(&reason), api.dialect())
                .await;
        }
        let ctx = checked.exchange(seq, api, "replay", None, path, query);
        let mut meter = UsageMeter::new(api.usage_format(), recorded.content_type.as_deref());
        meter.feed(&recorded.response);
        meter.body(&recorded.response);
        let body = Bytes::from(recorded.response);
        let mut headers = Vec::new();
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK);
        if let Some(content_type) = &recorded.content_type
            && let Ok(value) = HeaderValue::from_str(content_type)
        {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        self.complete(Finished {
            latency: ctx.started.elapsed(),
            ctx,
            status: recorded.status,
            response_headers: Some(headers),
            response: Some(vec![body]),
            usage: meter.usage(),
            first_byte: None,
            outcome: Outcome::Replayed,
            error: None,
            cost_usd: None,
            budget: None,
            replay_of: Some(recorded.seq),
        });
        response
    }
}
