//! RFC 8785 (JSON Canonicalization Scheme) for `serde_json::Value`, written directly.
//!
//! The same bytes as `serde_json_canonicalizer` (a test compares them), which
//! re-parses every key and buffers every value through a boxed writer: for a 10 KB
//! decision input that was a quarter of a policy decision's time.
//!
//! - Object members are sorted by their keys as UTF-16 code units.
//! - Strings escape `"`, `\` and the control characters below U+0020 (`\b \t \n \f \r`
//!   by name, the rest as `\u00xx` in lower case); everything else is written as is.
//! - Numbers are IEEE 754 doubles written as ECMAScript's `Number.prototype.toString`
//!   does (`ryu-js`); integers too, as JSON has one number type.

use std::fmt::Write as _;

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotCanonical(pub(crate) &'static str);

pub(crate) fn to_string(value: &Value) -> Result<String, NotCanonical> {
    let mut out = String::with_capacity(4096);
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let f = n
                .as_f64()
                .ok_or(NotCanonical("a number is not representable as a double"))?;
            if !f.is_finite() {
                return Err(NotCanonical(
                    "NaN and +/-Infinity are not permitted in JSON",
                ));
            }
            out.push_str(ryu_js::Buffer::new().format_finite(f));
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| {
                // Byte order equals UTF-16 order while both keys are below U+D800,
                // which keys almost always are; compare UTF-16 only when they are not.
                if a.is_ascii() && b.is_ascii() {
                    a.as_bytes().cmp(b.as_bytes())
                } else {
                    a.encode_utf16().cmp(b.encode_utf16())
                }
            });
            out.push('{');
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(value, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_bytes_as_serde_json_canonicalizer() {
        let values = [
            json!(null),
            json!([
                true,
                false,
                0,
                -0.0,
                1,
                -1,
                0.1,
                1e21,
                1e-7,
                5e-324,
                123456789012345678u64,
                -9007199254740993i64,
                1.5e300,
                333_333_333.333_333_3
            ]),
            json!({"b": 1, "a": 2, "": 3, "aa": [], "A": {}, "é": 4, "\u{1F600}": 5, "\u{FFFD}": 6, "\u{E000}": 7}),
            json!({"s": "quote \" backslash \\ nl \n cr \r tab \t bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f} ls \u{2028} é 😀 </script>"}),
            json!({"nested": {"z": [{"y": 1, "x": [null, {"b": "c", "a": "d"}]}], "m": "n"}}),
        ];
        for value in values {
            let ours = to_string(&value).unwrap();
            let theirs = serde_json_canonicalizer::to_string(&value).unwrap();
            assert_eq!(ours, theirs, "{value}");
        }
    }
}
