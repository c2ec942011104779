//! The order of busy items: sorting their keys gives what sorting the items themselves gives.

use chrono::{NaiveDate, TimeDelta};
use proptest::prelude::*;

use super::*;

/// An item from small sets of days, lengths, UIDs and recurrence ids, so that spans tie often
/// and whole keys sometimes. Odd UIDs share their first 16 bytes (Airbnb's are alike for 13),
/// so that only the whole UIDs order them. Timed items (`timed` 1 or 2) start that many seconds
/// after midnight, or (`timed` 3) a nanosecond after it, which no key holds.
fn item(day: u8, days: u8, timed: u8, uid: u8, rid: Option<u8>, summary: u8) -> BusyItem {
    let start = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap() + TimeDelta::days(i64::from(day));
    let end = start + TimeDelta::days(i64::from(days));
    let span = if timed > 0 {
        let shift = match timed {
            3 => TimeDelta::nanoseconds(1),
            second => TimeDelta::seconds(i64::from(second)),
        };
        let at = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc() + shift;
        Span::Timed { start: at(start), end: at(end) }
    } else {
        Span::AllDay { start, end }
    };
    BusyItem {
        uid: if uid.is_multiple_of(2) {
            format!("uid-{uid}")
        } else {
            format!("1418fb94e984-abc{uid}@a")
        },
        recurrence_id: rid.map(|r| format!("2030010{r}")),
        span,
        summary: Some(format!("summary {summary}").into()),
        kind: ItemKind::Event,
        details: ItemDetails::default(),
    }
}

fn items() -> impl Strategy<Value = Vec<BusyItem>> {
    let one = (0..6u8, 0..3u8, 0..3u8, 0..8u8, proptest::option::of(0..3u8), 0..4u8).prop_map(
        |(day, days, timed, uid, rid, summary)| item(day, days, timed, uid, rid, summary),
    );
    proptest::collection::vec(one, 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sorting_by_keys_orders_items_exactly_as_sorting_the_items_does(items in items()) {
        let mut expected = items.clone();
        expected.sort_unstable_by(busy_order);
        let mut sorted = items;
        sort_busy(&mut sorted, 0);
        prop_assert_eq!(sorted, expected);
    }

    #[test]
    fn items_with_a_fraction_of_a_second_are_sorted_as_well(items in items(), day in 0..6u8) {
        let mut items = items;
        items.push(item(day, 1, 3, 1, None, 0));
        let mut expected = items.clone();
        expected.sort_unstable_by(busy_order);
        sort_busy(&mut items, 0);
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn uids_that_share_a_prefix_are_ordered_by_what_follows_it(
        items in items(),
        cut in 0..31usize,
        hint in 0..40usize,
    ) {
        let prefix = "1418fb94e984-0123456789abcdef-";
        let mut items: Vec<BusyItem> = items
            .into_iter()
            .map(|mut item| {
                item.uid = format!("{prefix}{}", item.uid);
                item
            })
            .collect();
        // One UID that is the prefix, or the start of it, alone.
        if let Some(first) = items.first_mut() {
            first.uid = prefix[..cut].to_owned();
        }
        let mut expected = items.clone();
        expected.sort_unstable_by(busy_order);
        // Shared by all, or (a hint too long) not: the order is the same.
        let mut by_shared = items.clone();
        sort_busy(&mut by_shared, cut);
        prop_assert_eq!(&by_shared, &expected);
        sort_busy(&mut items, hint);
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn a_permutation_moves_each_item_to_the_place_its_order_names(
        order in Just((0..40u32).collect::<Vec<u32>>()).prop_shuffle(),
    ) {
        let items: Vec<u32> = (100..140).collect();
        let mut moved = items.clone();
        permute(&mut moved, &mut order.clone());
        let expected: Vec<u32> = order.iter().map(|&i| items[i as usize]).collect();
        prop_assert_eq!(moved, expected);
    }
}
