//! Tests of running one command under supervision, by topic; they run real programs
//! (`sh`, `env`, `cat`) in temporary directories. The helpers here build the specs.

mod environment;
mod outcome;
mod output;
mod spawn;
mod supervision;

use std::path::Path;
use std::time::Duration;

use crate::process::{CommandOutcome, CommandSpec, StdinSpec, cancel_channel, run_command};

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn spec(argv: &[&str], cwd: &Path) -> CommandSpec {
    CommandSpec {
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        cwd: cwd.to_owned(),
        env: vec![("PATH".to_owned(), PATH.to_owned())],
        timeout: Duration::from_secs(20),
        stdin: StdinSpec::Null,
        output_limit: 1024 * 1024,
    }
}

fn sh(script: &str, cwd: &Path) -> CommandSpec {
    spec(&["sh", "-c", script], cwd)
}

async fn run(spec: &CommandSpec) -> CommandOutcome {
    let (_cancel, mut cancelled) = cancel_channel();
    run_command(spec, &mut cancelled).await.unwrap()
}

fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}
