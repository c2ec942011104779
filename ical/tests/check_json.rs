//! The `check` example writes its JSON itself (`examples/support/json.rs`): byte for byte what
//! serde_json writes for the same feed, on every fixture under every producer and on items made
//! to need every escape.

#[path = "../examples/support/json.rs"]
mod json;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use kalends_ical::{
    BusyItem, ItemDetails, ItemKind, ParseOptions, ParsedFeed, Producer, Skipped, Span,
};
use proptest::prelude::*;

fn direct(feed: &ParsedFeed) -> Vec<u8> {
    let mut out = Vec::new();
    json::write_pretty(&mut out, feed).unwrap();
    out
}

fn fixtures(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixtures(&path, found);
        } else if path.extension().is_some_and(|e| e == "ics") {
            found.push(path);
        }
    }
}

#[test]
fn every_fixture_is_written_as_serde_json_writes_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut files = Vec::new();
    fixtures(&root, &mut files);
    assert!(files.len() >= 30, "{} fixtures under {}", files.len(), root.display());
    let now = DateTime::from_timestamp(1_795_348_800, 0).unwrap();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for producer in Producer::ALL {
            let feed =
                kalends_ical::parse(&bytes, &ParseOptions::new(producer, chrono_tz::UTC, now));
            let expected = serde_json::to_vec_pretty(&feed).unwrap();
            assert_eq!(direct(&feed), expected, "{} as {producer:?}", file.display());
        }
    }
}

/// Text with every byte serde_json escapes, and some it does not (DEL, non-ASCII).
fn text() -> impl Strategy<Value = String> {
    "[a-z \"\\\\\u{0}-\u{1f}\u{7f}é€😀/]{0,24}"
}

fn item() -> impl Strategy<Value = BusyItem> {
    let span = prop_oneof![
        (-400i32..12_000, 1u32..=366, 0i64..40).prop_map(|(year, day, days)| {
            let start = NaiveDate::from_yo_opt(year, day.min(365)).unwrap();
            Span::AllDay { start, end: start + TimeDelta::days(days) }
        }),
        (-20_000_000_000i64..300_000_000_000, 0i64..10_000_000, 0u32..2_000_000_000).prop_map(
            |(at, length, nanos)| {
                let start = DateTime::<Utc>::from_timestamp(at, nanos % 1_000_000_000).unwrap();
                Span::Timed { start, end: start + TimeDelta::seconds(length) }
            }
        ),
    ];
    let kind =
        prop_oneof![Just(ItemKind::Reservation), Just(ItemKind::Block), Just(ItemKind::Event)];
    (text(), proptest::option::of(text()), span, proptest::option::of(text()), kind).prop_map(
        |(uid, recurrence_id, span, summary, kind)| BusyItem {
            uid,
            recurrence_id,
            span,
            summary,
            kind,
            details: ItemDetails::default(),
        },
    )
}

proptest! {
    #[test]
    fn any_feed_is_written_as_serde_json_writes_it(
        events in 0usize..1_000_000,
        truncated: bool,
        skipped in proptest::collection::vec(
            (proptest::option::of(text()), text())
                .prop_map(|(uid, reason)| Skipped { uid, reason }),
            0..3,
        ),
        busy in proptest::collection::vec(item(), 0..6),
    ) {
        let feed = ParsedFeed { events, skipped, busy, truncated, ..ParsedFeed::default() };
        prop_assert_eq!(direct(&feed), serde_json::to_vec_pretty(&feed).unwrap());
    }
}
