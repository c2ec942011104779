//! `watch_calendars`: every watched calendar of a connection has a push channel (Google) or
//! subscription (Microsoft) that will not expire within a day: created on connect, renewed by the
//! scheduler before it runs out. Notifications only ask for an import; the scheduled import every
//! 15 minutes stays the safety net.

use chrono::{Duration, Utc};
use kalends_core::domain::{Connection, ConnectionStatus, Provider};
use kalends_core::seal::Sealer;
use kalends_providers::calendar::{Subscription, SubscriptionRequest};
use kalends_providers::session::{ConnectionError, Credentials};
use kalends_store::{Channel, NewChannel};
use kalends_store::{Store, StoreError};
use secrecy::SecretString;
use uuid::Uuid;

use crate::JobError;

/// Channels are asked to live this long (providers may shorten it: Microsoft allows ~7 days).
const LIFETIME_DAYS: i64 = 6;
/// Channels expiring sooner than this are renewed.
pub const RENEW_BEFORE_HOURS: i64 = 24;

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %connection_id))]
pub async fn run(
    store: &Store,
    sealer: &Sealer,
    credentials: &Credentials,
    public_url: &str,
    tenant_id: Uuid,
    connection_id: Uuid,
) -> Result<(), JobError> {
    let connection = match store.connection(tenant_id, connection_id).await {
        Ok(connection) => connection,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if connection.status != ConnectionStatus::Active {
        return Ok(());
    }
    let sandboxed = credentials.providers().sandboxed.contains(&connection.provider);
    if !public_url.starts_with("https://") && !sandboxed {
        tracing::info!(
            "push notifications need an https KALENDS_PUBLIC_URL; relying on scheduled imports"
        );
        return Ok(());
    }
    match watch(store, sealer, credentials, public_url, &connection).await {
        Ok(()) => Ok(()),
        Err(ConnectionError::Store(e)) => Err(e.into()),
        Err(ConnectionError::Provider(kalends_providers::ProviderError::DeadGrant { .. })) => {
            Ok(())
        }
        Err(e) if e.is_retryable() => Err(JobError::transient_from(e, None)),
        Err(e) => Err(JobError::permanent_from(e)),
    }
}

/// The calendars to watch: Google one channel per busy calendar; Microsoft one subscription on
/// `me/events`. A busy-times-only Google calendar none: its token reads free/busy alone, which
/// cannot be watched, so its imports run on schedule; a busy-times-only Microsoft calendar the
/// same subscription (`Calendars.Read` allows it), whose notifications ask for a free/busy import.
fn watched(connection: &Connection) -> Vec<String> {
    match connection.provider {
        Provider::Google if connection.busy_only => Vec::new(),
        Provider::Google => connection.busy_calendar_ids.clone(),
        Provider::Microsoft => vec!["me/events".to_owned()],
        // CalDAV servers push nothing Kalends can receive: imports run on schedule.
        Provider::Caldav => Vec::new(),
    }
}

/// Starts or renews the push channels of the connection's watched calendars (Google watches, a
/// Graph subscription) and stops those of calendars no longer watched.
// For each calendar, renew or subscribe, then replace the stored channel; then stop the stale
// ones. The order is what keeps a channel from being orphaned at the provider.
async fn watch(
    store: &Store,
    sealer: &Sealer,
    credentials: &Credentials,
    public_url: &str,
    connection: &Connection,
) -> Result<(), ConnectionError> {
    let existing =
        store.channels_of(connection.id, sealer).await.map_err(ConnectionError::store)?;
    let provider = credentials.providers().get(connection.provider);
    let wanted = watched(connection);
    let renew_before = Utc::now() + Duration::hours(RENEW_BEFORE_HOURS);
    for calendar in &wanted {
        let current = existing.iter().find(|c| &c.calendar_id == calendar);
        if current.is_some_and(|c| c.expires_at > renew_before) {
            continue;
        }
        let secret = SecretString::from(random_secret());
        let request = SubscriptionRequest {
            calendar_id: calendar.clone(),
            callback_url: format!(
                "{}/webhooks/{}",
                public_url.trim_end_matches('/'),
                connection.provider
            ),
            channel_id: Uuid::now_v7().to_string(),
            secret: secret.clone(),
            expires_at: Utc::now() + Duration::days(LIFETIME_DAYS),
        };
        let subscription = credentials
            .with_token(connection, |token| {
                let (request, current) = (&request, current);
                async move {
                    match current {
                        Some(old) => provider.renew(&token, &subscription_of(old), request).await,
                        None => provider.subscribe(&token, request).await,
                    }
                }
            })
            .await?;
        if let Some(old) = current.filter(|old| old.channel_id != subscription.id) {
            store.delete_channel(old.id).await.map_err(ConnectionError::store)?;
        }
        // A renewed Microsoft subscription keeps its id and its clientState.
        let kept =
            current.filter(|old| old.channel_id == subscription.id).map(|old| old.secret.clone());
        let new = NewChannel {
            connection_id: connection.id,
            tenant_id: connection.tenant_id,
            provider: connection.provider,
            calendar_id: calendar,
            channel_id: &subscription.id,
            resource_id: subscription.resource_id.as_deref(),
            secret: kept.as_ref().unwrap_or(&secret),
            expires_at: subscription.expires_at,
        };
        store.save_channel(&new, sealer).await.map_err(ConnectionError::store)?;
    }
    // Calendars no longer watched: stop their channels.
    for stale in existing.iter().filter(|c| !wanted.contains(&c.calendar_id)) {
        let old = subscription_of(stale);
        credentials
            .with_token(connection, |token| {
                let old = &old;
                async move { provider.unsubscribe(&token, old).await }
            })
            .await?;
        store.delete_channel(stale.id).await.map_err(ConnectionError::store)?;
    }
    Ok(())
}

/// A stored channel as the provider knows it.
fn subscription_of(channel: &Channel) -> Subscription {
    Subscription {
        id: channel.channel_id.clone(),
        resource_id: channel.resource_id.clone(),
        expires_at: channel.expires_at,
    }
}

/// 32 random bytes, base64url: the token a notification must echo.
fn random_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
