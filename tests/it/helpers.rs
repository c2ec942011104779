//! Test fixtures: throwaway databases per test, the real app on port 0, a typed client.

use std::path::PathBuf;
use std::time::Duration;

use kalends::app::{self, Role, Running};
use kalends_core::domain::{Tenant, TenantSettings};
use kalends_core::{Config, Store};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A temporary folder removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("kalends-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the backend tests through scripts/test"))
}

/// A fresh, empty PostgreSQL database on the test server; returns its URL.
pub async fn postgres_database() -> String {
    let admin_url = required_env("KALENDS_TEST_POSTGRES_URL");
    let name = format!("kalends_test_{}", Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("connecting to the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base).to_owned();
    format!("{base}/{name}")
}

/// The test Redis URL.
pub fn redis_url() -> String {
    required_env("KALENDS_TEST_REDIS_URL")
}

/// Configuration for a test: its own data folder and database, fast retries, port 0.
pub async fn config(db: Db, dir: &TempDir) -> Config {
    let database_url = match db {
        Db::Sqlite => format!("sqlite://{}/kalends.db", dir.0.display()),
        Db::Postgres => postgres_database().await,
    };
    let mut config = Config {
        database_url: SecretString::from(database_url),
        listen: "127.0.0.1:0".into(),
        data_dir: dir.0.clone(),
        demo_tenant: false,
        ..Config::default()
    };
    config.jobs.queue = format!("kalends-test-{}", Uuid::now_v7().simple());
    config.jobs.poll_interval_ms = 50;
    config.jobs.relay_interval_ms = 100;
    config.jobs.shutdown_timeout_secs = 5;
    config.database.max_connections = 8;
    // Feed answers follow each change at once in tests (production reuses them for 2 s).
    config.feeds.validator_ttl_ms = 0;
    // Tests connect staff through the in-process sandbox, on PostgreSQL too.
    config.sandbox.enabled = Some(true);
    config
}

/// A connected, migrated store of `db`.
pub async fn store(db: Db, dir: &TempDir) -> Store {
    let config = config(db, dir).await;
    app::connect(&config).await.unwrap().0
}

/// A tenant with defaults (zone UTC unless given).
pub async fn tenant(store: &Store, zone: &str) -> Tenant {
    let settings = TenantSettings {
        name: "Guesthouse".into(),
        time_zone: zone.parse().unwrap(),
        ..Default::default()
    };
    store.create_tenant(settings).await.unwrap()
}

/// Kalends running in this process, with a client for its API.
#[derive(Debug)]
pub struct TestApp {
    pub store: Store,
    pub base: String,
    pub http: reqwest::Client,
    pub running: Option<Running>,
    /// The sandbox control API's token, when the sandbox is mounted.
    pub sandbox_token: Option<SecretString>,
    pub _dir: TempDir,
}

impl TestApp {
    /// Starts every role in one process on `db` (and Redis when `redis` is true).
    pub async fn start(db: Db, redis: bool) -> TestApp {
        let dir = TempDir::new();
        let mut config = config(db, &dir).await;
        if redis {
            config.redis_url = Some(SecretString::from(redis_url()));
        }
        Self::start_with(config, dir).await
    }

    /// Like `start`, on a port known in advance so that `public_url` (OAuth redirect URIs, the
    /// in-process provider sandbox) points at this very server.
    pub async fn start_public(db: Db) -> TestApp {
        Self::start_public_with(db, |_| {}).await
    }

    /// `start_public` with changes to the configuration.
    pub async fn start_public_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = TempDir::new();
        let mut config = config(db, &dir).await;
        tweak(&mut config);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        config.listen = format!("127.0.0.1:{port}");
        config.public_url = format!("http://127.0.0.1:{port}");
        Self::start_with(config, dir).await
    }

    pub async fn start_with(config: Config, dir: TempDir) -> TestApp {
        let (store, queue) = app::connect(&config).await.unwrap();
        let running = app::start(config, Role::All, store.clone(), queue).await.unwrap();
        let base = format!("http://{}", running.addr.unwrap());
        let sandbox_token = running.sandbox_token.clone();
        let http = reqwest::Client::new();
        TestApp { store, base, http, running: Some(running), sandbox_token, _dir: dir }
    }

    /// A new tenant and an API key for it.
    pub async fn tenant(&self) -> (Tenant, String) {
        let tenant = tenant(&self.store, "Europe/Amsterdam").await;
        let key = self.store.create_api_key(tenant.id).await.unwrap();
        (tenant, key.expose_secret().to_owned())
    }

    /// A client for the provider sandbox's control API (`/sandbox/_control/...`): it sends the
    /// control token (a request's own `Authorization` header wins).
    pub fn sandbox(&self) -> reqwest::Client {
        let token = self.sandbox_token.as_ref().expect("the sandbox is mounted");
        let mut headers = reqwest::header::HeaderMap::new();
        let bearer = format!("Bearer {}", token.expose_secret());
        headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
        reqwest::Client::builder().default_headers(headers).build().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `method path` with `key` and an optional JSON body; returns status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("Authorization", format!("Bearer {key}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }
}

/// Polls `check` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A timed booking body one hour long, `days` from 2030-01-01.
pub fn booking_body(title: &str, day: u32) -> Value {
    serde_json::json!({
        "title": title,
        "start": format!("2030-01-{day:02}T10:00:00+01:00"),
        "end": format!("2030-01-{day:02}T11:00:00+01:00"),
        "time_zone": "Europe/Amsterdam",
    })
}

/// Generates the same test once per backend: `sqlite::name` runs everywhere, `postgres::name` is
/// ignored unless `scripts/test` provides a server.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: run scripts/test"]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;
