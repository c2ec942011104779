//! A booking as the event a staff member's calendar shows: its calendar item
//! (`kalends_core::calendar_item`, which applies the tenant's privacy setting, colours and
//! reminders) in the shape the providers take.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use kalends_core::calendar_item::{Audience, CalendarItem};
use kalends_core::domain::{Booking, BookingSpan, BookingStatus, Tenant};
use kalends_providers::calendar::{EventDraft, EventKey};

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

/// The event for `booking` in the calendar of the connection named by `key`: the booking's
/// calendar item for a staff calendar, with Google's colour id for the tenant's colour.
pub fn draft(tenant: &Tenant, booking: &Booking, key: EventKey) -> EventDraft {
    let settings = &tenant.settings;
    // Providers ignore the zone of whole days, so the tenant's zone does for placing them.
    let item = CalendarItem::from_booking(booking, settings.time_zone, Audience::Staff(settings));
    EventDraft {
        key,
        tenant_id: tenant.id,
        tentative: item.status == BookingStatus::Tentative,
        color_id: item.colour.as_deref().and_then(google_color),
        summary: item.title,
        description: item.description,
        location: item.location,
        time: item.span,
        zone: item.zone,
        reminder_minutes: item.reminder_minutes,
    }
}

/// Instants that surely contain the booking: a timed span as it is, whole days widened by a day
/// either side (which covers every zone they can be placed in). For windows that look for the
/// booking's event, not for placing it.
pub fn rough_bounds(span: &BookingSpan) -> (DateTime<Utc>, DateTime<Utc>) {
    match *span {
        BookingSpan::Timed { start, end, .. } => (start, end),
        BookingSpan::AllDay { start, end } => (
            start.and_time(NaiveTime::MIN).and_utc() - Duration::days(1),
            end.and_time(NaiveTime::MIN).and_utc() + Duration::days(1),
        ),
    }
}

/// A colour name (or Google id) as Google's `colorId`; common names map to the nearest.
fn google_color(name: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use kalends_core::domain::{Customer, EventPrivacy, NewBooking, Span, TenantSettings};
    use uuid::Uuid;

    use super::*;

    fn tenant(privacy: EventPrivacy) -> Tenant {
        Tenant {
            id: Uuid::now_v7(),
            settings: TenantSettings { event_privacy: privacy, ..Default::default() },
            created_at: Utc::now(),
        }
    }

    fn booking(status: BookingStatus) -> Booking {
        let day = |d| NaiveDate::from_ymd_opt(2030, 6, d).unwrap();
        Booking {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            data: NewBooking {
                external_id: None,
                resource_id: None,
                staff_ids: vec![],
                status,
                title: "Sea view room".into(),
                description: Some("Late arrival".into()),
                location: Some("12 Beach Road".into()),
                customer: Some(Customer {
                    name: "Ann Lee".into(),
                    email: None,
                    phone: Some("+27 82 000 0000".into()),
                }),
                span: BookingSpan::all_day(day(10), day(12)).unwrap(),
            },
            version: 3,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn key() -> EventKey {
        EventKey { booking_id: Uuid::now_v7(), connection_id: Uuid::now_v7() }
    }

    #[test]
    fn a_details_event_carries_the_booking_and_a_busy_one_only_the_label() {
        let b = booking(BookingStatus::Confirmed);
        let details = draft(&tenant(EventPrivacy::Details), &b, key());
        assert_eq!(details.summary, "Sea view room");
        assert_eq!(
            details.description.as_deref(),
            Some("Late arrival\nCustomer: Ann Lee\nPhone: +27 82 000 0000")
        );
        assert_eq!(details.location.as_deref(), Some("12 Beach Road"));
        let busy = draft(&tenant(EventPrivacy::Busy), &b, key());
        assert_eq!(busy.summary, "Reserved");
        assert_eq!((busy.description, busy.location), (None, None), "no personal data");
        assert!(matches!(busy.time, Span::AllDay { .. }));
    }

    #[test]
    fn tentative_bookings_are_tentative_and_take_the_tentative_colour() {
        let event =
            draft(&tenant(EventPrivacy::Details), &booking(BookingStatus::Tentative), key());
        assert!(event.tentative);
        assert_eq!(event.color_id.as_deref(), Some("5"), "yellow is Google's banana");
        let confirmed =
            draft(&tenant(EventPrivacy::Details), &booking(BookingStatus::Confirmed), key());
        assert_eq!(confirmed.color_id, None, "no colour set for confirmed bookings by default");
        assert_eq!(confirmed.reminder_minutes, vec![1440, 60]);
    }
}
