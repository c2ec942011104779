//! The tenant's outbound webhook endpoints: created with a signing secret shown once, changed,
//! rotated (the old secret signing beside the new one for a while), tested, and their failed
//! deliveries retried. Which change records which event is decided beside each change
//! (`service/conflicts.rs`, `service/imports.rs`, ...), in its own transaction.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use kalends_core::seal::{SealError, Sealer};
use kalends_core::webhooks::{WebhookEvent, new_secret};
use kalends_store::{
    NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookEndpointPatch, secret_context,
};
use kalends_store::{Store, StoreError};

/// An endpoint to create, its fields checked by the adapter.
#[derive(Clone, Debug)]
pub struct EndpointSpec {
    /// Where events go (an absolute http(s) URL the adapter checked).
    pub url: String,
    /// The tenant's note.
    pub description: Option<String>,
    /// Known event types.
    pub event_types: Vec<String>,
    /// Whether it starts enabled.
    pub enabled: bool,
}

/// Creates an endpoint with a new secret; the secret is returned to be shown once (only its
/// sealed form is kept).
pub async fn create(
    store: &Store,
    sealer: &Sealer,
    tenant_id: Uuid,
    spec: EndpointSpec,
) -> Result<(WebhookEndpoint, SecretString), StoreError> {
    let (id, secret) = (Uuid::now_v7(), new_secret());
    let new = NewWebhookEndpoint {
        id,
        url: spec.url,
        description: spec.description,
        event_types: spec.event_types,
        enabled: spec.enabled,
        secret: sealer.seal(&secret, &secret_context(id)),
    };
    let endpoint = store.create_webhook_endpoint(tenant_id, &new).await?;
    tracing::info!(%tenant_id, endpoint = %id, "webhook endpoint created");
    Ok((endpoint, secret))
}

/// Changes an endpoint.
pub async fn update(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    patch: &WebhookEndpointPatch,
) -> Result<WebhookEndpoint, StoreError> {
    store.update_webhook_endpoint(tenant_id, id, patch).await
}

/// Deletes an endpoint: nothing more is sent to it.
pub async fn delete(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.delete_webhook_endpoint(tenant_id, id).await
}

/// Gives an endpoint a new secret, returned to be shown once; the current one keeps signing
/// beside it until `old_valid_until`, so the receiver can switch without losing a delivery.
pub async fn rotate_secret(
    store: &Store,
    sealer: &Sealer,
    tenant_id: Uuid,
    id: Uuid,
    old_valid_until: DateTime<Utc>,
) -> Result<(WebhookEndpoint, SecretString), StoreError> {
    let secret = new_secret();
    let sealed = sealer.seal(&secret, &secret_context(id));
    let endpoint = store.rotate_webhook_secret(tenant_id, id, &sealed, old_valid_until).await?;
    tracing::info!(%tenant_id, endpoint = %id, "webhook secret rotated");
    Ok((endpoint, secret))
}

/// Sends a `webhook.test` event to one endpoint (whatever it subscribed to); refused, naming
/// `enabled`, while the endpoint is disabled (it would be sent nothing).
pub async fn send_test(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<WebhookDelivery, StoreError> {
    enabled(store, tenant_id, id).await?;
    let event = WebhookEvent::new(
        "webhook.test",
        json!({"endpoint_id": id, "message": "A test event sent from Kalends."}),
    );
    store.record_webhook_event_for(tenant_id, id, &event).await
}

/// Tries a delivery once more, now; refused like [`send_test`] while the endpoint is disabled.
pub async fn retry(
    store: &Store,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    delivery_id: Uuid,
) -> Result<WebhookDelivery, StoreError> {
    enabled(store, tenant_id, endpoint_id).await?;
    store.retry_webhook_delivery(tenant_id, endpoint_id, delivery_id).await
}

/// [`StoreError::Invalid`] on `enabled` when the endpoint is disabled.
async fn enabled(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    if store.webhook_endpoint(tenant_id, id).await?.enabled {
        return Ok(());
    }
    Err(StoreError::Invalid {
        field: "enabled".into(),
        message: "the endpoint is disabled and is sent nothing; enable it first".into(),
    })
}

/// The secrets that sign a delivery at `now`: the current one, and the one it replaced while
/// that is still valid.
pub fn signing_secrets(
    sealer: &Sealer,
    endpoint: &WebhookEndpoint,
    now: DateTime<Utc>,
) -> Result<Vec<SecretString>, SealError> {
    let context = secret_context(endpoint.id);
    let mut secrets = vec![sealer.open(&endpoint.secret, &context)?];
    if let (Some(previous), Some(until)) =
        (&endpoint.previous_secret, endpoint.previous_secret_until)
        && until > now
    {
        secrets.push(sealer.open(previous, &context)?);
    }
    Ok(secrets)
}
