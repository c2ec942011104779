//! `sync_bookings`: [`sync_booking`](crate::sync_booking) for several bookings of one tenant in
//! one run, the unit of work under load. The outbox relay turns the `SyncBooking`s of a tenant
//! it moves together into one of these, so a burst of bookings costs one lease statement, one
//! read of the bookings, the tenant, their calendars and their events, one transaction recording
//! what the calendars now hold and one record of the attempts per batch instead of per booking.
//! Each event's `pending` row is still written before its provider call: a new event's together
//! with those of the other bookings pushed at the same time. Each booking is still written under
//! its own sync lease (taken together, in one statement), converged to its current version like a
//! `sync_booking` (so a retry after a crash skips what was written), and a booking whose lease
//! another worker holds gets a `sync_booking` of its own that waits for it.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kalends_core::domain::{Booking, BookingStatus, Connection, ConnectionStatus, Tenant};
use kalends_core::job::Job;
use kalends_providers::session::Credentials;
use kalends_store::{BookingEvent, Lease};
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use crate::lease::{hold_many, lease_end};
use crate::sync_booking::{Failures, LEASE, Record, action, converge_read};

/// How many bookings of the batch are pushed at once (their calendars may be the same one).
const PARALLEL: usize = 8;

/// How long a booking whose lease another worker holds waits before its own job runs.
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// Runs the job for `booking_ids`, bookings of `tenant_id`.
#[tracing::instrument(skip_all, fields(%tenant_id, bookings = booking_ids.len()))]
pub async fn run(
    store: &Store,
    credentials: &Credentials,
    tenant_id: Uuid,
    booking_ids: &[Uuid],
) -> Result<(), JobError> {
    let held = lease_end(LEASE);
    let taken = match store.take_leases(&Lease::BOOKING_SYNC, booking_ids, held).await {
        Ok(taken) => taken,
        // One of them is gone (a lease names an existing booking): each goes on alone, and the
        // gone one's job finds nothing to do, as it would have.
        Err(StoreError::ForeignKey) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    // Another worker is syncing these: each waits for it in a job of its own (re-reading the
    // booking then), as a `sync_booking` that found the lease taken would.
    let at = chrono::Utc::now() + chrono::Duration::from_std(BUSY_RETRY).unwrap_or_default();
    for booking_id in booking_ids.iter().filter(|id| !taken.contains(id)) {
        store.enqueue_at(&Job::SyncBooking { tenant_id, booking_id: *booking_id }, at).await?;
    }
    if taken.is_empty() {
        return Ok(());
    }
    // The batch's events go into a few calendars: each token is read once for the run.
    let credentials = credentials.for_one_run();
    let leased = {
        let work = converge_all(store, &credentials, tenant_id, &taken);
        hold_many(store, &Lease::BOOKING_SYNC, &taken, held, LEASE, work)
    };
    let Some(result) = leased.await? else {
        return Err(JobError::transient("lost the bookings' sync leases"));
    };
    store.release_leases(&Lease::BOOKING_SYNC, &taken).await?;
    result
}

/// Converges every booking of `ids` (leased by the caller) and records one attempt for each.
async fn converge_all(
    store: &Store,
    credentials: &Credentials,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<(), JobError> {
    // Gone ones (their tenant was deleted) have nothing left to bring anywhere.
    let bookings = store.bookings_by_ids(tenant_id, ids).await?;
    if bookings.is_empty() {
        return Ok(());
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
    let events = store.booking_events_of(ids).await?;
    let gathered = Mutex::new(Vec::new());
    // A few at a time (named futures: a closure here trips the compiler's check that the job's
    // future is `Send`).
    let mut runs = Vec::with_capacity(bookings.len());
    for chunk in bookings.chunks(PARALLEL) {
        let marked = mark_new_events(store, chunk, &connections, &events).await?;
        let record = Record::Later { gathered: &gathered, marked: &marked };
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
    // A booking whose run ended on a database failure is not recorded (its retry is), as with
    // `sync_booking`.
    let attempts: Vec<(Uuid, i64, &str)> = runs
        .iter()
        .filter(|(_, run)| run.is_ok())
        .map(|(b, _)| (b.id, b.version, action(b)))
        .collect();
    store.record_sync_attempts(tenant_id, &attempts).await?;
    let mut failures = Failures::default();
    for (_, run) in runs {
        let run: Result<Failures, StoreError> = run;
        failures.merge(run?);
    }
    failures.answer()
}

/// Marks the events that `bookings` will create (none yet in a connected calendar that has a
/// destination) `pending`, in one statement, as each push would before its provider call; the
/// pushes then skip that write. Events that exist, or wait for a reconnect, are marked by their
/// own push as in `sync_booking`.
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

/// The connections of `connections` a booking is written into: its staff's, unless it is
/// cancelled (oldest first, as `Store::sync_targets` has them).
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
/// staff (oldest first, as `Store::sync_targets` has them) and its events from `events`.
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
    let run = converge_read(store, credentials, tenant, booking, &targets, &existing, record).await;
    (booking, run)
}
