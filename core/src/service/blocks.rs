//! Blocks: time a resource or staff member is not available (maintenance, a day off), added
//! and removed by hand; each change brings its conflicts up to date.

use uuid::Uuid;

use super::conflicts::after_block_change;
use crate::domain::{Block, NewBlock, Owner, Tenant};
use crate::{Store, StoreError};

/// Adds a block.
pub async fn create(store: &Store, tenant: &Tenant, new: NewBlock) -> Result<Block, StoreError> {
    let block = store.create_block(tenant, new).await?;
    if let Some(owner) = Owner::from_columns(block.data.resource_id, block.data.staff_id) {
        let zone = store.owner_zone(tenant, owner).await?;
        let span = block.data.span.utc_range(zone);
        after_block_change(store, tenant, block.id, Some((owner, span))).await;
    }
    Ok(block)
}

/// Removes a block: the time is free again.
pub async fn delete(store: &Store, tenant: &Tenant, id: Uuid) -> Result<(), StoreError> {
    store.delete_block(tenant.id, id).await?;
    after_block_change(store, tenant, id, None).await;
    Ok(())
}
