//! The scheduler: every worker looks for due imports now and then (feed imports and connected
//! calendars' busy times); each due import is claimed by exactly one of them (the claim and the
//! owed job commit together, see `Store::claim_due_imports` and
//! `Store::claim_due_calendar_imports`), so adding workers never runs an import twice.

use std::time::Duration;

use chrono::Utc;
use kalends_store::HistoryLimits;
use kalends_store::Store;
use tokio_util::sync::CancellationToken;

/// How often each connected calendar is compared with what Kalends made.
const RECONCILE_HOURS: i64 = 6;

/// How often each organisation-wide connection's directory is read again.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(3600);

/// How often one worker looks for directories due a read.
const DIRECTORY_PASS: Duration = Duration::from_secs(300);

/// Due imports claimed per pass; more wait for the next pass.
const BATCH: u32 = 100;

/// What the scheduler does how often.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Time between two passes.
    pub interval: Duration,
    /// Each connected calendar's busy times are imported this often.
    pub calendar_interval: Duration,
    /// A customer e-mail claimed this long ago and never finished is put back in the queue.
    pub stale_claim_after: Duration,
    /// Bookings whose calendars are still behind this long after their last change are synced
    /// again; checked this often, by one worker at a time.
    pub drift_check: Duration,
    /// How much history is kept.
    pub history: History,
}

/// How much history (import runs, sync attempts, failed jobs) is kept, and how often it is pruned.
#[derive(Clone, Copy, Debug)]
pub struct History {
    /// Rows older than this go (each import's last run stays).
    pub max_age: Duration,
    /// Runs kept per import and sync attempts per booking.
    pub max_per_item: u32,
    /// Failed jobs kept.
    pub max_job_failures: u32,
    /// Time between two prunings (by one worker).
    pub every: Duration,
}

/// Rows removed per statement while pruning.
const PRUNE_BATCH: u32 = 500;

/// Statements per rule in one pruning, so a pass stays short; the rest waits for the next.
const PRUNE_ROUNDS: usize = 20;

/// Claims due work every `schedule.interval` until `shutdown`.
pub async fn run(store: Store, schedule: Schedule, shutdown: CancellationToken) {
    let Schedule { interval, calendar_interval, .. } = schedule;
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
        claim_calendar_imports(&store, calendar_interval).await;
        renew_channels(&store).await;
        if let Err(e) = store
            .claim_due_reconciles(Utc::now(), chrono::Duration::hours(RECONCILE_HOURS), BATCH)
            .await
        {
            tracing::warn!(error = %e, "looking for due reconciliations failed; will retry");
        }
        requeue_stale_messages(&store, schedule.stale_claim_after).await;
        refresh_directories(&store, DIRECTORY_REFRESH).await;
        repair_drift(&store, schedule.drift_check).await;
        prune_history(&store, &schedule.history).await;
    }
}

/// Prunes history beyond `history`, if this worker claims the pruning that is due.
pub async fn prune_history(store: &Store, history: &History) {
    match store.claim_maintenance("prune_history", history.every).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "claiming the history pruning failed; will retry");
            return;
        }
    }
    let max_age = chrono::Duration::from_std(history.max_age).unwrap_or(chrono::Duration::MAX);
    let limits = HistoryLimits {
        older_than: Utc::now()
            .checked_sub_signed(max_age)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
        per_item: history.max_per_item,
        job_failures: history.max_job_failures,
    };
    let mut removed = 0;
    for _ in 0..PRUNE_ROUNDS {
        match store.prune_history(&limits, PRUNE_BATCH).await {
            Ok(0) => break,
            Ok(n) => removed += n,
            Err(e) => {
                tracing::warn!(error = %e, "pruning history failed; will retry");
                break;
            }
        }
    }
    if removed > 0 {
        tracing::info!(rows = removed, "pruned old import runs, sync attempts and failed jobs");
    }
}

/// Queues again the syncs that a queue lost, if this worker claims the check that is due.
async fn repair_drift(store: &Store, every: Duration) {
    match store.claim_maintenance("sync_drift", every).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "claiming the sync drift check failed; will retry");
            return;
        }
    }
    let behind_for = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::minutes(5));
    loop {
        match store.requeue_drifted_syncs(Utc::now(), behind_for, BATCH).await {
            Ok(n) => {
                if n > 0 {
                    tracing::warn!(
                        bookings = n,
                        "bookings whose sync job was lost were queued again"
                    );
                }
                if n < BATCH as usize {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the sync drift check failed; will retry");
                return;
            }
        }
    }
}

/// Puts back customer e-mails whose sending was interrupted, a batch at a time.
async fn requeue_stale_messages(store: &Store, after: Duration) {
    let Ok(after) = chrono::Duration::from_std(after) else { return };
    loop {
        match store.requeue_stale_messages(Utc::now() - after, BATCH).await {
            Ok(n) => {
                if n > 0 {
                    tracing::warn!(
                        messages = n,
                        "customer e-mails interrupted while sending were queued again"
                    );
                }
                if n < BATCH as usize {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "looking for interrupted customer e-mails failed; will retry");
                return;
            }
        }
    }
}

/// Queues a `watch_calendars` for each connection whose push channel expires within a day; the
/// claim leases the channels for ten minutes, so one worker renews each.
async fn renew_channels(store: &Store) {
    let now = Utc::now();
    let before = now + chrono::Duration::hours(crate::watch_calendars::RENEW_BEFORE_HOURS);
    match store.claim_expiring_channels(before, now + chrono::Duration::minutes(10)).await {
        Ok(due) => {
            for (tenant_id, connection_id) in due {
                let job = kalends_core::job::Job::WatchCalendars { tenant_id, connection_id };
                if let Err(e) = store.enqueue(&job).await {
                    tracing::warn!(error = %e, "queuing a channel renewal failed; the lease runs out and it is claimed again");
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "looking for expiring push channels failed; will retry")
        }
    }
}

/// Queues a directory read for every organisation-wide connection not read for `every`, by
/// the one worker that claims this pass (a read that fails still counts as the pass's: a
/// refusal waits for its administrator, and is tried again an interval later).
async fn refresh_directories(store: &Store, every: Duration) {
    match store.claim_maintenance("refresh_directories", DIRECTORY_PASS).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "claiming the directory refresh failed; will retry");
            return;
        }
    }
    let before = Utc::now() - chrono::Duration::from_std(every).unwrap_or_default();
    let due = match store.organisations_due(before, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "looking for due directory reads failed; will retry");
            return;
        }
    };
    for (tenant_id, organisation_id) in due {
        let job = kalends_core::job::Job::RefreshOrganisation { tenant_id, organisation_id };
        if let Err(e) = store.enqueue(&job).await {
            tracing::warn!(error = %e, "queuing a directory read failed; the next pass queues it");
        }
    }
}

/// Claims every connection whose busy-time import is due, a batch at a time.
async fn claim_calendar_imports(store: &Store, interval: Duration) {
    loop {
        match store.claim_due_calendar_imports(Utc::now(), interval, BATCH).await {
            Ok(n) if n == BATCH as usize => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due calendar imports failed; will retry");
                return;
            }
        }
    }
}
