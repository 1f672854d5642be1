//! `[repository]`, `[intake]` and `[publish]`: the repository docket governs, where
//! its tickets come from, and how agent branches and commits are named.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Short name tickets use to route to this repository (`repo-<alias>`).
    pub alias: String,
    /// The ref agent branches start from.
    pub base_ref: String,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        Self {
            alias: "repo".into(),
            base_ref: "main".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Folder of local tickets, relative to the repository root.
    pub tickets: PathBuf,
    /// Label a ticket must carry; empty means no label is required.
    pub label: String,
    /// States that count as ready, compared case-insensitively; empty means any state.
    pub ready_states: Vec<String>,
    /// Whether a ticket must name this repository (label `repo-<alias>` or directive
    /// `repo: <alias>`).
    pub require_routing: bool,
    /// If not empty, the ticket's assignee must be one of these.
    pub assignees: Vec<String>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            tickets: PathBuf::from(".docket/tickets"),
            label: "docket".into(),
            ready_states: vec!["ready".into()],
            require_routing: true,
            assignees: Vec::new(),
        }
    }
}
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    pub branch_prefix: String,
    pub author_name: String,
    pub author_email: String,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            branch_prefix: "docket/".into(),
            author_name: "docket".into(),
            author_email: "docket@localhost".into(),
        }
    }
}
