//! The governed repository every end-to-end run test starts from: a git repository
//! with a scriptable shell agent, a validation script, tickets and a docket.toml.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::support::{Backend, Env, Run, git};

/// The one agent every test uses. docket gives an agent the ticket only as a file,
/// so each ticket picks a behaviour (`mode:`) and its target (`file:`, `line:`,
/// `marker:` for a path outside the worktree the test watches).
pub(crate) const AGENT: &str = r#"#!/bin/sh
set -eu
field() { sed -n "s/^$1: *//p" "$DOCKET_TICKET_FILE" | head -n 1; }
mode=$(field mode)
file=$(field file)
line=$(field line)
marker=$(field marker)
echo "agent: $mode $file"
if [ -n "$file" ]; then mkdir -p "$(dirname "$file")"; fi
case "$mode" in
  idempotent)
    touch "$file"
    grep -qxF "$line" "$file" || printf '%s\n' "$line" >> "$file"
    ;;
  append)
    printf '%s\n' "$line" >> "$file"
    ;;
  random)
    od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$file"
    ;;
  symlink)
    ln -s "$line" "$file"
    ;;
  secret)
    key=$(printf 'AKIA%s' QWERTYUIOPASDFGH)
    printf 'aws_access_key_id = %s\n' "$key" > "$file"
    echo "wrote $key"
    echo "wrote $key" >&2
    ;;
  nothing)
    ;;
  sleep)
    sleep 30 &
    echo $! > "$marker.tmp"
    mv "$marker.tmp" "$marker"
    wait
    ;;
  repair)
    if [ -z "${DOCKET_VALIDATION_REPORT:-}" ]; then
      printf 'BAD\n' > "$file"
    else
      cp "$DOCKET_VALIDATION_REPORT" "$marker"
      printf '%s\n' "$line" > "$file"
    fi
    ;;
  git)
    printf '%s\n' "$line" > "$file"
    git branch agent-branch
    git config agent.touched yes
    git -c user.name=agent -c user.email=agent@example.com commit -q --allow-empty -m "agent was here"
    git update-ref refs/heads/main HEAD
    ;;
  *)
    echo "unknown mode '$mode'" >&2
    exit 9
    ;;
esac
"#;

/// Validation for the tests: a change must not contain a line that says BAD.
pub(crate) const CHECK: &str = r#"#!/bin/sh
if grep -rqx BAD .; then
  echo "check: found a BAD line"
  exit 1
fi
echo "check: ok"
"#;

pub(crate) const ALIAS: &str = "demo";
pub(crate) const INITIATOR: &str = "alice@example.com";
pub(crate) const REQUESTER: &str = "bob@example.com";
pub(crate) const USER_EMAIL: &str = "dev@example.com";
pub(crate) const RULES: [&str; 7] = [
    "forbidden-paths",
    "allowed-paths",
    "path-safety",
    "symlinks",
    "max-files",
    "max-lines",
    "secrets",
];

/// The secret the `secret` agent writes, built at run time so that no literal secret
/// sits in this source either.
pub(crate) fn aws_key() -> String {
    format!("{}{}", "AKIA", "QWERTYUIOPASDFGH")
}

/// Ticket body lines for the agent.
pub(crate) fn task(mode: &str, file: &str, line: &str) -> String {
    format!("mode: {mode}\nfile: {file}\nline: {line}\n")
}

/// A ready ticket routed to the test repository, with front matter.
pub(crate) fn ticket(id: &str, body: &str) -> String {
    format!(
        "---\nid: {id}\ntitle: Ticket {id}\nlabels: [docket, repo-{ALIAS}]\nstate: ready\nrequester: {REQUESTER}\n---\n# Ticket {id}\n\n{body}"
    )
}

pub(crate) fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Sets `key = value` in `[section]` of a docket.toml written by `docket init`, whose
/// template lists every key once per section (some commented out).
pub(crate) fn set_key(config: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut replaced = 0;
    let mut out = String::new();
    for line in config.lines() {
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).to_owned();
        }
        let is_key =
            line.starts_with(&format!("{key} = ")) || line.starts_with(&format!("# {key} = "));
        if current == section && is_key {
            out.push_str(&format!("{key} = {value}\n"));
            replaced += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(replaced, 1, "[{section}] {key} is not in:\n{config}");
    out
}

/// A git repository governed by docket: the agent, the validation script, tickets and
/// docket.toml (from `docket init`, adjusted by `settings`) all committed on `main`.
pub(crate) struct Governed {
    pub(crate) env: Env,
    pub(crate) repo: PathBuf,
}

impl Governed {
    /// `settings` are `(section, key, TOML value)` on top of an exec agent with a
    /// generous timeout (agents here finish in milliseconds unless told to sleep).
    pub(crate) fn new(settings: &[(&str, &str, &str)], tickets: &[(&str, &str)]) -> Governed {
        Governed::on(Backend::Sqlite, settings, tickets)
    }

    /// The same, with the ledger on the given backend.
    pub(crate) fn on(
        backend: Backend,
        settings: &[(&str, &str, &str)],
        tickets: &[(&str, &str)],
    ) -> Governed {
        let env = Env::new(backend);
        let repo = env.path("repo");
        std::fs::create_dir_all(repo.join(".docket/tickets")).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["config", "user.email", USER_EMAIL]);
        git(&repo, &["config", "user.name", "Dev"]);
        write_executable(&repo.join(".docket/agent.sh"), AGENT);
        write_executable(&repo.join(".docket/check.sh"), CHECK);
        std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
        for (id, body) in tickets {
            std::fs::write(
                repo.join(format!(".docket/tickets/{id}.md")),
                ticket(id, body),
            )
            .unwrap();
        }
        let init = env.ok(&["init", "--repo", repo.to_str().unwrap(), "--alias", ALIAS]);
        assert!(
            init.stdout.contains("(alias `demo`, base ref `main`)"),
            "{init}"
        );
        let defaults = [
            ("agent", "kind", "\"exec\""),
            ("agent", "command", "[\".docket/agent.sh\"]"),
            ("agent", "timeout", "\"20s\""),
        ];
        let mut config = std::fs::read_to_string(repo.join("docket.toml")).unwrap();
        for (section, key, value) in defaults.iter().chain(settings) {
            config = set_key(&config, section, key, value);
        }
        std::fs::write(repo.join("docket.toml"), config).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "govern with docket"]);
        Governed { env, repo }
    }

    pub(crate) fn repo_arg(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }

    /// `path` as the run `record` published it on its branch.
    pub(crate) fn published_file(&self, record: &Value, path: &str) -> String {
        let branch = record["output"]["branch"]
            .as_str()
            .unwrap_or_else(|| panic!("the run published no branch: {record:#}"));
        self.git(&["show", &format!("{branch}:{path}")])
    }

    /// Adds a ticket and commits it.
    pub(crate) fn add_ticket(&self, id: &str, text: &str) -> PathBuf {
        let path = self.repo.join(format!(".docket/tickets/{id}.md"));
        std::fs::write(&path, text).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("ticket {id}")]);
        path
    }

    pub(crate) fn run_args<'a>(&'a self, ticket: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "run",
            "--repo",
            self.repo_arg(),
            "--ticket",
            ticket,
            "--as",
            INITIATOR,
        ];
        args.extend_from_slice(extra);
        args
    }

    /// `docket run` in text form.
    pub(crate) fn run(&self, ticket: &str, extra: &[&str]) -> Run {
        self.env.run(&self.run_args(ticket, extra))
    }

    /// `docket run --format json`: the run and the record it printed.
    pub(crate) fn run_json(&self, ticket: &str) -> (Run, Value) {
        let run = self.env.run(&self.run_args(ticket, &["--format", "json"]));
        let record = run.json();
        (run, record)
    }

    /// `docket run` as a child process, for tests that act while it runs.
    pub(crate) fn spawn(&self, ticket: &str) -> Child {
        self.env
            .command()
            .args(self.run_args(ticket, &[]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `runs show --format json`: the record plus its stage entries.
    pub(crate) fn show(&self, run_id: &str) -> Value {
        self.env
            .ok(&["runs", "show", run_id, "--format", "json"])
            .json()
    }

    pub(crate) fn runs(&self) -> Vec<Value> {
        self.env
            .ok(&["runs", "list", "--format", "json"])
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    pub(crate) fn entry(&self, index: u64) -> Value {
        self.env
            .ok(&["log", "show", &index.to_string(), "--format", "json"])
            .json()
    }

    pub(crate) fn entries_of_kind(&self, kind: &str) -> Vec<Value> {
        self.env
            .ok(&["log", "list", "--kind", kind, "--format", "json"])
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    pub(crate) fn blob(&self, digest: &str) -> Vec<u8> {
        let out = self.env.path(&format!("blob-{}", digest.replace(':', "-")));
        self.env
            .ok(&["blob", "get", digest, "--out", out.to_str().unwrap()]);
        std::fs::read(out).unwrap()
    }

    /// Branches docket made (`docket/…`).
    pub(crate) fn docket_branches(&self) -> Vec<String> {
        let listed = self.git(&[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/docket/",
        ]);
        listed.lines().map(str::to_owned).collect()
    }

    /// Worktrees left behind: directories under DOCKET_HOME/worktrees, and worktrees the
    /// user's repository still knows about besides its own.
    pub(crate) fn leftover_worktrees(&self) -> Vec<String> {
        let mut left: Vec<String> = match std::fs::read_dir(self.env.home.join("worktrees")) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path().display().to_string())
                .collect(),
            Err(_) => vec![],
        };
        let listed = self.git(&["worktree", "list", "--porcelain"]);
        let root = std::fs::canonicalize(&self.repo).unwrap();
        left.extend(
            listed
                .lines()
                .filter_map(|l| l.strip_prefix("worktree "))
                .filter(|p| Path::new(p) != root)
                .map(|p| format!("registered: {p}")),
        );
        left
    }

    pub(crate) fn verify_ledger(&self) {
        let verify = self.env.run(&["log", "verify"]);
        assert_eq!(verify.code, 0, "log verify:\n{verify}");
    }
}
