#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: the real `docket` binary against real SQLite files, a real
//! PostgreSQL server (when DOCKET_TEST_POSTGRES_URL is set) and real git repositories.

mod support;

mod api_agent;
mod attest;
mod cli;
mod concurrency;
mod gate;
mod golden_path;
mod governed;
mod iac;
mod ledger_attacks;
mod model_agents;
mod package;
mod runs_list;
mod snapshots_cli;
mod tamper;
