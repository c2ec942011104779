//! `delete_booking`: remove a cancelled booking from the calendars it was pushed to.
//!
//! It converges like `sync_booking`: if the booking was reinstated after the cancellation was
//! queued, the current (reinstated) version wins and nothing is removed.

use kalends_providers::session::Credentials;
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// Runs the job for one booking.
#[tracing::instrument(skip_all, fields(%tenant_id, %booking_id))]
pub async fn run(
    store: &Store,
    credentials: &Credentials,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<(), JobError> {
    crate::sync_booking::converge(store, credentials, tenant_id, booking_id).await
}
