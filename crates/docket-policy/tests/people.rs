#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! People and roles: parsing `[[people]]`, the errors a user reads, and who an email or
//! user name turns out to be.

use docket_policy::{Identity, People, PersonEntry};

const PEOPLE: &str = r#"
# .docket/people.toml
[[people]]
id = "alice"
emails = ["Alice@Example.com", "alice@users.noreply.github.com"]
names = ["alice-gh", "Alice Liddell"]
roles = ["initiator", "requester"]

[[people]]
id = "carol"
emails = ["carol@example.com"]
roles = ["approver", "admin", "approver"]
"#;

fn identity(name: &str, id: &str, roles: &[&str], known: bool) -> Identity {
    Identity {
        name: name.to_owned(),
        id: id.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        known,
    }
}

#[test]
fn identities_match_ids_emails_and_names_case_insensitively() {
    let people = People::parse(PEOPLE, ".docket/people.toml").unwrap();
    assert!(!people.is_empty());
    let alice = ["initiator", "requester"];
    assert_eq!(
        people.identity("alice@example.com"),
        identity("alice@example.com", "alice", &alice, true)
    );
    assert_eq!(
        people.identity("ALICE-GH"),
        identity("ALICE-GH", "alice", &alice, true)
    );
    assert_eq!(
        people.identity(" alice liddell "),
        identity(" alice liddell ", "alice", &alice, true)
    );
    assert_eq!(
        people.identity("Alice"),
        identity("Alice", "alice", &alice, true)
    );
    // Roles come sorted and once.
    assert_eq!(
        people.identity("carol@example.com").roles,
        ["admin", "approver"]
    );
    // Unknown: the id is the name lowercased, no roles.
    assert_eq!(
        people.identity("Mallory@Example.com"),
        identity("Mallory@Example.com", "mallory@example.com", &[], false)
    );
}

#[test]
fn the_people_section_of_docket_toml_reads_the_same() {
    let docket_toml =
        format!("[repository]\nalias = \"infra\"\n\n[policy]\nbuiltin = true\n{PEOPLE}");
    let from_config = People::parse(&docket_toml, "docket.toml").unwrap();
    let from_file = People::parse(PEOPLE, ".docket/people.toml").unwrap();
    for who in ["alice-gh", "carol@example.com", "nobody"] {
        assert_eq!(from_config.identity(who), from_file.identity(who));
    }
    // No `people` key: nobody is listed, roles are not configured.
    assert!(
        People::parse("[repository]\nalias = \"infra\"\n", "docket.toml")
            .unwrap()
            .is_empty()
    );
    assert!(People::default().is_empty());
}

#[test]
fn errors_name_the_file_and_the_cause() {
    let cases = [
        (
            "[[people]]\nid = \"dave\"\nroles = [\"approver\", \"reviewer\"]\n",
            "team/people.toml: person `dave` has unknown role `reviewer`; the roles are requester, initiator, approver and admin",
        ),
        (
            "[[people]]\nid = \"a\"\nemails = [\"x@example.com\"]\n\n[[people]]\nid = \"b\"\nemails = [\"X@example.com\"]\n",
            "team/people.toml: identity `X@example.com` is claimed by both `a` and `b`; an email or name may belong to one person only",
        ),
        (
            "[[people]]\nid = \"a\"\n\n[[people]]\nid = \"b\"\nnames = [\"A\"]\n",
            "team/people.toml: identity `A` is claimed by both `a` and `b`; an email or name may belong to one person only",
        ),
        (
            "[[people]]\nid = \"a\"\n\n[[people]]\nid = \"A\"\n",
            "team/people.toml: person `A` is listed twice; list each person once",
        ),
        (
            "[[people]]\nid = \" \"\n",
            "team/people.toml: a [[people]] entry has an empty `id`; give every person an id",
        ),
    ];
    for (text, message) in cases {
        let err = People::parse(text, "team/people.toml").unwrap_err();
        assert_eq!(err.to_string(), message, "{text}");
    }
    let err = People::parse(
        "[[people]]\nid = \"a\"\nemail = \"a@example.com\"\n",
        "team/people.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("team/people.toml: ") && err.contains("unknown field `email`"),
        "{err}"
    );
    let err = People::parse("[[people]\n", "team/people.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("team/people.toml: ") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn merging_checks_across_both_lists() {
    let config = People::from_entries(
        vec![PersonEntry {
            id: "alice".into(),
            emails: vec!["alice@example.com".into()],
            names: vec![],
            roles: vec!["initiator".into()],
        }],
        "docket.toml",
    )
    .unwrap();
    let file = People::parse(
        "[[people]]\nid = \"carol\"\nroles = [\"approver\"]\n",
        ".docket/people.toml",
    )
    .unwrap();
    let merged = config.clone().merge(file, ".docket/people.toml").unwrap();
    assert_eq!(merged.identity("carol").roles, ["approver"]);
    assert_eq!(merged.identity("ALICE@example.com").id, "alice");

    let clash = People::parse(
        "[[people]]\nid = \"al\"\nemails = [\"Alice@Example.com\"]\n",
        ".docket/people.toml",
    )
    .unwrap();
    let err = config.merge(clash, ".docket/people.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        ".docket/people.toml: identity `Alice@Example.com` is claimed by both `alice` and `al`; an email or name may belong to one person only"
    );
}
