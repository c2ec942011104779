//! Google Calendar v3 through google-calendar3: every call goes through the crate's hub, pointed
//! at a configurable base URL (Google's, or the sandbox's). No crate type leaves this module.
//!
//! Calls never retry on their own: failures come back classified (`ProviderError`) with Google's
//! `Retry-After` hint, and the jobs decide.

mod convert;
mod failure;
#[cfg(test)]
mod tests;
pub mod workspace;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use google_calendar3::CalendarHub;
use google_calendar3::api::{Channel, Event, Events, FreeBusyRequest, FreeBusyRequestItem};
use google_calendar3::common::{Body, GetToken};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret as _;

use self::convert::{change_of, is_cancelled, remote_calendar, remote_event};
use self::failure::{Capture, Failure, classify};
use crate::ProviderError;
use crate::calendar::{
    AccessToken, BusyInterval, Change, ChangeSet, EventDraft, RemoteCalendar, RemoteEvent,
    Subscription, SubscriptionRequest, Window,
};

/// Most events per `events.list` page (Google's maximum).
const PAGE_SIZE: i32 = 2500;

type Connector = HttpsConnector<HttpConnector>;
type Hub = CalendarHub<Connector>;

/// A Google Calendar client; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct GoogleCalendar {
    client: Client<Connector, Body>,
    base_url: String,
    timeout: Duration,
}

impl std::fmt::Debug for GoogleCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleCalendar")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The access token of one call, handed to the hub.
#[derive(Clone)]
struct Bearer(AccessToken);

impl GetToken for Bearer {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&str],
    ) -> Pin<
        Box<
            dyn Future<Output = Result<Option<String>, Box<dyn std::error::Error + Send + Sync>>>
                + Send
                + 'a,
        >,
    > {
        let token = self.0.secret().expose_secret().to_owned();
        Box::pin(async move { Ok(Some(token)) })
    }
}

/// Which events one `events.list` walk asks for.
#[derive(Clone, Copy)]
enum Listing<'a> {
    /// Live events overlapping a window; `kalends_only` filters on the private marker.
    Window { window: Window, kalends_only: bool },
    /// Everything changed since a sync token.
    Since(&'a str),
    /// Live events ending after an instant, series as their master event (not expanded).
    After(DateTime<Utc>),
}

impl GoogleCalendar {
    /// A client for the Calendar API at `api_base_url` (`https://www.googleapis.com/calendar/v3/`
    /// in production); every call gives up after `timeout`.
    pub fn new(api_base_url: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let base_url = format!("{}/", api_base_url.trim_end_matches('/'));
        url::Url::parse(&base_url).map_err(|error| {
            ProviderError::permanent(0, format!("invalid Google API base URL: {error}"))
        })?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| {
                ProviderError::permanent(0, format!("no TLS root certificates: {error}"))
            })?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, base_url, timeout })
    }

    /// The primary calendar's id, which is the account's address.
    pub async fn primary_email(&self, token: &AccessToken) -> Result<String, ProviderError> {
        let calendars = self.list_calendars(token).await?;
        calendars
            .into_iter()
            .find(|calendar| calendar.primary)
            .map(|calendar| calendar.id)
            .ok_or_else(|| ProviderError::permanent(0, "Google listed no primary calendar"))
    }

    /// The account's calendars (every page of `calendarList.list`).
    pub async fn list_calendars(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<RemoteCalendar>, ProviderError> {
        let hub = self.hub(token);
        let (mut calendars, mut page_token) = (Vec::new(), None::<String>);
        loop {
            let capture = Capture::default();
            let mut delegate = capture.clone();
            let mut call = hub.calendar_list().list();
            if let Some(page) = &page_token {
                crate::limits::another_request().await?;
                call = call.page_token(page);
            }
            let (_, list) = self.send(&capture, call.delegate(&mut delegate).doit()).await?;
            calendars.extend(list.items.iter().flatten().filter_map(remote_calendar));
            page_token = list.next_page_token;
            if page_token.is_none() {
                return Ok(calendars);
            }
        }
    }

    /// Creates or updates the event for `draft` and returns it as stored.
    ///
    /// The event id is the draft's key, so a retried insert answers 409 `duplicate` and turns
    /// into an update of that event (bringing it back if it was deleted): a booking never gets
    /// two events. With `remote_id`, that event is updated; if it is gone, inserted again.
    pub async fn upsert_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        draft: &EventDraft,
        remote_id: Option<&str>,
    ) -> Result<RemoteEvent, ProviderError> {
        let event = convert::event_of(draft);
        let stored = match remote_id {
            Some(id) => match self.update(token, calendar_id, id, &event).await {
                Err(failure) if matches!(failure.error, ProviderError::NotFound { .. }) => {
                    self.insert_or_update(token, calendar_id, &event).await?
                }
                other => other?,
            },
            None => self.insert_or_update(token, calendar_id, &event).await?,
        };
        remote_event(&stored)
    }

    /// The event, or `None` when it is unknown, deleted or cancelled.
    pub async fn get_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
    ) -> Result<Option<RemoteEvent>, ProviderError> {
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub.events().get(calendar_id, id).delegate(&mut delegate).doit();
        match self.send(&capture, call).await {
            Ok((_, event)) if is_cancelled(&event) => Ok(None),
            Ok((_, event)) => remote_event(&event).map(Some),
            Err(failure) if matches!(failure.error, ProviderError::NotFound { .. }) => Ok(None),
            Err(failure) => Err(failure.into()),
        }
    }

    /// Deletes the event: `true` when it removed it, `false` when it was unknown or deleted
    /// already (which counts as done).
    pub async fn delete_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
    ) -> Result<bool, ProviderError> {
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub
            .events()
            .delete(calendar_id, id)
            .send_updates("none")
            .delegate(&mut delegate)
            .doit();
        match self.send(&capture, call).await {
            Ok(response) => drain(response).await.map(|()| true),
            Err(failure) if matches!(failure.error, ProviderError::NotFound { .. }) => Ok(false),
            Err(failure) => Err(failure.into()),
        }
    }

    /// Kalends's live events overlapping `window` (by the private marker; every page).
    pub async fn list_kalends_events(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        window: Window,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let listing = Listing::Window { window, kalends_only: true };
        let (events, _) = self.walk(token, calendar_id, listing).await?;
        let live = events.iter().filter(|event| !is_cancelled(event));
        live.map(remote_event).collect()
    }

    /// Changes since `cursor` (a sync token), or, without one, every live event overlapping
    /// `window` as the first sync. An expired cursor answers `ChangeSet::FullSyncRequired`.
    ///
    /// Incremental answers are not limited to `window`: Google reports every change of the
    /// calendar, events that moved out of the window included.
    pub async fn changes(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        cursor: Option<&str>,
        window: Window,
    ) -> Result<ChangeSet, ProviderError> {
        let listing = match cursor {
            Some(cursor) => Listing::Since(cursor),
            None => Listing::Window { window, kalends_only: false },
        };
        let (events, sync_token) = match self.walk(token, calendar_id, listing).await {
            Ok(walked) => walked,
            Err(failure)
                if failure.is("fullSyncRequired") || failure.is("updatedMinTooLongAgo") =>
            {
                return Ok(ChangeSet::FullSyncRequired);
            }
            Err(failure) => return Err(failure.into()),
        };
        let next_cursor = sync_token.ok_or_else(|| {
            ProviderError::permanent(0, "Google's last page had no nextSyncToken")
        })?;
        let changes: Vec<Change> = events.iter().filter_map(change_of).collect();
        Ok(ChangeSet::Changes { changes, next_cursor })
    }

    /// The calendar's single (non-recurring) events ending after `from`, however far ahead: the
    /// part of the calendar beyond the import's window, where series are left out on purpose
    /// (they are imported, expanded, within the window only).
    pub async fn single_events_from(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let (events, _) = self.walk(token, calendar_id, Listing::After(from)).await?;
        Ok(events
            .iter()
            .filter(|event| {
                event.recurring_event_id.is_none()
                    && event.recurrence.as_ref().is_none_or(Vec::is_empty)
            })
            .filter_map(change_of)
            .filter_map(|change| match change {
                Change::Upserted(event) => Some(event),
                Change::Deleted { .. } => None,
            })
            .collect())
    }

    /// Busy intervals of the calendars within `window`, sorted, overlapping ones merged. A
    /// calendar Google reports an error for fails the whole query (unknown is not free).
    pub async fn free_busy(
        &self,
        token: &AccessToken,
        calendar_ids: &[String],
        window: Window,
    ) -> Result<Vec<BusyInterval>, ProviderError> {
        let request = FreeBusyRequest {
            time_min: Some(window.start),
            time_max: Some(window.end),
            items: Some(
                calendar_ids
                    .iter()
                    .map(|id| FreeBusyRequestItem { id: Some(id.clone()) })
                    .collect(),
            ),
            ..FreeBusyRequest::default()
        };
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub.freebusy().query(request).delegate(&mut delegate).doit();
        let (_, answer) = self.send(&capture, call).await?;
        let mut intervals = Vec::new();
        for (id, calendar) in answer.calendars.unwrap_or_default() {
            if let Some(error) = calendar.errors.iter().flatten().next() {
                let reason = error.reason.clone().unwrap_or_default();
                return Err(calendar_error(&id, &reason));
            }
            intervals.extend(calendar.busy.into_iter().flatten().filter_map(|period| {
                Some(BusyInterval { start: period.start?, end: period.end? })
            }));
        }
        Ok(merge(intervals))
    }

    /// Opens a push channel on the calendar's events; Google may shorten the expiry.
    pub async fn watch(
        &self,
        token: &AccessToken,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ProviderError> {
        let channel = Channel {
            id: Some(request.channel_id.clone()),
            type_: Some("web_hook".to_owned()),
            address: Some(request.callback_url.clone()),
            token: Some(request.secret.expose_secret().to_owned()),
            expiration: Some(request.expires_at.timestamp_millis()),
            ..Channel::default()
        };
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub.events().watch(channel, &request.calendar_id).delegate(&mut delegate);
        let (_, answer) = self.send(&capture, call.doit()).await?;
        let expires_at = answer
            .expiration
            .and_then(chrono::DateTime::from_timestamp_millis)
            // Google may grant less than asked, never more: a later date is not believed.
            .map_or(request.expires_at, |granted| granted.min(request.expires_at));
        Ok(Subscription {
            id: answer.id.unwrap_or_else(|| request.channel_id.clone()),
            resource_id: answer.resource_id,
            expires_at,
        })
    }

    /// Stops a push channel; an unknown one counts as stopped.
    pub async fn stop(
        &self,
        token: &AccessToken,
        subscription: &Subscription,
    ) -> Result<(), ProviderError> {
        let channel = Channel {
            id: Some(subscription.id.clone()),
            resource_id: subscription.resource_id.clone(),
            ..Channel::default()
        };
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub.channels().stop(channel).delegate(&mut delegate).doit();
        match self.send(&capture, call).await {
            Ok(response) => drain(response).await,
            Err(failure) if matches!(failure.error, ProviderError::NotFound { .. }) => Ok(()),
            Err(failure) => Err(failure.into()),
        }
    }

    /// Inserts with the key as id; on 409 `duplicate` the event exists (a retry, or a deleted
    /// event whose id stays reserved), so it is updated instead.
    async fn insert_or_update(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        event: &Event,
    ) -> Result<Event, ProviderError> {
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let call = hub
            .events()
            .insert(event.clone(), calendar_id)
            .send_updates("none")
            .delegate(&mut delegate)
            .doit();
        match self.send(&capture, call).await {
            Ok((_, stored)) => Ok(stored),
            Err(failure) if failure.is("duplicate") => {
                let id = event.id.as_deref().unwrap_or_default();
                Ok(self.update(token, calendar_id, id, event).await?)
            }
            Err(failure) => Err(failure.into()),
        }
    }

    /// `events.update` (PUT): replaces the event, status included.
    async fn update(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
        event: &Event,
    ) -> Result<Event, Failure> {
        let hub = self.hub(token);
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let event = Event { id: Some(id.to_owned()), ..event.clone() };
        let call = hub
            .events()
            .update(event, calendar_id, id)
            .send_updates("none")
            .delegate(&mut delegate)
            .doit();
        self.send(&capture, call).await.map(|(_, stored)| stored)
    }

    /// Every page of one listing; the sync token comes with the last page.
    async fn walk(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        listing: Listing<'_>,
    ) -> Result<(Vec<Event>, Option<String>), Failure> {
        let hub = self.hub(token);
        let (mut events, mut page_token) = (Vec::new(), None::<String>);
        loop {
            let page = self.page(&hub, calendar_id, listing, page_token.as_deref()).await?;
            events.extend(page.items.unwrap_or_default());
            page_token = page.next_page_token;
            if page_token.is_none() {
                return Ok((events, page.next_sync_token));
            }
        }
    }

    async fn page(
        &self,
        hub: &Hub,
        calendar_id: &str,
        listing: Listing<'_>,
        page_token: Option<&str>,
    ) -> Result<Events, Failure> {
        let expand = !matches!(listing, Listing::After(_));
        let mut call = hub.events().list(calendar_id).single_events(expand).max_results(PAGE_SIZE);
        match listing {
            Listing::Window { window, kalends_only } => {
                call = call.time_min(window.start).time_max(window.end);
                if kalends_only {
                    let (name, value) = convert::MARKER;
                    call = call.add_private_extended_property(&format!("{name}={value}"));
                }
            }
            Listing::Since(sync_token) => call = call.sync_token(sync_token),
            Listing::After(from) => call = call.time_min(from),
        }
        if let Some(page) = page_token {
            // Each further page is a request the quota counts like the first.
            crate::limits::another_request().await.map_err(Failure::plain)?;
            call = call.page_token(page);
        }
        let capture = Capture::default();
        let mut delegate = capture.clone();
        let (_, page) = self.send(&capture, call.delegate(&mut delegate).doit()).await?;
        Ok(page)
    }

    /// A hub for one call, carrying its access token.
    fn hub(&self, token: &AccessToken) -> Hub {
        let mut hub = CalendarHub::new(self.client.clone(), Bearer(token.clone()));
        hub.base_url(self.base_url.clone());
        hub
    }

    /// Runs a call within the timeout and classifies its failure.
    async fn send<T>(
        &self,
        capture: &Capture,
        call: impl Future<Output = google_calendar3::Result<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(error, capture)),
            Err(_) => Err(Failure::plain(ProviderError::unanswered(format!(
                "Google gave no answer within {:?}",
                self.timeout
            )))),
        }
    }
}

/// Reads a body-less answer to its end: the crate does not, so a connection dropped after the
/// status line would otherwise pass for success.
async fn drain(response: google_calendar3::common::Response) -> Result<(), ProviderError> {
    use google_calendar3::hyper::body::Body as _;
    let mut body = response.into_body();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        frame.map_err(|error| ProviderError::from_transport(&error))?;
    }
    Ok(())
}

/// A per-calendar free/busy error, classified like an HTTP one.
fn calendar_error(calendar_id: &str, reason: &str) -> ProviderError {
    let message = format!("free/busy of {calendar_id}: {reason}");
    match reason {
        "notFound" => ProviderError::NotFound { message },
        "backendError" | "internalError" => ProviderError::transient(message),
        _ => ProviderError::from_status(403, Some(reason), message, None),
    }
}

/// Sorts intervals and merges those that overlap or touch.
fn merge(mut intervals: Vec<BusyInterval>) -> Vec<BusyInterval> {
    intervals.sort_by_key(|interval| (interval.start, interval.end));
    let mut merged: Vec<BusyInterval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}
