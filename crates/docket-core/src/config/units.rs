//! The value formats `docket.toml` accepts beyond plain TOML types: durations
//! (`90`, `"10m"`) and dollar amounts (`2.5`, stored as micro-dollars).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

pub(super) fn deserialize_usd<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let value: Option<f64> = Option::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..1e9).contains(&v) => Ok(Some((v * 1e6).round() as u64)),
        Some(v) => Err(serde::de::Error::custom(format!(
            "invalid amount {v}: use dollars, like 2.5"
        ))),
    }
}
pub(super) fn deserialize_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                r#"a duration: whole seconds or a number with a unit, like "90s", "10m" or "1h""#,
            )
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            let seconds = u64::try_from(v)
                .map_err(|_| E::custom(format!("invalid duration {v}: it must be positive")))?;
            self.visit_u64(seconds)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            positive(Duration::from_secs(v), &v.to_string())
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            let parsed = parse_duration(v).ok_or_else(|| {
                E::custom(format!(
                    r#"invalid duration {v:?}: use whole seconds or a number with a unit, like "90s", "10m" or "1h""#
                ))
            })?;
            positive(parsed, &format!("{v:?}"))
        }
    }
    // A zero timeout would fail every run; it is always a mistake.
    fn positive<E: serde::de::Error>(duration: Duration, shown: &str) -> Result<Duration, E> {
        if duration.is_zero() {
            Err(E::custom(format!(
                "invalid duration {shown}: it must be positive"
            )))
        } else {
            Ok(duration)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// `"<digits><unit>"` with unit `s`, `m` or `h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    if number.is_empty() {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        _ => return None,
    };
    number.checked_mul(scale).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error, parse};

    #[test]
    fn durations() {
        let timeout =
            |value: &str| parse(&format!("[agent]\ntimeout = {value}\n")).map(|c| c.agent.timeout);
        assert_eq!(timeout("45").unwrap(), Duration::from_secs(45));
        assert_eq!(timeout("\"90s\"").unwrap(), Duration::from_secs(90));
        assert_eq!(timeout("\"10m\"").unwrap(), Duration::from_secs(600));
        assert_eq!(timeout("\"1h\"").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            error("[validation]\ntimeout = \"5 minutes\"\n"),
            "docket.toml:2:11: validation.timeout: invalid duration \"5 minutes\": use whole seconds or a number with a unit, like \"90s\", \"10m\" or \"1h\""
        );
        assert_eq!(
            error("[agent]\ntimeout = \"0s\"\n"),
            "docket.toml:2:11: agent.timeout: invalid duration \"0s\": it must be positive"
        );
        assert_eq!(
            error("[agent]\ntimeout = -5\n"),
            "docket.toml:2:11: agent.timeout: invalid duration -5: it must be positive"
        );
        assert_eq!(
            error("[agent]\ntimeout = 1.5\n"),
            "docket.toml:2:11: agent.timeout: invalid type: floating point `1.5`, expected a duration: whole seconds or a number with a unit, like \"90s\", \"10m\" or \"1h\""
        );
    }

    #[test]
    fn parse_duration_truth_table() {
        let cases = [
            ("1s", Some(1)),
            ("90s", Some(90)),
            ("10m", Some(600)),
            ("2h", Some(7200)),
            ("", None),
            ("10", None),
            ("s", None),
            ("1d", None),
            ("1.5h", None),
            ("-1s", None),
            ("1 s", None),
            ("99999999999999999999h", None),
        ];
        let actual: Vec<_> = cases
            .iter()
            .map(|(text, _)| (*text, parse_duration(text).map(|d| d.as_secs())))
            .collect();
        assert_eq!(actual, cases);
    }
}
