//! The crate's error type: every variant names the file it is about and the cause.

/// Why a bundle, a people file or an input document was refused.
///
/// Decisions never return this: a policy that cannot decide denies, with the reason in
/// [`crate::Decision::errors`].
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file in a bundle that is neither a policy nor a data file.
    #[error(
        "{path}: not a policy file; a policy bundle holds `.rego` policies and `.json` data files only"
    )]
    UnsupportedFile { path: String },

    /// A bundle path that cannot be digested unambiguously.
    #[error("{path:?}: invalid policy file path: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    /// The same path added twice (for example by the built-in and a repository bundle).
    #[error("{path}: the file is already in the policy bundle")]
    DuplicatePath { path: String },

    /// A `.rego` file that is not UTF-8 text.
    #[error("{path}: a policy must be UTF-8 text: {source}")]
    NotUtf8 {
        path: String,
        #[source]
        source: std::str::Utf8Error,
    },

    /// A `.json` data file that does not parse.
    #[error("{path}: data file is not valid JSON: {message}")]
    InvalidData { path: String, message: String },

    /// A `.json` data file whose top level is not an object.
    #[error(
        "{path}: a data file must hold a JSON object (its keys become top-level keys of `data`), found {found}"
    )]
    DataNotObject { path: String, found: &'static str },

    /// Two data files define the same top-level key of `data`.
    #[error(
        "{path}: data key `{key}` is also defined by {other}; each top-level key of `data` may come from one data file only"
    )]
    DataConflict {
        path: String,
        key: String,
        other: String,
    },

    /// A data file that would write into `data.docket`, where the decisions live.
    #[error(
        "{path}: data key `docket` is reserved for the decision packages (`package docket.<point>`); use another key"
    )]
    ReservedDataKey { path: String },

    /// A decision point name that is not one of the four.
    #[error("unknown decision point `{name}`; the points are intake, run, publish and approve")]
    UnknownPoint { name: String },

    /// An input document that cannot be written as canonical JSON.
    #[error("policy input: {reason}")]
    Input { reason: String },

    /// A people file that is not TOML of the expected shape.
    #[error("{file}: {message}")]
    PeopleSyntax { file: String, message: String },

    /// A person without an id.
    #[error("{file}: a [[people]] entry has an empty `id`; give every person an id")]
    EmptyPersonId { file: String },

    /// The same person id listed twice.
    #[error("{file}: person `{id}` is listed twice; list each person once")]
    DuplicatePerson { file: String, id: String },

    /// A role that docket does not know.
    #[error(
        "{file}: person `{person}` has unknown role `{role}`; the roles are requester, initiator, approver and admin"
    )]
    UnknownRole {
        file: String,
        person: String,
        role: String,
    },

    /// One email or name claimed by two persons.
    #[error(
        "{file}: identity `{identity}` is claimed by both `{first}` and `{second}`; an email or name may belong to one person only"
    )]
    DuplicateIdentity {
        file: String,
        identity: String,
        first: String,
        second: String,
    },
}
