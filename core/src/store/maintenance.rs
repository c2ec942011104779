//! Periodic upkeep that one worker at a time should do (drift checks, pruning): each kind has a
//! row whose next run a worker claims, so adding workers does not repeat the work.

use std::time::Duration;

use super::{Store, StoreError, now, with_pool};

impl Store {
    /// Claims the run of the upkeep `name` due now: `true` for exactly one caller per `every`
    /// across all workers, which then does the work.
    pub async fn claim_maintenance(&self, name: &str, every: Duration) -> Result<bool, StoreError> {
        let at = now();
        let next = at + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::hours(1));
        let claimed = with_pool!(self, |pool| {
            async {
            sqlx::query(
                "INSERT INTO maintenance_runs (name, next_run_at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(at)
            .execute(pool)
            .await?;
            sqlx::query(
                "UPDATE maintenance_runs SET next_run_at = $1 WHERE name = $2 AND next_run_at <= $3",
            )
            .bind(next)
            .bind(name)
            .bind(at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        }
        .await
        })?;
        Ok(claimed == 1)
    }
}
