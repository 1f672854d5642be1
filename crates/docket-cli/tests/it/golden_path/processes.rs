//! The agent as a process: a timeout kills its process group, SIGINT and SIGTERM
//! cancel the run and clean up, and two runs of one repository at once both publish.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::governed::*;
use crate::support::Run;

use super::{reasons, status, user_view};

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
fn process_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
        }
        Err(_) => false,
    }
}

/// Waits until the agent has written `path` (it is the signal the test waits for),
/// failing early with docket's output if docket exits first.
fn wait_for_file(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        if let Some(exit) = child.try_wait().unwrap() {
            let mut output = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            panic!(
                "docket exited ({exit}) before the agent wrote {}:\n{output}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the agent never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn an_agent_that_times_out_is_killed_with_its_process_group() {
    let pids = tempfile::tempdir().unwrap();
    let pid_file = pids.path().join("sleep.pid");
    let body = format!(
        "{}marker: {}\n",
        task("sleep", "notes/never.txt", ""),
        pid_file.display()
    );
    let g = Governed::new(&[("agent", "timeout", "\"1s\"")], &[("slow", &body)]);
    let (run, record) = g.run_json("slow");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(status(&record), "failed");
    assert_eq!(
        reasons(&record),
        ["agent timed out after 1 s; its process group was killed"]
    );
    assert_eq!(record["attempts"][0]["timed_out"], true);
    assert_eq!(record["diff"], Value::Null);

    // The agent's background `sleep 30` died with it.
    let sleep_pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !process_alive(sleep_pid.trim()),
        "the agent's child {sleep_pid} still runs"
    );
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
    assert_eq!(g.docket_branches(), Vec::<String>::new());
    g.verify_ledger();
}

#[test]
fn sigint_and_sigterm_cancel_the_run_and_clean_up() {
    let pids = tempfile::tempdir().unwrap();
    let signals = ["INT", "TERM"];
    let bodies: Vec<(String, String)> = signals
        .iter()
        .map(|signal| {
            let body = format!(
                "{}marker: {}\n",
                task("sleep", "notes/never.txt", ""),
                pids.path().join(format!("{signal}.pid")).display()
            );
            (format!("stop-{}", signal.to_lowercase()), body)
        })
        .collect();
    let tickets: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(id, body)| (id.as_str(), body.as_str()))
        .collect();
    let g = Governed::new(&[], &tickets);
    let before = user_view(&g.repo);

    for (signal, (ticket, _)) in signals.iter().zip(&bodies) {
        let mut child = g.spawn(ticket);
        let sleep_pid = wait_for_file(&pids.path().join(format!("{signal}.pid")), &mut child);
        assert!(
            process_alive(&sleep_pid),
            "SIG{signal}: the agent is not running"
        );
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let run = finish(child);
        assert_eq!(run.code, 1, "SIG{signal}: {run}");
        assert!(
            run.stdout.contains("\noutcome    cancelled\n"),
            "SIG{signal}: {run}"
        );
        assert!(
            !process_alive(&sleep_pid),
            "SIG{signal}: the agent's child {sleep_pid} still runs"
        );
        assert_eq!(g.leftover_worktrees(), Vec::<String>::new(), "SIG{signal}");
    }

    let runs = g.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (record, (ticket, _)) in runs.iter().zip(&bodies) {
        assert_eq!(record["ticket"]["id"], ticket.as_str());
        assert_eq!(
            record["outcome"],
            json!({"status": "cancelled", "reasons": ["cancelled by signal"]})
        );
        assert_eq!(record["attempts"][0]["timed_out"], false);
        assert_eq!(record["diff"], Value::Null);
    }
    assert_eq!(g.docket_branches(), Vec::<String>::new());
    assert_eq!(user_view(&g.repo), before);
    g.verify_ledger();
}

#[test]
fn two_runs_of_one_repository_at_once_both_publish() {
    let g = Governed::new(
        &[],
        &[
            ("first", &task("idempotent", "notes/first.txt", "one")),
            ("second", &task("idempotent", "notes/second.txt", "two")),
        ],
    );
    let children = [g.spawn("first"), g.spawn("second")];
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    for run in &runs {
        assert_eq!(run.code, 0, "{run}");
    }
    let mut branches = g.docket_branches();
    branches.sort();
    assert_eq!(branches.len(), 2, "{branches:?}");
    assert!(branches[0].starts_with("docket/first-"), "{branches:?}");
    assert!(branches[1].starts_with("docket/second-"), "{branches:?}");
    assert_eq!(
        g.git(&["diff", "--name-only", "main", &branches[0]]),
        "notes/first.txt"
    );
    assert_eq!(
        g.git(&["diff", "--name-only", "main", &branches[1]]),
        "notes/second.txt"
    );
    let records = g.runs();
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| status(r) == "published"),
        "{records:?}"
    );
    assert_ne!(records[0]["run_id"], records[1]["run_id"]);
    g.verify_ledger();
    assert_eq!(g.leftover_worktrees(), Vec::<String>::new());
}
