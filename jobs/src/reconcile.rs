//! `reconcile`: compare the events Kalends believes it made in a connection's destination
//! calendar (the `booking_events` mapping) with the events the calendar holds that carry
//! Kalends's booking property and were written by this connection (several connections may
//! write into one shared calendar; see `RemoteEvent::is_written_by`), and repair the
//! difference:
//!
//! - an event for a booking that no longer targets this calendar (cancelled, unassigned, another
//!   default) is an orphan: removed;
//! - two events for one booking: the one the mapping does not name is removed;
//! - a mapped event missing from the calendar (deleted by hand, lost by the provider) is written
//!   again by queuing the booking's sync.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use kalends_core::domain::{BookingStatus, Connection, ConnectionStatus};
use kalends_core::job::Job;
use kalends_providers::calendar::{RemoteEvent, Window, Writer};
use kalends_providers::session::{ConnectionError, Credentials};
use kalends_store::EventState;
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;

/// How far back and ahead the calendar is compared.
const PAST_DAYS: i64 = 1;
const FUTURE_DAYS: i64 = 548;

/// What a run repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Orphans and duplicates removed.
    pub removed: usize,
    /// Missing events queued to be written again.
    pub requeued: usize,
}

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %connection_id))]
pub async fn run(
    store: &Store,
    credentials: &Credentials,
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
    match reconcile(store, credentials, &connection).await {
        Ok(repairs) => {
            if repairs != Repairs::default() {
                tracing::info!(
                    removed = repairs.removed,
                    requeued = repairs.requeued,
                    "calendar reconciled"
                );
            }
            Ok(())
        }
        Err(ConnectionError::Store(e)) => Err(e.into()),
        Err(e) if e.is_retryable() => {
            let retry_after = match &e {
                ConnectionError::Provider(p) => p.retry_after(),
                _ => None,
            };
            Err(JobError::transient_from(e, retry_after))
        }
        // A dead grant parks the connection; nothing to reconcile until it is back.
        Err(ConnectionError::Provider(kalends_providers::ProviderError::DeadGrant { .. })) => {
            Ok(())
        }
        Err(e) => Err(JobError::permanent_from(e)),
    }
}

/// Compares and repairs one connection's destination calendar.
pub async fn reconcile(
    store: &Store,
    credentials: &Credentials,
    connection: &Connection,
) -> Result<Repairs, ConnectionError> {
    let Some(calendar) = connection.destination_calendar_id.clone() else {
        return Ok(Repairs::default());
    };
    let provider = credentials.providers().get(connection.provider);
    let now = Utc::now();
    let window =
        Window { start: now - Duration::days(PAST_DAYS), end: now + Duration::days(FUTURE_DAYS) };
    let remote = credentials
        .with_token(connection, |token| {
            let calendar = &calendar;
            async move { provider.list_kalends_events(&token, calendar, window).await }
        })
        .await?;
    let events = store.connection_events(connection.id).await.map_err(ConnectionError::store)?;
    let mapped: HashMap<Uuid, Option<String>> = events
        .into_iter()
        .filter(|e| e.calendar_id == calendar)
        .map(|e| (e.booking_id, e.remote_id))
        .collect();
    let calendar = Destination { store, credentials, connection, calendar: &calendar, window };
    let removed = calendar.remove_strays(&remote, &mapped).await?;
    let requeued =
        calendar.requeue_missing(&remote, &mapped).await.map_err(ConnectionError::store)?;
    let active = ConnectionStatus::Active;
    store.mark_connection(connection.id, active, None).await.map_err(ConnectionError::store)?;
    Ok(Repairs { removed, requeued })
}

/// The calendar a reconciliation repairs, and what it reads and writes through.
struct Destination<'a> {
    store: &'a Store,
    credentials: &'a Credentials,
    connection: &'a Connection,
    calendar: &'a str,
    window: Window,
}

impl Destination<'_> {
    /// Removes the events of `remote` this connection wrote that no longer belong here, or that
    /// are not the one recorded for their booking (duplicates); how many.
    async fn remove_strays(
        &self,
        remote: &[RemoteEvent],
        mapped: &HashMap<Uuid, Option<String>>,
    ) -> Result<usize, ConnectionError> {
        let (store, connection) = (self.store, self.connection);
        let recorded: HashSet<String> = mapped.values().flatten().cloned().collect();
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut removed = 0;
        for event in remote {
            let Some(booking_id) = event.booking_id else { continue };
            // Another connection's event in a shared calendar (two staff members on one
            // account) is that connection's to judge.
            let mine = written_here(store, connection, event, &recorded).await;
            if !mine.map_err(ConnectionError::store)? {
                continue;
            }
            let belongs = belongs_here(store, connection, booking_id, self.window).await;
            let keep = belongs.map_err(ConnectionError::store)?.0
                && mapped
                    .get(&booking_id)
                    .is_some_and(|id| id.as_deref().is_none_or(|id| id == event.id))
                && seen.insert(booking_id);
            if !keep {
                delete(self.credentials, connection, self.calendar, event).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Queues the bookings whose recorded event is missing from `remote` (and that still belong
    /// here) to be written again; how many.
    async fn requeue_missing(
        &self,
        remote: &[RemoteEvent],
        mapped: &HashMap<Uuid, Option<String>>,
    ) -> Result<usize, StoreError> {
        let (store, connection) = (self.store, self.connection);
        let present: HashSet<&str> = remote.iter().map(|e| e.id.as_str()).collect();
        let mut requeued = 0;
        for (booking_id, remote_id) in mapped {
            let missing = remote_id.as_deref().is_some_and(|id| !present.contains(id));
            if !missing
                || belongs_here(store, connection, *booking_id, self.window).await? != (true, true)
            {
                continue;
            }
            let why = Some("missing from the calendar; written again");
            store.event_finished(*booking_id, connection.id, EventState::Pending, why).await?;
            let tenant_id = connection.tenant_id;
            store.enqueue(&Job::sync_booking(tenant_id, *booking_id)).await?;
            requeued += 1;
        }
        Ok(requeued)
    }
}

/// Whether this connection wrote the event. Events written before they named their connection
/// (see `RemoteEvent::writer`) are told by Kalends's records: one the connection recorded is
/// its own; one another connection recorded, or created with that connection's key, is not;
/// any other is this connection's if it ever wrote an event for that booking (as before), and
/// left alone if not (another tenant's, or of unknown origin).
async fn written_here(
    store: &Store,
    connection: &Connection,
    event: &RemoteEvent,
    recorded: &HashSet<String>,
) -> Result<bool, StoreError> {
    match event.writer(connection.id) {
        Writer::This => return Ok(true),
        Writer::Another => return Ok(false),
        Writer::Unknown if recorded.contains(&event.id) => return Ok(true),
        Writer::Unknown => {}
    }
    let Some(booking_id) = event.booking_id else { return Ok(false) };
    let mappings = store.booking_events(connection.tenant_id, booking_id).await?;
    let others = mappings.iter().filter(|m| m.connection_id != connection.id);
    let another_wrote = others.clone().any(|m| m.remote_id.as_deref() == Some(&event.id))
        || others.clone().any(|m| event.writer(m.connection_id) == Writer::This);
    Ok(!another_wrote && mappings.iter().any(|m| m.connection_id == connection.id))
}

/// Whether the booking currently belongs in this connection's calendar, and whether it overlaps
/// `window` (older events are not listed, so they are not "missing"); one read of the booking.
async fn belongs_here(
    store: &Store,
    connection: &Connection,
    booking_id: Uuid,
    window: Window,
) -> Result<(bool, bool), StoreError> {
    let booking = match store.booking(connection.tenant_id, booking_id).await {
        Ok(booking) => booking,
        Err(StoreError::NotFound) => return Ok((false, false)),
        Err(e) => return Err(e),
    };
    let (start, end) = booking.data.span.rough_bounds();
    let in_window = end > window.start && start < window.end;
    if booking.data.status == BookingStatus::Cancelled {
        return Ok((false, in_window));
    }
    let targeted = store.sync_targets(&booking).await?.iter().any(|c| c.id == connection.id);
    Ok((targeted, in_window))
}

async fn delete(
    credentials: &Credentials,
    connection: &Connection,
    calendar: &str,
    event: &RemoteEvent,
) -> Result<(), ConnectionError> {
    let provider = credentials.providers().get(connection.provider);
    credentials
        .with_token(connection, |token| {
            let (id, etag) = (&event.id, event.etag.as_deref());
            async move { provider.delete_event(&token, calendar, id, etag).await }
        })
        .await
        .map(|_gone_already| ())
}
