//! `docket bench gateway`: what the model gateway adds to each request — latency of
//! non-streaming requests and time to first byte of streams, each against calling the
//! same fake provider directly in the same run — and many concurrent streams arriving
//! intact. Uses a fresh temporary DOCKET_HOME; every exchange is really recorded.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use docket_gateway::bench::{BenchOptions, Percentiles};
use docket_ledger::{Ledger, LedgerConfig};

use crate::Outcome;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct GatewayBenchArgs {
    /// Timed non-streaming requests of each kind (direct and through the gateway).
    #[arg(long, default_value_t = 2000)]
    requests: u32,
    /// Timed streams of each kind.
    #[arg(long, default_value_t = 500)]
    streams: u32,
    /// Streams through the gateway at once.
    #[arg(long, default_value_t = 200)]
    concurrent: u32,
    /// Size of each request body in KiB (a Claude Code turn is tens of KiB).
    #[arg(long, default_value_t = 32)]
    request_kib: usize,
    /// Untimed warm-up rounds.
    #[arg(long, default_value_t = 100)]
    warmup: u32,
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn row(label: &str, p: &Percentiles) -> String {
    format!(
        "{label:<34} p50 {:>9}   p99 {:>9}",
        ms(p.p50_us),
        ms(p.p99_us)
    )
}

pub async fn run(args: GatewayBenchArgs, out: &Output) -> anyhow::Result<Outcome> {
    let scratch = tempfile::Builder::new()
        .prefix("docket-bench-gateway-")
        .tempdir()?;
    let key = scratch.path().join("provider.key");
    std::fs::write(&key, "bench-provider-key\n")?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let ledger = Arc::new(
        Ledger::open(&LedgerConfig::sqlite_in(scratch.path().join("home")))
            .await
            .context("opening the benchmark's ledger")?,
    );
    let options = BenchOptions {
        requests: args.requests.max(1),
        streams: args.streams.max(1),
        concurrent_streams: args.concurrent,
        request_bytes: args.request_kib.max(1) * 1024,
        warmup: args.warmup,
        credential_file: key,
    };
    out.note(format!(
        "measuring {} requests and {} streams each way, then {} concurrent streams…",
        options.requests, options.streams, options.concurrent_streams
    ));
    let report = docket_gateway::bench::run(&options, ledger.clone()).await?;
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close().await;
    }
    if out.json() {
        out.json_value(&report)?;
    } else {
        out.line(format!(
            "request body {} KiB, streamed response {} bytes",
            report.request_bytes / 1024,
            report.stream_bytes
        ));
        out.line(row("non-streaming, direct", &report.direct));
        out.line(row("non-streaming, through the gateway", &report.gateway));
        out.line(row("added by the gateway", &report.added));
        out.line(row("stream first byte, direct", &report.stream_ttfb_direct));
        out.line(row(
            "stream first byte, gateway",
            &report.stream_ttfb_gateway,
        ));
        out.line(row("added to the first byte", &report.stream_ttfb_added));
        out.line(format!(
            "{:<34} {} of {} intact in {:.2} s",
            "concurrent streams",
            report.concurrent_intact,
            report.concurrent_streams,
            report.concurrent_seconds
        ));
        out.line(format!(
            "{:<34} {} of {} relayed requests",
            "recorded exchanges", report.recorded, report.relayed
        ));
    }
    let complete =
        report.concurrent_intact == report.concurrent_streams && report.recorded == report.relayed;
    Ok(if complete {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
