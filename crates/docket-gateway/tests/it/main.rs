#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The gateway end to end: a real gateway on 127.0.0.1 between reqwest (the agent)
//! and a fake provider, recording into a real SQLite ledger.

mod support;
mod wire;

mod anthropic;
#[cfg(feature = "bedrock")]
mod bedrock;
mod concurrency;
mod failures;
mod limits;
mod openai;
mod policy;
mod replay;
