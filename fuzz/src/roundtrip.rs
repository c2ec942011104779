//! The `roundtrip` target: a feed written by Kalends' writer, as a feed route renders it, is read
//! back by Kalends' reader as the same events.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use kalends_ical::write::{CalendarHead, EventOut, EventStatus, Method, calendar};
use kalends_ical::{ItemKind, ParseOptions, Producer, Span, parse};

use crate::decode::Source;

/// One event as the writer gets it.
#[derive(Clone, Debug)]
pub struct Event {
    /// UID.
    pub uid: String,
    /// When.
    pub span: Span,
    /// Written with local times in the feed's zone (else UTC).
    pub zoned: bool,
    /// SUMMARY.
    pub summary: String,
    /// DESCRIPTION.
    pub description: Option<String>,
    /// LOCATION.
    pub location: Option<String>,
    /// STATUS.
    pub status: EventStatus,
    /// TRANSP:TRANSPARENT.
    pub transparent: bool,
}

/// A feed as the writer gets it.
#[derive(Clone, Debug)]
pub struct Feed {
    /// X-WR-CALNAME.
    pub name: String,
    /// The feed's zone.
    pub zone: Tz,
    /// The events.
    pub events: Vec<Event>,
}

/// Events start from 2020 to 2034, well inside the read window.
fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(1_577_836_800, 0).unwrap()
}
const SPREAD_DAYS: u32 = 15 * 365;
const MAX_DAYS: u32 = 366;

/// Decodes a feed from fuzzer bytes.
pub fn feed_from(data: &[u8]) -> Feed {
    let mut src = Source::new(data);
    let zone = chrono_tz::TZ_VARIANTS[src.below(chrono_tz::TZ_VARIANTS.len() as u32) as usize];
    let name = src.text(80);
    let mut events = Vec::new();
    while !src.is_empty() && events.len() < 16 {
        events.push(event_from(&mut src, events.len()));
    }
    Feed { name, zone, events }
}

fn event_from(src: &mut Source<'_>, index: usize) -> Event {
    let shape = src.byte();
    let span = if shape & 1 == 0 {
        let start = base() + TimeDelta::seconds(i64::from(src.below(SPREAD_DAYS * 86_400)));
        let length = TimeDelta::seconds(i64::from(src.below(MAX_DAYS * 86_400 + 1)));
        Span::Timed { start, end: start + length }
    } else {
        let start = base().date_naive() + TimeDelta::days(i64::from(src.below(SPREAD_DAYS)));
        let days = i64::from(1 + src.below(MAX_DAYS));
        Span::AllDay { start, end: start + TimeDelta::days(days) }
    };
    let status = match (shape >> 1) % 8 {
        0 => EventStatus::Cancelled,
        1 => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    };
    Event {
        // A suffix keeps UIDs unique and non-blank whatever the text.
        uid: format!("{}-{index}@kalends", src.text(60)),
        span,
        zoned: shape & 0x10 == 0,
        summary: src.text(200),
        description: (shape & 0x20 != 0).then(|| src.text(200)),
        location: (shape & 0x40 != 0).then(|| src.text(100)),
        status,
        transparent: shape & 0x80 != 0 && shape & 0x0e == 0x0e,
    }
}

/// Writes `feed` as the feed route does: one zone, a VTIMEZONE covering the UTC years of every
/// start and end.
pub fn write(feed: &Feed) -> String {
    let years = feed
        .events
        .iter()
        .flat_map(|e| {
            let (a, b) = utc_bounds(&e.span);
            [a, b]
        })
        .map(|t| chrono::Datelike::year(&t))
        .fold(None, |acc: Option<(i32, i32)>, y| {
            Some(acc.map_or((y, y), |(lo, hi)| (lo.min(y), hi.max(y))))
        })
        .unwrap_or((2026, 2026));
    let stamp = base();
    let outs: Vec<EventOut<'_>> = feed
        .events
        .iter()
        .map(|e| EventOut {
            uid: &e.uid,
            span: &e.span,
            zone: e.zoned.then_some(feed.zone),
            summary: &e.summary,
            description: e.description.as_deref(),
            location: e.location.as_deref(),
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
        name: &feed.name,
        zone: feed.zone,
        zones: &[feed.zone],
        years: years.0..=years.1,
        refresh: Some(TimeDelta::hours(1)),
    };
    calendar(&head, &outs)
}

fn utc_bounds(span: &Span) -> (DateTime<Utc>, DateTime<Utc>) {
    match *span {
        Span::AllDay { start, end } => (midnight(start), midnight(end)),
        Span::Timed { start, end } => (start, end),
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A window holding every event `feed_from` makes.
pub fn read_options() -> ParseOptions {
    ParseOptions {
        from: DateTime::from_timestamp(1_546_300_800, 0).unwrap(), // 2019-01-01
        to: DateTime::from_timestamp(2_114_380_800, 0).unwrap(),   // 2037-01-01
        floating_zone: chrono_tz::UTC,
        producer: Producer::Other,
        max_events: usize::MAX,
        all_single_events: true,
        max_work: kalends_ical::DEFAULT_MAX_WORK,
    }
}

/// TEXT as it reads back: control characters but TAB dropped, each line break one `\n`.
pub fn cleaned(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' => out.push('\n'),
            c if c.is_ascii_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes the feed decoded from `data`, reads it back and checks that the busy events are the
/// ones written.
pub fn check(data: &[u8]) {
    let feed = feed_from(data);
    let text = write(&feed);
    let parsed = parse(text.as_bytes(), &read_options());
    assert_eq!(parsed.events, feed.events.len(), "VEVENTs read back from\n{text}");
    let busy: Vec<&Event> = feed
        .events
        .iter()
        .filter(|e| e.status != EventStatus::Cancelled && !e.transparent)
        .collect();
    assert_eq!(
        parsed.busy.len(),
        busy.len(),
        "busy items read back ({:?}, skipped {:?}) from\n{text}",
        parsed.busy,
        parsed.skipped
    );
    for event in busy {
        let uid = cleaned(&event.uid).trim().to_owned();
        let item = parsed.busy.iter().find(|b| b.uid == uid).unwrap_or_else(|| {
            panic!("no item with UID {uid:?} in {:?} from\n{text}", parsed.busy)
        });
        assert_eq!(item.span, event.span, "span of {uid:?} from\n{text}");
        let summary = cleaned(&event.summary).trim().to_owned();
        assert_eq!(
            item.summary.as_deref(),
            (!summary.is_empty()).then_some(summary.as_str()),
            "summary of {uid:?} from\n{text}"
        );
        assert_eq!(item.recurrence_id, None, "recurrence id of {uid:?}");
        assert_eq!(item.kind, ItemKind::Event);
    }
    let name = cleaned(&feed.name);
    let name = name.trim_matches(|c: char| c.is_whitespace() && c != '\n');
    assert_eq!(
        parsed.calendar_name.as_deref(),
        (!name.is_empty()).then_some(name),
        "calendar name from\n{text}"
    );
}
