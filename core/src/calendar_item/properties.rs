//! A property of bookings in feeds, checked on generated input (`proptest`): every booking the
//! API accepts, rendered into a `details` feed as `src/feeds.rs` renders it (a [`CalendarItem`],
//! then [`CalendarItem::event`] in the feed's zone), reads back as that booking. The reader and
//! the writer on their own are checked in `kalends-ical`.

use chrono::{DateTime, TimeDelta, Utc};
use kalends_ical::write::{CalendarHead, Method, calendar};
use kalends_ical::{ItemKind, ParseOptions, ParsedFeed, Producer, parse};
use proptest::prelude::*;

use super::*;
use crate::domain::{BookingSpan, NewBooking};

/// 2020-01-01T00:00:00Z: generated bookings start from here, over [`SPREAD_DAYS`].
const BASE: i64 = 1_577_836_800;
const SPREAD_DAYS: i64 = 15 * 365;

fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(BASE, 0).unwrap()
}

/// Any zone chrono-tz knows.
fn zone() -> impl Strategy<Value = TimeZone> {
    (0..chrono_tz::TZ_VARIANTS.len())
        .prop_map(|i| chrono_tz::TZ_VARIANTS[i].name().parse().unwrap())
}

/// Text with the characters that need care: TEXT specials, line breaks, controls, non-ASCII,
/// and runs long enough to be folded.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,120}", "[a-zé€😀,;:\\\\\"\r\n\t\u{1}\u{7f} ]{0,120}", any::<String>(),]
}

fn status() -> impl Strategy<Value = BookingStatus> {
    prop_oneof![
        Just(BookingStatus::Confirmed),
        Just(BookingStatus::Tentative),
        Just(BookingStatus::Cancelled)
    ]
}

/// A span the API accepts: timed (1 s to 366 days, in any zone) or whole days (1 to 366).
fn span() -> impl Strategy<Value = BookingSpan> {
    let timed =
        (0..SPREAD_DAYS * 86_400, 1..=366 * 86_400i64, zone()).prop_map(|(start, length, zone)| {
            let start = base() + TimeDelta::seconds(start);
            BookingSpan::timed(start, start + TimeDelta::seconds(length), zone)
        });
    let all_day = (0..SPREAD_DAYS, 1..=366i64).prop_map(|(start, days)| {
        let start = base().date_naive() + TimeDelta::days(start);
        BookingSpan::all_day(start, start + TimeDelta::days(days))
    });
    prop_oneof![timed, all_day].prop_map(|s| s.expect("the span is accepted"))
}

/// A booking the API would accept.
fn booking() -> impl Strategy<Value = Booking> {
    // As the API checks a title: trimmed, not blank, at most 500 characters.
    let title = text()
        .prop_map(|t| t.trim().chars().take(500).collect::<String>())
        .prop_filter("a title is not blank", |t| !t.is_empty());
    (any::<u128>(), title, prop::option::of(text()), status(), span()).prop_map(
        |(id, title, description, status, span)| Booking {
            id: Uuid::from_u128(id),
            tenant_id: Uuid::from_u128(1),
            data: NewBooking {
                external_id: None,
                resource_id: None,
                staff_ids: vec![],
                status,
                title,
                description,
                location: None,
                customer: None,
                span,
            },
            version: 0,
            created_at: base(),
            updated_at: base(),
        },
    )
}

/// The bookings as the feed route writes a `details` feed in `zone`.
fn feed(bookings: &[Booking], zone: TimeZone) -> String {
    let settings = TenantSettings::default();
    let audience = Audience::Feed(FeedProfile::Details, &settings);
    let items: Vec<CalendarItem> =
        bookings.iter().map(|b| CalendarItem::from_booking(b, zone, audience)).collect();
    let events: Vec<_> = items.iter().map(|item| item.event(Some(zone.tz()))).collect();
    let head = CalendarHead {
        method: Method::Publish,
        name: "Bookings",
        zone: zone.tz(),
        zones: &[zone.tz()],
        // Every year a generated booking can touch.
        years: 2019..=2037,
        refresh: Some(TimeDelta::hours(1)),
    };
    calendar(&head, &events)
}

/// A window holding every generated booking: 2019-01-01 to 2037-01-01.
fn wide_window() -> ParseOptions {
    let mut options = ParseOptions::new(Producer::Other, chrono_tz::UTC, base());
    options.from = DateTime::from_timestamp(1_546_300_800, 0).unwrap();
    options.to = DateTime::from_timestamp(2_114_380_800, 0).unwrap();
    options
}

/// A title as the reader gives it back: each line break one `\n`, control characters but TAB
/// dropped, trimmed; absent when nothing is left.
fn read_back(title: &str) -> Option<String> {
    let breaks = title.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String =
        breaks.chars().filter(|&c| c == '\n' || c == '\t' || !c.is_ascii_control()).collect();
    Some(kept.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Asserts that `parsed` holds each booking that is not cancelled, once, with its span and title.
fn assert_reads_back(parsed: &ParsedFeed, bookings: &[Booking], text: &str) {
    assert_eq!(parsed.events, bookings.len(), "VEVENTs in\n{text}");
    let busy: Vec<&Booking> =
        bookings.iter().filter(|b| b.data.status != BookingStatus::Cancelled).collect();
    assert_eq!(parsed.busy.len(), busy.len(), "{:?} from\n{text}", parsed.busy);
    for booking in busy {
        let uid = booking_uid(booking.id);
        let item = parsed.busy.iter().find(|b| b.uid == uid);
        let item = item.unwrap_or_else(|| panic!("no {uid:?} in {:?} from\n{text}", parsed.busy));
        assert_eq!(item.span, Span::from(&booking.data.span), "span of {uid:?} in\n{text}");
        assert_eq!(
            item.summary.as_deref(),
            read_back(&booking.data.title).as_deref(),
            "summary of {uid:?} in\n{text}"
        );
        assert_eq!(item.recurrence_id, None);
        assert_eq!(item.kind, ItemKind::Event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_booking_renders_a_feed_that_reads_back_as_that_booking(
        bookings in prop::collection::vec(booking(), 1..6),
        feed_zone in zone(),
    ) {
        let text = feed(&bookings, feed_zone);
        let parsed = parse(text.as_bytes(), &wide_window());
        assert_reads_back(&parsed, &bookings, &text);
    }
}
