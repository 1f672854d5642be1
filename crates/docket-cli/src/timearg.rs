//! Time arguments: RFC 3339 timestamps, plain dates (UTC midnight), or an age such
//! as `30m`, `24h`, `7d` meaning that long before now.

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};

pub fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return Ok(date.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(n) = number.parse::<i64>() else {
        bail!(
            "`{text}` is not a time: use RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22) or an age (30m, 24h, 7d)"
        );
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("`{text}`: unknown unit `{unit}`; use s, m, h, d or w"),
    };
    let age = SignedDuration::from_secs(n.saturating_mul(seconds));
    Timestamp::now()
        .checked_sub(age)
        .with_context(|| format!("`{text}` is too far in the past"))
}

pub fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_timestamps_dates_and_ages() {
        assert_eq!(
            parse_time("2026-11-22T10:00:00Z").unwrap().to_string(),
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(
            parse_time("2026-11-22").unwrap().to_string(),
            "2026-11-22T00:00:00Z"
        );
        let age = Timestamp::now().duration_since(parse_time("2h").unwrap());
        assert!((age.as_secs() - 7200).abs() < 60);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("5y").is_err());
    }
}
