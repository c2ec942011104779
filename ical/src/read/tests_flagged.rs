//! Tests of what the reader flags rather than guesses: unknown RRULE parts, unreadable values,
//! truncated files, events without UID that differ, and a second DTSTART.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn read_2030(bytes: &[u8]) -> ParsedFeed {
    let options = ParseOptions {
        from: at(2030, 1, 1, 0, 0),
        to: at(2031, 1, 1, 0, 0),
        floating_zone: chrono_tz::UTC,
        producer: Producer::Other,
        max_events: 100_000,
        all_single_events: false,
        max_work: DEFAULT_MAX_WORK,
    };
    parse(bytes, &options)
}

fn feed(body: &str) -> Vec<u8> {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
        .into_bytes()
}

fn reasons(parsed: &ParsedFeed) -> Vec<(Option<&str>, &str)> {
    parsed.skipped.iter().map(|s| (s.uid.as_deref(), s.reason.as_str())).collect()
}

fn span_of<'p>(parsed: &'p ParsedFeed, uid: &str) -> Vec<&'p Span> {
    parsed.busy.iter().filter(|b| b.uid == uid).map(|b| &b.span).collect()
}

#[test]
fn a_misspelt_until_or_an_unknown_part_skips_the_series_instead_of_repeating_it_forever() {
    let body = "BEGIN:VEVENT\r\nUID:untl\r\nDTSTART:20300107T090000Z\r\n\
RRULE:FREQ=WEEKLY;UNTL=20300331T090000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:foo\r\nDTSTART:20300107T090000Z\r\nRRULE:FREQ=WEEKLY;FOO=1;COUNT=12\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:x-part\r\nDTSTART:20300107T090000Z\r\nRRULE:FREQ=WEEKLY;X-NAME=1\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:good\r\nDTSTART:20300107T090000Z\r\nRRULE:FREQ=WEEKLY;UNTIL=20300331T090000Z;\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    assert!(span_of(&parsed, "untl").is_empty(), "no never-ending series is made up");
    assert!(span_of(&parsed, "foo").is_empty());
    assert!(span_of(&parsed, "x-part").is_empty());
    assert_eq!(span_of(&parsed, "good").len(), 12, "a trailing ';' is not an unknown part");
    assert_eq!(
        reasons(&parsed),
        vec![
            (Some("untl"), "unreadable RRULE (unknown part UNTL=20300331T090000Z)"),
            (Some("foo"), "unreadable RRULE (unknown part FOO=1)"),
            (Some("x-part"), "unreadable RRULE (unknown part X-NAME=1)"),
        ]
    );
}

#[test]
fn rscale_and_skip_are_known_rrule_parts() {
    let body = "BEGIN:VEVENT\r\nUID:r\r\nDTSTART:20300107T090000Z\r\n\
RRULE:RSCALE=GREGORIAN;FREQ=WEEKLY;SKIP=OMIT;COUNT=3\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    assert!(!reasons(&parsed).iter().any(|(_, r)| r.contains("unknown part")), "{parsed:?}");
}

#[test]
fn an_unreadable_or_negative_duration_is_reported_and_the_event_kept_from_its_start() {
    let body = "BEGIN:VEVENT\r\nUID:huge\r\nDTSTART:20300105T090000Z\r\nDURATION:P999999999999999999W\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:negative\r\nDTSTART;VALUE=DATE:20300110\r\nDURATION:-P2D\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:bad-end\r\nDTSTART:20300112T090000Z\r\nDTEND:20301312T100000Z\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    assert_eq!(
        span_of(&parsed, "huge"),
        vec![&Span::Timed { start: at(2030, 1, 5, 9, 0), end: at(2030, 1, 5, 9, 0) }]
    );
    assert_eq!(
        span_of(&parsed, "negative"),
        vec![&Span::AllDay { start: day(2030, 1, 10), end: day(2030, 1, 11) }]
    );
    assert_eq!(span_of(&parsed, "bad-end").len(), 1);
    assert_eq!(
        reasons(&parsed),
        vec![
            (
                Some("huge"),
                "unreadable DURATION (P999999999999999999W): kept, its length read from DTSTART alone"
            ),
            (
                Some("negative"),
                "negative DURATION (-P2D): kept, its length read from DTSTART alone"
            ),
            (
                Some("bad-end"),
                "unreadable DTEND (20301312T100000Z): kept, its length read from DTSTART alone"
            ),
        ]
    );
}

#[test]
fn a_readable_duration_stands_in_for_an_unreadable_dtend() {
    let body = "BEGIN:VEVENT\r\nUID:both\r\nDTSTART:20300112T090000Z\r\nDTEND:garbage\r\nDURATION:PT2H\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    assert_eq!(
        span_of(&parsed, "both"),
        vec![&Span::Timed { start: at(2030, 1, 12, 9, 0), end: at(2030, 1, 12, 11, 0) }]
    );
    assert_eq!(
        reasons(&parsed),
        vec![(Some("both"), "unreadable DTEND (garbage): kept, its length read from DURATION")]
    );
}

#[test]
fn a_bad_exdate_keeps_its_occurrence_busy_and_a_bad_rdate_is_reported() {
    let body = "BEGIN:VEVENT\r\nUID:s\r\nDTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\n\
RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE:20300114T090000Z,2030011X\r\nRDATE:20300301T090000Z,20300230T090000Z\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    let starts: Vec<DateTime<Utc>> = span_of(&parsed, "s")
        .iter()
        .map(|s| match s {
            Span::Timed { start, .. } => *start,
            Span::AllDay { .. } => panic!("timed"),
        })
        .collect();
    assert_eq!(starts, vec![at(2030, 1, 7, 9, 0), at(2030, 1, 21, 9, 0), at(2030, 3, 1, 9, 0)]);
    assert_eq!(
        reasons(&parsed),
        vec![
            (Some("s"), "unreadable EXDATE (2030011X): kept, no occurrence removed for it"),
            (Some("s"), "unreadable RDATE (20300230T090000Z): kept, no occurrence added for it"),
        ]
    );
}

#[test]
fn a_file_cut_off_inside_a_vevent_is_truncated_and_its_last_event_not_made_up() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:whole\r\nDTSTART;VALUE=DATE:20300105\r\nDTEND;VALUE=DATE:20300108\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:cut\r\nDTSTART;VALUE=DATE:20300110\r\nDTEND;VALUE=DA";
    let parsed = read_2030(text.as_bytes());
    assert!(parsed.truncated);
    let uids: Vec<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    assert_eq!(uids, vec!["whole"], "what was complete before the cut is kept");
    assert_eq!(
        reasons(&parsed),
        vec![(
            Some("cut"),
            "the file is truncated: it ends inside a VEVENT, which is not imported"
        )]
    );
    let json = serde_json::to_value(&parsed).unwrap();
    assert_eq!(json["truncated"], true);
}

#[test]
fn a_file_without_end_vcalendar_is_truncated_and_a_whole_one_is_not() {
    let body = "BEGIN:VEVENT\r\nUID:whole\r\nDTSTART;VALUE=DATE:20300105\r\nEND:VEVENT\r\n";
    let whole = read_2030(&feed(body));
    assert!(!whole.truncated);
    assert!(whole.skipped.is_empty());
    assert!(serde_json::to_value(&whole).unwrap().get("truncated").is_none());
    let cut = format!("BEGIN:VCALENDAR\r\n{body}");
    let parsed = read_2030(cut.as_bytes());
    assert!(parsed.truncated);
    assert_eq!(parsed.busy.len(), 1);
    assert_eq!(
        reasons(&parsed),
        vec![(None, "the file is truncated: it ends before END:VCALENDAR")]
    );
}

#[test]
fn events_without_uid_that_differ_in_any_property_keep_their_own_uid() {
    let base = "DTSTART:20300105T090000Z\r\nSUMMARY:Cleaning\r\n";
    let body = format!(
        "BEGIN:VEVENT\r\n{base}DTEND:20300105T100000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\n{base}DTEND:20300105T120000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\n{base}DTEND:20300105T100000Z\r\nRRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\n{base}DTEND:20300105T100000Z\r\nLOCATION:Room 2\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTAMP:20290101T000000Z\r\n{base}DTEND:20300105T100000Z\r\nEND:VEVENT\r\n"
    );
    let parsed = read_2030(&feed(&body));
    let mut uids: Vec<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 4, "{parsed:?}");
    // The last is the first again, exported at another time: still one event.
    assert_eq!(parsed.skipped.len(), 1, "{:?}", parsed.skipped);
    assert!(parsed.skipped[0].reason.starts_with("duplicate UID"));
    assert_eq!(parsed.busy.len(), 5, "four events, one of them twice a day");
}

#[test]
fn a_generated_uid_does_not_depend_on_property_order_case_or_dtstamp() {
    let a = "BEGIN:VEVENT\r\nDTSTAMP:20290101T000000Z\r\nDTSTART:20300105T090000Z\r\nSUMMARY:Cleaning\r\nLOCATION:Room 2\r\nEND:VEVENT\r\n";
    let b = "BEGIN:VEVENT\r\nlocation:Room 2\r\nsummary:Cleaning\r\nDTSTART:20300105T090000Z\r\nDTSTAMP:20290301T000000Z\r\nEND:VEVENT\r\n";
    let (a, b) = (read_2030(&feed(a)), read_2030(&feed(b)));
    assert_eq!(a.busy[0].uid, b.busy[0].uid);
    assert!(a.busy[0].uid.starts_with("kalends-") && a.busy[0].uid.len() == 40);
}

#[test]
fn a_second_dtstart_is_reported_and_the_first_is_used() {
    let body = "BEGIN:VEVENT\r\nUID:two\r\nDTSTART:20300105T090000Z\r\nDTEND:20300105T100000Z\r\n\
DTSTART:20300106T090000Z\r\nEND:VEVENT\r\n";
    let parsed = read_2030(&feed(body));
    assert_eq!(
        span_of(&parsed, "two"),
        vec![&Span::Timed { start: at(2030, 1, 5, 9, 0), end: at(2030, 1, 5, 10, 0) }]
    );
    assert_eq!(
        reasons(&parsed),
        vec![(
            Some("two"),
            "second DTSTART (20300106T090000Z) ignored: kept with the first (20300105T090000Z)"
        )]
    );
}
