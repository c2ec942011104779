//! The work a change owes, as it is recorded in the outbox and carried by the job queue.
//!
//! Payloads carry ids, never copies of data: a job re-reads the current state and converges to it,
//! so running one twice, or late, is harmless.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One unit of owed work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Bring every calendar the booking belongs in up to date with it.
    SyncBooking {
        /// Owner of the booking.
        tenant_id: Uuid,
        /// The booking.
        booking_id: Uuid,
    },
    /// Remove a cancelled booking from the calendars it was pushed to.
    DeleteBooking {
        /// Owner of the booking.
        tenant_id: Uuid,
        /// The booking.
        booking_id: Uuid,
    },
    /// Fetch an imported .ics feed, store what changed, and look for new conflicts.
    ImportFeed {
        /// Owner of the import.
        tenant_id: Uuid,
        /// The import.
        import_id: Uuid,
    },
}

impl Job {
    /// The job's kind, as used in metrics, logs and the failure record.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::SyncBooking { .. } => "sync_booking",
            Job::DeleteBooking { .. } => "delete_booking",
            Job::ImportFeed { .. } => "import_feed",
        }
    }
}
