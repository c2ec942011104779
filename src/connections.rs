//! What the settings page and the JSON API both do with a connection: connect it from an OAuth
//! callback, test it, list its calendars, disconnect it.

use chrono::{Duration, Utc};
use kalends_core::StoreError;
use kalends_core::domain::{Connection, ConnectionCalendar, ConnectionStatus, Provider};
use kalends_core::job::Job;
use kalends_core::store::{NewConnection, StoredTokens};
use kalends_providers::ProviderError;
use kalends_providers::calendar::{AccessToken, RemoteCalendar, Window};
use kalends_providers::session::ConnectionError;
use secrecy::SecretString;
use uuid::Uuid;

use crate::api::AppState;

/// What a disconnect did.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Disconnected {
    /// Whether the provider revoked the grant (Google); Microsoft has no revocation endpoint.
    pub revoked_at_provider: bool,
    /// Events Kalends had created that were removed from the calendar.
    pub events_removed: usize,
    /// Why events could not all be removed, if they could not.
    pub warning: Option<String>,
}

/// How far around now a disconnect looks for Kalends's events to remove.
const REMOVAL_PAST_DAYS: i64 = 365;
const REMOVAL_FUTURE_DAYS: i64 = 3 * 365;

fn calendars_of(remote: Vec<RemoteCalendar>) -> Vec<ConnectionCalendar> {
    remote
        .into_iter()
        .map(|c| ConnectionCalendar {
            id: c.id,
            name: c.name,
            primary: c.primary,
            writable: c.writable,
        })
        .collect()
}

/// Finishes a connect flow: exchanges the code, reads the account and its calendars, and saves
/// the connection with sealed tokens. Nothing is stored unless every step succeeded.
pub async fn connect(
    state: &AppState,
    tenant_id: Uuid,
    staff_id: Uuid,
    provider: Provider,
    code: &str,
    verifier: &SecretString,
) -> Result<Connection, ConnectionError> {
    let client = state.providers.get(provider);
    let tokens = client.exchange_code(code, verifier).await?;
    let access = AccessToken(tokens.access_token.clone());
    let account = client.account(&access, tokens.id_token_email.as_deref()).await?;
    let calendars = calendars_of(client.list_calendars(&access).await?);
    let new = NewConnection {
        staff_id,
        provider,
        account_email: account.email.to_ascii_lowercase(),
        calendars,
        tokens: StoredTokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
        },
    };
    let connection = state.store.save_connection(tenant_id, new, &state.sealer).await?;
    tracing::info!(connection = %connection.id, provider = %provider, "calendar connected");
    replay(state, &connection).await?;
    let watch = Job::WatchCalendars { tenant_id, connection_id: connection.id };
    state.store.enqueue(&watch).await?;
    import_now(state, &connection).await?;
    Ok(connection)
}

/// Queues an import of the connection's busy times now (unless one is already waiting), and
/// moves its scheduled import one interval ahead. `true` when this call queued it.
pub async fn import_now(state: &AppState, connection: &Connection) -> Result<bool, StoreError> {
    let now = chrono::Utc::now();
    let next =
        now + chrono::Duration::minutes(i64::from(state.config.sync.import_interval_minutes));
    state.store.request_calendar_import(connection.tenant_id, connection.id, now, Some(next)).await
}

/// Queues a sync of every upcoming booking of the connection's staff member whose event in its
/// calendar is missing or behind (oldest change first): what a new connection, a reconnect or a
/// new default/destination owes.
pub async fn replay(state: &AppState, connection: &Connection) -> Result<usize, StoreError> {
    if !connection.is_default || connection.status != ConnectionStatus::Active {
        return Ok(0);
    }
    let behind = state.store.bookings_behind(connection).await?;
    for booking_id in &behind {
        let job = Job::SyncBooking { tenant_id: connection.tenant_id, booking_id: *booking_id };
        state.store.enqueue(&job).await?;
    }
    if !behind.is_empty() {
        tracing::info!(connection = %connection.id, bookings = behind.len(), "bookings queued for the calendar");
    }
    Ok(behind.len())
}

/// The account's calendars as the provider lists them now; the stored list follows.
pub async fn calendars(
    state: &AppState,
    connection: &Connection,
) -> Result<Vec<RemoteCalendar>, ConnectionError> {
    let client = state.providers.get(connection.provider);
    let remote = state
        .credentials
        .with_token(connection, |token| async move { client.list_calendars(&token).await })
        .await;
    record(state, connection, remote.as_ref().err()).await;
    let remote = remote?;
    state.store.set_connection_calendars(connection.id, &calendars_of(remote.clone())).await?;
    Ok(remote)
}

/// Records the outcome of a live call on the connection (status and last error).
pub async fn record(state: &AppState, connection: &Connection, error: Option<&ConnectionError>) {
    let (status, message) = match error {
        None => (ConnectionStatus::Active, None),
        Some(ConnectionError::Provider(ProviderError::DeadGrant { .. })) => {
            (ConnectionStatus::NeedsReauth, error.map(ToString::to_string))
        }
        Some(ConnectionError::Disconnected) => return,
        Some(other) => (connection.status, Some(other.to_string())),
    };
    if let Err(e) = state.store.mark_connection(connection.id, status, message.as_deref()).await {
        tracing::warn!(connection = %connection.id, error = %e, "could not record the connection's state");
    }
}

/// Disconnects: optionally removes the events Kalends created in the destination calendar,
/// revokes the grant where the provider allows it, then forgets the tokens. The tokens are
/// forgotten even when the provider cannot be reached: the staff member asked to be let go.
pub async fn disconnect(
    state: &AppState,
    connection: &Connection,
    remove_events: bool,
) -> Result<Disconnected, ConnectionError> {
    let mut outcome = Disconnected::default();
    if connection.status != ConnectionStatus::Revoked {
        if remove_events {
            match remove_kalends_events(state, connection).await {
                Ok(count) => outcome.events_removed = count,
                Err(e) => outcome.warning = Some(format!("some events could not be removed: {e}")),
            }
        }
        stop_channels(state, connection).await;
        if let Some((tokens, _)) =
            state.store.connection_tokens(connection.id, &state.sealer).await?
        {
            let token = tokens.refresh_token.unwrap_or(tokens.access_token);
            match state.providers.get(connection.provider).revoke(&token).await {
                Ok(revoked) => outcome.revoked_at_provider = revoked,
                Err(e) => {
                    tracing::warn!(connection = %connection.id, error = %e, "revocation failed; forgetting the tokens anyway");
                    outcome.warning.get_or_insert_with(|| {
                        format!("the provider could not revoke access: {e}")
                    });
                }
            }
        }
    }
    state.store.disconnect_connection(connection.tenant_id, connection.id).await?;
    state.store.resolve_external_edits_of_connection(connection.id).await?;
    tracing::info!(connection = %connection.id, provider = %connection.provider, "calendar disconnected");
    // The staff member's bookings now go to their new default connection, if any.
    for other in
        state.store.list_connections(connection.tenant_id, Some(connection.staff_id)).await?
    {
        replay(state, &other).await?;
    }
    Ok(outcome)
}

/// Stops the connection's push channels while its tokens still work (best effort: Google
/// channels also expire on their own).
async fn stop_channels(state: &AppState, connection: &Connection) {
    let channels = match state.store.channels_of(connection.id, &state.sealer).await {
        Ok(channels) => channels,
        Err(e) => return tracing::warn!(error = %e, "could not read the push channels"),
    };
    let client = state.providers.get(connection.provider);
    for channel in channels {
        let subscription = kalends_providers::calendar::Subscription {
            id: channel.channel_id.clone(),
            resource_id: channel.resource_id.clone(),
            expires_at: channel.expires_at,
        };
        let stopped = state
            .credentials
            .with_token(connection, |token| {
                let subscription = &subscription;
                async move { client.unsubscribe(&token, subscription).await }
            })
            .await;
        if let Err(e) = stopped {
            tracing::warn!(channel = %channel.id, error = %e, "could not stop a push channel");
        }
        if let Err(e) = state.store.delete_channel(channel.id).await {
            tracing::warn!(error = %e, "could not forget a push channel");
        }
    }
}

async fn remove_kalends_events(
    state: &AppState,
    connection: &Connection,
) -> Result<usize, ConnectionError> {
    let Some(calendar) = connection.destination_calendar_id.clone() else {
        return Ok(0);
    };
    let client = state.providers.get(connection.provider);
    let now = Utc::now();
    let window = Window {
        start: now - Duration::days(REMOVAL_PAST_DAYS),
        end: now + Duration::days(REMOVAL_FUTURE_DAYS),
    };
    let events = state
        .credentials
        .with_token(connection, |token| {
            let calendar = calendar.clone();
            async move { client.list_kalends_events(&token, &calendar, window).await }
        })
        .await?;
    // Only this connection's events: others sharing the calendar keep theirs.
    let recorded: std::collections::HashSet<String> = state
        .store
        .connection_events(connection.id)
        .await?
        .into_iter()
        .filter_map(|e| e.remote_id)
        .collect();
    let mut removed = 0;
    for event in events.iter().filter(|e| e.is_written_by(connection.id, &recorded)) {
        let id = event.id.clone();
        let calendar = calendar.clone();
        state
            .credentials
            .with_token(connection, |token| {
                let (id, calendar) = (id.clone(), calendar.clone());
                async move { client.delete_event(&token, &calendar, &id).await }
            })
            .await?;
        removed += 1;
    }
    Ok(removed)
}

/// A live call to the provider: lists the calendars. `(ok, detail)`.
pub async fn test(state: &AppState, connection: &Connection) -> (bool, String) {
    if connection.status == ConnectionStatus::Revoked {
        return (false, "the calendar is disconnected".into());
    }
    match calendars(state, connection).await {
        Ok(list) => (
            true,
            format!(
                "{} answered; the account has {} calendar{}",
                connection.provider.label(),
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}
