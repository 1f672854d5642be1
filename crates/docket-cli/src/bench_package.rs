//! `docket bench package` (stub).

use clap::Args;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct PackageBenchArgs {}

pub async fn run(_args: PackageBenchArgs, _out: &Output) -> anyhow::Result<Outcome> {
    anyhow::bail!("not implemented yet")
}
