//! The run's policy at the wire: the `run` decision taken again for every model a
//! request names, as the gateway's [`RequestPolicy`] hook. The gateway knows nothing
//! about Rego; the engine owns the decision and hands this to the agent's gateway.

use std::sync::{Arc, Mutex};

use docket_gateway::{PolicyDenial, PolicyRequest, RequestPolicy};
use serde_json::{Value, json};

/// The run's `run` decision, taken again for every model a request asks for: a
/// policy that denies a model holds at the wire, whatever the agent asks for. Each
/// model is decided once per gateway; a denial carries the bundle digest and the
/// stored input.
pub(crate) struct WirePolicy {
    gov: Arc<crate::governance::Governance>,
    /// The run decision's input; `agent.model` is replaced by the requested model.
    input: Value,
    blobs: docket_ledger::BlobStore,
    decided: Mutex<Vec<(String, Result<(), PolicyDenial>)>>,
}

impl WirePolicy {
    pub(crate) fn new(
        gov: Arc<crate::governance::Governance>,
        input: Value,
        blobs: docket_ledger::BlobStore,
    ) -> WirePolicy {
        WirePolicy {
            gov,
            input,
            blobs,
            decided: Mutex::new(Vec::new()),
        }
    }

    fn decide(&self, model: &str) -> Result<(), PolicyDenial> {
        let mut input = self.input.clone();
        input["agent"]["model"] = Value::String(model.to_owned());
        let (decision, _payload, blob) = match crate::decision::evaluate(
            &self.gov,
            docket_policy::Point::Run,
            &input,
            &self.blobs,
        ) {
            Ok(decided) => decided,
            Err(e) => {
                // Fail closed: a decision that cannot be taken is a denial.
                return Err(PolicyDenial {
                    message: format!("the run policy could not be evaluated: {e}"),
                    evidence: json!({"point": "run", "error": e.to_string()}),
                });
            }
        };
        if decision.allowed() {
            return Ok(());
        }
        Err(PolicyDenial {
            message: decision.reasons().join("; "),
            evidence: json!({
                "point": "run",
                "messages": decision.reasons(),
                "bundle_digest": decision.bundle_digest,
                "input_digest": decision.input_digest,
                "input_blob": blob.to_string(),
            }),
        })
    }
}

impl RequestPolicy for WirePolicy {
    fn check(&self, request: &PolicyRequest<'_>) -> Result<(), PolicyDenial> {
        let mut decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, verdict)) = decided.iter().find(|(m, _)| m == request.model) {
            return verdict.clone();
        }
        let verdict = self.decide(request.model);
        decided.push((request.model.to_owned(), verdict.clone()));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docket_core::config::Config;
    use docket_gateway::Provider;
    use docket_policy::{Bundle, People, Policy};
    use std::path::Path;

    /// The run decision's input as `docket run` builds it, for a ticket without
    /// front matter, an initiator and the agent.
    fn run_input(config: &Config, gov: &crate::governance::Governance) -> Value {
        let ticket = docket_core::ticket::parse_ticket(
            Path::new("T-1.md"),
            "---\nid: T-1\nlabels: [docket]\nstate: ready\n---\n# Add a file\n",
        )
        .unwrap();
        crate::governance::with(
            crate::governance::common(
                "run",
                config,
                "0123456789abcdef0123456789abcdef01234567",
                gov,
            ),
            json!({
                "ticket": crate::governance::ticket_input(&ticket, gov),
                "initiator": gov.identity("alice@example.com"),
                "agent": {"kind": "api", "command": [], "model": config.agent.model},
                "budget": crate::governance::usage(&Default::default(), "T-1", "r", None),
            }),
        )
    }

    #[test]
    fn the_run_policy_holds_for_every_model_a_request_asks_for() {
        let config = docket_core::config::parse_config(
            "docket.toml",
            "[agent]\nkind = \"api\"\nmodel = \"gpt-5.4\"\nprovider = \"openai\"\n[[gateway.upstreams]]\nname = \"o\"\nprovider = \"openai\"\nbase_url = \"https://api.openai.com\"\ncredential_env = \"K\"\n",
        )
        .unwrap();
        let mut bundle = Bundle::builtin();
        bundle
            .add(
                ".docket/policies/models.rego",
                b"package docket.run\n\ndeny contains msg if {\n\tstartswith(input.agent.model, \"gpt-4\")\n\tmsg := sprintf(\"model %s is retired\", [input.agent.model])\n}\n".to_vec(),
            )
            .unwrap();
        let gov = Arc::new(crate::governance::Governance {
            policy: Policy::compile(&bundle, crate::governance::limits(&config)),
            people: People::from_entries(vec![], "docket.toml").unwrap(),
        });
        let blobs_dir = tempfile::tempdir().unwrap();
        let blobs = docket_ledger::BlobStore::new(blobs_dir.path());
        let input = run_input(&config, &gov);
        // The run itself was allowed for its configured model.
        assert!(
            gov.policy
                .decide(docket_policy::Point::Run, &input)
                .allowed()
        );
        let wire = WirePolicy::new(gov.clone(), input, blobs.clone());
        let ask = |model: &str| {
            wire.check(&PolicyRequest {
                api: "openai.chat",
                provider: Provider::OpenAi,
                model,
            })
        };
        assert!(ask("gpt-5.4").is_ok());
        let denied = ask("gpt-4o").unwrap_err();
        assert_eq!(denied.message, "model gpt-4o is retired");
        assert_eq!(denied.evidence["point"], "run");
        assert_eq!(denied.evidence["bundle_digest"], gov.policy.digest());
        // The exact input decided on is stored, with the requested model in it.
        let digest: docket_ledger::Digest256 = denied.evidence["input_blob"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let stored: Value = serde_json::from_slice(&blobs.get(&digest).unwrap()).unwrap();
        assert_eq!(stored["agent"]["model"], "gpt-4o");
        // Asked again, the same verdict (decided once per model).
        assert_eq!(ask("gpt-4o").unwrap_err().message, denied.message);
    }
}
