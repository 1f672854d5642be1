//! The minimal environment a command gets: the basics, what the caller passes through,
//! and nothing else from docket's own environment.

/// Builds a minimal environment from this process's environment: `PATH`, `HOME` and
/// `LANG` when set, then each `pass_through` variable when set, then `extra`, whose
/// entries replace any of the same name. Nothing else is passed on.
///
/// Variables whose name or value is not UTF-8 are never passed on.
#[must_use]
pub fn minimal_env(pass_through: &[String], extra: &[(String, String)]) -> Vec<(String, String)> {
    let parent = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    minimal_env_from(parent, pass_through, extra)
}

/// [`minimal_env`] over an explicit parent environment, so the selection can be tested
/// without touching the process environment.
///
/// The result has each name once, in this order: `PATH`, `HOME`, `LANG`, the
/// `pass_through` names in the given order, then new names from `extra`. When the
/// parent has a name twice, the last value wins.
#[must_use]
pub(super) fn minimal_env_from(
    parent: impl IntoIterator<Item = (String, String)>,
    pass_through: &[String],
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let parent: Vec<(String, String)> = parent.into_iter().collect();
    let parent_value = |name: &str| {
        parent
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    };

    let mut env: Vec<(String, String)> = Vec::new();
    let wanted = ["PATH", "HOME", "LANG"]
        .into_iter()
        .chain(pass_through.iter().map(String::as_str));
    for name in wanted {
        if env.iter().any(|(key, _)| key == name) {
            continue;
        }
        if let Some(value) = parent_value(name) {
            env.push((name.to_owned(), value.clone()));
        }
    }
    for (name, value) in extra {
        match env.iter_mut().find(|(key, _)| key == name) {
            Some(entry) => entry.1.clone_from(value),
            None => env.push((name.clone(), value.clone())),
        }
    }
    env
}
