//! The questions an auditor asks of `docket runs list` — who requested, who started,
//! who approved, which model, which repository — as text, JSON and CSV; and ticket
//! text that must not forge a line on the terminal in `docket run` and `runs show`.

use serde_json::Value;

use crate::governed::*;
use crate::support::{git, line_value};

const APPROVER: &str = "Carol@Example.com";

/// A ready ticket routed to `alias`, with a chosen requester (a YAML scalar).
fn ticket_for(alias: &str, id: &str, requester: &str, body: &str) -> String {
    format!(
        "---\nid: {id}\ntitle: Ticket {id}\nlabels: [docket, repo-{alias}]\nstate: ready\nrequester: {requester}\n---\n{body}"
    )
}

/// The ticket ids `runs list` shows with these filters, oldest first.
fn listed(g: &Governed, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["runs", "list", "--format", "json"];
    args.extend_from_slice(filters);
    let run = g.env.ok(&args);
    run.json()
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {run}"))
        .iter()
        .map(|r| r["ticket"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `ticket` in the governed repository; approvals are required, so it is held.
fn held_run(g: &Governed, ticket: &str) -> String {
    let run = g.run(ticket, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("\noutcome    awaiting-approval\n"),
        "{run}"
    );
    line_value(&run.stdout, "run").to_owned()
}

#[test]
fn filters_answer_who_requested_started_approved_which_model_and_repository() {
    let g = Governed::new(
        &[("approvals", "required", "true")],
        &[("greet", &task("idempotent", "notes/hello.txt", "hello"))],
    );
    g.add_ticket(
        "dana",
        &ticket_for(
            ALIAS,
            "dana",
            "Dana@Example.com",
            &task("idempotent", "notes/dana.txt", "d"),
        ),
    );
    let greet = held_run(&g, "greet");
    let dana = held_run(&g, "dana");
    let approved = g.env.run(&["approve", &greet, "--as", APPROVER]);
    assert_eq!(approved.code, 0, "{approved}");
    let published = g.env.run(&["publish", &greet]);
    assert_eq!(published.code, 0, "{published}");

    // A second repository on the same ledger, with another alias and initiator.
    let other = g.env.path("other");
    git(
        g.env.path("").as_path(),
        &["clone", "-q", g.repo_arg(), other.to_str().unwrap()],
    );
    let config = std::fs::read_to_string(other.join("docket.toml")).unwrap();
    std::fs::write(
        other.join("docket.toml"),
        set_key(&config, "repository", "alias", "\"other\""),
    )
    .unwrap();
    std::fs::write(
        other.join(".docket/tickets/elsewhere.md"),
        ticket_for(
            "other",
            "elsewhere",
            REQUESTER,
            &task("idempotent", "notes/else.txt", "e"),
        ),
    )
    .unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-q", "-m", "alias other"]);
    let elsewhere = g.env.run(&[
        "run",
        "--repo",
        other.to_str().unwrap(),
        "--ticket",
        "elsewhere",
        "--as",
        "erin@example.com",
    ]);
    assert_eq!(elsewhere.code, 1, "{elsewhere}");

    // A run of a model agent, as its record reads in the ledger (the model is only
    // recorded for agents that call one through the gateway).
    let mut modelled: Value = g.show(&dana);
    modelled.as_object_mut().unwrap().remove("stage_entries");
    modelled["run_id"] = Value::from("0195f0c8-0000-7000-8000-00000000model");
    modelled["ticket"]["id"] = Value::from("modelled");
    modelled["agent"]["kind"] = Value::from("claude-code");
    modelled["agent"]["model"] = Value::from("claude-sonnet-4-5");
    g.env.append("run.record", &modelled.to_string());

    assert_eq!(
        listed(&g, &[]),
        ["greet", "dana", "elsewhere", "modelled"],
        "every run, oldest first"
    );
    // Identities match whatever their case.
    assert_eq!(
        listed(&g, &["--requester", "BOB@example.com"]),
        ["greet", "elsewhere"]
    );
    assert_eq!(
        listed(&g, &["--requester", "dana@example.com"]),
        ["dana", "modelled"]
    );
    assert_eq!(
        listed(&g, &["--initiator", "Erin@Example.COM"]),
        ["elsewhere"]
    );
    assert_eq!(listed(&g, &["--approver", "carol@example.com"]), ["greet"]);
    assert_eq!(listed(&g, &["--approver", "CAROL@EXAMPLE.COM"]), ["greet"]);
    assert_eq!(listed(&g, &["--approver", "dana@example.com"]), [""; 0]);
    assert_eq!(listed(&g, &["--model", "claude-sonnet-4-5"]), ["modelled"]);
    // A repository by alias, or by its path (as given or as recorded).
    assert_eq!(listed(&g, &["--repo", "other"]), ["elsewhere"]);
    assert_eq!(
        listed(&g, &["--repo", other.to_str().unwrap()]),
        ["elsewhere"]
    );
    assert_eq!(
        listed(&g, &["--repo", "demo"]),
        ["greet", "dana", "modelled"]
    );
    // Filters combine.
    assert_eq!(
        listed(
            &g,
            &[
                "--requester",
                "bob@example.com",
                "--outcome",
                "awaiting-approval"
            ]
        ),
        ["elsewhere"]
    );

    // The text listing shows the same selection.
    let text = g
        .env
        .ok(&["runs", "list", "--approver", "carol@example.com"]);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with(&greet), "{text}");
    assert!(lines[0].contains(" published "), "{text}");
}

#[test]
fn an_unknown_outcome_is_refused_with_the_valid_ones_and_help_documents_every_filter() {
    let g = Governed::new(&[], &[]);
    let refused = g.env.run(&["runs", "list", "--outcome", "publsihed"]);
    assert_eq!(refused.code, 2, "{refused}");
    let valid = [
        "published",
        "awaiting-approval",
        "blocked",
        "failed",
        "cancelled",
        "discarded",
    ];
    for value in valid {
        assert!(refused.stderr.contains(value), "{value}: {refused}");
    }
    assert_eq!(refused.stdout, "", "{refused}");

    let help = g.env.ok(&["runs", "list", "--help"]).stdout;
    let lines: Vec<&str> = help.lines().collect();
    for flag in [
        "--ticket",
        "--requester",
        "--initiator",
        "--approver",
        "--agent",
        "--model",
        "--repo",
        "--outcome",
        "--since",
        "--until",
    ] {
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} is not in:\n{help}"));
        // A description follows the flag, on its line or the next.
        let described = lines[at].split_whitespace().count() > 2
            || lines
                .get(at + 1)
                .is_some_and(|next| !next.trim().is_empty() && !next.trim_start().starts_with('-'));
        assert!(described, "{flag} has no description:\n{help}");
    }
    for value in valid {
        assert!(help.contains(value), "{value} is not in:\n{help}");
    }
}

#[test]
fn csv_has_a_header_and_one_row_per_run_with_formulas_defused() {
    let g = Governed::new(
        &[("approvals", "required", "true")],
        &[("plain", &task("idempotent", "notes/plain.txt", "p"))],
    );
    // A requester a spreadsheet would run as a formula, with quotes and a comma.
    g.add_ticket(
        "formula",
        &ticket_for(
            ALIAS,
            "formula",
            r#"'=HYPERLINK("http://evil.example","click")'"#,
            &task("idempotent", "notes/formula.txt", "f"),
        ),
    );
    let plain = held_run(&g, "plain");
    let formula = held_run(&g, "formula");
    let approved = g.env.run(&["approve", &formula, "--as", APPROVER]);
    assert_eq!(approved.code, 0, "{approved}");
    let started: Vec<String> = g
        .runs()
        .iter()
        .map(|r| r["started_at"].as_str().unwrap().to_owned())
        .collect();

    let csv = g.env.ok(&["runs", "list", "--format", "csv"]);
    let expected = format!(
        "run,started,outcome,ticket,requester,initiator,approvers,agent,model,branch\r\n\
         {plain},{},awaiting-approval,plain,{REQUESTER},{INITIATOR},,exec,,\r\n\
         {formula},{},awaiting-approval,formula,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",{INITIATOR},{APPROVER},exec,,\r\n",
        started[0], started[1]
    );
    assert_eq!(csv.stdout, expected, "{csv}");

    // Filters apply; no match still gives the header a reader expects.
    let one = g.env.ok(&[
        "runs",
        "list",
        "--format",
        "csv",
        "--approver",
        "carol@example.com",
    ]);
    assert_eq!(one.stdout.lines().count(), 2, "{one}");
    assert!(one.stdout.lines().nth(1).unwrap().starts_with(&formula));
    let none = g
        .env
        .ok(&["runs", "list", "--format", "csv", "--ticket", "nope"]);
    assert_eq!(
        none.stdout,
        "run,started,outcome,ticket,requester,initiator,approvers,agent,model,branch\r\n"
    );
}

#[test]
fn commands_that_cannot_print_csv_refuse_it() {
    let g = Governed::new(&[], &[("greet", &task("idempotent", "notes/h.txt", "h"))]);
    let (_, record) = g.run_json("greet");
    let id = record["run_id"].as_str().unwrap();
    for args in [
        vec!["runs", "show", id, "--format", "csv"],
        vec!["log", "list", "--format", "csv"],
        vec![
            "run",
            "--repo",
            g.repo_arg(),
            "--ticket",
            "greet",
            "--format",
            "csv",
        ],
    ] {
        let refused = g.env.run(&args);
        assert_eq!(refused.code, 2, "{args:?}: {refused}");
        assert!(
            refused
                .stderr
                .contains("--format csv is only for `docket runs list`"),
            "{args:?}: {refused}"
        );
        assert_eq!(refused.stdout, "", "{args:?}: {refused}");
    }
    assert_eq!(g.runs().len(), 1, "the refused `docket run` ran nothing");
}

/// Untrusted ticket text with a line break and an escape sequence: it must not print
/// a second `outcome` line, nor send a raw ESC to the terminal.
#[test]
fn ticket_text_cannot_forge_a_line_on_the_terminal() {
    let g = Governed::new(&[], &[]);
    g.add_ticket(
        "forge",
        &format!(
            "---\nid: forge\ntitle: \"x\\n  outcome    published\\e[2K\"\nlabels: [docket, repo-{ALIAS}]\nstate: ready\nrequester: {REQUESTER}\n---\n{}",
            // The agent changes nothing: the run does not publish.
            task("nothing", "", "")
        ),
    );
    let run = g.run("forge", &[]);
    assert_eq!(run.code, 1, "{run}");
    let id = line_value(&run.stdout, "run").to_owned();
    let show = g.env.ok(&["runs", "show", &id]);
    for (what, printed) in [("docket run", &run), ("runs show", &show)] {
        let outcomes: Vec<&str> = printed
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("outcome"))
            .collect();
        assert_eq!(outcomes.len(), 1, "{what}: {printed}");
        assert!(!outcomes[0].contains("published"), "{what}: {printed}");
        assert!(
            !printed.stdout.contains('\u{1b}'),
            "{what} printed a raw ESC: {printed}"
        );
        let ticket_line = printed
            .stdout
            .lines()
            .find(|l| l.starts_with("ticket "))
            .unwrap();
        assert!(
            ticket_line.contains(r"x\n  outcome    published\u{1b}[2K"),
            "{what} shows the title escaped: {printed}"
        );
    }
    // JSON keeps the title as it was written.
    assert_eq!(
        g.show(&id)["ticket"]["title"],
        "x\n  outcome    published\u{1b}[2K"
    );
}
