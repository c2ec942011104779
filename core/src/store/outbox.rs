//! The transactional outbox: work owed to the job queue, committed together with the change that
//! owes it, then moved to the queue by the relay (in `kalends-jobs`).
//!
//! A relay claims rows with a lease, pushes them, and deletes them. A relay that dies mid-way
//! leaves its lease to expire and another relay pushes the rows again: jobs are idempotent, so a
//! duplicate is harmless and nothing is lost.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Pool, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use crate::job::Job;

pub(crate) const INSERT: &str = "INSERT INTO outbox (job, created_at) VALUES ($1, $2)";

const INSERT_AT: &str = "INSERT INTO outbox (job, created_at, run_at) VALUES ($1, $2, $3)";

pub(crate) fn encode(job: &Job) -> Result<String, StoreError> {
    serde_json::to_string(job).map_err(corrupt)
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

const CLAIM_POSTGRES: &str = "UPDATE outbox SET claimed_until = $1 WHERE id IN (\
     SELECT id FROM outbox WHERE claimed_until IS NULL OR claimed_until < $2 ORDER BY id LIMIT $3 \
     FOR UPDATE SKIP LOCKED) RETURNING id, job, created_at, run_at";

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

    /// Deletes rows whose jobs are safely on the queue.
    pub async fn complete_outbox(&self, ids: &[i64]) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for id in ids {
                sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await
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
}
