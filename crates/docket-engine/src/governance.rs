//! Policy at the golden path's decision points: the bundle in force for a run (the
//! built-in defaults and the repository's committed `.docket/policies`), who is who
//! (`[[people]]` and `.docket/people.toml`), the input documents, budget usage from
//! the ledger, and the approvals and exceptions recorded for a run.
//!
//! Everything a policy reads comes from the base commit, like `docket.toml`: an
//! uncommitted policy neither loosens nor breaks a run.

use std::collections::BTreeMap;

use docket_core::config::Config;
use docket_ledger::{EntryFilter, Ledger};
use docket_policy::{Bundle, Identity, Limits, People, PersonEntry, Policy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::EngineError;
use docket_core::record::{RunRecord, kinds};
use docket_git::Repo;

/// Where a repository keeps its policies and its people file.
pub const POLICY_DIR: &str = ".docket/policies";
pub const PEOPLE_FILE: &str = ".docket/people.toml";

/// The compiled policy and the people of one governed repository at one commit.
pub struct Governance {
    pub policy: Policy,
    pub people: People,
}

impl Governance {
    pub fn identity(&self, who: &str) -> Identity {
        self.people.identity(who)
    }

    pub fn roles_configured(&self) -> bool {
        !self.people.is_empty()
    }
}

/// The limits of one decision, from `[policy]`.
pub fn limits(config: &Config) -> Limits {
    Limits {
        timeout: std::time::Duration::from_millis(config.policy.timeout_ms),
        memory_bytes: Some(config.policy.memory_mb.saturating_mul(1 << 20)),
        max_input_bytes: usize::try_from(config.policy.max_input_kb.saturating_mul(1024))
            .unwrap_or(usize::MAX),
    }
}

/// Reads the repository's policy files at `commit` into a bundle (on top of the
/// built-in one unless `[policy] builtin = false`). Symlinks and other
/// non-regular files are refused: a policy must be reviewed bytes in the tree.
pub async fn load_bundle(
    repo: &Repo,
    commit: &str,
    config: &Config,
) -> Result<Bundle, EngineError> {
    let mut bundle = if config.policy.builtin {
        Bundle::builtin()
    } else {
        Bundle::empty()
    };
    for (mode, path) in repo.list_tree(commit, POLICY_DIR).await? {
        let wanted = path.ends_with(".rego") || path.ends_with(".json");
        if !wanted {
            continue;
        }
        if mode != "100644" && mode != "100755" {
            return Err(EngineError::Config(format!(
                "{path} (on {}) is not a regular file (git mode {mode}); policies must be committed as plain files",
                short(commit)
            )));
        }
        let bytes = repo.show_file(commit, &path).await?.unwrap_or_default();
        bundle
            .add(path, bytes)
            .map_err(|e| EngineError::Config(e.to_string()))?;
    }
    Ok(bundle)
}

/// The people of a repository: `[[people]]` in its docket.toml and
/// `.docket/people.toml`, both from `commit`.
pub async fn load_people(
    repo: &Repo,
    commit: &str,
    config: &Config,
) -> Result<People, EngineError> {
    let entries = config
        .people
        .iter()
        .map(|p| PersonEntry {
            id: p.id.clone(),
            emails: p.emails.clone(),
            names: p.names.clone(),
            roles: p.roles.clone(),
        })
        .collect();
    let mut people = People::from_entries(entries, "docket.toml")
        .map_err(|e| EngineError::Config(e.to_string()))?;
    if let Some(bytes) = repo.show_file(commit, PEOPLE_FILE).await? {
        let label = format!("{PEOPLE_FILE}@{}", short(commit));
        let text = String::from_utf8(bytes)
            .map_err(|_| EngineError::Config(format!("{label} is not UTF-8 text")))?;
        let more = People::parse(&text, &label).map_err(|e| EngineError::Config(e.to_string()))?;
        people = people
            .merge(more, &label)
            .map_err(|e| EngineError::Config(e.to_string()))?;
    }
    Ok(people)
}

/// Loads and compiles the governance of `repo` at `commit`, once per command.
pub async fn load(repo: &Repo, commit: &str, config: &Config) -> Result<Governance, EngineError> {
    let bundle = load_bundle(repo, commit, config).await?;
    let people = load_people(repo, commit, config).await?;
    Ok(Governance {
        policy: Policy::compile(&bundle, limits(config)),
        people,
    })
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The fields every input document carries.
pub fn common(point: &str, config: &Config, base_commit: &str, gov: &Governance) -> Value {
    json!({
        "schema": docket_policy::INPUT_SCHEMA,
        "point": point,
        "time": now(),
        "repository": {
            "alias": config.repository.alias,
            "base_ref": config.repository.base_ref,
            "base_commit": base_commit,
        },
        "roles_configured": gov.roles_configured(),
        "config": {
            "approvals": {"required": config.approvals.required, "min": config.approvals.min},
            "budgets": {
                "ticket_attempts": config.budgets.ticket_attempts,
                "ticket_agent_seconds": config.budgets.ticket_agent_seconds,
                "day_attempts": config.budgets.day_attempts,
                "day_agent_seconds": config.budgets.day_agent_seconds,
                "ticket_model_tokens": config.budgets.ticket_model_tokens,
                "ticket_model_cost_usd": config.budgets.ticket_model_cost_microusd.map(dollars),
                "day_model_tokens": config.budgets.day_model_tokens,
                "day_model_cost_usd": config.budgets.day_model_cost_microusd.map(dollars),
            },
        },
    })
}

/// The ticket as decision inputs show it.
pub fn ticket_input(ticket: &docket_core::ticket::Ticket, gov: &Governance) -> Value {
    json!({
        "id": ticket.id,
        "title": ticket.title,
        "labels": ticket.labels,
        "state": ticket.state,
        "requester": ticket.requester.as_deref().map(|r| gov.identity(r)),
        "digest": ticket.digest,
    })
}

/// The intake point's input: the ticket and what `docket.toml`'s intake rules
/// say of it.
pub fn intake_input(
    config: &Config,
    base_commit: &str,
    gov: &Governance,
    ticket: &docket_core::ticket::Ticket,
    reasons: &[impl ToString],
) -> Value {
    let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    with(
        common("intake", config, base_commit, gov),
        json!({
            "ticket": ticket_input(ticket, gov),
            "eligibility": {"eligible": reasons.is_empty(), "reasons": reasons},
        }),
    )
}

/// Adds `fields` to an object.
pub fn with(mut base: Value, fields: Value) -> Value {
    if let (Value::Object(b), Value::Object(f)) = (&mut base, fields) {
        b.extend(f);
    }
    base
}

/// Now, as decision inputs and grants carry it.
pub fn now() -> String {
    docket_ledger::entry::now_rfc3339()
}

/// Agent attempts, agent wall time and model usage so far, per ticket and per UTC day.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub attempts: u64,
    pub agent_seconds: f64,
    /// Model input and output tokens the gateway metered for the attempts.
    pub model_tokens: u64,
    /// Model cost, added up in micro-dollars so that policies compare the sum of
    /// 0.1 and 0.2 as 0.3; policies see dollars (`model_cost_usd`).
    #[serde(rename = "model_cost_usd", with = "micro_dollars")]
    pub model_cost_microusd: u64,
}

impl Usage {
    fn add(&mut self, record: &RunRecord) {
        self.attempts += record.attempts.len() as u64;
        self.agent_seconds += record
            .attempts
            .iter()
            .map(|a| a.duration_ms as f64 / 1000.0)
            .sum::<f64>();
        for model in record
            .attempts
            .iter()
            .filter_map(|a| a.model_usage.as_ref())
        {
            self.model_tokens = self
                .model_tokens
                .saturating_add(model.input_tokens)
                .saturating_add(model.output_tokens);
            self.model_cost_microusd = self
                .model_cost_microusd
                .saturating_add(microdollars(model.cost_usd));
        }
    }
}

/// Whole micro-dollars of an amount in dollars (a negative or NaN amount is 0).
fn microdollars(usd: f64) -> u64 {
    // `as` saturates: NaN and negatives become 0, huge amounts u64::MAX.
    (usd * 1e6).round() as u64
}

/// Dollars of an amount in micro-dollars, as policies see it.
fn dollars(microusd: u64) -> f64 {
    microusd as f64 / 1e6
}

/// `model_cost_usd`: dollars on the wire, micro-dollars in [`Usage`].
mod micro_dollars {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(microusd: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(super::dollars(*microusd))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        f64::deserialize(deserializer).map(super::microdollars)
    }
}

/// The latest record of every run, by run id (a held run that is later published
/// has two records; the later one is the run's state).
pub async fn latest_records(ledger: &Ledger) -> Result<BTreeMap<String, RunRecord>, EngineError> {
    let filter = EntryFilter {
        kind: Some(kinds::RECORD.into()),
        ..EntryFilter::default()
    };
    let mut out = BTreeMap::new();
    for stored in ledger.list(&filter).await? {
        let entry = stored.decode().map_err(docket_ledger::LedgerError::from)?;
        let Ok(mut record) = serde_json::from_value::<RunRecord>(entry.payload) else {
            continue;
        };
        record.ledger.index = Some(stored.index);
        out.insert(record.run_id.clone(), record);
    }
    Ok(out)
}

/// Budget usage of recorded runs for this ticket and this UTC day, plus `extra`
/// (the current run's own attempts when deciding at publish).
pub fn usage(
    records: &BTreeMap<String, RunRecord>,
    ticket: &str,
    skip_run: &str,
    extra: Option<&RunRecord>,
) -> Value {
    let today = now().get(..10).unwrap_or_default().to_owned();
    let mut per_ticket = Usage::default();
    let mut per_day = Usage::default();
    for record in records
        .values()
        .filter(|r| r.run_id != skip_run)
        .chain(extra)
    {
        if record.ticket.id == ticket {
            per_ticket.add(record);
        }
        if record.started_at.get(..10) == Some(today.as_str()) {
            per_day.add(record);
        }
    }
    json!({"ticket": per_ticket, "day": per_day})
}

/// An approval or exception recorded for a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    pub run_id: String,
    pub approver: Identity,
    pub at: String,
    pub reason: Option<String>,
    /// Approvals: the diff digest approved.
    #[serde(default)]
    pub diff_digest: Option<String>,
    /// Exceptions: the rule that may fail, and until when.
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The `policy.decision` entry that allowed it.
    pub decision_index: u64,
}

/// Approvals and exceptions recorded for `run_id`, with their ledger indexes.
pub async fn grants(
    ledger: &Ledger,
    run_id: &str,
) -> Result<(Vec<(u64, Grant)>, Vec<(u64, Grant)>), EngineError> {
    Ok((
        grants_of(ledger, kinds::APPROVAL, run_id).await?,
        grants_of(ledger, kinds::EXCEPTION, run_id).await?,
    ))
}

async fn grants_of(
    ledger: &Ledger,
    kind: &str,
    run_id: &str,
) -> Result<Vec<(u64, Grant)>, EngineError> {
    let filter = EntryFilter {
        kind: Some(kind.into()),
        ..EntryFilter::default()
    };
    let mut found = Vec::new();
    for stored in ledger.list(&filter).await? {
        let entry = stored.decode().map_err(docket_ledger::LedgerError::from)?;
        if entry.payload.get("run_id").and_then(Value::as_str) != Some(run_id) {
            continue;
        }
        if let Ok(grant) = serde_json::from_value::<Grant>(entry.payload) {
            found.push((stored.index, grant));
        }
    }
    Ok(found)
}

/// The `approvals` and `exceptions` fields of a publish input, as of `time`.
pub fn grant_inputs(
    approvals: &[(u64, Grant)],
    exceptions: &[(u64, Grant)],
    time: &str,
) -> (Value, Value) {
    let approvals: Vec<Value> = approvals
        .iter()
        .map(|(_, g)| {
            json!({"approver": g.approver, "at": g.at, "reason": g.reason, "diff_digest": g.diff_digest})
        })
        .collect();
    let exceptions: Vec<Value> = exceptions
        .iter()
        .map(|(_, g)| {
            let active = g.expires_at.as_deref().is_none_or(|e| later(e, time));
            json!({
                "rule": g.rule,
                "approver": g.approver,
                "reason": g.reason,
                "granted_at": g.at,
                "expires_at": g.expires_at,
                "active": active,
            })
        })
        .collect();
    (Value::Array(approvals), Value::Array(exceptions))
}

/// Whether RFC 3339 time `a` is after `b` (false when either does not parse).
pub fn later(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use docket_policy::Point;

    use super::*;

    /// A run record of `ticket` whose agent attempts used `models` (input tokens,
    /// output tokens, dollars); `None` is an attempt without model usage, like an
    /// `exec` agent's.
    fn record(
        run_id: &str,
        ticket: &str,
        started_at: &str,
        models: &[Option<(u64, u64, f64)>],
    ) -> RunRecord {
        let attempts: Vec<Value> = models
            .iter()
            .enumerate()
            .map(|(i, model)| {
                let mut attempt = json!({
                    "purpose": "agent", "attempt": i + 1, "argv": [], "exit_code": 0,
                    "signal": null, "timed_out": false, "duration_ms": 1500,
                    "stdout_digest": "sha256:00", "stderr_digest": "sha256:00",
                });
                if let Some((input_tokens, output_tokens, cost_usd)) = model {
                    attempt["model_usage"] = json!({
                        "requests": 2, "input_tokens": input_tokens,
                        "output_tokens": output_tokens, "cost_usd": cost_usd,
                    });
                }
                attempt
            })
            .collect();
        serde_json::from_value(json!({
            "schema": docket_core::record::RUN_SCHEMA, "run_id": run_id,
            "started_at": started_at, "finished_at": started_at,
            "ticket": {"id": ticket, "title": "t", "source": "s", "digest": "sha256:00", "labels": []},
            "initiator": "alice", "repository": {"alias": "r", "root": "/r", "base_ref": "main"},
            "worker": {"host": "h", "docket_version": "0", "key": "k"},
            "agent": {"kind": "claude-code", "command": [], "model": "m"},
            "attempts": attempts, "rules": [], "validation_mode": "off", "validation": [],
            "checks": [], "outcome": {"status": "published", "reasons": []},
            "ledger": {"index": null, "stages": []},
        }))
        .unwrap()
    }

    #[test]
    fn usage_adds_up_model_tokens_and_cost_per_ticket_and_per_day() {
        let today = now();
        let records: BTreeMap<String, RunRecord> = [
            record(
                "a",
                "T-1",
                &today,
                &[Some((1000, 200, 0.1)), None, Some((300, 40, 0.2))],
            ),
            record("b", "T-2", &today, &[Some((5000, 0, 1.25))]),
            // Another ticket on another day counts for neither.
            record(
                "c",
                "T-3",
                "2020-01-01T00:00:00Z",
                &[Some((9999, 9999, 9.0))],
            ),
            // The run being decided is not counted twice.
            record("d", "T-1", &today, &[Some((7, 7, 7.0))]),
        ]
        .into_iter()
        .map(|r| (r.run_id.clone(), r))
        .collect();
        let this_run = record("d", "T-1", &today, &[Some((10, 5, 0.000_001))]);

        let expected = json!({
            "ticket": {"attempts": 3, "agent_seconds": 4.5, "model_tokens": 1540, "model_cost_usd": 0.3},
            "day": {"attempts": 4, "agent_seconds": 6.0, "model_tokens": 6540, "model_cost_usd": 1.55},
        });
        assert_eq!(usage(&records, "T-1", "d", None), expected);
        assert_eq!(
            usage(&records, "T-1", "d", Some(&this_run)),
            json!({
                "ticket": {"attempts": 4, "agent_seconds": 6.0, "model_tokens": 1555, "model_cost_usd": 0.300_001},
                "day": {"attempts": 5, "agent_seconds": 7.5, "model_tokens": 6555, "model_cost_usd": 1.550_001},
            })
        );
        // No runs: zeros, never a missing number (the policies deny a limit with no
        // usage to compare).
        assert_eq!(
            usage(&BTreeMap::new(), "T-1", "d", None),
            json!({
                "ticket": {"attempts": 0, "agent_seconds": 0.0, "model_tokens": 0, "model_cost_usd": 0.0},
                "day": {"attempts": 0, "agent_seconds": 0.0, "model_tokens": 0, "model_cost_usd": 0.0},
            })
        );
    }

    #[test]
    fn model_budgets_reach_the_policies_in_dollars() {
        let config = docket_core::config::parse_config(
            "docket.toml",
            "[budgets]\nticket_model_tokens = 5000\nticket_model_cost_usd = 0.3\nday_model_cost_usd = 20\n",
        )
        .unwrap();
        let gov = Governance {
            policy: Policy::compile(&Bundle::builtin(), limits(&config)),
            people: People::default(),
        };
        let today = now();
        let records: BTreeMap<String, RunRecord> = [record(
            "a",
            "T-1",
            &today,
            &[Some((1000, 200, 0.1)), Some((300, 40, 0.2))],
        )]
        .into_iter()
        .map(|r| (r.run_id.clone(), r))
        .collect();
        let decide = |point: Point, budget: Value| {
            let input = with(
                common(
                    point.as_str(),
                    &config,
                    "0123456789abcdef0123456789abcdef01234567",
                    &gov,
                ),
                json!({"budget": budget}),
            );
            assert_eq!(
                input["config"]["budgets"],
                json!({
                    "ticket_attempts": null, "ticket_agent_seconds": null,
                    "day_attempts": null, "day_agent_seconds": null,
                    "ticket_model_tokens": 5000, "ticket_model_cost_usd": 0.3,
                    "day_model_tokens": null, "day_model_cost_usd": 20.0,
                })
            );
            gov.policy.decide(point, &input).deny
        };
        // 0.1 + 0.2 dollars is 0.3, which uses the budget up before the next run…
        assert_eq!(
            decide(Point::Run, usage(&records, "T-1", "b", None)),
            ["budget: ticket model dollars 0.3 of 0.3 used"]
        );
        // …but is not over it when publishing.
        assert_eq!(
            decide(
                Point::Publish,
                usage(&records, "T-1", "a", records.get("a"))
            ),
            [] as [String; 0]
        );
    }

    #[test]
    fn usage_reads_back_as_written() {
        let usage = Usage {
            attempts: 2,
            agent_seconds: 1.5,
            model_tokens: 12,
            model_cost_microusd: 1_630_000,
        };
        let written = serde_json::to_value(usage).unwrap();
        assert_eq!(
            written,
            json!({"attempts": 2, "agent_seconds": 1.5, "model_tokens": 12, "model_cost_usd": 1.63})
        );
        assert_eq!(serde_json::from_value::<Usage>(written).unwrap(), usage);
    }
}
