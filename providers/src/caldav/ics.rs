//! A booking's event as a CalDAV resource, and resources read back as events.
//!
//! Writing goes through the project's iCalendar writer (`kalends_ical::write`) with no
//! `METHOD` (RFC 4791 §4.1 forbids one in a stored calendar object); the booking, connection and
//! tenant ride along as `X-KALENDS-*` properties, as Google's private extended properties do.
//! Reading goes through the project's reader, which expands recurring events (RRULE, RDATE,
//! EXDATE, overrides) and leaves out transparent and cancelled ones.

use chrono::{DateTime, Datelike as _, Utc};
use kalends_ical::write::{EventOut, EventStatus, PRODID, write_event, write_vtimezone};
use kalends_ical::{DEFAULT_MAX_WORK, ParseOptions, Producer, read};
use uuid::Uuid;

use crate::calendar::{EventDraft, RemoteEvent, Span, TimeZone, Window};

/// Most VEVENTs read from one resource (a resource is one event and its overrides).
const MAX_EVENTS_PER_RESOURCE: usize = 10_000;
/// Most reminders written (as Google takes).
const MAX_REMINDERS: usize = 5;

/// The resource Kalends stores for a booking: one VEVENT with `uid`, stamped `now`.
pub fn resource(draft: &EventDraft, uid: &str, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:");
    out.push_str(PRODID);
    out.push_str("\r\nCALSCALE:GREGORIAN\r\n");
    let zone = match draft.time {
        Span::Timed { start, end } if draft.zone != TimeZone::UTC => {
            write_vtimezone(&mut out, draft.zone.tz(), start.year()..=end.year());
            Some(draft.zone.tz())
        }
        _ => None,
    };
    let event = EventOut {
        uid,
        span: &draft.time,
        zone,
        summary: &draft.summary,
        description: draft.description.as_deref(),
        location: draft.location.as_deref(),
        status: if draft.tentative { EventStatus::Tentative } else { EventStatus::Confirmed },
        sequence: 0,
        created: now,
        last_modified: now,
        dtstamp: now,
        transparent: false,
        url: None,
        organizer: None,
        attendees: &[],
        categories: &[],
    };
    write_event(&mut out, &event);
    // The writer closed the VEVENT: the Kalends properties and the alarms go inside it.
    debug_assert!(out.ends_with("END:VEVENT\r\n"));
    out.truncate(out.len().saturating_sub("END:VEVENT\r\n".len()));
    for (name, id) in [
        ("X-KALENDS-BOOKING", draft.key.booking_id),
        ("X-KALENDS-CONNECTION", draft.key.connection_id),
        ("X-KALENDS-TENANT", draft.tenant_id),
    ] {
        out.push_str(&format!("{name}:{id}\r\n"));
    }
    for minutes in draft.reminder_minutes.iter().take(MAX_REMINDERS) {
        out.push_str(&format!(
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT{minutes}M\r\nEND:VALARM\r\n"
        ));
    }
    out.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    out
}

/// What one resource holds.
#[derive(Debug, Default)]
pub struct Read {
    /// Its busy occurrences within the window (single events however far ahead).
    pub events: Vec<RemoteEvent>,
    /// Whether it is a recurring event (its occurrences have ids of their own).
    pub recurring: bool,
}

/// How resources are read: the window their occurrences are expanded in, and the zone of the
/// times that name none (floating: "09:00 wherever I am"), the staff member's.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    /// The window.
    pub window: Window,
    /// The zone of floating times.
    pub floating: TimeZone,
}

impl Reading {
    /// Floating times read as UTC: where no one's zone is known.
    pub fn utc(window: Window) -> Self {
        Self { window, floating: TimeZone::UTC }
    }
}

/// Reads the resource `name` (its last path segment) with `etag`: each busy occurrence in the
/// window is one event, `name` for a single event, `name#RECURRENCE-ID` for an occurrence.
pub fn read_resource(name: &str, etag: &str, data: &str, reading: Reading) -> Read {
    let Reading { window, floating } = reading;
    let lines = unfolded(data);
    let property = |wanted: &str| {
        lines.iter().find_map(|line| {
            let (head, value) = line.split_once(':')?;
            let head_name = head.split(';').next()?;
            head_name.eq_ignore_ascii_case(wanted).then(|| value.trim().to_owned())
        })
    };
    let id_of = |wanted: &str| property(wanted).and_then(|v| Uuid::parse_str(&v).ok());
    let (booking_id, connection_id, tenant_id) =
        (id_of("X-KALENDS-BOOKING"), id_of("X-KALENDS-CONNECTION"), id_of("X-KALENDS-TENANT"));
    let recurring = is_recurring(&lines);
    let options = ParseOptions {
        from: window.start,
        to: window.end,
        floating_zone: floating.tz(),
        producer: Producer::Other,
        max_events: MAX_EVENTS_PER_RESOURCE,
        all_single_events: true,
        max_work: DEFAULT_MAX_WORK,
    };
    let Ok(parsed) = read(data.as_bytes(), &options) else {
        return Read { events: Vec::new(), recurring };
    };
    let events = parsed
        .busy
        .into_iter()
        .map(|item| RemoteEvent {
            id: match &item.recurrence_id {
                Some(at) => format!("{name}#{at}"),
                None => name.to_owned(),
            },
            summary: item.summary.as_deref().map(str::to_owned),
            time: item.span,
            zone: TimeZone::UTC,
            busy: true,
            booking_id,
            connection_id,
            tenant_id,
            creation_key: Some(item.uid),
            etag: Some(etag.to_owned()),
        })
        .collect();
    Read { events, recurring }
}

/// Whether a VEVENT repeats or overrides an occurrence (a VTIMEZONE's own RRULEs, the daylight
/// saving rules every zoned booking carries, do not count).
fn is_recurring(lines: &[String]) -> bool {
    let mut in_event = false;
    for line in lines {
        let upper = line.get(..15).unwrap_or(line).to_ascii_uppercase();
        if upper.starts_with("BEGIN:VEVENT") {
            in_event = true;
        } else if upper.starts_with("END:VEVENT") {
            in_event = false;
        } else if in_event
            && ["RRULE", "RDATE", "RECURRENCE-ID"].iter().any(|name| {
                upper.strip_prefix(name).is_some_and(|rest| rest.starts_with([':', ';']))
            })
        {
            return true;
        }
    }
    false
}

/// The content lines, unfolded (RFC 5545 §3.1), without their line breaks.
fn unfolded(data: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in data.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::calendar::EventKey;

    fn window() -> Window {
        Window {
            start: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2030, 3, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_written_booking_reads_back_with_its_time_and_its_kalends_ids() {
        let key = EventKey { booking_id: Uuid::from_u128(1), connection_id: Uuid::from_u128(2) };
        let start = Utc.with_ymd_and_hms(2030, 1, 10, 9, 0, 0).unwrap();
        let draft = EventDraft {
            key,
            tenant_id: Uuid::from_u128(3),
            summary: "Haircut, long; with a comma".into(),
            description: None,
            location: None,
            time: Span::Timed { start, end: start + chrono::Duration::hours(1) },
            zone: "Europe/Paris".parse().unwrap(),
            tentative: false,
            colour: None,
            reminder_minutes: vec![30],
        };
        let uid = key.google_event_id();
        let text = resource(&draft, &uid, start);
        assert!(!text.contains("METHOD"), "{text}");
        assert!(text.contains("BEGIN:VTIMEZONE"));
        let read = read_resource("x.ics", "\"1\"", &text, Reading::utc(window()));
        assert!(!read.recurring);
        let [event] = read.events.as_slice() else { panic!("{:?}", read.events) };
        assert_eq!(event.time, draft.time);
        assert_eq!(event.summary.as_deref(), Some("Haircut, long; with a comma"));
        assert_eq!(event.booking_id, Some(key.booking_id));
        assert_eq!(event.connection_id, Some(key.connection_id));
        assert_eq!(event.tenant_id, Some(Uuid::from_u128(3)));
        assert_eq!(event.creation_key.as_deref(), Some(uid.as_str()));
    }

    #[test]
    fn a_weekly_event_is_one_busy_event_per_occurrence_and_free_ones_are_not_busy() {
        let weekly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:w\r\n\
            DTSTART:20300107T100000Z\r\nDTEND:20300107T110000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
            SUMMARY:Gym\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let read = read_resource("w.ics", "\"e\"", weekly, Reading::utc(window()));
        assert!(read.recurring);
        assert_eq!(read.events.len(), 4);
        assert_eq!(read.events[1].id, "w.ics#20300114T100000Z");
        let free = weekly.replace("SUMMARY:Gym", "TRANSP:TRANSPARENT");
        assert!(read_resource("w.ics", "\"e\"", &free, Reading::utc(window())).events.is_empty());
        let cancelled = weekly.replace("SUMMARY:Gym", "STATUS:CANCELLED");
        assert!(
            read_resource("w.ics", "\"e\"", &cancelled, Reading::utc(window())).events.is_empty()
        );
    }
}
