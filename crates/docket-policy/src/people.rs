//! People and roles: which person an email or user name belongs to, and what that person
//! may do. Decision inputs carry people as [`Identity`] values, so a policy compares
//! persons (`approver.id == run.initiator.id`), never spellings of their names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The roles a person can hold.
const ROLES: [&str; 4] = ["requester", "initiator", "approver", "admin"];

/// One `[[people]]` entry: a person, the emails and user names they go by, their roles.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersonEntry {
    pub id: String,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A person as a decision input shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity as given (an email, a tracker or code-host user name).
    pub name: String,
    /// The person's id when the name is known, else the name lowercased.
    pub id: String,
    /// The person's roles, sorted; empty for an unknown name.
    pub roles: Vec<String>,
    /// Whether the name belongs to a listed person.
    pub known: bool,
}

/// The persons of a repository, validated: ids are non-empty and unique, roles are known
/// and no email or name belongs to two persons.
#[derive(Debug, Clone, Default)]
pub struct People {
    entries: Vec<PersonEntry>,
    /// Lowercased id, email or name → index into `entries`.
    index: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct PeopleDocument {
    #[serde(default)]
    people: Vec<PersonEntry>,
}

impl People {
    /// Reads the `[[people]]` array of a TOML document; other top-level keys are ignored,
    /// so this reads both `.docket/people.toml` and the `[[people]]` section of
    /// `docket.toml`. `file` names the document in errors.
    pub fn parse(text: &str, file: &str) -> Result<People, PolicyError> {
        let doc: PeopleDocument = toml::from_str(text).map_err(|e| PolicyError::PeopleSyntax {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        People::from_entries(doc.people, file)
    }

    /// Validates entries that were read elsewhere (docket.toml's own parser).
    pub fn from_entries(entries: Vec<PersonEntry>, file: &str) -> Result<People, PolicyError> {
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let id = entry.id.trim();
            if id.is_empty() {
                return Err(PolicyError::EmptyPersonId {
                    file: file.to_owned(),
                });
            }
            if ids.insert(id.to_lowercase(), i).is_some() {
                return Err(PolicyError::DuplicatePerson {
                    file: file.to_owned(),
                    id: entry.id.clone(),
                });
            }
            if let Some(role) = entry.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
                return Err(PolicyError::UnknownRole {
                    file: file.to_owned(),
                    person: entry.id.clone(),
                    role: role.clone(),
                });
            }
        }
        for (i, entry) in entries.iter().enumerate() {
            let identities = std::iter::once(&entry.id)
                .chain(&entry.emails)
                .chain(&entry.names);
            for identity in identities {
                let key = normalize(identity);
                if key.is_empty() {
                    continue;
                }
                match index.get(&key) {
                    Some(&other) if other != i => {
                        let first = entries.get(other).map(|e| e.id.clone()).unwrap_or_default();
                        return Err(PolicyError::DuplicateIdentity {
                            file: file.to_owned(),
                            identity: identity.trim().to_owned(),
                            first,
                            second: entry.id.clone(),
                        });
                    }
                    _ => {
                        index.insert(key, i);
                    }
                }
            }
        }
        Ok(People { entries, index })
    }

    /// Both lists of persons; `file` names where `other` came from in errors (a person
    /// or identity listed in both is an error).
    pub fn merge(self, other: People, file: &str) -> Result<People, PolicyError> {
        let mut entries = self.entries;
        entries.extend(other.entries);
        People::from_entries(entries, file)
    }

    /// True when no person is listed: roles are then not configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Who `who` is: matched case-insensitively against every person's id, emails and
    /// names.
    pub fn identity(&self, who: &str) -> Identity {
        let key = normalize(who);
        match self.index.get(&key).and_then(|&i| self.entries.get(i)) {
            Some(person) => {
                let mut roles = person.roles.clone();
                roles.sort();
                roles.dedup();
                Identity {
                    name: who.to_owned(),
                    id: person.id.clone(),
                    roles,
                    known: true,
                }
            }
            None => Identity {
                name: who.to_owned(),
                id: key,
                roles: Vec::new(),
                known: false,
            },
        }
    }
}

fn normalize(identity: &str) -> String {
    identity.trim().to_lowercase()
}
