//! External edits: a staff member moved or deleted, in their own calendar, an event Kalends made
//! for a booking. The availability import sees it among the calendar's changes; this records it
//! on the booking's `sync` state and applies the tenant's `external_edit_policy`:
//!
//! - `restore` (default): the booking's truth is pushed back (the event is marked pending and the
//!   booking's sync queued; a deleted event is written again);
//! - `accept`: the event is left as the staff member made it, and the booking's `sync` entry
//!   says so for a person to decide.
//!
//! Either way the booking's `sync` entry keeps `external_edit` (what happened, what was done).

use chrono::NaiveTime;
use kalends_core::Store;
use kalends_core::domain::{BookingSpan, Connection, ExternalEditPolicy, Tenant};
use kalends_core::job::Job;
use kalends_core::store::{BookingEvent, EventState};
use kalends_providers::calendar::{Change, EventTime};

/// What an edit was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    Moved,
    Deleted,
}

/// Looks through a calendar's changes for edits of Kalends's own events and acts on them.
/// Returns how many it found.
pub async fn handle(
    store: &Store,
    tenant: &Tenant,
    connection: &Connection,
    changes: &[Change],
) -> Result<usize, kalends_core::StoreError> {
    let mapped = store.connection_events(connection.id).await?;
    let mut found = 0;
    for change in changes {
        let remote_id = match change {
            Change::Upserted(event) => event.id.as_str(),
            Change::Deleted { id } => id.as_str(),
        };
        // Only events Kalends holds as written at the booking's current version: one still being
        // written (or deleted by Kalends itself) is not an outside edit.
        let Some(mapping) = mapped.iter().find(|m| m.remote_id.as_deref() == Some(remote_id))
        else {
            continue;
        };
        if mapping.state != EventState::Synced {
            continue;
        }
        let booking = match store.booking(connection.tenant_id, mapping.booking_id).await {
            Ok(booking) => booking,
            Err(kalends_core::StoreError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        if mapping.synced_version != Some(booking.version) {
            continue;
        }
        let edit = match change {
            Change::Upserted(event) if where_booking_is(&booking.data.span, &event.time) => {
                continue;
            }
            Change::Upserted(_) => Edit::Moved,
            Change::Deleted { .. } => Edit::Deleted,
        };
        apply(store, tenant, connection, mapping, edit).await?;
        found += 1;
    }
    Ok(found)
}

/// Whether an event's time is the booking's.
fn where_booking_is(span: &BookingSpan, time: &EventTime) -> bool {
    match (span, time) {
        (BookingSpan::Timed { start, end, .. }, EventTime::Timed { start: s, end: e, .. }) => {
            start == s && end == e
        }
        (BookingSpan::AllDay { start, end }, EventTime::AllDay { start: s, end: e }) => {
            start == s && end == e
        }
        // Microsoft reports whole days as midnight instants in the event's zone.
        (BookingSpan::AllDay { start, end }, EventTime::Timed { start: s, end: e, .. }) => {
            s.date_naive() == *start && e.date_naive() == *end && s.time() == NaiveTime::MIN
        }
        _ => false,
    }
}

async fn apply(
    store: &Store,
    tenant: &Tenant,
    connection: &Connection,
    mapping: &BookingEvent,
    edit: Edit,
) -> Result<(), kalends_core::StoreError> {
    let what = match edit {
        Edit::Moved => "moved in the calendar by the staff member",
        Edit::Deleted => "deleted from the calendar by the staff member",
    };
    match tenant.settings.external_edit_policy {
        ExternalEditPolicy::Restore => {
            let note = format!("{what}; restored");
            store.event_edited_externally(mapping.booking_id, connection.id, &note).await?;
            store
                .event_finished(mapping.booking_id, connection.id, EventState::Pending, None)
                .await?;
            store
                .enqueue(&Job::SyncBooking { tenant_id: tenant.id, booking_id: mapping.booking_id })
                .await?;
            tracing::info!(booking = %mapping.booking_id, connection = %connection.id, edit = ?edit, "external edit restored");
        }
        ExternalEditPolicy::Accept => {
            let note =
                format!("{what}; left as is (external_edit_policy is accept): check the booking");
            store.event_edited_externally(mapping.booking_id, connection.id, &note).await?;
            if edit == Edit::Deleted {
                store
                    .event_finished(mapping.booking_id, connection.id, EventState::Deleted, None)
                    .await?;
            }
            tracing::warn!(booking = %mapping.booking_id, connection = %connection.id, edit = ?edit, "external edit accepted; a person should look");
        }
    }
    Ok(())
}
