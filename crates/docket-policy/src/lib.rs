//! Policy as code: Rego policies evaluated in-process with regorus.
//!
//! A [`Bundle`] is the set of policy (`.rego`) and data (`.json`) files in force; a
//! [`Policy`] is that bundle compiled once, answering a [`Decision`] at each of the four
//! decision [`Point`]s of the golden path. Decisions fail closed: a bundle that does not
//! compile, an empty bundle, a point no policy decides, an input over the size limit, an
//! evaluation error and an evaluation over the time limit all deny, with the reason.
//!
//! [`People`] maps the identities docket sees (emails, tracker and code-host user names)
//! to persons and their roles, which the input documents carry as [`Identity`] values.
//!
//! No IO: callers read the files and pass bytes; decisions are values.

mod builtin_overrides;
mod bundle;
mod decision;
mod error;
mod jcs;
mod people;
mod point;
mod policy;
mod policy_tests;

pub use bundle::Bundle;
pub use decision::{Decision, Verdict};
pub use error::PolicyError;
pub use people::{Identity, People, PersonEntry};
pub use point::Point;
pub use policy::{Limits, Policy, canonical_input};
pub use policy_tests::{TestCase, TestReport};

/// The `schema` field of every decision input document.
pub const INPUT_SCHEMA: &str = "docket.policy-input/v1";
