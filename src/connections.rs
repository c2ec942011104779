//! What the settings page and the JSON API both do with a connection: connect it from an OAuth
//! callback or a CalDAV form, test it, list its calendars, disconnect it.

use chrono::{Duration, Utc};
use kalends_core::domain::ConnectionTokens;
use kalends_core::domain::{Connection, ConnectionCalendar, ConnectionStatus, Provider};
use kalends_providers::ProviderError;
use kalends_providers::caldav::DiscoveryError;
use kalends_providers::calendar::{AccessToken, RemoteCalendar};
use kalends_providers::session::ConnectionError;
use kalends_service::connection_cleanups;
use kalends_store::NewConnection;
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use crate::state::AppState;

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

/// Finishes a connect flow: exchanges the code, reads the account and its calendars, and saves
/// the connection with sealed tokens and the work it owes (one transaction). Nothing is stored
/// unless every step succeeded.
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
    let access = AccessToken::from(tokens.access_token.clone());
    let account = client.account(&access, tokens.id_token_email.as_deref()).await?;
    let listed = client.list_calendars(&access);
    let calendars = state.credentials.for_account(provider, &account.email, listed).await?;
    let new = NewConnection {
        staff_id,
        provider,
        account_email: account.email.to_ascii_lowercase(),
        calendars: calendars.into_iter().map(Into::into).collect(),
        tokens: ConnectionTokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
        },
        busy_only: false,
    };
    let next_import_at = Utc::now() + import_interval(state);
    let store = &state.store;
    kalends_service::connections::connected(store, &state.sealer, tenant_id, new, next_import_at)
        .await
        .map_err(ConnectionError::store)
}

/// Why a CalDAV account was not connected.
#[derive(Debug, thiserror::Error)]
pub enum CaldavConnectError {
    /// Discovery failed: the message is for the staff member (wrong password, not CalDAV...).
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// Saving failed.
    #[error("database: {0}")]
    Store(#[from] kalends_store::StoreError),
}

/// Connects a CalDAV account (iCloud or any server) with an app password: discovers its
/// calendars first, and only when that worked saves the connection (credentials sealed like
/// OAuth tokens) through the same use case as an OAuth connect. A password that never expires
/// stands in for the access token; a 401 later turns the connection `needs_reauth`.
pub async fn connect_caldav(
    state: &AppState,
    tenant_id: Uuid,
    staff_id: Uuid,
    server_url: &str,
    username: &str,
    password: &SecretString,
) -> Result<Connection, CaldavConnectError> {
    let found = state
        .providers
        .caldav()
        .discover(server_url, username.trim(), password.expose_secret())
        .await?;
    let new = NewConnection {
        staff_id,
        provider: Provider::Caldav,
        account_email: caldav_account_name(username, &found.account.home),
        calendars: found.calendars.into_iter().map(Into::into).collect(),
        tokens: ConnectionTokens {
            access_token: found.account.to_secret(),
            // Nothing to refresh: asked to, the CalDAV provider answers that the password is dead.
            refresh_token: Some(SecretString::from(String::new())),
            expires_at: never_expires(),
        },
        busy_only: false,
    };
    let next_import_at = Utc::now() + import_interval(state);
    Ok(kalends_service::connections::connected(
        &state.store,
        &state.sealer,
        tenant_id,
        new,
        next_import_at,
    )
    .await?)
}

/// How a CalDAV account is named: its user name when that is an address (an Apple ID), else
/// `user@server`, so two servers' `admin`s stay apart.
fn caldav_account_name(username: &str, home: &str) -> String {
    let username = username.trim().to_ascii_lowercase();
    if username.contains('@') {
        return username;
    }
    let host = url::Url::parse(home).ok().and_then(|u| u.host_str().map(str::to_owned));
    match host {
        Some(host) => format!("{username}@{host}"),
        None => username,
    }
}

/// An app password does not expire: the token's expiry is the end of the calendar.
fn never_expires() -> chrono::DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or_else(Utc::now, |at| at.and_utc())
}

/// What the organisation-wide connections' use cases need from this process.
pub fn organisation_context(state: &AppState) -> kalends_service::organisations::Context<'_> {
    kalends_service::organisations::Context {
        store: &state.store,
        sealer: &state.sealer,
        credentials: &state.credentials,
        next_import_at: next_import_at(state),
    }
}

/// How long a disconnect of an organisation waits for a read of its directory to stop: half the
/// request's time limit, so that the answer says what happened.
pub fn organisation_stop_wait(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_secs(state.config.http.request_timeout_secs) / 2
}

/// When a connection's scheduled import is next due, counted from now.
pub fn next_import_at(state: &AppState) -> chrono::DateTime<Utc> {
    Utc::now() + import_interval(state)
}

/// How often a connection's busy times are imported on schedule.
fn import_interval(state: &AppState) -> Duration {
    Duration::minutes(i64::from(state.config.sync.import_interval_minutes))
}

/// The account's calendars as the provider lists them now; the stored list follows. A
/// busy-times-only connection's token lists nothing: its stored calendar, once the provider
/// answered its free/busy for the next day.
pub async fn calendars(
    state: &AppState,
    connection: &Connection,
) -> Result<Vec<RemoteCalendar>, ConnectionError> {
    let client = state.providers.get(connection.provider);
    if connection.busy_only {
        let ids = &connection.busy_calendar_ids;
        let email = &connection.account_email;
        let answered = state
            .credentials
            .with_token(connection, |token| async move {
                client.reaches_free_busy(&token, ids, email).await
            })
            .await;
        record(state, connection, answered.as_ref().err()).await;
        answered?;
        return Ok(connection.calendars.iter().map(stored_calendar).collect());
    }
    let remote = state
        .credentials
        .with_token(connection, |token| async move { client.list_calendars(&token).await })
        .await;
    record(state, connection, remote.as_ref().err()).await;
    let remote = remote?;
    let listed: Vec<ConnectionCalendar> = remote.iter().cloned().map(Into::into).collect();
    kalends_service::connections::calendars_listed(&state.store, connection.id, &listed)
        .await
        .map_err(ConnectionError::store)?;
    Ok(remote)
}

/// A calendar as stored, as the provider would list it.
fn stored_calendar(calendar: &ConnectionCalendar) -> RemoteCalendar {
    RemoteCalendar {
        id: calendar.id.clone(),
        name: calendar.name.clone(),
        primary: calendar.primary,
        writable: calendar.writable,
        time_zone: None,
    }
}

/// Records the outcome of a live call on the connection (status and last error).
pub async fn record(state: &AppState, connection: &Connection, error: Option<&ConnectionError>) {
    let store = &state.store;
    let recorded = match error {
        None => {
            kalends_service::connections::record_call(
                store,
                connection.id,
                ConnectionStatus::Active,
                None,
            )
            .await
        }
        Some(ConnectionError::Disconnected) => return,
        Some(dead @ ConnectionError::Provider(ProviderError::DeadGrant { .. })) => {
            let message = dead.to_string();
            let status = ConnectionStatus::NeedsReauth;
            kalends_service::connections::record_call(store, connection.id, status, Some(&message))
                .await
        }
        Some(other) => {
            kalends_service::connections::note_error(store, connection.id, &other.to_string()).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(connection = %connection.id, error = %e, "could not record the connection's state");
    }
}

/// Disconnects: the connection is marked disconnected (its tokens out of it, the default handed
/// on) in the same transaction that owes the cleanup at the provider (the events Kalends created
/// removed when asked, push channels stopped, the grant revoked where the provider allows it),
/// which is then tried at once; what fails transiently is retried by the queued job, and the
/// tokens are forgotten for good only once the cleanup is done or given up. The staff member's
/// settings sessions end, but for `by` (the session that asked, on the settings page).
pub async fn disconnect(
    state: &AppState,
    connection: &Connection,
    remove_events: bool,
    by: Option<&kalends_service::staff_sessions::StaffSession>,
) -> Result<Disconnected, ConnectionError> {
    let mut outcome = Disconnected::default();
    // The queued job waits a little: this request's own attempt goes first.
    let safety_net =
        Utc::now() + std::time::Duration::from_secs(state.config.sync.cleanup_retry_secs);
    let cleanup = kalends_service::connections::disconnect(
        &state.store,
        connection,
        remove_events,
        safety_net,
        by,
    )
    .await
    .map_err(ConnectionError::store)?;
    if let Some(cleanup_id) = cleanup {
        // A sync still writing into the calendar is waited for a quarter of the request's time
        // limit at most, so that the answer says what happened; the queued retry waits longer.
        let limit = std::time::Duration::from_secs(state.config.http.request_timeout_secs);
        let sync_wait = connection_cleanups::SYNC_WAIT.min(limit / 4);
        match connection_cleanups::clean_up(
            &state.store,
            &state.sealer,
            &state.credentials,
            cleanup_id,
            sync_wait,
        )
        .await
        {
            Ok(Some(cleaned)) => {
                outcome.events_removed = cleaned.events_removed;
                outcome.revoked_at_provider = cleaned.revoked_at_provider;
                outcome.warning = cleaned.warning;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "calendar cleanup failed; it is retried");
                outcome.warning = Some(format!(
                    "the calendar could not be cleaned up yet ({e}); Kalends keeps trying"
                ));
            }
        }
    }
    Ok(outcome)
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
