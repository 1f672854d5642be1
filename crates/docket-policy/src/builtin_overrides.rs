//! Builtins docket replaces: those that build a large value from small arguments in
//! one step, bounded so that one call cannot allocate past the memory limit, and those
//! that would make a decision depend on something other than the bundle and the input.
//!
//! regorus checks its time limit between evaluation steps, but a single builtin call is
//! one step: `numbers.range(1, 1000000000)` would allocate gigabytes (or abort the
//! process) before any check runs. The bounded versions compute the size first and
//! refuse a call whose result would exceed `Limits::memory_bytes`.
//!
//! A decision is evidence, so anyone must be able to replay it from the recorded bundle
//! and input: `time.now_ns` (use `input.time`) and `rand.intn` are errors.
//!
//! regorus looks up extensions before builtins, so registering these under the builtin
//! names replaces the builtins.

use regorus::{Engine, Value};

/// Bytes one array element costs at least (the `Value` itself; integers are inline).
const ELEMENT_BYTES: u64 = std::mem::size_of::<Value>() as u64;

#[derive(Debug, thiserror::Error)]
enum BuiltinError {
    #[error("{name}: operands must be integers")]
    NotInteger { name: &'static str },
    #[error("{name}: step must be a positive integer")]
    BadStep { name: &'static str },
    #[error(
        "{name} is disabled: a decision must be replayable from its bundle and input; use {instead}"
    )]
    Unreplayable {
        name: &'static str,
        instead: &'static str,
    },
    #[error(
        "{name} would build {count} elements (at least {bytes} bytes), over the memory limit of {limit} bytes"
    )]
    OverLimit {
        name: &'static str,
        count: u128,
        bytes: u128,
        limit: u64,
    },
}

/// Registers the replacements; the bounded ranges only when there is a memory limit.
pub(crate) fn install(engine: &mut Engine, memory_bytes: Option<u64>) -> Result<(), String> {
    let mut add = |name: &str, nargs: u8, extension: Box<dyn regorus::Extension>| {
        engine
            .add_extension(name.into(), nargs, extension)
            .map_err(|e| format!("{name}: {e:#}"))
    };
    add(
        "time.now_ns",
        0,
        Box::new(|_: Vec<Value>| Ok(unreplayable("time.now_ns", "input.time")?)),
    )?;
    add(
        "rand.intn",
        2,
        Box::new(|_: Vec<Value>| Ok(unreplayable("rand.intn", "a value derived from the input")?)),
    )?;
    let Some(limit) = memory_bytes else {
        return Ok(());
    };
    add(
        "numbers.range",
        2,
        Box::new(move |args: Vec<Value>| {
            let name = "numbers.range";
            let (from, to) = (integer(name, &args, 0)?, integer(name, &args, 1)?);
            Ok(range(name, from, to, 1, limit)?)
        }),
    )?;
    add(
        "numbers.range_step",
        3,
        Box::new(move |args: Vec<Value>| {
            let name = "numbers.range_step";
            let (from, to) = (integer(name, &args, 0)?, integer(name, &args, 1)?);
            let step = integer(name, &args, 2)?;
            if step <= 0 {
                return Err(BuiltinError::BadStep { name }.into());
            }
            Ok(range(name, from, to, step, limit)?)
        }),
    )
}

fn unreplayable(name: &'static str, instead: &'static str) -> Result<Value, BuiltinError> {
    Err(BuiltinError::Unreplayable { name, instead })
}

fn integer(name: &'static str, args: &[Value], i: usize) -> Result<i64, BuiltinError> {
    args.get(i)
        .and_then(|v| v.as_i64().ok())
        .ok_or(BuiltinError::NotInteger { name })
}

/// `from` to `to` inclusive, by `step` (> 0), descending when `to < from`: the
/// builtins' own semantics.
fn range(
    name: &'static str,
    from: i64,
    to: i64,
    step: i64,
    limit: u64,
) -> Result<Value, BuiltinError> {
    let (from, to, step) = (i128::from(from), i128::from(to), i128::from(step));
    let count = (to - from).unsigned_abs() / step.unsigned_abs() + 1;
    let bytes = count.saturating_mul(u128::from(ELEMENT_BYTES));
    if bytes > u128::from(limit) {
        return Err(BuiltinError::OverLimit {
            name,
            count,
            bytes,
            limit,
        });
    }
    let step = if to < from { -step } else { step };
    let mut values = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut v = from;
    while (step > 0 && v <= to) || (step < 0 && v >= to) {
        // In range: `v` lies between two i64 values.
        values.push(Value::from(i64::try_from(v).unwrap_or_default()));
        v += step;
    }
    Ok(Value::from(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: Value) -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    }

    #[test]
    fn same_results_as_the_builtins() {
        let limit = 1 << 20;
        assert_eq!(ints(range("r", 1, 4, 1, limit).unwrap()), [1, 2, 3, 4]);
        assert_eq!(ints(range("r", 3, 1, 1, limit).unwrap()), [3, 2, 1]);
        assert_eq!(ints(range("r", 5, 5, 1, limit).unwrap()), [5]);
        assert_eq!(ints(range("r", 0, 10, 4, limit).unwrap()), [0, 4, 8]);
        assert_eq!(ints(range("r", 10, 0, 4, limit).unwrap()), [10, 6, 2]);
    }

    #[test]
    fn a_call_over_the_limit_is_refused_before_allocating() {
        let err = range("numbers.range", 1, i64::MAX, 1, 1 << 20).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "numbers.range would build {} elements (at least ",
                i64::MAX as u128
            )),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("over the memory limit of 1048576 bytes")
        );
        let err = range("numbers.range", i64::MIN, i64::MAX, 1, u64::MAX).unwrap_err();
        assert!(matches!(err, BuiltinError::OverLimit { .. }), "{err}");
    }
}
