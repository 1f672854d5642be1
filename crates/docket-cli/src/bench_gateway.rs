//! `docket bench gateway` (stub).

use clap::Args;

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct GatewayBenchArgs {}

pub async fn run(_args: GatewayBenchArgs, _out: &Output) -> anyhow::Result<Outcome> {
    anyhow::bail!("not implemented yet")
}
