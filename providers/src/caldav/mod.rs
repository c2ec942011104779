//! CalDAV (RFC 4791): Apple iCloud, Fastmail, Nextcloud, Radicale, Xandikos, a company server.
//! Typed requests come from libdav; they travel through [`http::DavHttp`] (reqwest, Basic
//! credentials, redirects followed with method and body). No libdav type leaves this module.
//!
//! - The account: an app password, never an OAuth grant. The "access token" the rest of Kalends
//!   seals and hands back is [`Account`] as JSON (the calendar home URL, the user name and the
//!   password); it never expires, and a 401 means the password stopped working: the refresh
//!   answers a dead grant, so the connection becomes `needs_reauth` like a revoked OAuth grant.
//! - Calendars are named by their absolute collection URL (iCloud's live on a per-account host).
//! - A booking is one resource `{uid}.ics`, the uid being its [`EventKey`]'s stable id:
//!   created with `If-None-Match: *`, changed and deleted with `If-Match` on the etag its last
//!   write answered (stored beside the remote id; read by PROPFIND only when not known); a 412
//!   re-reads and converges, and a create whose answer was lost finds its resource where it was made.
//! - Import: `sync-collection` (RFC 6578) from the stored token; a refused token (403 or 412,
//!   depending on the server) or a change the token cannot describe occurrence by occurrence (a
//!   recurring event, an outside event deleted) asks for a full listing of the window
//!   (time-range `calendar-query` + `calendar-multiget`), which the import stores atomically.

mod client;
mod discovery;
mod failure;
mod http;
mod ics;

use ::http::{StatusCode, Uri};
use chrono::{DateTime, Utc};
use libdav::caldav::{
    CalendarComponent, FindCalendars, GetCalendarResources, GetSupportedComponents,
    ListCalendarResources, TimeRange,
};
use libdav::dav::{Delete, GetEtag, PutResource, RequestError, SyncCollection, WebDavError};
use libdav::names;

pub use self::client::{Account, CaldavCalendar, MAX_ANSWER_BYTES};
pub use self::discovery::{Discovered, DiscoveryError};
pub use self::failure::refused_password;
use self::failure::{
    failure, is_invalid_token, is_passing, is_precondition_failed, is_unauthorized,
};
use self::http::{Dav, DavError, HttpError, absolute, parse_url};
use self::ics::Reading;
use crate::ProviderError;
use crate::calendar::{
    AccessToken, BusyInterval, Change, ChangeSet, EventDraft, RemoteCalendar, RemoteEvent,
    TimeZone, Window,
};
use crate::outbound::Outbound;

/// The `Content-Type` of a stored event (Xandikos refuses one without `text/calendar`).
const ICS: &str = "text/calendar; charset=utf-8";
/// The cursor of a calendar whose server has no `sync-collection`: every import lists it.
const NO_SYNC: &str = "caldav:no-sync";
/// Resources fetched per `calendar-multiget`.
const MULTIGET_BATCH: usize = 200;
/// Calendars read at most from one account (each costs a request when it is listed).
pub const MAX_CALENDARS: usize = 200;
/// How often a conditional write re-reads and tries again after a 412.
const CONDITIONAL_ATTEMPTS: usize = 3;

impl CaldavCalendar {
    /// The account's calendars that hold events.
    pub async fn list_calendars(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<RemoteCalendar>, ProviderError> {
        let account = Account::from_token(token)?;
        let home = parse_url(&account.home)
            .ok_or_else(|| ProviderError::permanent(0, "the stored calendar home is no URL"))?;
        self.calendars_at(&account, &home).await.map_err(failure)
    }

    async fn calendars_at(
        &self,
        account: &Account,
        home: &Uri,
    ) -> Result<Vec<RemoteCalendar>, DavError> {
        let http = self.http(account);
        let found = Dav::new(home.clone(), http.clone())
            .request(FindCalendars::new(home.path()))
            .await?
            .calendars;
        // The calendars' hrefs are relative to where the listing came from.
        let home = &http.landed().unwrap_or_else(|| home.clone());
        let dav = Dav::new(home.clone(), http);
        if found.len() > MAX_CALENDARS {
            let limit = MAX_CALENDARS;
            return Err(RequestError::Client(HttpError::TooManyCalendars { limit }).into());
        }
        let mut calendars = Vec::new();
        for calendar in found {
            let id = absolute(home, &calendar.href);
            // Stored as the calendar's address and used by every later sync: a server must not
            // plant one on an address Kalends may not reach.
            let refused = |r| DavError::from(RequestError::Client(HttpError::from(r)));
            let url = Outbound::parse(&id).map_err(refused)?;
            self.outbound.vet(&url).await.map_err(refused)?;
            let components =
                dav.request(GetSupportedComponents::new(&calendar.href)).await?.components;
            // None advertised means any component (RFC 4791 §5.2.3).
            if !components.is_empty() && !components.contains(&CalendarComponent::VEvent) {
                continue;
            }
            let name = calendar
                .properties
                .iter()
                .find(|(property, _)| **property == names::DISPLAY_NAME)
                .and_then(|(_, value)| value.clone())
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(|| last_segment(&calendar.href).to_owned());
            calendars.push(RemoteCalendar {
                id,
                name,
                primary: false,
                writable: true,
                time_zone: None,
            });
        }
        calendars.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(first) = calendars.first_mut() {
            first.primary = true;
        }
        Ok(calendars)
    }

    /// Writes the booking's resource: created with `If-None-Match: *`, else updated with
    /// `If-Match` on `etag` (the one its last write answered; read first when not known); a 412
    /// (someone else's change, or a create whose answer was lost) re-reads.
    pub async fn upsert_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        draft: &EventDraft,
        remote_id: Option<&str>,
        etag: Option<&str>,
    ) -> Result<RemoteEvent, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        let uid = draft.key.google_event_id();
        let name = remote_id.map_or_else(|| format!("{uid}.ics"), str::to_owned);
        let href = format!("{collection}{name}");
        let body = ics::resource(draft, &uid, Utc::now());
        let mut known = remote_id.is_some();
        let mut stored = etag.filter(|_| known).map(str::to_owned);
        for _ in 0..CONDITIONAL_ATTEMPTS {
            let etag = match stored.take() {
                Some(etag) => Some(etag),
                None if known => etag_of(&dav, &href).await?,
                None => None,
            };
            let written = match &etag {
                None => dav.request(PutResource::new(&href).create(body.as_str(), ICS)).await,
                Some(etag) => {
                    dav.request(PutResource::new(&href).update(body.as_str(), ICS, etag)).await
                }
            };
            match written {
                Ok(answer) => {
                    return Ok(RemoteEvent {
                        id: name,
                        summary: Some(draft.summary.clone()),
                        time: draft.time,
                        zone: draft.zone,
                        busy: true,
                        booking_id: Some(draft.key.booking_id),
                        connection_id: Some(draft.key.connection_id),
                        tenant_id: Some(draft.tenant_id),
                        creation_key: Some(uid),
                        etag: answer.etag,
                    });
                }
                Err(error) if is_precondition_failed(&error) => known = true,
                Err(error) => return Err(failure(error)),
            }
        }
        Err(ProviderError::transient("the event kept changing while Kalends wrote it"))
    }

    /// One event (the first occurrence of a recurring one); `None` when it is gone.
    pub async fn get_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
    ) -> Result<Option<RemoteEvent>, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        let name = id.split('#').next().unwrap_or(id);
        let href = format!("{collection}{name}");
        let window = Window { start: DateTime::<Utc>::MIN_UTC, end: DateTime::<Utc>::MAX_UTC };
        // Kalends's own events name their zone.
        let fetched = self.fetch(&dav, &collection, &[href], Reading::utc(window)).await?;
        Ok(fetched.into_iter().flat_map(|(_, read)| read.events).find(|e| e.id == id))
    }

    /// Deletes the resource behind `id` with `If-Match` on `etag` (read first when not known):
    /// `true` when it removed it, `false` when it was gone already (which counts as deleted).
    pub async fn delete_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
        etag: Option<&str>,
    ) -> Result<bool, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        let href = format!("{collection}{}", id.split('#').next().unwrap_or(id));
        let mut stored = etag.map(str::to_owned);
        for _ in 0..CONDITIONAL_ATTEMPTS {
            let known = match stored.take() {
                Some(etag) => Some(etag),
                None => etag_of(&dav, &href).await?,
            };
            let Some(etag) = known else { return Ok(false) };
            match dav.request(Delete::new(&href).with_etag(etag)).await {
                Ok(_) => return Ok(true),
                Err(WebDavError::BadStatusCode(StatusCode::NOT_FOUND)) => return Ok(false),
                Err(error) if is_precondition_failed(&error) => {}
                Err(error) => return Err(failure(error)),
            }
        }
        Err(ProviderError::transient("the event kept changing while Kalends deleted it"))
    }

    /// The events Kalends wrote in a calendar within a window. Only resources with Kalends'
    /// names are read: the staff member's own series (heavy ones included) cost nothing here,
    /// nor take the reading budget.
    pub async fn list_kalends_events(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        window: Window,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        let own = |href: &str| is_kalends_name(last_segment(href));
        let events = self.window_events(&dav, &collection, Reading::utc(window), own).await?;
        Ok(events.into_iter().filter(|e| e.booking_id.is_some()).collect())
    }

    /// Changes since `cursor` (a sync token), or the whole window without one; times without a
    /// zone (floating) are read in `floating`. See the module's notes for when a full listing
    /// is asked for instead.
    pub async fn changes(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        cursor: Option<&str>,
        window: Window,
        floating: TimeZone,
    ) -> Result<ChangeSet, ProviderError> {
        let reading = Reading { window, floating };
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        match cursor {
            Some(NO_SYNC) => Ok(ChangeSet::FullSyncRequired),
            Some(cursor) => self.changes_since(&dav, &collection, cursor, reading).await,
            // The listing that starts a token lists every resource: their data is read (in
            // batches) and expanded here, cheaper for the server than a time-range query, which
            // makes it expand every series itself.
            None => match dav.request(SyncCollection::new(&collection)).await {
                Ok(answer) => {
                    let hrefs: Vec<String> = answer.changed.into_iter().map(|r| r.href).collect();
                    let fetched = self.fetch(&dav, &collection, &hrefs, reading).await?;
                    let changes = fetched
                        .into_iter()
                        .flat_map(|(_, read)| read.events)
                        .map(Change::Upserted)
                        .collect();
                    Ok(ChangeSet::Changes { changes, next_cursor: answer.new_sync_token })
                }
                Err(error) if is_unauthorized(&error) => Err(failure(error)),
                // A server failing for the moment (down, throttling, not answering) is asked
                // again later, not taken for one without `sync-collection` for good.
                Err(error) if is_passing(&error) => Err(failure(error)),
                // No `sync-collection` here: a time-range query, and every import lists again.
                Err(_) => {
                    let changes = self
                        .window_events(&dav, &collection, reading, |_| true)
                        .await?
                        .into_iter()
                        .map(Change::Upserted)
                        .collect();
                    Ok(ChangeSet::Changes { changes, next_cursor: NO_SYNC.to_owned() })
                }
            },
        }
    }

    async fn changes_since(
        &self,
        dav: &Dav,
        collection: &str,
        cursor: &str,
        reading: Reading,
    ) -> Result<ChangeSet, ProviderError> {
        let answer =
            match dav.request(SyncCollection::new(collection).with_sync_token(cursor)).await {
                Ok(answer) => answer,
                Err(error) if is_invalid_token(&error) => return Ok(ChangeSet::FullSyncRequired),
                Err(error) => return Err(failure(error)),
            };
        let mut changes = Vec::new();
        for href in &answer.deleted {
            let name = last_segment(href);
            // Only Kalends's own resources are known to be single events: another deleted
            // resource may have been a series whose occurrences are stored one by one.
            if !is_kalends_name(name) {
                return Ok(ChangeSet::FullSyncRequired);
            }
            changes.push(Change::Deleted { id: name.to_owned() });
        }
        let hrefs: Vec<String> = answer.changed.into_iter().map(|r| r.href).collect();
        for (name, read) in self.fetch(dav, collection, &hrefs, reading).await? {
            if read.recurring {
                return Ok(ChangeSet::FullSyncRequired);
            }
            if read.events.is_empty() {
                changes.push(Change::Deleted { id: name });
            }
            changes.extend(read.events.into_iter().map(Change::Upserted));
        }
        Ok(ChangeSet::Changes { changes, next_cursor: answer.new_sync_token })
    }

    /// The calendar's single events starting from `from`, however far ahead; floating times
    /// are read in `floating`.
    pub async fn single_events_from(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        from: DateTime<Utc>,
        floating: TimeZone,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        let reading = Reading { window: Window { start: from, end: from }, floating };
        let hrefs = self.hrefs_in(&dav, &collection, TimeRange::From(timestamp(from)?)).await?;
        Ok(self
            .fetch(&dav, &collection, &hrefs, reading)
            .await?
            .into_iter()
            .filter(|(_, read)| !read.recurring)
            .flat_map(|(_, read)| read.events)
            .filter(|event| utc_bounds(&event.time).0 >= from)
            .collect())
    }

    /// Busy intervals of the calendars within `window`, sorted.
    pub async fn free_busy(
        &self,
        token: &AccessToken,
        calendar_ids: &[String],
        window: Window,
    ) -> Result<Vec<BusyInterval>, ProviderError> {
        let mut busy = Vec::new();
        for calendar_id in calendar_ids {
            for event in self.events_in(token, calendar_id, window).await? {
                let (start, end) = utc_bounds(&event.time);
                busy.push(BusyInterval { start, end });
            }
        }
        busy.sort_by_key(|b| (b.start, b.end));
        Ok(busy)
    }

    async fn events_in(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        window: Window,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let account = Account::from_token(token)?;
        let (dav, collection) = self.collection(&account, calendar_id)?;
        // Free/busy and Kalends's own events: nothing of a staff member's zone is known here.
        self.window_events(&dav, &collection, Reading::utc(window), |_| true).await
    }

    /// Every busy occurrence in the window of the resources whose href `keep` takes: a
    /// time-range `calendar-query` for the resources, then their data by `calendar-multiget`.
    async fn window_events(
        &self,
        dav: &Dav,
        collection: &str,
        reading: Reading,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        let Window { start, end } = reading.window;
        let range = TimeRange::Between(timestamp(start)?, timestamp(end)?);
        let mut hrefs = self.hrefs_in(dav, collection, range).await?;
        hrefs.retain(|href| keep(href));
        Ok(self
            .fetch(dav, collection, &hrefs, reading)
            .await?
            .into_iter()
            .flat_map(|(_, read)| read.events)
            .collect())
    }

    async fn hrefs_in(
        &self,
        dav: &Dav,
        collection: &str,
        range: TimeRange,
    ) -> Result<Vec<String>, ProviderError> {
        let query = ListCalendarResources::new(collection)
            .with_component_and_time_range(CalendarComponent::VEvent, range);
        let listed = dav.request(query).await.map_err(failure)?;
        Ok(listed
            .resources
            .into_iter()
            .filter(|r| !r.resource_type.is_collection)
            .map(|r| r.href)
            .collect())
    }

    /// The resources' data, read: (name, what it holds), for those that still exist.
    async fn fetch(
        &self,
        dav: &Dav,
        collection: &str,
        hrefs: &[String],
        reading: Reading,
    ) -> Result<Vec<(String, ics::Read)>, ProviderError> {
        let mut out = Vec::with_capacity(hrefs.len());
        let mut budget = ics::Budget::new(self.max_work);
        for batch in hrefs.chunks(MULTIGET_BATCH) {
            let request = GetCalendarResources::new(collection).with_hrefs(batch);
            let fetched = dav.request(request).await.map_err(failure)?;
            let fetched: Vec<ics::Fetched> = fetched
                .resources
                .into_iter()
                .filter_map(|resource| {
                    let content = resource.content.ok()?;
                    let name = last_segment(&resource.href).to_owned();
                    Some(ics::Fetched { name, etag: content.etag, data: content.data })
                })
                .collect();
            // Expanding recurrences is CPU work: off the async threads, as a feed's reading is.
            let (read, left) = tokio::task::spawn_blocking(move || {
                let read = ics::read_resources(fetched, reading, &mut budget);
                (read, budget)
            })
            .await
            .map_err(|e| ProviderError::transient(format!("reading the calendar stopped: {e}")))?;
            budget = left;
            out.extend(read.map_err(|e| {
                let message = format!(
                    "the calendar needs more work to read than Kalends allows ({} steps, \
                     import.max_work_steps): a series repeating every second or minute, say",
                    e.limit
                );
                ProviderError::permanent(0, message)
            })?);
        }
        Ok(out)
    }

    /// A client for the calendar's host and the calendar's path (ending in `/`).
    fn collection(
        &self,
        account: &Account,
        calendar_id: &str,
    ) -> Result<(Dav, String), ProviderError> {
        let url = parse_url(calendar_id)
            .ok_or_else(|| ProviderError::NotFound { message: "not a calendar URL".into() })?;
        let mut path = url.path().to_owned();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok((self.dav(account, &url), path))
    }
}

/// A span's instants, whole days from UTC midnight (the import judges days in the staff
/// member's zone itself).
fn utc_bounds(span: &crate::calendar::Span) -> (DateTime<Utc>, DateTime<Utc>) {
    use crate::calendar::Span;
    match *span {
        Span::Timed { start, end } => (start, end),
        Span::AllDay { start, end } => (
            start.and_time(chrono::NaiveTime::MIN).and_utc(),
            end.and_time(chrono::NaiveTime::MIN).and_utc(),
        ),
    }
}

fn last_segment(href: &str) -> &str {
    href.trim_end_matches('/').rsplit('/').next().unwrap_or(href)
}

/// `{32 base32hex}.ics`: the name of a resource Kalends wrote (see [`EventKey`]).
///
/// [`EventKey`]: crate::calendar::EventKey
fn is_kalends_name(name: &str) -> bool {
    name.strip_suffix(".ics").is_some_and(|uid| {
        uid.len() == 32 && uid.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
    })
}

fn timestamp(at: DateTime<Utc>) -> Result<libdav::caldav::UtcTimestamp, ProviderError> {
    let at = at.clamp(
        DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default(),
        DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or_default(),
    );
    at.format("%Y%m%dT%H%M%SZ")
        .to_string()
        .parse()
        .map_err(|_| ProviderError::permanent(0, "an unrepresentable time"))
}

async fn etag_of(dav: &Dav, href: &str) -> Result<Option<String>, ProviderError> {
    match dav.request(GetEtag::new(href)).await {
        Ok(found) => Ok(Some(found.etag)),
        Err(WebDavError::BadStatusCode(StatusCode::NOT_FOUND)) => Ok(None),
        // Xandikos answers a PROPFIND of a missing resource with a 207 whose property is 404.
        Err(WebDavError::InvalidResponse(_)) => Ok(None),
        Err(error) => Err(failure(error)),
    }
}
