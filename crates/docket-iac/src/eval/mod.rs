//! Evaluation of Terraform expressions as far as they can be known before `plan`.
//!
//! A value remembers where it was written ([`Origin`]): a literal in a resource, a
//! variable default, or a module call argument. Fixes edit a bad value where it
//! lives. A value that cannot be known is [`Value::Unknown`] with the reason, and
//! rules report it as unknown rather than as a pass or a violation.
//!
//! The value types live in `value`, the expression evaluator in `expr` with its
//! function library in `functions`, where variables and locals come from in
//! `variables`, and blocks seen through a scope in `node`.

mod expr;
mod functions;
mod node;
mod value;
mod variables;

pub use expr::Evaluator;
pub use node::{Lookup, Node};
pub use value::{Origin, Scope, Val, Value, format_number};
