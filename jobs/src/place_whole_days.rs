//! `place_whole_days`: after a zone changed (a resource's, a staff member's or the business's),
//! every whole-day item of the tenant is placed at midnight in its owner's zone as it is now,
//! the overlaps of the owners whose items moved are looked at again, and every owner's rules
//! judge its bookings ahead again ([`directory::place_whole_days`]). Run again, it finds
//! nothing to move; the owners a run moved but did not look at again travel in the job it
//! queues for them (`recheck`).

use kalends_core::domain::Owner;
use kalends_service::directory;
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// The job.
pub async fn run(store: &Store, tenant_id: Uuid, recheck: &[Owner]) -> Result<(), JobError> {
    Ok(directory::place_whole_days(store, tenant_id, recheck).await?)
}
