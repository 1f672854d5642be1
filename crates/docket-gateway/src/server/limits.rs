//! The run's running totals and its limits: admission of each request, accounting
//! of finished exchanges, the stop signal, and the summary returned at shutdown.

use std::sync::MutexGuard;

use super::Shared;
use crate::record::{BudgetHit, Finished, Job};
use crate::{ExchangeSummary, GatewaySummary};

/// Running totals, guarded by one lock held only for arithmetic.
#[derive(Debug, Default)]
pub(super) struct Meter {
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

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Meter> {
        // A poisoned lock only means a panic elsewhere; the totals are still valid.
        self.meter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a refused request.
    pub(super) fn count_denial(&self) {
        self.lock().denials += 1;
    }

    /// Counts the secrets replaced in a request that is about to be sent.
    pub(super) fn count_redactions(&self, found: usize) {
        self.lock().redactions += found as u64;
    }

    /// Sets the stop reason; the first reason stays.
    pub(super) fn stop(&self, reason: String) {
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
    pub(super) fn admit(&self) -> Result<(), (String, Option<Box<BudgetHit>>)> {
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
    pub(super) fn complete(&self, mut finished: Finished) {
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

    pub(super) fn note_entry(
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

    pub(super) fn summary(&self) -> GatewaySummary {
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
}
