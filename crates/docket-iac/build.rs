//! Embeds every `rules/<id>/rule.toml` into the library, so the catalog is data kept
//! beside its test cases and the binary needs no files at run time.

use std::fmt::Write as _;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let toml = entry.path().join("rule.toml");
        if toml.is_file() {
            println!("cargo::rerun-if-changed={}", toml.display());
            ids.push((entry.file_name().to_string_lossy().into_owned(), toml));
        }
    }
    ids.sort();
    let mut out = String::from(
        "/// Every rule file, by folder name, sorted.\npub(crate) const RULE_FILES: &[(&str, &str)] = &[\n",
    );
    for (id, path) in &ids {
        writeln!(
            out,
            "    ({id:?}, include_str!({:?})),",
            path.display().to_string()
        )?;
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR")?).join("rule_files.rs");
    std::fs::write(target, out)?;
    Ok(())
}
