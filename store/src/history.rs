//! Bounded history: import runs, sync attempts and failed jobs are kept for a while and up to a
//! number per import or booking, then pruned in small batches (each a short statement on an
//! index, so pruning never holds the SQLite writer for long).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, with_pool};

/// How much history to keep.
#[derive(Clone, Copy, Debug)]
pub struct HistoryLimits {
    /// Rows older than this go (except each import's last run, which its API shows).
    pub older_than: DateTime<Utc>,
    /// Runs kept per import, and sync attempts per booking (the newest).
    pub per_item: u32,
    /// Failed jobs kept in all (the newest).
    pub job_failures: u32,
}

/// Old runs, each import's last run excepted.
const OLD_IMPORT_RUNS: &str = "DELETE FROM import_runs WHERE id IN (SELECT r.id FROM import_runs r \
     WHERE r.finished_at < $1 AND EXISTS (SELECT 1 FROM import_runs n \
     WHERE n.import_id = r.import_id AND n.id > r.id) LIMIT $2)";
const OLD_SYNC_ATTEMPTS: &str = "DELETE FROM sync_attempts WHERE id IN \
     (SELECT id FROM sync_attempts WHERE attempted_at < $1 LIMIT $2)";
const OLD_JOB_FAILURES: &str = "DELETE FROM job_failures WHERE id IN \
     (SELECT id FROM job_failures WHERE failed_at < $1 LIMIT $2)";
/// Console sessions that ended long ago (their links, shorter-lived still, are dead too).
const OLD_DASHBOARD_SESSIONS: &str = "DELETE FROM dashboard_sessions WHERE id IN \
     (SELECT id FROM dashboard_sessions WHERE expires_at < $1 LIMIT $2)";
/// Staff sessions that ended long ago: their links (a day at most, and history is kept a day at
/// least) are dead too, so forgetting that a link was opened cannot let it open again.
const OLD_STAFF_SESSIONS: &str = "DELETE FROM staff_sessions WHERE id_hash IN \
     (SELECT id_hash FROM staff_sessions WHERE expires_at < $1 LIMIT $2)";
/// Failed jobs beyond the newest `$2`, `$1` at a time.
const EXTRA_JOB_FAILURES: &str = "DELETE FROM job_failures WHERE id IN \
     (SELECT id FROM job_failures ORDER BY id DESC LIMIT $1 OFFSET $2)";

/// A table whose rows are kept up to a number per item.
struct PerItem {
    /// Items with more than `$1` rows, at most `$2` of them.
    crowded: &'static str,
    /// Rows of item `$1` beyond the newest `$3`, `$2` at a time.
    extra: &'static str,
}

const RUNS_PER_IMPORT: PerItem = PerItem {
    crowded: "SELECT import_id FROM import_runs GROUP BY import_id HAVING COUNT(*) > $1 LIMIT $2",
    extra: "DELETE FROM import_runs WHERE id IN (SELECT id FROM import_runs WHERE import_id = $1 \
            ORDER BY id DESC LIMIT $2 OFFSET $3)",
};

const ATTEMPTS_PER_BOOKING: PerItem = PerItem {
    crowded: "SELECT booking_id FROM sync_attempts GROUP BY booking_id HAVING COUNT(*) > $1 LIMIT $2",
    extra: "DELETE FROM sync_attempts WHERE id IN (SELECT id FROM sync_attempts WHERE booking_id = $1 \
            ORDER BY id DESC LIMIT $2 OFFSET $3)",
};

/// Items whose surplus one pass removes.
const ITEMS_PER_PASS: i64 = 50;

impl Store {
    /// Removes up to about `batch` rows per rule of history beyond `limits`; returns how many
    /// went. Call again while it removes something.
    pub async fn prune_history(
        &self,
        limits: &HistoryLimits,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let batch = i64::from(batch);
        let mut removed = 0;
        let rules = [
            OLD_IMPORT_RUNS,
            OLD_SYNC_ATTEMPTS,
            OLD_JOB_FAILURES,
            OLD_DASHBOARD_SESSIONS,
            OLD_STAFF_SESSIONS,
        ];
        for sql in rules {
            removed += with_pool!(self, |pool| {
                sqlx::query(sql)
                    .bind(limits.older_than)
                    .bind(batch)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        for table in [RUNS_PER_IMPORT, ATTEMPTS_PER_BOOKING] {
            removed += self.prune_per_item(&table, limits.per_item, batch).await?;
        }
        removed += with_pool!(self, |pool| {
            sqlx::query(EXTRA_JOB_FAILURES)
                .bind(batch)
                .bind(i64::from(limits.job_failures))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(removed)
    }

    async fn prune_per_item(
        &self,
        table: &PerItem,
        keep: u32,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let keep = i64::from(keep);
        let crowded: Vec<(Uuid,)> = with_pool!(self, |pool| {
            sqlx::query_as(table.crowded).bind(keep).bind(ITEMS_PER_PASS).fetch_all(pool).await
        })?;
        let mut removed = 0;
        for (item,) in crowded {
            removed += with_pool!(self, |pool| {
                sqlx::query(table.extra)
                    .bind(item)
                    .bind(batch)
                    .bind(keep)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(removed)
    }
}
