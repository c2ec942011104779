//! The job plumbing on every queue backend: the outbox survives a crash, transient failures retry
//! with backoff, permanent ones stop at once and are recorded, duplicates are harmless, and a
//! stopping worker finishes what it runs.

use kalends_service::bookings;
use kalends_store::{Lease, Overlap, lease_end};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use kalends::api::bookings::BookingPatch;
use kalends::app;
use kalends_core::Config;
use kalends_core::job::{Job, Lane};
use kalends_jobs::sync_bookings;
use kalends_jobs::worker::{self, WorkerOptions};
use kalends_jobs::{JobError, JobHandler, JobQueue, KalendsJobs, QueuedJob, RetryPolicy};
use kalends_store::Store;
use secrecy::SecretString;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{self, Db, TempDir, TestApp, booking_body, eventually};

/// Where jobs are queued.
#[derive(Clone, Copy, Debug)]
pub enum Queue {
    /// SQLite database and its Jobs table.
    Sqlite,
    /// PostgreSQL database and apalis.jobs.
    Postgres,
    /// PostgreSQL database, Redis queue.
    Redis,
}

async fn queue_config(queue: Queue, dir: &TempDir) -> Config {
    let db = if matches!(queue, Queue::Sqlite) { Db::Sqlite } else { Db::Postgres };
    let mut config = helpers::config(db, dir).await;
    if matches!(queue, Queue::Redis) {
        config.redis_url = Some(SecretString::from(helpers::redis_url()));
    }
    config
}

fn importer(store: &Store) -> kalends_service::importer::Importer {
    kalends_service::importer::Importer::new(store.clone(), &Default::default()).unwrap()
}

/// Customer e-mail into `.eml` files under the test's folder.
fn customer_mail(dir: &TempDir) -> kalends_service::customer_mail::CustomerMail {
    let config = kalends_core::Config { data_dir: dir.0.clone(), ..Default::default() };
    let key = std::sync::Arc::new(secrecy::SecretBox::new(Box::new([7u8; 32])));
    kalends_service::customer_mail::CustomerMail::from_config(&config, key).unwrap()
}

/// Calendar credentials (no connection exists in these tests: the sync only records its attempt).
fn credentials(store: &Store) -> kalends_providers::session::Credentials {
    let providers = kalends::sandbox::providers(&Config::default()).unwrap();
    let tokens = kalends_jobs::SealedTokenStore::new(store.clone(), sealer());
    kalends_providers::session::Credentials::new(Arc::new(tokens), Arc::new(providers))
}

/// The sealer of the secrets these tests keep.
fn sealer() -> kalends_core::seal::Sealer {
    let key = secrecy::SecretBox::new(Box::new([7u8; 32]));
    kalends_core::seal::Sealer::new(&key, &[])
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(1),
        max_delay: Duration::from_secs(4),
        give_up_after: Duration::from_secs(600),
    }
}

/// Runs a worker with `handler` until the returned token is cancelled.
fn spawn_worker<H: JobHandler>(
    store: &Store,
    queue: &JobQueue,
    handler: H,
    retry: RetryPolicy,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let options = WorkerOptions {
        name: format!("test-{}", uuid::Uuid::now_v7().simple()),
        concurrency: 4,
        poll_interval: Duration::from_millis(50),
        shutdown_timeout: Duration::from_secs(10),
        retry,
    };
    let (store, queue, stop) = (store.clone(), queue.clone(), token.clone());
    let handle = tokio::spawn(async move {
        worker::run(queue, store, handler, None, options, stop).await.unwrap()
    });
    (token, handle)
}

/// A handler that fails transiently `fail_first` times, then succeeds, remembering when it ran.
#[derive(Clone, Default)]
struct Flaky {
    fail_first: usize,
    permanent: bool,
    runs: Arc<Mutex<Vec<Instant>>>,
}

impl JobHandler for Flaky {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let run = {
            let mut runs = self.runs.lock().unwrap();
            runs.push(Instant::now());
            runs.len()
        };
        if self.permanent {
            return Err(JobError::permanent("the calendar was deleted"));
        }
        if run <= self.fail_first {
            Err(JobError::transient(format!("HTTP 503 on run {run}")))
        } else {
            Ok(())
        }
    }
}

fn a_stay(title: &str) -> kalends_core::domain::NewBooking {
    let day = |d| chrono::NaiveDate::from_ymd_opt(2030, 5, d).unwrap();
    crate::helpers::all_day_booking(title, vec![], day(1), day(3))
}

fn a_job() -> QueuedJob {
    let job = Job::sync_booking(uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    QueuedJob::new(job, Utc::now().timestamp_millis())
}

async fn work_committed_before_a_crash_is_delivered_after_restart(queue: Queue) {
    let dir = TempDir::new();
    let config = queue_config(queue, &dir).await;
    // A process that commits a booking and dies before anything moves its work to the queue.
    let (store, _) = app::connect(&config).await.unwrap();
    let tenant = helpers::tenant(&store, "UTC").await;
    let new = a_stay("Committed, never enqueued");
    let booking = bookings::create(&store, &tenant, new, Overlap::Allow).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    store.close().await;
    // The restarted process finds the owed work and runs it.
    let app = TestApp::start_with(config, dir).await;
    let attempts = eventually(Duration::from_secs(10), || async {
        let attempts = app.store.sync_attempts(booking.id).await.unwrap();
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    assert_eq!((attempts[0].booking_version, attempts[0].kind.as_str()), (1, "sync_booking"));
    assert_eq!(app.store.outbox_depth().await.unwrap(), 0);
    app.stop().await;
}

async fn booking_changes_reach_the_worker_in_order(queue: Queue) {
    let dir = TempDir::new();
    let app = TestApp::start_with(queue_config(queue, &dir).await, TempDir::new()).await;
    let (_, key) = app.tenant().await;
    let (status, booking) =
        app.call("POST", "/api/v1/bookings", &key, Some(booking_body("B", 2))).await;
    assert_eq!(status, 201);
    let id: uuid::Uuid = booking["id"].as_str().unwrap().parse().unwrap();
    let synced = |version: i64| {
        let store = app.store.clone();
        async move {
            let attempts = store.sync_attempts(id).await.unwrap();
            attempts.iter().find(|a| a.booking_version == version).map(|a| a.kind.clone())
        }
    };
    assert_eq!(eventually(Duration::from_secs(10), || synced(1)).await, "sync_booking");
    app.call("PATCH", &format!("/api/v1/bookings/{id}"), &key, Some(json!({"title": "Moved"})))
        .await;
    assert_eq!(eventually(Duration::from_secs(10), || synced(2)).await, "sync_booking");
    app.call("POST", &format!("/api/v1/bookings/{id}/cancel"), &key, None).await;
    assert_eq!(eventually(Duration::from_secs(10), || synced(3)).await, "delete_booking");
    app.stop().await;
}

/// `TestApp::settle` (what most tests wait with) returns once each change's job ran, on every
/// queue, and does not wait for a job due later.
async fn settling_waits_for_the_jobs_of_each_change_and_not_for_later_ones(queue: Queue) {
    let dir = TempDir::new();
    let app = TestApp::start_with(queue_config(queue, &dir).await, TempDir::new()).await;
    app.queue.push(a_job(), Some(Duration::from_secs(3600))).await.unwrap();
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let id = api.create_booking(&helpers::booking_in("B", 2)).await.unwrap().id;
    let synced = |version: i64| {
        let store = app.store.clone();
        async move {
            let attempts = store.sync_attempts(id).await.unwrap();
            attempts.iter().find(|a| a.booking_version == version).map(|a| a.kind.clone())
        }
    };
    app.settle().await;
    assert_eq!(synced(1).await.as_deref(), Some("sync_booking"));
    let moved = BookingPatch { title: Some("Moved".into()), ..BookingPatch::default() };
    api.patch_booking(id, &moved).await.unwrap();
    app.settle().await;
    assert_eq!(synced(2).await.as_deref(), Some("sync_booking"));
    api.cancel_booking(id).await.unwrap();
    app.settle().await;
    assert_eq!(synced(3).await.as_deref(), Some("delete_booking"));
    assert_eq!(app.store.outbox_depth().await.unwrap(), 0);
    let in_two_hours = std::time::SystemTime::now() + Duration::from_secs(7200);
    assert_eq!(app.queue.unfinished(in_two_hours).await.unwrap(), 1, "the job due later waits");
    app.stop().await;
}

async fn transient_failures_are_retried_with_growing_delays(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = Flaky { fail_first: 3, ..Flaky::default() };
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    queue.push(a_job(), None).await.unwrap();
    let runs = eventually(Duration::from_secs(30), || async {
        let runs = handler.runs.lock().unwrap().clone();
        (runs.len() >= 4).then_some(runs)
    })
    .await;
    let gaps: Vec<f64> = runs.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    // Delays are drawn from [0.5, 1], [1, 2] and [2, 4] seconds and rounded up to the queue's
    // whole-second schedule, so each gap is at least its delay; the upper bounds leave room for a
    // loaded machine (the whole suite runs in parallel on two cores).
    assert!(gaps[0] >= 0.5 && gaps[0] <= 4.0, "first retry: {gaps:?}");
    assert!(gaps[1] >= 1.0 && gaps[1] <= 5.0, "second retry: {gaps:?}");
    assert!(gaps[2] >= 2.0 && gaps[2] <= 7.0, "third retry: {gaps:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(handler.runs.lock().unwrap().len(), 4, "a success ends the retries");
    assert!(store.job_failures(10).await.unwrap().is_empty());
    stop.cancel();
    worker.await.unwrap();
}

async fn a_permanent_failure_stops_at_once_and_is_recorded(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = Flaky { permanent: true, ..Flaky::default() };
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    queue.push(a_job(), None).await.unwrap();
    let failures = eventually(Duration::from_secs(10), || async {
        let failures = store.job_failures(10).await.unwrap();
        (!failures.is_empty()).then_some(failures)
    })
    .await;
    assert_eq!((failures[0].kind.as_str(), failures[0].attempts), ("sync_bookings", 1));
    assert!(failures[0].error.contains("the calendar was deleted"), "{failures:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(handler.runs.lock().unwrap().len(), 1, "no retry after a permanent failure");
    stop.cancel();
    worker.await.unwrap();
}

async fn a_job_failing_past_its_deadline_is_recorded_as_given_up(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = Flaky { fail_first: usize::MAX, ..Flaky::default() };
    let policy = RetryPolicy { give_up_after: Duration::from_millis(500), ..fast_retries() };
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), policy);
    queue.push(a_job(), None).await.unwrap();
    let failures = eventually(Duration::from_secs(15), || async {
        let failures = store.job_failures(10).await.unwrap();
        (!failures.is_empty()).then_some(failures)
    })
    .await;
    // The first retry waits 0.5-1 s, so the second run is already past the 0.5 s deadline.
    assert!(failures[0].error.starts_with("gave up after 2 attempts"), "{failures:?}");
    assert_eq!(handler.runs.lock().unwrap().len(), 2);
    assert!(failures[0].error.contains("HTTP 503"), "{failures:?}");
    stop.cancel();
    worker.await.unwrap();
}

async fn duplicate_and_stale_deliveries_are_harmless(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let tenant = helpers::tenant(&store, "UTC").await;
    let body = a_stay("B");
    let booking = bookings::create(&store, &tenant, body.clone(), Overlap::Allow).await.unwrap();
    bookings::replace(
        &store,
        &tenant,
        booking.id,
        1,
        kalends_core::domain::NewBooking { title: "B2".into(), ..body },
        Overlap::Allow,
    )
    .await
    .unwrap();
    let job =
        QueuedJob::new(Job::sync_booking(tenant.id, booking.id), Utc::now().timestamp_millis());
    // The same delivery three times (a relay that crashed after pushing, twice).
    for _ in 0..3 {
        queue.push(job.clone(), None).await.unwrap();
    }
    let (stop, worker) = spawn_worker(
        &store,
        &queue,
        KalendsJobs::new(
            store.clone(),
            sealer(),
            importer(&store),
            customer_mail(&dir),
            credentials(&store),
            String::new(),
        ),
        fast_retries(),
    );
    eventually(Duration::from_secs(10), || async { queue.depth().await.ok().filter(|d| *d == 0) })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = store.sync_attempts(booking.id).await.unwrap();
    assert_eq!(attempts.len(), 1, "one sync, of the current version: {attempts:?}");
    assert_eq!(attempts[0].booking_version, 2, "a job queued for version 1 converges to version 2");
    stop.cancel();
    worker.await.unwrap();
}

/// A handler that takes its time, to see shutdown wait for it.
#[derive(Clone, Default)]
struct Slow {
    started: Arc<Mutex<bool>>,
    finished: Arc<Mutex<bool>>,
}

impl JobHandler for Slow {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        *self.started.lock().unwrap() = true;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        *self.finished.lock().unwrap() = true;
        Ok(())
    }
}

async fn a_stopping_worker_lets_the_running_job_finish(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = Slow::default();
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(10), || async { handler.started.lock().unwrap().then_some(()) })
        .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stopped")
        .unwrap();
    assert!(
        *handler.finished.lock().unwrap(),
        "the running job finished before the worker stopped"
    );
}

/// A handler whose first run never finishes (a job still running at the shutdown deadline);
/// later runs finish at once.
#[derive(Clone, Default)]
struct StuckOnce {
    runs: Arc<Mutex<usize>>,
}

impl JobHandler for StuckOnce {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let run = {
            let mut runs = self.runs.lock().unwrap();
            *runs += 1;
            *runs
        };
        if run == 1 {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn a_job_a_stopped_worker_left_unfinished_runs_at_once_on_the_next_worker(queue: Queue) {
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = StuckOnce::default();
    let token = CancellationToken::new();
    let options = WorkerOptions {
        name: format!("test-{}", uuid::Uuid::now_v7().simple()),
        concurrency: 4,
        poll_interval: Duration::from_millis(50),
        shutdown_timeout: Duration::from_millis(300),
        retry: fast_retries(),
    };
    let first = tokio::spawn({
        let (store, queue, stop, handler) =
            (store.clone(), queue.clone(), token.clone(), handler.clone());
        async move { worker::run(queue, store, handler, None, options, stop).await.unwrap() }
    });
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        (*handler.runs.lock().unwrap() == 1).then_some(())
    })
    .await;
    // The first worker stops with the job still running past its deadline (as a restart under
    // load does), leaving the job locked by a worker that is gone.
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the worker stopped")
        .unwrap();
    // The next worker runs it without waiting for the queue to declare the first one dead
    // (missed heartbeats: a minute or more on the database queues).
    let (stop, second) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    eventually(Duration::from_secs(15), || async {
        (*handler.runs.lock().unwrap() == 2).then_some(())
    })
    .await;
    stop.cancel();
    second.await.unwrap();
}

/// A job that keeps the SQLite write connection busy for a while, then needs it once more, as
/// a sync does (statements one after another).
#[derive(Clone)]
struct BusyWriter {
    write: sqlx::SqlitePool,
    started: Arc<Mutex<bool>>,
    finished: Arc<Mutex<Option<Result<(), String>>>>,
}

impl JobHandler for BusyWriter {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        *self.started.lock().unwrap() = true;
        let outcome = async {
            let mut tx = self.write.begin().await?;
            sqlx::query("SELECT 1").execute(&mut *tx).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            tx.commit().await?;
            sqlx::query("SELECT 1").execute(&self.write).await.map(|_| ())
        }
        .await;
        *self.finished.lock().unwrap() = Some(outcome.map_err(|e| e.to_string()));
        Ok(())
    }
}

#[tokio::test]
async fn on_sqlite_a_stopping_worker_is_not_stalled_by_its_own_queue_bookkeeping() {
    // The queue shares Kalends's one SQLite write connection. A stop used to leave the queue's
    // own bookkeeping (marking the job running) waiting for that connection, unpolled, while the
    // job needed it again: the job stalled until the pool's acquire timeout.
    let dir = TempDir::new();
    let (store, queue) = app::connect(&queue_config(Queue::Sqlite, &dir).await).await.unwrap();
    let kalends_store::Pool::Sqlite { write, .. } = store.pool().clone() else { unreachable!() };
    let handler = BusyWriter { write, started: Arc::default(), finished: Arc::default() };
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(10), || async { handler.started.lock().unwrap().then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stopped")
        .unwrap();
    assert_eq!(
        handler.finished.lock().unwrap().clone(),
        Some(Ok(())),
        "the running job finished its work"
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the worker stopped once the job was done, not after a timeout: {:?}",
        stopping.elapsed()
    );
}

/// apalis keeps a job's row after it is done. On SQLite it marks jobs done with a statement that
/// visits every row its worker ever took, so each completion was slower than the last; on both
/// databases the table grew with every job ever run. What a job did stays in Kalends's own
/// records, so the queue forgets a finished job at once.
async fn the_queue_keeps_no_row_of_a_finished_job(queue: Queue) {
    let dir = TempDir::new();
    let (store, jobs) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let handler = Flaky::default();
    let (stop, worker) = spawn_worker(&store, &jobs, handler.clone(), fast_retries());
    for _ in 0..3 {
        jobs.push(a_job(), None).await.unwrap();
    }
    jobs.push(a_job(), Some(Duration::from_secs(3600))).await.unwrap();
    let left = || {
        let (store, name) = (store.clone(), jobs.name().to_owned());
        async move {
            let rows = queue_rows(&store, &name).await;
            (rows.len() == 1).then_some(rows)
        }
    };
    let rows = eventually(Duration::from_secs(20), left).await;
    assert_eq!(handler.runs.lock().unwrap().len(), 3, "the three jobs due now ran");
    assert_eq!(rows, ["Pending"], "only the job due in an hour is still in the queue");
    stop.cancel();
    worker.await.unwrap();
}

/// The status of each row the database queue `name` holds.
async fn queue_rows(store: &Store, name: &str) -> Vec<String> {
    match store.pool() {
        kalends_store::Pool::Sqlite { read, .. } => {
            let sql = "SELECT status FROM Jobs WHERE job_type = $1";
            sqlx::query_scalar(sql).bind(name).fetch_all(read).await.unwrap()
        }
        kalends_store::Pool::Postgres(pool) => {
            let sql = "SELECT status FROM apalis.jobs WHERE job_type = $1";
            sqlx::query_scalar(sql).bind(name).fetch_all(pool).await.unwrap()
        }
    }
}

mod database_queues {
    #[tokio::test]
    async fn on_sqlite_the_queue_keeps_no_row_of_a_finished_job() {
        super::the_queue_keeps_no_row_of_a_finished_job(super::Queue::Sqlite).await
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test"]
    async fn on_postgres_the_queue_keeps_no_row_of_a_finished_job() {
        super::the_queue_keeps_no_row_of_a_finished_job(super::Queue::Postgres).await
    }
}

/// The stories of `$name`s on the queues several processes share: PostgreSQL (module `$pg`) and
/// Redis (`$redis`).
macro_rules! on_shared_queues {
    ($pg:ident, $redis:ident; $($name:ident),* $(,)?) => {
        mod $pg {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: run scripts/test"]
                async fn $name() {
                    super::$name(super::Queue::Postgres).await
                }
            )*
        }
        mod $redis {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL and Redis: run scripts/test"]
                async fn $name() {
                    super::$name(super::Queue::Redis).await
                }
            )*
        }
    };
}

/// A booking whose sync lease is kept after a write that got no answer is looked at again once,
/// when the lease ends, not every half second until then; one whose sync is running is looked
/// at again half a second on.
async fn a_booking_whose_lease_is_kept_waits_for_its_end_in_one_job(queue: Queue) {
    let dir = TempDir::new();
    let (store, _) = app::connect(&queue_config(queue, &dir).await).await.unwrap();
    let tenant = helpers::tenant(&store, "UTC").await;
    let booking = bookings::create(&store, &tenant, a_stay("Kept"), Overlap::Allow).await.unwrap();
    let ids = [booking.id];
    let owed_later = |store: Store| async move {
        let owed = store.claim_outbox(100, Duration::from_secs(30)).await.unwrap();
        let ids: Vec<i64> = owed.iter().map(|entry| entry.id).collect();
        store.complete_outbox(&ids).await.unwrap();
        owed.into_iter().map(|entry| (entry.decode().unwrap(), entry.run_at)).collect::<Vec<_>>()
    };
    owed_later(store.clone()).await;
    let credentials = credentials(&store);
    let batch = sync_bookings::Batch {
        tenant_id: tenant.id,
        booking_ids: &ids,
        lane: Lane::Live,
        refused: &[],
    };
    let sync = || sync_bookings::run(&store, &credentials, batch);
    let job = Job::sync_bookings(tenant.id, ids.to_vec());

    // Running elsewhere: half a second on.
    assert_eq!(
        store
            .take_leases(&Lease::BOOKING_SYNC, &ids, lease_end(Duration::from_secs(60)))
            .await
            .unwrap(),
        ids
    );
    let asked = Utc::now();
    sync().await.unwrap();
    let owed = owed_later(store.clone()).await;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].0, job);
    let wait = owed[0].1.expect("later") - asked;
    assert!(wait <= chrono::Duration::seconds(2), "{wait:?}");

    // Kept for 20 seconds (the provider timeout is 30): at its end, in one job.
    let kept_until = lease_end(Duration::from_secs(20));
    store.keep_leases(&Lease::BOOKING_SYNC, &ids, kept_until).await.unwrap();
    sync().await.unwrap();
    let owed = owed_later(store.clone()).await;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].0, job);
    let at = owed[0].1.expect("later");
    assert!((at - kept_until).abs() <= chrono::Duration::seconds(1), "{at} for {kept_until}");
    store.release_leases(&Lease::BOOKING_SYNC, &ids).await.unwrap();
}

macro_rules! on_every_queue {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Queue::Sqlite).await
                }
            )*
        }
        on_shared_queues!(postgres, redis; $($name),*);
    };
}

on_every_queue!(
    work_committed_before_a_crash_is_delivered_after_restart,
    booking_changes_reach_the_worker_in_order,
    settling_waits_for_the_jobs_of_each_change_and_not_for_later_ones,
    transient_failures_are_retried_with_growing_delays,
    a_permanent_failure_stops_at_once_and_is_recorded,
    a_job_failing_past_its_deadline_is_recorded_as_given_up,
    duplicate_and_stale_deliveries_are_harmless,
    a_stopping_worker_lets_the_running_job_finish,
    a_job_a_stopped_worker_left_unfinished_runs_at_once_on_the_next_worker,
    a_booking_whose_lease_is_kept_waits_for_its_end_in_one_job,
);

/// Two processes' queues on one Redis or one PostgreSQL database (`LISTEN`/`NOTIFY`): what one
/// relays wakes the other's worker, which otherwise would find it only at its next poll.
async fn a_worker_in_another_process_is_woken_when_jobs_are_relayed(queue: Queue) {
    let dir = TempDir::new();
    let config = queue_config(queue, &dir).await;
    let (_, api_node) = app::connect(&config).await.unwrap();
    let (_, worker_node) = app::connect(&config).await.unwrap();
    let (wake, mut woken) = futures::channel::mpsc::channel(1);
    let stop = CancellationToken::new();
    let listening = tokio::spawn({
        let stop = stop.clone();
        async move { worker_node.wake_on_new_jobs(wake, stop).await }
    });
    // The subscription takes a moment to be in place: announce until it is heard.
    let mut heard = false;
    for _ in 0..50 {
        api_node.announce().await;
        let next = futures::StreamExt::next(&mut woken);
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(200), next).await {
            heard = true;
            break;
        }
    }
    assert!(heard, "the other process's worker was never woken");
    stop.cancel();
    listening.await.unwrap();
}

/// A tenant's change told by one process (its relay or worker) reaches the open consoles of
/// another process sharing the queue, at once rather than at their next look.
async fn a_change_told_by_one_process_is_heard_by_another(queue: Queue) {
    let dir = TempDir::new();
    let config = queue_config(queue, &dir).await;
    let (_, worker_node) = app::connect(&config).await.unwrap();
    let (_, console_node) = app::connect(&config).await.unwrap();
    let mut changes = console_node.changes();
    let stop = CancellationToken::new();
    let listening = tokio::spawn({
        let stop = stop.clone();
        async move { console_node.hear_changes(stop).await }
    });
    let tenant = uuid::Uuid::now_v7();
    let mut heard = None;
    for _ in 0..50 {
        worker_node.changed(tenant).await;
        if let Ok(Ok(id)) = tokio::time::timeout(Duration::from_millis(200), changes.recv()).await {
            heard = Some(id);
            break;
        }
    }
    assert_eq!(heard, Some(tenant), "the other process never heard of the change");
    stop.cancel();
    listening.await.unwrap();
}

/// A TCP relay to Redis that can hold every byte for a while, as a Redis too loaded to answer,
/// and counts the scripts its clients run (`EVALSHA`: apalis' fetches, acknowledgements and
/// pushes).
struct RedisRelay {
    url: String,
    open: tokio::sync::watch::Sender<bool>,
    scripts: Arc<std::sync::atomic::AtomicUsize>,
}

impl RedisRelay {
    async fn start(redis_url: &str) -> RedisRelay {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut url = reqwest::Url::parse(redis_url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        url.set_port(Some(listener.local_addr().unwrap().port())).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        let (open, gate) = tokio::sync::watch::channel(true);
        let scripts = Arc::new(AtomicUsize::new(0));
        let pipe = |mut from: tokio::net::tcp::OwnedReadHalf,
                    mut to: tokio::net::tcp::OwnedWriteHalf,
                    mut gate: tokio::sync::watch::Receiver<bool>,
                    counted: Option<Arc<AtomicUsize>>| async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                if let Some(counted) = &counted {
                    let found = buf[..n].windows(7).filter(|w| w == b"EVALSHA").count();
                    counted.fetch_add(found, Ordering::Relaxed);
                }
                if gate.wait_for(|open| *open).await.is_err()
                    || to.write_all(&buf[..n]).await.is_err()
                {
                    return;
                }
            }
        };
        let counted = scripts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else { continue };
                let ((client_r, client_w), (server_r, server_w)) =
                    (client.into_split(), server.into_split());
                tokio::spawn(pipe(client_r, server_w, gate.clone(), Some(counted.clone())));
                tokio::spawn(pipe(server_r, client_w, gate.clone(), None));
            }
        });
        RedisRelay { url: url.to_string(), open, scripts }
    }

    /// How many scripts the clients have run so far.
    fn scripts(&self) -> usize {
        self.scripts.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn hold(&self) {
        self.open.send_replace(false);
    }

    fn release(&self) {
        self.open.send_replace(true);
    }
}

/// A Redis queue reached through a [`RedisRelay`], with its store and the test's folder.
async fn behind_a_relay() -> (TempDir, RedisRelay, Store, JobQueue) {
    let dir = TempDir::new();
    let mut config = queue_config(Queue::Redis, &dir).await;
    let relay = RedisRelay::start(&helpers::redis_url()).await;
    config.redis_url = Some(SecretString::from(relay.url.clone()));
    let (store, queue) = app::connect(&config).await.unwrap();
    (dir, relay, store, queue)
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run scripts/test"]
async fn on_redis_a_worker_whose_queue_stops_answering_for_a_while_carries_on() {
    let (_dir, relay, store, queue) = behind_a_relay().await;
    let handler = Flaky::default();
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    let ran = |n: usize| {
        let runs = handler.runs.clone();
        move || {
            let runs = runs.clone();
            async move { (runs.lock().unwrap().len() >= n).then_some(()) }
        }
    };
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(20), ran(1)).await;
    // Redis answers nothing for longer than a command may wait (5 s): the worker's polls fail.
    relay.hold();
    tokio::time::sleep(Duration::from_secs(7)).await;
    relay.release();
    queue.push(a_job(), None).await.unwrap();
    eventually(Duration::from_secs(40), ran(2)).await;
    assert!(!worker.is_finished(), "the worker runs on");
    stop.cancel();
    worker.await.unwrap();
}

/// A handler that wakes two hundred times before it is done, as a sync does on its sockets.
#[derive(Clone, Default)]
struct Wakeful {
    started: Arc<Mutex<bool>>,
    finished: Arc<Mutex<bool>>,
}

impl JobHandler for Wakeful {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        *self.started.lock().unwrap() = true;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        *self.finished.lock().unwrap() = true;
        Ok(())
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run scripts/test"]
async fn on_redis_a_running_job_does_not_make_its_worker_ask_the_queue_at_each_wake_up() {
    let (_dir, relay, store, queue) = behind_a_relay().await;
    let handler = Wakeful::default();
    let (stop, worker) = spawn_worker(&store, &queue, handler.clone(), fast_retries());
    queue.push(a_job(), None).await.unwrap();
    let flag = |flag: &Arc<Mutex<bool>>| {
        let flag = flag.clone();
        move || {
            let flag = flag.clone();
            async move { flag.lock().unwrap().then_some(()) }
        }
    };
    eventually(Duration::from_secs(20), flag(&handler.started)).await;
    let before = relay.scripts();
    let started = Instant::now();
    eventually(Duration::from_secs(20), flag(&handler.finished)).await;
    let (asked, lasted) = (relay.scripts() - before, started.elapsed());
    // Each lane polls every 50 ms or less often: a handful of fetches while the job runs its
    // quarter of a second or so, never one per wake-up of the job.
    let polls = 2 * (lasted.as_millis() / 50 + 2) as usize;
    assert!(asked <= polls, "{asked} scripts in {lasted:?} (at most {polls})");
    stop.cancel();
    worker.await.unwrap();
}

on_shared_queues!(
    postgres_shared,
    redis_shared;
    a_worker_in_another_process_is_woken_when_jobs_are_relayed,
    a_change_told_by_one_process_is_heard_by_another,
);
