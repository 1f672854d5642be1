//! `docket export` and `docket verify-package` (stub).

use clap::Args;

use crate::Outcome;
use crate::context::GlobalArgs;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ExportArgs {}

#[derive(Debug, Args)]
pub struct VerifyPackageArgs {}

pub async fn export(
    _args: ExportArgs,
    _global: &GlobalArgs,
    _out: &Output,
) -> anyhow::Result<Outcome> {
    anyhow::bail!("docket export is not implemented yet")
}

pub async fn verify_package(_args: VerifyPackageArgs, _out: &Output) -> anyhow::Result<Outcome> {
    anyhow::bail!("docket verify-package is not implemented yet")
}
