//! Evaluation of Terraform expressions as far as they can be known before `plan`.
//!
//! A value remembers where it was written ([`Origin`]): a literal in a resource, a
//! variable default, or a module call argument. Fixes edit a bad value where it
//! lives. A value that cannot be known is [`Value::Unknown`] with the reason, and
//! rules report it as unknown rather than as a pass or a violation.

use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::structure::{Attribute, Block, Body};
use hcl_edit::template::Element;

use crate::model::{Workspace, label};

/// Where a value is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub span: Range<usize>,
    /// The module instance whose file holds the text.
    pub instance: usize,
    /// The value came through `var.NAME` defaults; names in order of resolution.
    pub via_default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Val>),
    Object(Vec<(String, Val)>),
    /// A reference to another object, known only after apply (`aws_s3_bucket.b.id`).
    Ref {
        address: String,
        attr: String,
    },
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub value: Value,
    pub origin: Option<Origin>,
}

impl Val {
    pub fn unknown(reason: impl Into<String>) -> Val {
        Val {
            value: Value::Unknown(reason.into()),
            origin: None,
        }
    }

    fn new(value: Value, origin: Option<Origin>) -> Val {
        Val { value, origin }
    }

    pub fn is_known(&self) -> bool {
        match &self.value {
            Value::Unknown(_) | Value::Ref { .. } => false,
            Value::List(items) => items.iter().all(Val::is_known),
            Value::Object(items) => items.iter().all(|(_, v)| v.is_known()),
            _ => true,
        }
    }

    /// Why the value is unknown, if it is.
    pub fn unknown_reason(&self) -> Option<String> {
        match &self.value {
            Value::Unknown(r) => Some(r.clone()),
            Value::Ref { address, attr } => {
                Some(format!("{address}.{attr} is known only after apply"))
            }
            Value::List(items) => items.iter().find_map(Val::unknown_reason),
            Value::Object(items) => items.iter().find_map(|(_, v)| v.unknown_reason()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Number(n) => Some(*n),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        match &self.value {
            Value::Object(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar as text, the way Terraform converts it to a string.
    pub fn to_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(format_number(*n)),
            _ => None,
        }
    }
}

pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Names bound while evaluating: `count`, `each`, dynamic block iterators.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub bindings: Vec<(String, Val)>,
}

impl Scope {
    pub fn with(&self, name: &str, value: Val) -> Scope {
        let mut bindings = self.bindings.clone();
        bindings.push((name.to_owned(), value));
        Scope { bindings }
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Evaluates expressions of one module instance.
pub struct Evaluator<'w> {
    pub ws: &'w Workspace,
    pub instance: usize,
    pub file: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 32;

impl<'w> Evaluator<'w> {
    pub fn new(ws: &'w Workspace, instance: usize, file: usize) -> Evaluator<'w> {
        Evaluator {
            ws,
            instance,
            file,
            depth: 0,
        }
    }

    fn nested(&self, instance: usize, file: usize) -> Evaluator<'w> {
        Evaluator {
            ws: self.ws,
            instance,
            file,
            depth: self.depth + 1,
        }
    }

    fn origin(&self, expr: &impl Span) -> Option<Origin> {
        expr.span().map(|span| Origin {
            file: self.file,
            span,
            instance: self.instance,
            via_default: None,
        })
    }

    pub fn eval(&self, expr: &Expression, scope: &Scope) -> Val {
        if self.depth > MAX_DEPTH {
            return Val::unknown("reference chain too deep");
        }
        let origin = self.origin(expr);
        match expr {
            Expression::Null(_) => Val::new(Value::Null, origin),
            Expression::Bool(b) => Val::new(Value::Bool(*b.value()), origin),
            Expression::Number(n) => Val::new(
                Value::Number(n.value().as_f64().unwrap_or(f64::NAN)),
                origin,
            ),
            Expression::String(s) => Val::new(Value::String(s.value().clone()), origin),
            Expression::Array(items) => Val::new(
                Value::List(items.iter().map(|e| self.eval(e, scope)).collect()),
                origin,
            ),
            Expression::Object(obj) => {
                let mut out = Vec::with_capacity(obj.len());
                for (k, v) in obj.iter() {
                    let key = match k {
                        ObjectKey::Ident(i) => i.as_str().to_owned(),
                        ObjectKey::Expression(e) => match self.eval(e, scope).to_text() {
                            Some(t) => t,
                            None => {
                                return Val::new(
                                    Value::Unknown("an object key is computed".into()),
                                    origin,
                                );
                            }
                        },
                    };
                    out.push((key, self.eval(v.expr(), scope)));
                }
                Val::new(Value::Object(out), origin)
            }
            Expression::StringTemplate(t) => self.template(t.iter(), scope, origin),
            Expression::HeredocTemplate(h) => self.template(h.template.iter(), scope, origin),
            Expression::Parenthesis(p) => self.eval(p.inner(), scope),
            Expression::Variable(v) => match scope.lookup(v.as_str()) {
                Some(val) => val.clone(),
                None => Val::unknown(format!("{} is not evaluated", v.as_str())),
            },
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr, scope);
                match cond.as_bool() {
                    Some(true) => self.eval(&c.true_expr, scope),
                    Some(false) => self.eval(&c.false_expr, scope),
                    None => Val::unknown(cond.unknown_reason().unwrap_or_else(|| {
                        "the condition of a conditional is not a boolean".into()
                    })),
                }
            }
            Expression::FuncCall(f) => self.func(f, scope, origin),
            Expression::Traversal(t) => self.traversal(t, scope),
            Expression::UnaryOp(op) => {
                let v = self.eval(&op.expr, scope);
                match (op.operator.value(), &v.value) {
                    (UnaryOperator::Not, Value::Bool(b)) => Val::new(Value::Bool(!b), origin),
                    (UnaryOperator::Neg, Value::Number(n)) => Val::new(Value::Number(-n), origin),
                    _ => Val::unknown(
                        v.unknown_reason()
                            .unwrap_or_else(|| "operator on an unexpected type".into()),
                    ),
                }
            }
            Expression::BinaryOp(op) => self.binary(op, scope, origin),
            Expression::ForExpr(_) => Val::unknown("for expressions are not evaluated"),
        }
    }

    fn template<'a>(
        &self,
        elements: impl Iterator<Item = &'a Element>,
        scope: &Scope,
        origin: Option<Origin>,
    ) -> Val {
        let mut out = String::new();
        for el in elements {
            match el {
                Element::Literal(l) => out.push_str(l.value()),
                Element::Interpolation(i) => {
                    let v = self.eval(&i.expr, scope);
                    match v.to_text() {
                        Some(t) => out.push_str(&t),
                        None => {
                            return Val::unknown(
                                v.unknown_reason().unwrap_or_else(|| {
                                    "a template interpolates a collection".into()
                                }),
                            );
                        }
                    }
                }
                Element::Directive(_) => {
                    return Val::unknown("template directives are not evaluated");
                }
            }
        }
        Val::new(Value::String(out), origin)
    }

    fn binary(&self, op: &hcl_edit::expr::BinaryOp, scope: &Scope, origin: Option<Origin>) -> Val {
        let l = self.eval(&op.lhs_expr, scope);
        let r = self.eval(&op.rhs_expr, scope);
        if !l.is_known() || !r.is_known() {
            return Val::unknown(
                l.unknown_reason()
                    .or_else(|| r.unknown_reason())
                    .unwrap_or_default(),
            );
        }
        use BinaryOperator as B;
        let value = match (op.operator.value(), &l.value, &r.value) {
            (B::Eq, a, b) => Value::Bool(a == b),
            (B::NotEq, a, b) => Value::Bool(a != b),
            (B::And, Value::Bool(a), Value::Bool(b)) => Value::Bool(*a && *b),
            (B::Or, Value::Bool(a), Value::Bool(b)) => Value::Bool(*a || *b),
            (B::Plus, Value::Number(a), Value::Number(b)) => Value::Number(a + b),
            (B::Minus, Value::Number(a), Value::Number(b)) => Value::Number(a - b),
            (B::Mul, Value::Number(a), Value::Number(b)) => Value::Number(a * b),
            (B::Div, Value::Number(a), Value::Number(b)) if *b != 0.0 => Value::Number(a / b),
            (B::Greater, Value::Number(a), Value::Number(b)) => Value::Bool(a > b),
            (B::GreaterEq, Value::Number(a), Value::Number(b)) => Value::Bool(a >= b),
            (B::Less, Value::Number(a), Value::Number(b)) => Value::Bool(a < b),
            (B::LessEq, Value::Number(a), Value::Number(b)) => Value::Bool(a <= b),
            _ => Value::Unknown("operator is not evaluated for these operands".into()),
        };
        Val::new(value, origin)
    }

    fn func(&self, f: &hcl_edit::expr::FuncCall, scope: &Scope, origin: Option<Origin>) -> Val {
        let name = f.name.name.as_str();
        let args: Vec<Val> = f.args.iter().map(|a| self.eval(a, scope)).collect();
        match name {
            "tolist" | "toset" | "tomap" | "tostring" | "tonumber" | "tobool" | "sensitive"
            | "nonsensitive"
                if args.len() == 1 =>
            {
                args.into_iter()
                    .next()
                    .unwrap_or_else(|| Val::unknown("missing argument"))
            }
            "merge" => {
                let mut out: Vec<(String, Val)> = Vec::new();
                for a in args {
                    match a.value {
                        Value::Object(items) => {
                            for (k, v) in items {
                                out.retain(|(ok, _)| *ok != k);
                                out.push((k, v));
                            }
                        }
                        Value::Null => {}
                        _ => return Val::unknown("merge() of a value that is not known"),
                    }
                }
                Val::new(Value::Object(out), origin)
            }
            "concat" => {
                let mut out = Vec::new();
                for a in args {
                    match a.value {
                        Value::List(items) => out.extend(items),
                        _ => return Val::unknown("concat() of a value that is not known"),
                    }
                }
                Val::new(Value::List(out), origin)
            }
            "length" => match args.first().map(|a| &a.value) {
                Some(Value::List(items)) => Val::new(Value::Number(items.len() as f64), origin),
                Some(Value::Object(items)) => Val::new(Value::Number(items.len() as f64), origin),
                Some(Value::String(s)) => Val::new(Value::Number(s.chars().count() as f64), origin),
                _ => Val::unknown("length() of a value that is not known"),
            },
            "lookup" => {
                let (Some(map), Some(key)) = (args.first(), args.get(1).and_then(Val::to_text))
                else {
                    return Val::unknown("lookup() of a value that is not known");
                };
                match map.get(&key) {
                    Some(v) => v.clone(),
                    None => args
                        .get(2)
                        .cloned()
                        .unwrap_or_else(|| Val::unknown("lookup() key is missing")),
                }
            }
            other => Val::unknown(format!("the result of {other}() is not evaluated")),
        }
    }

    fn traversal(&self, t: &hcl_edit::expr::Traversal, scope: &Scope) -> Val {
        let Expression::Variable(root) = &t.expr else {
            let base = self.eval(&t.expr, scope);
            return self.apply_ops(base, &t.operators, scope);
        };
        let root = root.as_str();
        let ops = &t.operators;
        let first = ops.first().and_then(|o| match o.value() {
            TraversalOperator::GetAttr(i) => Some(i.as_str()),
            _ => None,
        });
        if let Some(bound) = scope.lookup(root) {
            return self.apply_ops(bound.clone(), ops, scope);
        }
        match (root, first) {
            ("var", Some(name)) => {
                let v = self.variable(name);
                self.apply_ops(v, ops.get(1..).unwrap_or(&[]), scope)
            }
            ("local", Some(name)) => {
                let v = self.local(name);
                self.apply_ops(v, ops.get(1..).unwrap_or(&[]), scope)
            }
            ("count", _) => Val::unknown("count.index differs per instance"),
            ("each", _) => Val::unknown("each.key/each.value differ per instance"),
            ("path" | "terraform" | "self", _) => {
                Val::unknown(format!("{root}.* is not evaluated"))
            }
            ("module" | "data", _) => {
                let text = traversal_text(root, ops);
                Val::new(
                    Value::Ref {
                        address: self.prefixed(&text.0),
                        attr: text.1,
                    },
                    None,
                )
            }
            (kind, Some(_)) if kind.contains('_') => {
                let text = traversal_text(root, ops);
                Val::new(
                    Value::Ref {
                        address: self.prefixed(&text.0),
                        attr: text.1,
                    },
                    None,
                )
            }
            _ => Val::unknown(format!("{root} is not evaluated")),
        }
    }

    fn prefixed(&self, address: &str) -> String {
        match self.ws.instances.get(self.instance) {
            Some(inst) if !inst.path.is_empty() => format!("{}.{address}", inst.path),
            _ => address.to_owned(),
        }
    }

    fn apply_ops(
        &self,
        mut v: Val,
        ops: &[hcl_edit::Decorated<TraversalOperator>],
        scope: &Scope,
    ) -> Val {
        for op in ops {
            v = match (op.value(), v.value.clone()) {
                (_, Value::Unknown(r)) => return Val::unknown(r),
                (TraversalOperator::GetAttr(k), Value::Ref { address, attr }) => Val::new(
                    Value::Ref {
                        address,
                        attr: join_attr(&attr, k.as_str()),
                    },
                    None,
                ),
                (_, Value::Ref { address, attr }) => Val::new(
                    Value::Ref {
                        address,
                        attr: join_attr(&attr, "[*]"),
                    },
                    None,
                ),
                (TraversalOperator::GetAttr(k), Value::Object(_)) => match v.get(k.as_str()) {
                    Some(x) => x.clone(),
                    None => Val::unknown(format!("attribute {} is not set", k.as_str())),
                },
                (TraversalOperator::Index(e), Value::List(items)) => {
                    let idx = self.eval(e, scope);
                    match idx.as_f64() {
                        Some(n) if n >= 0.0 => items
                            .get(n as usize)
                            .cloned()
                            .unwrap_or_else(|| Val::unknown("index out of range")),
                        _ => Val::unknown(
                            idx.unknown_reason()
                                .unwrap_or_else(|| "index is not a number".into()),
                        ),
                    }
                }
                (TraversalOperator::LegacyIndex(n), Value::List(items)) => items
                    .get(*n.value() as usize)
                    .cloned()
                    .unwrap_or_else(|| Val::unknown("index out of range")),
                (TraversalOperator::Index(e), Value::Object(_)) => {
                    let key = self.eval(e, scope);
                    match key.to_text().and_then(|k| v.get(&k).cloned()) {
                        Some(x) => x,
                        None => Val::unknown(
                            key.unknown_reason()
                                .unwrap_or_else(|| "key is not set".into()),
                        ),
                    }
                }
                _ => return Val::unknown("traversal is not evaluated for this value"),
            };
        }
        v
    }

    /// `var.NAME` in this instance: the call argument, else the default.
    pub fn variable(&self, name: &str) -> Val {
        let ws = self.ws;
        let Some(inst) = ws.instances.get(self.instance) else {
            return Val::unknown("unknown module instance");
        };
        if let Some((caller, call_index)) = inst.caller
            && let Some(call) = ws
                .instance_module(caller)
                .and_then(|m| m.calls.get(call_index))
            && let Some(block) = ws.block(call.block)
            && let Some(arg) = block.body.get_attribute(name)
        {
            return self
                .nested(caller, call.block.file)
                .eval(&arg.value, &Scope::default());
        }
        let Some(var) = ws
            .instance_module(self.instance)
            .and_then(|m| m.variables.get(name).copied())
        else {
            return Val::unknown(format!("var.{name} is not declared"));
        };
        let Some(block) = ws.block(var) else {
            return Val::unknown(format!("var.{name} is not declared"));
        };
        match block.body.get_attribute("default") {
            Some(default) => {
                let mut v = self
                    .nested(self.instance, var.file)
                    .eval(&default.value, &Scope::default());
                mark_default(&mut v, name);
                v
            }
            None => Val::unknown(format!(
                "var.{name} has no default; its value comes from outside the workspace"
            )),
        }
    }

    fn local(&self, name: &str) -> Val {
        let ws = self.ws;
        let Some(&(file, index)) = ws
            .instance_module(self.instance)
            .and_then(|m| m.locals.get(name))
        else {
            return Val::unknown(format!("local.{name} is not declared"));
        };
        let Some(attr) = ws
            .block(crate::model::BlockRef { file, index })
            .and_then(|b| b.body.get_attribute(name))
        else {
            return Val::unknown(format!("local.{name} is not declared"));
        };
        self.nested(self.instance, file)
            .eval(&attr.value, &Scope::default())
    }
}

fn mark_default(v: &mut Val, name: &str) {
    if let Some(o) = &mut v.origin {
        o.via_default.get_or_insert_with(|| name.to_owned());
    }
    match &mut v.value {
        Value::List(items) => items.iter_mut().for_each(|i| mark_default(i, name)),
        Value::Object(items) => items.iter_mut().for_each(|(_, i)| mark_default(i, name)),
        _ => {}
    }
}

fn join_attr(attr: &str, next: &str) -> String {
    if attr.is_empty() {
        next.to_owned()
    } else {
        format!("{attr}.{next}")
    }
}

/// Splits `aws_s3_bucket.b.id.x` into (`aws_s3_bucket.b`, `id.x`) and
/// `module.m.out` into (`module.m`, `out`).
fn traversal_text(root: &str, ops: &[hcl_edit::Decorated<TraversalOperator>]) -> (String, String) {
    let mut parts = vec![root.to_owned()];
    for op in ops {
        match op.value() {
            TraversalOperator::GetAttr(i) => parts.push(i.as_str().to_owned()),
            TraversalOperator::LegacyIndex(n) => parts.push(format!("[{}]", n.value())),
            TraversalOperator::Index(Expression::Number(n)) => {
                parts.push(format!("[{}]", n.value()))
            }
            TraversalOperator::Index(_) => parts.push("[*]".to_owned()),
            _ => parts.push("*".to_owned()),
        }
    }
    let head = if root == "data" { 3 } else { 2 };
    let mut address: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        if i < head {
            address.push(p);
        } else if i == head && p.starts_with('[') {
            // `aws_subnet.private[0]` addresses one instance; keep the index out of the attr.
        } else {
            rest.push(p);
        }
    }
    (address.join("."), rest.join("."))
}

/// A block (resource body or nested block) seen through one scope.
#[derive(Clone)]
pub struct Node<'w> {
    pub ws: &'w Workspace,
    pub instance: usize,
    pub file: usize,
    pub block: &'w Block,
    pub scope: Scope,
    /// The block comes from a `dynamic` block whose elements are not known.
    pub dynamic_unknown: Option<String>,
    /// The `dynamic` wrapper's span when the block is generated.
    pub dynamic_span: Option<Range<usize>>,
}

/// What a dotted path leads to.
pub enum Lookup<'w> {
    /// An attribute, evaluated; `attr` is the attribute in the block that holds it
    /// (`None` when the path names a nested block that exists).
    Found {
        value: Val,
        attr: Option<&'w Attribute>,
        node: Node<'w>,
    },
    /// Nothing is written at the path. `node` is the deepest existing block and
    /// `rest` the missing path segments below it.
    Missing { node: Node<'w>, rest: Vec<String> },
    /// The path runs through a value that is not known (a `dynamic` block whose
    /// elements are not known, a map from a variable without default).
    Unknown { reason: String, node: Node<'w> },
}

impl<'w> Node<'w> {
    pub fn body(&self) -> &'w Body {
        &self.block.body
    }

    pub fn evaluator(&self) -> Evaluator<'w> {
        Evaluator::new(self.ws, self.instance, self.file)
    }

    pub fn span(&self) -> Range<usize> {
        self.block.span().unwrap_or(0..0)
    }

    pub fn ident(&self) -> &str {
        self.block.ident.as_str()
    }

    pub fn label(&self, i: usize) -> &str {
        label(self.block, i)
    }

    pub fn eval_attr(&self, key: &str) -> Option<Val> {
        let attr = self.block.body.get_attribute(key)?;
        Some(self.evaluator().eval(&attr.value, &self.scope))
    }

    /// Nested blocks named `ident`, with `dynamic "ident"` blocks expanded.
    pub fn children(&self, ident: &str) -> Vec<Node<'w>> {
        let mut out = Vec::new();
        for s in self.block.body.iter() {
            let Some(b) = s.as_block() else { continue };
            if b.ident.as_str() == ident {
                out.push(Node {
                    block: b,
                    dynamic_unknown: self.dynamic_unknown.clone(),
                    dynamic_span: self.dynamic_span.clone(),
                    ..self.clone()
                });
            } else if b.ident.as_str() == "dynamic" && label(b, 0) == ident {
                out.extend(self.expand_dynamic(b, ident));
            }
        }
        out
    }

    fn expand_dynamic(&self, dynamic: &'w Block, ident: &str) -> Vec<Node<'w>> {
        let Some(content) = dynamic.body.get_blocks("content").next() else {
            return Vec::new();
        };
        let iterator = dynamic
            .body
            .get_attribute("iterator")
            .and_then(|a| a.value.as_variable().map(|v| v.as_str().to_owned()))
            .unwrap_or_else(|| ident.to_owned());
        let for_each = dynamic
            .body
            .get_attribute("for_each")
            .map(|a| self.evaluator().eval(&a.value, &self.scope));
        let elements: Option<Vec<(Val, Val)>> = match for_each.as_ref().map(|v| &v.value) {
            Some(Value::List(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            Val {
                                value: Value::Number(i as f64),
                                origin: None,
                            },
                            v.clone(),
                        )
                    })
                    .collect(),
            ),
            Some(Value::Object(items)) => Some(
                items
                    .iter()
                    .map(|(k, v)| {
                        (
                            Val {
                                value: Value::String(k.clone()),
                                origin: None,
                            },
                            v.clone(),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        };
        let span = dynamic.span();
        match elements {
            Some(elements) => elements
                .into_iter()
                .map(|(key, value)| {
                    let origin = value.origin.clone();
                    let element = Val {
                        value: Value::Object(vec![("key".into(), key), ("value".into(), value)]),
                        origin,
                    };
                    Node {
                        block: content,
                        scope: self.scope.with(&iterator, element),
                        dynamic_unknown: None,
                        dynamic_span: span.clone(),
                        ..self.clone()
                    }
                })
                .collect(),
            None => {
                let reason = for_each
                    .and_then(|v| v.unknown_reason())
                    .unwrap_or_else(|| "the dynamic block's for_each is not known".into());
                vec![Node {
                    block: content,
                    scope: self.scope.with(&iterator, Val::unknown(reason.clone())),
                    dynamic_unknown: Some(reason),
                    dynamic_span: span,
                    ..self.clone()
                }]
            }
        }
    }

    /// Follows a dotted path through nested blocks, attributes and object keys.
    /// With several nested blocks of the same name, the first one is followed.
    pub fn lookup(&self, path: &str) -> Lookup<'w> {
        let segments: Vec<&str> = path.split('.').collect();
        let mut node = self.clone();
        for (i, seg) in segments.iter().enumerate() {
            if let Some(attr) = node.block.body.get_attribute(seg) {
                let mut value = node.evaluator().eval(&attr.value, &node.scope);
                for key in segments.get(i + 1..).unwrap_or(&[]) {
                    value = match &value.value {
                        Value::Object(_) => match value.get(key) {
                            Some(v) => v.clone(),
                            None => {
                                return Lookup::Missing {
                                    node,
                                    rest: segments
                                        .get(i..)
                                        .unwrap_or(&[])
                                        .iter()
                                        .map(|s| (*s).to_owned())
                                        .collect(),
                                };
                            }
                        },
                        Value::Null => {
                            return Lookup::Missing {
                                node,
                                rest: segments
                                    .get(i..)
                                    .unwrap_or(&[])
                                    .iter()
                                    .map(|s| (*s).to_owned())
                                    .collect(),
                            };
                        }
                        _ => {
                            return Lookup::Unknown {
                                reason: value
                                    .unknown_reason()
                                    .unwrap_or_else(|| format!("{seg} is not an object")),
                                node,
                            };
                        }
                    };
                }
                if let Some(reason) = &node.dynamic_unknown
                    && !value.is_known()
                {
                    return Lookup::Unknown {
                        reason: reason.clone(),
                        node,
                    };
                }
                return Lookup::Found {
                    value,
                    attr: Some(attr),
                    node,
                };
            }
            let children = node.children(seg);
            match children.into_iter().next() {
                Some(child) => {
                    if let Some(reason) = &child.dynamic_unknown
                        && i + 1 == segments.len()
                    {
                        return Lookup::Unknown {
                            reason: reason.clone(),
                            node: child,
                        };
                    }
                    node = child;
                    if i + 1 == segments.len() {
                        // The path names a block that exists: present, with no value.
                        return Lookup::Found {
                            value: Val {
                                value: Value::Object(Vec::new()),
                                origin: None,
                            },
                            attr: None,
                            node,
                        };
                    }
                }
                None => {
                    if let Some(reason) = &node.dynamic_unknown {
                        return Lookup::Unknown {
                            reason: reason.clone(),
                            node,
                        };
                    }
                    return Lookup::Missing {
                        node,
                        rest: segments
                            .get(i..)
                            .unwrap_or(&[])
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect(),
                    };
                }
            }
        }
        Lookup::Missing {
            node,
            rest: Vec::new(),
        }
    }
}
