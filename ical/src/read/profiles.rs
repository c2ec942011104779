//! What each producer means by its events.

use super::{BusyItem, ItemKind, Span};

/// Who wrote a feed: the producers whose exports say more than iCalendar does (what an event
/// is, how a stay is cut into events), and any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Producer {
    /// Airbnb's export: reservations and blocks, told apart by SUMMARY and DESCRIPTION.
    Airbnb,
    /// VRBO / HomeAway's export: "Reserved" is a reservation, anything else a block.
    Vrbo,
    /// Booking.com's export: one event per closed night, merged back into stays.
    BookingCom,
    /// Google Calendar (a secret address): events.
    Google,
    /// Outlook / Microsoft 365 (a published calendar): events.
    Outlook,
    /// Any other producer: events.
    Other,
}

impl Producer {
    /// Every producer.
    pub const ALL: [Producer; 6] = [
        Producer::Airbnb,
        Producer::Vrbo,
        Producer::BookingCom,
        Producer::Google,
        Producer::Outlook,
        Producer::Other,
    ];
}

/// The kind of a busy item from `producer`, given its SUMMARY and whether its DESCRIPTION talks
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
    producer: Producer,
    summary: Option<&str>,
    mentions_reservation: bool,
) -> ItemKind {
    let summary = summary.unwrap_or("").trim();
    let starts =
        |prefix: &str| summary.get(..prefix.len()).is_some_and(|s| s.eq_ignore_ascii_case(prefix));
    let contains = |needle: &str| {
        summary.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    match producer {
        Producer::Airbnb => {
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
        Producer::Vrbo => {
            if starts("reserved") {
                ItemKind::Reservation
            } else {
                ItemKind::Block
            }
        }
        Producer::BookingCom => {
            if starts("reserved") || starts("booked") || contains("reservation") {
                ItemKind::Reservation
            } else {
                ItemKind::Block
            }
        }
        Producer::Google | Producer::Outlook | Producer::Other => ItemKind::Event,
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
