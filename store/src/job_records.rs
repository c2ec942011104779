//! What jobs did: sync attempts (the sync jobs' only effect until the providers land) and the
//! record of jobs that failed for good.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, now, with_pool, with_read_pool};

/// One recorded sync of one booking version.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncAttempt {
    /// The booking.
    pub booking_id: Uuid,
    /// The version that was synced.
    pub booking_version: i64,
    /// `sync_booking` or `delete_booking`.
    pub kind: String,
    /// When.
    pub attempted_at: DateTime<Utc>,
}

/// A job that failed permanently or ran out of retries.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct JobFailure {
    /// The job's kind.
    pub kind: String,
    /// The job as JSON.
    pub job: String,
    /// Why it failed, in the failing component's words.
    pub error: String,
    /// How many times it ran.
    pub attempts: i64,
    /// When it was given up.
    pub failed_at: DateTime<Utc>,
}

impl Store {
    /// Records that these versions of a tenant's bookings were synced, in one statement: each
    /// `(booking, version, kind)` once (a duplicate delivery records nothing more).
    pub async fn record_sync_attempts(
        &self,
        tenant_id: Uuid,
        attempts: &[(Uuid, i64, &str)],
    ) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let rows = super::value_rows(3, attempts.len(), 4, |row| format!("({row}, $1, $2)"));
        let sql = format!(
            "INSERT INTO sync_attempts (id, booking_id, booking_version, kind, tenant_id, attempted_at) \
             VALUES {rows} ON CONFLICT (booking_id, booking_version, kind) DO NOTHING"
        );
        with_pool!(self, |pool| {
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(now());
            for (booking_id, version, kind) in attempts {
                query = query.bind(Uuid::now_v7()).bind(booking_id).bind(version).bind(*kind);
            }
            query.execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Every recorded sync of a booking, oldest first.
    pub async fn sync_attempts(&self, booking_id: Uuid) -> Result<Vec<SyncAttempt>, StoreError> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT booking_id, booking_version, kind, attempted_at FROM sync_attempts \
                 WHERE booking_id = $1 ORDER BY id",
            )
            .bind(booking_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Records a job that will not run again.
    pub async fn record_job_failure(
        &self,
        kind: &str,
        job: &str,
        error: &str,
        attempts: u32,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO job_failures (id, kind, job, error, attempts, failed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::now_v7())
            .bind(kind)
            .bind(job)
            .bind(error)
            .bind(i64::from(attempts))
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The most recent failed jobs, newest first.
    pub async fn job_failures(&self, limit: u32) -> Result<Vec<JobFailure>, StoreError> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, job, error, attempts, failed_at FROM job_failures ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }
}
