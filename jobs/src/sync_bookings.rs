//! `sync_bookings`: bring every calendar a set of bookings belongs in up to date with each
//! booking's current version, and take each out of the calendars it no longer belongs in (it was
//! cancelled, or its staff member taken off it). The one job for a booking's calendars: a new
//! booking, a change, a cancellation, a reconnect's replay and a burst under load all come here,
//! one booking or up to fifty of a tenant (the outbox relay gathers them; nothing else batches).
//!
//! The job re-reads the bookings, so a job queued for an old version converges to the current
//! one and never regresses it. Each booking is written under its own sync lease (taken together,
//! in one statement); a booking whose lease another worker holds waits for it in a later job
//! with the others found busy (the only way a busy lease is handled): at the lease's end when it
//! is kept after a write that got no answer, else half a second on. A run costs one read of the
//! bookings, the tenant, their calendars and their events, one statement marking the new events
//! `pending` before their provider calls, one transaction recording what the calendars now hold
//! and one record of the attempts. Each target is written idempotently (Google: an event id
//! derived from booking and connection; Microsoft: a `transactionId`; CalDAV: a resource name
//! from the same key), after its `pending` row is stored, so a retry after a crash finds what it
//! was doing. A target that fails transiently makes the job retry with the bookings it failed
//! for; the targets already written are skipped by their synced version, and those that refused
//! a booking for good by the job's list of them (each is told `booking.sync_failed` once).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kalends_core::calendar_item::{Audience, CalendarItem};
use kalends_core::domain::{
    Booking, BookingStatus, Connection, ConnectionStatus, Provider, Tenant,
};
use kalends_core::job::{Job, Lane, Refused};
use kalends_core::webhooks::{WebhookEvent, booking_sync_data};
use kalends_providers::ProviderError;
use kalends_providers::calendar::{EventDraft, EventKey, RemoteEvent, Window};
use kalends_providers::session::{ConnectionError, Credentials};
use kalends_store::{BookingEvent, EventState, LEFT_DELETED, Lease, SyncedEvent, lease_end};
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;

/// How many bookings of the run are pushed at once (their calendars may be the same one).
const PARALLEL: usize = 8;

/// How long a booking whose lease another worker holds waits before its next job runs.
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// How long one sync of a booking holds its lease without renewing it (a killed worker's lease
/// runs out after this); a running sync renews it every third of it. One sync of a booking at a
/// time: otherwise a job that read an older version could write its content (or its staff's
/// calendars) after a job that read the newer one.
const LEASE: Duration = Duration::from_secs(60);

/// What one job brings: bookings of a tenant, on a lane.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Owner of the bookings.
    pub tenant_id: Uuid,
    /// The bookings.
    pub booking_ids: &'a [Uuid],
    /// The queue lane the job came on (the bookings that another worker is syncing wait on
    /// the same lane).
    pub lane: Lane,
    /// The calendars that refused a booking for good in the job's earlier attempts.
    pub refused: &'a [Refused],
}

/// Runs the job for `batch`.
#[tracing::instrument(skip_all, fields(tenant_id = %batch.tenant_id, bookings = batch.booking_ids.len()))]
pub async fn run(
    store: &Store,
    credentials: &Credentials,
    batch: Batch<'_>,
) -> Result<(), JobError> {
    let Batch { tenant_id, booking_ids, lane, refused } = batch;
    let held = lease_end(LEASE);
    let Leases { taken, existing } = take_leases(store, tenant_id, booking_ids, held).await?;
    let settle = credentials.providers().timeout();
    // Another worker is syncing these, or a write of theirs may still land: they wait for it,
    // in jobs that re-read them. (A gone booking is not busy: nothing waits for it.)
    let busy: Vec<Uuid> = existing.iter().filter(|id| !taken.contains(id)).copied().collect();
    let queued = async {
        for (at, booking_ids) in waits(store, &busy, settle).await? {
            store.enqueue_at(&Job::sync_bookings_on(tenant_id, booking_ids, lane), at).await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(e) = queued.await {
        // Nothing was done under the leases taken: they go, and the retry takes them again.
        store.release_leases(&Lease::BOOKING_SYNC, &taken).await?;
        return Err(e.into());
    }
    if taken.is_empty() {
        return Ok(());
    }
    // The run's events go into a few calendars: each token is read once for the run.
    let credentials = credentials.for_one_run();
    // A long sync (many calendars, a provider asking to wait) keeps its leases: were one to run
    // out, a newer job could write its version and this one overwrite it with older content.
    let leased = {
        let work = converge_all(store, &credentials, tenant_id, &taken, refused);
        store.hold_many(&Lease::BOOKING_SYNC, &taken, held, LEASE, work)
    };
    let Some(result) = leased.await? else {
        // Lost (the database was unreachable for a whole lease): `converge_all` was stopped
        // before recording anything more; the job is retried.
        return Err(JobError::transient("lost the bookings' sync leases"));
    };
    let Converged { unanswered, again, refused: newly, answer } = match result {
        Ok(converged) => converged,
        // A database failure ended the run, perhaps after calls nobody heard back from: every
        // booking is treated as one whose call went unanswered.
        Err(error) => {
            let (unanswered, again) = (taken.clone(), taken.clone());
            Converged { unanswered, again, refused: Vec::new(), answer: Err(error) }
        }
    };
    // The retry brings only the bookings that failed for the moment, and leaves alone the
    // calendars that refused one of them for good: those were told once, not at each retry.
    let answer = answer.map_err(|error| {
        let refused = refused.iter().chain(&newly).copied();
        let refused = refused.filter(|r| again.contains(&r.booking_id)).collect();
        error.retrying_only(Job::SyncBookings { tenant_id, booking_ids: again, lane, refused })
    });
    let done: Vec<Uuid> = taken.iter().filter(|id| !unanswered.contains(id)).copied().collect();
    store.release_leases(&Lease::BOOKING_SYNC, &done).await?;
    if unanswered.is_empty() {
        return answer;
    }
    // A write that got no answer may still land at the provider: its booking keeps its lease
    // (and the instant it was taken) for as long as a call may take from now, so that neither
    // the booking's next sync nor a disconnect's cleanup, which waits for the syncs under way
    // when it began, looks at that calendar before then.
    store.keep_leases(&Lease::BOOKING_SYNC, &unanswered, lease_end(settle)).await?;
    answer.map_err(|error| error.retried_no_sooner_than(settle))
}

/// When the `busy` bookings, whose leases others hold, are looked at again: a lease kept after
/// a write that got no answer ends at most `settle` (the provider timeout) from now, and its
/// bookings wait for that end in one job; a running sync renews its lease to a full [`LEASE`]
/// ahead, always further, and its bookings are looked at again after [`BUSY_RETRY`] (the sync
/// is most likely done by then).
async fn waits(
    store: &Store,
    busy: &[Uuid],
    settle: Duration,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, Vec<Uuid>)>, StoreError> {
    if busy.is_empty() {
        return Ok(Vec::new());
    }
    let now = chrono::Utc::now();
    let after = |wait| now + chrono::Duration::from_std(wait).unwrap_or_default();
    let (soon, kept_at_most) = (after(BUSY_RETRY), after(settle));
    let mut kept = store.lease_ends(&Lease::BOOKING_SYNC, busy).await?;
    kept.retain(|&(_, end)| end <= kept_at_most);
    let kept_end = kept.iter().map(|&(_, end)| end).max().filter(|&end| end > soon);
    let Some(kept_end) = kept_end else {
        return Ok(vec![(soon, busy.to_vec())]);
    };
    let (kept, running): (Vec<Uuid>, Vec<Uuid>) =
        busy.iter().copied().partition(|id| kept.iter().any(|(key, _)| key == id));
    let waits = [(soon, running), (kept_end, kept)];
    Ok(waits.into_iter().filter(|(_, ids)| !ids.is_empty()).collect())
}

/// What a run of [`converge_all`] left behind.
struct Converged {
    /// The bookings one of whose provider calls went unanswered.
    unanswered: Vec<Uuid>,
    /// The bookings to try again: one of their calendars failed for the moment.
    again: Vec<Uuid>,
    /// The calendars that refused a booking for good in this run.
    refused: Vec<Refused>,
    /// The job's answer: what the providers refused.
    answer: Result<(), JobError>,
}

/// The sync leases a run took, of the bookings it found.
struct Leases {
    /// Leased by this run.
    taken: Vec<Uuid>,
    /// The bookings named that exist (those not taken are another worker's).
    existing: Vec<Uuid>,
}

/// Takes the sync leases of those of `ids` that exist (a lease names an existing booking; one
/// whose tenant was deleted has nothing left to bring anywhere) until `held`.
async fn take_leases(
    store: &Store,
    tenant_id: Uuid,
    ids: &[Uuid],
    held: chrono::DateTime<chrono::Utc>,
) -> Result<Leases, JobError> {
    match store.take_leases(&Lease::BOOKING_SYNC, ids, held).await {
        Err(StoreError::ForeignKey) => {
            let existing: Vec<Uuid> =
                store.bookings_by_ids(tenant_id, ids).await?.iter().map(|b| b.id).collect();
            // Gone in between too: the retry sorts it out.
            let taken = store.take_leases(&Lease::BOOKING_SYNC, &existing, held).await?;
            Ok(Leases { taken, existing })
        }
        taken => Ok(Leases { taken: taken?, existing: ids.to_vec() }),
    }
}

/// Converges every booking of `ids` (leased by the caller), leaving alone the calendars that
/// `refused` a booking's version for good in an earlier attempt, and records one attempt for
/// each.
async fn converge_all(
    store: &Store,
    credentials: &Credentials,
    tenant_id: Uuid,
    ids: &[Uuid],
    refused: &[Refused],
) -> Result<Converged, JobError> {
    // Gone ones (their tenant was deleted) have nothing left to bring anywhere.
    let bookings = store.bookings_by_ids(tenant_id, ids).await?;
    if bookings.is_empty() {
        let (unanswered, again, refused) = (Vec::new(), Vec::new(), Vec::new());
        return Ok(Converged { unanswered, again, refused, answer: Ok(()) });
    }
    let tenant = store.tenant(tenant_id).await?;
    let mut staff: Vec<Uuid> = bookings
        .iter()
        .filter(|b| b.data.status != BookingStatus::Cancelled)
        .flat_map(|b| b.data.staff_ids.iter().copied())
        .collect();
    staff.sort_unstable();
    staff.dedup();
    let connections = store.default_connections_of_staff(tenant_id, &staff).await?;
    let events = store.booking_events_of(tenant_id, ids).await?;
    let gathered = Mutex::new(Vec::new());
    let listed = Listed::around(&bookings);
    // A few at a time (named futures: a closure here trips the compiler's check that the job's
    // future is `Send`).
    let mut runs = Vec::with_capacity(bookings.len());
    for chunk in bookings.chunks(PARALLEL) {
        let marked = mark_new_events(store, chunk, &connections, &events).await?;
        let record = Record { gathered: &gathered, marked: &marked, listed: &listed, refused };
        let mut batch = Vec::with_capacity(chunk.len());
        for booking in chunk {
            let on = On { store, credentials, tenant: &tenant, record: &record };
            batch.push(converge_one(on, booking, &connections, &events));
        }
        runs.extend(futures::future::join_all(batch).await);
    }
    // What the calendars now hold, in one transaction.
    let synced = gathered.into_inner().unwrap_or_else(PoisonError::into_inner);
    store.events_synced(tenant_id, &synced).await?;
    // A booking whose run ended on a database failure is not recorded (its retry is).
    let attempts: Vec<(Uuid, i64, &str)> = runs
        .iter()
        .filter(|(_, run)| run.is_ok())
        .map(|(b, _)| (b.id, b.version, action(b)))
        .collect();
    store.record_sync_attempts(tenant_id, &attempts).await?;
    let mut failures = Failures::default();
    let (mut unanswered, mut again, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for (booking, run) in runs {
        let mut run: Failures = run?;
        if run.unanswered {
            unanswered.push(booking.id);
        }
        if run.unanswered || run.transient.is_some() {
            again.push(booking.id);
        }
        refused.extend(run.refused.drain(..).map(|connection_id| Refused {
            booking_id: booking.id,
            connection_id,
            version: booking.version,
        }));
        failures.merge(run);
    }
    Ok(Converged { unanswered, again, refused, answer: failures.answer() })
}

/// Marks the events that `bookings` will create (none yet in a connected calendar that has a
/// destination) `pending`, in one statement, before any of their provider calls; the pushes then
/// skip that write. Events that exist, or wait for a reconnect, are marked by their own push.
async fn mark_new_events(
    store: &Store,
    bookings: &[Booking],
    connections: &[Connection],
    events: &[BookingEvent],
) -> Result<HashSet<(Uuid, Uuid)>, StoreError> {
    let mut new_events = Vec::new();
    for booking in bookings {
        for connection in targets(booking, connections) {
            let exists = events
                .iter()
                .any(|e| e.booking_id == booking.id && e.connection_id == connection.id);
            let active = connection.status != ConnectionStatus::NeedsReauth;
            if let Some(calendar) = connection.destination_calendar_id.as_deref()
                && active
                && !exists
            {
                new_events.push((booking, connection, calendar));
            }
        }
    }
    store.events_pending(&new_events).await?;
    Ok(new_events.iter().map(|(b, c, _)| (b.id, c.id)).collect())
}

/// The connections of `connections` (its staff's default ones, oldest first) a booking is
/// written into: its staff's, unless it is cancelled.
fn targets<'c>(booking: &Booking, connections: &'c [Connection]) -> Vec<&'c Connection> {
    match booking.data.status {
        BookingStatus::Cancelled => Vec::new(),
        BookingStatus::Tentative | BookingStatus::Confirmed => {
            connections.iter().filter(|c| booking.data.staff_ids.contains(&c.staff_id)).collect()
        }
    }
}

/// What every booking of the run works with.
#[derive(Clone, Copy)]
struct On<'a> {
    store: &'a Store,
    credentials: &'a Credentials,
    tenant: &'a Tenant,
    record: &'a Record<'a>,
}

/// Converges one booking of the run, its targets picked from the run's `connections` by its
/// staff and its events from `events`.
async fn converge_one<'a>(
    on: On<'_>,
    booking: &'a Booking,
    connections: &[Connection],
    events: &[BookingEvent],
) -> (&'a Booking, Result<Failures, StoreError>) {
    let targets = targets(booking, connections);
    let existing: Vec<&BookingEvent> =
        events.iter().filter(|e| e.booking_id == booking.id).collect();
    let On { store, credentials, tenant, record } = on;
    let run = converge(store, credentials, tenant, booking, &targets, &existing, record).await;
    (booking, run)
}

/// What went wrong across the targets; the worst decides the job's answer.
#[derive(Default)]
struct Failures {
    transient: Option<(String, Option<Duration>)>,
    permanent: Option<String>,
    /// A call went unanswered: what it wrote may still land.
    unanswered: bool,
    /// The connections whose calendars refused the booking for good.
    refused: Vec<Uuid>,
}

impl Failures {
    /// Adds what went wrong in the calendar of `connection_id`.
    fn add(&mut self, connection_id: Uuid, error: &ConnectionError) {
        if matches!(error, ConnectionError::Provider(ProviderError::DeadGrant { .. })) {
            // Parked with the connection (`needs_reauth`): the reconnect replays it.
            return;
        }
        self.unanswered |= match error {
            ConnectionError::Provider(e) => e.may_still_land(),
            // The database failed around the call (recording its outcome, say): what the call
            // did is not known.
            ConnectionError::Store(_) => true,
            ConnectionError::Disconnected => false,
        };
        if error.is_retryable() {
            let hint = match error {
                ConnectionError::Provider(e) => e.retry_after(),
                _ => None,
            };
            let longest = self.transient.as_ref().and_then(|(_, h)| *h).max(hint);
            self.transient = Some((error.to_string(), longest));
        } else {
            self.permanent.get_or_insert_with(|| error.to_string());
            self.refused.push(connection_id);
        }
    }

    /// Adds what went wrong for another booking of the same run.
    fn merge(&mut self, other: Failures) {
        if let Some((message, hint)) = other.transient {
            let longest = self.transient.as_ref().and_then(|(_, h)| *h).max(hint);
            self.transient = Some((message, longest));
        }
        if let Some(message) = other.permanent {
            self.permanent.get_or_insert(message);
        }
    }

    fn answer(self) -> Result<(), JobError> {
        match (self.transient, self.permanent) {
            (Some((message, retry_after)), _) => {
                Err(JobError::transient_after(message, retry_after))
            }
            (None, Some(message)) => Err(JobError::permanent(message)),
            (None, None) => Ok(()),
        }
    }
}

/// What a sync of the booking is recorded as (`sync_attempts.kind`).
fn action(booking: &Booking) -> &'static str {
    match booking.data.status {
        BookingStatus::Cancelled => "delete_booking",
        BookingStatus::Tentative | BookingStatus::Confirmed => "sync_booking",
    }
}

/// Brings the calendars of `targets` (the booking's default connections; none once cancelled)
/// up to date with the booking, and takes it out of the calendars of its `existing` events that
/// are no longer targets; the caller holds the booking's sync lease. What the providers refused
/// is in the answer; a database failure ends it. What the calendars now hold is gathered in
/// `record`.
async fn converge(
    store: &Store,
    credentials: &Credentials,
    tenant: &Tenant,
    booking: &Booking,
    targets: &[&Connection],
    existing: &[&BookingEvent],
    record: &Record<'_>,
) -> Result<Failures, StoreError> {
    let mut failures = Failures::default();
    let refused = |connection_id| {
        let this = Refused { booking_id: booking.id, connection_id, version: booking.version };
        record.refused.contains(&this)
    };
    for connection in targets.iter().filter(|c| !refused(c.id)) {
        let current = existing.iter().copied().find(|e| e.connection_id == connection.id);
        let pushed = push(store, credentials, tenant, booking, connection, current, record);
        if let Err(e) = pushed.await {
            failures.add(connection.id, &e);
        }
    }
    for event in existing {
        if targets.iter().any(|t| t.id == event.connection_id) || refused(event.connection_id) {
            continue;
        }
        if event.state == EventState::Deleted {
            // Already out of that calendar (a hand deletion left as is, say): nothing to
            // decide about it any more.
            settle_external_edit(store, Some(event)).await?;
            continue;
        }
        if let Err(e) = remove(store, credentials, tenant, booking, event, record).await {
            failures.add(event.connection_id, &e);
        }
    }
    Ok(failures)
}

/// The event for `booking` in the calendar of the connection `key` names: its calendar item for
/// a staff calendar (the tenant's privacy setting, colours and reminders). Providers ignore the
/// zone of whole days, so the tenant's zone does for placing them.
fn event_for(tenant: &Tenant, booking: &Booking, key: EventKey) -> EventDraft {
    let settings = &tenant.settings;
    let item = CalendarItem::from_booking(booking, settings.time_zone, Audience::Staff(settings));
    EventDraft::new(key, tenant.id, item)
}

/// Where a run records the events the calendars now hold: gathered, and recorded together once
/// the run is done. Until then the events stay pending, and a run that dies before it records
/// them writes them again (each write is idempotent), as after any crash between a write and its
/// record.
struct Record<'a> {
    gathered: &'a Mutex<Vec<SyncedEvent>>,
    /// The (booking, connection) pairs whose `pending` row the run already wrote, together,
    /// before their pushes.
    marked: &'a HashSet<(Uuid, Uuid)>,
    /// Kalends' events of the calendars a lookup listed.
    listed: &'a Listed,
    /// The calendars that refused a booking for good in the job's earlier attempts: left be.
    refused: &'a [Refused],
}

/// The Kalends events of each calendar (connection and calendar id) that this run looked
/// through for creates whose answer was lost, listed once over the window of all its bookings:
/// after a throttled run, every booking retried may need the lookup, and a calendar of
/// thousands of events listed once per booking would cost thousands of requests each.
struct Listed {
    window: Window,
    calendars: tokio::sync::Mutex<HashMap<(Uuid, String), Vec<RemoteEvent>>>,
}

impl Listed {
    /// For the run's `bookings`: their events may still hold an older time, so the window
    /// reaches generously around them.
    fn around(bookings: &[Booking]) -> Self {
        let bounds = bookings.iter().map(|b| b.data.span.rough_bounds());
        let (start, end) = bounds
            .reduce(|(s1, e1), (s2, e2)| (s1.min(s2), e1.max(e2)))
            .unwrap_or_else(|| (chrono::Utc::now(), chrono::Utc::now()));
        let margin = chrono::Duration::days(400);
        let window = Window { start: start - margin, end: end + margin };
        Self { window, calendars: tokio::sync::Mutex::default() }
    }
}

/// Whether the booking's event in `calendar` needs no write: written at this version, or
/// deleted by the staff member at this version and left so (`external_edit_policy: accept`).
/// Only a new version of the booking writes it again.
fn up_to_date(event: &BookingEvent, calendar: &str, booking: &Booking) -> bool {
    let accepted_deletion =
        event.state == EventState::Deleted && event.last_error.as_deref() == Some(LEFT_DELETED);
    (event.state == EventState::Synced || accepted_deletion)
        && event.calendar_id == calendar
        && event.synced_version >= Some(booking.version)
}

/// Gathers that the provider took the booking's event (`remote`), with its `booking.synced`
/// event, for the run's one transaction.
fn synced(booking: &Booking, connection: &Connection, remote: RemoteEvent, record: &Record<'_>) {
    let data = booking_sync_data(
        booking.id,
        booking.version,
        connection.id,
        &connection.provider.to_string(),
        Some(&remote.id),
        None,
    );
    let synced = SyncedEvent {
        booking_id: booking.id,
        connection_id: connection.id,
        remote_id: remote.id,
        remote_etag: remote.etag,
        version: booking.version,
        events: vec![WebhookEvent::new("booking.synced", data)],
    };
    record.gathered.lock().unwrap_or_else(PoisonError::into_inner).push(synced);
}

/// Writes the booking into one connection's destination calendar.
async fn push(
    store: &Store,
    credentials: &Credentials,
    tenant: &Tenant,
    booking: &Booking,
    connection: &Connection,
    current: Option<&BookingEvent>,
    record: &Record<'_>,
) -> Result<(), ConnectionError> {
    let Some(calendar) = connection.destination_calendar_id.clone() else {
        let why = "the connection has no destination calendar";
        pending(store, booking, connection, "", Some(why)).await?;
        return Err(ProviderError::permanent(0, why).into());
    };
    if current.is_some_and(|e| up_to_date(e, &calendar, booking)) {
        return Ok(());
    }
    if connection.status == ConnectionStatus::NeedsReauth {
        // Parked: replayed when the staff member reconnects.
        let why = "waiting for the calendar to be reconnected";
        pending(store, booking, connection, &calendar, Some(why)).await?;
        return Ok(());
    }
    // The destination changed since the event was written: take it out of the old calendar.
    if let Some(old) =
        current.filter(|e| e.calendar_id != calendar && e.state != EventState::Deleted)
    {
        delete_remote(credentials, connection, old, record.listed).await?;
    }
    let key = EventKey { booking_id: booking.id, connection_id: connection.id };
    let here = current.filter(|e| e.calendar_id == calendar);
    let remote_id = match here {
        Some(e) if e.remote_id.is_some() => e.remote_id.clone(),
        // An earlier attempt may have made the event and never heard back (a worker killed
        // between the write and recording it, a timeout). Graph answers a create with the same
        // `transactionId` with that event as it is, at the earlier version's time: find it and
        // update it instead.
        Some(e) if connection.provider == Provider::Microsoft => {
            let found = find_by_booking(credentials, connection, e, record.listed).await?;
            if let Some(id) = &found {
                tracing::info!(connection = %connection.id, remote_id = %id, "found the event of a create whose answer was lost; updating it");
            }
            found
        }
        _ => None,
    };
    if !record.marked.contains(&(booking.id, connection.id)) {
        pending(store, booking, connection, &calendar, None).await?;
    }
    let event = event_for(tenant, booking, key);
    let provider = credentials.providers().get(connection.provider);
    let result = credentials
        .with_token(connection, |token| {
            let (event, calendar, remote_id) = (&event, &calendar, remote_id.as_deref());
            let etag = here.and_then(|e| e.remote_etag.as_deref()).filter(|_| remote_id.is_some());
            async move { provider.upsert_event(&token, calendar, event, remote_id, etag).await }
        })
        .await;
    match result {
        Ok(remote) => {
            synced(booking, connection, remote, record);
            settle_external_edit(store, current).await.map_err(ConnectionError::store)?;
            Ok(())
        }
        Err(error) => {
            record_failure(store, booking, connection, &error)
                .await
                .map_err(ConnectionError::store)?;
            Err(error)
        }
    }
}

/// Records the booking's event in `calendar` as about to be written (or, with `why`, as waiting).
async fn pending(
    store: &Store,
    booking: &Booking,
    connection: &Connection,
    calendar: &str,
    why: Option<&str>,
) -> Result<(), ConnectionError> {
    let recorded = store.event_pending(booking, connection, calendar, None, why).await;
    recorded.map_err(ConnectionError::store)
}

/// Takes the booking's event out of a calendar it no longer belongs in.
async fn remove(
    store: &Store,
    credentials: &Credentials,
    tenant: &Tenant,
    booking: &Booking,
    event: &BookingEvent,
    record: &Record<'_>,
) -> Result<(), ConnectionError> {
    let connection =
        store.connection(tenant.id, event.connection_id).await.map_err(ConnectionError::store)?;
    if connection.status == ConnectionStatus::Revoked {
        // Disconnected: Kalends can no longer touch that calendar.
        store
            .event_finished(event.booking_id, event.connection_id, EventState::Deleted, None)
            .await
            .map_err(ConnectionError::store)?;
        settle_external_edit(store, Some(event)).await.map_err(ConnectionError::store)?;
        return Ok(());
    }
    match delete_remote(credentials, &connection, event, record.listed).await {
        Ok(()) => {
            store
                .event_finished(event.booking_id, event.connection_id, EventState::Deleted, None)
                .await
                .map_err(ConnectionError::store)?;
            settle_external_edit(store, Some(event)).await.map_err(ConnectionError::store)?;
            Ok(())
        }
        Err(error) => {
            record_failure(store, booking, &connection, &error)
                .await
                .map_err(ConnectionError::store)?;
            Err(error)
        }
    }
}

async fn delete_remote(
    credentials: &Credentials,
    connection: &Connection,
    event: &BookingEvent,
    listed: &Listed,
) -> Result<(), ConnectionError> {
    let provider = credentials.providers().get(connection.provider);
    let key = EventKey { booking_id: event.booking_id, connection_id: connection.id };
    // Google's and CalDAV's ids are known before the event exists.
    let known = event.remote_id.clone().or_else(|| key.known_remote_id(connection.provider));
    let remote_id = match known {
        Some(id) => id,
        // A Microsoft create whose answer was lost (a killed worker, a dropped connection) may
        // still have made the event: look for it by its booking property around the booking.
        None => match find_by_booking(credentials, connection, event, listed).await? {
            Some(id) => id,
            None => return Ok(()),
        },
    };
    credentials
        .with_token(connection, |token| {
            let (calendar, remote_id) = (&event.calendar_id, &remote_id);
            let etag = event.remote_etag.as_deref().filter(|_| event.remote_id.is_some());
            async move { provider.delete_event(&token, calendar, remote_id, etag).await }
        })
        .await
        .map(|_gone_already| ())
}

/// The id of the event carrying this booking's property in the connection's calendar, looked up
/// in the run's one listing of that calendar ([`Listed`]).
async fn find_by_booking(
    credentials: &Credentials,
    connection: &Connection,
    event: &BookingEvent,
    listed: &Listed,
) -> Result<Option<String>, ConnectionError> {
    let mut calendars = listed.calendars.lock().await;
    let key = (connection.id, event.calendar_id.clone());
    let found = match calendars.entry(key) {
        std::collections::hash_map::Entry::Occupied(listing) => listing.into_mut(),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let provider = credentials.providers().get(connection.provider);
            let (calendar, window) = (&event.calendar_id, listed.window);
            let listing = credentials
                .with_token(connection, |token| async move {
                    provider.list_kalends_events(&token, calendar, window).await
                })
                .await?;
            slot.insert(listing)
        }
    };
    // Only this connection's: another one sharing the mailbox may hold an event for the same
    // booking (both staff members assigned). An older event without the connection property is
    // told by its transactionId.
    Ok(found
        .iter()
        .find(|e| {
            e.booking_id == Some(event.booking_id)
                && e.writer(connection.id) != kalends_providers::calendar::Writer::Another
        })
        .map(|e| e.id.clone()))
}

/// The event was written again (or taken out): an external edit left as is no longer stands, so
/// its conflict resolves. Only events that were ever edited by hand cost a query.
async fn settle_external_edit(
    store: &Store,
    event: Option<&BookingEvent>,
) -> Result<(), StoreError> {
    if let Some(event) = event.filter(|e| e.external_edit.is_some()) {
        store.resolve_external_edit(event.booking_id, event.connection_id).await?;
    }
    Ok(())
}

/// A transient failure keeps the event pending with the reason; a dead grant parks it (the
/// connection is `needs_reauth` already); anything else fails it with the provider's words.
async fn record_failure(
    store: &Store,
    booking: &Booking,
    connection: &Connection,
    error: &ConnectionError,
) -> Result<(), StoreError> {
    let message = error.to_string();
    let state = match error {
        ConnectionError::Provider(ProviderError::DeadGrant { .. }) => EventState::Pending,
        e if e.is_retryable() => EventState::Pending,
        _ => EventState::Failed,
    };
    let mut events = Vec::new();
    if state == EventState::Failed {
        let (provider, error) = (connection.provider.to_string(), Some(message.as_str()));
        let data =
            booking_sync_data(booking.id, booking.version, connection.id, &provider, None, error);
        events.push(WebhookEvent::new("booking.sync_failed", data));
    }
    store.event_finished_with(booking.id, connection.id, state, Some(&message), &events).await
}
