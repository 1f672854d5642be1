//! The four decision points of the golden path and the Rego package each is asked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// Where in the golden path a decision is asked. Each point is decided by the rules of
/// one Rego package, `docket.<point>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Point {
    /// Whether a ticket is taken.
    Intake,
    /// Whether an agent may start working on it.
    Run,
    /// Whether the judged change may be published.
    Publish,
    /// Whether an approval or an exception may be recorded.
    Approve,
}

impl Point {
    pub const ALL: [Point; 4] = [Point::Intake, Point::Run, Point::Publish, Point::Approve];

    pub fn as_str(self) -> &'static str {
        match self {
            Point::Intake => "intake",
            Point::Run => "run",
            Point::Publish => "publish",
            Point::Approve => "approve",
        }
    }

    /// The Rego package whose rules decide this point.
    pub fn package(self) -> &'static str {
        match self {
            Point::Intake => "docket.intake",
            Point::Run => "docket.run",
            Point::Publish => "docket.publish",
            Point::Approve => "docket.approve",
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Point {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Point::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownPoint { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_four() {
        for point in Point::ALL {
            assert_eq!(point.as_str().parse::<Point>().unwrap(), point);
            assert_eq!(point.package(), format!("docket.{point}"));
            assert_eq!(
                serde_json::to_string(&point).unwrap(),
                format!("\"{point}\"")
            );
        }
        let err = "merge".parse::<Point>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown decision point `merge`; the points are intake, run, publish and approve"
        );
    }
}
