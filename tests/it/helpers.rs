//! Test fixtures: throwaway databases per test, the real app on port 0, a typed client.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kalends::api::ListOut;
use kalends::api::blocks::{BlockIn, BlockOut};
use kalends::api::bookings::{BookingIn, BookingOut, BookingPatch};
use kalends::api::conflicts::ConflictOut;
use kalends::api::connections::{ConnectionOut, SyncQueued};
use kalends::api::error::Problem;
use kalends::api::resources::{ResourceIn, ResourceOut, ResourcePatch};
use kalends::api::staff::{SettingsLinkOut, StaffIn, StaffOut};
use kalends::app::{self, Role, Running};
use kalends_core::Config;
use kalends_core::domain::{Tenant, TenantSettings};
use kalends_jobs::JobQueue;
use kalends_store::Store;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::peer::peer;

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
    // A disconnect's queued cleanup follows its own attempt soon (production waits 30 s), so a
    // story that settles after a disconnect does not wait for it.
    config.sync.cleanup_retry_secs = 2;
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

/// An HTTP client for a Kalends server under test. Its pooled connections idle at most 5 s,
/// below the server's keep-alive limit (`http.header_read_timeout_secs`, 10 s), as the
/// configuration reference asks of every client: one reused just as the server closes it
/// fails its request.
pub fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5))
}

/// The JSON body of what `request` is answered (it must be sent and be JSON).
pub async fn answer<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}

/// Kalends running in this process, with a client for its API.
#[derive(Debug)]
pub struct TestApp {
    pub store: Store,
    /// The job queue the app's workers run (for [`TestApp::settle`]).
    pub queue: JobQueue,
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
        let port = crate::ports::free_port();
        config.listen = format!("127.0.0.1:{port}");
        config.public_url = format!("http://127.0.0.1:{port}");
        Self::start_with(config, dir).await
    }

    pub async fn start_with(config: Config, dir: TempDir) -> TestApp {
        let (store, queue) = app::connect(&config).await.unwrap();
        let running = app::start(config, Role::All, store.clone(), queue.clone()).await.unwrap();
        let base = format!("http://{}", running.addr.unwrap());
        let sandbox_token = running.sandbox_token.clone();
        let http = client().build().unwrap();
        TestApp { store, queue, base, http, running: Some(running), sandbox_token, _dir: dir }
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
        client().default_headers(headers).build().unwrap()
    }

    /// Sets the sandbox's injected faults (`{}` clears them).
    pub async fn sandbox_faults(&self, faults: Value) {
        let put = self.sandbox().put(self.url("/sandbox/_control/faults")).json(&faults);
        assert!(put.send().await.unwrap().status().is_success(), "faults {faults}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the sandbox's control API answers at `path` (`/sandbox/_control/...`: its request
    /// counts, grants, channels, subscriptions), as JSON.
    pub async fn sandbox_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.sandbox().get(self.url(path)).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Sends `method path` with `key` and an optional JSON body; returns status and JSON body
    /// (a body that is not JSON as a string).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method, path, key, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends `method path` with `key` and an optional JSON body; returns status and body text.
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("Authorization", format!("Bearer {key}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// The typed API client of the tenant whose key is `key`.
    pub fn api(&self, key: &str) -> Api<'_> {
        Api { app: self, key: key.to_owned() }
    }

    /// The sandbox enforces `per_minute` calendar requests a minute per user from now on (0: no
    /// quota), its buckets full and its counts at zero.
    pub async fn set_sandbox_quota(&self, per_minute: u32) {
        let url = self.url("/sandbox/_control/quota");
        let set =
            self.sandbox().put(&url).json(&serde_json::json!({"requests_per_minute": per_minute}));
        assert!(set.send().await.unwrap().status().is_success());
    }

    /// Returns as soon as the work owed by every change made so far is done: the outbox is empty
    /// and no job is running or due within [`SETTLE_LIMIT`] (jobs scheduled later, reminders for
    /// instance, are not waited for). Work that a job causes (its follow-up jobs, its retries)
    /// is waited for too; work from outside (a provider's push notification still on its way,
    /// the next scheduled import) is not. Panics after [`SETTLE_LIMIT`].
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
        let due_by = SystemTime::now() + SETTLE_LIMIT;
        loop {
            // The outbox's sequence unchanged around the three counts: no work was owed while
            // they were read, so a job that moved between outbox and queue was seen in one.
            let written = self.store.outbox_sequence().await.unwrap();
            let queued = self.queue.unfinished(due_by).await.unwrap();
            let owed = self.store.outbox_depth().await.unwrap();
            let running = self.queue.unfinished(due_by).await.unwrap();
            let idle = queued + running == 0 && owed == 0;
            if idle && self.store.outbox_sequence().await.unwrap() == written {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs did not settle within {SETTLE_LIMIT:?}: {owed} in the outbox, {running} \
                 running or due on the queue"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }
}

/// How long [`TestApp::settle`] waits for jobs before failing the test.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// The API as one tenant sees it, with the application's own request and answer types (a change
/// of the contract breaks the tests at compile time). An error answer is its [`Problem`]; a
/// success with another status than the route's documented one fails the test.
#[derive(Debug)]
pub struct Api<'a> {
    app: &'a TestApp,
    key: String,
}

impl Api<'_> {
    /// Sends `method path` with `body`; the answer with its status, or the problem.
    pub async fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, T), Problem> {
        let (status, text) = self.app.send(method, path, &self.key, body).await;
        if !(200..300).contains(&status) {
            let problem: Problem = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: {status} {text} is no problem: {e}"));
            assert_eq!(
                problem.status, status,
                "{method} {path}: the problem's status is the answer's"
            );
            return Err(problem);
        }
        // An empty body (204) reads as `null`, the JSON of `()`.
        let text = if text.is_empty() { "null" } else { text.as_str() };
        let answer = serde_json::from_str(text).unwrap_or_else(|e| {
            panic!("{method} {path}: {status} {text} is not a {}: {e}", std::any::type_name::<T>())
        });
        Ok((status, answer))
    }

    /// Sends `method path` with `body`; the answer must come with `expect`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Result<T, Problem> {
        let (status, answer) = self.exchange(method, path, body).await?;
        assert_eq!(status, expect, "{method} {path}");
        Ok(answer)
    }

    /// A create or replace by external id: `(201, created)` or `(200, replaced)`.
    async fn upsert<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(u16, T), Problem> {
        let (status, answer) = self.exchange("PUT", path, Some(json(body))).await?;
        assert!(status == 200 || status == 201, "PUT {path}: {status}");
        Ok((status, answer))
    }

    pub async fn create_booking(&self, booking: &BookingIn) -> Result<BookingOut, Problem> {
        self.send("POST", "/api/v1/bookings", Some(json(booking)), 201).await
    }

    pub async fn put_booking(
        &self,
        external_id: &str,
        booking: &BookingIn,
    ) -> Result<(u16, BookingOut), Problem> {
        self.upsert(&format!("/api/v1/bookings/by-external-id/{external_id}"), booking).await
    }

    pub async fn booking(&self, id: Uuid) -> Result<BookingOut, Problem> {
        self.send("GET", &format!("/api/v1/bookings/{id}"), None, 200).await
    }

    /// `GET /api/v1/bookings?{query}` (all of them for an empty query).
    pub async fn bookings(&self, query: &str) -> Result<ListOut<BookingOut>, Problem> {
        self.send("GET", &format!("/api/v1/bookings?{query}"), None, 200).await
    }

    pub async fn patch_booking(
        &self,
        id: Uuid,
        patch: &BookingPatch,
    ) -> Result<BookingOut, Problem> {
        self.send("PATCH", &format!("/api/v1/bookings/{id}"), Some(json(patch)), 200).await
    }

    pub async fn cancel_booking(&self, id: Uuid) -> Result<BookingOut, Problem> {
        self.send("POST", &format!("/api/v1/bookings/{id}/cancel"), None, 200).await
    }

    pub async fn create_staff(&self, staff: &StaffIn) -> Result<StaffOut, Problem> {
        self.send("POST", "/api/v1/staff", Some(json(staff)), 201).await
    }

    pub async fn put_staff(
        &self,
        external_id: &str,
        staff: &StaffIn,
    ) -> Result<(u16, StaffOut), Problem> {
        self.upsert(&format!("/api/v1/staff/by-external-id/{external_id}"), staff).await
    }

    pub async fn settings_link(&self, staff_id: Uuid) -> Result<SettingsLinkOut, Problem> {
        self.send("POST", &format!("/api/v1/staff/{staff_id}/settings-link"), None, 200).await
    }

    pub async fn create_resource(&self, resource: &ResourceIn) -> Result<ResourceOut, Problem> {
        self.send("POST", "/api/v1/resources", Some(json(resource)), 201).await
    }

    pub async fn put_resource(
        &self,
        external_id: &str,
        resource: &ResourceIn,
    ) -> Result<(u16, ResourceOut), Problem> {
        self.upsert(&format!("/api/v1/resources/by-external-id/{external_id}"), resource).await
    }

    pub async fn patch_resource(
        &self,
        id: Uuid,
        patch: &ResourcePatch,
    ) -> Result<ResourceOut, Problem> {
        self.send("PATCH", &format!("/api/v1/resources/{id}"), Some(json(patch)), 200).await
    }

    pub async fn delete_resource(&self, id: Uuid) -> Result<(), Problem> {
        self.send("DELETE", &format!("/api/v1/resources/{id}"), None, 204).await
    }

    pub async fn create_block(&self, block: &BlockIn) -> Result<BlockOut, Problem> {
        self.send("POST", "/api/v1/blocks", Some(json(block)), 201).await
    }

    /// `GET /api/v1/blocks?{query}`.
    pub async fn blocks(&self, query: &str) -> Result<ListOut<BlockOut>, Problem> {
        self.send("GET", &format!("/api/v1/blocks?{query}"), None, 200).await
    }

    pub async fn delete_block(&self, id: Uuid) -> Result<(), Problem> {
        self.send("DELETE", &format!("/api/v1/blocks/{id}"), None, 204).await
    }

    /// The tenant's settings, as the JSON document the API defines them by.
    pub async fn settings(&self) -> Result<Value, Problem> {
        self.send("GET", "/api/v1/settings", None, 200).await
    }

    pub async fn patch_settings(&self, patch: Value) -> Result<Value, Problem> {
        self.send("PATCH", "/api/v1/settings", Some(patch), 200).await
    }

    /// The conflicts with `status` (`open` or `resolved`).
    pub async fn conflicts(&self, status: &str) -> Result<Vec<ConflictOut>, Problem> {
        let page: ListOut<ConflictOut> =
            self.send("GET", &format!("/api/v1/conflicts?status={status}"), None, 200).await?;
        Ok(page.items)
    }

    pub async fn conflict(&self, id: Uuid) -> Result<ConflictOut, Problem> {
        self.send("GET", &format!("/api/v1/conflicts/{id}"), None, 200).await
    }

    pub async fn connections(&self) -> Result<Vec<ConnectionOut>, Problem> {
        let (mut all, mut cursor) = (Vec::new(), String::new());
        loop {
            let path = format!("/api/v1/connections?limit=500&cursor={cursor}");
            let page: ListOut<ConnectionOut> = self.send("GET", &path, None, 200).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = next,
                None => return Ok(all),
            }
        }
    }

    /// `POST /api/v1/connections/{id}/sync` (202).
    pub async fn sync_connection(&self, id: Uuid) -> Result<SyncQueued, Problem> {
        self.send("POST", &format!("/api/v1/connections/{id}/sync"), None, 202).await
    }

    // Added for connect/feeds/invites/webhooks.

    pub async fn connection(&self, id: Uuid) -> Result<ConnectionOut, Problem> {
        self.send("GET", &format!("/api/v1/connections/{id}"), None, 200).await
    }

    /// `PATCH /api/v1/connections/{id}` with `patch` (its request type is not `Serialize`).
    pub async fn patch_connection(&self, id: Uuid, patch: Value) -> Result<ConnectionOut, Problem> {
        self.send("PATCH", &format!("/api/v1/connections/{id}"), Some(patch), 200).await
    }

    /// `POST /api/v1/bookings?reject_conflicts=true`: a collision is a 409 naming the items.
    pub async fn create_booking_rejecting_conflicts(
        &self,
        booking: &BookingIn,
    ) -> Result<BookingOut, Problem> {
        let path = "/api/v1/bookings?reject_conflicts=true";
        self.send("POST", path, Some(json(booking)), 201).await
    }

    pub async fn resolve_conflict(&self, id: Uuid, note: &str) -> Result<ConflictOut, Problem> {
        let body = serde_json::json!({ "note": note });
        self.send("POST", &format!("/api/v1/conflicts/{id}/resolve"), Some(body), 200).await
    }
}

fn json(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("a request body is JSON")
}

/// Headless Chromium driven by the Python selenium scripts in `tests/peers/`, as `scripts/test`
/// provides it (`KALENDS_TEST_PYTHON`, `KALENDS_TEST_CHROMEDRIVER`).
pub struct Chromium {
    python: String,
}

impl Chromium {
    /// The browser; the test fails at once when `scripts/test` did not provide it.
    pub fn find() -> Self {
        peer("KALENDS_TEST_CHROMEDRIVER");
        Self { python: peer("KALENDS_TEST_PYTHON") }
    }

    /// Runs `tests/peers/{script}` with `args` and answers the one JSON object it printed; the
    /// test fails, with what the script said, when the script does.
    pub async fn run<I, S>(&self, script: &str, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = tokio::process::Command::new(&self.python)
            .arg(root.join("tests/peers").join(script))
            .args(args)
            .output()
            .await
            .expect("the browser script starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{script} failed: {stdout}\n{stderr}");
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{script} printed no JSON object ({e}): {stdout}\n{stderr}"))
    }
}

/// The fields a problem names, in order.
pub fn fields(problem: &Problem) -> Vec<&str> {
    problem.errors.iter().map(|e| e.field.as_str()).collect()
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

/// A confirmed booking of Ann Lee (who has an e-mail address) on 2030-01-`day`, 09:00 to 10:00
/// UTC, in the zone named `zone`.
pub fn booking_for_ann(title: &str, day: u32, zone: &str) -> kalends_core::domain::NewBooking {
    use chrono::TimeZone as _;
    use kalends_core::domain::{BookingSpan, BookingStatus, Customer, NewBooking};
    let start = chrono::Utc.with_ymd_and_hms(2030, 1, day, 9, 0, 0).unwrap();
    NewBooking {
        external_id: None,
        resource_id: None,
        staff_ids: vec![],
        status: BookingStatus::Confirmed,
        title: title.into(),
        description: None,
        location: None,
        customer: Some(Customer {
            name: "Ann Lee".into(),
            email: Some("ann@example.com".parse().unwrap()),
            phone: None,
        }),
        span: BookingSpan::timed(start, start + chrono::Duration::hours(1), zone.parse().unwrap())
            .unwrap(),
    }
}

/// A confirmed all-day booking of `staff_ids` from `from` to `to` (the morning they leave), as
/// the store takes it.
pub fn all_day_booking(
    title: &str,
    staff_ids: Vec<Uuid>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> kalends_core::domain::NewBooking {
    kalends_core::domain::NewBooking {
        external_id: None,
        resource_id: None,
        staff_ids,
        status: kalends_core::domain::BookingStatus::Confirmed,
        title: title.into(),
        description: None,
        location: None,
        customer: None,
        span: kalends_core::domain::BookingSpan::all_day(from, to).unwrap(),
    }
}

/// [`booking_body`] as the API's request type.
pub fn booking_in(title: &str, day: u32) -> BookingIn {
    serde_json::from_value(booking_body(title, day)).unwrap()
}

/// `mod $module`, holding a `#[tokio::test]` with `$attrs` for each `name` that calls the
/// calling module's `async fn name` with `$args`: the building block of the macros below.
macro_rules! test_module {
    ($module:ident, $attrs:tt, $args:tt; $($name:ident),* $(,)?) => {
        mod $module {
            $( $crate::helpers::test_module!(@one $attrs $args $name); )*
        }
    };
    (@one [$($attr:meta),*] ($($arg:expr)?) $name:ident) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $name() {
            super::$name($($arg)?).await
        }
    };
}
pub(crate) use test_module;

/// Generates the same test once per backend: `sqlite::name` runs everywhere, `postgres::name` is
/// ignored unless `scripts/test` provides a server.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $crate::helpers::test_module!(sqlite, [], ($crate::helpers::Db::Sqlite); $($name),*);
        $crate::helpers::test_module!(
            postgres,
            [ignore = "needs PostgreSQL: run scripts/test"],
            ($crate::helpers::Db::Postgres);
            $($name),*
        );
    };
}
pub(crate) use on_both_databases;

/// Tests that need a peer of `tests/peers/` (a validator, Radicale or Xandikos, `standardwebhooks`,
/// Chromium, axe-core), each `async fn name(..)` in the calling module: `#[ignore = $reason]`, so a
/// plain `cargo test` reports them as ignored, and in a module whose name starts with `peers`, which
/// is how `scripts/test` finds them by name (`--no-peers` skips `peers`; `--no-services` runs the
/// ignored `peers` tests but not `peers_postgres`). Each finds its peer with
/// [`peer`](crate::peer::peer), which fails the test when `scripts/test` did not provide it.
///
/// - `needs_peers!("needs Chromium: run scripts/test"; name, ...)`: `peers::name`, which needs
///   nothing else (`async fn name()`).
/// - `needs_peers!("needs ...", on_both_databases; name, ...)`: `peers_sqlite::name` and
///   `peers_postgres::name` (`async fn name(db: Db)`), as [`on_both_databases`].
/// - `needs_peers!("needs PostgreSQL, Redis and ...", servers; name, ...)`: `peers_postgres::name`,
///   which also needs the servers `scripts/test` starts (`async fn name()`).
macro_rules! needs_peers {
    ($reason:literal; $($name:ident),* $(,)?) => {
        $crate::helpers::test_module!(peers, [ignore = $reason], (); $($name),*);
    };
    ($reason:literal, on_both_databases; $($name:ident),* $(,)?) => {
        $crate::helpers::test_module!(
            peers_sqlite,
            [ignore = $reason],
            ($crate::helpers::Db::Sqlite);
            $($name),*
        );
        $crate::helpers::test_module!(
            peers_postgres,
            [ignore = $reason],
            ($crate::helpers::Db::Postgres);
            $($name),*
        );
    };
    ($reason:literal, servers; $($name:ident),* $(,)?) => {
        $crate::helpers::test_module!(peers_postgres, [ignore = $reason], (); $($name),*);
    };
}
pub(crate) use needs_peers;

// Added for hardening/calendar_import.
impl Api<'_> {
    pub async fn staff(&self, id: Uuid) -> Result<StaffOut, Problem> {
        self.send("GET", &format!("/api/v1/staff/{id}"), None, 200).await
    }

    pub async fn staff_list(&self) -> Result<ListOut<StaffOut>, Problem> {
        self.send("GET", "/api/v1/staff", None, 200).await
    }

    pub async fn delete_staff(&self, id: Uuid) -> Result<(), Problem> {
        self.send("DELETE", &format!("/api/v1/staff/{id}"), None, 204).await
    }

    /// Every conflict, open and resolved.
    pub async fn all_conflicts(&self) -> Result<Vec<ConflictOut>, Problem> {
        let page: ListOut<ConflictOut> = self.send("GET", "/api/v1/conflicts", None, 200).await?;
        Ok(page.items)
    }

    /// `DELETE /api/v1/connections/{id}`: what was disconnected, as JSON.
    pub async fn disconnect(&self, id: Uuid) -> Result<Value, Problem> {
        self.send("DELETE", &format!("/api/v1/connections/{id}"), None, 200).await
    }
}

/// Runs `sql` (one statement; `postgres` on PostgreSQL, `sqlite` on SQLite) on `store`'s
/// database, as no API would: a test injecting a failure only a crash or a broken disk causes.
pub(crate) async fn execute_either(store: &Store, postgres: &str, sqlite: &str) {
    match store.pool() {
        kalends_store::Pool::Sqlite { write, .. } => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite)).execute(write).await.unwrap();
        }
        kalends_store::Pool::Postgres(pool) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(postgres)).execute(pool).await.unwrap();
        }
    }
}

/// Runs `sql` with `id` bound as `$1` on `store`'s database, as no API would: a test setting up
/// a state only a crash, a race or another process leaves. The rows it changed.
pub(crate) async fn execute_with_id(store: &Store, sql: &'static str, id: Uuid) -> u64 {
    execute_with_ids(store, sql, &[id]).await
}

/// [`execute_with_id`] with `ids` bound as `$1`, `$2`, ...
pub(crate) async fn execute_with_ids(store: &Store, sql: &'static str, ids: &[Uuid]) -> u64 {
    match store.pool() {
        kalends_store::Pool::Sqlite { write, .. } => {
            let query = ids.iter().fold(sqlx::query(sql), |query, id| query.bind(*id));
            query.execute(write).await.unwrap().rows_affected()
        }
        kalends_store::Pool::Postgres(pool) => {
            let query = ids.iter().fold(sqlx::query(sql), |query, id| query.bind(*id));
            query.execute(pool).await.unwrap().rows_affected()
        }
    }
}
