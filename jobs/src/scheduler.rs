//! The scheduler: every worker looks for due imports now and then; each due import is claimed by
//! exactly one of them (the claim and the owed job commit together, see
//! `Store::claim_due_imports`), so adding workers never runs an import twice.

use std::time::Duration;

use kalends_core::Store;
use tokio_util::sync::CancellationToken;

/// Due imports claimed per pass; more wait for the next pass.
const BATCH: u32 = 100;

/// Claims due imports every `interval` until `shutdown`.
pub async fn run(store: Store, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        loop {
            match store.claim_due_imports(BATCH).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for due imports failed; will retry");
                    break;
                }
            }
        }
    }
}
