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
/// ([`crate::directory::place_whole_days`]), and a change of when reminders are due (the zone,
/// the offsets, the hour) queues the upcoming reminders again.
pub async fn update_settings(
    store: &Store,
    tenant_id: Uuid,
    settings: &TenantSettings,
) -> Result<(), StoreError> {
    let before = store.tenant(tenant_id).await?.settings;
    store.update_tenant_settings(tenant_id, settings).await?;
    if settings.time_zone != before.time_zone {
        store.enqueue(&Job::PlaceWholeDays { tenant_id, recheck: Vec::new() }).await?;
    }
    let reminders_move = settings.time_zone != before.time_zone
        || settings.reminder_offsets_minutes != before.reminder_offsets_minutes
        || settings.all_day_reminder_hour != before.all_day_reminder_hour;
    if reminders_move {
        store.enqueue(&Job::ScheduleReminders { tenant_id }).await?;
    }
    Ok(())
}
