//! Where `var.NAME` and `local.NAME` come from: a module call argument, the
//! variable's default (remembered on the value's origin, since a fix there
//! changes every user of the default) or the local's definition.

use super::{Evaluator, Scope, Val, Value};

impl Evaluator<'_> {
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

    pub(super) fn local(&self, name: &str) -> Val {
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
