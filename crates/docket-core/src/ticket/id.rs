//! Ticket ids: where one comes from (front matter, file name or folder name) and
//! whether it is safe in a git branch name and a file name.

use std::fmt;
use std::path::Path;

/// Where a ticket's id came from, so an error can say what to rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOrigin {
    FrontMatter,
    FileStem,
    ParentFolder,
}

impl fmt::Display for IdOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdOrigin::FrontMatter => "front matter `id`",
            IdOrigin::FileStem => "file name",
            IdOrigin::ParentFolder => "folder name",
        })
    }
}
/// Longest ticket id; ids become part of branch names and folder names.
const MAX_ID_LEN: usize = 64;

/// Whether `id` is safe to put in a git branch name and a file name.
pub fn is_valid_ticket_id(id: &str) -> bool {
    ticket_id_problem(id).is_none()
}

pub(super) fn ticket_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        return Some("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return Some("it is longer than 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some("only letters, digits, `.`, `_` and `-` are allowed");
    }
    // A leading `-` would read as an option to git; a leading `.` is a hidden file.
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or digit");
    }
    // git refuses these in ref names.
    if id.contains("..") {
        return Some("it must not contain `..`");
    }
    if id.ends_with('.') {
        return Some("it must not end with `.`");
    }
    if id.to_ascii_lowercase().ends_with(".lock") {
        return Some("it must not end with `.lock`");
    }
    None
}
/// `REMEDIATION.md` and `README.md` describe the folder they sit in, so the folder
/// names the ticket; any other file is named by its stem.
pub(super) fn id_from_file_name(file_name: &Path) -> Option<(String, IdOrigin)> {
    let name = file_name.file_name()?.to_str()?;
    let folder_named = ["remediation.md", "readme.md"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
    if folder_named {
        let folder = file_name.parent()?.file_name()?.to_str()?;
        Some((folder.to_owned(), IdOrigin::ParentFolder))
    } else {
        let stem = file_name.file_stem()?.to_str()?;
        Some((stem.to_owned(), IdOrigin::FileStem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::test_support::{error, parse_ok};

    #[test]
    fn remediation_and_readme_take_id_from_parent_folder() {
        let ids: Vec<_> = [
            "benchmarks/rattleback/04-aws-sg-restrict-ingress/REMEDIATION.md",
            "tickets/05-rotate/readme.md",
            "tickets/06-other/notes.md",
        ]
        .iter()
        .map(|f| parse_ok(f, "# T\n").id)
        .collect();
        assert_eq!(ids, ["04-aws-sg-restrict-ingress", "05-rotate", "notes"]);
    }

    #[test]
    fn readme_without_folder_has_no_id() {
        assert_eq!(
            error("README.md", "# T\n"),
            "README.md: cannot derive a ticket id from the file name; add `id:` to the front matter"
        );
    }

    #[test]
    fn invalid_ids_are_rejected_with_reason() {
        assert_eq!(
            error("t/a.md", "---\nid: ../../etc\n---\n"),
            "t/a.md: invalid ticket id `../../etc` (from the front matter `id`): only letters, digits, `.`, `_` and `-` are allowed"
        );
        assert_eq!(
            error("t/fix.lock.md", ""),
            "t/fix.lock.md: invalid ticket id `fix.lock` (from the file name): it must not end with `.lock`"
        );
        assert_eq!(
            error("t/-x/README.md", ""),
            "t/-x/README.md: invalid ticket id `-x` (from the folder name): it must start with a letter or digit"
        );
    }

    #[test]
    fn ticket_id_truth_table() {
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        let cases = [
            ("", false),
            ("a", true),
            ("0", true),
            ("04-aws_sg.v2", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("-a", false),
            (".a", false),
            ("_a", false),
            ("a..b", false),
            ("a.", false),
            ("a.lock", false),
            ("a.LOCK", false),
            ("a.locks", true),
            ("a/b", false),
            ("a b", false),
            ("é", false),
        ];
        let actual: Vec<_> = cases
            .iter()
            .map(|(id, _)| (*id, is_valid_ticket_id(id)))
            .collect();
        assert_eq!(actual, cases);
    }
}
