//! A compiled policy bundle and its decisions. Every way a decision can fail to be
//! made — a bundle that does not compile, an empty bundle, a point no policy decides, an
//! oversized input, an evaluation error or timeout — is a `Deny` naming the reason:
//! fail closed.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, LimitError, PolicyLengthConfig, Value};
use sha2::{Digest, Sha256};

use crate::{Bundle, Decision, Point, PolicyError, Verdict, builtin_overrides};

/// How many evaluation steps regorus takes between two looks at the clock. A clock
/// read costs tens of nanoseconds; a step at least as much, so the overshoot past the
/// limit stays in the microseconds.
const TIMER_CHECK_INTERVAL: NonZeroU32 = NonZeroU32::MIN.saturating_add(15);

/// The limits of one decision.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time for one decision: parsing the input and evaluating every rule.
    pub timeout: Duration,
    /// What can be bounded of an evaluation's memory without replacing the process's
    /// allocator (see docs/policy.md, "Limits"): the bundle's total size, and the
    /// result of any one `numbers.range`/`numbers.range_step` call. `None` disables
    /// both checks.
    pub memory_bytes: Option<u64>,
    /// Largest canonical input document, in bytes.
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(1),
            memory_bytes: Some(64 << 20),
            max_input_bytes: 8 << 20,
        }
    }
}

/// Which decision rules the modules of one `docket.<point>` package declare.
#[derive(Debug, Clone, Copy, Default)]
struct PointRules {
    allow: bool,
    deny: bool,
    warn: bool,
    approval_required: bool,
}

/// A `test_` rule found in the bundle.
#[derive(Debug, Clone)]
pub(crate) struct TestRule {
    /// The package, dotted (`docket.publish`).
    pub(crate) package: String,
    pub(crate) name: String,
    /// The rule's full path for `eval_rule` (`data.docket.publish.test_x`).
    pub(crate) path: String,
}

/// A bundle compiled once; each decision evaluates a copy of the prepared engine, so
/// decisions do not see each other's state.
pub struct Policy {
    /// `None` when the bundle has compile errors: nothing is evaluated then.
    engine: Option<Engine>,
    digest: String,
    paths: Vec<String>,
    compile_errors: Vec<String>,
    has_policies: bool,
    points: BTreeMap<Point, PointRules>,
    test_rules: Vec<TestRule>,
    limits: Limits,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("digest", &self.digest)
            .field("paths", &self.paths)
            .field("compile_errors", &self.compile_errors)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Parses every policy and loads every data file of `bundle`. Never fails: errors
    /// are kept, and make every decision a deny (fail closed).
    pub fn compile(bundle: &Bundle, limits: Limits) -> Policy {
        let mut errors = Vec::new();
        let mut engine = Engine::new();
        // Rego v1 syntax (regorus' default, stated so an upgrade cannot change it), and
        // builtin errors are evaluation errors: in non-strict mode a failing builtin is
        // undefined, which would silently skip a `deny` rule.
        engine.set_rego_v0(false);
        engine.set_strict_builtin_errors(true);
        engine.set_policy_length_config(PolicyLengthConfig::default());
        if let Some(memory) = limits.memory_bytes {
            let total = bundle.total_bytes();
            if total > memory {
                errors.push(format!(
                    "the policy bundle is {total} bytes, over the memory limit of {memory} bytes"
                ));
            }
        }
        if let Err(e) = builtin_overrides::install(&mut engine, limits.memory_bytes) {
            errors.push(format!("cannot replace builtin {e}"));
        }
        let sources = load_files(&mut engine, bundle, &mut errors);
        let (points, test_rules) = match declared_rules(&engine, &sources) {
            Ok(found) => found,
            Err(e) => {
                errors.push(e);
                (BTreeMap::new(), Vec::new())
            }
        };

        if errors.is_empty() {
            for (point, rules) in &points {
                if let Err(e) = engine.add_policy(
                    format!("(docket)/decide/{point}.rego"),
                    decide_module(*point, *rules),
                ) {
                    errors.push(one_line(&format!("{e:#}")));
                }
            }
        }

        // Analyse and schedule the modules once, here, rather than in every decision's
        // copy of the engine.
        if errors.is_empty()
            && let Err(e) = engine.eval_query("true".into(), false)
        {
            errors.push(one_line(&format!("{e:#}")));
        }

        Policy {
            engine: errors.is_empty().then_some(engine),
            digest: bundle.digest(),
            paths: bundle.paths(),
            compile_errors: errors,
            has_policies: !bundle.is_empty(),
            points,
            test_rules,
            limits,
        }
    }

    /// The bundle's digest (`sha256:`), recorded in every decision.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Each names the file, line and the parser's message.
    pub fn compile_errors(&self) -> &[String] {
        &self.compile_errors
    }

    /// Decides `point` for `input`, which is first written as canonical JSON (RFC 8785).
    pub fn decide(&self, point: Point, input: &serde_json::Value) -> Decision {
        match canonical_input(input) {
            Ok(text) => self.decide_canonical(point, &text),
            Err(e) => {
                let mut decision = self.decision(point, "", Instant::now());
                decision.errors.push(e.to_string());
                decision
            }
        }
    }

    /// Decides `point` for an input that is already canonical JSON text; its digest is
    /// taken over exactly these bytes.
    pub fn decide_canonical(&self, point: Point, input_json: &str) -> Decision {
        let start = Instant::now();
        let mut decision = self.decision(point, input_json, start);
        match self.evaluate(point, input_json, start) {
            Err(errors) => decision.errors = errors,
            // Only publishing can wait for approvals; elsewhere a policy asking for one
            // cannot be satisfied, so the decision denies rather than ignore it.
            Ok(outcome) if point != Point::Publish && !outcome.approval.is_empty() => {
                decision.errors.push(format!(
                    "approval_required is not empty at the {point} point, but only the publish point can wait for approvals"
                ));
                decision.deny = outcome.deny;
                decision.warn = outcome.warn;
                decision.approval = outcome.approval;
            }
            Ok(outcome) => {
                decision.deny = outcome.deny;
                decision.warn = outcome.warn;
                decision.approval = outcome.approval;
                let rules = self.points.get(&point).copied().unwrap_or_default();
                if rules.allow && !outcome.allow {
                    decision
                        .deny
                        .push(format!("allow is not true at the {point} point"));
                    decision.deny.sort();
                    decision.deny.dedup();
                }
                decision.verdict = if !decision.deny.is_empty() {
                    Verdict::Deny
                } else if !decision.approval.is_empty() {
                    Verdict::ApprovalRequired
                } else {
                    Verdict::Allow
                };
            }
        }
        decision.elapsed_us = elapsed_us(start);
        decision
    }

    /// A denying decision with the digests filled in.
    fn decision(&self, point: Point, input_json: &str, start: Instant) -> Decision {
        Decision {
            point,
            verdict: Verdict::Deny,
            deny: Vec::new(),
            warn: Vec::new(),
            approval: Vec::new(),
            errors: Vec::new(),
            bundle_digest: self.digest.clone(),
            input_digest: sha256(input_json.as_bytes()),
            elapsed_us: elapsed_us(start),
        }
    }

    /// The rule values of `point`, or why there are none (each a fail-closed reason).
    fn evaluate(
        &self,
        point: Point,
        input_json: &str,
        start: Instant,
    ) -> Result<Outcome, Vec<String>> {
        let Some(template) = &self.engine else {
            return Err(self.compile_errors.clone());
        };
        if !self.has_policies {
            return Err(vec!["the policy bundle is empty".into()]);
        }
        let rules = self.points.get(&point).copied().unwrap_or_default();
        if !rules.allow && !rules.deny {
            return Err(vec![format!(
                "no policy decides the {point} point (package {} defines neither allow nor deny)",
                point.package()
            )]);
        }
        if input_json.len() > self.limits.max_input_bytes {
            return Err(vec![format!(
                "the input is {} bytes, over the limit of {} bytes",
                input_json.len(),
                self.limits.max_input_bytes
            )]);
        }
        let mut engine = template.clone();
        engine.set_input_json(input_json).map_err(|e| {
            vec![format!(
                "the input is not valid JSON: {}",
                one_line(&format!("{e:#}"))
            )]
        })?;

        // One evaluation for every rule of the point, so helper rules they share are
        // computed once; only when it fails are the rules evaluated one by one, to name
        // the rule that failed.
        if let Ok(result) = self.eval_path(&mut engine, &decide_path(point), start) {
            let field = |name: &str| result[name].clone();
            let mut outcome = Outcome::default();
            if rules.deny {
                outcome.deny = messages(&field("deny"), "deny", point)?;
            }
            if rules.allow {
                outcome.allow = field("allow") == Value::Bool(true);
            }
            if rules.warn {
                outcome.warn = messages(&field("warn"), "warn", point)?;
            }
            if rules.approval_required {
                outcome.approval =
                    messages(&field("approval_required"), "approval_required", point)?;
            }
            return Ok(outcome);
        }
        let mut eval = |rule: &str| -> Result<Value, Vec<String>> {
            let path = format!("data.{}.{rule}", point.package());
            self.eval_path(&mut engine, &path, start)
        };

        let mut outcome = Outcome::default();
        if rules.deny {
            outcome.deny = messages(&eval("deny")?, "deny", point)?;
        }
        if rules.allow {
            outcome.allow = eval("allow")? == Value::Bool(true);
        }
        if rules.warn {
            outcome.warn = messages(&eval("warn")?, "warn", point)?;
        }
        if rules.approval_required {
            outcome.approval = messages(&eval("approval_required")?, "approval_required", point)?;
        }
        Ok(outcome)
    }

    /// Evaluates one rule within what is left of the decision's time.
    fn eval_path(
        &self,
        engine: &mut Engine,
        path: &str,
        start: Instant,
    ) -> Result<Value, Vec<String>> {
        let remaining = self.limits.timeout.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            return Err(vec![self.timeout_message()]);
        }
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: remaining,
            check_interval: TIMER_CHECK_INTERVAL,
        });
        let value = engine.eval_rule(path.to_owned()).map_err(|e| {
            if matches!(
                e.downcast_ref::<LimitError>(),
                Some(LimitError::TimeLimitExceeded { .. })
            ) {
                vec![self.timeout_message()]
            } else {
                vec![format!(
                    "evaluating {path} failed: {}",
                    one_line(&format!("{e:#}"))
                )]
            }
        })?;
        // A single builtin call is one step for regorus' timer: check once more.
        if start.elapsed() > self.limits.timeout {
            return Err(vec![self.timeout_message()]);
        }
        Ok(value)
    }

    fn timeout_message(&self) -> String {
        format!(
            "evaluation exceeded the time limit of {} ms",
            self.limits.timeout.as_millis()
        )
    }

    pub(crate) fn template(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    pub(crate) fn test_rules(&self) -> &[TestRule] {
        &self.test_rules
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn timer_config(&self) -> ExecutionTimerConfig {
        ExecutionTimerConfig {
            limit: self.limits.timeout,
            check_interval: TIMER_CHECK_INTERVAL,
        }
    }
}

/// Adds the bundle's policies and data to `engine`; returns the policies that parsed,
/// as `(path, text)`, and records an error naming the file for each that did not.
fn load_files(
    engine: &mut Engine,
    bundle: &Bundle,
    errors: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut sources = Vec::new();
    for (path, bytes) in bundle.files() {
        // `Bundle::add` checked that policies are UTF-8 and data files JSON objects.
        let text = String::from_utf8_lossy(bytes).into_owned();
        if path.ends_with(".rego") {
            match engine.add_policy(path.to_owned(), text.clone()) {
                Ok(_) => sources.push((path.to_owned(), text)),
                Err(e) => errors.push(located(path, &format!("{e:#}"))),
            }
        } else if let Err(e) = engine.add_data_json(&text) {
            errors.push(format!("{path}: {}", one_line(&format!("{e:#}"))));
        }
    }
    sources
}

/// Which decision rules each `docket.<point>` package declares, and the `test_` rules
/// of every package, read from the parsed modules (nothing is evaluated).
fn declared_rules(
    engine: &Engine,
    sources: &[(String, String)],
) -> Result<(BTreeMap<Point, PointRules>, Vec<TestRule>), String> {
    let modules = engine
        .get_policy_package_components()
        .map_err(|e| format!("cannot list the policy packages: {e:#}"))?;
    let mut points = BTreeMap::new();
    let mut test_rules: Vec<TestRule> = Vec::new();
    for module in modules {
        let declares = |rule: &str| {
            engine
                .has_declared_rule_rooted_at(&module.source_file, rule)
                .unwrap_or(false)
        };
        if let [first, second] = module.components.as_slice()
            && first == "docket"
            && let Ok(point) = second.parse::<Point>()
        {
            let rules: &mut PointRules = points.entry(point).or_default();
            rules.allow |= declares("allow");
            rules.deny |= declares("deny");
            rules.warn |= declares("warn");
            rules.approval_required |= declares("approval_required");
        }
        let text = sources
            .iter()
            .find(|(p, _)| *p == module.source_file)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default();
        for name in test_rule_candidates(text) {
            let path = rule_path(&module.components, name);
            if !test_rules.iter().any(|t| t.path == path) && declares(name) {
                test_rules.push(TestRule {
                    package: module.components.join("."),
                    name: name.to_owned(),
                    path,
                });
            }
        }
    }
    Ok((points, test_rules))
}

/// The package docket adds to every compiled bundle, one per decision point, whose
/// `result` reads every decision rule of the point in one evaluation. Undefined rules
/// read as `false` ("no messages", "not allowed"), as they would one by one.
const DECIDE_PACKAGE: &str = "docket_decide";

fn decide_path(point: Point) -> String {
    format!("data.{DECIDE_PACKAGE}.{point}.result")
}

fn decide_module(point: Point, rules: PointRules) -> String {
    let package = point.package();
    let mut text = format!("package {DECIDE_PACKAGE}.{point}\n\n");
    let mut fields = Vec::new();
    for (declared, rule) in [
        (rules.deny, "deny"),
        (rules.allow, "allow"),
        (rules.warn, "warn"),
        (rules.approval_required, "approval_required"),
    ] {
        if declared {
            text.push_str(&format!(
                "default {rule}_value := false\n{rule}_value := data.{package}.{rule}\n\n"
            ));
            fields.push(format!("{rule:?}: {rule}_value"));
        }
    }
    text.push_str(&format!("result := {{{}}}\n", fields.join(", ")));
    text
}

#[derive(Debug, Default)]
struct Outcome {
    deny: Vec<String>,
    warn: Vec<String>,
    approval: Vec<String>,
    allow: bool,
}

/// RFC 8785 canonical JSON text of `input`: the bytes a decision is made from and the
/// engine stores as evidence.
pub fn canonical_input(input: &serde_json::Value) -> Result<String, PolicyError> {
    crate::jcs::to_string(input).map_err(|e| PolicyError::Input {
        reason: format!("cannot write canonical JSON (RFC 8785): {}", e.0),
    })
}

/// The messages of a `deny`, `warn` or `approval_required` rule: a set or array of
/// messages (strings, or objects with a string `msg`, conftest style; anything else as
/// JSON), `true` for one unnamed message, `false` or undefined for none. Any other value
/// is an error (and so a deny).
fn messages(value: &Value, rule: &str, point: Point) -> Result<Vec<String>, Vec<String>> {
    let mut out: Vec<String> = match value {
        Value::Undefined | Value::Bool(false) => Vec::new(),
        Value::Bool(true) => vec![format!("{rule} is true at the {point} point")],
        Value::String(s) => vec![s.to_string()],
        Value::Set(items) => items.iter().map(message_text).collect(),
        Value::Array(items) => items.iter().map(message_text).collect(),
        other => {
            return Err(vec![format!(
                "{rule} at the {point} point must be a set of messages, not {}",
                json_text(other)
            )]);
        }
    };
    out.sort();
    out.dedup();
    Ok(out)
}

fn message_text(item: &Value) -> String {
    match item {
        Value::String(s) => s.to_string(),
        Value::Object(fields) => match fields.get(&Value::from("msg")) {
            Some(Value::String(msg)) => msg.to_string(),
            _ => json_text(item),
        },
        other => json_text(other),
    }
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    let out: [u8; 32] = Sha256::digest(bytes).into();
    format!("sha256:{}", hex::encode(out))
}

pub(crate) fn elapsed_us(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// regorus reports an error as a source excerpt:
///
/// ```text
/// --> policies/a.rego:5:1
///   |
/// 5 | }
///   | ^
/// error: expecting expression
/// ```
///
/// This keeps `policies/a.rego:5:1: expecting expression`. Errors without a location
/// are prefixed with `path`.
fn located(path: &str, message: &str) -> String {
    let text = one_line(message);
    if text.starts_with(path) {
        text
    } else {
        format!("{path}: {text}")
    }
}

/// One line out of regorus' multi-line error excerpts (see [`located`]).
pub(crate) fn one_line(message: &str) -> String {
    let location = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::trim);
    let error = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("error: "))
        .map(str::trim);
    match (location, error) {
        (Some(location), Some(error)) => format!("{location}: {error}"),
        _ => message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Identifiers in `text` starting with `test_`: candidates that the parsed module then
/// confirms as rules (a comment or string mentioning one is not). A name written with
/// an argument list anywhere is a function, a helper rather than a test.
fn test_rule_candidates(text: &str) -> Vec<&str> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names: Vec<&str> = text
        .split(|c: char| !is_ident(c))
        .filter(|word| word.starts_with("test_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    names.retain(|name| {
        !text.match_indices(name).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].trim_start_matches([' ', '\t']);
            !before.is_some_and(is_ident) && after.starts_with('(')
        })
    });
    names
}

/// `data.<components>.<rule>`, bracketing components that are not identifiers.
fn rule_path(components: &[String], rule: &str) -> String {
    let mut path = String::from("data");
    for c in components.iter().map(String::as_str).chain([rule]) {
        let ident = c
            .chars()
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if ident {
            path.push('.');
            path.push_str(c);
        } else {
            path.push('[');
            path.push_str(&serde_json::Value::from(c).to_string());
            path.push(']');
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regorus_errors_become_one_located_line() {
        let excerpt = "\n--> a/bad.rego:5:1\n  |\n5 | }\n  | ^\nerror: expecting expression";
        assert_eq!(
            located("a/bad.rego", excerpt),
            "a/bad.rego:5:1: expecting expression"
        );
        assert_eq!(
            located("a/x.rego", "file too large"),
            "a/x.rego: file too large"
        );
    }

    #[test]
    fn rule_paths_bracket_what_is_not_an_identifier() {
        let components = vec!["docket".to_owned(), "1.0".to_owned()];
        assert_eq!(
            rule_path(&components, "test_a"),
            "data.docket[\"1.0\"].test_a"
        );
    }

    #[test]
    fn a_policy_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Policy>();
    }
}
