//! The `import` target: the feed reader as imports run it.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use kalends_core::domain::Platform;
use kalends_core::imports::{StoredItem, diff};
use kalends_ical::{ParseOptions, ParsedFeed, Span, parse};

/// "Now" for every run, so that a crashing input crashes again.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap()
}

/// The platform the first byte chooses (its low bits).
pub fn platform(first: u8) -> Platform {
    Platform::ALL[usize::from(first & 0x7f) % Platform::ALL.len()]
}

/// The first byte chooses the platform (low bits) and, when its high bit is set, a limit of
/// three VEVENTs (to exercise the cut-off); the rest is the feed as fetched.
pub fn options(first: u8) -> ParseOptions {
    let now = now();
    let mut options = ParseOptions::new(platform(first).into(), chrono_tz::Europe::Paris, now);
    // As the import job sets them with the default configuration (`[imports]` in
    // config/default.toml).
    options.to = now + TimeDelta::days(548);
    options.max_events = if first & 0x80 == 0 { 100_000 } else { 3 };
    options
}

/// The most busy items a feed may give: 2 000 000 from rules, plus one per VEVENT (single events
/// and overrides are not capped by the rule budget).
const FEED_OCCURRENCES: usize = 2_000_000;

/// Reads `data` as an import does and checks what an import relies on.
pub fn check(data: &[u8]) {
    let Some((&first, feed)) = data.split_first() else {
        return;
    };
    let options = options(first);
    let parsed = parse(feed, &options);
    check_limits(&parsed, &options);
    check_window(&parsed, &options);
    check_rerun_changes_nothing(&parsed, platform(first));
    // `kalends ics check --json` prints this, through its own writer: the same bytes.
    let json = serde_json::to_string(&parsed).expect("a parsed feed serializes");
    let mut written = Vec::new();
    parsed.write_json(&mut written).expect("writing to memory cannot fail");
    assert_eq!(written, json.as_bytes(), "write_json and serde_json differ");
}

/// The caps on VEVENTs and occurrences hold.
fn check_limits(parsed: &ParsedFeed, options: &ParseOptions) {
    assert!(
        parsed.busy.len() <= FEED_OCCURRENCES + parsed.events,
        "{} busy items from {} VEVENTs",
        parsed.busy.len(),
        parsed.events
    );
    let uids: HashSet<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    assert!(
        uids.len() <= options.max_events,
        "{} UIDs from at most {} VEVENTs read",
        uids.len(),
        options.max_events
    );
    if parsed.events > options.max_events {
        assert!(
            parsed.skipped.iter().any(|s| s.uid.is_none() && s.reason.contains("over the limit")),
            "{} VEVENTs over a limit of {} are not reported",
            parsed.events,
            options.max_events
        );
    }
}

/// Every busy item is a real span that overlaps the window, and they come sorted by start.
fn check_window(parsed: &ParsedFeed, options: &ParseOptions) {
    let (from, to) = (options.from, options.to);
    let from_day = from.date_naive();
    let mut previous: Option<DateTime<Utc>> = None;
    for item in &parsed.busy {
        let start = match item.span {
            Span::AllDay { start, end } => {
                assert!(start < end, "all-day item {item:?} ends before it starts");
                // Single events import however far ahead (`all_single_events`): the window's
                // end bounds only recurrences, so only its start is a bound for every item.
                assert!(end > from_day, "{item:?} ends before the window");
                midnight(start)
            }
            Span::Timed { start, end } => {
                assert!(start <= end, "timed item {item:?} ends before it starts");
                let inside = if start == end { start >= from } else { end > from };
                assert!(inside, "{item:?} ends before the window {from}..{to}");
                start
            }
        };
        if let Some(previous) = previous {
            assert!(previous <= start, "busy items are not sorted by start at {item:?}");
        }
        previous = Some(start);
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Importing the same feed twice changes nothing: the second run finds every item unchanged,
/// which needs each (UID, RECURRENCE-ID) key to be unique.
fn check_rerun_changes_nothing(parsed: &ParsedFeed, platform: Platform) {
    let stored: Vec<StoredItem> = parsed
        .busy
        .iter()
        .enumerate()
        .map(|(i, b)| StoredItem {
            id: uuid_from(i),
            uid: b.uid.clone(),
            recurrence_id: b.recurrence_id.clone().unwrap_or_default(),
            kind: b.kind,
            summary: b.summary.as_deref().map(str::to_owned),
            span: b.span,
            details: b.details.clone(),
            missing_since: None,
        })
        .collect();
    let today = now().date_naive();
    let again = diff(&stored, &parsed.busy, platform, today);
    assert!(
        again.added.is_empty() && again.updated.is_empty() && again.removed.is_empty(),
        "a second import of the same feed changes {:?}",
        again.counts
    );
}

fn uuid_from(i: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(i as u128 + 1)
}
