//! [`ConfigError`]: why `docket.toml` was refused, with the file, key and line.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key, or a value of the wrong type. `key` is the dotted
    /// path of the offending key when it could be found (`None` for syntax errors).
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(key.as_deref()))]
    Parse {
        file: String,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// Well-formed, but a value breaks a rule. `key` is like `validation.commands[1]`;
    /// `line` and `column` point at the value, or are `None` when the key is absent.
    #[error("{}: {key}: {message}", location(file, *line, *column))]
    Invalid {
        file: String,
        key: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("{k}: ")).unwrap_or_default()
}

fn location(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.to_owned(),
    }
}
