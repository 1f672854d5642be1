//! What the gate reads from a commit's message (its `Docket-Run` trailers) and how
//! it names a commit in reasons (its abbreviated id).

use docket_core::ai_markers;

/// The trailer a published run writes into its commit message.
pub const RUN_TRAILER: &str = "Docket-Run";

/// The run ids of a message's `Docket-Run` trailers, in order, without repeats.
pub fn run_trailers(message: &str) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for (key, value) in ai_markers::trailers(message) {
        if key.eq_ignore_ascii_case(RUN_TRAILER) && !runs.iter().any(|r| r == value) {
            runs.push(value.to_owned());
        }
    }
    runs
}

/// The abbreviated commit id shown in reasons.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn run_trailers_are_read_anywhere_after_the_subject() {
        assert_eq!(
            run_trailers("t\n\nDocket-Run: r1\nDocket-Ticket: x\n"),
            vec!["r1".to_owned()]
        );
        let squashed = "Squash (#3)\n\n* one\n\nDocket-Run: r1\n\n* two\n\n    docket-run: r2\nDocket-Run: r1\n";
        assert_eq!(
            run_trailers(squashed),
            vec!["r1".to_owned(), "r2".to_owned()]
        );
        assert_eq!(
            run_trailers("Docket-Run: subject-only"),
            Vec::<String>::new()
        );
    }
}
