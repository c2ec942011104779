//! The worker: runs queued jobs with bounded concurrency, retries transient failures with backoff
//! (by re-queueing with a delay, so a retry survives a restart), records permanent failures, and
//! drains gracefully on shutdown.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt as _, WorkerError};
use chrono::Utc;
use futures::FutureExt as _;
use futures::channel::mpsc;
use kalends_core::job::{Job, Lane};
use kalends_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::poll::{Gated, WakeOrTick};
use crate::queue::{Storage, lane_name};
use crate::{JobError, JobHandler, JobQueue, QueuedJob, RetryPolicy};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Worker name, unique per process (shows in the queue's worker registry).
    pub name: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
    /// On shutdown, how long running jobs may take to finish.
    pub shutdown_timeout: Duration,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
}

#[derive(Clone)]
struct Deps<H> {
    store: Store,
    queue: JobQueue,
    handler: H,
    retry: RetryPolicy,
    running: Running,
}

/// How many jobs this worker is running, and a signal each time one finishes.
#[derive(Clone, Debug, Default)]
struct Running {
    count: Arc<AtomicUsize>,
    finished: Arc<Notify>,
}

impl Running {
    /// Counts a job as running until the returned guard is dropped (a panic included).
    fn enter(&self) -> RunningGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        RunningGuard(self.clone())
    }

    /// Waits until no job is running.
    async fn idle(&self) {
        loop {
            let finished = self.finished.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            finished.await;
        }
    }
}

struct RunningGuard(Running);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.notify_waiters();
    }
}

/// Runs jobs from `queue` with `handler` until `shutdown`, then lets running jobs finish for at
/// most `shutdown_timeout`. `wake` (from the in-process relay) makes new jobs start at once.
pub async fn run<H: JobHandler>(
    queue: JobQueue,
    store: Store,
    handler: H,
    wake: Option<mpsc::Receiver<()>>,
    options: WorkerOptions,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let deps = Deps {
        store,
        queue: queue.clone(),
        handler,
        retry: options.retry,
        running: Running::default(),
    };
    let wake = wake.map(|wake| Arc::new(std::sync::Mutex::new(wake)));
    let mut pause = FIRST_RESTART_PAUSE;
    loop {
        let stopped = run_once(&queue, deps.clone(), wake.clone(), &options, &shutdown).await;
        match queue.release_unfinished(&options.name).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "handed unfinished jobs back to the queue"),
            Err(error) => {
                tracing::warn!(%error, "could not hand unfinished jobs back; the queue will after missed heartbeats")
            }
        }
        match stopped {
            // The queue failed under the worker (a Redis poll timed out under load, the database
            // restarted): started again rather than stopping the process.
            Err(error) if !shutdown.is_cancelled() => {
                tracing::warn!(%error, ?pause, "the job worker lost its queue; starting it again");
                metrics::counter!("kalends_worker_restarts_total").increment(1);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
                pause = (pause * 2).min(LAST_RESTART_PAUSE);
            }
            stopped => return stopped,
        }
    }
}

/// How long a worker whose queue failed waits before it starts again; doubled each time, up to
/// [`LAST_RESTART_PAUSE`].
const FIRST_RESTART_PAUSE: Duration = Duration::from_secs(1);
const LAST_RESTART_PAUSE: Duration = Duration::from_secs(30);

/// One run of the apalis workers of both lanes, until shutdown or until the queue fails under
/// either (both then stop, and start again together).
async fn run_once<H: JobHandler>(
    queue: &JobQueue,
    deps: Deps<H>,
    wake: Option<crate::poll::Wake>,
    options: &WorkerOptions,
    shutdown: &CancellationToken,
) -> Result<(), WorkerError> {
    // A lane's failure stops the other lane too, so that the run is started again whole.
    let stopping = shutdown.child_token();
    let lanes = queue.lanes().map(|(lane, storage, _)| {
        let (deps, stopping) = (deps.clone(), stopping.clone());
        // The backlog polls: the relay's wake-ups are for live work.
        let wake = if lane == Lane::Live { wake.clone() } else { None };
        async move {
            let ran = run_lane(lane, storage, deps, wake, options, &stopping).await;
            stopping.cancel();
            ran
        }
    });
    let [live, backlog] = lanes;
    let (live, backlog) = tokio::join!(live, backlog);
    live.and(backlog)
}

/// How many times longer than the live lane the backlog waits between polls: its jobs only have
/// to arrive eventually, and an idle worker should not ask the database twice as often.
const BACKLOG_POLLS_LESS: u32 = 4;

/// How many backlog jobs a worker runs at once: a quarter of its live ones (at least one).
/// Each runs several provider calls in parallel, so a few keep an account at its quota.
fn backlog_concurrency(concurrency: usize) -> usize {
    (concurrency / 4).max(1)
}

/// One lane's apalis worker, until `shutdown` or until its queue fails.
async fn run_lane<H: JobHandler>(
    lane: Lane,
    storage: &Storage,
    deps: Deps<H>,
    wake: Option<crate::poll::Wake>,
    options: &WorkerOptions,
    shutdown: &CancellationToken,
) -> Result<(), WorkerError> {
    let running = deps.running.clone();
    let name = lane_name(&options.name, lane);
    let (concurrency, poll_interval) = match lane {
        Lane::Live => (options.concurrency, options.poll_interval),
        Lane::Backlog => {
            (backlog_concurrency(options.concurrency), options.poll_interval * BACKLOG_POLLS_LESS)
        }
    };
    let strategy = WakeOrTick::new(poll_interval, wake).until(shutdown.clone());
    // apalis is told to stop only once the running jobs are done (or the deadline passed): while
    // it stops, it no longer drives its own bookkeeping, and on SQLite that bookkeeping may be
    // waiting for the one write connection a running job needs next.
    let stop = {
        let (shutdown, timeout) = (shutdown.clone(), options.shutdown_timeout);
        async move {
            shutdown.cancelled().await;
            let _ = tokio::time::timeout(timeout, running.idle()).await;
            Ok::<(), WorkerError>(())
        }
    };
    macro_rules! run_on {
        ($storage:expr) => {{
            let worker = WorkerBuilder::new(name)
                .backend(Gated::new($storage.clone(), strategy))
                .concurrency(concurrency)
                .data(deps)
                .build(execute::<H>);
            drain(worker.run_until(stop), shutdown.clone(), options.shutdown_timeout).await
        }};
    }
    match storage {
        Storage::Sqlite(s) => run_on!(s),
        Storage::Postgres(s) => run_on!(s),
        Storage::Redis(s) => run_on!(s),
    }
}

async fn drain(
    run: impl Future<Output = Result<(), WorkerError>>,
    shutdown: CancellationToken,
    timeout: Duration,
) -> Result<(), WorkerError> {
    // The jobs had `timeout` to finish before apalis was told to stop; give apalis a moment
    // more to record what finished.
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(timeout + Duration::from_secs(2)).await;
    };
    tokio::select! {
        result = run => result,
        () = deadline => {
            tracing::warn!(?timeout, "jobs still running at the shutdown deadline; they will be re-run by another worker");
            Ok(())
        }
    }
}

/// Runs one delivery: the handler, then the bookkeeping its outcome calls for.
async fn execute<H: JobHandler>(item: QueuedJob, deps: Data<Deps<H>>) -> Result<(), BoxDynError> {
    let (kind, tenant_id) = (item.job.kind(), item.job.tenant_id());
    if item.attempt == 0 {
        let waited = (Utc::now().timestamp_millis() - item.committed_at_ms).max(0) as f64 / 1000.0;
        // By lane: a replay's jobs wait behind thousands of others by design, and would hide
        // the delay of the work changes owe.
        let lane = item.job.lane().as_str();
        metrics::histogram!("kalends_job_start_delay_seconds", "kind" => kind, "lane" => lane)
            .record(waited);
    }
    let started = Instant::now();
    let _running = deps.running.enter();
    let result = run_caught(&deps.handler, &item.job).await;
    metrics::histogram!("kalends_job_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok(()) => "ok",
        Err(error @ JobError::Transient { retry_after, .. }) => {
            // A batch retries only its part still to do, as the same job's next attempt.
            let item = match error.rest() {
                Some(rest) => QueuedJob { job: rest.clone(), ..item },
                None => item,
            };
            deps.retry_later(item, &error, retry_after).await?
        }
        Err(error @ JobError::Permanent { .. }) => {
            let (message, causes) = (error.message(), error.causes());
            tracing::error!(kind, error = %message, %causes, "job failed permanently");
            deps.give_up(&item, message).await?;
            "failed"
        }
    };
    metrics::counter!("kalends_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
    // What a job does (a feed read, a calendar written or failing) is what a console shows.
    deps.queue.changed(tenant_id).await;
    Ok(())
}

/// Runs the handler; a panic becomes a transient failure of this job (retried with backoff, and
/// recorded if it keeps failing) instead of ending the worker and, with it, the process.
async fn run_caught<H: JobHandler>(handler: &H, job: &Job) -> Result<(), JobError> {
    // Unwind safety: a handler keeps its state in the store and re-reads it on every run, so
    // nothing half-written in memory outlives the panicking run.
    match AssertUnwindSafe(handler.handle(job)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            // The payload goes to the log only (where the panic hook already printed it), not
            // into the recorded failure: a panic message is not vetted for what it quotes.
            let reason = panic_message(panic.as_ref());
            tracing::error!(kind = job.kind(), %reason, "job panicked; it will be retried");
            metrics::counter!("kalends_job_panics_total", "kind" => job.kind()).increment(1);
            Err(JobError::transient("the job panicked (the log has the details)"))
        }
    }
}

/// The text of a panic payload (`panic!` with a literal or a formatted message), or a placeholder.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl<H: JobHandler> Deps<H> {
    /// Re-queues a transiently failed job after its backoff, or gives up past the deadline.
    async fn retry_later(
        &self,
        item: QueuedJob,
        error: &JobError,
        retry_after: Option<Duration>,
    ) -> Result<&'static str, BoxDynError> {
        let (message, causes) = (error.message(), error.causes());
        let now_ms = Utc::now().timestamp_millis();
        let first_failed = item.first_failed_at_ms.unwrap_or(now_ms);
        let failing_for = Duration::from_millis((now_ms - first_failed).max(0) as u64);
        let Some(delay) = self.retry.next_delay(item.attempt, failing_for, retry_after) else {
            let error = format!(
                "gave up after {} attempts over {failing_for:?}: {message}",
                item.attempt + 1
            );
            tracing::error!(kind = item.job.kind(), %error, %causes, "job failed for good");
            self.give_up(&item, &error).await?;
            return Ok("failed");
        };
        tracing::warn!(kind = item.job.kind(), attempt = item.attempt + 1, ?delay, error = %message, %causes, "job failed; retrying later");
        let next =
            QueuedJob { attempt: item.attempt + 1, first_failed_at_ms: Some(first_failed), ..item };
        if let Err(e) = self.queue.push(next.clone(), Some(delay)).await {
            // The queue is unavailable: keep the work in the outbox rather than lose it.
            tracing::warn!(error = %e, "could not schedule the retry; handing it back to the outbox");
            self.store.enqueue(&next.job).await?;
        }
        Ok("retried")
    }

    async fn give_up(&self, item: &QueuedJob, error: &str) -> Result<(), BoxDynError> {
        let job = serde_json::to_string(&item.job)?;
        self.store.record_job_failure(item.job.kind(), &job, error, item.attempt + 1).await?;
        self.handler.gave_up(&item.job, error).await;
        Ok(())
    }
}
