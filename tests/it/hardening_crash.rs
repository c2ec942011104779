//! One request must not take the process down: absurd numbers from a provider are clamped, a
//! panicking job is a failed job, and the worker and the process keep serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use kalends::app;
use kalends_core::job::Job;
use kalends_jobs::worker::{self, WorkerOptions};
use kalends_jobs::{JobError, JobHandler, QueuedJob, RetryPolicy};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{self, Db, TempDir, TestApp, eventually, on_both_databases};

on_both_databases!(
    a_retry_after_of_1e300_leaves_the_process_serving_and_the_sync_owed,
    a_panicking_job_is_retried_and_the_worker_runs_the_next_job,
);

/// A staff member connected to Google through the sandbox; returns the API key and staff id.
async fn connected_staff(app: &TestApp) -> (String, String) {
    let (_, key) = app.tenant().await;
    let body = json!({"name": "Ann", "email": "ann@example.com"});
    let (_, staff) = app.call("POST", "/api/v1/staff", &key, Some(body)).await;
    let id = staff["id"].as_str().unwrap().to_owned();
    let (_, link) =
        app.call("POST", &format!("/api/v1/staff/{id}/settings-link"), &key, None).await;
    let browser = Browser::new();
    browser.get(link["url"].as_str().unwrap()).await;
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
    let faults = json!({"rate_limit_rate": 1, "retry_after_secs": 1e300});
    let put = app.sandbox().put(app.url("/sandbox/_control/faults")).json(&faults);
    assert!(put.send().await.unwrap().status().is_success());

    let booking = json!({"title": "Massage", "staff_ids": [ann],
        "start": "2030-01-02T10:00:00+01:00", "end": "2030-01-02T11:00:00+01:00",
        "time_zone": "Europe/Amsterdam"});
    let (status, created) = app.call("POST", "/api/v1/bookings", &key, Some(booking)).await;
    assert_eq!(status, 201);
    let path = format!("/api/v1/bookings/{}", created["id"].as_str().unwrap());
    // The throttled sync is recorded as waiting for a retry, not failed.
    let sync = eventually(Duration::from_secs(20), || async {
        assert!(!process.is_finished(), "the process stopped while syncing");
        let (_, b) = app.call("GET", &path, &key, None).await;
        let sync: Value = b["sync"].as_array()?.first()?.clone();
        sync["last_error"].as_str().is_some_and(|e| e.contains("throttling")).then_some(sync)
    })
    .await;
    assert_eq!(sync["state"], "pending", "{sync}");
    // It is tried again later (within the longest retry delay, 1 s here): each try records how
    // much longer the provider's (clamped) hour has to run. The process still serves meanwhile.
    let first = sync["last_error"].clone();
    let retried = eventually(Duration::from_secs(20), || async {
        assert!(!process.is_finished(), "the process stopped after the 429");
        let (_, b) = app.call("GET", &path, &key, None).await;
        let sync: Value = b["sync"].as_array()?.first()?.clone();
        (sync["last_error"] != first).then_some(sync)
    })
    .await;
    assert_eq!(retried["state"], "pending", "{retried}");
    assert!(retried["last_error"].as_str().unwrap().contains("wait 35"), "{retried}");
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let (status, _) = app.call("GET", &path, &key, None).await;
    assert_eq!(status, 200);
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
    let job = Job::SyncBooking { tenant_id: Uuid::now_v7(), booking_id: Uuid::now_v7() };
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
