//! `docket gate` (stub).

use clap::Args;

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct GateArgs {}

pub async fn gate(_args: GateArgs, _global: &GlobalArgs, _out: &Output) -> anyhow::Result<Outcome> {
    anyhow::bail!("docket gate is not implemented yet")
}
