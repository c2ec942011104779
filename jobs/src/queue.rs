//! The job queue: apalis storage in Redis when `KALENDS_REDIS_URL` is set, otherwise in the
//! database itself (SQLite or PostgreSQL). The differences between the three stay in this file.
//!
//! The queue has two lanes ([`Lane`]), two apalis queues on the same storage: live work, and the
//! backlog of replays (`{name}-backlog`). Each job goes to its own lane; the worker runs both,
//! the backlog with fewer jobs at once, so a change made while thousands of bookings are replayed
//! at a provider's quota is taken at once instead of waiting behind them.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use kalends_core::Config;
use kalends_core::job::{Job, Lane};
use kalends_store::Pool;
use kalends_store::Store;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// What travels on the queue: the job, plus what the worker needs to time and retry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The work.
    pub job: Job,
    /// How many times it already ran and failed transiently.
    pub attempt: u32,
    /// When the change that owes it committed (Unix milliseconds).
    pub committed_at_ms: i64,
    /// When it first failed (Unix milliseconds), for the retry deadline.
    pub first_failed_at_ms: Option<i64>,
}

impl QueuedJob {
    /// A first attempt of `job`, owed since `committed_at_ms`.
    pub fn new(job: Job, committed_at_ms: i64) -> Self {
        Self { job, attempt: 0, committed_at_ms, first_failed_at_ms: None }
    }
}

/// A queue failure (the queue's own words; never contains credentials).
#[derive(Debug, thiserror::Error)]
#[error("job queue: {0}")]
pub struct QueueError(String);

fn queue_err(e: impl std::fmt::Display) -> QueueError {
    QueueError(e.to_string())
}

/// The queue, on whichever storage configuration chose.
#[derive(Clone)]
pub struct JobQueue {
    name: String,
    /// The live lane (named `name`).
    pub(crate) storage: Storage,
    /// The backlog lane (named `{name}-backlog`).
    pub(crate) backlog: Storage,
    /// For the subscriptions that hear other processes on Redis.
    redis_client: Option<redis::Client>,
    /// The tenants whose data changed, as this process hears of them ([`Self::changed`]).
    changes: broadcast::Sender<Uuid>,
}

/// How long a Redis command of the queue may take before it fails. redis-rs gives up after
/// 500 ms by default, which a loaded machine exceeds: a failed poll stops the worker's run (it is
/// started again, [`crate::worker::run`]), a failed push hands the job back to the outbox.
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many changes a slow listener may fall behind before it misses some (it then looks anyway).
const CHANGES_KEPT: usize = 256;

/// On SQLite, a job's row goes as soon as apalis marks it done. Kalends keeps what it needs of a
/// job elsewhere (the run logs, the sync attempts, the failures recorded for good), and apalis
/// marks jobs done with a statement that visits every row the worker ever took (its index on
/// `lock_by`; done rows keep theirs) and reads the whole batch of results for each: kept, the
/// rows of done jobs made every completion slower than the last (over a second each after
/// 10,000 imports). Rows already done when this starts go too.
const FORGET_DONE_JOBS_SQLITE: [&str; 2] = [
    "CREATE TRIGGER IF NOT EXISTS kalends_forget_done_jobs AFTER UPDATE OF status ON Jobs \
     WHEN NEW.status = 'Done' BEGIN DELETE FROM Jobs WHERE rowid = NEW.rowid; END",
    "DELETE FROM Jobs WHERE status = 'Done'",
];

/// The same on PostgreSQL without Redis (`apalis.jobs`), where the done rows only made the table
/// grow with every job ever run. Run under a transaction-scoped advisory lock, as processes
/// starting together each run it.
const FORGET_DONE_JOBS_POSTGRES: [&str; 5] = [
    "SELECT pg_advisory_xact_lock(hashtext('kalends_forget_done_jobs'))",
    "CREATE OR REPLACE FUNCTION apalis.kalends_forget_done_job() RETURNS trigger \
     LANGUAGE plpgsql AS $$ BEGIN DELETE FROM apalis.jobs WHERE id = NEW.id; RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS kalends_forget_done_jobs ON apalis.jobs",
    "CREATE TRIGGER kalends_forget_done_jobs AFTER UPDATE OF status ON apalis.jobs \
     FOR EACH ROW WHEN (NEW.status = 'Done') EXECUTE FUNCTION apalis.kalends_forget_done_job()",
    "DELETE FROM apalis.jobs WHERE status = 'Done'",
];

/// The apalis storage behind a [`JobQueue`].
#[derive(Clone)]
pub(crate) enum Storage {
    /// Jobs table in the SQLite database (embedded default).
    Sqlite(SqliteStorage<QueuedJob>),
    /// `apalis.jobs` in the PostgreSQL database.
    Postgres(PostgresStorage<QueuedJob>),
    /// Redis lists and sorted sets under the queue's prefix.
    Redis(RedisStorage<QueuedJob>),
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("backend", &self.backend_name())
            .field("queue", &self.name)
            .finish()
    }
}

impl JobQueue {
    /// Connects the queue that configuration asks for; `queue` names it (the Redis key prefix).
    pub async fn connect(config: &Config, store: &Store, queue: &str) -> Result<Self, QueueError> {
        if let Some(url) = &config.redis_url {
            let client = redis::Client::open(url.expose_secret()).map_err(queue_err)?;
            let manager = redis::aio::ConnectionManagerConfig::new()
                .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT));
            let conn =
                client.get_connection_manager_with_config(manager).await.map_err(queue_err)?;
            let lane = |name: &str| {
                let cfg = apalis_redis::Config::default()
                    .queue(name)
                    .heartbeat_interval(Duration::from_secs(config.jobs.heartbeat_secs))
                    .missed_heartbeats(3);
                Storage::Redis(RedisStorage::new(conn.clone()).with_config(cfg))
            };
            let (storage, backlog) = (lane(queue), lane(&lane_name(queue, Lane::Backlog)));
            let (changes, _) = broadcast::channel(CHANGES_KEPT);
            let redis_client = Some(client);
            let name = queue.to_owned();
            return Ok(JobQueue { name, storage, backlog, redis_client, changes });
        }
        let lane = |name: &str| match store.pool() {
            Pool::Sqlite { write: pool, .. } => {
                // No "running" mark per started job: the fetch already marks a job taken (by
                // this worker, so a dead worker's jobs are handed back as before), and apalis
                // finds the jobs to mark by scanning every waiting job of every queue (its
                // `status = ... OR ...` condition), once per batch of started jobs, on the one
                // write connection: 10,000 due imports made that quadratic.
                let cfg = apalis_sqlite::Config::default().queue(name).lock_tasks(false);
                Storage::Sqlite(SqliteStorage::new(pool).with_config(cfg))
            }
            Pool::Postgres(pool) => {
                let cfg = apalis_postgres::Config::default().queue(name);
                Storage::Postgres(PostgresStorage::new(pool).with_config(cfg))
            }
        };
        let (storage, backlog) = (lane(queue), lane(&lane_name(queue, Lane::Backlog)));
        let (changes, _) = broadcast::channel(CHANGES_KEPT);
        Ok(JobQueue { name: queue.to_owned(), storage, backlog, redis_client: None, changes })
    }

    /// The lanes, each with its storage and its queue's name.
    pub(crate) fn lanes(&self) -> [(Lane, &Storage, String); 2] {
        [
            (Lane::Live, &self.storage, lane_name(&self.name, Lane::Live)),
            (Lane::Backlog, &self.backlog, lane_name(&self.name, Lane::Backlog)),
        ]
    }

    fn lane(&self, lane: Lane) -> &Storage {
        match lane {
            Lane::Live => &self.storage,
            Lane::Backlog => &self.backlog,
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel on which [`Self::announce`] tells every worker that jobs are due.
    fn wake_channel(&self) -> String {
        format!("{}:wake", self.name)
    }

    /// Tells the workers of every process that jobs due now were pushed (one message per relayed
    /// batch), through Redis or PostgreSQL's `NOTIFY`. apalis-redis 1.0 files every push under
    /// its scheduled set (it sets `run_at` to now when there is none), so its own "available"
    /// events never fire; apalis-postgres is polled.
    pub async fn announce(&self) {
        if let Err(error) = self.tell(self.wake_channel(), "1".to_owned()).await {
            tracing::debug!(%error, "could not announce new jobs; workers will poll");
        }
    }

    /// Wakes this process's worker (through `wake`) whenever any process announces jobs
    /// ([`Self::announce`]). Without it a worker in another process than the relay's found new
    /// work only at its next poll (`jobs.poll_interval_ms`, 250 ms). Listens again after a lost
    /// connection; the poll still finds everything meanwhile. Returns at once on SQLite (one
    /// process).
    pub async fn wake_on_new_jobs(
        &self,
        wake: futures::channel::mpsc::Sender<()>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        // A full channel already holds a wake-up; that is enough.
        let wake_up = |_: &str| drop(wake.clone().try_send(()));
        self.listen(self.wake_channel(), "job wake-ups", wake_up, shutdown).await;
    }

    /// The channel on which [`Self::changed`] tells every process of a tenant's change.
    fn changes_channel(&self) -> String {
        format!("{}:changes", self.name)
    }

    /// Tells whoever shows a tenant's data (the console's live updates) that it changed: a job
    /// of the tenant was queued or has run, so what it shows may be out of date. On Redis and
    /// PostgreSQL every process hears it ([`Self::hear_changes`]); on SQLite, this process.
    pub async fn changed(&self, tenant_id: Uuid) {
        if let Storage::Sqlite(_) = &self.storage {
            // Nobody listening is not a failure.
            let _ = self.changes.send(tenant_id);
            return;
        }
        if let Err(error) = self.tell(self.changes_channel(), tenant_id.to_string()).await {
            tracing::debug!(%error, "could not tell of a change; open consoles look again soon");
        }
    }

    /// Sends `payload` on `channel` to every process: Redis `PUBLISH`, PostgreSQL `NOTIFY`
    /// (delivered when the statement commits, to every session listening); nothing on SQLite.
    async fn tell(&self, channel: String, payload: String) -> Result<(), QueueError> {
        match &self.storage {
            Storage::Sqlite(_) => Ok(()),
            Storage::Postgres(s) => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(payload)
                    .execute(s.pool())
                    .await
                    .map_err(queue_err)?;
                Ok(())
            }
            Storage::Redis(s) => {
                let mut conn = s.clone().get_connection().clone();
                let _: i64 = redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async(&mut conn)
                    .await
                    .map_err(queue_err)?;
                Ok(())
            }
        }
    }

    /// The tenants whose data changed, as [`Self::changed`] tells of them in any process.
    pub fn changes(&self) -> broadcast::Receiver<Uuid> {
        self.changes.subscribe()
    }

    /// On Redis and PostgreSQL, passes what every process tells through [`Self::changed`] to this
    /// process's [`Self::changes`] until shutdown; returns at once on SQLite.
    pub async fn hear_changes(&self, shutdown: tokio_util::sync::CancellationToken) {
        let changes = self.changes.clone();
        let heard = move |payload: &str| {
            if let Ok(tenant_id) = payload.parse::<Uuid>() {
                let _ = changes.send(tenant_id);
            }
        };
        self.listen(self.changes_channel(), "change news", heard, shutdown).await;
    }

    /// Hands each message sent on `channel` ([`Self::tell`]) to `on_message` until shutdown,
    /// listening again after a lost connection (and every five minutes: a connection silently
    /// dropped on the way, by a NAT or a load balancer, would otherwise never end the stream).
    /// `what` names the messages in the log. Returns at once on SQLite.
    async fn listen(
        &self,
        channel: String,
        what: &str,
        mut on_message: impl FnMut(&str),
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let source = match &self.storage {
            Storage::Sqlite(_) => return,
            Storage::Postgres(_) => "PostgreSQL",
            Storage::Redis(_) => "Redis",
        };
        let mut failing = false;
        while !shutdown.is_cancelled() {
            match self.subscribe(&channel).await {
                Ok(mut subscription) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(what, source, "messages are back");
                    }
                    let renew = tokio::time::sleep(Duration::from_secs(300));
                    tokio::pin!(renew);
                    loop {
                        tokio::select! {
                            message = subscription.next() => match message {
                                Some(payload) => on_message(&payload),
                                None => break,
                            },
                            () = &mut renew => break,
                            () = shutdown.cancelled() => return,
                        }
                    }
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, what, source, "no messages; polling meanwhile");
                }
                Err(_) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Starts listening on `channel`: a Redis subscription, or a PostgreSQL `LISTEN` on a
    /// connection of the pool (held while listening).
    async fn subscribe(&self, channel: &str) -> Result<Subscription, QueueError> {
        match (&self.storage, &self.redis_client) {
            (Storage::Redis(_), Some(client)) => {
                let mut pubsub = client.get_async_pubsub().await.map_err(queue_err)?;
                pubsub.subscribe(channel).await.map_err(queue_err)?;
                Ok(Subscription::Redis(pubsub))
            }
            (Storage::Postgres(s), _) => {
                let mut listener =
                    sqlx::postgres::PgListener::connect_with(s.pool()).await.map_err(queue_err)?;
                listener.listen(channel).await.map_err(queue_err)?;
                Ok(Subscription::Postgres(Box::new(listener)))
            }
            _ => Err(QueueError("this queue tells other processes nothing".to_owned())),
        }
    }

    /// The queue's Redis connection, when it is on Redis (for what every process shares, such
    /// as the providers' request budgets).
    pub fn redis(&self) -> Option<redis::aio::ConnectionManager> {
        match &self.storage {
            Storage::Redis(s) => Some(s.clone().get_connection().clone()),
            Storage::Sqlite(_) | Storage::Postgres(_) => None,
        }
    }

    /// Creates or upgrades the queue's tables (nothing to do on Redis).
    pub async fn migrate(&self) -> Result<(), QueueError> {
        match &self.storage {
            Storage::Sqlite(s) => {
                let mut migrator = SqliteStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(s.pool()).await.map_err(queue_err)?;
                // After apalis's own migrations, which may build the table anew.
                for statement in FORGET_DONE_JOBS_SQLITE {
                    sqlx::query(statement).execute(s.pool()).await.map_err(queue_err)?;
                }
                Ok(())
            }
            Storage::Postgres(s) => {
                let mut migrator = PostgresStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(s.pool()).await.map_err(queue_err)?;
                let mut tx = s.pool().begin().await.map_err(queue_err)?;
                for statement in FORGET_DONE_JOBS_POSTGRES {
                    sqlx::query(statement).execute(&mut *tx).await.map_err(queue_err)?;
                }
                tx.commit().await.map_err(queue_err)
            }
            Storage::Redis(_) => Ok(()),
        }
    }

    /// `sqlite`, `postgres` or `redis`.
    pub fn backend_name(&self) -> &'static str {
        match &self.storage {
            Storage::Sqlite(_) => "sqlite",
            Storage::Postgres(_) => "postgres",
            Storage::Redis(_) => "redis",
        }
    }

    /// Puts a job on the queue, to run now or after `delay`. Each delivery runs once at the apalis
    /// level: retries are ours (see the worker), so they survive restarts and honour `Retry-After`.
    pub async fn push(&self, item: QueuedJob, delay: Option<Duration>) -> Result<(), QueueError> {
        let storage = self.lane(item.job.lane());
        let task = task(item, delay);
        match storage {
            Storage::Sqlite(s) => s.clone().push_task(task).await.map_err(queue_err),
            Storage::Postgres(s) => s.clone().push_task(task).await.map_err(queue_err),
            Storage::Redis(s) => s.clone().push_task(task).await.map_err(queue_err),
        }
    }

    /// Puts several jobs on the queue, as [`Self::push`] does each, each lane's all or none: one
    /// transaction on the databases, one script on Redis. Should the second lane fail after the
    /// first took its jobs, the caller pushing all again runs those twice, which converges.
    pub async fn push_all(
        &self,
        items: Vec<(QueuedJob, Option<Duration>)>,
    ) -> Result<(), QueueError> {
        let (live, backlog): (Vec<_>, Vec<_>) =
            items.into_iter().partition(|(item, _)| item.job.lane() == Lane::Live);
        for (lane, items) in [(Lane::Live, live), (Lane::Backlog, backlog)] {
            if items.is_empty() {
                continue;
            }
            let tasks = items.into_iter().map(|(item, delay)| task(item, delay));
            let tasks = futures::stream::iter(tasks.collect::<Vec<_>>());
            match self.lane(lane) {
                Storage::Sqlite(s) => s.clone().push_all(tasks).await.map_err(queue_err)?,
                Storage::Postgres(s) => s.clone().push_all(tasks).await.map_err(queue_err)?,
                Storage::Redis(s) => s.clone().push_all(tasks).await.map_err(queue_err)?,
            }
        }
        Ok(())
    }

    /// Jobs waiting to run (due now or scheduled for later), on both lanes.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let mut depth = 0;
        for (_, storage, name) in self.lanes() {
            depth += Self::depth_of(storage, &name).await?;
        }
        Ok(depth)
    }

    async fn depth_of(storage: &Storage, name: &str) -> Result<u64, QueueError> {
        let count: i64 = match storage {
            Storage::Sqlite(s) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM Jobs WHERE job_type = $1 AND status = 'Pending'",
            )
            .bind(name)
            .fetch_one(s.pool())
            .await
            .map_err(queue_err)?,
            Storage::Postgres(s) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending'",
            )
            .bind(name)
            .fetch_one(s.pool())
            .await
            .map_err(queue_err)?,
            Storage::Redis(s) => {
                let config = s.get_config().clone();
                let mut conn = s.clone().get_connection().clone();
                let (active, scheduled): (i64, i64) = redis::pipe()
                    .cmd("LLEN")
                    .arg(config.active_jobs_list())
                    .cmd("ZCARD")
                    .arg(config.scheduled_jobs_set())
                    .query_async(&mut conn)
                    .await
                    .map_err(queue_err)?;
                active + scheduled
            }
        };
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Jobs not finished: running (fetched by a worker and not yet acknowledged), or waiting and
    /// due by `due_by` (retries included; reminders due later are not counted). Tests wait on it
    /// (with [`Store::outbox_depth`]) to drive the work of their changes to completion; operators
    /// read it as the backlog that is not merely scheduled.
    pub async fn unfinished(&self, due_by: std::time::SystemTime) -> Result<u64, QueueError> {
        let due_by = due_by.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let due_by = i64::try_from(due_by).unwrap_or(i64::MAX);
        let mut unfinished = 0;
        for (_, storage, name) in self.lanes() {
            unfinished += Self::unfinished_of(storage, &name, due_by).await?;
        }
        Ok(unfinished)
    }

    async fn unfinished_of(storage: &Storage, name: &str, due_by: i64) -> Result<u64, QueueError> {
        let count: i64 = match storage {
            Storage::Sqlite(s) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM Jobs WHERE job_type = $1 AND (status IN ('Queued', 'Running') \
                 OR (status = 'Pending' AND (run_at IS NULL OR run_at <= $2)) \
                 OR (status = 'Failed' AND attempts < max_attempts AND run_at <= $2))",
            )
            .bind(name)
            .bind(due_by)
            .fetch_one(s.pool())
            .await
            .map_err(queue_err)?,
            Storage::Postgres(s) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 \
                 AND (status IN ('Queued', 'Running') \
                 OR (status = 'Pending' AND run_at <= to_timestamp($2)) \
                 OR (status = 'Failed' AND attempts < max_attempts AND run_at <= to_timestamp($2)))",
            )
            .bind(name)
            .bind(due_by as f64)
            .fetch_one(s.pool())
            .await
            .map_err(queue_err)?,
            Storage::Redis(s) => {
                // One script, so the count is a snapshot: a job moving from the active list to
                // a worker's in-flight set is counted once.
                let script = redis::Script::new(
                    r#"local n = redis.call("llen", KEYS[1])
                    n = n + redis.call("zcount", KEYS[2], "-inf", ARGV[1])
                    for _, worker in ipairs(redis.call("zrange", KEYS[3], 0, -1)) do
                        n = n + redis.call("scard", ARGV[2] .. ":" .. worker)
                    end
                    return n"#,
                );
                let config = s.get_config().clone();
                let mut conn = s.clone().get_connection().clone();
                script
                    .key(config.active_jobs_list())
                    .key(config.scheduled_jobs_set())
                    .key(config.workers_set())
                    .arg(due_by)
                    .arg(config.inflight_jobs_set())
                    .invoke_async::<i64>(&mut conn)
                    .await
                    .map_err(queue_err)?
            }
        };
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Hands the jobs that the stopped worker `worker` fetched but did not finish back to the
    /// queue, so the next worker runs them at once. The queue's own recovery waits until the
    /// worker misses its heartbeats (a minute or more on the database queues), which after a
    /// restart delayed whatever was under way, reminders included. Jobs converge, so running one
    /// again is harmless. Call it only once the worker has stopped.
    pub async fn release_unfinished(&self, worker: &str) -> Result<u64, QueueError> {
        let mut released = 0;
        for (lane, storage, name) in self.lanes() {
            released += Self::release_of(storage, &name, &lane_name(worker, lane)).await?;
        }
        Ok(released)
    }

    async fn release_of(storage: &Storage, name: &str, worker: &str) -> Result<u64, QueueError> {
        match storage {
            Storage::Sqlite(s) => sqlx::query(
                "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, done_at = NULL \
                 WHERE lock_by = $1 AND job_type = $2 AND status IN ('Queued', 'Running')",
            )
            .bind(worker)
            .bind(name)
            .execute(s.pool())
            .await
            .map(|done| done.rows_affected())
            .map_err(queue_err),
            Storage::Postgres(s) => sqlx::query(
                "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
                 done_at = NULL WHERE lock_by = $1 AND job_type = $2 \
                 AND status IN ('Queued', 'Running')",
            )
            .bind(worker)
            .bind(name)
            .execute(s.pool())
            .await
            .map(|done| done.rows_affected())
            .map_err(queue_err),
            Storage::Redis(s) => {
                // What apalis-redis does for a worker past its heartbeats, for this one at once:
                // its in-flight jobs back onto the active list, the worker out of the registry.
                let script = redis::Script::new(
                    r#"local jobs = redis.call("smembers", KEYS[3])
                    if #jobs > 0 then
                        redis.call("rpush", KEYS[2], unpack(jobs))
                        redis.call("del", KEYS[3])
                        redis.call("del", KEYS[4])
                        redis.call("lpush", KEYS[4], 1)
                    end
                    redis.call("zrem", KEYS[1], ARGV[1])
                    return #jobs"#,
                );
                let config = s.get_config().clone();
                let mut conn = s.clone().get_connection().clone();
                script
                    .key(config.workers_set())
                    .key(config.active_jobs_list())
                    .key(format!("{}:{worker}", config.inflight_jobs_set()))
                    .key(config.signal_list())
                    .arg(worker)
                    .invoke_async::<u64>(&mut conn)
                    .await
                    .map_err(queue_err)
            }
        }
    }

    /// A cheap round trip to the queue's storage, for readiness checks.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match &self.storage {
            Storage::Sqlite(s) => {
                sqlx::query("SELECT 1").execute(s.pool()).await.map(|_| ()).map_err(queue_err)
            }
            Storage::Postgres(s) => {
                sqlx::query("SELECT 1").execute(s.pool()).await.map(|_| ()).map_err(queue_err)
            }
            Storage::Redis(s) => {
                let mut conn = s.clone().get_connection().clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(queue_err)
            }
        }
    }
}

/// The name of `lane` beside `name`: of its queue beside queue `name`, or the one under which
/// worker `name` runs it (each lane's jobs are marked taken by it). The live lane keeps `name`.
pub(crate) fn lane_name(name: &str, lane: Lane) -> String {
    match lane {
        Lane::Live => name.to_owned(),
        Lane::Backlog => format!("{name}-backlog"),
    }
}

/// The apalis task for `item`, to run now or after `delay`. Each delivery runs once at the apalis
/// level: retries are ours (see the worker), so they survive restarts and honour `Retry-After`.
fn task(item: QueuedJob, delay: Option<Duration>) -> apalis::prelude::Task<QueuedJob> {
    let mut builder = TaskBuilder::new(item).max_attempts(1);
    if let Some(delay) = delay {
        // The queues schedule in whole seconds; round up so a retry never comes early.
        let due = std::time::SystemTime::now() + delay;
        let since_epoch = due.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        builder = builder
            .run_at_timestamp(since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0));
    }
    builder.build()
}

/// What [`JobQueue::subscribe`] listens on.
enum Subscription {
    Redis(redis::aio::PubSub),
    Postgres(Box<sqlx::postgres::PgListener>),
}

impl Subscription {
    /// The next message's payload; `None` once the connection is gone.
    async fn next(&mut self) -> Option<String> {
        use futures::StreamExt as _;
        match self {
            Subscription::Redis(pubsub) => {
                let message = pubsub.on_message().next().await?;
                Some(message.get_payload::<String>().unwrap_or_default())
            }
            Subscription::Postgres(listener) => match listener.recv().await {
                Ok(notification) => Some(notification.payload().to_owned()),
                Err(error) => {
                    tracing::debug!(%error, "listening again");
                    None
                }
            },
        }
    }
}
