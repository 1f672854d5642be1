//! Test environments: a temporary DOCKET_HOME, a ledger backend (SQLite file or a
//! fresh PostgreSQL database), the real binary, and raw SQL behind docket's back.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::Connection;

pub const POSTGRES_ENV: &str = "DOCKET_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to test: SQLite always, PostgreSQL when configured. A skipped
/// PostgreSQL is announced on stderr outside the test harness's capture.
pub fn backends(test: &str) -> Vec<Backend> {
    if std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED the PostgreSQL half of `{test}`: set {POSTGRES_ENV} (e.g. postgres://postgres@127.0.0.1:5432/postgres) ***\n"
        );
        vec![Backend::Sqlite]
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A temporary DOCKET_HOME plus its ledger database.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub backend: Backend,
    pg: Option<PgDatabase>,
}

struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = runtime().block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            anyhow::Ok(())
        });
    }
}

fn unique_name() -> String {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    format!("docket_test_{}", hex::encode(rnd))
}

impl Env {
    pub fn new(backend: Backend) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let pg = (backend == Backend::Postgres).then(|| {
            let admin_url = std::env::var(POSTGRES_ENV).unwrap();
            let name = unique_name();
            runtime().block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            });
            let base = admin_url.rsplit_once('/').unwrap().0;
            PgDatabase {
                url: format!("{base}/{name}"),
                admin_url,
                name,
            }
        });
        Env {
            dir,
            home,
            backend,
            pg,
        }
    }

    pub fn sqlite() -> Env {
        Env::new(Backend::Sqlite)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `docket` with this environment's home and database and nothing inherited
    /// that could change its behaviour.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_docket"));
        cmd.arg("--home").arg(&self.home);
        cmd.env_remove("DOCKET_HOME")
            .env_remove("DOCKET_DATABASE_URL")
            .env_remove("DOCKET_LOG")
            .current_dir(self.dir.path());
        if let Some(pg) = &self.pg {
            cmd.env("DOCKET_DATABASE_URL", &pg.url);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command().args(args).output().unwrap();
        Run::from(output)
    }

    /// Runs and asserts the exit code, showing the output when it differs.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "docket {args:?} failed:\n{run}");
        run
    }

    pub fn append(&self, kind: &str, data: &str) -> Run {
        self.ok(&["log", "append", "--kind", kind, "--data", data])
    }

    /// Appends one entry per payload through `--jsonl` (one group commit or a few).
    pub fn append_lines(&self, kind: &str, payloads: &[String]) -> Run {
        let file = self.path(&format!("{}.jsonl", unique_name()));
        std::fs::write(&file, payloads.join("\n")).unwrap();
        self.ok(&[
            "log",
            "append",
            "--kind",
            kind,
            "--jsonl",
            "--data",
            &format!("@{}", file.display()),
        ])
    }

    /// Executes SQL directly on the ledger database, behind docket's back. Table names
    /// are written for SQLite; on PostgreSQL they get the `docket_` prefix.
    pub fn sql(&self, statement: &str) {
        let statement = statement.to_owned();
        match &self.pg {
            None => {
                let file = self.home.join("ledger.sqlite3");
                runtime().block_on(async move {
                    let mut conn =
                        sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                            .await
                            .unwrap();
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            }
            Some(pg) => {
                let url = pg.url.clone();
                let statement = postgres_names(&statement);
                runtime().block_on(async move {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            }
        }
    }

    /// Reads one column of one row as bytes.
    pub fn sql_bytes(&self, query: &str) -> Vec<u8> {
        let query = query.to_owned();
        match &self.pg {
            None => {
                let file = self.home.join("ledger.sqlite3");
                runtime().block_on(async move {
                    let mut conn =
                        sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                            .await
                            .unwrap();
                    sqlx::query_scalar(sqlx::AssertSqlSafe(query))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                })
            }
            Some(pg) => {
                let url = pg.url.clone();
                let query = postgres_names(&query);
                runtime().block_on(async move {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::query_scalar(sqlx::AssertSqlSafe(query))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                })
            }
        }
    }

    /// Writes bytes into one column of one row (`?`/`$1` placeholder per backend).
    pub fn sql_set_bytes(&self, table: &str, column: &str, idx: u64, value: Vec<u8>) {
        match &self.pg {
            None => {
                let file = self.home.join("ledger.sqlite3");
                let q = format!("UPDATE {table} SET {column} = ?1 WHERE idx = ?2");
                runtime().block_on(async move {
                    let mut conn =
                        sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                            .await
                            .unwrap();
                    sqlx::query(sqlx::AssertSqlSafe(q))
                        .bind(value)
                        .bind(idx as i64)
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            }
            Some(pg) => {
                let url = pg.url.clone();
                let q = format!("UPDATE docket_{table} SET {column} = $1 WHERE idx = $2");
                runtime().block_on(async move {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::query(sqlx::AssertSqlSafe(q))
                        .bind(value)
                        .bind(idx as i64)
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            }
        }
    }
}

fn postgres_names(sql: &str) -> String {
    let mut out = sql.to_owned();
    for table in ["entries", "tree_nodes", "checkpoints", "meta"] {
        out = replace_word(&out, table, &format!("docket_{table}"));
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(word) {
        let before = rest[..pos].chars().last();
        let after = rest[pos + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..pos]);
        if boundary(before) && boundary(after) {
            out.push_str(with);
        } else {
            out.push_str(word);
        }
        rest = &rest[pos + word.len()..];
    }
    out.push_str(rest);
    out
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn payloads(count: usize, tag: &str) -> Vec<String> {
    (0..count)
        .map(|i| format!(r#"{{"tag":"{tag}","n":{i}}}"#))
        .collect()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Validates `value` against the JSON Schema in `schema_file` (relative to the
/// repository root), with format assertions; panics naming the file and the errors.
pub fn assert_matches_schema(schema_file: &str, value: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Draft 2020-12 schemas name themselves in `$id`; SARIF's (draft 4) in `id`.
    let id = schema["$id"]
        .as_str()
        .or(schema["id"].as_str())
        .unwrap()
        .to_owned();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource(&id, schema).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler.compile(&id, &mut schemas).unwrap();
    if let Err(e) = schemas.validate(value, index) {
        panic!("does not match {schema_file}: {e:#}\n{value:#}");
    }
}

/// The value after `label` on the text output's line that starts with it.
pub fn line_value<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix(label)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
}
