//! The model price table: USD per million tokens per model-name glob, read from a
//! versioned TOML file (the built-in one is `prices.toml` in this crate, with the day
//! its sources were read). Costing is pure arithmetic on reported usage.

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::error::GatewayError;
use crate::usage::Usage;

/// The format version this code reads.
const FORMAT_VERSION: u32 = 1;

const BUILTIN: &str = include_str!("../prices.toml");

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Glob over model names; the first matching row wins.
    pub pattern: String,
    /// USD per million uncached input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million tokens written to the prompt cache (default: `input`).
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// USD per million tokens read from the prompt cache (default: `input`).
    #[serde(default)]
    pub cache_read: Option<f64>,
}

impl ModelPrice {
    /// The cost of `usage` at this price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage
            .cache_write_tokens
            .saturating_add(usage.cache_read_tokens);
        let uncached = usage.input_tokens.saturating_sub(cached);
        let per_token = |tokens: u64, price: f64| tokens as f64 * price;
        (per_token(uncached, self.input)
            + per_token(
                usage.cache_write_tokens,
                self.cache_write.unwrap_or(self.input),
            )
            + per_token(
                usage.cache_read_tokens,
                self.cache_read.unwrap_or(self.input),
            )
            + per_token(usage.output_tokens, self.output))
            / 1_000_000.0
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    version: u32,
    checked: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    model: Vec<ModelPrice>,
}

/// Prices by model name.
#[derive(Debug, Clone)]
pub struct PriceTable {
    checked: String,
    sources: Vec<String>,
    rows: Vec<(ModelPrice, GlobMatcher)>,
}

impl PriceTable {
    /// The table shipped in this crate (`prices.toml`). A test parses it, so the
    /// fallback — an empty table that prices every model as unknown — cannot happen
    /// in a released build.
    pub fn builtin() -> PriceTable {
        match PriceTable::parse(BUILTIN) {
            Ok(table) => table,
            Err(e) => {
                tracing::error!(error = %e, "the built-in price table does not parse");
                PriceTable::empty()
            }
        }
    }

    /// A table with no prices: every model costs 0 and is reported `price: unknown`.
    pub fn empty() -> PriceTable {
        PriceTable {
            checked: "none".into(),
            sources: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Parses a price file (the format of `prices.toml`).
    pub fn parse(text: &str) -> Result<PriceTable, GatewayError> {
        let file: PriceFile = toml::from_str(text).map_err(|e| GatewayError::Prices {
            reason: e.to_string(),
        })?;
        if file.version != FORMAT_VERSION {
            return Err(GatewayError::Prices {
                reason: format!(
                    "version {} is not supported (this docket reads version {FORMAT_VERSION})",
                    file.version
                ),
            });
        }
        let mut rows = Vec::with_capacity(file.model.len());
        for price in file.model {
            let valid = |p: f64| p.is_finite() && p >= 0.0;
            if ![price.input, price.output].into_iter().all(valid)
                || !price.cache_write.is_none_or(valid)
                || !price.cache_read.is_none_or(valid)
            {
                return Err(GatewayError::Prices {
                    reason: format!(
                        "model {:?}: prices must be finite and not negative",
                        price.pattern
                    ),
                });
            }
            let matcher = Glob::new(&price.pattern)
                .map_err(|e| GatewayError::Prices {
                    reason: format!("model {:?}: {e}", price.pattern),
                })?
                .compile_matcher();
            rows.push((price, matcher));
        }
        Ok(PriceTable {
            checked: file.checked,
            sources: file.sources,
            rows,
        })
    }

    /// The day the table's sources were read.
    pub fn checked(&self) -> &str {
        &self.checked
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The first row whose pattern matches `model`.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        self.rows
            .iter()
            .find(|(_, matcher)| matcher.is_match(model))
            .map(|(price, _)| price)
    }

    /// The cost of `usage` on `model`, or `None` when the table has no price for it.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.lookup(model).map(|price| price.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_names_its_date_and_sources() {
        let table = PriceTable::parse(BUILTIN).unwrap();
        assert_eq!(table.checked(), "2026-11-22");
        assert!(!table.sources().is_empty());
        assert!(table.rows.len() > 20);
    }

    #[test]
    fn first_match_wins_and_dated_snapshots_match() {
        let table = PriceTable::builtin();
        let price = |model: &str| table.lookup(model).map(|p| (p.input, p.output));
        assert_eq!(price("claude-sonnet-4-5-20250929"), Some((3.0, 15.0)));
        assert_eq!(price("claude-opus-4-1-20250805"), Some((15.0, 75.0)));
        assert_eq!(price("claude-opus-4-20250514"), Some((15.0, 75.0)));
        assert_eq!(price("claude-opus-4-5-20251101"), Some((5.0, 25.0)));
        assert_eq!(price("claude-opus-5-5"), Some((4.0, 20.0)));
        assert_eq!(price("claude-opus-5"), Some((5.0, 25.0)));
        assert_eq!(price("claude-haiku-4-5-20251001"), Some((1.0, 5.0)));
        assert_eq!(price("gpt-5.4-mini"), Some((0.75, 4.5)));
        assert_eq!(price("gpt-5.4"), Some((2.5, 15.0)));
        assert_eq!(price("gpt-5"), Some((1.25, 10.0)));
        assert_eq!(price("gpt-5.6-sol"), None);
        assert_eq!(price("my-deployment"), None);
        // Bedrock ids are not Anthropic's: unpriced until AWS's rates are in the table.
        assert_eq!(price("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), None);
        assert_eq!(price("anthropic.claude-haiku-4-5-20251001-v1:0"), None);
    }

    #[test]
    fn cost_splits_cached_input() {
        let table = PriceTable::parse(
            "version = 1\nchecked = \"2026-01-01\"\n[[model]]\npattern = \"m*\"\ninput = 3.0\noutput = 15.0\ncache_write = 3.75\ncache_read = 0.3\n[[model]]\npattern = \"plain\"\ninput = 2.0\noutput = 8.0\n",
        )
        .unwrap();
        let usage = Usage {
            input_tokens: 1_000_000 + 200_000 + 500_000,
            output_tokens: 100_000,
            cache_write_tokens: 200_000,
            cache_read_tokens: 500_000,
        };
        let cost = table.cost("model-1", &usage).unwrap();
        assert!((cost - (3.0 + 0.75 + 0.15 + 1.5)).abs() < 1e-9, "{cost}");
        let cost = table.cost("plain", &usage).unwrap();
        assert!((cost - (1.7 * 2.0 + 0.8)).abs() < 1e-9, "{cost}");
        assert_eq!(table.cost("other", &usage), None);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, expected) in [
            ("version = 2\nchecked = \"x\"\n", "version 2"),
            (
                "version = 1\nchecked = \"x\"\n[[model]]\npattern = \"a\"\ninput = -1.0\noutput = 1.0\n",
                "\"a\": prices must be finite",
            ),
            (
                "version = 1\nchecked = \"x\"\n[[model]]\npattern = \"a[\"\ninput = 1.0\noutput = 1.0\n",
                "\"a[\"",
            ),
            ("version = 1\n", "checked"),
        ] {
            let err = PriceTable::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
