//! The expression evaluator: literals, collections, templates, operators,
//! conditionals and traversals of one module instance.

use hcl_edit::Span;
use hcl_edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::template::Element;

use super::{Origin, Scope, Val, Value};
use crate::model::Workspace;

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

    pub(super) fn nested(&self, instance: usize, file: usize) -> Evaluator<'w> {
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
