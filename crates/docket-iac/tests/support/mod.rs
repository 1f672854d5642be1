//! Reading the rule catalog's test cases from disk, for the harnesses in tests/.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use docket_iac::source::SourceSet;
use serde_json::Value as Json;

/// The `.tf` files under `root`, keyed by relative path with `/` separators.
pub fn read_tree(root: &Path) -> SourceSet {
    fn walk(root: &Path, dir: &Path, out: &mut SourceSet) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "tf") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = SourceSet::new();
    walk(root, root, &mut out);
    out
}

/// `rules/<rule>/tests/<case>` of one rule, sorted.
pub fn case_dirs(rule: &str) -> Vec<PathBuf> {
    let dir = rules_dir().join(rule).join("tests");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    entries
}

pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// The case's `params.toml` as JSON values (empty when there is none).
pub fn case_params(case: &Path) -> BTreeMap<String, Json> {
    match std::fs::read_to_string(case.join("params.toml")) {
        Ok(text) => {
            let table: toml::Table = toml::from_str(&text).unwrap();
            table
                .into_iter()
                .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
                .collect()
        }
        Err(_) => BTreeMap::new(),
    }
}
