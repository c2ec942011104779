//! Inputs the fuzz targets of `fuzz/` found (see FUZZING.md), each reduced to the smallest case
//! that shows the defect, kept as regular tests.

use chrono::NaiveDate;

use crate::domain::Platform;
use crate::imports::{StoredItem, diff};
use kalends_ical::{BusyItem, ItemKind, Span};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn block(uid: &str, start: NaiveDate, end: NaiveDate) -> BusyItem {
    BusyItem {
        uid: uid.into(),
        recurrence_id: None,
        span: Span::AllDay { start, end },
        summary: Some("Airbnb (Not available)".into()),
        kind: ItemKind::Block,
        details: Default::default(),
    }
}

fn stored(id: u128, item: &BusyItem) -> StoredItem {
    StoredItem {
        id: uuid::Uuid::from_u128(id),
        uid: item.uid.clone(),
        recurrence_id: item.recurrence_id.clone().unwrap_or_default(),
        kind: item.kind,
        summary: item.summary.as_deref().map(str::to_owned),
        span: item.span,
        details: item.details.clone(),
        missing_since: None,
    }
}

/// Found by the `import` target: with two blocks at the far end of an Airbnb calendar (both read
/// as its rolling window), every run of an unchanged feed swapped their rows.
#[test]
fn an_unchanged_airbnb_feed_with_two_far_blocks_rewrites_no_row() {
    let today = day(2026, 11, 22);
    let feed = [
        block("a@airbnb.com", day(2027, 10, 1), day(2027, 12, 1)),
        block("b@airbnb.com", day(2028, 1, 1), day(2028, 2, 1)),
    ];
    let rows: Vec<StoredItem> = feed.iter().zip(1..).map(|(b, id)| stored(id, b)).collect();
    let again = diff(&rows, &feed, Platform::Airbnb, today);
    assert!(again.updated.is_empty(), "rows rewritten: {:?}", again.updated);
    assert!(again.added.is_empty() && again.removed.is_empty());
    assert_eq!(again.counts.unchanged, 2);
}

/// The same, with one of the two windows moved by a day: only its row is rewritten.
#[test]
fn a_moved_far_block_of_two_rewrites_only_its_own_row() {
    let today = day(2026, 11, 22);
    let before = [
        block("a@airbnb.com", day(2027, 10, 1), day(2027, 12, 1)),
        block("b@airbnb.com", day(2028, 1, 1), day(2028, 2, 1)),
    ];
    let rows: Vec<StoredItem> = before.iter().zip(1..).map(|(b, id)| stored(id, b)).collect();
    let now = [before[0].clone(), block("b@airbnb.com", day(2028, 1, 2), day(2028, 2, 1))];
    let again = diff(&rows, &now, Platform::Airbnb, today);
    let rewritten: Vec<uuid::Uuid> = again.updated.iter().map(|(id, _)| *id).collect();
    assert_eq!(rewritten, [rows[1].id]);
    assert_eq!(again.updated[0].1, &now[1]);
}
