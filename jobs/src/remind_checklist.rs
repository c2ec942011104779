//! `remind_checklist`: at an item's due time, and at each step before its first night, tells
//! the tenant (alert e-mail, webhook event) of the overdue items of its platform; an item done
//! or skipped meanwhile is told of no more.

use kalends_core::config::{AlertsConfig, ChecklistsConfig};
use kalends_service::checklists;
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %item_id))]
pub async fn run(
    store: &Store,
    config: &(ChecklistsConfig, AlertsConfig),
    tenant_id: Uuid,
    item_id: Uuid,
) -> Result<(), JobError> {
    checklists::remind(store, tenant_id, item_id, &config.0, &config.1).await?;
    Ok(())
}
