//! Intake: whether a ticket is eligible for a governed run in this repository, and if
//! not, every reason why. Pure: the caller records each decision as evidence.

use serde::Serialize;

use crate::config::Config;
use crate::ticket::Ticket;

/// One reason a ticket is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum SkipReason {
    /// The ticket lacks the managed label.
    LabelMissing { label: String },
    /// The ticket's state is not one of the ready states.
    NotReady {
        state: Option<String>,
        ready_states: Vec<String>,
    },
    /// Nothing routes the ticket to this repository.
    NoRouting { alias: String },
    /// The ticket is routed to another repository.
    RoutedElsewhere {
        alias: String,
        routed_to: Vec<String>,
    },
    /// The ticket's assignee is not one the configuration accepts.
    Assignee {
        assignee: Option<String>,
        allowed: Vec<String>,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::LabelMissing { label } => write!(f, "label `{label}` missing"),
            SkipReason::NotReady {
                state,
                ready_states,
            } => write!(
                f,
                "not ready: state is {} (ready: {})",
                state
                    .as_deref()
                    .map(|s| format!("`{s}`"))
                    .unwrap_or_else(|| "unset".into()),
                ready_states.join(", ")
            ),
            SkipReason::NoRouting { alias } => write!(
                f,
                "no routing: add label `repo-{alias}` or a ```docket block with `repo: {alias}`"
            ),
            SkipReason::RoutedElsewhere { alias, routed_to } => write!(
                f,
                "routed to {} instead of `{alias}`",
                routed_to
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            SkipReason::Assignee { assignee, allowed } => write!(
                f,
                "assignee {} is not one of {}",
                assignee
                    .as_deref()
                    .map(|a| format!("`{a}`"))
                    .unwrap_or_else(|| "(none)".into()),
                allowed.join(", ")
            ),
        }
    }
}

/// Every reason the ticket is skipped; empty means eligible.
pub fn skip_reasons(ticket: &Ticket, config: &Config) -> Vec<SkipReason> {
    let intake = &config.intake;
    let alias = &config.repository.alias;
    let mut reasons = Vec::new();
    if !intake.label.is_empty() && !ticket.labels.iter().any(|l| l == &intake.label) {
        reasons.push(SkipReason::LabelMissing {
            label: intake.label.clone(),
        });
    }
    if !intake.ready_states.is_empty() {
        let ready = ticket.state.as_deref().is_some_and(|state| {
            intake
                .ready_states
                .iter()
                .any(|r| r.eq_ignore_ascii_case(state.trim()))
        });
        if !ready {
            reasons.push(SkipReason::NotReady {
                state: ticket.state.clone(),
                ready_states: intake.ready_states.clone(),
            });
        }
    }
    let mut routes: Vec<String> = ticket
        .labels
        .iter()
        .filter_map(|l| l.strip_prefix("repo-"))
        .map(str::to_owned)
        .collect();
    if let Some(repo) = ticket.directives.get("repo") {
        routes.push(repo.clone());
    }
    if routes.iter().any(|r| r == alias) {
        // Routed here.
    } else if !routes.is_empty() {
        reasons.push(SkipReason::RoutedElsewhere {
            alias: alias.clone(),
            routed_to: routes,
        });
    } else if intake.require_routing {
        reasons.push(SkipReason::NoRouting {
            alias: alias.clone(),
        });
    }
    if !intake.assignees.is_empty()
        && !ticket
            .assignee
            .as_deref()
            .is_some_and(|a| intake.assignees.iter().any(|x| x == a))
    {
        reasons.push(SkipReason::Assignee {
            assignee: ticket.assignee.clone(),
            allowed: intake.assignees.clone(),
        });
    }
    reasons
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_config;
    use crate::ticket::parse_ticket;

    fn config(extra: &str) -> Config {
        parse_config(
            "docket.toml",
            &format!("[repository]\nalias = \"infra\"\n{extra}"),
        )
        .unwrap()
    }

    fn ticket(front: &str) -> Ticket {
        parse_ticket(
            Path::new("t-1.md"),
            &format!("---\n{front}\n---\n# Fix it\n"),
        )
        .unwrap()
    }

    #[test]
    fn truth_table_of_intake_rules() {
        let c = config("");
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("labels: [docket, repo-infra]\nstate: ready", vec![]),
            ("labels: [docket, repo-infra]\nstate: READY", vec![]),
            ("labels: [repo-infra]\nstate: ready", vec!["label-missing"]),
            (
                "labels: [docket, repo-infra]\nstate: draft",
                vec!["not-ready"],
            ),
            ("labels: [docket, repo-infra]", vec!["not-ready"]),
            ("labels: [docket]\nstate: ready", vec!["no-routing"]),
            (
                "labels: [docket, repo-web]\nstate: ready",
                vec!["routed-elsewhere"],
            ),
            (
                "labels: []",
                vec!["label-missing", "not-ready", "no-routing"],
            ),
        ];
        assert!(!cases.is_empty());
        for (front, want) in cases {
            let got: Vec<String> = skip_reasons(&ticket(front), &c)
                .iter()
                .map(|r| {
                    serde_json::to_value(r).unwrap()["reason"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            assert_eq!(got, want, "{front}");
        }
    }

    #[test]
    fn directives_route_and_assignee_rules_apply() {
        let c = config("[intake]\nassignees = [\"docket-bot\"]\n");
        let t = parse_ticket(
            Path::new("t.md"),
            "---\nlabels: [docket]\nstate: ready\nassignee: docket-bot\n---\n# T\n```docket\nrepo: infra\n```\n",
        )
        .unwrap();
        assert_eq!(skip_reasons(&t, &c), vec![]);
        let mut other = t.clone();
        other.assignee = Some("mallory".into());
        assert_eq!(
            skip_reasons(&other, &c)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["assignee `mallory` is not one of docket-bot".to_string()]
        );
        let open = config("[intake]\nlabel = \"\"\nready_states = []\nrequire_routing = false\n");
        let plain = parse_ticket(Path::new("x/REMEDIATION.md"), "# Plain\n").unwrap();
        assert_eq!(skip_reasons(&plain, &open), vec![]);
    }
}
