//! Properties of the reader and the writer together, checked on generated input (`proptest`):
//! what the writer writes, the reader reads back as the same events; the reader never panics,
//! whatever the bytes. The coverage-guided fuzz targets in the repository's `fuzz/` check the
//! same on far more input.

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeDelta};
use chrono_tz::Tz;
use proptest::prelude::*;

use crate::write::{CalendarHead, EventOut, EventStatus, Method, calendar};
use crate::{
    DEFAULT_MAX_WORK, ItemDetails, ItemKind, ParseOptions, ParsedFeed, Producer, Span, parse,
};

/// 2020-01-01T00:00:00Z: generated events start from here, over [`SPREAD_DAYS`].
const BASE: i64 = 1_577_836_800;
const SPREAD_DAYS: i64 = 15 * 365;

/// A window holding every generated event: 2019-01-01 to 2037-01-01.
fn wide_window() -> ParseOptions {
    ParseOptions {
        from: DateTime::from_timestamp(1_546_300_800, 0).unwrap(),
        to: DateTime::from_timestamp(2_114_380_800, 0).unwrap(),
        floating_zone: chrono_tz::UTC,
        producer: Producer::Other,
        max_events: usize::MAX,
        all_single_events: true,
        max_work: DEFAULT_MAX_WORK,
    }
}

/// TEXT as it reads back: control characters but TAB dropped, each line break one `\n`, trimmed;
/// blank is absent.
fn read_back(text: &str) -> Option<String> {
    let cleaned = text.replace("\r\n", "\n").replace('\r', "\n");
    let cleaned: String =
        cleaned.chars().filter(|&c| c == '\n' || c == '\t' || !c.is_ascii_control()).collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Any zone chrono-tz knows.
fn zone() -> impl Strategy<Value = Tz> {
    (0..chrono_tz::TZ_VARIANTS.len()).prop_map(|i| chrono_tz::TZ_VARIANTS[i])
}

/// Text with the characters that need care: TEXT specials, line breaks, controls, non-ASCII,
/// and runs long enough to be folded.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,120}", "[a-zé€😀,;:\\\\\"\r\n\t\u{1}\u{7f} ]{0,120}", any::<String>(),]
}

/// A timed span (whole seconds, 0 s to 366 days) or an all-day span (1 to 366 days).
fn span() -> impl Strategy<Value = Span> {
    prop_oneof![
        (0..SPREAD_DAYS * 86_400, 0..=366 * 86_400i64).prop_map(|(start, length)| {
            let start = DateTime::from_timestamp(BASE + start, 0).unwrap();
            Span::Timed { start, end: start + TimeDelta::seconds(length) }
        }),
        (0..SPREAD_DAYS, 1..=366i64).prop_map(|(start, days)| {
            let start = base_day() + TimeDelta::days(start);
            Span::AllDay { start, end: start + TimeDelta::days(days) }
        }),
    ]
}

fn base_day() -> NaiveDate {
    DateTime::from_timestamp(BASE, 0).unwrap().date_naive()
}

/// One generated event: its UID, span, whether it is written in the feed's zone, summary,
/// status and transparency.
#[derive(Clone, Debug)]
struct Generated {
    uid: String,
    span: Span,
    zoned: bool,
    summary: String,
    description: Option<String>,
    status: EventStatus,
    transparent: bool,
}

fn status() -> impl Strategy<Value = EventStatus> {
    prop_oneof![
        Just(EventStatus::Confirmed),
        Just(EventStatus::Tentative),
        Just(EventStatus::Cancelled)
    ]
}

fn events() -> impl Strategy<Value = Vec<Generated>> {
    prop::collection::vec(
        (text(), span(), any::<bool>(), text(), prop::option::of(text()), status(), any::<bool>()),
        0..8,
    )
    .prop_map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, (uid, span, zoned, summary, description, status, transparent))| Generated {
                // The suffix keeps UIDs unique and never blank.
                uid: format!("{uid}-{i}@kalends"),
                span,
                zoned,
                summary,
                description,
                status,
                transparent,
            })
            .collect()
    })
}

/// The UTC years a feed's `VTIMEZONE` must cover, as the feed route computes them.
fn years(spans: &[Span]) -> std::ops::RangeInclusive<i32> {
    use chrono::Datelike;
    let years: Vec<i32> = spans
        .iter()
        .flat_map(|s| match *s {
            Span::AllDay { start, end } => [start.year(), end.year()],
            Span::Timed { start, end } => [start.year(), end.year()],
        })
        .collect();
    let lo = years.iter().copied().min().unwrap_or(2026);
    let hi = years.iter().copied().max().unwrap_or(lo);
    lo..=hi
}

fn written(name: &str, zone: Tz, events: &[Generated]) -> String {
    let spans: Vec<Span> = events.iter().map(|e| e.span).collect();
    let stamp = DateTime::from_timestamp(BASE, 0).unwrap();
    let outs: Vec<EventOut<'_>> = events
        .iter()
        .map(|e| EventOut {
            uid: &e.uid,
            span: &e.span,
            zone: e.zoned.then_some(zone),
            summary: &e.summary,
            description: e.description.as_deref(),
            location: None,
            status: e.status,
            sequence: 0,
            created: stamp,
            last_modified: stamp,
            dtstamp: stamp,
            transparent: e.transparent,
            url: None,
            organizer: None,
            attendees: &[],
            categories: &[],
        })
        .collect();
    let head = CalendarHead {
        method: Method::Publish,
        name,
        zone,
        zones: &[zone],
        years: years(&spans),
        refresh: Some(TimeDelta::hours(1)),
    };
    calendar(&head, &outs)
}

/// Asserts that `parsed` holds exactly the busy events of `events`, with their spans and
/// summaries.
fn assert_reads_back(parsed: &ParsedFeed, events: &[Generated], text: &str) {
    assert_eq!(parsed.events, events.len(), "VEVENTs in\n{text}");
    let busy: Vec<&Generated> =
        events.iter().filter(|e| e.status != EventStatus::Cancelled && !e.transparent).collect();
    assert_eq!(parsed.busy.len(), busy.len(), "{:?} from\n{text}", parsed.busy);
    for event in busy {
        let uid = read_back(&event.uid).unwrap();
        let item = parsed.busy.iter().find(|b| b.uid == uid);
        let item = item.unwrap_or_else(|| panic!("no {uid:?} in {:?} from\n{text}", parsed.busy));
        assert_eq!(item.span, event.span, "span of {uid:?} in\n{text}");
        assert_eq!(
            item.summary.as_deref(),
            read_back(&event.summary).as_deref(),
            "summary of {uid:?} in\n{text}"
        );
        assert_eq!(item.recurrence_id, None);
        assert_eq!(item.kind, ItemKind::Event);
    }
}

/// The real-world files of `tests/fixtures/ics-real/files`.
fn fixtures() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ics-real/files");
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    })
}

/// One edit of a fixture's bytes.
#[derive(Clone, Debug)]
enum Edit {
    /// Set the byte at this position (modulo the length).
    Set(usize, u8),
    /// Remove this many bytes from this position.
    Cut(usize, usize),
    /// Insert these bytes at this position.
    Insert(usize, Vec<u8>),
    /// Copy this many bytes from the first position to the second (repeats lines and blocks).
    Copy(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippets = prop_oneof![
        Just(b"\r\nRRULE:FREQ=DAILY;COUNT=500\r\n".to_vec()),
        Just(b"\r\nRRULE:FREQ=HOURLY;INTERVAL=1\r\n".to_vec()),
        Just(b"\r\nEXDATE:20261124T120000Z\r\n".to_vec()),
        Just(b"\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:20261125\r\n".to_vec()),
        Just(b"\r\nDTSTART;TZID=\"Nowhere/Else\":20261122T250000\r\n".to_vec()),
        Just(b"\r\nBEGIN:VEVENT\r\n".to_vec()),
        Just(b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_vec()),
        Just(b"\r\n ".to_vec()),
        Just(vec![0xff, 0xfe, 0x00]),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<usize>(), 0..200usize).prop_map(|(at, n)| Edit::Cut(at, n)),
        (any::<usize>(), snippets).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), 0..400usize, any::<usize>()).prop_map(|(a, n, b)| Edit::Copy(a, n, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match edit {
        Edit::Set(i, b) => {
            if !bytes.is_empty() {
                let i = i % bytes.len();
                bytes[i] = *b;
            }
        }
        Edit::Cut(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Edit::Insert(i, s) => {
            let i = at(*i, bytes.len());
            bytes.splice(i..i, s.iter().copied());
        }
        Edit::Copy(from, n, to) => {
            let from = at(*from, bytes.len());
            let piece = bytes[from..(from + n).min(bytes.len())].to_vec();
            let to = at(*to, bytes.len());
            bytes.splice(to..to, piece);
        }
    }
}

/// Reads `bytes` as an import of a feed from `producer` would; `parse` must return (not panic)
/// real spans.
fn parse_as(bytes: &[u8], producer: Producer) {
    let now = DateTime::from_timestamp(1_795_348_800, 0).unwrap(); // 2026-11-22T12:00:00Z
    let parsed = parse(bytes, &ParseOptions::new(producer, chrono_tz::Europe::Paris, now));
    for item in &parsed.busy {
        match item.span {
            Span::AllDay { start, end } => assert!(start < end, "{item:?}"),
            Span::Timed { start, end } => assert!(start <= end, "{item:?}"),
        }
        assert_details_bounded(&item.details, producer);
    }
}

/// What any feed can make of the details: nothing for producers that are not booking
/// platforms; else a short code, an https link of bounded length, at most four digits.
fn assert_details_bounded(d: &ItemDetails, producer: Producer) {
    if matches!(producer, Producer::Google | Producer::Outlook | Producer::Other) {
        assert!(d.is_empty(), "{d:?}");
    }
    if let Some(code) = d.reservation_code() {
        assert!((4..=ItemDetails::MAX_CODE_LEN).contains(&code.len()), "{d:?}");
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    if let Some(url) = d.reservation_url() {
        assert!(url.starts_with("https://") && url.len() <= ItemDetails::MAX_URL_LEN, "{d:?}");
    }
    if let Some(digits) = d.phone_last_digits() {
        assert!((1..=4).contains(&digits.len()), "{d:?}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{d:?}");
    }
}

/// A DESCRIPTION as written: labels the platforms use, links, escapes, and anything between.
fn description() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Reservation URL: ".to_owned()),
        Just("Reservation ID: ".to_owned()),
        Just("Reservation ".to_owned()),
        Just("Booking ID: ".to_owned()),
        Just("Phone Number (Last 4 Digits): ".to_owned()),
        Just("PHONE: ".to_owned()),
        Just("Guests: ".to_owned()),
        Just("https://".to_owned()),
        Just("www.airbnb.com/hosting/reservations/details/".to_owned()),
        Just("admin.booking.com/".to_owned()),
        Just("www.vrbo.com/reservations/".to_owned()),
        Just("@example.com".to_owned()),
        Just("\\n".to_owned()),
        Just("\\,".to_owned()),
        "[A-Z0-9-]{0,80}",
        "[0-9 +()-]{0,30}",
        "[ -~]{0,40}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// Reads `bytes` as an import of a feed from every producer would.
fn parse_everywhere(bytes: &[u8]) {
    for producer in Producer::ALL {
        parse_as(bytes, producer);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_written_feed_reads_back_as_the_same_events(
        name in text(),
        zone in zone(),
        events in events(),
    ) {
        let text = written(&name, zone, &events);
        let parsed = parse(text.as_bytes(), &wide_window());
        assert_reads_back(&parsed, &events, &text);
        let name = name.replace("\r\n", "\n").replace('\r', "\n");
        let name: String =
            name.chars().filter(|&c| c == '\n' || c == '\t' || !c.is_ascii_control()).collect();
        let name = name.trim_matches(|c: char| c.is_whitespace() && c != '\n');
        prop_assert_eq!(parsed.calendar_name.as_deref(), (!name.is_empty()).then_some(name));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_everywhere(&bytes);
    }

    #[test]
    fn reading_arbitrary_content_lines_never_panics(
        lines in prop::collection::vec("[A-Z-]{1,12}(;[A-Z]{1,6}=[^:\r\n]{0,20})?:[^\r\n]{0,60}", 0..30),
    ) {
        let text = format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", lines.join("\r\n"));
        parse_everywhere(text.as_bytes());
    }

    #[test]
    fn the_details_of_any_description_stay_within_their_bounds(
        summary in description(),
        description in description(),
    ) {
        let text = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20261201\r\n\
             SUMMARY:{summary}\r\nDESCRIPTION:{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        parse_everywhere(text.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reading_an_edited_real_world_file_never_panics(
        file in any::<prop::sample::Index>(),
        producer in prop::sample::select(Producer::ALL.to_vec()),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let fixtures = fixtures();
        let mut bytes = fixtures[file.index(fixtures.len())].clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        parse_as(&bytes, producer);
    }
}
