//! The outbox relay: moves work committed to the outbox onto the job queue.
//!
//! It wakes at once when this process committed outbox rows (in-process notification) and polls
//! every `relay_interval_ms` (at most a second) for rows other processes wrote or a crashed relay
//! left behind. Rows are deleted only after the queue accepted them, so a crash between commit and
//! enqueue loses nothing.

use std::time::Duration;

use futures::channel::mpsc;
use kalends_core::job::{Job, Lane};
use kalends_store::OutboxEntry;
use kalends_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{JobQueue, QueuedJob};

const BATCH: u32 = 100;

/// How long the relay gathers rows after a round that moved several.
const GATHER: Duration = Duration::from_millis(10);

/// The most bookings one `SyncBookings` job carries.
const SYNC_BATCH: usize = 50;
const LEASE: Duration = Duration::from_secs(30);

/// Moves outbox rows to the queue.
#[derive(Debug, Clone)]
pub struct Relay {
    store: Store,
    queue: JobQueue,
    wake_worker: Option<mpsc::Sender<()>>,
    interval: Duration,
}

impl Relay {
    /// A relay from `store`'s outbox to `queue`, polling every `interval`.
    pub fn new(store: Store, queue: JobQueue, interval: Duration) -> Self {
        Self { store, queue, wake_worker: None, interval }
    }

    /// Also nudges this process's worker after each push, so it starts the job without waiting
    /// for its own poll.
    pub fn waking(mut self, worker: mpsc::Sender<()>) -> Self {
        self.wake_worker = Some(worker);
        self
    }

    /// Runs until `shutdown`; errors are logged and retried on the next round.
    pub async fn run(self, shutdown: CancellationToken) {
        let signal = self.store.outbox_signal();
        loop {
            match self.relay_once().await {
                Ok(n) if n as u32 >= BATCH => continue,
                // Busy (rows came faster than one at a time): gather a moment before the next
                // round, so a burst moves in batches (see `together`); one row at a time goes at
                // once.
                Ok(n) if n > 1 => {
                    tokio::select! {
                        () = tokio::time::sleep(GATHER) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox relay round failed; will retry"),
            }
            tokio::select! {
                () = signal.notified() => {}
                () = tokio::time::sleep(self.interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Moves one batch; returns how many rows it handled. The batch's jobs go onto the queue
    /// together (one transaction on the databases: on SQLite, one turn of the one write
    /// connection for the whole batch instead of one per job), and their rows are deleted once
    /// the queue took them; if it fails, they stay claimed and go again after the lease.
    pub async fn relay_once(&self) -> Result<usize, anyhow::Error> {
        let rows = self.store.claim_outbox(BATCH, LEASE).await?;
        let mut done = Vec::with_capacity(rows.len());
        let mut tenants = Vec::new();
        let (mut batch, mut carried_by_batch) = (Vec::new(), Vec::new());
        for (row, item) in together(&rows) {
            match item {
                Ok((job, carried)) => {
                    tenants.push(job.tenant_id());
                    let item = QueuedJob::new(job, row.created_at.timestamp_millis());
                    let delay = row
                        .run_at
                        .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                        .filter(|delay| !delay.is_zero());
                    batch.push((item, delay));
                    carried_by_batch.extend(carried);
                }
                Err(e) => {
                    let error =
                        format!("outbox row {} is not a job this version understands: {e}", row.id);
                    tracing::error!(%error, "unreadable outbox row recorded as a failed job");
                    self.store.record_job_failure("unknown", &row.job, &error, 0).await?;
                    done.push(row.id);
                }
            }
        }
        let mut result = Ok(());
        if !batch.is_empty() {
            match self.queue.push_all(batch).await {
                Ok(()) => done.extend(carried_by_batch),
                // Left claimed; the lease expires and they go again.
                Err(e) => result = Err(e),
            }
        }
        if !done.is_empty() {
            self.store.complete_outbox(&done).await?;
            metrics::counter!("kalends_outbox_relayed_total").increment(done.len() as u64);
            self.queue.announce().await;
            if let Some(wake) = &self.wake_worker {
                // A full channel already holds a wake-up; that is enough.
                let _ = wake.clone().try_send(());
            }
            // Work owed means a change committed: open consoles of these tenants look again.
            tenants.sort_unstable();
            tenants.dedup();
            for tenant_id in tenants {
                self.queue.changed(tenant_id).await;
            }
        }
        result.map_err(Into::into).map(|()| done.len())
    }
}

/// What one queue item carries: its job and the outbox rows it stands for.
type Item = Result<(Job, Vec<i64>), serde_json::Error>;

/// The queue items for `rows` (in order), each beside the row it stands where: the
/// `SyncBookings` of one tenant that are due now travel together as one (up to [`SYNC_BATCH`]
/// bookings, each once) where the first of them stood, so a burst of bookings is synced in
/// batches. This is the one place syncs are batched. Nothing is lost or promised twice: each
/// row's bookings are in exactly one item, and the rows are deleted once their item is queued.
fn together(rows: &[OutboxEntry]) -> Vec<(&OutboxEntry, Item)> {
    /// Where a row's item comes from: as it came, or a tenant's batch (an index of `batches`).
    enum Slot {
        AsItCame(Item),
        Batch(usize),
    }
    let mut slots: Vec<(&OutboxEntry, Slot)> = Vec::with_capacity(rows.len());
    /// A batch's tenant and lane (a replay's syncs and a change's never share a job).
    type Key = (uuid::Uuid, Lane);
    // Each batch's key, bookings and rows; the open batch of each key.
    let mut batches: Vec<(Key, Vec<uuid::Uuid>, Vec<i64>)> = Vec::new();
    let mut open: std::collections::HashMap<Key, usize> = Default::default();
    for row in rows {
        let (key, ids) = match row.decode() {
            // A retry carrying its refusals is not mixed with other syncs.
            Ok(Job::SyncBookings { tenant_id, booking_ids, lane, refused })
                if row.run_at.is_none() && refused.is_empty() =>
            {
                ((tenant_id, lane), booking_ids)
            }
            decoded => {
                slots.push((row, Slot::AsItCame(decoded.map(|job| (job, vec![row.id])))));
                continue;
            }
        };
        let fits = |&at: &usize| batches[at].1.len() + ids.len() <= SYNC_BATCH;
        let at = match open.get(&key).copied().filter(fits) {
            Some(at) => at,
            None => {
                batches.push((key, Vec::new(), Vec::new()));
                slots.push((row, Slot::Batch(batches.len() - 1)));
                open.insert(key, batches.len() - 1);
                batches.len() - 1
            }
        };
        let (_, booking_ids, carried) = &mut batches[at];
        for id in ids {
            if !booking_ids.contains(&id) {
                booking_ids.push(id);
            }
        }
        carried.push(row.id);
    }
    let mut batches: Vec<_> = batches.into_iter().map(Some).collect();
    slots
        .into_iter()
        .map(|(row, slot)| match slot {
            Slot::AsItCame(item) => (row, item),
            Slot::Batch(at) => {
                let ((tenant_id, lane), booking_ids, carried) =
                    batches[at].take().unwrap_or_default();
                (row, Ok((Job::sync_bookings_on(tenant_id, booking_ids, lane), carried)))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn row(id: i64, job: &Job, run_at: Option<chrono::DateTime<chrono::Utc>>) -> OutboxEntry {
        let job = serde_json::to_string(job).unwrap();
        OutboxEntry { id, job, created_at: chrono::Utc::now(), run_at }
    }

    #[test]
    fn a_tenants_syncs_moved_together_travel_as_one_batch_and_everything_else_as_it_came() {
        let (ann, bo) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let b = |n: u128| Uuid::from_u128(100 + n);
        let sync = Job::sync_booking;
        let notify = Job::NotifyCustomer { tenant_id: ann, booking_id: b(1), resend: false };
        let later = chrono::Utc::now() + chrono::Duration::hours(1);
        let rows = [
            row(1, &sync(ann, b(1)), None),
            row(2, &notify, None),
            row(3, &sync(bo, b(2)), None),
            row(4, &sync(ann, b(3)), None),
            row(5, &sync(ann, b(1)), None),
            row(6, &sync(ann, b(4)), Some(later)),
            OutboxEntry { id: 7, job: "{}".into(), created_at: chrono::Utc::now(), run_at: None },
        ];
        let items = together(&rows);
        // Each row an item stands where, with its job and the rows it carries.
        type Seen = (i64, Option<(Job, Vec<i64>)>);
        let seen: Vec<Seen> = items.into_iter().map(|(row, item)| (row.id, item.ok())).collect();
        let batch = Job::sync_bookings(ann, vec![b(1), b(3)]);
        assert_eq!(
            seen,
            [
                (1, Some((batch, vec![1, 4, 5]))),
                (2, Some((notify, vec![2]))),
                (3, Some((sync(bo, b(2)), vec![3]))),
                (6, Some((sync(ann, b(4)), vec![6]))),
                (7, None),
            ],
            "each row in exactly one item; a delayed sync and another tenant's go on their own"
        );
    }

    #[test]
    fn a_sync_of_several_and_a_delete_queued_by_an_earlier_version_join_their_tenants_batch() {
        let ann = Uuid::from_u128(1);
        let b = |n: u128| Uuid::from_u128(100 + n);
        let several = Job::sync_bookings(ann, vec![b(1), b(2)]);
        let earlier =
            format!(r#"{{"kind":"delete_booking","tenant_id":"{ann}","booking_id":"{}"}}"#, b(3));
        let rows = [
            row(1, &several, None),
            OutboxEntry { id: 2, job: earlier, created_at: chrono::Utc::now(), run_at: None },
            row(3, &Job::sync_booking(ann, b(2)), None),
        ];
        let items: Vec<(Job, Vec<i64>)> =
            together(&rows).into_iter().map(|(_, item)| item.unwrap()).collect();
        let batch = Job::sync_bookings(ann, vec![b(1), b(2), b(3)]);
        assert_eq!(items, [(batch, vec![1, 2, 3])]);
    }

    #[test]
    fn a_replays_syncs_and_a_changes_sync_of_one_tenant_travel_in_separate_jobs() {
        let ann = Uuid::from_u128(1);
        let b = |n: u128| Uuid::from_u128(100 + n);
        let rows = [
            row(1, &Job::replay_booking(ann, b(1)), None),
            row(2, &Job::sync_booking(ann, b(2)), None),
            row(3, &Job::replay_booking(ann, b(3)), None),
        ];
        let items: Vec<(Job, Vec<i64>)> =
            together(&rows).into_iter().map(|(_, item)| item.unwrap()).collect();
        let replay = Job::sync_bookings_on(ann, vec![b(1), b(3)], Lane::Backlog);
        assert_eq!(items, [(replay, vec![1, 3]), (Job::sync_booking(ann, b(2)), vec![2])]);
    }

    #[test]
    fn a_batch_holds_at_most_its_share_of_bookings() {
        let tenant_id = Uuid::from_u128(1);
        let rows: Vec<OutboxEntry> = (0..SYNC_BATCH as i64 + 3)
            .map(|n| {
                let job = Job::sync_booking(tenant_id, Uuid::from_u128(n as u128));
                row(n, &job, None)
            })
            .collect();
        let sizes: Vec<usize> = together(&rows)
            .into_iter()
            .map(|(_, item)| match item.unwrap().0 {
                Job::SyncBookings { booking_ids, .. } => booking_ids.len(),
                job => panic!("not a sync: {job:?}"),
            })
            .collect();
        assert_eq!(sizes, [SYNC_BATCH, 3]);
    }
}
