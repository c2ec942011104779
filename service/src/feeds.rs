//! Outbound `.ics` feeds: registered with a secret URL, rotated when the URL leaked, removed.

use uuid::Uuid;

use kalends_core::config::SecretKey;
use kalends_core::domain::{Feed, NewFeed, Tenant};
use kalends_store::{Store, StoreError};

/// Registers a feed; its secret URL is derived from `key`.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    new: NewFeed,
    key: &SecretKey,
) -> Result<Feed, StoreError> {
    store.create_feed(tenant, new, key).await
}

/// Gives a feed a new secret URL: the old one stops working at once.
pub async fn rotate(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    key: &SecretKey,
) -> Result<Feed, StoreError> {
    store.rotate_feed(tenant_id, id, key).await
}

/// Removes a feed: its URL answers 404 from now on.
pub async fn delete(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.delete_feed(tenant_id, id).await
}
