//! [`parse_config`]: `docket.toml` text to a validated [`Config`], or an error that
//! names the key and the line.

use toml::de::DeTable;

use super::Config;
use super::error::ConfigError;
use super::key_path::{find_span, key_at, render_key};
use super::validate::validate;

/// Parses and validates `docket.toml`. `file_label` names the file in errors.
pub fn parse_config(file_label: &str, text: &str) -> Result<Config, ConfigError> {
    // The untyped, spanned tree maps error offsets to key paths and key paths to lines.
    let tree = DeTable::parse(text).map_err(|e| parse_error(file_label, text, None, &e))?;
    let config: Config =
        toml::from_str(text).map_err(|e| parse_error(file_label, text, Some(&tree), &e))?;
    validate(&config).map_err(|problem| {
        let span = find_span(tree.get_ref(), &problem.key);
        let (line, column) = match span {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::Invalid {
            file: file_label.to_owned(),
            key: render_key(&problem.key),
            line,
            column,
            message: problem.message,
        }
    })?;
    Ok(config)
}

fn parse_error(
    file: &str,
    text: &str,
    tree: Option<&toml::Spanned<DeTable<'_>>>,
    error: &toml::de::Error,
) -> ConfigError {
    let offset = error.span().map_or(0, |span| span.start);
    let (line, column) = line_column(text, offset);
    let key = tree
        .and_then(|tree| key_at(tree.get_ref(), offset))
        .map(|path| render_key(&path));
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        key,
        message: error.message().trim_end().to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error, parse};

    #[test]
    fn unknown_key_reports_key_and_line() {
        let text =
            "[repository]\nalias = \"infra\"\n\n[rules]\nmax_files = 3\nforbiden_paths = [\"x\"]\n";
        assert_eq!(
            parse(text).unwrap_err(),
            ConfigError::Parse {
                file: "docket.toml".into(),
                line: 6,
                column: 1,
                key: Some("rules.forbiden_paths".into()),
                message: "unknown field `forbiden_paths`, expected one of `allowed_paths`, `forbidden_paths`, `max_files`, `max_lines`, `secrets`, `max_scan_bytes`".into(),
            }
        );
        assert_eq!(
            error("[repository]\nalias = \"x\"\n[reviewers]\nteam = 1\n"),
            "docket.toml:3:2: reviewers: unknown field `reviewers`, expected one of `repository`, `intake`, `agent`, `rules`, `validation`, `checks`, `publish`, `policy`, `approvals`, `budgets`, `people`, `gateway`"
        );
    }

    #[test]
    fn wrong_type_reports_key_and_line() {
        assert_eq!(
            error("[rules]\n\nmax_files = \"many\"\n"),
            "docket.toml:3:13: rules.max_files: invalid type: string \"many\", expected u32"
        );
        assert_eq!(
            error("[validation]\ncommands = [\n  [\"make\"],\n  \"make test\",\n]\n"),
            "docket.toml:4:3: validation.commands[1]: invalid type: string \"make test\", expected a sequence"
        );
        assert_eq!(
            error("agent.kind = \"docker\"\n"),
            "docket.toml:1:14: agent.kind: unknown variant `docker`, expected one of `exec`, `fixer`, `claude-code`, `codex`, `api`"
        );
        // The fixer runs inside docket: a command beside it is a mistake, named.
        assert!(
            error("[agent]\nkind = \"fixer\"\ncommand = [\"./fix.sh\"]\n")
                .contains("agent.command"),
            "a command next to the fixer agent must be refused"
        );
    }

    #[test]
    fn syntax_error_reports_line() {
        assert_eq!(
            error("[rules]\nmax_files = \n"),
            "docket.toml:2:13: string values must be quoted, expected literal string"
        );
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "ab\nçd\n";
        assert_eq!(
            [0, 2, 3, 4, 5, 6, 7, 100].map(|offset| line_column(text, offset)),
            [
                (1, 1),
                (1, 3),
                (2, 1),
                (2, 1),
                (2, 2),
                (2, 3),
                (3, 1),
                (3, 1)
            ]
        );
    }
}
