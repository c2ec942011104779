//! The invitation, update and cancellation emails of a booking.

use kalends_core::domain::{BookingSpan, TimeZone};
use kalends_core::invite::{Invite, InviteKind, render};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, MultiPart, SinglePart};

use super::links::{self, EventLink};
use super::page::Page;
use super::{Envelope, MailError, non_blank, when};

/// An invite, update or cancellation email. From is the invite's organizer, To its attendee.
#[derive(Clone, Debug)]
pub struct InviteEmail<'a> {
    /// The calendar content: the booking, request or cancel, revision, parties, `.ics` link.
    pub invite: Invite<'a>,
    /// Whether the attendee's address had no invitation before: a request is then worded as an
    /// invitation, else as an update (a customer whose address changed is invited, though the
    /// SEQUENCE goes on from the booking's earlier messages).
    pub first: bool,
    /// The tenant's name: the brand of the email, and the sender's name when the organizer
    /// has none.
    pub tenant_name: &'a str,
    /// Where replies go, if not to the sender, e.g. `"Sea Breeze <desk@seabreeze.example>"`.
    pub reply_to: Option<&'a str>,
    /// The customer's own zone, when known; times are then shown in it as well.
    pub customer_zone: Option<TimeZone>,
}

/// The email, as a `multipart/mixed` of a `multipart/alternative` (text, HTML, and the
/// `text/calendar; method=…` part that mail clients act on) and the same calendar as an
/// `invite.ics` attachment.
pub fn invite_message(email: &InviteEmail<'_>) -> Result<Message, MailError> {
    let invite = &email.invite;
    let subject = subject(email);
    let page = page(email);
    let ics = render(invite);
    let method = invite.kind.method().as_str();
    let calendar = content_type(&format!("text/calendar; method={method}; charset=UTF-8"))?;
    let attachment = content_type("application/ics; name=\"invite.ics\"")?;
    let body = MultiPart::mixed()
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(page.text()))
                .singlepart(SinglePart::html(page.html(&subject)))
                .singlepart(SinglePart::builder().header(calendar).body(base64(ics.clone()))),
        )
        .singlepart(Attachment::new("invite.ics".to_owned()).body(base64(ics), attachment));
    Envelope {
        from: &invite.organizer,
        from_name: email.tenant_name,
        reply_to: email.reply_to,
        to: &invite.attendee,
        subject: &subject,
        date: invite.dtstamp,
    }
    .builder()?
    .multipart(body)
    .map_err(|e| MailError::permanent(format!("cannot build the invite email: {e}")))
}

/// `Invitation: …`, `Updated: …` or `Cancelled: {title} on {start}`.
fn subject(email: &InviteEmail<'_>) -> String {
    let invite = &email.invite;
    let booking = &invite.booking.data;
    let zone = when::display_zone(&booking.span, invite.zone);
    let prefix = match (invite.kind, email.first) {
        (InviteKind::Cancel, _) => "Cancelled",
        (InviteKind::Request, true) => "Invitation",
        (InviteKind::Request, false) => "Updated",
    };
    format!("{prefix}: {} on {}", booking.title, when::start(&booking.span, zone))
}

fn page<'a>(email: &'a InviteEmail<'a>) -> Page<'a> {
    let invite = &email.invite;
    let booking = &invite.booking.data;
    let cancelled = invite.kind == InviteKind::Cancel;
    let intro = match (invite.kind, email.first) {
        (InviteKind::Cancel, _) => format!(
            "{} has cancelled this booking. It no longer takes place; if your calendar holds it, \
             the calendar part of this email removes it.",
            email.tenant_name
        ),
        (InviteKind::Request, true) => format!("{} has booked you in.", email.tenant_name),
        (InviteKind::Request, false) => format!(
            "{} has changed your booking. These details replace the ones sent before.",
            email.tenant_name
        ),
    };
    Page {
        tenant: email.tenant_name,
        greeting_name: invite.attendee.name,
        intro,
        title: &booking.title,
        badge: cancelled.then_some("Cancelled"),
        facts: facts(&booking.span, invite.zone, email.customer_zone, booking.location.as_deref()),
        description: non_blank(booking.description.as_deref()),
        links: if cancelled { Vec::new() } else { add_links(email) },
        links_title: Some("Add to calendar"),
    }
}

/// When (in the booking's zone), the customer's time when their zone differs, and where.
pub(super) fn facts(
    span: &BookingSpan,
    home: TimeZone,
    customer_zone: Option<TimeZone>,
    location: Option<&str>,
) -> Vec<(&'static str, String)> {
    let zone = when::display_zone(span, home);
    let mut facts = vec![("When", when::span(span, zone))];
    // Whole days are the same dates everywhere.
    if let Some(theirs) = customer_zone.map(TimeZone::tz).filter(|z| *z != zone)
        && !span.is_all_day()
    {
        facts.push(("Your time", when::span(span, theirs)));
    }
    if let Some(location) = non_blank(location) {
        facts.push(("Where", location.to_owned()));
    }
    facts
}

/// The `.ics` link when there is one, then Google Calendar and Outlook.com.
fn add_links(email: &InviteEmail<'_>) -> Vec<(&'static str, String)> {
    links::all(email.invite.url, &EventLink::of(&email.invite.booking.data))
}

/// The calendar, base64-encoded. lettre would pick quoted-printable, as folded content lines
/// of 74-75 octets are too long for its 7bit rule, and its soft line breaks would land inside
/// the calendar's own folds; base64 keeps the CRLFs untouched, as Google's invites do.
fn base64(ics: String) -> Body {
    Body::new_with_encoding(ics, ContentTransferEncoding::Base64).unwrap_or_else(Body::new)
}

fn content_type(value: &str) -> Result<ContentType, MailError> {
    ContentType::parse(value)
        .map_err(|e| MailError::permanent(format!("invalid content type {value}: {e}")))
}
