//! The gate policy: which outcomes stop a range from merging, read strictly from
//! its file so a typo never loosens the gate.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::error::GateError;
use super::outcome::Outcome;

/// Which outcomes stop a range from merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    fail_on: BTreeSet<Outcome>,
}

impl Default for GatePolicy {
    /// Any `ungoverned-ai` or `invalid-attestation` commit fails the range.
    fn default() -> GatePolicy {
        GatePolicy {
            fail_on: [Outcome::UngovernedAi, Outcome::InvalidAttestation]
                .into_iter()
                .collect(),
        }
    }
}

/// The policy file: `fail_on = ["ungoverned-ai", "invalid-attestation"]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    fail_on: Option<Vec<String>>,
}

impl GatePolicy {
    /// Parses a policy file's text; errors name `path`. Unknown keys and unknown
    /// outcomes are errors, so a typo never loosens the gate silently.
    pub fn parse(text: &str, path: &Path) -> Result<GatePolicy, GateError> {
        let error = |reason: String| GateError::Policy {
            path: path.to_path_buf(),
            reason,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| error(e.message().to_owned()))?;
        let Some(values) = file.fail_on else {
            return Ok(GatePolicy::default());
        };
        let mut fail_on = BTreeSet::new();
        for value in values {
            match Outcome::parse(&value) {
                Some(Outcome::Governed) => {
                    return Err(error(
                        "`governed` cannot fail a range; fail_on takes ungoverned-ai, invalid-attestation and plain".into(),
                    ));
                }
                Some(outcome) => {
                    fail_on.insert(outcome);
                }
                None => {
                    return Err(error(format!(
                        "unknown outcome `{value}` in fail_on; expected ungoverned-ai, invalid-attestation or plain"
                    )));
                }
            }
        }
        Ok(GatePolicy { fail_on })
    }

    pub fn fails(&self, outcome: Outcome) -> bool {
        self.fail_on.contains(&outcome)
    }

    /// The failing outcomes, in a stable order.
    pub fn fail_on(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.fail_on.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn policies_parse_strictly() {
        let path = Path::new("gate.toml");
        assert_eq!(GatePolicy::parse("", path).unwrap(), GatePolicy::default());
        let strict = GatePolicy::parse(
            "fail_on = [\"ungoverned-ai\", \"invalid-attestation\", \"plain\"]\n",
            path,
        )
        .unwrap();
        assert!(Outcome::ALL[1..].iter().all(|o| strict.fails(*o)));
        assert!(!strict.fails(Outcome::Governed));
        let lenient = GatePolicy::parse("fail_on = []", path).unwrap();
        assert!(Outcome::ALL.iter().all(|o| !lenient.fails(*o)));
        let only_invalid = GatePolicy::parse("fail_on = [\"invalid-attestation\"]", path).unwrap();
        assert_eq!(
            only_invalid.fail_on().collect::<Vec<_>>(),
            vec![Outcome::InvalidAttestation]
        );

        let unknown_key = GatePolicy::parse("fail-on = []", path)
            .unwrap_err()
            .to_string();
        assert!(
            unknown_key.starts_with("invalid gate policy gate.toml: "),
            "{unknown_key}"
        );
        assert!(unknown_key.contains("fail-on"), "{unknown_key}");
        let unknown_value = GatePolicy::parse("fail_on = [\"ai\"]", path)
            .unwrap_err()
            .to_string();
        assert!(
            unknown_value.contains("unknown outcome `ai`"),
            "{unknown_value}"
        );
        let governed = GatePolicy::parse("fail_on = [\"governed\"]", path)
            .unwrap_err()
            .to_string();
        assert!(governed.contains("`governed` cannot fail"), "{governed}");
        let not_toml = GatePolicy::parse("fail_on = ", path)
            .unwrap_err()
            .to_string();
        assert!(not_toml.contains("gate.toml"), "{not_toml}");
    }
}
