//! `update_checklists`: brings the manual update checklists of a resource (and, for a booking,
//! of every resource with items about it) up to date with its busy nights. It re-reads
//! everything and nets against what is pending, so running it twice, or late, changes nothing.

use kalends_core::config::ChecklistsConfig;
use kalends_service::checklists;
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, ?resource_id, ?booking_id))]
pub async fn run(
    store: &Store,
    config: &ChecklistsConfig,
    tenant_id: Uuid,
    resource_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    cause: &str,
) -> Result<(), JobError> {
    let created =
        checklists::refresh(store, tenant_id, resource_id, booking_id, cause, config).await?;
    if created > 0 {
        tracing::info!(created, "checklist items created");
    }
    Ok(())
}
