//! Durability and concurrency with real processes: several appenders at once get
//! distinct, gap-free indexes; an appender killed with SIGKILL loses no entry whose
//! append had been acknowledged, and the ledger verifies afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::{Env, backends};

fn entries(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&["log", "list", "--format", "json"])
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn concurrent_processes_get_distinct_gap_free_indexes() {
    for backend in backends("concurrent_processes_get_distinct_gap_free_indexes") {
        let env = Env::new(backend);
        const PROCS: usize = 4;
        const EACH: usize = 60;
        let mut children = Vec::new();
        for p in 0..PROCS {
            let file = env.path(&format!("p{p}.jsonl"));
            let lines: Vec<String> = (0..EACH)
                .map(|i| format!(r#"{{"proc":{p},"i":{i}}}"#))
                .collect();
            std::fs::write(&file, lines.join("\n")).unwrap();
            let data = format!("@{}", file.display());
            children.push(
                env.command()
                    .args([
                        "log", "append", "--kind", "multi", "--jsonl", "--data", &data,
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        // Single-entry appends race with the streams too.
        let singles: Vec<_> = (0..4)
            .map(|i| {
                env.command()
                    .args([
                        "log",
                        "append",
                        "--kind",
                        "single",
                        "--data",
                        &format!(r#"{{"single":{i}}}"#),
                    ])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut acknowledged = BTreeSet::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for line in String::from_utf8(out.stdout).unwrap().lines() {
                let index: u64 = line.split(' ').next().unwrap().parse().unwrap();
                assert!(acknowledged.insert(index), "index {index} handed out twice");
            }
        }
        for child in singles {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            let index: u64 = text.split_whitespace().nth(2).unwrap().parse().unwrap();
            assert!(acknowledged.insert(index), "index {index} handed out twice");
        }
        assert_eq!(acknowledged.len(), PROCS * EACH + 4);
        // Gap-free: with the genesis entry, indexes are exactly 0..=N.
        let all = entries(&env);
        let indexes: Vec<u64> = all.iter().map(|e| e["index"].as_u64().unwrap()).collect();
        assert_eq!(indexes, (0..=(PROCS * EACH + 4) as u64).collect::<Vec<_>>());
        // Every payload landed exactly once.
        let mut seen = BTreeMap::new();
        for e in &all[1..] {
            *seen.entry(e["payload"].to_string()).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), PROCS * EACH + 4);
        assert!(seen.values().all(|&n| n == 1));
        env.ok(&["log", "verify"]);
    }
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_entry() {
    for backend in backends("sigkill_during_appends_loses_no_acknowledged_entry") {
        let env = Env::new(backend);
        env.ok(&["log", "append", "--kind", "before", "--data", "{}"]);
        let file = env.path("many.jsonl");
        let lines: Vec<String> = (0..200_000).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
        std::fs::write(&file, lines.join("\n")).unwrap();
        let data = format!("@{}", file.display());
        let mut child = env
            .command()
            .args([
                "log", "append", "--kind", "crash", "--jsonl", "--data", &data,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut acknowledged = BTreeMap::new();
        let mut line = String::new();
        while acknowledged.len() < 2000 {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "appender ended early"
            );
            let (index, hash) = line.trim().split_once(' ').unwrap();
            acknowledged.insert(index.parse::<u64>().unwrap(), hash.to_owned());
        }
        // SIGKILL in the middle of the append loop.
        child.kill().unwrap();
        child.wait().unwrap();

        let run = env.ok(&["log", "verify"]);
        assert!(run.stdout.contains("OK"), "{run}");
        let all = entries(&env);
        let stored: BTreeMap<u64, String> = all
            .iter()
            .map(|e| {
                (
                    e["index"].as_u64().unwrap(),
                    e["leaf_hash"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            stored.len() > acknowledged.len(),
            "only {} entries survived",
            stored.len()
        );
        assert!(
            stored.len() < 200_002,
            "the kill came after everything was appended"
        );
        for (index, hash) in &acknowledged {
            assert_eq!(
                stored.get(index),
                Some(hash),
                "acknowledged entry {index} lost or changed"
            );
        }
        // The ledger accepts appends again after the crash.
        env.ok(&["log", "append", "--kind", "after", "--data", "{}"]);
        env.ok(&["log", "verify"]);
    }
}
