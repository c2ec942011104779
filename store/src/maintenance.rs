//! Periodic upkeep that one worker at a time should do (drift checks, pruning): each kind has a
//! row whose next run a worker claims, so adding workers does not repeat the work.

use std::time::Duration;

use super::{Lease, Store, StoreError, now};

impl Store {
    /// Claims the run of the upkeep `name` due now: `true` for exactly one caller per `every`
    /// across all workers, which then does the work.
    pub async fn claim_maintenance(&self, name: &str, every: Duration) -> Result<bool, StoreError> {
        let next = now() + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::hours(1));
        self.take_lease(&Lease::MAINTENANCE, name.into(), &[], next).await
    }
}
