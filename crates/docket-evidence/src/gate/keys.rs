//! The keys the gate trusts: the keys file format, and reading it from the base
//! revision only.

use docket_git::Repo;
use docket_ledger::Verifier;

use super::commit::short;
use super::error::GateError;

/// Verifier keys the gate trusts, one per line, read from the base revision.
pub const KEYS_FILE: &str = ".docket/attestation-keys";

/// Parses a keys file: one verifier key (`name+hash+key`) per line; blank lines and
/// lines starting with `#` are ignored. `source_name` names the file in errors.
pub fn parse_keys_file(text: &str, source_name: &str) -> Result<Vec<Verifier>, GateError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = Verifier::parse(line).map_err(|e| GateError::KeysFile {
            source_name: source_name.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The keys in [`KEYS_FILE`] as committed at `commit` (never the working tree, never
/// the head of a pull request: a change must not bring its own key), or `None` when
/// the commit has no such file.
pub async fn keys_at(repo: &Repo, commit: &str) -> Result<Option<Vec<Verifier>>, GateError> {
    let Some(bytes) = repo.show_file(commit, KEYS_FILE).await? else {
        return Ok(None);
    };
    let source = format!("{KEYS_FILE} at {}", short(commit));
    parse_keys_file(&String::from_utf8_lossy(&bytes), &source).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn keys_files_skip_comments_and_name_bad_lines() {
        let a = docket_ledger::Signer::generate("a").unwrap().verifier();
        let b = docket_ledger::Signer::generate("b").unwrap().verifier();
        let text = format!("# the release keys\n\n{a}\n  {b}  \n{a}\n");
        assert_eq!(parse_keys_file(&text, "keys").unwrap(), vec![a.clone(), b]);
        assert_eq!(parse_keys_file("# none\n", "keys").unwrap(), vec![]);
        let bad = parse_keys_file(&format!("{a}\nnot-a-key\n"), "keys at abc")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("invalid key in keys at abc line 2: "),
            "{bad}"
        );
    }
}
