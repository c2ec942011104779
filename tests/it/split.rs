//! Kalends as a scaled-out deployment runs it: an API process and worker processes of the real
//! binary on one PostgreSQL database and Redis, with a job queue of their own. The role split,
//! the webhook crash and the chaos stories start it from here.

use std::cell::Cell;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::helpers::{self, TempDir};
use crate::process::{free_port, kalends, wait_ready};

pub(crate) struct Split {
    dir: TempDir,
    /// Each process's log (its stderr) as `NNN-role.log`, outside `dir` so that a failing test
    /// can leave it behind ([`Split::logs_kept`]).
    logs: PathBuf,
    spawned: Cell<usize>,
    env: Vec<(String, String)>,
    database_url: String,
    /// The API's port.
    pub port: u16,
}

impl Split {
    /// A deployment on a new PostgreSQL database and Redis, with a queue named after `name`,
    /// and `env` on top (settings the story needs).
    pub async fn new(name: &str, env: &[(&str, &str)]) -> Split {
        let database_url = helpers::postgres_database().await;
        let id = uuid::Uuid::now_v7().simple();
        let mut all = vec![
            ("KALENDS_DATABASE_URL".to_owned(), database_url.clone()),
            ("KALENDS_REDIS_URL".to_owned(), helpers::redis_url()),
            ("KALENDS_JOBS__QUEUE".to_owned(), format!("kalends-{name}-{id}")),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let logs = std::env::temp_dir().join(format!("kalends-{name}-logs-{id}"));
        std::fs::create_dir_all(&logs).unwrap();
        Split {
            dir: TempDir::new(),
            logs,
            spawned: Cell::new(0),
            env: all,
            database_url,
            port: free_port(),
        }
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The command for one process, logging at debug for the jobs into its own file.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = kalends(&self.dir, self.port);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let n = self.spawned.get();
        self.spawned.set(n + 1);
        let role = args.iter().skip_while(|a| **a != "--role").nth(1).unwrap_or(&args[0]);
        let log = std::fs::File::create(self.logs.join(format!("{n:03}-{role}.log"))).unwrap();
        cmd.env("RUST_LOG", "info,kalends_jobs=debug,sqlx=warn")
            .env("NO_COLOR", "1")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log);
        cmd
    }

    /// A tenant made with the CLI, as an operator would; its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let created = self
            .command(&["tenant", "create", "--name", name, "--json"])
            .stdout(Stdio::piped())
            .output()
            .await
            .unwrap();
        assert!(created.status.success(), "kalends tenant create failed");
        let created: Value = serde_json::from_slice(&created.stdout).unwrap();
        created["api_key"].as_str().unwrap().to_owned()
    }

    /// The API process, once it answers.
    pub async fn start_api(&self) -> Child {
        let api = self.command(&["serve", "--role", "api"]).spawn().unwrap();
        wait_ready(self.port).await;
        api
    }

    /// A worker process, with its monitoring endpoints on `ops_port` when given.
    pub fn spawn_worker(&self, ops_port: Option<u16>) -> Child {
        let mut cmd = self.command(&["serve", "--role", "worker"]);
        if let Some(ops) = ops_port {
            cmd.env("KALENDS_OPS_LISTEN", format!("127.0.0.1:{ops}"));
        }
        cmd.spawn().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Where the processes' logs are, for a failing story's message; they are deleted when the
    /// deployment is dropped after a story that passed.
    pub fn logs_kept(&self) -> String {
        self.logs.display().to_string()
    }
}

impl Drop for Split {
    fn drop(&mut self) {
        // A failed story keeps the logs for the diagnosis.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}
