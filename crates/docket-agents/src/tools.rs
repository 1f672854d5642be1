//! The `api` agent's file tools: list, read, search, write, edit and delete files,
//! confined to the run's checkout.
//!
//! Invariants: every path is relative to the checkout and may not contain `..`; no
//! tool reads or writes through a symbolic link, or touches `.git`; a write never
//! leaves the checkout. A refused call is an error result the model reads, never a
//! failure of the run. Tool arguments come from the model and are data: nothing here
//! runs a command or a shell.

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use crate::model_client::ToolSpec;

/// The most bytes a `read_file` returns.
const MAX_READ_BYTES: usize = 256 << 10;
/// The most entries a `list_files` returns.
const MAX_LIST_ENTRIES: usize = 2000;
/// The most matches a `search` returns.
const MAX_MATCHES: usize = 200;
/// The largest file `search` looks into, and the largest file a write may produce.
const MAX_FILE_BYTES: usize = 4 << 20;

/// The tools, as the model is told about them.
pub(crate) fn specs() -> Vec<ToolSpec> {
    let path = |what: &str| json!({"type": "string", "description": what});
    vec![
        ToolSpec {
            name: "list_files",
            description: "List the files under a directory of the repository (recursively; `.git` is left out). Paths are relative to the repository root.",
            schema: json!({"type": "object", "properties": {"path": path("Directory relative to the repository root; \".\" for the root.")}, "additionalProperties": false}),
        },
        ToolSpec {
            name: "read_file",
            description: "Read a text file of the repository. Optionally a range of lines (1-based `offset`, `limit` lines).",
            schema: json!({"type": "object", "properties": {
                "path": path("File path relative to the repository root."),
                "offset": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1}
            }, "required": ["path"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "search",
            description: "Search the repository's text files for a regular expression (Rust regex syntax); returns `path:line: text` for each matching line.",
            schema: json!({"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path": path("Directory or file to search, relative to the repository root; default \".\".")
            }, "required": ["pattern"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "write_file",
            description: "Create or overwrite a file of the repository with the given content (parent directories are created).",
            schema: json!({"type": "object", "properties": {
                "path": path("File path relative to the repository root."),
                "content": {"type": "string"}
            }, "required": ["path", "content"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "edit_file",
            description: "Replace `old_text` with `new_text` in a file. `old_text` must occur exactly once unless `replace_all` is true.",
            schema: json!({"type": "object", "properties": {
                "path": path("File path relative to the repository root."),
                "old_text": {"type": "string"},
                "new_text": {"type": "string"},
                "replace_all": {"type": "boolean"}
            }, "required": ["path", "old_text", "new_text"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "delete_file",
            description: "Delete a file of the repository.",
            schema: json!({"type": "object", "properties": {"path": path("File path relative to the repository root.")}, "required": ["path"], "additionalProperties": false}),
        },
    ]
}

/// The result of one tool call: what the model reads, and whether it is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolOutput {
    pub(crate) content: String,
    pub(crate) is_error: bool,
    /// Whether the call changed a file.
    pub(crate) changed: bool,
}

impl ToolOutput {
    fn ok(content: impl Into<String>) -> ToolOutput {
        ToolOutput {
            content: content.into(),
            is_error: false,
            changed: false,
        }
    }

    fn changed(content: impl Into<String>) -> ToolOutput {
        ToolOutput {
            changed: true,
            ..ToolOutput::ok(content)
        }
    }

    fn error(content: impl Into<String>) -> ToolOutput {
        ToolOutput {
            content: content.into(),
            is_error: true,
            changed: false,
        }
    }
}

/// The checkout the tools work in.
pub(crate) struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub(crate) fn new(root: &Path) -> Workspace {
        Workspace {
            root: root.to_owned(),
        }
    }

    /// Runs one tool call.
    pub(crate) fn call(&self, name: &str, input: &Value) -> ToolOutput {
        let result = match name {
            "list_files" => self.list(input),
            "read_file" => self.read(input),
            "search" => self.search(input),
            "write_file" => self.write(input),
            "edit_file" => self.edit(input),
            "delete_file" => self.delete(input),
            other => Err(format!(
                "there is no tool {other:?}; the tools are list_files, read_file, search, write_file, edit_file and delete_file"
            )),
        };
        result.unwrap_or_else(ToolOutput::error)
    }

    /// The file a relative path names, checked: no `..`, no absolute path, nothing
    /// under `.git`, and no symbolic link on the way (a link could lead outside).
    fn resolve(&self, path: &str) -> Result<(PathBuf, String), String> {
        let trimmed = path.trim();
        let relative = Path::new(trimmed);
        if trimmed.is_empty() {
            return Err("the path is empty".into());
        }
        let mut clean = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => clean.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(format!("{path:?} is refused: paths may not contain `..`"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "{path:?} is refused: use a path relative to the repository root"
                    ));
                }
            }
        }
        if clean
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == ".git")
        {
            return Err(format!(
                "{path:?} is refused: `.git` is not part of the change"
            ));
        }
        let mut at = self.root.clone();
        for component in clean.components() {
            at.push(component);
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(format!(
                        "{path:?} is refused: it goes through a symbolic link"
                    ));
                }
                _ => {}
            }
        }
        let shown = clean.to_string_lossy().replace('\\', "/");
        let shown = if shown.is_empty() { ".".into() } else { shown };
        Ok((self.root.join(&clean), shown))
    }

    fn list(&self, input: &Value) -> Result<ToolOutput, String> {
        let (dir, shown) = self.resolve(optional_str(input, "path")?.unwrap_or("."))?;
        if !dir.is_dir() {
            return Err(format!("{shown} is not a directory"));
        }
        let mut entries = Vec::new();
        let mut truncated = false;
        walk(&dir, &mut |path, is_dir| {
            if entries.len() >= MAX_LIST_ENTRIES {
                truncated = true;
                return false;
            }
            let rel = path
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            entries.push(if is_dir { format!("{rel}/") } else { rel });
            true
        })
        .map_err(|e| format!("cannot list {shown}: {e}"))?;
        let mut text = entries.join("\n");
        if truncated {
            text.push_str(&format!(
                "\n[listing stopped after {MAX_LIST_ENTRIES} entries]"
            ));
        }
        if entries.is_empty() {
            text = format!("{shown} is empty");
        }
        Ok(ToolOutput::ok(text))
    }

    fn read(&self, input: &Value) -> Result<ToolOutput, String> {
        let (file, shown) = self.resolve(required_str(input, "path")?)?;
        let bytes = read_file(&file, &shown)?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
        let offset = optional_u64(input, "offset")?.unwrap_or(1).max(1) as usize;
        let limit = optional_u64(input, "limit")?.map(|l| l as usize);
        let selected: String = if offset == 1 && limit.is_none() {
            text
        } else {
            let lines = text.split_inclusive('\n').skip(offset - 1);
            match limit {
                Some(limit) => lines.take(limit).collect(),
                None => lines.collect(),
            }
        };
        if selected.len() > MAX_READ_BYTES {
            let mut end = MAX_READ_BYTES;
            while !selected.is_char_boundary(end) {
                end -= 1;
            }
            return Ok(ToolOutput::ok(format!(
                "{}\n[truncated at {MAX_READ_BYTES} bytes of {}; read a range with offset and limit]",
                &selected[..end],
                selected.len()
            )));
        }
        Ok(ToolOutput::ok(selected))
    }

    fn search(&self, input: &Value) -> Result<ToolOutput, String> {
        let pattern = required_str(input, "pattern")?;
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid pattern: {e}"))?;
        let (start, _) = self.resolve(optional_str(input, "path")?.unwrap_or("."))?;
        let mut matches = Vec::new();
        let mut visit = |path: &Path| {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return true;
            };
            if !meta.is_file() || meta.len() as usize > MAX_FILE_BYTES {
                return true;
            }
            let Ok(text) = std::fs::read_to_string(path) else {
                return true;
            };
            let rel = path
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    if matches.len() >= MAX_MATCHES {
                        return false;
                    }
                    let line: String = line.chars().take(300).collect();
                    matches.push(format!("{rel}:{}: {line}", n + 1));
                }
            }
            true
        };
        if start.is_dir() {
            walk(&start, &mut |path, is_dir| is_dir || visit(path))
                .map_err(|e| format!("cannot search: {e}"))?;
        } else {
            visit(&start);
        }
        let mut text = matches.join("\n");
        if matches.len() >= MAX_MATCHES {
            text.push_str(&format!("\n[stopped after {MAX_MATCHES} matches]"));
        }
        if matches.is_empty() {
            text = "no matches".into();
        }
        Ok(ToolOutput::ok(text))
    }

    fn write(&self, input: &Value) -> Result<ToolOutput, String> {
        let (file, shown) = self.resolve(required_str(input, "path")?)?;
        let content = required_str(input, "content")?;
        if content.len() > MAX_FILE_BYTES {
            return Err(format!(
                "the content is {} bytes; files written by the agent are limited to {MAX_FILE_BYTES}",
                content.len()
            ));
        }
        if file.is_dir() {
            return Err(format!("{shown} is a directory"));
        }
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the folder of {shown}: {e}"))?;
        }
        let existed = file.exists();
        std::fs::write(&file, content).map_err(|e| format!("cannot write {shown}: {e}"))?;
        Ok(ToolOutput::changed(format!(
            "{} {shown} ({} bytes)",
            if existed { "overwrote" } else { "created" },
            content.len()
        )))
    }

    fn edit(&self, input: &Value) -> Result<ToolOutput, String> {
        let (file, shown) = self.resolve(required_str(input, "path")?)?;
        let old = required_str(input, "old_text")?;
        let new = required_str(input, "new_text")?;
        let all = input
            .get("replace_all")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if old.is_empty() {
            return Err("old_text is empty; use write_file to create a file".into());
        }
        let text = String::from_utf8(read_file(&file, &shown)?)
            .map_err(|_| format!("{shown} is not UTF-8 text"))?;
        let count = text.matches(old).count();
        let edited = match (count, all) {
            (0, _) => return Err(format!("old_text does not occur in {shown}")),
            (1, _) | (_, true) => text.replace(old, new),
            (n, false) => {
                return Err(format!(
                    "old_text occurs {n} times in {shown}; give more context or set replace_all"
                ));
            }
        };
        if edited.len() > MAX_FILE_BYTES {
            return Err(format!(
                "the edit would make {shown} larger than {MAX_FILE_BYTES} bytes"
            ));
        }
        std::fs::write(&file, &edited).map_err(|e| format!("cannot write {shown}: {e}"))?;
        Ok(ToolOutput::changed(format!(
            "edited {shown}: {count} replacement(s)"
        )))
    }

    fn delete(&self, input: &Value) -> Result<ToolOutput, String> {
        let (file, shown) = self.resolve(required_str(input, "path")?)?;
        if !file.is_file() {
            return Err(format!("{shown} is not a file"));
        }
        std::fs::remove_file(&file).map_err(|e| format!("cannot delete {shown}: {e}"))?;
        Ok(ToolOutput::changed(format!("deleted {shown}")))
    }
}

fn read_file(file: &Path, shown: &str) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown} does not exist"),
        _ => format!("cannot read {shown}: {e}"),
    })?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    if meta.len() as usize > MAX_FILE_BYTES {
        return Err(format!(
            "{shown} is {} bytes; files larger than {MAX_FILE_BYTES} bytes are not read",
            meta.len()
        ));
    }
    std::fs::read(file).map_err(|e| format!("cannot read {shown}: {e}"))
}

/// Visits files and directories under `dir` in name order, skipping `.git` and
/// symbolic links; stops when `visit` returns false.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, bool) -> bool) -> std::io::Result<bool> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        if kind.is_symlink() || entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        if !visit(&path, kind.is_dir()) {
            return Ok(false);
        }
        if kind.is_dir() && !walk(&path, visit)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn required_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, String> {
    input
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the argument {key:?} (a string) is required"))
}

fn optional_str<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("the argument {key:?} must be a string")),
    }
}

fn optional_u64(input: &Value, key: &str) -> Result<Option<u64>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("the argument {key:?} must be a positive integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("src/a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(dir.path().join(".git/config"), "secret").unwrap();
        let ws = Workspace::new(dir.path());
        (dir, ws)
    }

    #[test]
    fn paths_that_leave_the_checkout_are_refused_for_every_tool() {
        let (dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("target.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("target.txt"),
            dir.path().join("file-link"),
        )
        .unwrap();
        let escapes = [
            "../x",
            "src/../../x",
            "/etc/passwd",
            ".git/config",
            "link/target.txt",
            "file-link",
            "",
        ];
        for path in escapes {
            for (tool, input) in [
                ("read_file", json!({"path": path})),
                ("write_file", json!({"path": path, "content": "x"})),
                (
                    "edit_file",
                    json!({"path": path, "old_text": "outside", "new_text": "pwned"}),
                ),
                ("delete_file", json!({"path": path})),
                ("list_files", json!({"path": path})),
                ("search", json!({"pattern": "o", "path": path})),
            ] {
                let out = ws.call(tool, &input);
                assert!(out.is_error, "{tool} {path:?} was allowed: {out:?}");
                assert!(!out.changed);
            }
        }
        assert_eq!(
            std::fs::read_to_string(outside.path().join("target.txt")).unwrap(),
            "outside"
        );
        assert!(!dir.path().parent().unwrap().join("x").exists());
    }

    #[test]
    fn read_write_edit_delete_and_search_work_inside() {
        let (dir, ws) = workspace();
        let read = ws.call(
            "read_file",
            &json!({"path": "src/a.txt", "offset": 2, "limit": 1}),
        );
        assert_eq!(read, ToolOutput::ok("two\n"));
        let wrote = ws.call(
            "write_file",
            &json!({"path": "new/b.txt", "content": "hello\n"}),
        );
        assert!(wrote.changed && !wrote.is_error, "{wrote:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/b.txt")).unwrap(),
            "hello\n"
        );
        let edited = ws.call(
            "edit_file",
            &json!({"path": "./src/a.txt", "old_text": "two", "new_text": "2"}),
        );
        assert!(edited.changed, "{edited:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/a.txt")).unwrap(),
            "one\n2\nthree\n"
        );
        let ambiguous = ws.call(
            "edit_file",
            &json!({"path": "src/a.txt", "old_text": "e", "new_text": "E"}),
        );
        assert!(
            ambiguous.is_error && ambiguous.content.contains("occurs"),
            "{ambiguous:?}"
        );
        let found = ws.call("search", &json!({"pattern": "^h"}));
        assert_eq!(found.content, "new/b.txt:1: hello");
        let listed = ws.call("list_files", &json!({}));
        assert_eq!(listed.content, "new/\nnew/b.txt\nsrc/\nsrc/a.txt");
        let deleted = ws.call("delete_file", &json!({"path": "new/b.txt"}));
        assert!(deleted.changed);
        assert!(!dir.path().join("new/b.txt").exists());
        let unknown = ws.call("run_shell", &json!({"cmd": "rm -rf /"}));
        assert!(unknown.is_error && unknown.content.contains("there is no tool"));
        let missing = ws.call("write_file", &json!({"path": "x"}));
        assert!(missing.is_error && missing.content.contains("\"content\""));
    }
}
