//! A booking as the event a staff member's calendar shows: title and details per the tenant's
//! privacy setting, whole days or a timed span in its zone, tentative or confirmed, the tenant's
//! colour and reminders.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use kalends_core::domain::{Booking, BookingSpan, BookingStatus, EventPrivacy, Tenant};
use kalends_providers::calendar::{EventDraft, EventKey, EventTime};

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

/// The event for `booking` in the calendar of the connection named by `key`.
pub fn draft(tenant: &Tenant, booking: &Booking, key: EventKey) -> EventDraft {
    let settings = &tenant.settings;
    let data = &booking.data;
    let (summary, description) = match settings.event_privacy {
        EventPrivacy::Busy => (settings.busy_label.clone(), None),
        EventPrivacy::Details => (data.title.clone(), details(booking)),
    };
    let time = match data.span {
        BookingSpan::AllDay { start, end } => EventTime::AllDay { start, end },
        BookingSpan::Timed { start, end, zone } => {
            EventTime::Timed { start, end, zone: zone.tz().name().to_owned() }
        }
    };
    let tentative = data.status == BookingStatus::Tentative;
    let colour = if tentative { &settings.colors.tentative } else { &settings.colors.confirmed };
    EventDraft {
        key,
        tenant_id: tenant.id,
        summary,
        description,
        location: match settings.event_privacy {
            EventPrivacy::Busy => None,
            EventPrivacy::Details => data.location.clone(),
        },
        time,
        tentative,
        color_id: colour.as_deref().and_then(google_color),
        reminder_minutes: settings.reminder_offsets_minutes.clone(),
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

/// The description: the booking's own text, then who booked and how to reach them.
fn details(booking: &Booking) -> Option<String> {
    let data = &booking.data;
    let mut lines: Vec<String> = data.description.iter().cloned().collect();
    if let Some(customer) = &data.customer {
        lines.push(format!("Customer: {}", customer.name));
        if let Some(email) = &customer.email {
            lines.push(format!("E-mail: {}", email.as_str()));
        }
        if let Some(phone) = &customer.phone {
            lines.push(format!("Phone: {phone}"));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
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
    use kalends_core::domain::{Customer, NewBooking, TenantSettings};
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
        assert!(matches!(busy.time, EventTime::AllDay { .. }));
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
