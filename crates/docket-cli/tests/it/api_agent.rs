//! docket's own `api` agent and the fixer's model planner, end to end: the real
//! `docket` binary, a real governed git repository, and a scripted model on
//! 127.0.0.1 that speaks OpenAI Chat Completions or Anthropic Messages (non-streaming,
//! as the agent calls them). The scripted model asks for tool calls; docket runs them
//! inside the checkout, and the run must publish exactly the change, with every
//! exchange in the evidence, and replay to the same diff.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::governed::*;
use crate::model_agents::{JSON, REAL_KEY, Seen, assert_replay_reproduces, run_hello, serve};
use crate::support::git;

/// The tool results a Chat Completions conversation holds so far.
fn chat_results(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "tool").cloned().collect())
        .unwrap_or_default()
}

/// A Chat Completions answer: tool calls (name, arguments) or, with none, a final text.
fn chat_answer(model: &Value, calls: &[(&str, Value)], turn: usize) -> String {
    let message = if calls.is_empty() {
        json!({"role": "assistant", "content": "Done: added the greeting."})
    } else {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| json!({"id": format!("call_{turn}_{i}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
            .collect();
        json!({"role": "assistant", "content": null, "tool_calls": calls})
    };
    json!({
        "id": format!("chatcmpl-{turn}"), "object": "chat.completion", "created": 1_765_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": 700, "completion_tokens": 25, "total_tokens": 725},
    })
    .to_string()
}

/// A scripted Chat Completions model driven by `script(body, tool results so far)`.
fn fake_chat(
    script: impl Fn(&Value, &[Value]) -> Vec<(&'static str, Value)> + Clone + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    fake_chat_on("/v1/chat/completions", "authorization", script)
}

/// The same at `path`, reading the credential from `key_header`.
fn fake_chat_on(
    path: &'static str,
    key_header: &'static str,
    script: impl Fn(&Value, &[Value]) -> Vec<(&'static str, Value)> + Clone + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = serve(path, key_header, seen.clone(), move |text| {
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let results = chat_results(&body);
        let calls = script(&body, &results);
        (
            StatusCode::OK,
            JSON,
            chat_answer(&body["model"], &calls, results.len()),
        )
    });
    (addr, seen)
}

const CHAT_MODEL: &str = "gpt-5.4";

/// A repository governed with the `api` agent on an OpenAI upstream at `addr`.
fn governed_api(
    addr: std::net::SocketAddr,
    extra: &[(&str, &str, &str)],
    ticket: &str,
) -> Governed {
    let model = format!("\"{CHAT_MODEL}\"");
    let mut settings = vec![
        ("agent", "kind", "\"api\""),
        ("agent", "command", "[]"),
        ("agent", "model", &model),
        ("agent", "timeout", "\"60s\""),
    ];
    settings.extend_from_slice(extra);
    let g = Governed::new(&settings, &[("hello", ticket)]);
    g.with_upstream("openai", &format!("http://{addr}/v1"), "FAKE_OPENAI_KEY")
}

fn exchanges(g: &Governed, run_id: &str) -> Vec<Value> {
    g.show(run_id)["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model.exchange")
        .map(|e| g.entry(e["index"].as_u64().unwrap()))
        .collect()
}

/// list the files, write notes/hello.txt, finish.
fn greeting_script(_body: &Value, results: &[Value]) -> Vec<(&'static str, Value)> {
    match results.len() {
        0 => vec![("list_files", json!({}))],
        1 => vec![(
            "write_file",
            json!({"path": "notes/hello.txt", "content": "hello from the api agent\n"}),
        )],
        _ => vec![],
    }
}

#[test]
fn the_api_agent_edits_through_the_gateway_publishes_and_replays() {
    let (addr, seen) = fake_chat(greeting_script);
    let g = governed_api(
        addr,
        &[("checks", "reproducibility", "\"required\"")],
        &format!(
            "Please add notes/hello.txt with a greeting.\nThe old deploy key was {} (never use it).\n",
            aws_key()
        ),
    );
    let (record, code, stderr) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(record["agent"]["kind"], "api");
    assert_eq!(record["agent"]["model"], CHAT_MODEL);
    assert_eq!(
        g.published_file(&record, "notes/hello.txt"),
        "hello from the api agent"
    );

    // Three model turns reached the provider, with the real key; the ticket's secret
    // did not, and the second turn carried the listing the first tool call produced.
    let requests = {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.bodies.len(), 3, "{:#?}", seen.bodies);
        assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);
        assert!(seen.bodies.iter().all(|b| !b.contains(&aws_key())));
        assert!(seen.bodies[0].contains("REDACTED"), "{}", seen.bodies[0]);
        let second: Value = serde_json::from_str(&seen.bodies[1]).unwrap();
        let listing = chat_results(&second)[0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(listing.lines().any(|l| l == "README.md"), "{listing}");
        assert!(!listing.contains(".git/"), "{listing}");
        seen.bodies.len()
    };
    // The reproducibility check replayed the recorded answers: no new request.
    let check = &record["checks"][0];
    assert_eq!(check["check"], "reproducibility");
    assert_eq!(check["outcome"], "pass", "{record:#}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("replaying 3 recorded exchange(s) produced the same diff"),
        "{check}"
    );

    // Each exchange is evidence with tokens and cost; the attempt carries the totals.
    let run_id = record["run_id"].as_str().unwrap();
    let recorded: Vec<Value> = exchanges(&g, run_id)
        .into_iter()
        .filter(|e| e["payload"]["outcome"] == "complete")
        .collect();
    assert_eq!(recorded.len(), 3);
    for exchange in &recorded {
        assert_eq!(exchange["payload"]["api"], "openai.chat");
        assert_eq!(exchange["payload"]["usage"]["input_tokens"], 700);
        assert!(exchange["payload"]["cost_usd"].as_f64().unwrap() > 0.0);
    }
    let usage = &record["attempts"][0]["model_usage"];
    assert_eq!(usage["requests"], 3, "{record:#}");
    assert_eq!(usage["input_tokens"], 2100);
    // The transcript names each tool call, never file contents.
    let transcript =
        String::from_utf8(g.blob(record["attempts"][0]["stdout_digest"].as_str().unwrap()))
            .unwrap();
    assert!(
        transcript.contains(r#""tool":"write_file""#),
        "{transcript}"
    );
    assert!(
        !transcript.contains("hello from the api agent"),
        "{transcript}"
    );

    let diff = record["diff"]["digest"].as_str().unwrap();
    assert_replay_reproduces(&g, run_id, diff, requests, &seen);
    let leaked = std::process::Command::new("grep")
        .args(["-r", "-l", "-e", REAL_KEY, "-e", &aws_key()])
        .arg(&g.env.home)
        .output()
        .unwrap();
    assert!(
        leaked.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&leaked.stdout)
    );
}

#[test]
fn tool_calls_that_leave_the_checkout_are_refused_and_nothing_escapes() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned.txt");
    let absolute = target.display().to_string();
    let (addr, seen) = fake_chat(move |_, results| match results.len() {
        0 => vec![
            (
                "write_file",
                json!({"path": "../../pwned.txt", "content": "x"}),
            ),
            (
                "write_file",
                json!({"path": absolute.clone(), "content": "x"}),
            ),
            ("read_file", json!({"path": ".git/config"})),
            ("read_file", json!({"path": "/etc/passwd"})),
        ],
        _ => vec![],
    });
    let g = governed_api(addr, &[], "Please write outside the repository.\n");
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 1, "{record:#}");
    assert_eq!(record["outcome"]["status"], "failed");
    assert_eq!(
        record["outcome"]["reasons"][0],
        "no change: the agent exited successfully but changed nothing"
    );
    assert!(!target.exists());
    // `../../pwned.txt` from the checkout (DOCKET_HOME/worktrees/<run>) is DOCKET_HOME.
    assert!(!g.env.home.join("pwned.txt").exists());
    let second: Value = serde_json::from_str(&seen.lock().unwrap().bodies[1]).unwrap();
    let results = chat_results(&second);
    assert_eq!(results.len(), 4);
    for result in &results {
        let text = result["content"].as_str().unwrap();
        assert!(text.contains("is refused"), "{text}");
    }
}

#[test]
fn an_agent_that_never_finishes_stops_at_max_turns_with_the_reason() {
    let (addr, seen) = fake_chat(|_, _| vec![("list_files", json!({}))]);
    let g = governed_api(addr, &[("agent", "max_turns", "3")], "Loop forever.\n");
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 1, "{record:#}");
    assert_eq!(record["outcome"]["status"], "failed");
    let reasons = record["outcome"]["reasons"].to_string();
    assert!(
        reasons
            .contains("the api agent used all 3 model turns (agent.max_turns) without finishing"),
        "{record:#}"
    );
    assert_eq!(seen.lock().unwrap().bodies.len(), 3);
}

/// Anthropic Messages, non-streaming, as the api agent calls it.
fn anthropic_answer(model: &Value, calls: &[(&str, Value)], turn: usize) -> String {
    let mut content = vec![];
    for (i, (name, input)) in calls.iter().enumerate() {
        content.push(json!({"type": "tool_use", "id": format!("toolu_{turn}_{i}"), "name": name, "input": input}));
    }
    if calls.is_empty() {
        content.push(json!({"type": "text", "text": "Done."}));
    }
    json!({
        "id": format!("msg_{turn}"), "type": "message", "role": "assistant", "model": model,
        "content": content,
        "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" }, "stop_sequence": null,
        "usage": {"input_tokens": 900, "output_tokens": 30},
    })
    .to_string()
}

/// The user turns of an Anthropic conversation that carry tool results.
fn anthropic_results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| {
                    m["role"] == "user" && m["content"].to_string().contains("\"tool_result\"")
                })
                .count()
        })
        .unwrap_or_default()
}

#[test]
fn a_failed_validation_is_repaired_in_the_same_conversation_and_replays() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    // First the model writes a BAD line (the validation script rejects it); once the
    // conversation holds the validation report, it writes the good line.
    let addr = serve("/v1/messages", "x-api-key", seen.clone(), |text| {
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let results = anthropic_results(&body);
        let repairing = text.contains("docket validated the change");
        let calls: Vec<(&str, Value)> = match (repairing, results) {
            (false, 0) => vec![(
                "write_file",
                json!({"path": "notes/hello.txt", "content": "BAD\n"}),
            )],
            (true, 1) => vec![(
                "edit_file",
                json!({"path": "notes/hello.txt", "old_text": "BAD", "new_text": "good"}),
            )],
            _ => vec![],
        };
        (
            StatusCode::OK,
            JSON,
            anthropic_answer(&body["model"], &calls, results),
        )
    });
    let g = Governed::new(
        &[
            ("agent", "kind", "\"api\""),
            ("agent", "command", "[]"),
            ("agent", "model", "\"claude-sonnet-4-5\""),
            ("agent", "repair", "true"),
            ("agent", "timeout", "\"60s\""),
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
            ("validation", "repair_attempts", "1"),
            ("checks", "reproducibility", "\"required\""),
        ],
        &[("hello", "Please add notes/hello.txt.\n")],
    );
    let g = g.with_upstream("anthropic", &format!("http://{addr}"), "FAKE_ANTHROPIC_KEY");

    let (record, code, stderr) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(g.published_file(&record, "notes/hello.txt"), "good");
    let purposes: Vec<&str> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["initial", "repair"], "{record:#}");
    assert!(record["attempts"][1]["validation_report"].is_string());

    let bodies = seen.lock().unwrap().bodies.clone();
    assert_eq!(bodies.len(), 4, "write, finish, repair edit, finish");
    // The repair continued the conversation: the first turn's tool call is in it,
    // followed by the report, enclosed as data.
    let repair: Value = serde_json::from_str(&bodies[2]).unwrap();
    let text = repair["messages"].to_string();
    assert!(text.contains("toolu_0_0"), "{text}");
    assert!(text.contains("check: found a BAD line"), "{text}");
    assert!(text.contains("<report-"), "{text}");
    assert_eq!(repair["messages"][0]["role"], "user");

    assert_eq!(record["checks"][0]["outcome"], "pass", "{record:#}");
    let (run_id, diff) = (
        record["run_id"].as_str().unwrap(),
        record["diff"]["digest"].as_str().unwrap(),
    );
    assert_replay_reproduces(&g, run_id, diff, 4, &seen);
}

const DATABASE_TF: &str = "resource \"aws_db_instance\" \"billing\" {\n  engine         = \"postgres\"\n  instance_class = \"db.t3.micro\"\n}\n";

/// A repository governed by the fixer with the model planner on an Anthropic
/// upstream answering `answer` (a plan, as the model writes it) to every request.
fn governed_planner(answer: &'static str) -> (Governed, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = serve("/v1/messages", "x-api-key", seen.clone(), move |text| {
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let reply = json!({
            "id": "msg_plan", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 3000, "output_tokens": 120},
        });
        (StatusCode::OK, JSON, reply.to_string())
    });
    let g = Governed::new(
        &[
            ("agent", "kind", "\"fixer\""),
            ("agent", "command", "[]"),
            ("agent", "planner", "\"model\""),
            ("agent", "model", "\"claude-sonnet-4-5\""),
            ("checks", "reproducibility", "\"required\""),
        ],
        &[(
            "hello",
            "The billing database must keep running when its availability zone fails.\n",
        )],
    );
    std::fs::write(g.repo.join("main.tf"), DATABASE_TF).unwrap();
    git(&g.repo, &["add", "main.tf"]);
    let g = g.with_upstream("anthropic", &format!("http://{addr}"), "FAKE_ANTHROPIC_KEY");
    (g, seen)
}

#[test]
fn the_model_planner_proposes_a_plan_that_docket_checks_and_applies() {
    let (g, seen) = governed_planner(
        "Here is the plan.\n```json\n{\"schema\": \"docket.iac-plan/v1\", \"items\": [{\"rule\": \"aws-rds-multi-az\", \"targets\": [\"aws_db_instance.billing\"], \"params\": {}, \"because\": \"keep running when its availability zone fails\"}], \"needs_human\": []}\n```\n",
    );
    let (record, code, stderr) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(record["agent"]["kind"], "fixer");
    assert_eq!(record["agent"]["model"], "claude-sonnet-4-5");
    let fixed = g.published_file(&record, "main.tf");
    let set = fixed
        .lines()
        .find(|l| l.trim_start().starts_with("multi_az"));
    assert!(
        set.is_some_and(|l| l.trim_end().ends_with("= true")),
        "{fixed}"
    );
    // The model was shown the schema, the catalog, the resource and the ticket.
    let bodies = seen.lock().unwrap().bodies.clone();
    assert_eq!(
        bodies.len(),
        1,
        "one plan; the reproducibility check replayed it"
    );
    for needle in [
        "docket.iac-plan/v1",
        "aws-rds-multi-az",
        "aws_db_instance.billing",
        "<ticket-",
    ] {
        assert!(
            bodies[0].contains(needle),
            "{needle} missing from the request"
        );
    }
    // The run.agent entry says the model planned and what it planned.
    let agent = g.show(record["run_id"].as_str().unwrap())["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "run.agent")
        .map(|e| g.entry(e["index"].as_u64().unwrap()))
        .unwrap();
    assert_eq!(agent["payload"]["fixer"]["planner"], "model", "{agent:#}");
    assert_eq!(
        agent["payload"]["fixer"]["plan"]["items"][0]["rule"],
        "aws-rds-multi-az"
    );
    assert_eq!(
        agent["payload"]["model"]["result"]["valid"], true,
        "{agent:#}"
    );
    assert_eq!(record["checks"][0]["outcome"], "pass", "{record:#}");
    let (run_id, diff) = (
        record["run_id"].as_str().unwrap(),
        record["diff"]["digest"].as_str().unwrap(),
    );
    assert_replay_reproduces(&g, run_id, diff, 1, &seen);
}

#[test]
fn an_invalid_model_plan_is_never_applied_and_needs_a_human() {
    let (g, _seen) = governed_planner(
        "{\"schema\": \"docket.iac-plan/v1\", \"items\": [{\"rule\": \"aws-make-it-great\", \"targets\": [\"aws_db_instance.billing\"], \"params\": {}, \"because\": \"x\"}, {\"rule\": \"aws-rds-multi-az\", \"targets\": [\"aws_db_instance.nope\"], \"params\": {}, \"because\": \"y\"}], \"needs_human\": []}",
    );
    let (record, code, _) = run_hello(&g, "FAKE_ANTHROPIC_KEY");
    assert_eq!(code, 1, "{record:#}");
    assert_eq!(record["outcome"]["status"], "failed", "{record:#}");
    assert!(g.docket_branches().is_empty());
    let reasons = record["outcome"]["reasons"].to_string();
    assert!(reasons.contains("no change"), "{reasons}");
    assert!(
        reasons.contains("the model's plan was not valid"),
        "{reasons}"
    );
    assert!(reasons.contains("aws-make-it-great"), "{reasons}");
    assert!(reasons.contains("aws_db_instance.nope"), "{reasons}");
}

#[test]
fn a_ticket_over_its_model_token_budget_is_refused_before_any_model_call() {
    let (addr, seen) = fake_chat(greeting_script);
    // Three turns of 725 tokens: the first run uses exactly the ticket's budget.
    let g = governed_api(
        addr,
        &[("budgets", "ticket_model_tokens", "2175")],
        "Please add notes/hello.txt.\n",
    );
    let (first, code, stderr) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 0, "{first:#}\n{stderr}");
    assert_eq!(first["outcome"]["status"], "published", "{first:#}");
    let calls = seen.lock().unwrap().bodies.len();
    assert_eq!(calls, 3);

    let (second, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 1, "{second:#}");
    assert_eq!(second["outcome"]["status"], "blocked", "{second:#}");
    assert_eq!(
        second["outcome"]["reasons"][0], "budget: ticket model tokens 2175 of 2175 used",
        "{second:#}"
    );
    assert!(second["attempts"].as_array().unwrap().is_empty());
    assert_eq!(
        seen.lock().unwrap().bodies.len(),
        calls,
        "no model was called"
    );
}

/// The api agent on AWS Bedrock's Converse API (docket built with `bedrock`), with a
/// Bedrock API key as the upstream's credential.
#[cfg(feature = "bedrock")]
#[test]
fn the_api_agent_speaks_bedrock_converse() {
    const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = serve(
        "/model/{id}/converse",
        "authorization",
        seen.clone(),
        |text| {
            let body: Value = serde_json::from_str(text).unwrap_or_default();
            let results = body["messages"]
                .to_string()
                .matches("\"toolResult\"")
                .count();
            let content = if results == 0 {
                json!([{"toolUse": {"toolUseId": "tooluse_1", "name": "write_file",
                        "input": {"path": "notes/hello.txt", "content": "hello from bedrock\n"}}}])
            } else {
                json!([{"text": "Done."}])
            };
            let answer = json!({
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": if results == 0 { "tool_use" } else { "end_turn" },
                "usage": {"inputTokens": 800, "outputTokens": 40, "totalTokens": 840},
                "metrics": {"latencyMs": 120},
            });
            (StatusCode::OK, JSON, answer.to_string())
        },
    );
    let g = Governed::new(
        &[
            ("agent", "kind", "\"api\""),
            ("agent", "command", "[]"),
            ("agent", "model", &format!("\"{MODEL_ID}\"")),
            ("agent", "timeout", "\"60s\""),
        ],
        &[("hello", "Please add notes/hello.txt.\n")],
    );
    let path = g.repo.join("docket.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[[gateway.upstreams]]\nname = \"bedrock\"\nprovider = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"http://{addr}\"\ncredential_env = \"FAKE_BEDROCK_KEY\"\n"
    ));
    std::fs::write(&path, config).unwrap();
    git(&g.repo, &["commit", "-q", "-am", "bedrock upstream"]);
    let (record, code, stderr) = run_hello(&g, "FAKE_BEDROCK_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    assert_eq!(
        g.published_file(&record, "notes/hello.txt"),
        "hello from bedrock"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bodies.len(), 2);
    assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);
    let first: Value = serde_json::from_str(&seen.bodies[0]).unwrap();
    assert_eq!(
        first["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "list_files"
    );
    for exchange in exchanges(&g, record["run_id"].as_str().unwrap()) {
        assert_eq!(
            exchange["payload"]["api"], "bedrock.converse",
            "{exchange:#}"
        );
        assert_eq!(exchange["payload"]["model"], MODEL_ID);
        assert_eq!(exchange["payload"]["usage"]["input_tokens"], 800);
    }
}

#[test]
fn a_run_over_its_request_limit_is_stopped_and_blocked_with_the_budget_decision() {
    let (addr, seen) = fake_chat(|_, _| vec![("list_files", json!({}))]);
    let g = governed_api(
        addr,
        &[("gateway", "max_requests", "2")],
        "Keep listing files.\n",
    );
    let (record, code, _) = run_hello(&g, "FAKE_OPENAI_KEY");
    assert_eq!(code, 1, "{record:#}");
    assert_eq!(record["outcome"]["status"], "blocked", "{record:#}");
    let reason = record["outcome"]["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("model limit: "), "{record:#}");
    assert!(reason.contains("2 of 2"), "{record:#}");
    assert_eq!(
        seen.lock().unwrap().bodies.len(),
        2,
        "nothing past the limit left"
    );
    let budget: Vec<Value> = g.show(record["run_id"].as_str().unwrap())["stage_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model.budget")
        .map(|e| g.entry(e["index"].as_u64().unwrap()))
        .collect();
    assert_eq!(budget.len(), 1, "{record:#}");
    assert_eq!(budget[0]["payload"]["limit"], "max_requests");
}

#[test]
fn the_api_agent_calls_an_azure_openai_deployment() {
    let (addr, seen) = fake_chat_on(
        "/openai/deployments/{deployment}/chat/completions",
        "api-key",
        greeting_script,
    );
    let g = Governed::new(
        &[
            ("agent", "kind", "\"api\""),
            ("agent", "command", "[]"),
            ("agent", "model", "\"gpt54-prod\""),
            ("agent", "timeout", "\"60s\""),
        ],
        &[("hello", "Please add notes/hello.txt.\n")],
    )
    .with_upstream("azure-openai", &format!("http://{addr}"), "FAKE_AZURE_KEY");
    let (record, code, stderr) = run_hello(&g, "FAKE_AZURE_KEY");
    assert_eq!(code, 0, "{record:#}\n{stderr}");
    assert_eq!(record["outcome"]["status"], "published", "{record:#}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bodies.len(), 3);
    assert!(seen.keys.iter().all(|k| k == REAL_KEY), "{:?}", seen.keys);
    for exchange in exchanges(&g, record["run_id"].as_str().unwrap()) {
        let payload = &exchange["payload"];
        assert_eq!(payload["api"], "azure.chat", "{exchange:#}");
        // Azure serves the deployment, so the deployment is the model judged.
        assert_eq!(payload["model"], "gpt54-prod");
        assert_eq!(
            payload["request"]["path"],
            "/openai/deployments/gpt54-prod/chat/completions"
        );
    }
}
