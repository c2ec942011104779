//! `import_availability`: bring the busy times Kalends keeps for a connection's chosen calendars
//! up to date, then look for new conflicts of its staff member.
//!
//! Each calendar is asked for its changes since the stored cursor (a Google sync token, a Graph
//! delta link). Without a cursor, when the provider no longer accepts it (410), or once the
//! cursor's window is a month old, the window (yesterday to 18 months ahead) is listed in full
//! and replaces what was stored. Series are expanded within that window only, but a single
//! event blocks time however far ahead (VRBO and Booking.com sell two years out): every import
//! also lists the calendar's single events from the window's end on, in full, and they replace
//! what was stored from there. Either way the items and the new cursor commit in one
//! transaction, so a run that fails half-way changes nothing and the next one asks again from
//! the old cursor: nothing is lost, and the unique (connection, calendar, event) key means
//! nothing is stored twice. A staff member's edits of Kalends's own events are looked for in
//! both: the change list names them, a full listing shows them moved or lacks them (see
//! [`crate::external_edits`]).
//!
//! A busy-times-only calendar (an organisation's tier whose tokens read free/busy and nothing
//! else) has no events to list: its free/busy over the same window replaces what was stored at
//! every import, asked in pieces of at most 60 days (Graph's `getSchedule` refuses longer
//! ones). Free/busy says neither what nor whose, so every interval is busy; nothing of this
//! tenant's is written into such a calendar.
//!
//! One import of a connection runs at a time (`Lease::CALENDAR_IMPORT`): an import asked for
//! while another runs (a notification, a change of the calendars chosen) runs after it, with
//! what is chosen then.
//!
//! Not busy: events Kalends wrote for this tenant, by any of its connections (recognised by the
//! booking and tenant ids in their extended properties, or, since Graph's delta results carry
//! none, by their id among the events this tenant's connections to the same account pushed), and
//! free, transparent, declined or cancelled ones.
//!
//! Why another staff member's booking in a shared calendar is not busy time: two staff members
//! connected to one account (a salon's front-desk calendar) each see the other's bookings there.
//! Kalends knows those bookings already, with the staff actually assigned, so its availability
//! and conflicts count them for the right person; counting them again as this staff member's
//! busy time would make everyone who shares a calendar unavailable whenever anyone is booked
//! (and raise a conflict for every parallel booking). A booking Kalends wrote for *another*
//! tenant is different: this tenant knows nothing of it, so, like any outside appointment, it
//! counts as busy. An older event without the tenant property is taken as this tenant's, as
//! before.

use std::collections::HashSet;

use chrono::{DateTime, Months, Utc};
use kalends_core::domain::{
    Connection, ConnectionStatus, Instants, Owner, Tenant, TimeZone, span_instants,
};
use kalends_ical::Span;
use kalends_providers::ProviderError;
use kalends_providers::calendar::{BusyInterval, Change, ChangeSet, EventKey, Provider};
use kalends_providers::calendar::{RemoteEvent, Window};
use kalends_providers::session::{ConnectionError, Credentials};
use kalends_service::conflicts::{self, Placed};
use kalends_store::LaterEvents;
use kalends_store::{BusyCalendar, BusyChange, BusyWritten, CalendarBusyEvent, CalendarCursor};
use kalends_store::{ImportedBy, Lease, LeaseKey, Store, StoreError, lease_end};
use uuid::Uuid;

use crate::JobError;
use crate::external_edits::Listing;

/// How long an import holds its connection, renewed every third of it while it runs (a worker
/// that dies holding it frees it then).
const IMPORT_HOLD: std::time::Duration = std::time::Duration::from_secs(60);

/// How far back the imported window starts.
const PAST_DAYS: u64 = 1;
/// How far ahead it reaches (for series: single events are imported however far ahead).
const AHEAD_MONTHS: u32 = 18;
/// The longest window one free/busy question covers.
const FREE_BUSY_PIECE_DAYS: i64 = 60;
/// How old a cursor's window may grow before the calendar is listed in full again (its
/// changes cover the window of the listing they follow, whose end lags the horizon by as much).
const RELIST_AFTER_DAYS: i64 = 30;

/// Runs the job for one connection.
#[tracing::instrument(skip_all, fields(%tenant_id, %connection_id))]
pub async fn run(
    store: &Store,
    credentials: &Credentials,
    tenant_id: Uuid,
    connection_id: Uuid,
) -> Result<(), JobError> {
    let connection = match store.connection(tenant_id, connection_id).await {
        Ok(connection) => connection,
        // Deleted with its staff member or tenant: nothing left to import.
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if matches!(connection.status, ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked) {
        // Parked until the staff member reconnects, which makes the import due again.
        store.clear_import_request(connection.id).await?;
        return Ok(());
    }
    // One import of a connection at a time. Another under way read the choice of calendars of
    // its start; were this one to run beside it, what the older one found (its error, busy
    // times of a calendar no longer chosen) could be written last. This one is wanted after
    // it: the holder queues one import once it lets go, however many asked meanwhile. Taken
    // again after saying so, in case the holder let go in between, before it could see this.
    let (lease, key) = (&Lease::CALENDAR_IMPORT, LeaseKey::from(connection.id));
    let held = lease_end(IMPORT_HOLD);
    if !store.take_lease(lease, key, &[], held).await? {
        store.want_calendar_import(connection.id).await?;
        if !store.take_lease(lease, key, &[], held).await? {
            return Ok(());
        }
    }
    // The outcome is recorded while the connection is held: the next import may not begin
    // before this one's error (or its clearing) is written.
    let work = async {
        // A notification arriving from now on asks for another import (this one may miss it).
        store.clear_import_request(connection.id).await?;
        let result = import(store, credentials, &connection).await;
        metrics::counter!("kalends_calendar_imports_total", "outcome" => outcome(&result))
            .increment(1);
        match result {
            Ok(imported) if imported.unread.is_empty() => Ok(()),
            Ok(imported) => failed(store, &connection, Unread(imported.unread)).await,
            Err(error) => answer(store, &connection, error).await,
        }
    };
    match store.hold(lease, key, held, IMPORT_HOLD, work).await {
        Ok(Some((done, held))) => {
            if let Err(error) = store.release_own_lease(lease, key, held).await {
                // It runs out by itself; an import asked for meanwhile waits until then.
                tracing::warn!(%error, "the connection could not be let go after its import");
            }
            store.queue_wanted_import(tenant_id, connection.id).await?;
            done
        }
        // The database was out of reach for a whole hold, or failed renewing it: this import
        // stopped where it was (each calendar's reading is written whole or not at all), and
        // the hold may be its own until it runs out. One more import reads on from there then.
        lost => {
            store.clear_import_request(connection.id).await?;
            let after = Utc::now() + chrono::Duration::from_std(IMPORT_HOLD).unwrap_or_default();
            store.request_calendar_import(tenant_id, connection.id, after, None).await?;
            lost.map(|_| ()).map_err(JobError::from)
        }
    }
}

/// What the import changed, for the log, and the calendars it could not read.
#[derive(Debug, Default)]
struct Imported {
    calendars: usize,
    changed: u64,
    full_syncs: usize,
    /// Where busy times of the calendars read went from (removed, or moved away).
    vacated: Vec<Instants>,
    /// Each chosen calendar that could not be read for good (gone, refused, too heavy to
    /// read): its name, and why.
    unread: Vec<(String, ConnectionError)>,
}

/// The chosen calendars an import could not read, each named with its own reason (the others
/// were read): the connection's error, which the staff member and the console see.
#[derive(Debug, thiserror::Error)]
#[error("{}", unread_message(.0))]
struct Unread(Vec<(String, ConnectionError)>);

fn unread_message(unread: &[(String, ConnectionError)]) -> String {
    match unread {
        [(name, error)] => format!("the calendar \"{name}\" could not be read: {error}"),
        _ => {
            let each: Vec<String> =
                unread.iter().map(|(name, error)| format!("\"{name}\": {error}")).collect();
            format!("{} calendars could not be read: {}", unread.len(), each.join("; "))
        }
    }
}

/// Imports every chosen calendar; conflicts are looked for when anything changed, even if a
/// calendar failed. One that cannot be read is named in what the run returns, once the others
/// are read.
async fn import(
    store: &Store,
    credentials: &Credentials,
    connection: &Connection,
) -> Result<Imported, ConnectionError> {
    let tenant = store.tenant(connection.tenant_id).await.map_err(ConnectionError::store)?;
    let owner = Owner::Staff(connection.staff_id);
    let zone = store.owner_zone(&tenant, owner).await.map_err(ConnectionError::store)?;
    let calendars = calendars_to_import(connection);
    // What this import stores from here on is what it placed.
    let since = kalends_store::now();
    let dropped = store
        .retain_busy_calendars(connection.id, &calendars)
        .await
        .map_err(ConnectionError::store)?;
    let mut imported = Imported { changed: dropped, ..Imported::default() };
    let mut failure = None;
    for calendar_id in &calendars {
        let calendar = BusyCalendar { connection, calendar_id, zone };
        match import_calendar(store, credentials, &tenant, calendar).await {
            Ok((written, full)) => {
                imported.calendars += 1;
                imported.changed += written.changed;
                imported.vacated.extend(written.vacated);
                imported.full_syncs += usize::from(full);
            }
            // A calendar that cannot be read (gone, refused, too heavy to read) does not hold
            // up the others. What a retry may mend, or what stops the whole connection, ends
            // the run at once (after the conflicts of what changed), and is its error.
            Err(error) if is_the_calendars(&error) => {
                let name = connection.calendars.iter().find(|c| &c.id == calendar_id);
                let name = name.map_or(calendar_id, |calendar| &calendar.name);
                imported.unread.push((name.clone(), error));
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if imported.changed > 0 {
        let placed = Placed::Imported(ImportedBy::Calendars(connection.id), since);
        // A calendar no longer chosen took its busy times with it, wherever they were.
        let gone = match dropped {
            0 => conflicts::Gone::From(&imported.vacated),
            _ => conflicts::Gone::Anywhere,
        };
        let found = conflicts::after_busy_change(store, &tenant, owner, placed, gone)
            .await
            .map_err(ConnectionError::store)?;
        tracing::info!(
            calendars = imported.calendars,
            changed = imported.changed,
            full_syncs = imported.full_syncs,
            conflicts_opened = found.opened,
            conflicts_resolved = found.resolved,
            "calendar busy times imported"
        );
    }
    match failure {
        Some(error) => Err(error),
        None if !imported.unread.is_empty() => Ok(imported),
        None => {
            // Records `last_sync_at` and clears an earlier error.
            store
                .mark_connection(connection.id, ConnectionStatus::Active, None)
                .await
                .map_err(ConnectionError::store)?;
            Ok(imported)
        }
    }
}

/// Whether `error` is one calendar's own (permanent, and not the grant's or the connection's).
fn is_the_calendars(error: &ConnectionError) -> bool {
    match error {
        ConnectionError::Provider(ProviderError::DeadGrant { .. }) => false,
        ConnectionError::Provider(provider) => !provider.is_retryable(),
        ConnectionError::Store(_) | ConnectionError::Disconnected => false,
    }
}

/// The calendars whose busy times count. Graph v1.0 has delta queries only for the default
/// calendar's view, so a Microsoft connection imports its default calendar when chosen and no
/// other.
fn calendars_to_import(connection: &Connection) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in &connection.busy_calendar_ids {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if connection.provider == Provider::Microsoft {
        let default = connection.calendars.iter().find(|c| c.primary).map(|c| c.id.as_str());
        let skipped = ids.iter().filter(|id| Some(id.as_str()) != default).count();
        if skipped > 0 {
            tracing::debug!(skipped, "Graph can import only the default Outlook calendar");
        }
        ids.retain(|id| Some(id.as_str()) == default);
    }
    ids
}

/// Yesterday to 18 months ahead.
fn window_around(now: DateTime<Utc>) -> Window {
    let start = now - chrono::Duration::days(PAST_DAYS as i64);
    let end = now.checked_add_months(Months::new(AHEAD_MONTHS)).unwrap_or(now);
    Window { start, end }
}

/// The window a stored cursor's changes cover: the one of the full listing it follows, while
/// that is recent enough (a Graph delta link keeps the window of its first request, so an old
/// one would stop short of the horizon). `None`: list the calendar in full again.
fn cursor_window(cursor: &CalendarCursor, now: DateTime<Utc>) -> Option<Window> {
    let listed_at = cursor.listed_at?;
    (now - listed_at < chrono::Duration::days(RELIST_AFTER_DAYS)).then(|| window_around(listed_at))
}

/// Imports one calendar: incrementally from its cursor, or in full without one, when the
/// provider refuses it or when its window has grown old. Either way the calendar's single
/// events beyond the window are listed in full too: far-future appointments block time however
/// far ahead, while series are expanded within the window only. The tenant's own events are
/// read after the listings (see [`own_events`]). Returns what it stored and whether a full
/// sync happened.
async fn import_calendar(
    store: &Store,
    credentials: &Credentials,
    tenant: &Tenant,
    calendar: BusyCalendar<'_>,
) -> Result<(BusyWritten, bool), ConnectionError> {
    if calendar.connection.busy_only {
        return Ok((import_free_busy(store, credentials, calendar).await?, true));
    }
    let now = Utc::now();
    let cursor = store
        .calendar_cursor(calendar.connection.id, calendar.calendar_id)
        .await
        .map_err(ConnectionError::store)?;
    if let Some((cursor, window)) =
        cursor.as_ref().and_then(|c| Some((c.cursor.as_str(), cursor_window(c, now)?)))
    {
        match changes(credentials, calendar, Some(cursor), window).await? {
            ChangeSet::Changes { changes, next_cursor } => {
                let connection = calendar.connection;
                crate::external_edits::handle(store, tenant, connection, &changes, window)
                    .await
                    .map_err(ConnectionError::store)?;
                let later = later_events(credentials, calendar, window.end).await?;
                let own = own_events(store, connection).await?;
                let judged: Vec<BusyChange> = changes
                    .into_iter()
                    .filter_map(|c| judge(c, tenant.id, &own, window, calendar.zone))
                    .collect();
                let later = later_busy(&later, tenant.id, &own, calendar.zone, window.end);
                let later = LaterEvents { from: window.end, events: &later };
                let written = store
                    .apply_calendar_changes(calendar, &judged, later, &next_cursor)
                    .await
                    .map_err(ConnectionError::store)?;
                return Ok((written, false));
            }
            ChangeSet::FullSyncRequired => {
                tracing::info!(
                    calendar = calendar.calendar_id,
                    "the provider no longer accepts the sync cursor: listing the window in full"
                );
            }
        }
    }
    let window = window_around(now);
    let asked_at = Utc::now();
    match changes(credentials, calendar, None, window).await? {
        ChangeSet::Changes { changes, next_cursor } => {
            let later = later_events(credentials, calendar, window.end).await?;
            let calendar_id = calendar.calendar_id;
            let listing =
                Listing { calendar_id, listed: &changes, later: &later, window, asked_at };
            crate::external_edits::handle_listing(store, tenant, calendar.connection, listing)
                .await
                .map_err(ConnectionError::store)?;
            let own = own_events(store, calendar.connection).await?;
            let mut busy: Vec<CalendarBusyEvent> = changes
                .into_iter()
                .filter_map(|c| match judge(c, tenant.id, &own, window, calendar.zone) {
                    Some(BusyChange::Busy(event)) => Some(event),
                    Some(BusyChange::Free { .. }) | None => None,
                })
                .collect();
            busy.extend(later_busy(&later, tenant.id, &own, calendar.zone, window.end));
            let written = store
                .replace_calendar_busy(calendar, &busy, &next_cursor)
                .await
                .map_err(ConnectionError::store)?;
            Ok((written, true))
        }
        // A listing without a cursor cannot have an expired one; try again later.
        ChangeSet::FullSyncRequired => Err(ProviderError::transient(
            "the provider asked for a full sync in answer to a full sync",
        )
        .into()),
    }
}

/// Imports a busy-times-only calendar: its free/busy from yesterday to 18 months ahead, piece
/// by piece, replaces what was stored. Returns what it stored.
async fn import_free_busy(
    store: &Store,
    credentials: &Credentials,
    calendar: BusyCalendar<'_>,
) -> Result<BusyWritten, ConnectionError> {
    let connection = calendar.connection;
    let provider = credentials.providers().get(connection.provider);
    let ids = [calendar.calendar_id.to_owned()];
    let mut intervals = Vec::new();
    for piece in pieces(free_busy_window(Utc::now())) {
        let ids = &ids;
        let found = credentials
            .with_token(connection, |token| async move {
                provider.free_busy(&token, ids, &connection.account_email, piece).await
            })
            .await?;
        intervals.extend(found);
    }
    let busy = free_busy_events(intervals);
    store.replace_calendar_busy(calendar, &busy, "").await.map_err(ConnectionError::store)
}

/// The free/busy window: from yesterday's midnight (UTC) to 18 months later. Starting at a
/// midnight keeps an interval the start clips the same all day, so imports that find nothing
/// new change nothing.
fn free_busy_window(now: DateTime<Utc>) -> Window {
    let start = window_around(now).start.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let end = start.checked_add_months(Months::new(AHEAD_MONTHS)).unwrap_or(start);
    Window { start, end }
}

/// `window` in consecutive pieces of at most `FREE_BUSY_PIECE_DAYS`.
fn pieces(window: Window) -> Vec<Window> {
    let step = chrono::Duration::days(FREE_BUSY_PIECE_DAYS);
    let mut pieces = Vec::new();
    let mut start = window.start;
    while start < window.end {
        let end = (start + step).min(window.end);
        pieces.push(Window { start, end });
        start = end;
    }
    pieces
}

/// Free/busy intervals as busy times: overlapping and touching ones merged (an appointment
/// across two pieces is one again), each named by its instants, so the same interval keeps its
/// id from one import to the next.
fn free_busy_events(mut intervals: Vec<BusyInterval>) -> Vec<CalendarBusyEvent> {
    intervals.retain(|i| i.start < i.end);
    intervals.sort_by_key(|i| (i.start, i.end));
    let mut merged: Vec<BusyInterval> = Vec::new();
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
        .into_iter()
        .map(|i| CalendarBusyEvent {
            remote_id: format!("free-busy:{}/{}", i.start.timestamp(), i.end.timestamp()),
            summary: None,
            span: Span::Timed { start: i.start, end: i.end },
        })
        .collect()
}

/// Asks the provider for the calendar's changes since `cursor` (its whole window without one).
async fn changes(
    credentials: &Credentials,
    calendar: BusyCalendar<'_>,
    cursor: Option<&str>,
    window: Window,
) -> Result<ChangeSet, ConnectionError> {
    let provider = credentials.providers().get(calendar.connection.provider);
    let calendar_id = calendar.calendar_id;
    credentials
        .with_token(calendar.connection, |token| async move {
            provider.changes(&token, calendar_id, cursor, window, calendar.zone).await
        })
        .await
}

/// The calendar's single events starting at or after `from`, listed in full.
async fn later_events(
    credentials: &Credentials,
    calendar: BusyCalendar<'_>,
    from: DateTime<Utc>,
) -> Result<Vec<RemoteEvent>, ConnectionError> {
    let provider = credentials.providers().get(calendar.connection.provider);
    let calendar_id = calendar.calendar_id;
    credentials
        .with_token(calendar.connection, |token| async move {
            provider.single_events_from(&token, calendar_id, from, calendar.zone).await
        })
        .await
}

/// The busy times among the later events that start at or after `from`.
fn later_busy(
    events: &[RemoteEvent],
    tenant_id: Uuid,
    own: &HashSet<String>,
    zone: TimeZone,
    from: DateTime<Utc>,
) -> Vec<CalendarBusyEvent> {
    events
        .iter()
        .filter_map(|event| busy_event(event, tenant_id, own, zone))
        .filter(|(_, start, _)| *start >= from)
        .map(|(busy, _, _)| busy)
        .collect()
}

/// What one change means for the staff member's busy times; `None` for an event starting
/// beyond the window, which the listing of later events speaks for.
fn judge(
    change: Change,
    tenant_id: Uuid,
    own: &HashSet<String>,
    window: Window,
    zone: TimeZone,
) -> Option<BusyChange> {
    let event = match change {
        Change::Deleted { id } => return Some(BusyChange::Free { remote_id: id }),
        Change::Upserted(event) => event,
    };
    match busy_event(&event, tenant_id, own, zone) {
        Some((_, start, _)) if start >= window.end => None,
        Some((busy, _, end)) if end > window.start => Some(BusyChange::Busy(busy)),
        _ => Some(BusyChange::Free { remote_id: event.id }),
    }
}

/// The event as a busy time, with the instants it covers, unless it does not block the staff
/// member's time, is one of this tenant's own bookings (see the module's notes) or ends before
/// it starts.
fn busy_event(
    event: &RemoteEvent,
    tenant_id: Uuid,
    own: &HashSet<String>,
    zone: TimeZone,
) -> Option<(CalendarBusyEvent, DateTime<Utc>, DateTime<Utc>)> {
    if !event.busy || this_tenants_booking(event, tenant_id, own) {
        return None;
    }
    let span = event.time;
    let (start, end) = span_instants(&span, zone);
    if end < start {
        return None;
    }
    let busy =
        CalendarBusyEvent { remote_id: event.id.clone(), summary: event.summary.clone(), span };
    Some((busy, start, end))
}

/// Whether Kalends wrote the event for this tenant (any of its connections): by its
/// properties, or by its id among the events this tenant pushed into the account.
fn this_tenants_booking(event: &RemoteEvent, tenant_id: Uuid, own: &HashSet<String>) -> bool {
    own.contains(&event.id)
        || event.creation_key.as_ref().is_some_and(|key| own.contains(&key.to_uppercase()))
        || (event.booking_id.is_some() && event.tenant_id.is_none_or(|id| id == tenant_id))
}

/// What identifies the tenant's own events in the connection's account (see [`own_keys`]),
/// read once the calendar has been listed: a booking another connection began writing there
/// while the listing ran has its row already (it is written before the create), so its new
/// event is known. Read before the listing, that event would be taken for busy time and stay
/// so until the calendar is listed in full again.
async fn own_events(
    store: &Store,
    connection: &Connection,
) -> Result<HashSet<String>, ConnectionError> {
    let rows =
        store.kalends_events_in_account(connection.id).await.map_err(ConnectionError::store)?;
    Ok(own_keys(rows))
}

/// What identifies the tenant's own events in an account: the provider ids recorded, and the
/// creation keys (upper case) of every (booking, connection) written there, which tell an event
/// whose create has not been recorded yet (Graph's delta carries no extended properties).
fn own_keys(events: impl IntoIterator<Item = (Uuid, Uuid, Option<String>)>) -> HashSet<String> {
    let mut own = HashSet::new();
    for (booking_id, connection_id, remote_id) in events {
        let key = EventKey { booking_id, connection_id };
        own.insert(key.transaction_id().to_uppercase());
        own.insert(key.google_event_id().to_uppercase());
        own.extend(remote_id);
    }
    own
}

fn outcome(result: &Result<Imported, ConnectionError>) -> &'static str {
    match result {
        Ok(imported) if imported.unread.is_empty() => "ok",
        Ok(_) => "failed",
        Err(error) if error.is_retryable() => "retry",
        Err(_) => "failed",
    }
}

/// The job's answer to a failed import. A dead grant has parked the connection already
/// (`needs_reauth`, so the scheduler skips it until a reconnect): nothing to retry. A failure
/// retrying cannot fix is kept as the connection's last error.
async fn answer(
    store: &Store,
    connection: &Connection,
    error: ConnectionError,
) -> Result<(), JobError> {
    match &error {
        ConnectionError::Provider(ProviderError::DeadGrant { .. })
        | ConnectionError::Disconnected => {
            tracing::info!(%error, "calendar import parked");
            Ok(())
        }
        _ if error.is_retryable() => {
            let retry_after = match &error {
                ConnectionError::Provider(e) => e.retry_after(),
                _ => None,
            };
            Err(JobError::transient_from(error, retry_after))
        }
        _ => failed(store, connection, error).await,
    }
}

/// Keeps `error`, which retrying cannot mend, as the connection's last error.
async fn failed(
    store: &Store,
    connection: &Connection,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Result<(), JobError> {
    let message = error.to_string();
    tracing::warn!(error = message, "calendar import failed");
    store.note_connection_error(connection.id, &message).await?;
    Err(JobError::permanent_from(error))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone as _};

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, day, hour, 0, 0).unwrap()
    }

    fn event(id: &str, busy: bool, booking: Option<Uuid>) -> RemoteEvent {
        RemoteEvent {
            id: id.into(),
            summary: Some("Dentist".into()),
            time: Span::Timed { start: at(2, 9), end: at(2, 10) },
            zone: TimeZone::UTC,
            busy,
            booking_id: booking,
            connection_id: None,
            tenant_id: None,
            creation_key: None,
            etag: None,
        }
    }

    #[test]
    fn free_and_kalends_events_are_not_busy_and_stored_ones_go() {
        let window = Window { start: at(1, 0), end: at(20, 0) };
        let zone: TimeZone = "Europe/Amsterdam".parse().unwrap();
        let own: HashSet<String> = ["pushed".to_owned()].into();
        let tenant = Uuid::from_u128(9);
        let judged = |e: RemoteEvent| judge(Change::Upserted(e), tenant, &own, window, zone);
        assert!(matches!(judged(event("a", true, None)), Some(BusyChange::Busy(_))));
        for not_busy in [
            event("b", false, None),
            event("c", true, Some(Uuid::from_u128(1))),
            event("pushed", true, None),
        ] {
            let id = not_busy.id.clone();
            assert_eq!(judged(not_busy), Some(BusyChange::Free { remote_id: id }));
        }
        let mut past = event("p", true, None);
        past.time = Span::Timed { start: at(1, 0) - chrono::Duration::hours(2), end: at(1, 0) };
        assert_eq!(judged(past), Some(BusyChange::Free { remote_id: "p".into() }));
    }

    #[test]
    fn a_change_beyond_the_window_is_left_to_the_listing_of_later_events() {
        let window = Window { start: at(1, 0), end: at(20, 0) };
        let zone: TimeZone = "UTC".parse().unwrap();
        let mut late = event("d", true, None);
        late.time = Span::Timed { start: at(25, 9), end: at(25, 10) };
        assert_eq!(judge(Change::Upserted(late), Uuid::nil(), &HashSet::new(), window, zone), None);
        let mut across = event("e", true, None);
        across.time = Span::Timed { start: at(19, 9), end: at(21, 10) };
        let judged = judge(Change::Upserted(across), Uuid::nil(), &HashSet::new(), window, zone);
        assert!(matches!(judged, Some(BusyChange::Busy(_))), "{judged:?}");
    }

    #[test]
    fn a_cursor_keeps_the_window_of_its_listing_for_a_month() {
        let cursor = |listed_at| CalendarCursor { cursor: "token".into(), listed_at };
        let now = at(31, 12);
        let listed = at(10, 12);
        assert_eq!(cursor_window(&cursor(Some(listed)), now), Some(window_around(listed)));
        let old = listed - chrono::Duration::days(RELIST_AFTER_DAYS);
        assert_eq!(cursor_window(&cursor(Some(old)), now), None, "relisted when old");
        assert_eq!(cursor_window(&cursor(None), now), None, "relisted when not known");
    }

    #[test]
    fn another_connections_booking_is_not_busy_but_another_tenants_is() {
        let window = Window { start: at(1, 0), end: at(20, 0) };
        let zone: TimeZone = "UTC".parse().unwrap();
        let (tenant, stranger) = (Uuid::from_u128(9), Uuid::from_u128(10));
        let booked = |by: Option<Uuid>| RemoteEvent {
            connection_id: Some(Uuid::from_u128(5)),
            tenant_id: by,
            ..event("x", true, Some(Uuid::from_u128(1)))
        };
        let judged = |e| judge(Change::Upserted(e), tenant, &HashSet::new(), window, zone);
        assert!(matches!(judged(booked(Some(tenant))), Some(BusyChange::Free { .. })));
        assert!(matches!(judged(booked(None)), Some(BusyChange::Free { .. })), "older: ours");
        assert!(matches!(judged(booked(Some(stranger))), Some(BusyChange::Busy(_))));
    }

    #[test]
    fn an_event_another_connection_is_still_creating_is_not_busy() {
        // Graph's delta carries no extended properties, and the other connection has not yet
        // recorded the new event's id: its transactionId, known before the create, tells it.
        let window = Window { start: at(1, 0), end: at(20, 0) };
        let zone: TimeZone = "UTC".parse().unwrap();
        let key = EventKey { booking_id: Uuid::from_u128(1), connection_id: Uuid::from_u128(5) };
        let own = own_keys([(key.booking_id, key.connection_id, None)]);
        let creating = RemoteEvent {
            creation_key: Some(key.transaction_id().to_lowercase()),
            ..event("AAMkAD-new", true, None)
        };
        let judged = judge(Change::Upserted(creating), Uuid::from_u128(9), &own, window, zone);
        assert_eq!(judged, Some(BusyChange::Free { remote_id: "AAMkAD-new".into() }));
        let stranger = RemoteEvent { creation_key: Some("OTHER".into()), ..event("b", true, None) };
        let judged = judge(Change::Upserted(stranger), Uuid::from_u128(9), &own, window, zone);
        assert!(matches!(judged, Some(BusyChange::Busy(_))));
    }

    #[test]
    fn all_day_events_keep_their_dates() {
        let zone: TimeZone = "Europe/Amsterdam".parse().unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2030, 1, d).unwrap();
        let mut holiday = event("h", true, None);
        holiday.time = Span::AllDay { start: day(3), end: day(5) };
        let (busy, ..) = busy_event(&holiday, Uuid::nil(), &HashSet::new(), zone).unwrap();
        assert_eq!(busy.span, Span::AllDay { start: day(3), end: day(5) });
    }

    #[test]
    fn free_busy_is_asked_from_yesterdays_midnight_in_pieces_of_sixty_days_at_most() {
        let window = free_busy_window(at(10, 12));
        assert_eq!(window.start, at(9, 0));
        assert_eq!(window.end, Utc.with_ymd_and_hms(2031, 7, 9, 0, 0, 0).unwrap());
        let pieces = pieces(window);
        assert_eq!(pieces.len(), 10, "546 days in pieces of 60");
        assert_eq!((pieces[0].start, pieces[9].end), (window.start, window.end));
        assert!(pieces.windows(2).all(|p| p[0].end == p[1].start), "no gap, no overlap");
        assert!(pieces.iter().all(|p| p.end - p.start <= chrono::Duration::days(60)));
    }

    #[test]
    fn free_busy_split_by_pieces_or_overlapping_is_one_busy_time_with_a_lasting_id() {
        let interval = |start, end| BusyInterval { start, end };
        let busy = free_busy_events(vec![
            interval(at(3, 9), at(3, 10)),
            interval(at(2, 22), at(3, 0)),
            interval(at(3, 0), at(3, 2)),
            interval(at(3, 9), at(3, 9)),
            interval(at(3, 9), at(3, 11)),
        ]);
        let spans: Vec<Span> = busy.iter().map(|b| b.span).collect();
        assert_eq!(
            spans,
            [
                Span::Timed { start: at(2, 22), end: at(3, 2) },
                Span::Timed { start: at(3, 9), end: at(3, 11) }
            ]
        );
        let again = free_busy_events(vec![interval(at(3, 9), at(3, 11))]);
        assert_eq!(again[0].remote_id, busy[1].remote_id);
        assert!(busy.iter().all(|b| b.summary.is_none()));
    }

    #[test]
    fn the_window_is_yesterday_to_eighteen_months_ahead() {
        let window = window_around(at(10, 12));
        assert_eq!(window.start, at(9, 12));
        assert_eq!(window.end, Utc.with_ymd_and_hms(2031, 7, 10, 12, 0, 0).unwrap());
    }
}
