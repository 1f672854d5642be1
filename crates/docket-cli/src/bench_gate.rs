//! `docket bench gate` (stub).

use clap::Args;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct GateBenchArgs {}

pub async fn run(_args: GateBenchArgs, _out: &Output) -> anyhow::Result<Outcome> {
    anyhow::bail!("not implemented yet")
}
