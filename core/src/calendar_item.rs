//! One projection from what Kalends holds (a booking, a block, an imported item) to the
//! provider-neutral [`CalendarItem`] that every outward calendar shows.
//!
//! The `.ics` feeds, the events pushed to staff calendars and the customer's invite each render an
//! item their own way (iCalendar text, Google or Graph JSON, an iTIP e-mail), but none of them
//! decides what it shows: who sees what of a booking (a feed's profile, the tenant's
//! `event_privacy`, the customer's own view) is decided here, once, by [`Audience`], and the
//! description is built here, once.

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use kalends_ical::write::{EventOut, EventStatus};
use uuid::Uuid;

use crate::availability::ClosedRun;
use crate::conflicts::imported_label;
use crate::domain::{
    Block, Booking, BookingStatus, EventPrivacy, FeedProfile, Span, TenantSettings, TimeZone,
};
use crate::imports::ImportedItem;

/// What a calendar shows of a booking, a block or an imported item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarItem {
    /// The `UID`: stable for the thing's life, the same in feeds and invites.
    pub uid: String,
    /// The title (`SUMMARY`).
    pub title: String,
    /// The body text, if the audience may see any.
    pub description: Option<String>,
    /// Where, if the audience may see it.
    pub location: Option<String>,
    /// When.
    pub span: Span,
    /// The zone it is shown in: a timed booking's own, else the home zone that whole days are
    /// placed in.
    pub zone: TimeZone,
    /// Tentative, confirmed or cancelled, as the audience may see it.
    pub status: BookingStatus,
    /// The revision (`SEQUENCE`): the booking's version; 0 for blocks and imported items.
    pub sequence: i64,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub changed: DateTime<Utc>,
    /// The tenant's colour (a name or a provider's id) for its status; staff calendars only.
    pub colour: Option<String>,
    /// Popup reminders, minutes before the start; staff calendars only.
    pub reminder_minutes: Vec<u32>,
}

/// Who an item is for, which decides what of a booking it shows.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// The subscribers of a feed with this profile (booking platforms, phones).
    Feed(FeedProfile, &'a TenantSettings),
    /// A staff member's own calendar, under the tenant's `event_privacy`, colours and reminders.
    Staff(&'a TenantSettings),
    /// The booking's customer, in their invite: the booking's own words, but not the customer
    /// lines (they are the customer).
    Customer,
    /// Anyone holding the public link of a cancelled booking: its identity and time, nothing else.
    Public,
}

/// What an audience sees of a booking: the privacy decision, made in this one place.
#[derive(Clone, Copy, Debug)]
enum Shown<'a> {
    /// The title, description and location; `customer`: with who booked and how to reach them.
    Booking { customer: bool },
    /// Only that the time is taken, under the tenant's busy label; `tentative`: whether a
    /// tentative booking still shows as tentative.
    Busy { label: &'a str, tentative: bool },
    /// Only that the booking is cancelled.
    Cancelled,
}

impl<'a> Audience<'a> {
    fn shown(self) -> Shown<'a> {
        match self {
            Audience::Feed(FeedProfile::Details, _) => Shown::Booking { customer: true },
            // A busy feed goes to booking platforms: a tentative hold blocks the dates like any
            // booking, and nothing tells it apart.
            Audience::Feed(FeedProfile::Busy, settings) => {
                Shown::Busy { label: &settings.busy_label, tentative: false }
            }
            Audience::Staff(settings) => match settings.event_privacy {
                EventPrivacy::Details => Shown::Booking { customer: true },
                // The staff member's own calendar: they still see that a hold is tentative.
                EventPrivacy::Busy => Shown::Busy { label: &settings.busy_label, tentative: true },
            },
            Audience::Customer => Shown::Booking { customer: false },
            Audience::Public => Shown::Cancelled,
        }
    }

    /// The colours and reminders of a staff calendar.
    fn staff(self) -> Option<&'a TenantSettings> {
        match self {
            Audience::Staff(settings) => Some(settings),
            _ => None,
        }
    }
}

/// The `UID` of a booking's item: stable for the booking's life, the same in feeds and invites.
pub fn booking_uid(booking_id: Uuid) -> String {
    format!("{booking_id}@kalends")
}

impl CalendarItem {
    /// A booking as `audience` sees it; whole days are placed in `home` (the resource's or
    /// tenant's zone).
    pub fn from_booking(booking: &Booking, home: TimeZone, audience: Audience<'_>) -> Self {
        let data = &booking.data;
        let shown = audience.shown();
        let (title, description, location) = match shown {
            Shown::Booking { customer } => {
                (data.title.clone(), description(booking, customer), text(&data.location))
            }
            Shown::Busy { label, .. } => (label.to_owned(), None, None),
            Shown::Cancelled => ("Cancelled".to_owned(), None, None),
        };
        let status = match (data.status, shown) {
            (_, Shown::Cancelled) => BookingStatus::Cancelled,
            (BookingStatus::Tentative, Shown::Busy { tentative: false, .. }) => {
                BookingStatus::Confirmed
            }
            (status, _) => status,
        };
        let staff = audience.staff();
        let colour = staff.and_then(|settings| match status {
            BookingStatus::Tentative => settings.colors.tentative.clone(),
            _ => settings.colors.confirmed.clone(),
        });
        CalendarItem {
            uid: booking_uid(booking.id),
            title,
            description,
            location,
            span: Span::from(&data.span),
            zone: data.span.shown_in(home),
            status,
            sequence: booking.version,
            created: booking.created_at,
            changed: booking.updated_at,
            colour,
            reminder_minutes: staff
                .map(|settings| settings.reminder_offsets_minutes.clone())
                .unwrap_or_default(),
        }
    }

    /// A block as a feed with `profile` shows it: its reason under `details`, else the busy
    /// label. Blocks appear only in feeds.
    pub fn from_block(
        block: &Block,
        home: TimeZone,
        profile: FeedProfile,
        settings: &TenantSettings,
    ) -> Self {
        let reason = block.data.reason.as_deref().filter(|reason| !reason.is_empty());
        let title = match (profile, reason) {
            (FeedProfile::Details, Some(reason)) => reason,
            _ => &settings.busy_label,
        };
        Self::busy(
            format!("block-{}@kalends", block.id),
            title.to_owned(),
            Span::from(&block.data.span),
            block.data.span.shown_in(home),
            block.created_at,
        )
    }

    /// An item imported from a platform's feed, as a feed with `profile` shows it: named after
    /// its platform under `details`, else the busy label. Imported items appear only in feeds.
    pub fn from_imported(
        item: &ImportedItem,
        home: TimeZone,
        profile: FeedProfile,
        settings: &TenantSettings,
    ) -> Self {
        let title = match profile {
            FeedProfile::Busy => settings.busy_label.clone(),
            FeedProfile::Details => imported_label(item.platform, item.summary.as_deref()),
        };
        let uid = format!("import-{}@kalends", item.id);
        Self::busy(uid, title, item.span, home, item.updated_at)
    }

    /// Nights of `resource` its rules close (`export_to_feeds`), as a feed shows them: only
    /// why, under a `UID` made of the resource, the reason and the first night, so that the
    /// same run keeps its `UID` from one fetch to the next; `at` stamps it.
    pub fn from_closed(resource: Uuid, run: &ClosedRun, zone: TimeZone, at: DateTime<Utc>) -> Self {
        let uid = format!("closed-{resource}-{}-{}@kalends", run.by.as_str(), run.start);
        let span = Span::AllDay { start: run.start, end: run.end };
        Self::busy(uid, run.by.title().to_owned(), span, zone, at)
    }

    /// The item as a `VEVENT` of a feed, with timed spans written in `zone`: opaque, its
    /// `DTSTAMP` the item's last change, no URL and no parties (an invite sets those).
    pub fn event(&self, zone: Option<chrono_tz::Tz>) -> EventOut<'_> {
        EventOut {
            uid: &self.uid,
            span: &self.span,
            zone,
            summary: &self.title,
            description: self.description.as_deref(),
            location: self.location.as_deref(),
            status: self.status.into(),
            sequence: self.sequence,
            created: self.created,
            last_modified: self.changed,
            dtstamp: self.changed,
            transparent: false,
            url: None,
            organizer: None,
            attendees: &[],
            categories: &[],
        }
    }

    /// A confirmed item that is neither a booking nor personal: never revised in place, no
    /// description or location.
    fn busy(uid: String, title: String, span: Span, zone: TimeZone, at: DateTime<Utc>) -> Self {
        CalendarItem {
            uid,
            title,
            description: None,
            location: None,
            span,
            zone,
            status: BookingStatus::Confirmed,
            sequence: 0,
            created: at,
            changed: at,
            colour: None,
            reminder_minutes: Vec::new(),
        }
    }
}

impl From<BookingStatus> for EventStatus {
    fn from(status: BookingStatus) -> Self {
        match status {
            BookingStatus::Confirmed => EventStatus::Confirmed,
            BookingStatus::Tentative => EventStatus::Tentative,
            BookingStatus::Cancelled => EventStatus::Cancelled,
        }
    }
}

/// The one description of a booking: its own text, then, when `customer`, who booked and how to
/// reach them; `None` when there is nothing to say.
fn description(booking: &Booking, customer: bool) -> Option<String> {
    let data = &booking.data;
    let mut lines: Vec<String> = text(&data.description).into_iter().collect();
    if let Some(c) = data.customer.as_ref().filter(|_| customer) {
        lines.push(format!("Customer: {}", c.name));
        if let Some(email) = &c.email {
            lines.push(format!("Email: {}", email.as_str()));
        }
        if let Some(phone) = &c.phone {
            lines.push(format!("Phone: {phone}"));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A free text as shown: none when blank.
fn text(value: &Option<String>) -> Option<String> {
    value.as_deref().filter(|v| !v.trim().is_empty()).map(str::to_owned)
}
