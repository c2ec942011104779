//! The outbox relay: moves work committed to the outbox onto the job queue.
//!
//! It wakes at once when this process committed outbox rows (in-process notification) and polls
//! every `relay_interval_ms` (at most a second) for rows other processes wrote or a crashed relay
//! left behind. Rows are deleted only after the queue accepted them, so a crash between commit and
//! enqueue loses nothing.

use std::time::Duration;

use futures::channel::mpsc;
use kalends_core::Store;
use tokio_util::sync::CancellationToken;

use crate::{JobQueue, QueuedJob};

const BATCH: u32 = 100;
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

    /// Moves one batch; returns how many rows it handled.
    pub async fn relay_once(&self) -> Result<usize, anyhow::Error> {
        let rows = self.store.claim_outbox(BATCH, LEASE).await?;
        let mut done = Vec::with_capacity(rows.len());
        let mut result = Ok(());
        for row in &rows {
            match row.decode() {
                Ok(job) => {
                    let item = QueuedJob::new(job, row.created_at.timestamp_millis());
                    let delay = row
                        .run_at
                        .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                        .filter(|delay| !delay.is_zero());
                    if let Err(e) = self.queue.push(item, delay).await {
                        // Leave this and later rows claimed; the lease expires and they go again.
                        result = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    let error =
                        format!("outbox row {} is not a job this version understands: {e}", row.id);
                    tracing::error!(%error, "unreadable outbox row recorded as a failed job");
                    self.store.record_job_failure("unknown", &row.job, &error, 0).await?;
                }
            }
            done.push(row.id);
        }
        if !done.is_empty() {
            self.store.complete_outbox(&done).await?;
            metrics::counter!("kalends_outbox_relayed_total").increment(done.len() as u64);
            self.queue.announce().await;
            if let Some(wake) = &self.wake_worker {
                // A full channel already holds a wake-up; that is enough.
                let _ = wake.clone().try_send(());
            }
        }
        result.map_err(Into::into).map(|()| done.len())
    }
}
