//! The golden path: intake, isolated worktrees, agents, diff collection, repository
//! rules, validation, governance checks, publish, and the evidence of each step.

mod api_agent;
pub mod attest;
pub mod gate;
pub mod git;
pub mod governance;
pub mod held;
pub mod iac;
mod model_agent;
mod model_client;
mod model_planner;
pub mod package;
pub mod process;
pub mod record;
pub mod replay;
pub mod report;
pub mod review;
pub mod rules;
pub mod run;
mod tools;
