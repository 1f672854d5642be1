//! Repository path rules: which paths a run may touch (allowed and forbidden globs)
//! and the lexical check that turns a repository-relative path into its one
//! normal form before any rule sees it.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Which of the two glob lists a bad glob came from, so the message can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobList {
    Allowed,
    Forbidden,
}

impl fmt::Display for GlobList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlobList::Allowed => "allowed",
            GlobList::Forbidden => "forbidden",
        })
    }
}

/// Why a list of path globs could not be compiled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PathRuleError {
    #[error("{list} path glob `{glob}` is not a valid glob: {source}")]
    InvalidGlob {
        list: GlobList,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error(
        "{list} path glob `{glob}` is anchored outside the repository: globs are relative to the repository root, so write `{suggestion}`"
    )]
    Rooted {
        list: GlobList,
        glob: String,
        suggestion: String,
    },
    #[error("{list} path globs contain an empty glob, which matches no file: remove it")]
    EmptyGlob { list: GlobList },
    #[error("{list} path globs cannot be combined into one matcher: {source}")]
    TooComplex {
        list: GlobList,
        #[source]
        source: globset::Error,
    },
}

/// What the rules say about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathVerdict {
    Allowed,
    /// The path matches this forbidden glob (the first one, in configuration order).
    Forbidden {
        glob: String,
    },
    /// The path matches no allowed glob.
    NotAllowed,
    /// The path is not a safe repository-relative path, so no glob was consulted.
    Unsafe(UnsafePath),
}

/// Allowed and forbidden globs, compiled. Forbidden wins over allowed; with no
/// allowed globs nothing is allowed.
#[derive(Debug, Clone)]
pub struct PathRules {
    allowed: GlobSet,
    forbidden: GlobSet,
    forbidden_globs: Vec<String>,
}

impl PathRules {
    /// Compiles both lists. `*` and `?` never cross `/`; `**` does. Matching is
    /// case-sensitive, as git's paths are.
    pub fn new(allowed: &[String], forbidden: &[String]) -> Result<PathRules, PathRuleError> {
        Ok(PathRules {
            allowed: compile_globs(GlobList::Allowed, allowed)?,
            forbidden: compile_globs(GlobList::Forbidden, forbidden)?,
            forbidden_globs: forbidden.to_vec(),
        })
    }

    /// Judges `path` after normalizing it, so `src/../docket.toml` meets the same
    /// rules as `docket.toml`: matching the raw text would let `..` walk around a
    /// forbidden glob.
    pub fn check(&self, path: &str) -> PathVerdict {
        let path = match normalize_repo_path(path) {
            Ok(path) => path,
            Err(unsafe_path) => return PathVerdict::Unsafe(unsafe_path),
        };
        // Forbidden is consulted first and wins: an allowed `**` must not reopen
        // `.github/workflows/**`.
        let first_forbidden = self.forbidden.matches(path.as_str()).into_iter().min();
        if let Some(index) = first_forbidden {
            let glob = self.forbidden_globs.get(index).cloned().unwrap_or_default();
            return PathVerdict::Forbidden { glob };
        }
        if self.allowed.is_match(path.as_str()) {
            PathVerdict::Allowed
        } else {
            PathVerdict::NotAllowed
        }
    }
}

fn compile_globs(list: GlobList, globs: &[String]) -> Result<GlobSet, PathRuleError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        set.add(compile_glob(list, glob)?);
    }
    set.build()
        .map_err(|source| PathRuleError::TooComplex { list, source })
}

fn compile_glob(list: GlobList, glob: &str) -> Result<Glob, PathRuleError> {
    if glob.is_empty() {
        return Err(PathRuleError::EmptyGlob { list });
    }
    // Paths are normalized before matching and never start with `/` or `./`, so a
    // glob that does would silently match nothing; say so instead.
    let relative = glob.trim_start_matches("./").trim_start_matches('/');
    if relative != glob {
        return Err(PathRuleError::Rooted {
            list,
            glob: glob.to_owned(),
            suggestion: relative.to_owned(),
        });
    }
    GlobBuilder::new(glob)
        .literal_separator(true)
        .case_insensitive(false)
        // The same meaning on every platform: `\` escapes, it is never a separator.
        .backslash_escape(true)
        .build()
        .map_err(|source| PathRuleError::InvalidGlob {
            list,
            glob: glob.to_owned(),
            source,
        })
}

/// Why a path is not a safe repository-relative path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafePathReason {
    Empty,
    /// Starts with `/` or a drive letter such as `C:`.
    Absolute,
    /// A `..` climbs above the repository root.
    EscapesRepository,
    /// Contains a NUL byte or another control character (newline, tab, escape, ...).
    ControlCharacter,
    /// Contains `\`; repository paths use `/` only.
    Backslash,
    /// Names the repository root itself (`.`, `a/..`), not a path inside it.
    RepositoryRoot,
    /// Has a `.git` component: git's own metadata (hooks, config) is never content.
    GitDirectory,
}

impl fmt::Display for UnsafePathReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnsafePathReason::Empty => "the path is empty",
            UnsafePathReason::Absolute => {
                "the path is absolute; use a path relative to the repository root"
            }
            UnsafePathReason::EscapesRepository => "`..` climbs out of the repository",
            UnsafePathReason::ControlCharacter => {
                "the path contains a NUL byte or another control character"
            }
            UnsafePathReason::Backslash => "the path contains `\\`; use `/` as the separator",
            UnsafePathReason::RepositoryRoot => {
                "the path names the repository root, not a file in it"
            }
            UnsafePathReason::GitDirectory => {
                "the path is inside `.git`, which holds git's own metadata"
            }
        })
    }
}

/// A path rejected by [`normalize_repo_path`]. The path is shown escaped, so control
/// characters in it cannot reach a terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe repository path {path:?}: {reason}")]
pub struct UnsafePath {
    pub path: String,
    pub reason: UnsafePathReason,
}

/// Checks a repository-relative path lexically (no file system access) and returns
/// its normal form: `/`-separated, without `.` components, empty components or a
/// trailing `/`, and with every `a/..` pair that stays inside the repository
/// collapsed.
pub fn normalize_repo_path(path: &str) -> Result<String, UnsafePath> {
    let reject = |reason| {
        Err(UnsafePath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return reject(UnsafePathReason::Empty);
    }
    if path.chars().any(char::is_control) {
        return reject(UnsafePathReason::ControlCharacter);
    }
    if path.contains('\\') {
        return reject(UnsafePathReason::Backslash);
    }
    if path.starts_with('/') || has_drive_prefix(path) {
        return reject(UnsafePathReason::Absolute);
    }
    let mut components: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() {
                    return reject(UnsafePathReason::EscapesRepository);
                }
            }
            // Case-insensitive because case-insensitive file systems (macOS,
            // Windows) treat `.GIT` as `.git`.
            _ if component.eq_ignore_ascii_case(".git") => {
                return reject(UnsafePathReason::GitDirectory);
            }
            _ => components.push(component),
        }
    }
    if components.is_empty() {
        return reject(UnsafePathReason::RepositoryRoot);
    }
    Ok(components.join("/"))
}

/// `C:`, `c:foo`: on Windows these are absolute or drive-relative, never inside the
/// repository.
fn has_drive_prefix(path: &str) -> bool {
    let mut bytes = path.bytes();
    matches!(
        (bytes.next(), bytes.next()),
        (Some(letter), Some(b':')) if letter.is_ascii_alphabetic()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(globs: &[&str]) -> Vec<String> {
        globs.iter().map(|glob| (*glob).to_owned()).collect()
    }

    fn rules(allowed: &[&str], forbidden: &[&str]) -> PathRules {
        PathRules::new(&strings(allowed), &strings(forbidden)).unwrap()
    }

    fn forbidden(glob: &str) -> PathVerdict {
        PathVerdict::Forbidden {
            glob: glob.to_owned(),
        }
    }

    fn unsafe_path(path: &str, reason: UnsafePathReason) -> PathVerdict {
        PathVerdict::Unsafe(UnsafePath {
            path: path.to_owned(),
            reason,
        })
    }

    /// One place that calls `check`: the whole truth table goes through it.
    fn check(rules: &PathRules, path: &str, expected: PathVerdict) {
        assert_eq!(rules.check(path), expected, "path {path:?}");
    }

    #[test]
    fn check_truth_table() {
        let typical = rules(
            &["src/**", "docs/*.md", "Cargo.toml", "**/*.rs"],
            &[
                ".github/workflows/**",
                "docket.toml",
                ".docket/**",
                "**/*.pem",
            ],
        );
        let everything = rules(&["**"], &[]);
        let nothing_allowed = rules(&[], &["secret/**"]);
        let empty = rules(&[], &[]);

        let table: Vec<(&PathRules, &str, PathVerdict)> = vec![
            // `**` crosses directories, `*` does not.
            (&typical, "src/main.rs", PathVerdict::Allowed),
            (&typical, "src/a/b/c.txt", PathVerdict::Allowed),
            (&typical, "docs/guide.md", PathVerdict::Allowed),
            (&typical, "docs/deep/guide.md", PathVerdict::NotAllowed),
            (&typical, "docs/guide.txt", PathVerdict::NotAllowed),
            (&typical, "Cargo.toml", PathVerdict::Allowed),
            (&typical, "crates/x/Cargo.toml", PathVerdict::NotAllowed),
            // A leading `**/` also matches at the root.
            (&typical, "lib.rs", PathVerdict::Allowed),
            (&typical, "crates/x/src/lib.rs", PathVerdict::Allowed),
            // Forbidden wins over allowed.
            (
                &typical,
                ".github/workflows/ci.yml",
                forbidden(".github/workflows/**"),
            ),
            (
                &typical,
                ".github/workflows/nested/x.yml",
                forbidden(".github/workflows/**"),
            ),
            (&typical, ".github/dependabot.yml", PathVerdict::NotAllowed),
            (&typical, "docket.toml", forbidden("docket.toml")),
            (&typical, "sub/docket.toml", PathVerdict::NotAllowed),
            (&typical, ".docket/state.json", forbidden(".docket/**")),
            (&typical, ".docket/runs/1/log.txt", forbidden(".docket/**")),
            (&typical, "src/keys/server.pem", forbidden("**/*.pem")),
            // Case-sensitive, as git is.
            (&typical, "SRC/notes.txt", PathVerdict::NotAllowed),
            (&typical, "src/Main.RS", PathVerdict::Allowed),
            (&typical, "Src/Main.RS", PathVerdict::NotAllowed),
            (&typical, "Docket.toml", PathVerdict::NotAllowed),
            (
                &typical,
                ".GitHub/workflows/ci.yml",
                PathVerdict::NotAllowed,
            ),
            // Paths are normalized before matching, so `..` cannot walk around a rule.
            (&typical, "src/../docket.toml", forbidden("docket.toml")),
            (&typical, "./docket.toml", forbidden("docket.toml")),
            (&typical, "src//./main.rs", PathVerdict::Allowed),
            (
                &typical,
                "src/../../etc/passwd",
                unsafe_path("src/../../etc/passwd", UnsafePathReason::EscapesRepository),
            ),
            (
                &typical,
                "/etc/passwd",
                unsafe_path("/etc/passwd", UnsafePathReason::Absolute),
            ),
            (&typical, "", unsafe_path("", UnsafePathReason::Empty)),
            (
                &typical,
                ".git/hooks/pre-commit",
                unsafe_path(".git/hooks/pre-commit", UnsafePathReason::GitDirectory),
            ),
            // `*` matches dot files too.
            (&everything, ".env", PathVerdict::Allowed),
            (&everything, "a/b/.hidden/c", PathVerdict::Allowed),
            // No allowed globs: nothing is allowed, and forbidden still names its glob.
            (&nothing_allowed, "src/main.rs", PathVerdict::NotAllowed),
            (&nothing_allowed, "secret/key", forbidden("secret/**")),
            (&empty, "README.md", PathVerdict::NotAllowed),
            (&empty, "docket.toml", PathVerdict::NotAllowed),
        ];
        assert!(!table.is_empty());
        for (rules, path, expected) in table {
            check(rules, path, expected);
        }
    }

    #[test]
    fn first_matching_forbidden_glob_is_reported() {
        let rules = rules(&["**"], &["*.toml", "docket.toml"]);
        check(&rules, "docket.toml", forbidden("*.toml"));
    }

    #[test]
    fn bad_globs_are_named() {
        let err = PathRules::new(&strings(&["src/[oops"]), &[]).unwrap_err();
        let PathRuleError::InvalidGlob { list, glob, .. } = &err else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!((*list, glob.as_str()), (GlobList::Allowed, "src/[oops"));
        assert!(
            err.to_string()
                .starts_with("allowed path glob `src/[oops` is not a valid glob: ")
        );

        let err = PathRules::new(&[], &strings(&["/docket.toml"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "forbidden path glob `/docket.toml` is anchored outside the repository: globs are relative to the repository root, so write `docket.toml`"
        );

        let err = PathRules::new(&strings(&["./src/**"]), &[]).unwrap_err();
        assert!(matches!(
            &err,
            PathRuleError::Rooted { glob, suggestion, .. } if glob == "./src/**" && suggestion == "src/**"
        ));

        let err = PathRules::new(&[], &strings(&[""])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "forbidden path globs contain an empty glob, which matches no file: remove it"
        );
    }

    #[test]
    fn normalize_truth_table() {
        use UnsafePathReason::*;
        let table: Vec<(&str, Result<&str, UnsafePathReason>)> = vec![
            ("src/main.rs", Ok("src/main.rs")),
            ("docket.toml", Ok("docket.toml")),
            ("./docket.toml", Ok("docket.toml")),
            ("a/./b", Ok("a/b")),
            ("a//b", Ok("a/b")),
            ("a/b/", Ok("a/b")),
            ("a/../b", Ok("b")),
            ("a/b/../../c", Ok("c")),
            ("a/b/../c/./d", Ok("a/c/d")),
            (".github/workflows/ci.yml", Ok(".github/workflows/ci.yml")),
            (".gitignore", Ok(".gitignore")),
            ("..foo/bar", Ok("..foo/bar")),
            ("dir/file with spaces.txt", Ok("dir/file with spaces.txt")),
            ("naïve/日本.md", Ok("naïve/日本.md")),
            ("", Err(Empty)),
            (".", Err(RepositoryRoot)),
            ("./", Err(RepositoryRoot)),
            ("a/..", Err(RepositoryRoot)),
            ("..", Err(EscapesRepository)),
            ("../x", Err(EscapesRepository)),
            ("a/../../x", Err(EscapesRepository)),
            ("a/b/../../../x", Err(EscapesRepository)),
            ("/etc/passwd", Err(Absolute)),
            ("//server/share", Err(Absolute)),
            ("C:/Windows/win.ini", Err(Absolute)),
            ("c:foo", Err(Absolute)),
            ("a\\b", Err(Backslash)),
            ("..\\..\\x", Err(Backslash)),
            ("a\0b", Err(ControlCharacter)),
            ("a\nb", Err(ControlCharacter)),
            ("a\u{1b}[31mb", Err(ControlCharacter)),
            (".git/config", Err(GitDirectory)),
            ("sub/.git/hooks/post-checkout", Err(GitDirectory)),
            (".GIT/config", Err(GitDirectory)),
            ("a/../.git/config", Err(GitDirectory)),
        ];
        assert!(!table.is_empty());
        for (path, expected) in table {
            let actual = normalize_repo_path(path);
            let expected = expected.map(str::to_owned).map_err(|reason| UnsafePath {
                path: path.to_owned(),
                reason,
            });
            assert_eq!(actual, expected, "path {path:?}");
        }
    }

    #[test]
    fn unsafe_path_message_escapes_the_path() {
        let err = normalize_repo_path("a\n../../b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsafe repository path \"a\\n../../b\": the path contains a NUL byte or another control character"
        );
    }

    #[test]
    fn normal_forms_are_fixed_points() {
        for path in ["a/../b", "./x/./y/", "p/q/../r"] {
            let once = normalize_repo_path(path).unwrap();
            assert_eq!(normalize_repo_path(&once).unwrap(), once);
        }
    }
}
