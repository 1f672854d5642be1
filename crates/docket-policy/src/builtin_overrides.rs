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
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
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
    // regorus' `time` feature pulls in the whole time-zone database (chrono-tz), which
    // doubled a clean build; the one time builtin the policies need is this.
    add(
        "time.parse_rfc3339_ns",
        1,
        Box::new(|args: Vec<Value>| Ok(parse_rfc3339_ns(&args)?)),
    )?;
    add(
        "glob.match",
        3,
        Box::new(|args: Vec<Value>| Ok(glob_match(&args)?)),
    )?;
    add(
        "docket.glob_filter",
        3,
        Box::new(|args: Vec<Value>| Ok(glob_filter(&args)?)),
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

/// Compiled globs by pattern, then by delimiters, per thread (looked up without
/// allocating). regorus' own `glob.match` caches too, but clones the compiled matcher
/// out of a locked cache on every call, which made a policy of ten path globs over
/// forty paths cost milliseconds.
type GlobCache =
    std::collections::HashMap<String, Vec<(Delimiters, std::rc::Rc<globset::GlobMatcher>)>>;

thread_local! {
    static GLOBS: std::cell::RefCell<GlobCache> = std::cell::RefCell::new(GlobCache::new());
}

/// The most patterns kept per thread; the cache starts over when full.
const GLOB_CACHE_LIMIT: usize = 1024;

/// Stands in for the delimiter characters glob matching must not cross.
const PLACE_HOLDER: &str = "\0";

/// `None` for `null` delimiters; otherwise the characters (`["."]` for an empty list).
type Delimiters = Option<Vec<char>>;

fn invalid(name: &'static str, message: &str) -> BuiltinError {
    BuiltinError::Invalid {
        name,
        message: message.to_owned(),
    }
}

fn string_arg<'a>(
    name: &'static str,
    args: &'a [Value],
    i: usize,
) -> Result<&'a str, BuiltinError> {
    args.get(i)
        .and_then(|v| v.as_string().ok())
        .map(|s| s.as_ref())
        .ok_or_else(|| invalid(name, &format!("operand {} must be a string", i + 1)))
}

fn delimiters(name: &'static str, arg: Option<&Value>) -> Result<Delimiters, BuiltinError> {
    match arg {
        Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut chars = Vec::with_capacity(items.len().max(1));
            for item in items.iter() {
                let text = item
                    .as_string()
                    .map_err(|_| invalid(name, "delimiters must be strings"))?;
                let mut it = text.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => chars.push(c),
                    _ => return Err(invalid(name, "delimiters must be single character")),
                }
            }
            if chars.is_empty() {
                chars.push('.');
            }
            Ok(Some(chars))
        }
        _ => Err(invalid(name, "glob.match requires string array")),
    }
}

/// Rewrites `s` so that the delimiters become `/` (which globset's `*` does not
/// cross) and `/` itself, unless a delimiter, becomes a placeholder. With `["/"]` as
/// the delimiters, the common case for paths, nothing changes and nothing is copied.
fn rewrite<'a>(
    name: &'static str,
    s: &'a str,
    delimiters: &Delimiters,
) -> Result<std::borrow::Cow<'a, str>, BuiltinError> {
    if s.contains(PLACE_HOLDER) {
        return Err(invalid(name, "string contains internal glob placeholder"));
    }
    Ok(match delimiters {
        None => s.replace('/', PLACE_HOLDER).into(),
        Some(ds) if ds.as_slice() == ['/'] => s.into(),
        Some(ds) => {
            let mut s = if ds.contains(&'/') {
                s.to_owned()
            } else {
                s.replace('/', PLACE_HOLDER)
            };
            for d in ds {
                if *d == ':' {
                    s = s.replace(*d, PLACE_HOLDER);
                } else if *d != '/' {
                    s = s.replace(*d, &format!("/{d}/"));
                }
            }
            s.into()
        }
    })
}

/// The compiled matcher for `pattern` under `delimiters`, from the cache when it is
/// there.
fn matcher(
    name: &'static str,
    pattern: &str,
    delimiters: &Delimiters,
) -> Result<std::rc::Rc<globset::GlobMatcher>, BuiltinError> {
    let cached = GLOBS.with(|g| {
        g.borrow().get(pattern).and_then(|compiled| {
            compiled
                .iter()
                .find(|(d, _)| d == delimiters)
                .map(|(_, m)| m.clone())
        })
    });
    if let Some(m) = cached {
        return Ok(m);
    }
    let glob = globset::GlobBuilder::new(&rewrite(name, pattern, delimiters)?)
        .literal_separator(true)
        .build()
        .map_err(|_| invalid(name, "invalid glob"))?;
    let m = std::rc::Rc::new(glob.compile_matcher());
    GLOBS.with(|g| {
        let mut g = g.borrow_mut();
        if g.len() >= GLOB_CACHE_LIMIT {
            g.clear();
        }
        g.entry(pattern.to_owned())
            .or_default()
            .push((delimiters.clone(), m.clone()));
    });
    Ok(m)
}

/// `glob.match(pattern, delimiters, value)` with regorus' semantics: `null`
/// delimiters match across `/`; an empty list means `["."]`; the matched delimiters
/// are rewritten to `/` for globset, whose `*` does not cross `/`.
fn glob_match(args: &[Value]) -> Result<Value, BuiltinError> {
    let name = "glob.match";
    let (pattern, value) = (string_arg(name, args, 0)?, string_arg(name, args, 2)?);
    let delimiters = delimiters(name, args.get(1))?;
    let matcher = matcher(name, pattern, &delimiters)?;
    Ok(Value::Bool(
        matcher.is_match(rewrite(name, value, &delimiters)?.as_ref()),
    ))
}

/// `docket.glob_filter(pattern, delimiters, values)`: the strings of `values` (an
/// array or set) that `glob.match(pattern, delimiters, value)` accepts, as an array in
/// their order. One call instead of one `glob.match` per path: a path rule written as
/// `some path in docket.glob_filter("prod/**", ["/"], input.diff.paths)` costs the
/// interpreter one step instead of one per path.
fn glob_filter(args: &[Value]) -> Result<Value, BuiltinError> {
    let name = "docket.glob_filter";
    let pattern = string_arg(name, args, 0)?;
    let delimiters = delimiters(name, args.get(1))?;
    let matcher = matcher(name, pattern, &delimiters)?;
    let items: Vec<&Value> = match args.get(2) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Set(items)) => items.iter().collect(),
        _ => {
            return Err(invalid(
                name,
                "operand 3 must be an array or set of strings",
            ));
        }
    };
    let mut matched = Vec::new();
    for item in items {
        let text = item
            .as_string()
            .map_err(|_| invalid(name, "operand 3 must be an array or set of strings"))?;
        if matcher.is_match(rewrite(name, text.as_ref(), &delimiters)?.as_ref()) {
            matched.push(item.clone());
        }
    }
    Ok(Value::from(matched))
}

/// `time.parse_rfc3339_ns(value)`: nanoseconds since the Unix epoch.
fn parse_rfc3339_ns(args: &[Value]) -> Result<Value, BuiltinError> {
    let name = "time.parse_rfc3339_ns";
    let text = args
        .first()
        .and_then(|v| v.as_string().ok())
        .ok_or(BuiltinError::Invalid {
            name,
            message: "operand 1 must be a string".into(),
        })?;
    let ts: jiff::Timestamp = text.parse().map_err(|e| BuiltinError::Invalid {
        name,
        message: format!("{text:?} is not an RFC 3339 time: {e}"),
    })?;
    let ns = i64::try_from(ts.as_nanosecond()).map_err(|_| BuiltinError::Invalid {
        name,
        message: format!("{text:?} is out of range"),
    })?;
    Ok(Value::from(ns))
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
    fn parse_rfc3339_ns_reads_utc_and_offsets() {
        let ns = |t: &str| {
            parse_rfc3339_ns(&[Value::from(t)])
                .unwrap()
                .as_i64()
                .unwrap()
        };
        assert_eq!(ns("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert_eq!(ns("2026-11-22T08:00:00+01:00"), ns("2026-11-22T07:00:00Z"));
        assert!(ns("2026-11-22T07:00:00.5Z") > ns("2026-11-22T07:00:00Z"));
        assert!(parse_rfc3339_ns(&[Value::from("yesterday")]).is_err());
    }

    #[test]
    fn glob_match_agrees_with_regorus() {
        let cases = [
            ("terraform/prod/**", r#"["/"]"#, "terraform/prod/a/main.tf"),
            ("terraform/prod/**", r#"["/"]"#, "terraform/staging/main.tf"),
            ("terraform/prod/*", r#"["/"]"#, "terraform/prod/a/main.tf"),
            ("*.example.com", "[]", "api.example.com"),
            ("*.example.com", "[]", "a.b.example.com"),
            ("*.example.com", "null", "a.b.example.com"),
            ("**/*.pem", r#"["/"]"#, "keys/x.pem"),
            ("a:*", r#"[":"]"#, "a:b"),
            ("{x,y}/*", r#"["/"]"#, "y/z"),
            ("[ab]c", "null", "bc"),
        ];
        let mut reference = regorus::Engine::new();
        let mut ours = regorus::Engine::new();
        install(&mut ours, None).unwrap();
        for (pattern, delimiters, value) in cases {
            let query = format!("glob.match({pattern:?}, {delimiters}, {value:?})");
            let want = reference.eval_query(query.clone(), false).unwrap();
            let got = ours.eval_query(query.clone(), false).unwrap();
            assert_eq!(
                got.result[0].expressions[0].value, want.result[0].expressions[0].value,
                "{query}"
            );
        }
    }

    #[test]
    fn glob_filter_keeps_exactly_what_glob_match_accepts() {
        let patterns = [
            ("terraform/prod/**", r#"["/"]"#),
            ("**/*.pem", r#"["/"]"#),
            ("*.tf", r#"["/"]"#),
            ("*.example.com", "[]"),
            ("a:*", r#"[":"]"#),
            ("{x,y}/*", "null"),
        ];
        let values = r#"["terraform/prod/a/main.tf", "terraform/staging/main.tf", "main.tf", "keys/x.pem", "api.example.com", "a.b.example.com", "a:b", "y/z", "x/y/z"]"#;
        let mut engine = regorus::Engine::new();
        install(&mut engine, None).unwrap();
        let mut matched = 0;
        for (pattern, delimiters) in patterns {
            let filtered = format!("docket.glob_filter({pattern:?}, {delimiters}, {values})");
            let one_by_one =
                format!("[v | some v in {values}; glob.match({pattern:?}, {delimiters}, v)]");
            let got = engine.eval_query(filtered.clone(), false).unwrap();
            let want = engine.eval_query(one_by_one, false).unwrap();
            let got = &got.result[0].expressions[0].value;
            assert_eq!(got, &want.result[0].expressions[0].value, "{filtered}");
            matched += got.as_array().unwrap().len();
        }
        // The cases must exercise both outcomes.
        assert!(matched > 3, "{matched}");
        let err = engine
            .eval_query(r#"docket.glob_filter("*", ["/"], [1])"#.into(), false)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("array or set of strings"),
            "{err:#}"
        );
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
