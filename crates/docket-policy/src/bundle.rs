//! The policy bundle: the `.rego` and `.json` files in force, by path, and the digest
//! that names exactly those bytes in every decision.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::PolicyError;

/// The built-in default policies, one per decision point. They encode `docket.toml`'s
/// behaviour, so a repository without policies of its own is governed as before.
const BUILTIN: [(&str, &str); 4] = [
    (
        "builtin/intake.rego",
        include_str!("../builtin/intake.rego"),
    ),
    ("builtin/run.rego", include_str!("../builtin/run.rego")),
    (
        "builtin/publish.rego",
        include_str!("../builtin/publish.rego"),
    ),
    (
        "builtin/approve.rego",
        include_str!("../builtin/approve.rego"),
    ),
];

/// Policy (`.rego`) and data (`.json`) files by path, sorted byte-wise by path.
///
/// Files are checked when added: policies must be UTF-8, data files must hold a JSON
/// object whose top-level keys no other data file defines. Whether the policies parse is
/// [`crate::Policy::compile`]'s business, so that a broken policy becomes a denying
/// decision with its reason rather than a missing one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    /// Top-level `data` key → the data file that defines it.
    data_keys: BTreeMap<String, String>,
}

impl Bundle {
    /// A bundle without files. Every decision over it denies: "the policy bundle is
    /// empty".
    pub fn empty() -> Bundle {
        Bundle::default()
    }

    /// The built-in default bundle, files named `builtin/<point>.rego`.
    pub fn builtin() -> Bundle {
        let files = BUILTIN
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
            .collect();
        Bundle {
            files,
            data_keys: BTreeMap::new(),
        }
    }

    /// Adds one file: `.rego` is a policy, `.json` a data file merged into `data` at its
    /// top level. Any other extension, a path already present, a policy that is not
    /// UTF-8, or a data file that is not a JSON object or redefines a top-level key of
    /// another data file is an error naming the path.
    pub fn add(&mut self, path: impl Into<String>, bytes: Vec<u8>) -> Result<(), PolicyError> {
        let path = path.into();
        check_path(&path)?;
        if self.files.contains_key(&path) {
            return Err(PolicyError::DuplicatePath { path });
        }
        if path.ends_with(".rego") {
            if let Err(source) = std::str::from_utf8(&bytes) {
                return Err(PolicyError::NotUtf8 { path, source });
            }
        } else if path.ends_with(".json") {
            let keys = data_keys(&path, &bytes)?;
            for key in &keys {
                if key == "docket" {
                    return Err(PolicyError::ReservedDataKey { path });
                }
                if let Some(other) = self.data_keys.get(key) {
                    return Err(PolicyError::DataConflict {
                        key: key.clone(),
                        other: other.clone(),
                        path,
                    });
                }
            }
            for key in keys {
                self.data_keys.insert(key, path.clone());
            }
        } else {
            return Err(PolicyError::UnsupportedFile { path });
        }
        self.files.insert(path, bytes);
        Ok(())
    }

    /// Adds every file of `other`. A path present in both is an error; on any error
    /// `self` is unchanged.
    pub fn extend(&mut self, other: Bundle) -> Result<(), PolicyError> {
        let mut merged = self.clone();
        for (path, bytes) in other.files {
            merged.add(path, bytes)?;
        }
        *self = merged;
        Ok(())
    }

    /// Every file, sorted byte-wise by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// Every path, sorted byte-wise.
    pub fn paths(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// True when the bundle holds no policy (`.rego`) file; data alone decides nothing.
    pub fn is_empty(&self) -> bool {
        !self.files.keys().any(|p| p.ends_with(".rego"))
    }

    /// Total size of the files, in bytes.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.files.values().map(|b| b.len() as u64).sum()
    }

    /// `sha256:<hex>` over, for each file in byte-wise path order: the path's UTF-8
    /// bytes, one 0x00 byte, the file's length as 8-byte big-endian, then its bytes.
    /// Paths never contain 0x00 ([`Bundle::add`] refuses them), so the framing is
    /// unambiguous: a changed byte, a moved file or a split file changes the digest.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, bytes) in &self.files {
            hasher.update(path.as_bytes());
            hasher.update([0u8]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
        let out: [u8; 32] = hasher.finalize().into();
        format!("sha256:{}", hex::encode(out))
    }
}

fn check_path(path: &str) -> Result<(), PolicyError> {
    let reason = if path.is_empty() {
        "the path is empty"
    } else if path.contains('\0') {
        "the path contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(PolicyError::InvalidPath {
        path: path.to_owned(),
        reason,
    })
}

/// The top-level keys of a data file, which must be a JSON object.
fn data_keys(path: &str, bytes: &[u8]) -> Result<Vec<String>, PolicyError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| PolicyError::InvalidData {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let found = match &value {
        serde_json::Value::Object(map) => return Ok(map.keys().cloned().collect()),
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
    };
    Err(PolicyError::DataNotObject {
        path: path.to_owned(),
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let mut b = Bundle::empty();
        for (path, text) in files {
            b.add(*path, text.as_bytes().to_vec()).unwrap();
        }
        b
    }

    #[test]
    fn digest_is_the_documented_framing() {
        // Recomputed by hand from docs/policy.md's description.
        let b = bundle(&[("b.rego", "package b\n"), ("a.json", "{}")]);
        let mut h = Sha256::new();
        for (path, bytes) in [("a.json", &b"{}"[..]), ("b.rego", &b"package b\n"[..])] {
            h.update(path.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(b.digest(), format!("sha256:{}", hex::encode(expected)));
        // The empty bundle digests nothing.
        assert_eq!(
            Bundle::empty().digest(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn digest_changes_with_a_byte_and_a_move_but_not_with_insertion_order() {
        let base = bundle(&[("p/a.rego", "package a\n"), ("p/b.rego", "package b\n")]);
        let reordered = bundle(&[("p/b.rego", "package b\n"), ("p/a.rego", "package a\n")]);
        assert_eq!(base.digest(), reordered.digest());

        let one_byte = bundle(&[("p/a.rego", "package c\n"), ("p/b.rego", "package b\n")]);
        assert_ne!(base.digest(), one_byte.digest());

        let moved = bundle(&[("q/a.rego", "package a\n"), ("p/b.rego", "package b\n")]);
        assert_ne!(base.digest(), moved.digest());

        // Bytes shifted from one file to the next: same concatenation, other files.
        let split = bundle(&[("p/a.rego", "package a\np"), ("p/b.rego", "ackage b\n")]);
        assert_ne!(base.digest(), split.digest());
    }

    #[test]
    fn add_refuses_what_it_cannot_judge_and_names_the_path() {
        let mut b = bundle(&[("d/one.json", r#"{"teams": {"a": 1}}"#)]);
        let cases: Vec<(&str, &[u8], &str)> = vec![
            (
                "notes.txt",
                b"hello",
                "notes.txt: not a policy file; a policy bundle holds `.rego` policies and `.json` data files only",
            ),
            (
                "d/one.json",
                b"{}",
                "d/one.json: the file is already in the policy bundle",
            ),
            (
                "d/two.json",
                br#"{"teams": {"b": 2}}"#,
                "d/two.json: data key `teams` is also defined by d/one.json; each top-level key of `data` may come from one data file only",
            ),
            (
                "d/list.json",
                b"[1, 2]",
                "d/list.json: a data file must hold a JSON object (its keys become top-level keys of `data`), found an array",
            ),
            (
                "d/ns.json",
                br#"{"docket": {"publish": {"deny": []}}}"#,
                "d/ns.json: data key `docket` is reserved for the decision packages (`package docket.<point>`); use another key",
            ),
            ("", b"", "\"\": invalid policy file path: the path is empty"),
            (
                "a\0b.rego",
                b"",
                "\"a\\0b.rego\": invalid policy file path: the path contains a NUL byte",
            ),
        ];
        for (path, bytes, message) in cases {
            let err = b.add(path, bytes.to_vec()).unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
        }
        let err = b.add("bad.json", b"{".to_vec()).unwrap_err().to_string();
        assert!(
            err.starts_with("bad.json: data file is not valid JSON: "),
            "{err}"
        );
        let err = b.add("bin.rego", vec![0xff, 0xfe]).unwrap_err().to_string();
        assert!(
            err.starts_with("bin.rego: a policy must be UTF-8 text"),
            "{err}"
        );
        // Nothing refused was kept.
        assert_eq!(b.paths(), vec!["d/one.json"]);
        assert!(b.is_empty(), "a bundle of data only decides nothing");
    }

    #[test]
    fn extend_is_all_or_nothing_and_refuses_a_shared_path() {
        let mut b = Bundle::builtin();
        let before = b.clone();
        let mut other = bundle(&[("repo/a.rego", "package a\n")]);
        other
            .add("builtin/run.rego", b"package docket.run\n".to_vec())
            .unwrap();
        let err = b.extend(other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "builtin/run.rego: the file is already in the policy bundle"
        );
        assert_eq!(b, before);

        b.extend(bundle(&[("repo/a.rego", "package a\n")])).unwrap();
        assert_eq!(
            b.paths(),
            vec![
                "builtin/approve.rego",
                "builtin/intake.rego",
                "builtin/publish.rego",
                "builtin/run.rego",
                "repo/a.rego"
            ]
        );
        let listed: Vec<&str> = b.files().map(|(p, _)| p).collect();
        assert_eq!(listed, b.paths());
        assert!(!b.is_empty());
    }
}
