//! Cleaning up after a connection was taken away (disconnected, or its staff member deleted):
//! at the provider, then forget. A disconnect tries it at once (`src/connections.rs`); the
//! `clean_up_connection` job retries it.
//!
//! 1. remove the events this connection wrote, when asked (always for a deleted staff member):
//!    those it lists in its destination calendar as its own (never another connection's in a
//!    shared calendar), and those Kalends recorded elsewhere;
//! 2. stop its push channels (Google) or delete its subscriptions (Microsoft);
//! 3. revoke the grant where the provider has an endpoint for it (Google). Microsoft has no
//!    revocation endpoint for a third-party app's delegated refresh token (only an
//!    administrator's, or the user's own, "revoke sessions", which signs the user out of every
//!    app): forgetting the token is all Kalends can do there;
//! 4. forget the cleanup row, the last copy of the tokens.
//!
//! A calendar an organisation covered has no refresh token: when the token it was given runs
//! out (a retry after an outage of over an hour), the cleanup mints another through the
//! organisation's key, which it keeps sealed (the organisation connection may be gone:
//! disconnecting it is what owed the cleanup) and forgets with its tokens.
//!
//! A reconnect of the calendar forgets the cleanup it owed (its events are the calendar's again,
//! its grant may be the new one): a run under way sees that before its next removal and before
//! revoking, and stops there.
//!
//! A transient failure is retried (the whole run again: every step is idempotent, an event or
//! channel already gone counts as done, a grant already revoked too); a dead grant cannot clean
//! anything up, and a permanent refusal will not change: the cleanup is forgotten at once and
//! logged. A cleanup retried until the queue gives up is forgotten too (`gave_up`). One run at a
//! time holds the cleanup's lease.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use kalends_core::domain::{ConnectionStatus, ConnectionTokens, Provider};
use kalends_core::seal::Sealer;
use kalends_providers::ProviderError;
use kalends_providers::calendar::{AccessToken, EventKey, Subscription, Window};
use kalends_providers::provider::CalendarProvider;
use kalends_providers::session::Credentials;
use kalends_store::ConnectionCleanup;
use kalends_store::{Store, StoreError};
use uuid::Uuid;

/// How long one run holds the cleanup.
const LEASE_SECS: i64 = 120;
/// How long a queued run waits for the syncs still writing into the calendar to end before
/// leaving the cleanup to a later attempt (a request waits less if its time limit is short), and
/// how often it looks.
pub const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const SYNC_LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// A token with less than this left is refreshed first.
const REFRESH_MARGIN_SECS: i64 = 60;
/// How far around now the destination calendar is searched for the connection's events (at
/// least: see `Session::window`).
const PAST_DAYS: i64 = 365;
const FUTURE_DAYS: i64 = 3 * 365;
/// How far ahead the listing reaches at most, however far the connection's latest booking:
/// Graph and CalDAV expand every recurring series over the window before filtering.
const FURTHEST_DAYS: i64 = 6 * 365;

/// What a cleanup did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Events removed from the calendars (those the destination no longer held not counted).
    pub events_removed: usize,
    /// Whether the provider revoked the grant (never on Microsoft).
    pub revoked_at_provider: bool,
    /// What could not be done, and why, when the cleanup was given up.
    pub warning: Option<String>,
}

/// Why a cleanup run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// Another run holds the cleanup.
    #[error("another run is cleaning up this connection")]
    Busy,
    /// A sync is still writing into the calendar: removing its events now would miss the one
    /// it is writing (the cleanup is kept and retried).
    #[error("a sync is still writing into the calendar")]
    SyncUnderWay,
    /// The provider failed (transiently: the cleanup is kept and retried).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Cleans up now (the job, or a disconnect's first attempt); `Ok(None)` when there is nothing
/// (left) to do. An `Err` means the cleanup is kept for a retry. The syncs that may still be
/// writing into the calendar are waited for `sync_wait` at most.
pub async fn clean_up(
    store: &Store,
    sealer: &Sealer,
    credentials: &Credentials,
    cleanup_id: Uuid,
    sync_wait: std::time::Duration,
) -> Result<Option<Cleaned>, CleanupError> {
    let Some(cleanup) = store.connection_cleanup(cleanup_id, sealer).await? else {
        return Ok(None);
    };
    let until = Utc::now() + chrono::Duration::seconds(LEASE_SECS);
    if !store.claim_connection_cleanup(cleanup.id, until).await? {
        return Err(CleanupError::Busy);
    }
    let (id, connection, tenant_id) = (cleanup.id, cleanup.connection_id, cleanup.tenant_id);
    let removed = Removed::default();
    let mut session = Session { store, sealer, credentials, cleanup, sync_wait, removed };
    match session.run().await {
        Ok(None) => {
            tracing::info!(%connection, "the calendar was connected again while it was cleaned up; the cleanup stopped");
            give_back(store, tenant_id, connection, &session.removed.bookings).await?;
            Ok(None)
        }
        Ok(Some(cleaned)) => {
            let removed = &session.removed.bookings;
            if !store.connection_cleaned_up(id, removed).await? {
                // Connected again after the last look: what it removed goes back in.
                give_back(store, tenant_id, connection, removed).await?;
                return Ok(None);
            }
            tracing::info!(%connection, events_removed = cleaned.events_removed, revoked = cleaned.revoked_at_provider, "calendar cleaned up and forgotten");
            if cleaned.events_removed > 0 {
                reread_if_back(store, tenant_id, connection).await?;
            }
            Ok(Some(cleaned))
        }
        Err(CleanupError::Provider(error)) if !error.is_retryable() => {
            // A dead grant cannot remove or revoke anything, and a refusal will not change.
            store.forget_connection_cleanup(id).await?;
            tracing::warn!(%connection, %error, "the calendar could not be cleaned up at the provider; forgotten anyway");
            let warning = format!("the calendar could not be cleaned up at the provider: {error}");
            Ok(Some(Cleaned { warning: Some(warning), ..Cleaned::default() }))
        }
        Err(error) => {
            store.release_connection_cleanup(id).await?;
            Err(error)
        }
    }
}

/// Whether the sync runs that may still be writing into the connection's calendar ended within
/// `wait`: those of the tenant's bookings whose leases were taken before the cleanup
/// first ran, which may have read the calendar before it was disconnected. Such a run holds a
/// token the disconnect cannot take back (Microsoft has no revocation; an organisation's tokens
/// are minted per user): an event it writes after the calendar was listed would stay there for
/// good. A run takes its leases before it reads the calendars it writes into, and the set of
/// runs waited for only drains: later ones, such as the replay of the staff member's bookings
/// into their next calendar, are not waited for.
async fn syncs_ended(
    store: &Store,
    cleanup_id: Uuid,
    tenant_id: Uuid,
    wait: std::time::Duration,
) -> Result<bool, StoreError> {
    let before = store.cleanup_syncs_before(cleanup_id).await?;
    let deadline = tokio::time::Instant::now() + wait;
    while store.syncs_under_way(tenant_id, before).await? {
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(SYNC_LOOK_EVERY).await;
    }
    Ok(true)
}

/// A calendar covered again for busy times only while its cleanup was owed (an organisation
/// moved into that tier) read its free/busy with Kalends' events still in it, which free/busy
/// cannot tell apart from the member's own: now that they are gone, its busy times are read
/// again at once, rather than at the next scheduled import.
async fn reread_if_back(
    store: &Store,
    tenant_id: Uuid,
    connection_id: Uuid,
) -> Result<(), StoreError> {
    let connection = match store.connection(tenant_id, connection_id).await {
        Err(StoreError::NotFound) => return Ok(()),
        other => other?,
    };
    if connection.status == ConnectionStatus::Active && connection.busy_only {
        store.request_calendar_import(tenant_id, connection_id, Utc::now(), None).await?;
    }
    Ok(())
}

/// The events a cleanup withdrawn partway had already removed (the calendar was connected
/// again meanwhile) are written into it again: their records are forgotten, and the bookings
/// queued for the calendar, whose replay at the reconnection may have taken them as there.
async fn give_back(
    store: &Store,
    tenant_id: Uuid,
    connection_id: Uuid,
    bookings: &[Uuid],
) -> Result<(), StoreError> {
    if bookings.is_empty() {
        return Ok(());
    }
    store.forget_event_records(connection_id, bookings).await?;
    let connection = match store.connection(tenant_id, connection_id).await {
        Err(StoreError::NotFound) => return Ok(()),
        other => other?,
    };
    crate::connections::replay(store, &connection).await?;
    Ok(())
}

/// Forgets a cleanup the queue gave up on (it kept failing transiently for the whole retry
/// period).
pub async fn give_up(store: &Store, cleanup_id: Uuid, error: &str) {
    tracing::warn!(%cleanup_id, error, "calendar cleanup given up; forgetting the tokens anyway");
    if let Err(e) = store.forget_connection_cleanup(cleanup_id).await {
        tracing::warn!(error = %e, "could not forget a given-up calendar cleanup");
    }
}

/// An event Kalends recorded (or knows the id of) in one of a connection's calendars, and its
/// booking when the record says.
struct Recorded {
    calendar: String,
    id: String,
    booking: Option<Uuid>,
}

/// The events a run removed: how many (to tell), and whose bookings (to forget their records).
#[derive(Default)]
struct Removed {
    count: usize,
    bookings: Vec<Uuid>,
}

/// One run: the cleanup and its (refreshed as needed) tokens.
struct Session<'a> {
    store: &'a Store,
    sealer: &'a Sealer,
    credentials: &'a Credentials,
    cleanup: ConnectionCleanup,
    /// How long it waits for the syncs still writing into the calendar.
    sync_wait: std::time::Duration,
    /// What it removed so far.
    removed: Removed,
}

impl Session<'_> {
    fn provider(&self) -> &CalendarProvider {
        self.credentials.providers().get(self.cleanup.provider)
    }

    /// `None` when the cleanup was withdrawn on the way: the calendar was connected again,
    /// whose reconnect forgets the cleanup, and from then on its events are the calendar's
    /// again and its grant may be the new one. Nothing more goes, the grant least of all.
    /// What it did, what it removed kept in [`Self::removed`] (also when withdrawn). Events are
    /// removed only once the syncs that may still be writing into the calendar are done
    /// ([`syncs_ended`]).
    async fn run(&mut self) -> Result<Option<Cleaned>, CleanupError> {
        let mut cleaned = Cleaned::default();
        let (id, tenant_id) = (self.cleanup.id, self.cleanup.tenant_id);
        if self.cleanup.remove_events
            && !syncs_ended(self.store, id, tenant_id, self.sync_wait).await?
        {
            return Err(CleanupError::SyncUnderWay);
        }
        if self.cleanup.remove_events && !self.remove_events().await? {
            return Ok(None);
        }
        cleaned.events_removed = self.removed.count;
        for channel in self.cleanup.channels.clone() {
            let subscription = Subscription {
                id: channel.id,
                resource_id: channel.resource_id,
                expires_at: channel.expires_at,
            };
            self.call(|provider, token| {
                let subscription = subscription.clone();
                async move { provider.unsubscribe(&token, &subscription).await }
            })
            .await?;
        }
        if !self.still_owed().await? {
            return Ok(None);
        }
        let tokens = &self.cleanup.tokens;
        let grant = tokens.refresh_token.as_ref().unwrap_or(&tokens.access_token);
        cleaned.revoked_at_provider = self.provider().revoke(grant).await?;
        Ok(Some(cleaned))
    }

    /// Whether the cleanup is still owed: asked before each removal and before the grant is
    /// revoked, each a call to the provider that costs far more than the read.
    async fn still_owed(&self) -> Result<bool, CleanupError> {
        Ok(self.store.connection_cleanup_owed(self.cleanup.id).await?)
    }

    /// Removes the connection's own events from its destination calendar, then the other
    /// events Kalends recorded for it (in a former destination), keeping what it removed in
    /// [`Self::removed`]; `false` when the cleanup was withdrawn on the way.
    async fn remove_events(&mut self) -> Result<bool, CleanupError> {
        let connection = self.cleanup.connection_id;
        let recorded = self.recorded().await?;
        let ids: HashSet<String> = recorded.iter().map(|r| r.id.clone()).collect();
        let destination = self.cleanup.destination_calendar_id.clone();
        let mut done: HashSet<String> = HashSet::new();
        if let Some(calendar) = destination.clone() {
            let window = self.window().await?;
            let listed = self
                .call(|provider, token| {
                    let calendar = calendar.clone();
                    async move { provider.list_kalends_events(&token, &calendar, window).await }
                })
                .await?;
            for event in listed.iter().filter(|e| e.is_written_by(connection, &ids)) {
                if !self.still_owed().await? {
                    return Ok(false);
                }
                let removed = self.delete(&calendar, &event.id).await?;
                done.insert(event.id.clone());
                self.removed.count += usize::from(removed);
                self.removed.bookings.extend(event.booking_id);
            }
        }
        for event in recorded {
            if done.contains(&event.id) {
                continue;
            }
            if !self.still_owed().await? {
                return Ok(false);
            }
            // One the destination's listing did not show is gone already, or was never made (so
            // may one whose id is guessed be): its deletion finds nothing and is not counted.
            let removed = self.delete(&event.calendar, &event.id).await?;
            self.removed.count += usize::from(removed);
            self.removed.bookings.extend(event.booking);
        }
        Ok(true)
    }

    /// The events Kalends recorded for the connection: those copied at the disconnect (which
    /// name no booking) and those of now. A push under way at the disconnect records what it
    /// wrote once its run is done; an event it wrote before the cleanup looked but has not
    /// recorded yet is found all the same, in the listing of the destination (which reaches
    /// past the latest booking the connection wrote) and, in another calendar (a destination
    /// changed meanwhile) on Google and CalDAV, by the id Kalends gave it.
    async fn recorded(&self) -> Result<Vec<Recorded>, CleanupError> {
        let connection = self.cleanup.connection_id;
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for (calendar, id) in &self.cleanup.events {
            at.insert(id.clone(), recorded.len());
            let (calendar, id) = (calendar.clone(), id.clone());
            recorded.push(Recorded { calendar, id, booking: None });
        }
        let destination = self.cleanup.destination_calendar_id.as_deref();
        for event in self.store.connection_events(connection).await? {
            // Guessing ids in the destination too would cost a call for each booking whose
            // write never went out; the listing finds those that did. An event recorded
            // without a calendar (none chosen yet) was never written.
            let key = EventKey { booking_id: event.booking_id, connection_id: connection };
            let calendar = event.calendar_id;
            let elsewhere = !calendar.is_empty() && destination != Some(calendar.as_str());
            let guess = || key.known_remote_id(self.cleanup.provider).filter(|_| elsewhere);
            let Some(id) = event.remote_id.or_else(guess) else {
                continue;
            };
            match at.get(&id) {
                Some(&copied) => recorded[copied].booking = Some(event.booking_id),
                None => {
                    at.insert(id.clone(), recorded.len());
                    let booking = Some(event.booking_id);
                    recorded.push(Recorded { calendar, id, booking });
                }
            }
        }
        Ok(recorded)
    }

    /// Where the destination calendar is searched: a year back, and three years ahead or past
    /// the latest booking the connection wrote, whichever is further, but six years at most
    /// (an event further ahead is found by its record alone). A deleted staff member's records
    /// went with them: past the tenant's latest booking then.
    async fn window(&self) -> Result<Window, CleanupError> {
        let now = Utc::now();
        let ahead = now + chrono::Duration::days(FUTURE_DAYS);
        let (tenant_id, connection_id) = (self.cleanup.tenant_id, self.cleanup.connection_id);
        let latest = self.store.latest_event_end(tenant_id, connection_id).await?;
        let furthest = now + chrono::Duration::days(FURTHEST_DAYS);
        let end = latest.map_or(ahead, |latest| ahead.max(latest + chrono::Duration::days(1)));
        let end = end.min(furthest);
        Ok(Window { start: now - chrono::Duration::days(PAST_DAYS), end })
    }

    /// Deletes one event: whether it was there to remove.
    async fn delete(&mut self, calendar: &str, id: &str) -> Result<bool, CleanupError> {
        self.call(|provider, token| async move {
            provider.delete_event(&token, calendar, id, None).await
        })
        .await
    }

    /// Runs `call` with a fresh token, within the account's request budget (a colleague's
    /// connection to the same account may be replaying into it meanwhile, and thousands of
    /// deletions would otherwise go at once); a 401 refreshes once and retries.
    async fn call<T, F, Fut>(&mut self, call: F) -> Result<T, CleanupError>
    where
        F: Fn(CalendarProvider, AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let (credentials, provider) = (self.credentials, self.cleanup.provider);
        let account = self.cleanup.account_email.clone();
        let token = self.token().await?;
        let first = call(self.provider().clone(), token);
        match credentials.for_account(provider, &account, first).await {
            Err(ProviderError::Unauthorized { .. }) => {
                let token = self.refresh().await?;
                let again = call(self.provider().clone(), token);
                Ok(credentials.for_account(provider, &account, again).await?)
            }
            other => Ok(other?),
        }
    }

    async fn token(&mut self) -> Result<AccessToken, CleanupError> {
        let margin = chrono::Duration::seconds(REFRESH_MARGIN_SECS);
        if self.cleanup.tokens.expires_at - margin > Utc::now() {
            let token = AccessToken::from(self.cleanup.tokens.access_token.clone());
            return Ok(self.addressed(token));
        }
        self.refresh().await
    }

    /// A Microsoft token without a refresh token is an organisation's application token (a
    /// staff member's own sign-in always asks `offline_access`): it reaches the calendar at the
    /// member's mailbox, named by their directory id (Graph takes no mail address there; the
    /// address only for a cleanup recorded before the id was kept), not at `/me`.
    fn addressed(&self, token: AccessToken) -> AccessToken {
        if self.cleanup.provider == Provider::Microsoft
            && self.cleanup.tokens.refresh_token.is_none()
        {
            let mailbox = self.cleanup.mailbox.as_ref().unwrap_or(&self.cleanup.account_email);
            token.for_mailbox(mailbox.clone())
        } else {
            token
        }
    }

    /// New tokens from the refresh token, kept on the cleanup (Microsoft rotates it); for a
    /// calendar an organisation covered, which has none, a token minted again.
    async fn refresh(&mut self) -> Result<AccessToken, CleanupError> {
        let Some(refresh_token) = self.cleanup.tokens.refresh_token.clone() else {
            return self.mint().await;
        };
        let fresh = self.provider().refresh(&refresh_token).await?;
        let stored = ConnectionTokens {
            access_token: fresh.access_token.clone(),
            refresh_token: fresh.refresh_token.clone(),
            expires_at: fresh.expires_at,
        };
        self.store.store_cleanup_tokens(&self.cleanup, &stored, self.sealer).await?;
        self.cleanup.tokens = ConnectionTokens {
            refresh_token: stored.refresh_token.or(Some(refresh_token)),
            ..stored
        };
        Ok(AccessToken::from(fresh.access_token))
    }

    /// A token minted through the organisation that covered the calendar, with the key its
    /// cleanup kept (the organisation connection may be gone: disconnecting it owed this
    /// cleanup), kept on the cleanup like a refreshed one. The grant that minted the last one
    /// may have been taken back since: the refusal is then final, as a dead grant is.
    async fn mint(&mut self) -> Result<AccessToken, CleanupError> {
        let Some(kept) = &self.cleanup.coverage else {
            let message = "the provider gave no refresh token".to_owned();
            return Err(ProviderError::DeadGrant { message }.into());
        };
        let coverage = match self.store.cleanup_coverage(kept, self.sealer).await {
            Ok(coverage) => coverage,
            Err(StoreError::Corrupt(why)) => {
                let message = format!("the organisation's key cannot be opened: {why}");
                return Err(ProviderError::DeadGrant { message }.into());
            }
            Err(error) => return Err(error.into()),
        };
        let delegation = crate::organisations::delegation(coverage);
        let replacing = self.cleanup.tokens.access_token.clone();
        let (token, expires_at) = self.credentials.delegated_token(&delegation, &replacing).await?;
        let minted = ConnectionTokens {
            access_token: token.secret().clone(),
            refresh_token: None,
            expires_at,
        };
        self.store.store_cleanup_tokens(&self.cleanup, &minted, self.sealer).await?;
        self.cleanup.tokens = minted;
        tracing::info!(connection = %self.cleanup.connection_id, "a token minted for the cleanup of a covered calendar");
        Ok(self.addressed(token))
    }
}
