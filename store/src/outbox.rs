//! The transactional outbox: work owed to the job queue, committed together with the change that
//! owes it, then moved to the queue by the relay (in `kalends-jobs`).
//!
//! A relay claims rows with a lease, pushes them, and deletes them. A relay that dies mid-way
//! leaves its lease to expire and another relay pushes the rows again: jobs are idempotent, so a
//! duplicate is harmless and nothing is lost.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Pool, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::job::Job;

pub(crate) const INSERT: &str = "INSERT INTO outbox (job, created_at) VALUES ($1, $2)";

pub(crate) const INSERT_AT: &str =
    "INSERT INTO outbox (job, created_at, run_at) VALUES ($1, $2, $3)";

pub(crate) fn encode(job: &Job) -> Result<String, StoreError> {
    serde_json::to_string(job).map_err(corrupt)
}

/// Records the jobs `$jobs` (anything iterating over `Job`s or `&Job`s) in the outbox in `$tx`,
/// owed from `$at`, in their order, up to 64 rows a statement (connecting a calendar owes a
/// sync for every upcoming booking: thousands at once); evaluates to how many.
macro_rules! owe_jobs {
    ($tx:expr, $jobs:expr, $at:expr) => {{
        let encoded = $jobs
            .into_iter()
            .map(|job| $crate::outbox::encode(std::borrow::Borrow::borrow(&job)))
            .collect::<Result<Vec<String>, _>>()?;
        for batch in $crate::in_batches(&encoded) {
            let mut insert = sqlx::QueryBuilder::new("INSERT INTO outbox (job, created_at) ");
            insert.push_values(batch, |mut row, job| {
                row.push_bind(job.clone()).push_bind($at);
            });
            insert.build().execute(&mut *$tx).await?;
        }
        encoded.len()
    }};
}
pub(crate) use owe_jobs;

/// Scheduled work of one kind, for [`Store::claim_due`].
pub(crate) struct DueWork {
    /// `SELECT id, tenant_id, seconds FROM ... WHERE <due> ORDER BY ... LIMIT $2`: `$1` is now,
    /// `seconds` how far the next run moves (a column, or `$3` when [`Store::claim_due`] is given
    /// one interval for all); no lock clause (added here).
    pub select: &'static str,
    /// `UPDATE ... SET <next run> = $1 WHERE id = $2`.
    pub advance: &'static str,
    /// The job each due row owes, from (tenant id, row id).
    pub job: fn(Uuid, Uuid) -> Job,
}

impl Store {
    /// Claims up to `limit` due rows of `work`: each moves its next run ahead and owes its job,
    /// in one transaction (rows locked on PostgreSQL, skipped when another worker holds them),
    /// so every due run is enqueued once across all workers and none is lost. `seconds`, when
    /// given, is bound as `$3` (selects that move every row by the same interval).
    pub(crate) async fn claim_due(
        &self,
        work: DueWork,
        now: DateTime<Utc>,
        seconds: Option<i64>,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let sql = match self.pool {
            Pool::Sqlite { .. } => work.select.to_owned(),
            Pool::Postgres(_) => format!("{} FOR UPDATE SKIP LOCKED", work.select),
        };
        let claimed = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let select =
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(now).bind(i64::from(limit));
            let select = match seconds {
                Some(seconds) => select.bind(seconds),
                None => select,
            };
            let due: Vec<(Uuid, Uuid, i64)> = select.fetch_all(&mut *tx).await?;
            for (id, tenant_id, seconds) in &due {
                sqlx::query(work.advance)
                    .bind(now + chrono::Duration::seconds(*seconds))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let job = encode(&(work.job)(*tenant_id, *id))?;
                sqlx::query(INSERT).bind(&job).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(due.len())
        }
        .await)?;
        if claimed > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(claimed)
    }
}

/// A claimed outbox row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxEntry {
    /// Row id, increasing in commit order.
    pub id: i64,
    /// The job as JSON.
    pub job: String,
    /// When the change that owes it committed.
    pub created_at: DateTime<Utc>,
    /// When the job should run, if later than now (reminders).
    pub run_at: Option<DateTime<Utc>>,
}

impl OutboxEntry {
    /// The job; an error means a row this version cannot read (it is recorded as a failure).
    pub fn decode(&self) -> Result<Job, serde_json::Error> {
        serde_json::from_str(&self.job)
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

const CLAIM_SQLITE: &str = "UPDATE outbox SET claimed_until = $1 WHERE id IN (\
     SELECT id FROM outbox WHERE claimed_until IS NULL OR claimed_until < $2 ORDER BY id LIMIT $3) \
     RETURNING id, job, created_at, run_at";

/// The rows are picked once, in a materialized CTE. As `UPDATE ... WHERE id IN (SELECT ...
/// LIMIT $3 FOR UPDATE SKIP LOCKED)` the pick could run again for a row another transaction
/// changed meanwhile (PostgreSQL's re-check of updated rows), each time taking other rows: in
/// the first import of 10,000 feeds one claim of 100 rows took 7,800, held them for 9 s, and
/// the relays' deletes waited behind it (BENCHMARKS.md, "The outbox relay under a burst of
/// owed work").
const CLAIM_POSTGRES: &str = "WITH picked AS MATERIALIZED (SELECT id FROM outbox \
     WHERE claimed_until IS NULL OR claimed_until < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE outbox o SET claimed_until = $1 FROM picked WHERE o.id = picked.id \
     RETURNING o.id, o.job, o.created_at, o.run_at";

impl Store {
    /// Records owed work on its own (for work not tied to a booking change, e.g. a manual re-sync).
    pub async fn enqueue(&self, job: &Job) -> Result<(), StoreError> {
        let json = encode(job)?;
        with_pool!(self, |pool| sqlx::query(INSERT)
            .bind(&json)
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        self.outbox_signal.notify_one();
        Ok(())
    }

    /// Records work to run at `run_at` (the queue holds it until then, across restarts).
    pub async fn enqueue_at(&self, job: &Job, run_at: DateTime<Utc>) -> Result<(), StoreError> {
        let json = encode(job)?;
        with_pool!(self, |pool| sqlx::query(INSERT_AT)
            .bind(&json)
            .bind(now())
            .bind(run_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        self.outbox_signal.notify_one();
        Ok(())
    }

    /// Claims up to `limit` unclaimed (or expired) rows for `lease`, oldest first.
    pub async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let at = whole_seconds(Utc::now());
        let until = at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
        let sql = match self.pool {
            Pool::Sqlite { .. } => CLAIM_SQLITE,
            Pool::Postgres(_) => CLAIM_POSTGRES,
        };
        let mut rows: Vec<OutboxEntry> = with_pool!(self, |pool| {
            sqlx::query_as(sql).bind(until).bind(at).bind(i64::from(limit)).fetch_all(pool).await
        })?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Deletes rows whose jobs are safely on the queue, in one statement.
    pub async fn complete_outbox(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", super::placeholders(1, ids.len()));
        with_pool!(self, |pool| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for id in ids {
                query = query.bind(id);
            }
            query.execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Rows not yet moved to the queue.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// The id of the last row ever written to the outbox (0 before the first). It only grows, so
    /// two equal readings around [`Self::outbox_depth`] and the queue's count of unfinished jobs
    /// show that no work was owed in between (tests wait on it; see `JobQueue::unfinished`).
    pub async fn outbox_sequence(&self) -> Result<i64, StoreError> {
        let n: Option<i64> = match &self.pool {
            Pool::Sqlite { read, .. } => {
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
                    .fetch_optional(read)
                    .await?
            }
            Pool::Postgres(pool) => {
                // `last_value` is 1 both before and after the first row; `is_called` tells them apart.
                let sql =
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_id_seq";
                sqlx::query_scalar(sql).fetch_optional(pool).await?
            }
        };
        Ok(n.unwrap_or(0))
    }
}
