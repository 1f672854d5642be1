//! `docket policy test`: every rule whose name starts with `test_`, in any package,
//! must be `true`, like `opa test`. Each runs in its own copy of the compiled engine,
//! under the decision time limit.

use std::time::Instant;

use regorus::{LimitError, Value};
use serde::Serialize;

use crate::Policy;
use crate::policy::{elapsed_us, one_line};

/// The outcome of every test rule of a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// In bundle path order, then by name.
    pub cases: Vec<TestCase>,
    pub passed: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestCase {
    /// The Rego package, dotted; empty for a bundle that does not compile.
    pub package: String,
    /// The rule name; for a bundle that does not compile, `compile`.
    pub name: String,
    pub passed: bool,
    /// Why the test failed.
    pub error: Option<String>,
    pub elapsed_us: u64,
}

impl Policy {
    /// Evaluates every `test_` rule. A bundle that does not compile reports one failed
    /// case per compile error, so it can never pass.
    pub fn run_tests(&self) -> TestReport {
        let mut cases = Vec::new();
        match self.template() {
            None => {
                for error in self.compile_errors() {
                    cases.push(TestCase {
                        package: String::new(),
                        name: "compile".into(),
                        passed: false,
                        error: Some(error.clone()),
                        elapsed_us: 0,
                    });
                }
            }
            Some(template) => {
                for rule in self.test_rules() {
                    let start = Instant::now();
                    let mut engine = template.clone();
                    engine.set_execution_timer_config(self.timer_config());
                    let error = match engine.eval_rule(rule.path.clone()) {
                        Ok(Value::Bool(true)) => None,
                        Ok(Value::Undefined) => {
                            Some("undefined: a condition of the test did not hold".to_owned())
                        }
                        Ok(other) => Some(format!(
                            "evaluated to {}, expected true",
                            serde_json::to_string(&other).unwrap_or_default()
                        )),
                        Err(e) => Some(match e.downcast_ref::<LimitError>() {
                            Some(LimitError::TimeLimitExceeded { .. }) => format!(
                                "exceeded the time limit of {} ms",
                                self.limits().timeout.as_millis()
                            ),
                            _ => one_line(&format!("{e:#}")),
                        }),
                    };
                    cases.push(TestCase {
                        package: rule.package.clone(),
                        name: rule.name.clone(),
                        passed: error.is_none(),
                        error,
                        elapsed_us: elapsed_us(start),
                    });
                }
            }
        }
        let passed = cases.iter().filter(|c| c.passed).count();
        TestReport {
            failed: cases.len() - passed,
            passed,
            cases,
        }
    }
}
