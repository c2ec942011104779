//! Blocks: time a resource or staff member is not available (maintenance, a day off), added
//! and removed by hand; each change brings its conflicts up to date.

use uuid::Uuid;

use super::conflicts::BlockChange::{Placed, Removed};
use super::conflicts::after_block_change;
use kalends_core::domain::{Block, NewBlock, Owner, Tenant};
use kalends_core::job::Job;
use kalends_store::{Store, StoreError};

/// What a block of `resource_id` owes when added or removed: its resource's manual update
/// checklists follow its nights.
pub fn owed_jobs(tenant_id: Uuid, resource_id: Option<Uuid>, cause: &str) -> Vec<Job> {
    resource_id
        .map(|id| Job::UpdateChecklists {
            tenant_id,
            resource_id: Some(id),
            booking_id: None,
            cause: cause.into(),
        })
        .into_iter()
        .collect()
}

/// Adds a block.
pub async fn create(store: &Store, tenant: &Tenant, new: NewBlock) -> Result<Block, StoreError> {
    let owed = owed_jobs(tenant.id, new.resource_id, "block_added");
    let block = store.create_block(tenant, new, &owed).await?;
    if let Some(owner) = Owner::from_columns(block.data.resource_id, block.data.staff_id) {
        let zone = store.owner_zone(tenant, owner).await?;
        let span = block.data.span.utc_range(zone);
        after_block_change(store, tenant, block.id, Placed(owner, span)).await;
    }
    Ok(block)
}

/// Removes a block: the time is free again.
pub async fn delete(store: &Store, tenant: &Tenant, id: Uuid) -> Result<(), StoreError> {
    let (owner, was) = store
        .delete_block(tenant.id, id, |resource_id| {
            owed_jobs(tenant.id, resource_id, "block_removed")
        })
        .await?;
    after_block_change(store, tenant, id, Removed(owner, was)).await;
    Ok(())
}
