//! The Terraform functions the evaluator knows; any other call is unknown.

use super::{Evaluator, Origin, Scope, Val, Value};

impl Evaluator<'_> {
    pub(super) fn func(
        &self,
        f: &hcl_edit::expr::FuncCall,
        scope: &Scope,
        origin: Option<Origin>,
    ) -> Val {
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
}
