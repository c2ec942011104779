//! What each platform means by its events.

use chrono::NaiveDate;

use super::{BusyItem, ItemKind, Span};
use crate::domain::Platform;

/// The kind of a busy item from `platform`, given its SUMMARY and whether its DESCRIPTION talks
/// about a reservation.
///
/// - Airbnb: "Reserved…" is a reservation; "Airbnb (Not available)" / "Not available" is a block;
///   anything else is a reservation when the description links one (older exports used the
///   guest's name as the summary), else a block.
/// - VRBO / HomeAway: "Reserved" / "Reserved - Name" is a reservation; "Blocked", "Unavailable"
///   and anything else is a block.
/// - Booking.com: every closed night is "CLOSED - Not available", booked or not, so it is a block;
///   only a summary that says so ("Reserved…", "Booked…", "…reservation…") is a reservation.
/// - Google, Outlook, other: an event.
pub(super) fn classify(
    platform: Platform,
    summary: Option<&str>,
    mentions_reservation: bool,
) -> ItemKind {
    let summary = summary.unwrap_or("").trim();
    let starts =
        |prefix: &str| summary.get(..prefix.len()).is_some_and(|s| s.eq_ignore_ascii_case(prefix));
    let contains = |needle: &str| {
        summary.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    match platform {
        Platform::Airbnb => {
            if starts("reserved") {
                ItemKind::Reservation
            } else if contains("not available") || contains("blocked") {
                ItemKind::Block
            } else if mentions_reservation {
                ItemKind::Reservation
            } else {
                ItemKind::Block
            }
        }
        Platform::Vrbo => {
            if starts("reserved") {
                ItemKind::Reservation
            } else {
                ItemKind::Block
            }
        }
        Platform::BookingCom => {
            if starts("reserved") || starts("booked") || contains("reservation") {
                ItemKind::Reservation
            } else {
                ItemKind::Block
            }
        }
        Platform::Google | Platform::Outlook | Platform::Other => ItemKind::Event,
    }
}

/// Merges adjacent or overlapping all-day items of the same kind into one stay (Booking.com
/// exports a stay as one event per night). `items` must be sorted by start. The merged item keeps
/// the uid, recurrence id and summary of its first night, so its key is stable as long as that
/// night is in the feed.
pub(super) fn merge_stays(items: Vec<BusyItem>) -> Vec<BusyItem> {
    let mut out: Vec<BusyItem> = Vec::with_capacity(items.len());
    // Index in `out` of the open all-day stay of each kind.
    let mut open: [Option<usize>; 3] = [None; 3];
    let slot = |kind: ItemKind| match kind {
        ItemKind::Reservation => 0,
        ItemKind::Block => 1,
        ItemKind::Event => 2,
    };
    for item in items {
        if let Span::AllDay { start, end } = item.span
            && let Some(i) = open[slot(item.kind)]
            && let Span::AllDay { end: ref mut stay_end, .. } = out[i].span
            && start <= *stay_end
        {
            if end > *stay_end {
                *stay_end = end;
            }
            continue;
        }
        if matches!(item.span, Span::AllDay { .. }) {
            open[slot(item.kind)] = Some(out.len());
        }
        out.push(item);
    }
    out
}

/// Whether an item is Airbnb's rolling "Not available" block at the far end of the calendar (the
/// dates beyond the host's availability window, which move every day): an all-day block from an
/// Airbnb feed that ends at least 300 days after `today`. Other platforms have none.
pub fn is_rolling_window(item: &BusyItem, platform: Platform, today: NaiveDate) -> bool {
    crate::imports::is_rolling_window(platform, item.kind, &item.span, today)
}
