//! A booking's event as a CalDAV resource, and resources read back as events.
//!
//! Writing goes through the project's iCalendar writer (`kalends_ical::write`) with no
//! `METHOD` (RFC 4791 §4.1 forbids one in a stored calendar object); the booking, connection and
//! tenant ride along as `X-KALENDS-*` properties, as Google's private extended properties do.
//! Reading goes through the project's reader, which expands recurring events (RRULE, RDATE,
//! EXDATE, overrides) and leaves out transparent and cancelled ones.

use chrono::{DateTime, Datelike as _, Utc};
use kalends_ical::write::{EventOut, EventStatus, PRODID, write_event, write_vtimezone};
use kalends_ical::{ParseOptions, Producer, TooMuchWork, read_counting};
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

/// A resource as fetched: its name (the last path segment), its ETag and its data.
pub struct Fetched {
    /// The name.
    pub name: String,
    /// The ETag.
    pub etag: String,
    /// The iCalendar text.
    pub data: String,
}

/// Reads fetched resources within one work budget of `budget` steps for them all (what is left
/// is put back in it): a listing of thousands of heavy resources costs what one feed may, not
/// thousands of times that. [`TooMuchWork`] once it is spent, naming the whole budget.
pub fn read_resources(
    fetched: Vec<Fetched>,
    reading: Reading,
    budget: &mut Budget,
) -> Result<Vec<(String, Read)>, TooMuchWork> {
    let mut out = Vec::with_capacity(fetched.len());
    for Fetched { name, etag, data } in fetched {
        let (read, spent) = read_resource(&name, &etag, &data, reading, budget.left);
        budget.left = budget.left.saturating_sub(spent);
        match read {
            Some(read) => out.push((name, read)),
            None => return Err(TooMuchWork { limit: budget.limit }),
        }
    }
    Ok(out)
}

/// Work steps for reading a listing: the limit, and what is left of it.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// The whole budget (`import.max_work_steps`).
    pub limit: u64,
    /// What is left.
    pub left: u64,
}

impl Budget {
    /// A budget of `limit` steps, none spent.
    pub fn new(limit: u64) -> Self {
        Self { limit, left: limit }
    }
}

/// Reads the resource `name` (its last path segment) with `etag` in at most `max_work` steps
/// (`None` when it needs more), with the steps spent: each busy occurrence in the window is
/// one event, `name` for a single event, `name#RECURRENCE-ID` for an occurrence.
pub fn read_resource(
    name: &str,
    etag: &str,
    data: &str,
    reading: Reading,
    max_work: u64,
) -> (Option<Read>, u64) {
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
        max_work,
    };
    let (parsed, spent) = read_counting(data.as_bytes(), &options);
    let Ok(parsed) = parsed else { return (None, spent) };
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
    (Some(Read { events, recurring }), spent)
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

    fn read_one(name: &str, data: &str) -> Read {
        let reading = Reading::utc(window());
        read_resource(name, "\"e\"", data, reading, kalends_ical::DEFAULT_MAX_WORK).0.unwrap()
    }

    /// Three resources each cheap enough alone, in a budget for two and a half of them: the
    /// listing fails whole, naming the budget, rather than three budgets being spent.
    #[test]
    fn resources_read_within_one_budget_fail_together_once_it_is_spent() {
        let daily = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:d\r\n\
            DTSTART:20300101T100000Z\r\nDTEND:20300101T110000Z\r\nRRULE:FREQ=DAILY\r\n\
            END:VEVENT\r\nEND:VCALENDAR\r\n";
        let (_, one) = read_resource("d.ics", "\"e\"", daily, Reading::utc(window()), u64::MAX);
        assert!(one > 50, "a daily rule over two months costs steps: {one}");
        let fetched = |n: usize| {
            (0..n)
                .map(|i| Fetched {
                    name: format!("d{i}.ics"),
                    etag: "\"e\"".into(),
                    data: daily.to_owned(),
                })
                .collect::<Vec<_>>()
        };
        let mut budget = Budget::new(one * 5 / 2);
        let two = read_resources(fetched(2), Reading::utc(window()), &mut budget).unwrap();
        assert_eq!((two.len(), budget.left), (2, one / 2));
        let mut budget = Budget::new(one * 5 / 2);
        let refused = read_resources(fetched(3), Reading::utc(window()), &mut budget).unwrap_err();
        assert_eq!(refused.limit, one * 5 / 2);
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
        let read = read_one("x.ics", &text);
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
        let read = read_one("w.ics", weekly);
        assert!(read.recurring);
        assert_eq!(read.events.len(), 4);
        assert_eq!(read.events[1].id, "w.ics#20300114T100000Z");
        let free = weekly.replace("SUMMARY:Gym", "TRANSP:TRANSPARENT");
        assert!(read_one("w.ics", &free).events.is_empty());
        let cancelled = weekly.replace("SUMMARY:Gym", "STATUS:CANCELLED");
        assert!(read_one("w.ics", &cancelled).events.is_empty());
    }
}
