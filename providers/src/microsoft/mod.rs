//! Microsoft Graph calendars through graph-rs-sdk: every call goes through the crate's
//! `GraphClient`, and no crate type leaves this module.
//!
//! How the crate is driven (graph-rs-sdk 3.0.1, graph-http 3.0.0):
//! - the crate asks the client's `ClientApplication` for the bearer token on every request; ours
//!   ([`CallToken`]) answers with the token of the call under way (a task-local set around each
//!   public method), so one `GraphClient` and its connection pool serve every account (a client
//!   per call cost a TLS handshake per call); no retry layer is enabled, so the caller's job
//!   queue owns retries and `Retry-After` (fractional seconds included);
//! - a base URL other than graph.microsoft.com goes through `use_test_endpoint` (feature
//!   `test-util`) with `https_only(false)`; the crate appends the resource path to the base's
//!   path segments, so a multi-segment prefix such as `/sandbox/microsoft/v1.0` is kept (a
//!   trailing slash would double the `/`, so it is trimmed);
//! - `.send()` returns the reqwest response of any status; errors are classified here from the
//!   status, Graph's `error.code` and `Retry-After`;
//! - `@odata.nextLink`/`@odata.deltaLink` are followed with `client.custom(GET)` whose URL is
//!   replaced through `AsMut<Url>` (the crate's `.paging()` drops request headers such as
//!   `Prefer` and reads error pages as JSON); links must point at the configured origin, so a
//!   stored cursor can never send the token elsewhere.

pub mod tenant;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use graph_core::identity::{ClientApplication, ForceTokenRefresh};
use graph_rs_sdk::error::{AuthExecutionError, AuthExecutionResult, GraphFailure};
use graph_rs_sdk::header::{HeaderName, HeaderValue, RETRY_AFTER};
use graph_rs_sdk::http::Method;
use graph_rs_sdk::{GraphClient, GraphClientConfiguration, GraphResult, ODataQuery as _};
use secrecy::ExposeSecret as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::calendar::{
    AccessToken, AccountIdentity, BusyInterval, Change, ChangeSet, EventDraft, RemoteCalendar,
    RemoteEvent, Subscription, SubscriptionRequest, Window,
};
use crate::error::{ProviderError, parse_retry_after};
use crate::outbound::{BodyError, MAX_API_ANSWER, read_capped};
use wire::{
    DirectoryEntry, PROPERTIES, Page, Schedule, User, WireCalendar, WireEvent, WireSubscription,
};

/// The production Graph host (validated by the crate's own allow-list).
const GRAPH_HOST: &str = "graph.microsoft.com";

/// Page size asked for with `Prefer: odata.maxpagesize`.
const PAGE_SIZE: usize = 50;

/// Pages followed at most in one listing (a loop guard).
const MAX_PAGES: usize = 1_000;

/// Outlook subscriptions live at most 10,080 minutes; ask for a little less.
const MAX_SUBSCRIPTION_MINUTES: i64 = 10_070;

/// A Microsoft Graph calendar client.
///
/// Holds no token: every call takes the account's current access token. One `GraphClient` (one
/// connection pool, kept-alive TLS connections) serves every account: the crate reads the bearer
/// token from the client's `ClientApplication` on each request, and [`CallToken`] hands it the
/// token of the call under way.
#[derive(Clone)]
pub struct MicrosoftCalendar {
    /// `https://graph.microsoft.com/v1.0`, or an emulator's base.
    base: Url,
    /// The crate's client, built once.
    client: GraphClient,
}

impl std::fmt::Debug for MicrosoftCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftCalendar")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    /// The access token of the Graph call under way in this task.
    static CALL_TOKEN: AccessToken;
}

/// The `ClientApplication` of the shared `GraphClient`: the token of the call under way
/// ([`MicrosoftCalendar::as_account`]), so no request can go out with another account's token
/// and none goes out without one.
#[derive(Clone)]
struct CallToken;

impl CallToken {
    fn current() -> Option<String> {
        CALL_TOKEN.try_with(|token| token.secret().expose_secret().to_owned()).ok()
    }

    /// The mailbox an application's token acts on, for the call under way.
    fn mailbox() -> Option<String> {
        CALL_TOKEN.try_with(|token| token.mailbox().map(str::to_owned)).ok().flatten()
    }

    fn missing() -> AuthExecutionError {
        AuthExecutionError::Other("a Graph call was made without an access token".into())
    }
}

#[async_trait::async_trait]
impl ClientApplication for CallToken {
    fn get_token_silent(&mut self) -> AuthExecutionResult<String> {
        Self::current().ok_or_else(Self::missing)
    }

    async fn get_token_silent_async(&mut self) -> AuthExecutionResult<String> {
        Self::current().ok_or_else(Self::missing)
    }

    fn with_force_token_refresh(&mut self, _: ForceTokenRefresh) {}
}

/// The crate's request for the mailbox of the call under way, built by the same calls on
/// either: the token holder's (`/me/…`), or the user an application's token acts on
/// (`/users/{id}/…`, Microsoft 365 app-only access).
macro_rules! on_mailbox {
    ($client:expr, |$m:ident| $call:expr) => {
        match CallToken::mailbox() {
            None => {
                let $m = $client.me();
                $call
            }
            Some(id) => {
                let $m = $client.user(id);
                $call
            }
        }
    };
}

/// The path segments of the mailbox of the call under way: `me`, or `users/{id}`.
fn mailbox_path() -> Vec<String> {
    match CallToken::mailbox() {
        None => vec!["me".to_owned()],
        Some(id) => vec!["users".to_owned(), id],
    }
}

/// A failed exchange: an HTTP answer that is not a success, or anything else.
enum CallError {
    Status { status: u16, code: Option<String>, message: String, retry_after: Option<Duration> },
    Other(ProviderError),
}

impl CallError {
    fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Other(_) => None,
        }
    }

    /// Graph asks for a full sync: 410, `SyncStateNotFound`, or `resyncRequired`.
    fn is_sync_reset(&self) -> bool {
        match self {
            Self::Status { status, code, .. } => {
                *status == 410
                    || code.as_deref().is_some_and(|code| {
                        code.eq_ignore_ascii_case("SyncStateNotFound")
                            || code.eq_ignore_ascii_case("resyncRequired")
                    })
            }
            Self::Other(_) => false,
        }
    }
}

impl From<CallError> for ProviderError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Status { code: Some(code), message, .. }
                if code.eq_ignore_ascii_case("MailboxNotEnabledForRESTAPI") =>
            {
                ProviderError::NoMailbox { message }
            }
            CallError::Status { status, code, message, retry_after } => {
                ProviderError::from_status(status, code.as_deref(), message, retry_after)
            }
            CallError::Other(error) => error,
        }
    }
}

impl From<ProviderError> for CallError {
    fn from(error: ProviderError) -> Self {
        Self::Other(error)
    }
}

impl MicrosoftCalendar {
    /// A client for the Graph at `graph_base_url` (`https://graph.microsoft.com/v1.0`, or an
    /// emulator's base such as `http://127.0.0.1:8080/sandbox/microsoft/v1.0`).
    pub fn new(graph_base_url: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let invalid = |why: &str| {
            ProviderError::permanent(0, format!("invalid Graph base URL {graph_base_url:?}: {why}"))
        };
        let base = Url::parse(graph_base_url.trim_end_matches('/'))
            .map_err(|e| invalid(&e.to_string()))?;
        if base.query().is_some() || base.fragment().is_some() || base.cannot_be_a_base() {
            return Err(invalid("it must be a scheme, host and optional path"));
        }
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.host_str() == Some(GRAPH_HOST) && base.scheme() != "https" {
            return Err(invalid("graph.microsoft.com is only reached over https"));
        }
        let official = base.host_str() == Some(GRAPH_HOST);
        let mut config =
            GraphClientConfiguration::new().client_application(CallToken).timeout(timeout);
        if !official {
            config = config.https_only(false);
        }
        let mut client = GraphClient::from(config);
        if official {
            client.use_endpoint(&base);
        } else {
            client.use_test_endpoint(&base);
        }
        Ok(Self { base, client })
    }

    /// The crate's client; only inside [`Self::as_account`].
    fn graph(&self) -> &GraphClient {
        &self.client
    }

    /// Runs `call` with `token` as the bearer token of its Graph requests.
    async fn as_account<T>(&self, token: &AccessToken, call: impl Future<Output = T>) -> T {
        CALL_TOKEN.scope(token.clone(), call).await
    }

    /// Who the token belongs to: `mail`, else `userPrincipalName`.
    pub async fn me(&self, token: &AccessToken) -> Result<AccountIdentity, ProviderError> {
        self.as_account(token, async {
            let body = exchange(on_mailbox!(self.graph(), |m| m.get_user()).send()).await?;
            let user: User = parse(&body)?;
            let email =
                user.mail.filter(|mail| !mail.is_empty()).or(user.user_principal_name).ok_or_else(
                    || {
                        ProviderError::permanent(
                            0,
                            "Graph returned a user without mail or userPrincipalName",
                        )
                    },
                )?;
            Ok(AccountIdentity { email, name: user.display_name.filter(|name| !name.is_empty()) })
        })
        .await
    }

    /// The users of the token's organisation (`/users`), or the direct members of one of its
    /// groups who are users, all pages: what an application's directory permission
    /// (`User.Read.All`, with `GroupMember.Read.All` for a group) lets it read. With the users
    /// it could not name: Graph lists a member the application may not read (its token holds
    /// `GroupMember.Read.All` but no permission on users) by its id alone.
    pub async fn directory(
        &self,
        token: &AccessToken,
        group: Option<&str>,
    ) -> Result<(Vec<tenant::TenantUser>, usize), ProviderError> {
        const FIELDS: [&str; 7] = [
            "id",
            "mail",
            "userPrincipalName",
            "displayName",
            "accountEnabled",
            "userType",
            "assignedPlans",
        ];
        self.as_account(token, async {
            let client = self.graph();
            let request = match group {
                None => client.users().list_user(),
                Some(group) => client.group(group).list_members(),
            };
            // A page of 100 (Graph's default), not 999: each user's `assignedPlans` lists every
            // plan of every licence they ever had (some 90 for an E5 alone, about 150 bytes
            // each), which would take a page of 999 past what an answer may be.
            let request = request.select(&FIELDS).top("100");
            let first = exchange(request.send()).await?;
            let entries: Vec<DirectoryEntry> = self.all_pages(client, first).await?;
            let users = entries.into_iter().filter(|entry| {
                entry.odata_type.as_deref().is_none_or(|kind| kind == "#microsoft.graph.user")
            });
            // A guest's mailbox is in their own organisation, out of the application's reach: a
            // guest is no staff member of this one.
            let members = users.filter(|entry| {
                !entry.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
            });
            let (mut named, mut unnamed) = (Vec::new(), 0);
            for entry in members {
                match tenant::TenantUser::from_entry(entry) {
                    Some(user) => named.push(user),
                    None => unnamed += 1,
                }
            }
            Ok((named, unnamed))
        })
        .await
    }

    /// The account's calendars (`canEdit` false, as for Birthdays, means not writable).
    pub async fn list_calendars(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<RemoteCalendar>, ProviderError> {
        self.as_account(token, async {
            let client = self.graph();
            let first =
                exchange(on_mailbox!(client, |m| m.calendars().list_calendars()).send()).await?;
            let calendars: Vec<WireCalendar> = self.all_pages(client, first).await?;
            Ok(calendars
                .into_iter()
                .map(|calendar| RemoteCalendar {
                    id: calendar.id,
                    name: calendar.name,
                    primary: calendar.is_default_calendar,
                    writable: calendar.can_edit,
                    time_zone: None,
                })
                .collect())
        })
        .await
    }

    /// Updates the account's default calendar with nothing (`PATCH …/calendar`, `{}`): a write
    /// that changes nothing, and so proves the token may write into the mailbox, whichever
    /// grant lets it (Exchange's own, RBAC for Applications, is in no token).
    pub async fn write_nothing(&self, token: &AccessToken) -> Result<(), ProviderError> {
        self.as_account(token, async {
            let client = self.graph();
            let nothing = json!({});
            exchange(
                on_mailbox!(client, |m| m.default_calendar().update_calendar(&nothing)).send(),
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Creates the draft's event in `calendar_id` (idempotent through its `transactionId`), or
    /// patches `remote_id`; a patch of an event that is gone creates it again.
    pub async fn upsert_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        draft: &EventDraft,
        remote_id: Option<&str>,
    ) -> Result<RemoteEvent, ProviderError> {
        self.as_account(token, async {
            let client = self.graph();
            if let Some(id) = remote_id {
                let patch = wire::event_body(draft, false);
                let request = on_mailbox!(client, |m| m.event(id).update_events(&patch))
                    .header(prefer(), utc());
                match exchange(request.send()).await {
                    Ok(body) => return tagged(&body, draft),
                    Err(error) if error.status() == Some(404) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            let create = wire::event_body(draft, true);
            let request = on_mailbox!(client, |m| m.calendar(calendar_id).create_events(&create))
                .header(prefer(), utc());
            let body = exchange(request.send()).await?;
            tagged(&body, draft)
        })
        .await
    }

    /// The event, `None` when it does not exist.
    pub async fn get_event(
        &self,
        token: &AccessToken,
        id: &str,
    ) -> Result<Option<RemoteEvent>, ProviderError> {
        self.as_account(token, async {
            let request = on_mailbox!(self.graph(), |m| m.event(id).get_events())
                .expand(&[expand_booking().as_str()])
                .header(prefer(), utc());
            match exchange(request.send()).await {
                Ok(body) => parse::<WireEvent>(&body)?.into_remote().map(Some),
                Err(error) if error.status() == Some(404) => Ok(None),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    /// Deletes the event: `true` when it removed it, `false` when it was gone already (which
    /// counts as deleted).
    pub async fn delete_event(&self, token: &AccessToken, id: &str) -> Result<bool, ProviderError> {
        self.as_account(token, async {
            let request = on_mailbox!(self.graph(), |m| m.event(id).delete_events());
            match exchange(request.send()).await {
                Ok(_) => Ok(true),
                Err(error) if matches!(error.status(), Some(404 | 410)) => Ok(false),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    /// Kalends's events (those carrying the booking property) of `calendar_id` in the window,
    /// through that calendar's `calendarView` with the property expanded (`/me/calendarView`
    /// is the default calendar's alone, and the bookings may be written elsewhere).
    pub async fn list_kalends_events(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        window: Window,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        self.as_account(token, async {
            let events = self.calendar_view(Some(calendar_id), window, true).await?;
            let mut ours = Vec::new();
            for event in events {
                let event = event.into_remote()?;
                if event.booking_id.is_some() {
                    ours.push(event);
                }
            }
            Ok(ours)
        })
        .await
    }

    /// Changes of the default calendar since `cursor` (a delta link), or the whole window when
    /// there is none. An expired or unknown cursor answers `FullSyncRequired`.
    pub async fn changes(
        &self,
        token: &AccessToken,
        cursor: Option<&str>,
        window: Window,
    ) -> Result<ChangeSet, ProviderError> {
        self.as_account(token, async {
            let client = self.graph();
            let first = match cursor {
                Some(link) => self.get_link(client, link).await,
                None => {
                    let request = on_mailbox!(client, |m| m.calendar_views().delta())
                        .append_query_pair(
                            "startDateTime",
                            wire::query_instant(window.start).as_str(),
                        )
                        .append_query_pair("endDateTime", wire::query_instant(window.end).as_str())
                        .header(prefer(), page_and_utc());
                    exchange(request.send()).await
                }
            };
            match self.delta_rounds(client, first).await {
                Ok(set) => Ok(set),
                Err(error) if error.is_sync_reset() => Ok(ChangeSet::FullSyncRequired),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    /// The default calendar's single (non-recurring) events starting at or after `from`,
    /// however far ahead: the part of the calendar beyond the delta window, which Graph cannot
    /// widen without expanding every series over the wider window (series are imported within
    /// the window only).
    pub async fn single_events_from(
        &self,
        token: &AccessToken,
        from: DateTime<Utc>,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        self.as_account(token, async {
            let client = self.graph();
            let mut url = self.base.clone();
            url.path_segments_mut()
                .map_err(|()| ProviderError::permanent(0, "the Graph base URL cannot have a path"))?
                .pop_if_empty()
                .extend(mailbox_path().iter().map(String::as_str))
                .extend(["calendar", "events"]);
            let filter = format!(
                "type eq 'singleInstance' and start/dateTime ge '{}'",
                from.format("%Y-%m-%dT%H:%M:%S")
            );
            url.query_pairs_mut()
                .append_pair("$filter", &filter)
                .append_pair("$expand", &expand_booking());
            let first = self.get_link(client, url.as_str()).await?;
            let events: Vec<WireEvent> = self.all_pages(client, first).await?;
            let mut singles = Vec::with_capacity(events.len());
            for event in events.into_iter().filter(|event| !event.is_gone()) {
                match event.into_remote() {
                    Ok(event) => singles.push(event),
                    Err(error) => tracing::warn!(%error, "skipping an unreadable Graph event"),
                }
            }
            Ok(singles)
        })
        .await
    }

    /// Follows a delta round's pages to its delta link.
    async fn delta_rounds(
        &self,
        client: &GraphClient,
        first: Result<Bytes, CallError>,
    ) -> Result<ChangeSet, CallError> {
        let mut body = first?;
        let mut changes = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: Page<WireEvent> = parse(&body)?;
            for entry in page.value {
                changes.push(entry.into_change()?);
            }
            if let Some(next_cursor) = page.delta_link {
                return Ok(ChangeSet::Changes { changes: dedupe(changes), next_cursor });
            }
            let Some(next) = page.next_link else {
                return Err(ProviderError::permanent(
                    0,
                    "a Graph delta page had neither a nextLink nor a deltaLink",
                )
                .into());
            };
            body = self.next_page(client, &next).await?;
        }
        Err(ProviderError::permanent(0, "a Graph delta round did not end").into())
    }

    /// Busy intervals of `email` in the window via `getSchedule`; when Graph cannot answer it
    /// (personal accounts), the default calendar's `calendarView` instead.
    pub async fn free_busy(
        &self,
        token: &AccessToken,
        email: &str,
        window: Window,
    ) -> Result<Vec<BusyInterval>, ProviderError> {
        self.as_account(token, async {
            match self.schedule(email, window).await {
                Ok(Some(intervals)) => return Ok(sorted(intervals)),
                Ok(None) => {}
                Err(ProviderError::Permanent { .. } | ProviderError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
            let events = self.calendar_view(None, window, false).await?;
            let mut busy = Vec::new();
            for event in events {
                busy.extend(event.busy_interval()?);
            }
            Ok(sorted(busy))
        })
        .await
    }

    /// `getSchedule` for one address; `None` when the schedule came back with an error.
    async fn schedule(
        &self,
        email: &str,
        window: Window,
    ) -> Result<Option<Vec<BusyInterval>>, ProviderError> {
        let body = json!({
            "schedules": [email],
            "startTime": wire::utc_date_time(window.start),
            "endTime": wire::utc_date_time(window.end),
            "availabilityViewInterval": 30,
        });
        let request = on_mailbox!(self.graph(), |m| m.default_calendar().get_schedule(&body))
            .header(prefer(), utc());
        let answer = exchange(request.send()).await?;
        let page: Page<Schedule> = parse(&answer)?;
        let Some(schedule) = page.value.into_iter().next().filter(|s| s.error.is_none()) else {
            return Ok(None);
        };
        let mut busy = Vec::new();
        for item in &schedule.schedule_items {
            busy.extend(item.busy_interval()?);
        }
        Ok(Some(busy))
    }

    /// Subscribes `callback_url` to the account's event changes. Graph validates the URL first
    /// (it must echo `validationToken` as text/plain within 10 s); the expiry is capped at
    /// Graph's maximum.
    pub async fn subscribe(
        &self,
        token: &AccessToken,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ProviderError> {
        self.as_account(token, async {
            let body = json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": request.callback_url,
                "resource": format!("{}/events", mailbox_path().join("/")),
                "expirationDateTime": expiry(request.expires_at),
                "clientState": request.secret.expose_secret(),
            });
            let call = self.graph().subscriptions().create_subscription(&body);
            let answer = exchange(call.send()).await?;
            parse::<WireSubscription>(&answer)?.into_subscription()
        })
        .await
    }

    /// Extends a subscription (capped at Graph's maximum).
    pub async fn renew(
        &self,
        token: &AccessToken,
        id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Subscription, ProviderError> {
        self.as_account(token, async {
            let body = json!({ "expirationDateTime": expiry(expires_at) });
            let call = self.graph().subscription(id).update_subscription(&body);
            let answer = exchange(call.send()).await?;
            parse::<WireSubscription>(&answer)?.into_subscription()
        })
        .await
    }

    /// Deletes a subscription; one that is already gone counts as deleted.
    pub async fn unsubscribe(&self, token: &AccessToken, id: &str) -> Result<(), ProviderError> {
        self.as_account(token, async {
            let call = self.graph().subscription(id).delete_subscription();
            match exchange(call.send()).await {
                Ok(_) => Ok(()),
                Err(error) if error.status() == Some(404) => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    /// Every event of `calendar_id` (the default calendar's without one) in the window, all
    /// pages.
    async fn calendar_view(
        &self,
        calendar_id: Option<&str>,
        window: Window,
        with_booking: bool,
    ) -> Result<Vec<WireEvent>, ProviderError> {
        let client = self.graph();
        let request = match calendar_id {
            Some(id) => {
                on_mailbox!(client, |m| m.calendar(id).calendar_views().list_calendar_view())
            }
            None => on_mailbox!(client, |m| m.calendar_views().list_calendar_view()),
        };
        let mut request = request
            .append_query_pair("startDateTime", wire::query_instant(window.start).as_str())
            .append_query_pair("endDateTime", wire::query_instant(window.end).as_str())
            .header(prefer(), page_and_utc());
        if with_booking {
            request = request.expand(&[expand_booking().as_str()]);
        }
        let first = exchange(request.send()).await?;
        Ok(self.all_pages(client, first).await?)
    }

    /// The values of a collection's first page and of every page its nextLinks lead to.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        client: &GraphClient,
        first: Bytes,
    ) -> Result<Vec<T>, CallError> {
        let mut body = first;
        let mut values = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: Page<T> = parse(&body)?;
            values.extend(page.value);
            let Some(next) = page.next_link else {
                return Ok(values);
            };
            body = self.next_page(client, &next).await?;
        }
        Err(ProviderError::permanent(0, "a Graph listing did not end").into())
    }

    /// A listing's next page, one more request taken from the account's budget.
    async fn next_page(&self, client: &GraphClient, link: &str) -> Result<Bytes, CallError> {
        crate::limits::another_request().await?;
        self.get_link(client, link).await
    }

    /// GETs an `@odata.nextLink`/`@odata.deltaLink` through the crate, with the same
    /// preferences, provided it points at the configured Graph.
    async fn get_link(&self, client: &GraphClient, link: &str) -> Result<Bytes, CallError> {
        let url = Url::parse(link)
            .ok()
            .filter(|url| {
                url.origin() == self.base.origin() && url.path().starts_with(self.base.path())
            })
            .ok_or_else(|| {
                ProviderError::permanent(
                    0,
                    "a Graph link points outside the configured Graph base URL",
                )
            })?;
        let mut request = client.custom(Method::GET, None).header(prefer(), page_and_utc());
        *AsMut::<Url>::as_mut(&mut request) = url;
        exchange(request.send()).await
    }
}

/// Sends a request and reads its whole body; a non-success answer becomes `CallError::Status`.
async fn exchange(
    pending: impl Future<Output = GraphResult<reqwest::Response>>,
) -> Result<Bytes, CallError> {
    let response = pending.await.map_err(failure)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, Utc::now()));
    let body = read_capped(response, MAX_API_ANSWER).await.map_err(|error| match error {
        BodyError::TooLarge { limit } => ProviderError::too_large("Graph's", limit),
        BodyError::Transport(error) => ProviderError::from_transport(&error.without_url()),
    })?;
    if status.is_success() {
        return Ok(body);
    }
    let (code, message) = error_details(&body, status);
    Err(CallError::Status { status: status.as_u16(), code, message, retry_after })
}

/// Graph's `error.code` and `error.message`, or the status text for a non-JSON body.
fn error_details(body: &[u8], status: reqwest::StatusCode) -> (Option<String>, String) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|json| json.get("error"));
    let text =
        |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str).map(str::to_owned);
    let code = text("code");
    let message =
        text("message").or_else(|| code.clone()).unwrap_or_else(|| format!("HTTP {status}"));
    (code, message)
}

/// A failure before any HTTP answer: transport problems are transient, the rest permanent.
fn failure(error: GraphFailure) -> CallError {
    let transport = |error: &reqwest::Error| match error.is_connect() {
        true => ProviderError::from_connect(&error.without_url_ref()),
        false => ProviderError::from_transport(&error.without_url_ref()),
    };
    CallError::Other(match error {
        GraphFailure::ReqwestError(error) => transport(&error),
        GraphFailure::Io(error) => ProviderError::from_transport(&error),
        GraphFailure::Other(error) => match error.downcast::<reqwest::Error>() {
            Ok(error) => transport(&error),
            Err(error) => ProviderError::from_transport(&*error),
        },
        other => {
            ProviderError::permanent(0, format!("the Graph request could not be built: {other}"))
        }
    })
}

/// Strips the URL from a reqwest error (it may hold a delta token) without consuming it.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> TransportError;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> TransportError {
        let mut message = self.to_string();
        if let Some(url) = self.url() {
            message = message.replace(url.as_str(), "<graph>");
        }
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TransportError(message)
    }
}

/// A transport failure's text, URL removed, causes appended.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

/// Parses a JSON body.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|error| ProviderError::permanent(0, format!("unreadable Graph answer: {error}")))
}

/// A created or patched event, tagged with the draft's booking, connection and tenant (Graph
/// returns the properties only when expanded).
fn tagged(body: &[u8], draft: &EventDraft) -> Result<RemoteEvent, ProviderError> {
    let mut event = parse::<WireEvent>(body)?.into_remote()?;
    event.booking_id = Some(draft.key.booking_id);
    event.connection_id = Some(draft.key.connection_id);
    event.tenant_id = Some(draft.tenant_id);
    Ok(event)
}

/// Later entries for the same event replace earlier ones (a round may list an event twice).
fn dedupe(changes: Vec<Change>) -> Vec<Change> {
    let id = |change: &Change| match change {
        Change::Upserted(event) => event.id.clone(),
        Change::Deleted { id } => id.clone(),
    };
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Change> =
        changes.into_iter().rev().filter(|change| seen.insert(id(change))).collect();
    kept.reverse();
    kept
}

/// Intervals in order of their start.
fn sorted(mut intervals: Vec<BusyInterval>) -> Vec<BusyInterval> {
    intervals.sort_by_key(|interval| (interval.start, interval.end));
    intervals
}

/// `$expand` of Kalends's extended properties (booking, connection, tenant).
fn expand_booking() -> String {
    let ids: Vec<String> = PROPERTIES.iter().map(|id| format!("id eq '{id}'")).collect();
    format!("singleValueExtendedProperties($filter={})", ids.join(" or "))
}

fn prefer() -> HeaderName {
    HeaderName::from_static("prefer")
}

fn utc() -> HeaderValue {
    HeaderValue::from_static("outlook.timezone=\"UTC\"")
}

fn page_and_utc() -> HeaderValue {
    HeaderValue::from_str(&format!("odata.maxpagesize={PAGE_SIZE}, outlook.timezone=\"UTC\""))
        .unwrap_or_else(|_| utc())
}

/// An expiry Graph accepts: at most 10,070 minutes ahead.
fn expiry(wanted: DateTime<Utc>) -> String {
    let latest = Utc::now() + chrono::Duration::minutes(MAX_SUBSCRIPTION_MINUTES);
    wanted.min(latest).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
