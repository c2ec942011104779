//! `sync_booking`: bring the booking's calendars up to date with its current version.
//!
//! Until the provider issues land, the only calendar is the `sync_attempts` record: the job re-reads
//! the booking and records the version it converged to. A job for an old version therefore
//! converges to the current one, and a duplicate delivery finds the record already there.

use kalends_core::domain::BookingStatus;
use kalends_core::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;

/// Runs the job for one booking.
#[tracing::instrument(skip_all, fields(%tenant_id, %booking_id))]
pub async fn run(store: &Store, tenant_id: Uuid, booking_id: Uuid) -> Result<(), JobError> {
    converge(store, tenant_id, booking_id).await
}

/// Shared by `sync_booking` and `delete_booking`: whatever the job was queued for, the booking's
/// current state decides what is done (a cancelled booking is removed, any other is pushed).
pub(crate) async fn converge(
    store: &Store,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<(), JobError> {
    let booking = match store.booking(tenant_id, booking_id).await {
        Ok(booking) => booking,
        // Gone (its tenant was deleted): nothing left to bring anywhere.
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let action = match booking.data.status {
        BookingStatus::Cancelled => "delete_booking",
        BookingStatus::Tentative | BookingStatus::Confirmed => "sync_booking",
    };
    let first = store.record_sync_attempt(tenant_id, booking_id, booking.version, action).await?;
    if first {
        tracing::info!(version = booking.version, action, "booking synced");
    } else {
        tracing::debug!(
            version = booking.version,
            action,
            "already synced; duplicate delivery ignored"
        );
    }
    Ok(())
}
