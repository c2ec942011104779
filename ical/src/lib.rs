//! Reading and writing iCalendar (RFC 5545) as calendars really are written.
//!
//! The reader ([`read`], [`parse`], [`read_from`]) takes an `.ics` feed as a booking platform or
//! a calendar app exported it (folded or not, CRLF or LF, Windows or Exchange zone names, broken
//! lines, a file cut off in transfer) and returns the busy occurrences in a window of time:
//! recurrence rules expanded (RFC 5545 and RFC 7529's `RSCALE`/`SKIP`) with their exceptions and
//! overrides, every local time turned into an instant. It never panics, bounds the work a
//! crafted feed can cost, and says why each event it did not import was skipped. What each
//! occurrence means (a reservation, a block, an event) comes from the feed's [`Producer`].
//!
//! The writer ([`write`]) streams a calendar piece by piece: the head with one `VTIMEZONE` per
//! zone, each event as it comes, the tail. It folds and escapes exactly as RFC 5545 says and
//! writes the same bytes for the same input: feeds (`METHOD:PUBLISH`) and iTIP invites
//! (`REQUEST`, `CANCEL`).
//!
//! # Reading a feed
//!
//! ```
//! use chrono::{TimeZone as _, Utc};
//! use kalends_ical::{ItemKind, ParseOptions, Producer, Span};
//!
//! let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
//!            BEGIN:VEVENT\r\nUID:stay-1@airbnb.com\r\n\
//!            DTSTART;VALUE=DATE:20261201\r\nDTEND;VALUE=DATE:20261204\r\n\
//!            SUMMARY:Reserved\r\nEND:VEVENT\r\n\
//!            BEGIN:VEVENT\r\nUID:standup\r\n\
//!            DTSTART;TZID=W. Europe Standard Time:20261130T090000\r\nDURATION:PT15M\r\n\
//!            RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
//!            END:VCALENDAR\r\n";
//! let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
//! // The window runs from yesterday to 18 months ahead; floating times are read in Paris.
//! let options = ParseOptions::new(Producer::Airbnb, chrono_tz::Europe::Paris, now);
//! let feed = kalends_ical::read(ics.as_bytes(), &options)?;
//!
//! assert_eq!(feed.events, 2);
//! assert!(feed.skipped.is_empty());
//! // Sorted by start: the stay's first day comes between two standups.
//! let stay = &feed.busy[1];
//! assert_eq!(stay.kind, ItemKind::Reservation);
//! assert_eq!(
//!     stay.span,
//!     Span::AllDay {
//!         start: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
//!         end: chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
//!     }
//! );
//! // The Windows zone name is Berlin's zone: 09:00 there is 08:00 UTC.
//! let first = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
//! assert_eq!(feed.busy[0].span, Span::Timed { start: first, end: first + chrono::Duration::minutes(15) });
//! assert_eq!(feed.busy[0].recurrence_id.as_deref(), Some("20261130T080000Z"));
//! # Ok::<(), kalends_ical::TooMuchWork>(())
//! ```
//!
//! # Writing a feed
//!
//! ```
//! use chrono::{TimeZone as _, Utc};
//! use kalends_ical::Span;
//! use kalends_ical::write::{CalendarHead, EventOut, EventStatus, Method, calendar};
//!
//! let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
//! let span = Span::Timed { start, end: start + chrono::Duration::hours(1) };
//! let zone = chrono_tz::Europe::Berlin;
//! let head = CalendarHead {
//!     method: Method::Publish,
//!     name: "Massage room",
//!     zone,
//!     zones: &[zone],
//!     years: 2026..=2026,
//!     refresh: Some(chrono::Duration::hours(1)),
//! };
//! let event = EventOut {
//!     uid: "booking-1@example.com",
//!     span: &span,
//!     zone: Some(zone),
//!     summary: "Massage, 60 min",
//!     description: None,
//!     location: Some("Room 2; first floor"),
//!     status: EventStatus::Confirmed,
//!     sequence: 0,
//!     created: start,
//!     last_modified: start,
//!     dtstamp: start,
//!     transparent: false,
//!     url: None,
//!     organizer: None,
//!     attendees: &[],
//!     categories: &[],
//! };
//! let ics = calendar(&head, &[event]);
//! assert!(ics.contains("DTSTART;TZID=Europe/Berlin:20261201T100000\r\n"));
//! assert!(ics.contains("LOCATION:Room 2\\; first floor\r\n"));
//! ```
//!
//! `examples/check.rs` reads a file as the first example does and prints what it found.

#![warn(missing_docs)]

pub mod read;
mod span;
pub mod write;

#[cfg(test)]
mod properties;

pub use read::{
    BusyItem, DEFAULT_MAX_WORK, ItemDetails, ItemKind, ParseOptions, ParsedFeed, Producer,
    ReadFromError, Skipped, TooMuchWork, looks_like_icalendar, parse, read, read_counting,
    read_from,
};
pub use span::Span;
