//! External edits: a staff member moved or deleted, in their own calendar, an event Kalends made
//! for a booking. The availability import sees it among the calendar's changes; this records it
//! on the booking's `sync` state and applies the tenant's `external_edit_policy`:
//!
//! - `restore` (default): the booking's truth is pushed back (the event is marked pending and the
//!   booking's sync queued; a deleted event is written again);
//! - `accept`: the event is left as the staff member made it, the booking's `sync` entry says
//!   so, and a conflict of kind `external_edit` is raised for a person to decide (it resolves
//!   itself when the booking's event is written again: the booking changed, or was re-pushed).
//!
//! Either way the booking's `sync` entry keeps `external_edit` (what happened, what was done).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveTime, Utc};
use kalends_core::domain::{
    Booking, BookingSpan, Connection, ExternalEditPolicy, Provider, Tenant,
};
use kalends_core::job::Job;
use kalends_core::webhooks::{WebhookEvent, external_edit_data};
use kalends_providers::calendar::{Change, RemoteEvent, Span, TimeZone, Window};
use kalends_store::Store;
use kalends_store::{BookingEvent, EventState, ExternalEditConflict, LEFT_DELETED};
use serde_json::json;
use uuid::Uuid;

/// What an edit was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit<'a> {
    /// To this time, shown in this zone.
    Moved(&'a Span, TimeZone),
    Deleted,
}

/// Looks through a calendar's changes for edits of Kalends's own events and acts on them.
/// Returns how many it found.
///
/// `window` is the one the changes cover. Graph's delta reports an event that lies (or moved)
/// outside it as removed, exactly as a deletion: such a removal is not taken for the staff
/// member's (reconciliation, which reads the events themselves, still finds a real one).
pub async fn handle(
    store: &Store,
    tenant: &Tenant,
    connection: &Connection,
    changes: &[Change],
    window: Window,
) -> Result<usize, kalends_store::StoreError> {
    // The changes that may be edits of this connection's own events, by the event they name.
    let named: Vec<(&Change, &str)> = changes
        .iter()
        .filter_map(|change| match change {
            // Another connection's event in a shared calendar is never this one's edit.
            Change::Upserted(event)
                if event.writer(connection.id) == kalends_providers::calendar::Writer::Another
                    && event.booking_id.is_some() =>
            {
                None
            }
            Change::Upserted(event) => Some((change, event.id.as_str())),
            Change::Deleted { id } => Some((change, id.as_str())),
        })
        .collect();
    let remote_ids: Vec<&str> = named.iter().map(|(_, id)| *id).collect();
    // Only events Kalends holds as written at the booking's current version: one still being
    // written (or deleted by Kalends itself) is not an outside edit. Both are read once for the
    // whole list: each sync Kalends makes comes back here as a change of its own event.
    let mapped: HashMap<String, BookingEvent> = store
        .connection_events_with_remote_ids(connection.id, &remote_ids)
        .await?
        .into_iter()
        .filter(|m| m.state == EventState::Synced)
        .filter_map(|m| Some((m.remote_id.clone()?, m)))
        .collect();
    let booking_ids: Vec<Uuid> = mapped.values().map(|m| m.booking_id).collect();
    let bookings: HashMap<Uuid, Booking> = store
        .bookings_by_ids(connection.tenant_id, &booking_ids)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let mut found = 0;
    for (change, remote_id) in named {
        let Some(mapping) = mapped.get(remote_id) else { continue };
        let Some(booking) = bookings.get(&mapping.booking_id) else { continue };
        if mapping.synced_version != Some(booking.version) {
            continue;
        }
        if matches!(change, Change::Deleted { .. })
            && connection.provider == Provider::Microsoft
            && !in_window(store, tenant, booking, window).await?
        {
            continue;
        }
        let edit = match change {
            Change::Upserted(event) if where_booking_is(&booking.data.span, &event.time) => {
                // Where it belongs (perhaps moved back by hand): an edit left open is settled.
                if mapping.external_edit.is_some() {
                    store.resolve_external_edit(mapping.booking_id, connection.id).await?;
                }
                continue;
            }
            Change::Upserted(event) => Edit::Moved(&event.time, event.zone),
            Change::Deleted { .. } => Edit::Deleted,
        };
        apply(store, tenant, connection, mapping, booking, edit).await?;
        found += 1;
    }
    Ok(found)
}

/// A full listing of one calendar, as an import made it: all a calendar without incremental
/// changes (a CalDAV server without `sync-collection`) ever gives, and what the others give when
/// their cursor lapses or a series changed.
#[derive(Clone, Copy, Debug)]
pub struct Listing<'a> {
    /// The calendar listed.
    pub calendar_id: &'a str,
    /// The window's events.
    pub listed: &'a [Change],
    /// The single events after the window.
    pub later: &'a [RemoteEvent],
    /// The window.
    pub window: Window,
    /// When the listing was asked for: an event written after that may be missing from it
    /// without having been deleted.
    pub asked_at: DateTime<Utc>,
}

/// Looks through a full listing for edits of Kalends's own events, as [`handle`] does through
/// a change list: a moved event is among the listed ones, a deleted one is missing from them.
pub async fn handle_listing(
    store: &Store,
    tenant: &Tenant,
    connection: &Connection,
    listing: Listing<'_>,
) -> Result<usize, kalends_store::StoreError> {
    // A day within each end: the provider's idea of what meets the window and a whole-day
    // booking's stored span may differ by a zone there.
    let margin = chrono::Duration::days(1);
    let inner = (listing.window.start + margin, listing.window.end - margin);
    let written: HashSet<String> = store
        .written_events_in(connection.id, listing.calendar_id, inner, listing.asked_at)
        .await?
        .into_iter()
        .collect();
    if written.is_empty() {
        return Ok(0);
    }
    let listed = listing.listed.iter().filter_map(|change| match change {
        Change::Upserted(event) => Some(event),
        Change::Deleted { .. } => None,
    });
    let mut present: HashSet<&str> = HashSet::new();
    let mut edits: Vec<Change> = Vec::new();
    for event in listed.chain(listing.later) {
        present.insert(event.id.as_str());
        if written.contains(&event.id) {
            edits.push(Change::Upserted(event.clone()));
        }
    }
    let missing = written.iter().filter(|id| !present.contains(id.as_str()));
    edits.extend(missing.map(|id| Change::Deleted { id: id.clone() }));
    handle(store, tenant, connection, &edits, listing.window).await
}

/// Whether the booking's time overlaps `window`.
async fn in_window(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    window: Window,
) -> Result<bool, kalends_store::StoreError> {
    let (start, end) = store.booking_instants(tenant, &booking.data).await?;
    Ok(start < window.end && end > window.start)
}

/// Whether an event's time is the booking's.
fn where_booking_is(span: &BookingSpan, time: &Span) -> bool {
    match (span, time) {
        (BookingSpan::Timed { start, end, .. }, Span::Timed { start: s, end: e }) => {
            start == s && end == e
        }
        (BookingSpan::AllDay { start, end }, Span::AllDay { start: s, end: e }) => {
            start == s && end == e
        }
        // Microsoft reports whole days as midnight instants in the event's zone.
        (BookingSpan::AllDay { start, end }, Span::Timed { start: s, end: e }) => {
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
    booking: &Booking,
    edit: Edit<'_>,
) -> Result<(), kalends_store::StoreError> {
    let what = match edit {
        Edit::Moved(..) => "moved in the calendar by the staff member",
        Edit::Deleted => "deleted from the calendar by the staff member",
    };
    let event = |action: &str| [edit_event(connection, mapping.booking_id, edit, action)];
    match tenant.settings.external_edit_policy {
        ExternalEditPolicy::Restore => {
            let note = format!("{what}; restored");
            let events = event("restored");
            store
                .event_edited_externally(mapping.booking_id, connection.id, &note, &events)
                .await?;
            store
                .event_finished(mapping.booking_id, connection.id, EventState::Pending, None)
                .await?;
            store.enqueue(&Job::sync_booking(tenant.id, mapping.booking_id)).await?;
            tracing::info!(booking = %mapping.booking_id, connection = %connection.id, edit = ?edit, "external edit restored");
        }
        ExternalEditPolicy::Accept => {
            let note =
                format!("{what}; left as is (external_edit_policy is accept): check the booking");
            let events = event("left");
            store
                .event_edited_externally(mapping.booking_id, connection.id, &note, &events)
                .await?;
            if edit == Edit::Deleted {
                let why = Some(LEFT_DELETED);
                store
                    .event_finished(mapping.booking_id, connection.id, EventState::Deleted, why)
                    .await?;
            }
            let calendar_label = where_now(connection, edit);
            store
                .raise_external_edit(&ExternalEditConflict {
                    tenant_id: tenant.id,
                    staff_id: connection.staff_id,
                    booking_id: booking.id,
                    booking_label: &booking.data.title,
                    connection_id: connection.id,
                    calendar_label: &calendar_label,
                    suggestion: "The staff member changed this booking's event in their own calendar. \
                                 Reschedule or reassign the booking if the change stands (the event is \
                                 then written again), or resolve this conflict to leave things as they are.",
                })
                .await?;
            tracing::warn!(booking = %mapping.booking_id, connection = %connection.id, edit = ?edit, "external edit accepted; a person should look");
        }
    }
    Ok(())
}

/// The `booking.external_edit` webhook event: what the staff member did and what Kalends did
/// about it (`action`).
fn edit_event(
    connection: &Connection,
    booking_id: Uuid,
    edit: Edit<'_>,
    action: &str,
) -> WebhookEvent {
    let (kind, moved_to) = match edit {
        Edit::Moved(Span::AllDay { start, end }, _) => {
            ("moved", Some(json!({"start_date": start, "end_date": end})))
        }
        Edit::Moved(Span::Timed { start, end }, _) => {
            ("moved", Some(json!({"start": start, "end": end})))
        }
        Edit::Deleted => ("deleted", None),
    };
    let data =
        external_edit_data(booking_id, connection.id, connection.staff_id, kind, moved_to, action);
    WebhookEvent::new("booking.external_edit", data)
}

/// Where the event is now, for a person: the conflict's label.
fn where_now(connection: &Connection, edit: Edit<'_>) -> String {
    let calendar = format!("{}'s {}", connection.account_email, connection.provider.label());
    match edit {
        Edit::Moved(time, zone) => format!("Moved to {} in {calendar}", describe(time, zone)),
        Edit::Deleted => format!("Deleted from {calendar}"),
    }
}

/// An event's time for a person: whole days as nights (`kalends_core::words`), a timed span in
/// the event's own zone.
fn describe(time: &Span, zone: TimeZone) -> String {
    match *time {
        Span::AllDay { start, end } => {
            kalends_core::words::nights(start, end, chrono::Utc::now().date_naive())
        }
        Span::Timed { start, end } => format!(
            "{} to {} ({})",
            start.with_timezone(&zone.tz()).format("%Y-%m-%d %H:%M"),
            end.with_timezone(&zone.tz()).format("%Y-%m-%d %H:%M"),
            zone,
        ),
    }
}
