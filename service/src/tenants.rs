//! Tenants: created from the command line, their settings changed, their API keys issued and
//! revoked.

use secrecy::SecretString;
use uuid::Uuid;

use kalends_core::domain::{Tenant, TenantSettings};
use kalends_core::job::Job;
use kalends_store::Revocation;
use kalends_store::{Store, StoreError};

/// Creates a tenant with its first API key (shown once).
pub async fn create(
    store: &Store,
    settings: TenantSettings,
) -> Result<(Tenant, SecretString), StoreError> {
    let tenant = store.create_tenant(settings).await?;
    let key = store.create_api_key(tenant.id).await?;
    Ok((tenant, key))
}

/// Issues another API key (shown once).
pub async fn issue_api_key(store: &Store, tenant_id: Uuid) -> Result<SecretString, StoreError> {
    store.create_api_key(tenant_id).await
}

/// Revokes an API key; with `keep_one`, the tenant's last live key is refused.
pub async fn revoke_api_key(
    store: &Store,
    tenant_id: Uuid,
    key_id: Uuid,
    keep_one: bool,
) -> Result<Revocation, StoreError> {
    store.revoke_api_key(tenant_id, key_id, keep_one).await
}

/// Replaces the tenant's settings (already checked by the caller's form or body); a change of
/// its zone places the whole days counted in it again
/// ([`crate::directory::place_whole_days`]).
pub async fn update_settings(
    store: &Store,
    tenant_id: Uuid,
    settings: &TenantSettings,
) -> Result<(), StoreError> {
    let before = store.tenant(tenant_id).await?.settings.time_zone;
    store.update_tenant_settings(tenant_id, settings).await?;
    if settings.time_zone != before {
        store.enqueue(&Job::PlaceWholeDays { tenant_id }).await?;
    }
    Ok(())
}
