//! One request must not take the process down: absurd numbers from a provider are clamped, a
//! panicking job is a failed job, and the worker and the process keep serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use kalends::api::bookings::BookingIn;
use kalends::api::staff::StaffIn;
use kalends::app;
use kalends_core::job::Job;
use kalends_jobs::worker::{self, WorkerOptions};
use kalends_jobs::{JobError, JobHandler, QueuedJob, RetryPolicy};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{self, Db, TempDir, TestApp, booking_in, eventually, on_both_databases};
use crate::process::{free_port, kalends, wait_ready};

on_both_databases!(
    a_retry_after_of_1e300_leaves_the_process_serving_and_the_sync_owed,
    a_panicking_job_is_retried_and_the_worker_runs_the_next_job,
    the_sandbox_control_api_refuses_requests_without_its_token,
);

/// A staff member connected to Google through the sandbox; returns the API key and staff id.
async fn connected_staff(app: &TestApp) -> (String, Uuid) {
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let id = api.create_staff(&ann).await.unwrap().id;
    let browser = Browser::new();
    browser.get(&api.settings_link(id).await.unwrap().url).await;
    let page = connect(app, &browser, "google", "ann@example.com", "allow").await;
    assert!(page.url.contains("notice=connected"), "{}", page.url);
    (key, id)
}

async fn a_retry_after_of_1e300_leaves_the_process_serving_and_the_sync_owed(db: Db) {
    let mut app = TestApp::start_public_with(db, |config| {
        config.jobs.retry_base_ms = 100;
        config.jobs.retry_max_delay_ms = 1000;
    })
    .await;
    // Watch the process the way `kalends serve` does: it exits when `wait` returns.
    let running = app.running.take().unwrap();
    let shutdown = running.shutdown.clone();
    let process = tokio::spawn(running.wait());
    let (key, ann) = connected_staff(&app).await;
    app.sandbox_faults(json!({"rate_limit_rate": 1, "retry_after_secs": 1e300})).await;

    let api = app.api(&key);
    let booking = BookingIn { staff_ids: vec![ann], ..booking_in("Massage", 2) };
    let id = api.create_booking(&booking).await.unwrap().id;
    // The throttled sync is recorded as waiting for a retry, not failed.
    let sync = eventually(Duration::from_secs(20), || async {
        assert!(!process.is_finished(), "the process stopped while syncing");
        let sync = api.booking(id).await.unwrap().sync.first()?.clone();
        sync.last_error.as_deref().is_some_and(|e| e.contains("throttling")).then_some(sync)
    })
    .await;
    assert_eq!(sync.state, "pending", "{sync:?}");
    // It is tried again later (within the longest retry delay, 1 s here): each try records how
    // much longer the provider's (clamped) hour has to run. The process still serves meanwhile.
    let first = sync.last_error;
    let retried = eventually(Duration::from_secs(20), || async {
        assert!(!process.is_finished(), "the process stopped after the 429");
        let sync = api.booking(id).await.unwrap().sync.first()?.clone();
        (sync.last_error.is_some() && sync.last_error != first).then_some(sync)
    })
    .await;
    assert_eq!(retried.state, "pending", "{retried:?}");
    assert!(retried.last_error.as_deref().unwrap().contains("wait 35"), "{retried:?}");
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    api.booking(id).await.unwrap();
    shutdown.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(20), process).await.unwrap().unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
}

/// Panics on its first run, then succeeds; counts its runs.
#[derive(Clone, Default)]
struct PanicsOnce {
    runs: Arc<AtomicUsize>,
    succeeded: Arc<AtomicUsize>,
}

impl JobHandler for PanicsOnce {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a bug in a job handler");
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn a_job() -> QueuedJob {
    let job = Job::sync_booking(Uuid::now_v7(), Uuid::now_v7());
    QueuedJob::new(job, Utc::now().timestamp_millis())
}

async fn a_panicking_job_is_retried_and_the_worker_runs_the_next_job(db: Db) {
    let dir = TempDir::new();
    let config = helpers::config(db, &dir).await;
    let (store, queue) = app::connect(&config).await.unwrap();
    let handler = PanicsOnce::default();
    let options = WorkerOptions {
        name: format!("test-{}", Uuid::now_v7().simple()),
        concurrency: 1,
        poll_interval: Duration::from_millis(50),
        shutdown_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            give_up_after: Duration::from_secs(600),
        },
    };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::run(
        queue.clone(),
        store.clone(),
        handler.clone(),
        None,
        options,
        stop.clone(),
    ));
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        (handler.runs.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    queue.push(a_job(), None).await.unwrap();
    // The next job runs, and the one that panicked is retried: two successes in all.
    eventually(Duration::from_secs(20), || async {
        assert!(!worker.is_finished(), "the worker stopped after a panicking job");
        (handler.succeeded.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    assert_eq!(handler.runs.load(Ordering::SeqCst), 3);
    assert!(store.job_failures(10).await.unwrap().is_empty(), "a retried panic is not given up");
    stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), worker).await.unwrap();
    assert!(stopped.unwrap().is_ok());
}

async fn the_sandbox_control_api_refuses_requests_without_its_token(db: Db) {
    let app = TestApp::start_public(db).await;
    let faults = json!({"rate_limit_rate": 1, "retry_after_secs": 1e300});
    let url = app.url("/sandbox/_control/faults");
    let anyone = crate::helpers::client().build().unwrap();
    assert_eq!(anyone.put(&url).json(&faults).send().await.unwrap().status(), 401);
    let guessed = anyone.get(&url).bearer_auth("guessed").send().await.unwrap();
    assert_eq!(guessed.status(), 401);
    let held: Value = app.sandbox().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(held["rate_limit_rate"], 0.0, "the refused request changed nothing");
    app.stop().await;
}

#[tokio::test]
async fn without_the_sandbox_there_is_no_sandbox_and_connecting_is_refused() {
    let app =
        TestApp::start_public_with(Db::Sqlite, |config| config.sandbox.enabled = Some(false)).await;
    assert!(app.sandbox_token.is_none());
    let control = reqwest::get(app.url("/sandbox/_control/faults")).await.unwrap();
    assert_eq!(control.status(), 404);
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let staff = api.create_staff(&ann).await.unwrap();
    let browser = Browser::new();
    browser.get(&api.settings_link(staff.id).await.unwrap().url).await;
    let refused = browser.get(&app.url("/connect/google")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("not set up"), "{}", refused.body);
    app.stop().await;
}

#[tokio::test]
async fn production_refuses_to_start_with_the_sandbox_on_a_public_address() {
    let dir = TempDir::new();
    let output = kalends(&dir, free_port())
        .env("KALENDS_PROFILE", "production")
        .env("KALENDS_PUBLIC_URL", "https://kalends.example")
        .env("KALENDS_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .env("KALENDS_SANDBOX__ENABLED", "true")
        .env("KALENDS_LISTEN", format!("0.0.0.0:{}", free_port()))
        .arg("serve")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("kalends: KALENDS_SANDBOX__ENABLED:"), "{stderr}");
}

#[tokio::test]
async fn the_first_run_prints_the_sandbox_token_its_control_api_requires() {
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let dir = TempDir::new();
    let port = free_port();
    let mut child = kalends(&dir, port)
        .arg("serve")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let token = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, rest)) = line.split_once("Authorization: Bearer ") {
                return rest.split([';', ')']).next().unwrap().to_owned();
            }
        }
        panic!("no sandbox token was printed")
    })
    .await
    .expect("the token was printed at start-up");
    wait_ready(port).await;
    let url = format!("http://127.0.0.1:{port}/sandbox/_control/faults");
    let http = crate::helpers::client().build().unwrap();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&url).bearer_auth(&token).send().await.unwrap().status(), 200);
    child.kill().await.unwrap();
}

/// Opens a request for a booking whose body never finishes arriving.
async fn a_stalled_request(app: &TestApp, key: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream =
        tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /api/v1/bookings HTTP/1.1\r\nHost: kalends\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"title\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_does_not_hold_a_stop() {
    let dir = TempDir::new();
    let mut config = helpers::config(Db::Sqlite, &dir).await;
    config.http.shutdown_timeout_secs = 1;
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let _stalled = a_stalled_request(&app, &key).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "the stop waited on the slow client for 15 s");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_request_whose_body_never_finishes_is_answered_408() {
    use tokio::io::AsyncReadExt as _;
    let dir = TempDir::new();
    let mut config = helpers::config(Db::Sqlite, &dir).await;
    config.http.request_timeout_secs = 1;
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let mut stalled = a_stalled_request(&app, &key).await;
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut answer)).await;
    let read = read.expect("an answer within 10 s").unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // As the API's every error: a problem saying what happened.
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_validation_token_is_echoed_as_plain_text_never_sniffed_and_only_when_short() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let token = "<script>alert(1)</script>";
    let url = app.url(&format!("/webhooks/microsoft?validationToken={}", urlencode(token)));
    let echoed = app.http.post(url).send().await.unwrap();
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(echoed.headers()["x-content-type-options"], "nosniff");
    assert_eq!(echoed.text().await.unwrap(), token);
    let long = "a".repeat(1025);
    let url = app.url(&format!("/webhooks/microsoft?validationToken={long}"));
    assert_eq!(app.http.post(url).send().await.unwrap().status(), 400);
    let url = app.url(&format!("/webhooks/microsoft?validationToken={}", &long[..1024]));
    assert_eq!(app.http.post(url).send().await.unwrap().status(), 200);
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn a_microsoft_batch_over_a_hundred_notifications_is_refused_whole() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let batch = |n: usize| {
        let entries: Vec<Value> = (0..n)
            .map(|i| json!({"subscriptionId": format!("not-ours-{i}"), "clientState": "x"}))
            .collect();
        json!({ "value": entries })
    };
    let url = app.url("/webhooks/microsoft");
    let hundred = app.http.post(&url).json(&batch(100)).send().await.unwrap();
    assert_eq!(hundred.status(), 202);
    let more = app.http.post(&url).json(&batch(101)).send().await.unwrap();
    assert_eq!(more.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn a_client_over_the_webhook_rate_gets_429_with_retry_after() {
    let dir = TempDir::new();
    let mut config = helpers::config(Db::Sqlite, &dir).await;
    config.webhooks.rate_limit_per_minute = 5;
    let app = TestApp::start_with(config, dir).await;
    let url = app.url("/webhooks/google");
    for _ in 0..5 {
        // No channel headers: 400, but counted.
        assert_eq!(app.http.post(&url).send().await.unwrap().status(), 400);
    }
    let limited = app.http.post(&url).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&wait), "{wait}");
    let microsoft = app.http.post(app.url("/webhooks/microsoft?validationToken=x")).send().await;
    assert_eq!(microsoft.unwrap().status(), 429, "the budget covers both webhook routes");
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), 200);
    app.stop().await;
}
