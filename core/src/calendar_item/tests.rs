use chrono::{NaiveDate, TimeZone as _};

use super::*;
use crate::domain::{BookingSpan, Customer, NewBlock, NewBooking, Platform};
use kalends_ical::ItemKind;

// ------------------------------------------------------------------------------------- fixtures

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, d, h, 0, 0).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 6, d).unwrap()
}

fn zone(name: &str) -> TimeZone {
    name.parse().unwrap()
}

/// A two-night stay, with a customer who left a phone number and an address.
fn booking(status: BookingStatus) -> Booking {
    Booking {
        id: Uuid::from_u128(1),
        tenant_id: Uuid::from_u128(2),
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
                email: Some("ann@example.com".parse().unwrap()),
                phone: Some("+27 82 000 0000".into()),
            }),
            span: BookingSpan::all_day(day(10), day(12)).unwrap(),
        },
        version: 3,
        created_at: at(1, 8),
        updated_at: at(2, 9),
    }
}

/// A one-hour massage at 10:00 in Zurich.
fn timed(status: BookingStatus) -> Booking {
    let mut b = booking(status);
    b.data.span = BookingSpan::timed(at(10, 8), at(10, 9), zone("Europe/Zurich")).unwrap();
    b
}

fn settings(privacy: EventPrivacy) -> TenantSettings {
    TenantSettings { event_privacy: privacy, ..TenantSettings::default() }
}

fn home() -> TimeZone {
    zone("Africa/Johannesburg")
}

const DETAILS: &str =
    "Late arrival\nCustomer: Ann Lee\nEmail: ann@example.com\nPhone: +27 82 000 0000";

// ---------------------------------------------------------------------------------------- items

#[test]
fn a_details_feed_shows_the_booking_with_who_booked_and_how_to_reach_them() {
    let s = TenantSettings::default();
    let item = CalendarItem::from_booking(
        &booking(BookingStatus::Confirmed),
        home(),
        Audience::Feed(FeedProfile::Details, &s),
    );
    assert_eq!(item.uid, "00000000-0000-0000-0000-000000000001@kalends");
    assert_eq!(item.title, "Sea view room");
    assert_eq!(item.description.as_deref(), Some(DETAILS));
    assert_eq!(item.location.as_deref(), Some("12 Beach Road"));
    assert_eq!((item.status, item.sequence), (BookingStatus::Confirmed, 3));
    assert_eq!((item.created, item.changed), (at(1, 8), at(2, 9)));
    assert_eq!((item.colour, item.reminder_minutes), (None, vec![]), "feeds have neither");
}

#[test]
fn a_staff_calendar_shows_the_same_description_as_a_feed() {
    let s = settings(EventPrivacy::Details);
    let b = booking(BookingStatus::Confirmed);
    let staff = CalendarItem::from_booking(&b, home(), Audience::Staff(&s));
    let feed = CalendarItem::from_booking(&b, home(), Audience::Feed(FeedProfile::Details, &s));
    assert_eq!(staff.description.as_deref(), Some(DETAILS));
    assert_eq!(staff.description, feed.description);
    assert_eq!(staff.reminder_minutes, vec![1440, 60], "the tenant's reminders");
}

#[test]
fn the_busy_profile_hides_the_customer_and_everything_else_but_the_label() {
    let s = settings(EventPrivacy::Busy);
    let b = booking(BookingStatus::Confirmed);
    for audience in [Audience::Feed(FeedProfile::Busy, &s), Audience::Staff(&s)] {
        let item = CalendarItem::from_booking(&b, home(), audience);
        assert_eq!(item.title, "Reserved");
        assert_eq!((item.description, item.location), (None, None), "no personal data");
        assert_eq!(item.span, Span::AllDay { start: day(10), end: day(12) });
    }
}

#[test]
fn a_cancelled_booking_is_a_cancelled_item_with_its_details() {
    let s = TenantSettings::default();
    let item = CalendarItem::from_booking(
        &booking(BookingStatus::Cancelled),
        home(),
        Audience::Feed(FeedProfile::Details, &s),
    );
    assert_eq!(item.status, BookingStatus::Cancelled);
    assert_eq!(item.title, "Sea view room");
    let busy = Audience::Feed(FeedProfile::Busy, &s);
    let item = CalendarItem::from_booking(&booking(BookingStatus::Cancelled), home(), busy);
    assert_eq!(item.status, BookingStatus::Cancelled, "a busy feed still frees the time");
}

#[test]
fn a_tentative_booking_is_tentative_with_the_tentative_colour_in_a_staff_calendar() {
    let s = settings(EventPrivacy::Details);
    let item =
        CalendarItem::from_booking(&booking(BookingStatus::Tentative), home(), Audience::Staff(&s));
    assert_eq!(item.status, BookingStatus::Tentative);
    assert_eq!(item.colour.as_deref(), Some("yellow"));
    let confirmed =
        CalendarItem::from_booking(&booking(BookingStatus::Confirmed), home(), Audience::Staff(&s));
    assert_eq!(confirmed.colour, None, "no colour set for confirmed bookings by default");
}

#[test]
fn a_tentative_booking_shows_as_plainly_busy_in_a_busy_feed_but_not_in_a_busy_staff_calendar() {
    let s = settings(EventPrivacy::Busy);
    let b = booking(BookingStatus::Tentative);
    let feed = CalendarItem::from_booking(&b, home(), Audience::Feed(FeedProfile::Busy, &s));
    assert_eq!(feed.status, BookingStatus::Confirmed);
    let details = Audience::Feed(FeedProfile::Details, &s);
    assert_eq!(CalendarItem::from_booking(&b, home(), details).status, BookingStatus::Tentative);
    let staff = CalendarItem::from_booking(&b, home(), Audience::Staff(&s));
    assert_eq!(staff.status, BookingStatus::Tentative);
}

#[test]
fn the_customer_sees_their_booking_without_the_customer_lines() {
    let item =
        CalendarItem::from_booking(&booking(BookingStatus::Confirmed), home(), Audience::Customer);
    assert_eq!(item.title, "Sea view room");
    assert_eq!(item.description.as_deref(), Some("Late arrival"));
    assert_eq!(item.location.as_deref(), Some("12 Beach Road"));
}

#[test]
fn a_public_link_shows_only_that_the_booking_is_cancelled() {
    let item =
        CalendarItem::from_booking(&booking(BookingStatus::Confirmed), home(), Audience::Public);
    assert_eq!(item.title, "Cancelled");
    assert_eq!((item.description, item.location), (None, None));
    assert_eq!(item.status, BookingStatus::Cancelled);
    assert_eq!(item.span, Span::AllDay { start: day(10), end: day(12) }, "its time stays");
}

#[test]
fn a_booking_without_text_or_customer_has_no_description() {
    let mut b = booking(BookingStatus::Confirmed);
    b.data.description = Some("  ".into());
    b.data.customer = None;
    let s = TenantSettings::default();
    let item = CalendarItem::from_booking(&b, home(), Audience::Feed(FeedProfile::Details, &s));
    assert_eq!(item.description, None);
}

#[test]
fn whole_days_are_placed_in_the_home_zone_and_a_timed_booking_in_its_own() {
    let s = TenantSettings::default();
    let stay =
        CalendarItem::from_booking(&booking(BookingStatus::Confirmed), home(), Audience::Staff(&s));
    assert_eq!((stay.span, stay.zone), (Span::AllDay { start: day(10), end: day(12) }, home()));
    let massage =
        CalendarItem::from_booking(&timed(BookingStatus::Confirmed), home(), Audience::Staff(&s));
    assert_eq!(massage.span, Span::Timed { start: at(10, 8), end: at(10, 9) });
    assert_eq!(massage.zone, zone("Europe/Zurich"));
}

#[test]
fn a_block_shows_its_reason_in_a_details_feed_and_the_busy_label_in_a_busy_one() {
    let block = Block {
        id: Uuid::from_u128(5),
        data: NewBlock {
            resource_id: Some(Uuid::from_u128(6)),
            staff_id: None,
            span: BookingSpan::all_day(day(20), day(21)).unwrap(),
            reason: Some("Painting".into()),
        },
        created_at: at(3, 12),
    };
    let s = TenantSettings::default();
    let details = CalendarItem::from_block(&block, home(), FeedProfile::Details, &s);
    assert_eq!(details.uid, "block-00000000-0000-0000-0000-000000000005@kalends");
    assert_eq!(details.title, "Painting");
    assert_eq!((details.status, details.sequence), (BookingStatus::Confirmed, 0));
    assert_eq!((details.created, details.changed), (at(3, 12), at(3, 12)));
    let busy = CalendarItem::from_block(&block, home(), FeedProfile::Busy, &s);
    assert_eq!(busy.title, "Reserved");
    let unexplained =
        Block { data: NewBlock { reason: Some(String::new()), ..block.data.clone() }, ..block };
    let unexplained = CalendarItem::from_block(&unexplained, home(), FeedProfile::Details, &s);
    assert_eq!(unexplained.title, "Reserved");
}

#[test]
fn an_imported_item_is_named_after_its_platform_unless_the_feed_is_busy() {
    let item = ImportedItem {
        id: Uuid::from_u128(9),
        import_id: Uuid::from_u128(10),
        platform: Platform::Airbnb,
        uid: "res-1@airbnb.com".into(),
        recurrence_id: String::new(),
        kind: ItemKind::Reservation,
        summary: Some("Reserved".into()),
        span: Span::AllDay { start: day(20), end: day(22) },
        span_start: at(19, 22),
        span_end: at(21, 22),
        updated_at: at(4, 7),
        missing_since: None,
        details: Default::default(),
    };
    let s = TenantSettings::default();
    let details = CalendarItem::from_imported(&item, home(), FeedProfile::Details, &s);
    assert_eq!(details.uid, "import-00000000-0000-0000-0000-000000000009@kalends");
    assert_eq!(details.title, "Airbnb: Reserved");
    assert_eq!(details.changed, at(4, 7));
    let busy = CalendarItem::from_imported(&item, home(), FeedProfile::Busy, &s);
    assert_eq!(busy.title, "Reserved");
}
