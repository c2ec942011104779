//! A booking as an iTIP invitation (RFC 5546) for its customer: the `text/calendar` content of
//! the invite, update and cancellation emails (RFC 6047). Pure: the caller supplies the clock,
//! the revision and the parties.
//!
//! Every message about one booking shares its [`invite_uid`]; the caller raises `sequence` on
//! each revision the customer is told of (time, place, cancellation), so that calendar apps
//! replace the event they hold instead of adding another.

#[cfg(test)]
mod tests;

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::calendar_item::{Audience, CalendarItem, booking_uid};
use crate::domain::{Booking, BookingStatus, Span, TimeZone};
use kalends_ical::write::{CalendarHead, EventOut, EventStatus, Method, Party, calendar};

/// What an invite asks of the customer's calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InviteKind {
    /// Add the booking, or update it to this revision (`METHOD:REQUEST`).
    Request,
    /// Remove the booking (`METHOD:CANCEL` with `STATUS:CANCELLED`).
    Cancel,
}

impl InviteKind {
    /// The iTIP method, which is also the `method` parameter of the email's calendar part.
    pub fn method(self) -> Method {
        match self {
            InviteKind::Request => Method::Request,
            InviteKind::Cancel => Method::Cancel,
        }
    }
}

/// One invite, update or cancellation of a booking, addressed to its customer.
#[derive(Clone, Debug)]
pub struct Invite<'a> {
    /// The booking; its title, description, location and span are what the customer sees.
    pub booking: &'a Booking,
    /// Request (invite or update) or cancellation.
    pub kind: InviteKind,
    /// The booking's invite revision (`SEQUENCE`): 0 for the first invite, then one more for
    /// each update and for the cancellation.
    pub sequence: i64,
    /// When this message is made (`DTSTAMP`).
    pub dtstamp: DateTime<Utc>,
    /// The resource's (or tenant's) zone: where whole days are placed, and the calendar's zone.
    /// Timed bookings are written in their own zone.
    pub zone: TimeZone,
    /// The tenant's sending address, named after the tenant (`ORGANIZER`).
    pub organizer: Party<'a>,
    /// The customer (`ATTENDEE`); always asked to reply (`RSVP=TRUE`).
    pub attendee: Party<'a>,
    /// A link to the public `invite.ics` of the booking (`URL`), if any.
    pub url: Option<&'a str>,
}

/// The `UID` of every invite about a booking: stable for the booking's life, and the same as in
/// the tenant's feeds.
pub fn invite_uid(booking_id: Uuid) -> String {
    booking_uid(booking_id)
}

/// The whole `VCALENDAR` of an invite: CRLF line ends, folded at 75 octets.
pub fn render(invite: &Invite<'_>) -> String {
    render_event(invite, false)
}

/// What a public link shows of a cancelled booking: a `METHOD:CANCEL` that removes the event
/// from the customer's calendar (same `UID`, its `SEQUENCE`, its time) and says nothing else: no
/// customer, title, description or location, since anyone holding the link can read it.
pub fn render_cancelled_notice(invite: &Invite<'_>) -> String {
    render_event(&Invite { kind: InviteKind::Cancel, url: None, ..invite.clone() }, true)
}

/// [`render`], with `bare` leaving out everything but the booking's identity and time.
fn render_event(invite: &Invite<'_>, bare: bool) -> String {
    let audience = if bare { Audience::Public } else { Audience::Customer };
    let item = CalendarItem::from_booking(invite.booking, invite.zone, audience);
    let zone = item.zone.tz();
    // Whole days are floating dates (`VALUE=DATE`) and need no time zone definition.
    let all_day = matches!(item.span, Span::AllDay { .. });
    let zones: &[Tz] = if all_day { &[] } else { std::slice::from_ref(&zone) };
    let head = CalendarHead {
        method: invite.kind.method(),
        name: &item.title,
        zone,
        zones,
        years: years(&item.span, zone),
        refresh: None,
    };
    let attendees = [Party { rsvp: true, ..invite.attendee }];
    let event = EventOut {
        status: status(invite.kind, item.status),
        sequence: invite.sequence,
        dtstamp: invite.dtstamp,
        url: invite.url,
        organizer: Some(Party { rsvp: false, ..invite.organizer }),
        attendees: if bare { &[] } else { &attendees },
        ..item.event(Some(zone))
    };
    calendar(&head, &[event])
}

/// `CANCELLED` in a cancellation (RFC 5546 §3.2.5), else the booking's own standing.
fn status(kind: InviteKind, booking: BookingStatus) -> EventStatus {
    match (kind, booking) {
        (InviteKind::Cancel, _) | (_, BookingStatus::Cancelled) => EventStatus::Cancelled,
        (InviteKind::Request, BookingStatus::Tentative) => EventStatus::Tentative,
        (InviteKind::Request, BookingStatus::Confirmed) => EventStatus::Confirmed,
    }
}

/// The years, in `zone`, that the time zone definition must cover.
fn years(span: &Span, zone: Tz) -> RangeInclusive<i32> {
    match span {
        Span::AllDay { start, end } => start.year()..=end.year(),
        Span::Timed { start, end } => {
            start.with_timezone(&zone).year()..=end.with_timezone(&zone).year()
        }
    }
}
