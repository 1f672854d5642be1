//! `docket run`: one ticket through the golden path as explicit stages, each with a
//! typed input and output and its own ledger entry, appended as it ends so that a
//! crash leaves a visible partial trail:
//!
//! intake → authorise → checkout → agent → diff and rules → validation (with
//! repairs) → governance checks → publish decision → publish or hold → record.
//!
//! [`Engine::run`] below is the whole pipeline; each stage lives in its own module.

mod agent;
mod change;
mod checks;
pub(crate) mod publish;
mod start;
pub(crate) mod state;
mod validation;

use std::path::PathBuf;

use docket_core::record::RunRecord;
use docket_git::Worktree;
use tokio::sync::watch;

use self::agent::AgentCall;
use self::change::Made;
use self::state::{Authorised, Flow, RunScope};
use crate::recorder::Recorder;

pub use crate::decision::evaluate;
pub use crate::engine::{Engine, RunOptions, RunReport};
pub use crate::error::EngineError;
pub use crate::governed::{
    CONFIG_FILE, Governed, ListedTicket, list_tickets, load_governed, load_governed_at,
};

/// Takes the next stage's input from a stage's result, or ends the stages when the
/// run closed there (its outcome is in the record).
macro_rules! next {
    ($flow:expr) => {
        match $flow {
            Flow::Next(value) => value,
            Flow::Closed => return Ok(None),
        }
    };
}

impl Engine {
    /// Runs one ticket through the golden path. Errors are docket's own failures; a
    /// blocked, failed or cancelled run is a report with that outcome.
    pub async fn run(
        &self,
        opts: RunOptions,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunReport, EngineError> {
        let governed = load_governed(&opts.repo, opts.base.as_deref()).await?;
        let (scope, mut run, ticket, mut rec) = start::open(self, &opts, &governed, cancel).await?;
        let admitted = match start::intake(&scope, &mut rec, &mut run, ticket).await? {
            Flow::Next(admitted) => admitted,
            Flow::Closed => return publish::finish(&scope, rec, run, None, None).await,
        };
        let authorised = match start::authorise(&scope, &mut rec, &mut run, admitted).await? {
            Flow::Next(authorised) => authorised,
            Flow::Closed => return publish::finish(&scope, rec, run, None, None).await,
        };
        let worktree = match checkout(&scope, &run).await {
            Ok(worktree) => worktree,
            Err(error) => return publish::fail(&scope, rec, run, None, error).await,
        };
        let result = in_checkout(&scope, &mut rec, &mut run, &worktree, &authorised).await;
        close(&scope, rec, run, worktree, result).await
    }
}

/// The stages that work in the run's checkout. Returns the review file when the run
/// published.
async fn in_checkout(
    scope: &RunScope<'_>,
    rec: &mut Recorder,
    run: &mut RunRecord,
    wt: &Worktree,
    authorised: &Authorised,
) -> Result<Option<PathBuf>, EngineError> {
    let rules = &scope.governed.config.rules;
    let first = AgentCall {
        dir: &wt.path,
        purpose: "initial",
        attempt: 1,
        report: None,
        conversation: None,
        run_input: &authorised.run_input,
    };
    let acted = agent::act(scope, rec, run, first).await?;
    let change = next!(change::judge(rec, run, wt, acted, rules, Made::First).await?);
    let validated = next!(validation::validate(scope, rec, run, wt, authorised, change).await?);
    let checked = next!(checks::check(scope, rec, run, wt, authorised, validated).await?);
    let decided = publish::decide(scope, rec, run, checked).await?;
    publish::conclude(scope, rec, run, wt, decided).await
}

/// The isolated checkout of the base commit the agent works in.
async fn checkout(scope: &RunScope<'_>, run: &RunRecord) -> Result<Worktree, EngineError> {
    let path = scope.engine.home.join("worktrees").join(&run.run_id);
    let governed = scope.governed;
    Ok(governed
        .repo
        .add_worktree(&path, &governed.base_commit)
        .await?)
}

/// Closes the run with its record; removing the checkout (unless kept) overlaps
/// writing the final record.
async fn close(
    scope: &RunScope<'_>,
    rec: Recorder,
    run: RunRecord,
    worktree: Worktree,
    result: Result<Option<PathBuf>, EngineError>,
) -> Result<RunReport, EngineError> {
    let (kept, removal) = if scope.opts.keep_worktree {
        (Some(worktree.path.clone()), None)
    } else {
        let repo = scope.governed.repo.clone();
        let removal = tokio::spawn(async move {
            if let Err(e) = repo.remove_worktree(&worktree).await {
                tracing::warn!(error = %e, "could not remove the run's checkout");
            }
        });
        (None, Some(removal))
    };
    let finished = match result {
        Ok(review) => publish::finish(scope, rec, run, review, kept).await,
        Err(error) => publish::fail(scope, rec, run, kept, error).await,
    };
    if let Some(removal) = removal {
        let _ = removal.await;
    }
    finished
}
