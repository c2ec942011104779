//! Between Kalends's provider-neutral types and google-calendar3's.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use google_calendar3::api::{
    CalendarListEntry, Event, EventDateTime, EventExtendedProperties, EventReminder, EventReminders,
};
use uuid::Uuid;

use crate::ProviderError;
use crate::calendar::{Change, EventDraft, RemoteCalendar, RemoteEvent, Span, TimeZone};
use crate::text::printable;

/// The private extended property that marks an event as Kalends's (and its filter).
pub(super) const MARKER: (&str, &str) = ("kalends", "1");
/// The private extended property holding the booking's id.
pub(super) const BOOKING: &str = "kalendsBooking";
/// The private extended property naming the connection that wrote the event: several
/// connections may share one calendar, and each touches only its own events.
pub(super) const CONNECTION: &str = "kalendsConnection";
/// The private extended property naming the tenant whose booking it is.
pub(super) const TENANT: &str = "kalendsTenant";
/// Google's limits on reminder overrides.
const MAX_REMINDERS: usize = 5;
const MAX_REMINDER_MINUTES: u32 = 40_320;

/// The Google event for a draft (id = the idempotency key).
pub(super) fn event_of(draft: &EventDraft) -> Event {
    let (start, end) = times_of(&draft.time, draft.zone);
    let private = HashMap::from([
        (MARKER.0.to_owned(), MARKER.1.to_owned()),
        (BOOKING.to_owned(), draft.key.booking_id.to_string()),
        (CONNECTION.to_owned(), draft.key.connection_id.to_string()),
        (TENANT.to_owned(), draft.tenant_id.to_string()),
    ]);
    Event {
        id: Some(draft.key.google_event_id()),
        summary: Some(draft.summary.clone()),
        description: draft.description.clone(),
        location: draft.location.clone(),
        start: Some(start),
        end: Some(end),
        status: Some(if draft.tentative { "tentative" } else { "confirmed" }.to_owned()),
        transparency: Some("opaque".to_owned()),
        color_id: draft.colour.as_deref().and_then(color_id),
        reminders: Some(reminders_of(&draft.reminder_minutes)),
        extended_properties: Some(EventExtendedProperties { private: Some(private), shared: None }),
        ..Event::default()
    }
}

/// Google's event colour ids by name (the `event` palette of `colors.get`).
const GOOGLE_COLORS: [(&str, &str); 11] = [
    ("lavender", "1"),
    ("sage", "2"),
    ("grape", "3"),
    ("flamingo", "4"),
    ("banana", "5"),
    ("tangerine", "6"),
    ("peacock", "7"),
    ("graphite", "8"),
    ("blueberry", "9"),
    ("basil", "10"),
    ("tomato", "11"),
];

/// A colour name (or Google id) as Google's `colorId`; common names map to the nearest.
fn color_id(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    if name.parse::<u8>().is_ok_and(|id| (1..=11).contains(&id)) {
        return Some(name);
    }
    let alias = match name.as_str() {
        "yellow" => "banana",
        "green" => "basil",
        "red" => "tomato",
        "blue" => "blueberry",
        "purple" => "grape",
        "orange" => "tangerine",
        "grey" | "gray" => "graphite",
        "pink" => "flamingo",
        other => other,
    };
    GOOGLE_COLORS.iter().find(|(n, _)| *n == alias).map(|(_, id)| (*id).to_owned())
}

fn times_of(time: &Span, zone: TimeZone) -> (EventDateTime, EventDateTime) {
    match time {
        Span::AllDay { start, end } => (
            EventDateTime { date: Some(*start), ..EventDateTime::default() },
            EventDateTime { date: Some(*end), ..EventDateTime::default() },
        ),
        Span::Timed { start, end } => {
            let at = |instant: &DateTime<Utc>| EventDateTime {
                date_time: Some(*instant),
                time_zone: Some(zone.to_string()),
                ..EventDateTime::default()
            };
            (at(start), at(end))
        }
    }
}

/// Popup overrides: distinct, at most five, each within Google's 0..=40320 minutes.
fn reminders_of(minutes: &[u32]) -> EventReminders {
    let mut clamped: Vec<u32> = minutes.iter().map(|m| (*m).min(MAX_REMINDER_MINUTES)).collect();
    clamped.sort_unstable();
    clamped.dedup();
    clamped.truncate(MAX_REMINDERS);
    let overrides = clamped
        .into_iter()
        .map(|m| EventReminder { method: Some("popup".to_owned()), minutes: i32::try_from(m).ok() })
        .collect();
    EventReminders { use_default: Some(false), overrides: Some(overrides) }
}

/// Whether Google holds the event as deleted.
pub(super) fn is_cancelled(event: &Event) -> bool {
    event.status.as_deref() == Some("cancelled")
}

/// The neutral form of a (not cancelled) event.
pub(super) fn remote_event(event: &Event) -> Result<RemoteEvent, ProviderError> {
    let id = event.id.clone().ok_or_else(|| unreadable("an event without an id"))?;
    let (time, zone) =
        time_of(event).ok_or_else(|| unreadable("an event without readable times"))?;
    Ok(RemoteEvent {
        summary: event.summary.as_deref().map(printable),
        time,
        zone,
        busy: is_busy(event),
        booking_id: private_uuid(event, BOOKING),
        connection_id: private_uuid(event, CONNECTION),
        tenant_id: private_uuid(event, TENANT),
        // Kalends creates every event with its key as the id.
        creation_key: Some(id.clone()),
        id,
        etag: event.etag.clone(),
    })
}

fn unreadable(what: &str) -> ProviderError {
    ProviderError::permanent(0, format!("Google returned {what}"))
}

/// When an event takes place, and the zone it is shown in (UTC unless Google names an IANA zone).
fn time_of(event: &Event) -> Option<(Span, TimeZone)> {
    let (start, end) = (event.start.as_ref()?, event.end.as_ref()?);
    let zone = start.time_zone.as_deref().and_then(|name| name.parse().ok());
    let zone = zone.unwrap_or(TimeZone::UTC);
    if let (Some(start), Some(end)) = (start.date, end.date) {
        return Some((Span::AllDay { start, end }, zone));
    }
    Some((Span::Timed { start: start.date_time?, end: end.date_time? }, zone))
}

/// Blocks time: not cancelled, not transparent, and not declined by the account itself.
fn is_busy(event: &Event) -> bool {
    let declined = event.attendees.iter().flatten().any(|attendee| {
        attendee.self_ == Some(true) && attendee.response_status.as_deref() == Some("declined")
    });
    !is_cancelled(event) && event.transparency.as_deref() != Some("transparent") && !declined
}

/// A private extended property holding an id (the booking, connection or tenant).
fn private_uuid(event: &Event, name: &str) -> Option<Uuid> {
    let private = event.extended_properties.as_ref()?.private.as_ref()?;
    private.get(name).and_then(|value| Uuid::parse_str(value).ok())
}

/// A listed event as a change: cancelled ones are deletions. Events Google returns without
/// readable times (which it never does for live events) are skipped with a warning.
pub(super) fn change_of(event: &Event) -> Option<Change> {
    if is_cancelled(event) {
        return event.id.clone().map(|id| Change::Deleted { id });
    }
    match remote_event(event) {
        Ok(remote) => Some(Change::Upserted(remote)),
        Err(error) => {
            tracing::warn!(event_id = ?event.id, %error, "skipping an unreadable Google event");
            None
        }
    }
}

/// A calendar-list entry; `None` without an id.
pub(super) fn remote_calendar(entry: &CalendarListEntry) -> Option<RemoteCalendar> {
    let name = entry.summary_override.clone().or_else(|| entry.summary.clone());
    Some(RemoteCalendar {
        id: entry.id.clone()?,
        name: name.unwrap_or_default(),
        primary: entry.primary == Some(true),
        writable: matches!(entry.access_role.as_deref(), Some("owner" | "writer")),
        time_zone: entry.time_zone.clone(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::calendar::EventKey;

    fn draft(reminders: Vec<u32>) -> EventDraft {
        EventDraft {
            key: EventKey { booking_id: Uuid::from_u128(7), connection_id: Uuid::from_u128(8) },
            tenant_id: Uuid::from_u128(9),
            summary: "Stay".into(),
            description: None,
            location: None,
            time: Span::AllDay {
                start: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
                end: NaiveDate::from_ymd_opt(2025, 3, 4).unwrap(),
            },
            zone: TimeZone::UTC,
            tentative: true,
            colour: Some("yellow".into()),
            reminder_minutes: reminders,
        }
    }

    #[test]
    fn reminders_are_distinct_at_most_five_and_clamped_to_four_weeks() {
        let event = event_of(&draft(vec![90_000, 10, 10, 60, 5, 30, 120, 1440]));
        let overrides = event.reminders.unwrap().overrides.unwrap();
        let minutes: Vec<_> = overrides.iter().map(|r| r.minutes.unwrap()).collect();
        assert_eq!(minutes, vec![5, 10, 30, 60, 120]);
        let event = event_of(&draft(vec![90_000]));
        assert_eq!(event.reminders.unwrap().overrides.unwrap()[0].minutes, Some(40_320));
    }

    #[test]
    fn a_draft_round_trips_through_a_google_event() {
        let draft = draft(vec![]);
        let event = Event { etag: Some("\"1\"".into()), ..event_of(&draft) };
        assert_eq!(event.status.as_deref(), Some("tentative"));
        let remote = remote_event(&event).unwrap();
        assert_eq!(remote.id, draft.key.google_event_id());
        assert_eq!((remote.time, remote.zone), (draft.time, draft.zone));
        assert_eq!(remote.booking_id, Some(draft.key.booking_id));
        assert_eq!(remote.connection_id, Some(draft.key.connection_id));
        assert_eq!(remote.tenant_id, Some(draft.tenant_id));
        assert_eq!(remote.writer(draft.key.connection_id), crate::calendar::Writer::This);
        assert!(remote.busy);
    }

    #[test]
    fn declined_and_transparent_events_are_not_busy() {
        let base = event_of(&draft(vec![]));
        let transparent = Event { transparency: Some("transparent".into()), ..base.clone() };
        assert!(!remote_event(&transparent).unwrap().busy);
        let own = google_calendar3::api::EventAttendee {
            self_: Some(true),
            response_status: Some("declined".into()),
            ..Default::default()
        };
        let declined = Event { attendees: Some(vec![own]), ..base };
        assert!(!remote_event(&declined).unwrap().busy);
    }

    #[test]
    fn the_tenant_colour_becomes_the_nearest_google_colour() {
        assert_eq!(event_of(&draft(vec![])).color_id.as_deref(), Some("5"), "yellow is banana");
        assert_eq!(color_id("Tomato").as_deref(), Some("11"));
        assert_eq!(color_id("7").as_deref(), Some("7"), "an id passes through");
        assert_eq!(color_id("12"), None, "Google has 11 event colours");
        assert_eq!(color_id("chartreuse"), None);
    }
}
