//! Tests of expansion beyond single overrides: `RECURRENCE-ID;RANGE=THISANDFUTURE`, RDATE
//! periods, and RFC 7529's RSCALE and SKIP.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Reads VEVENTs (CRLF added) for 2024 to 2030.
fn read(events: &str) -> ParsedFeed {
    let body = events.trim().lines().map(str::trim).collect::<Vec<_>>().join("\r\n");
    let text = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}\r\nEND:VCALENDAR\r\n");
    let options = ParseOptions {
        from: at(2024, 1, 1, 0, 0),
        to: at(2030, 1, 1, 0, 0),
        floating_zone: chrono_tz::UTC,
        producer: Producer::Other,
        max_events: 100_000,
        all_single_events: false,
        max_work: DEFAULT_MAX_WORK,
    };
    let mut feed = parse(text.as_bytes(), &options);
    feed.busy.sort_by_key(|b| b.span);
    feed
}

/// `(start, end)` of every timed item, by start.
fn spans(feed: &ParsedFeed) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    feed.busy
        .iter()
        .map(|b| match b.span {
            Span::Timed { start, end } => (start, end),
            Span::AllDay { .. } => panic!("{b:?} is all-day"),
        })
        .collect()
}

/// The start date of every all-day item, by start.
fn dates(feed: &ParsedFeed) -> Vec<NaiveDate> {
    feed.busy
        .iter()
        .map(|b| match b.span {
            Span::AllDay { start, .. } => start,
            Span::Timed { .. } => panic!("{b:?} is timed"),
        })
        .collect()
}

fn hours(start: DateTime<Utc>, h: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    (start, start + chrono::Duration::hours(h))
}

/// A weekly Monday class, 10:00 to 11:00 UTC, five times from 2024-01-01.
const WEEKLY: &str = "BEGIN:VEVENT
UID:class
DTSTART:20240101T100000Z
DTEND:20240101T110000Z
RRULE:FREQ=WEEKLY;COUNT=5
SUMMARY:Class
END:VEVENT";

#[test]
fn a_thisandfuture_override_moves_every_later_instance_and_gives_them_its_length() {
    let feed = read(&format!(
        "{WEEKLY}
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240115T100000Z
        DTSTART:20240115T140000Z
        DTEND:20240115T160000Z
        SUMMARY:Class (afternoons)
        END:VEVENT"
    ));
    assert_eq!(
        spans(&feed),
        vec![
            hours(at(2024, 1, 1, 10, 0), 1),
            hours(at(2024, 1, 8, 10, 0), 1),
            hours(at(2024, 1, 15, 14, 0), 2),
            hours(at(2024, 1, 22, 14, 0), 2),
            hours(at(2024, 1, 29, 14, 0), 2),
        ]
    );
    // The moved instances keep their identity and take the override's summary.
    let last = &feed.busy[4];
    assert_eq!(last.recurrence_id.as_deref(), Some("20240129T100000Z"));
    assert_eq!(last.summary.as_deref(), Some("Class (afternoons)"));
}

#[test]
fn a_thisandfuture_override_moves_instances_that_come_from_rdate() {
    let feed = read(
        "BEGIN:VEVENT
        UID:extra
        DTSTART:20240101T100000Z
        DURATION:PT1H
        RDATE:20240110T100000Z,20240120T100000Z
        END:VEVENT
        BEGIN:VEVENT
        UID:extra
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240110T100000Z
        DTSTART:20240111T090000Z
        DURATION:PT30M
        END:VEVENT",
    );
    let half = |t| (t, t + chrono::Duration::minutes(30));
    assert_eq!(
        spans(&feed),
        vec![
            hours(at(2024, 1, 1, 10, 0), 1),
            half(at(2024, 1, 11, 9, 0)),
            half(at(2024, 1, 21, 9, 0))
        ]
    );
}

#[test]
fn a_later_thisandfuture_override_takes_over_and_a_thisonly_override_still_wins() {
    let feed = read(&format!(
        "{WEEKLY}
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240108T100000Z
        DTSTART:20240108T120000Z
        DTEND:20240108T130000Z
        END:VEVENT
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID:20240115T100000Z
        DTSTART:20240116T080000Z
        DTEND:20240116T090000Z
        END:VEVENT
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240122T100000Z
        DTSTART:20240122T170000Z
        DTEND:20240122T200000Z
        END:VEVENT"
    ));
    assert_eq!(
        spans(&feed),
        vec![
            hours(at(2024, 1, 1, 10, 0), 1),
            hours(at(2024, 1, 8, 12, 0), 1),
            hours(at(2024, 1, 16, 8, 0), 1),
            hours(at(2024, 1, 22, 17, 0), 3),
            hours(at(2024, 1, 29, 17, 0), 3),
        ]
    );
}

#[test]
fn an_exdate_names_the_original_start_of_an_instance_a_range_override_moves() {
    let feed = read(
        "BEGIN:VEVENT
        UID:class
        DTSTART:20240101T100000Z
        DTEND:20240101T110000Z
        RRULE:FREQ=WEEKLY;COUNT=5
        EXDATE:20240122T100000Z,20240129T140000Z
        END:VEVENT
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240115T100000Z
        DTSTART:20240115T140000Z
        DTEND:20240115T150000Z
        END:VEVENT",
    );
    // The 22nd is gone; the EXDATE naming where the 29th moved to removes nothing.
    assert_eq!(
        spans(&feed),
        vec![
            hours(at(2024, 1, 1, 10, 0), 1),
            hours(at(2024, 1, 8, 10, 0), 1),
            hours(at(2024, 1, 15, 14, 0), 1),
            hours(at(2024, 1, 29, 14, 0), 1),
        ]
    );
}

#[test]
fn a_range_override_that_ends_before_it_starts_leaves_the_series_where_it_was() {
    let feed = read(&format!(
        "{WEEKLY}
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240115T100000Z
        DTSTART:20240115T140000Z
        DTEND:20240115T130000Z
        END:VEVENT"
    ));
    assert_eq!(spans(&feed).len(), 5);
    assert_eq!(spans(&feed)[4], hours(at(2024, 1, 29, 10, 0), 1));
    assert!(feed.skipped.iter().any(|s| s.reason == "end before start"), "{:?}", feed.skipped);
}

#[test]
fn a_range_override_moved_by_millennia_keeps_the_instances_before_it() {
    let feed = read(&format!(
        "{WEEKLY}
        BEGIN:VEVENT
        UID:class
        RECURRENCE-ID;RANGE=THISANDFUTURE:20240115T100000Z
        DTSTART:99991231T100000Z
        DTEND:99991231T110000Z
        END:VEVENT"
    ));
    assert!(feed.skipped.is_empty(), "{:?}", feed.skipped);
    assert_eq!(
        spans(&feed),
        vec![hours(at(2024, 1, 1, 10, 0), 1), hours(at(2024, 1, 8, 10, 0), 1)]
    );
}

#[test]
fn an_all_day_thisandfuture_override_shifts_later_days() {
    let feed = read(
        "BEGIN:VEVENT
        UID:days
        DTSTART;VALUE=DATE:20240101
        RRULE:FREQ=WEEKLY;COUNT=4
        END:VEVENT
        BEGIN:VEVENT
        UID:days
        RECURRENCE-ID;VALUE=DATE;RANGE=THISANDFUTURE:20240108
        DTSTART;VALUE=DATE:20240110
        DTEND;VALUE=DATE:20240112
        END:VEVENT",
    );
    assert_eq!(
        dates(&feed),
        vec![day(2024, 1, 1), day(2024, 1, 10), day(2024, 1, 17), day(2024, 1, 24)]
    );
    assert_eq!(feed.busy[3].span, Span::AllDay { start: day(2024, 1, 24), end: day(2024, 1, 26) });
}

#[test]
fn an_rdate_period_sets_the_length_of_its_own_instance() {
    let feed = read(
        "BEGIN:VEVENT
        UID:periods
        DTSTART:20240101T100000Z
        DTEND:20240101T110000Z
        RDATE;VALUE=PERIOD:20240105T090000Z/20240105T170000Z,20240106T090000Z/PT3H
        RDATE:20240107T100000Z
        END:VEVENT",
    );
    assert_eq!(
        spans(&feed),
        vec![
            hours(at(2024, 1, 1, 10, 0), 1),
            hours(at(2024, 1, 5, 9, 0), 8),
            hours(at(2024, 1, 6, 9, 0), 3),
            hours(at(2024, 1, 7, 10, 0), 1),
        ]
    );
}

fn leap_day(skip: &str) -> Vec<NaiveDate> {
    dates(&read(&format!(
        "BEGIN:VEVENT
        UID:leap
        DTSTART;VALUE=DATE:20240229
        RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;RSCALE=GREGORIAN;SKIP={skip};COUNT=5
        END:VEVENT"
    )))
}

#[test]
fn skip_moves_a_leap_day_forward_backward_or_omits_it() {
    assert_eq!(
        leap_day("FORWARD"),
        vec![day(2024, 2, 29), day(2025, 3, 1), day(2026, 3, 1), day(2027, 3, 1), day(2028, 2, 29)]
    );
    assert_eq!(
        leap_day("BACKWARD"),
        vec![
            day(2024, 2, 29),
            day(2025, 2, 28),
            day(2026, 2, 28),
            day(2027, 2, 28),
            day(2028, 2, 29)
        ]
    );
    // OMIT: five occurrences are five leap years.
    assert_eq!(leap_day("OMIT"), vec![day(2024, 2, 29), day(2028, 2, 29)]);
}

#[test]
fn skip_moves_a_monthly_31st_in_short_months() {
    let feed = read(
        "BEGIN:VEVENT
        UID:rent
        DTSTART:20240131T090000Z
        DURATION:PT1H
        RRULE:FREQ=MONTHLY;RSCALE=GREGORIAN;SKIP=BACKWARD;COUNT=4
        END:VEVENT
        BEGIN:VEVENT
        UID:audit
        DTSTART:20240131T120000Z
        DURATION:PT1H
        RRULE:FREQ=MONTHLY;BYMONTHDAY=31;RSCALE=GREGORIAN;SKIP=FORWARD;UNTIL=20240601T000000Z
        END:VEVENT",
    );
    let starts: Vec<_> = spans(&feed).into_iter().map(|s| s.0).collect();
    assert_eq!(
        starts,
        vec![
            at(2024, 1, 31, 9, 0),
            at(2024, 1, 31, 12, 0),
            at(2024, 2, 29, 9, 0),
            at(2024, 3, 1, 12, 0),
            at(2024, 3, 31, 9, 0),
            at(2024, 3, 31, 12, 0),
            at(2024, 4, 30, 9, 0),
            at(2024, 5, 1, 12, 0),
            at(2024, 5, 31, 12, 0),
        ]
    );
}

#[test]
fn a_rule_in_another_calendar_is_skipped_with_the_calendar_named() {
    let feed = read(
        "BEGIN:VEVENT
        UID:new-year
        DTSTART;VALUE=DATE:20240210
        RRULE:RSCALE=CHINESE;FREQ=YEARLY
        END:VEVENT
        BEGIN:VEVENT
        UID:gregorian
        DTSTART;VALUE=DATE:20240210
        RRULE:RSCALE=gregorian;FREQ=YEARLY;COUNT=2
        END:VEVENT",
    );
    assert_eq!(dates(&feed), vec![day(2024, 2, 10), day(2025, 2, 10)]);
    assert_eq!(feed.skipped.len(), 1, "{:?}", feed.skipped);
    assert_eq!(feed.skipped[0].uid.as_deref(), Some("new-year"));
    assert!(feed.skipped[0].reason.contains("CHINESE"), "{}", feed.skipped[0].reason);
}

/// A series with an optional THISANDFUTURE override of its `k`th instance.
fn series(freq: &str, interval: u8, count: u8, range: Option<(u8, i64, i64)>) -> String {
    let start = at(2024, 3, 4, 9, 30);
    let mut text = format!(
        "BEGIN:VEVENT
        UID:prop
        DTSTART:20240304T093000Z
        DURATION:PT45M
        RRULE:FREQ={freq};INTERVAL={interval};COUNT={count}
        END:VEVENT"
    );
    if let Some((k, shift, minutes)) = range {
        let step = if freq == "DAILY" { 1 } else { 7 };
        let original = start.naive_utc() + chrono::Duration::days(i64::from(k * interval) * step);
        let moved = original + chrono::Duration::minutes(shift);
        let fmt = |t: chrono::NaiveDateTime| t.format("%Y%m%dT%H%M%S").to_string();
        text.push_str(&format!(
            "
            BEGIN:VEVENT
            UID:prop
            RECURRENCE-ID;RANGE=THISANDFUTURE:{}Z
            DTSTART:{}Z
            DURATION:PT{minutes}M
            END:VEVENT",
            fmt(original),
            fmt(moved)
        ));
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_thisandfuture_override_changes_nothing_before_its_instance(
        daily in any::<bool>(),
        interval in 1u8..4,
        count in 2u8..40,
        k in 1u8..40,
        shift in -3000i64..3000,
        minutes in 0i64..600,
    ) {
        let k = k % count;
        let freq = if daily { "DAILY" } else { "WEEKLY" };
        let plain = read(&series(freq, interval, count, None));
        let moved = read(&series(freq, interval, count, Some((k, shift, minutes))));
        prop_assert_eq!(plain.busy.len(), usize::from(count));
        prop_assert_eq!(moved.busy.len(), usize::from(count));
        let by_rid = |feed: &ParsedFeed| {
            let mut items = feed.busy.clone();
            items.sort_by(|a, b| a.recurrence_id.cmp(&b.recurrence_id));
            items
        };
        let (plain, moved) = (by_rid(&plain), by_rid(&moved));
        let k = usize::from(k);
        prop_assert_eq!(&plain[..k], &moved[..k]);
        let later_moved = plain[k..].iter().zip(&moved[k..]).all(|(a, b)| {
            let (Span::Timed { start: a, .. }, Span::Timed { start: b, end }) = (a.span, b.span)
            else { return false };
            (b - a).num_minutes() == shift && (end - b).num_minutes() == minutes
        });
        prop_assert!(later_moved);
    }
}
