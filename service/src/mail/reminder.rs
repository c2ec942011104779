//! The reminder email before a booking starts.

use chrono::{DateTime, Utc};
use kalends_core::domain::{Booking, TimeZone};
use kalends_ical::write::Party;
use lettre::Message;
use lettre::message::MultiPart;

use super::invite::facts;
use super::links::{self, EventLink};
use super::page::Page;
use super::{Envelope, MailError, non_blank, when};

/// A reminder to the customer: text and HTML with the add-to-calendar links, no calendar part.
#[derive(Clone, Debug)]
pub struct ReminderEmail<'a> {
    /// The booking.
    pub booking: &'a Booking,
    /// The tenant's name: the brand of the email, and the sender's name when `from` has none.
    pub tenant_name: &'a str,
    /// The tenant's sending address.
    pub from: Party<'a>,
    /// Where replies go, if not to the sender.
    pub reply_to: Option<&'a str>,
    /// The customer.
    pub to: Party<'a>,
    /// The resource's (or tenant's) zone, where whole days are placed.
    pub zone: TimeZone,
    /// The customer's own zone, when known; times are then shown in it as well.
    pub customer_zone: Option<TimeZone>,
    /// The link to the booking's public `invite.ics`, if any.
    pub url: Option<&'a str>,
    /// When the reminder is sent: "starts in 1 hour" is counted from here.
    pub now: DateTime<Utc>,
}

/// `Reminder: {title} starts in 1 hour` (or `starts tomorrow at 15:00`, …) as
/// `multipart/alternative` text and HTML.
pub fn reminder_message(email: &ReminderEmail<'_>) -> Result<Message, MailError> {
    let booking = &email.booking.data;
    let zone = when::display_zone(&booking.span, email.zone);
    let soon = when::starts_in(&booking.span, zone, email.now);
    let subject = format!("Reminder: {} {soon}", booking.title);
    let page = Page {
        tenant: email.tenant_name,
        greeting_name: email.to.name,
        intro: format!("A reminder from {}: your booking {soon}.", email.tenant_name),
        title: &booking.title,
        badge: None,
        facts: facts(&booking.span, email.zone, email.customer_zone, booking.location.as_deref()),
        description: non_blank(booking.description.as_deref()),
        links: links::all(email.url, &EventLink::of(booking)),
        links_title: Some("Add to calendar"),
    };
    let body = MultiPart::alternative_plain_html(page.text(), page.html(&subject));
    Envelope {
        from: &email.from,
        from_name: email.tenant_name,
        reply_to: email.reply_to,
        to: &email.to,
        subject: &subject,
        date: email.now,
    }
    .builder()?
    .multipart(body)
    .map_err(|e| MailError::permanent(format!("cannot build the reminder email: {e}")))
}
