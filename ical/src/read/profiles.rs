//! What each producer means by its events.

use super::details::{self, ItemDetails, Shape};
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
    let summary = super::lines::trim(summary.unwrap_or(""));
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

/// What an event of `producer` says about its reservation, from its SUMMARY (unescaped) and its
/// DESCRIPTION (as written): only what the feed carries, and nothing (without allocating) from a
/// producer that is not a booking platform. A link is kept only when it is https and on the
/// platform's own site, a code only when it is labelled or ends a reservation link, phone digits
/// only the last four.
///
/// - Airbnb: "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEF12"
///   gives the link and the code (its last segment); "Phone Number (Last 4 Digits): 1234", or
///   the "PHONE:" line of older exports (its last four digits), the phone digits. The e-mail
///   and the guest's name are never read.
/// - Booking.com: a number labelled "Reservation" or "Booking ID", links on booking.com;
///   "CLOSED - Not available" says nothing.
/// - VRBO / HomeAway: a code labelled "Reservation ID" ("HA-ABC123"), links on vrbo.com or
///   homeaway.com; the name in "Reserved - Jane Doe" is not a detail.
/// - Any of them: the number of guests ("Guests: 2", "NUMBER OF GUESTS: 2", "2 guests").
/// - Google, Outlook, other: nothing.
pub(super) fn details(
    producer: Producer,
    summary: Option<&str>,
    description: Option<&str>,
) -> ItemDetails {
    let shape = match producer {
        Producer::Airbnb => Shape {
            own_host: is_airbnb_host,
            numeric_codes: false,
            exported: Some(details::airbnb_export),
        },
        Producer::Vrbo => Shape { own_host: is_vrbo_host, numeric_codes: false, exported: None },
        Producer::BookingCom => {
            Shape { own_host: is_booking_com_host, numeric_codes: true, exported: None }
        }
        Producer::Google | Producer::Outlook | Producer::Other => return ItemDetails::default(),
    };
    details::read(&shape, summary.into_iter().chain(description))
}

/// Airbnb's shape of details, with or without its exporter's own text read apart (tests).
#[cfg(test)]
pub(super) fn airbnb_shape(exported: bool) -> Shape {
    Shape {
        own_host: is_airbnb_host,
        numeric_codes: false,
        exported: exported.then_some(details::airbnb_export as _),
    }
}

/// Airbnb's sites: `airbnb.com`, `airbnb.fr`, `airbnb.co.uk`, `airbnb.com.au` and their
/// subdomains (`www.`), nothing that merely contains the name (`airbnb.example.com`).
fn is_airbnb_host(host: &str) -> bool {
    // The labels from the right: the top-level domain, then the one before it, and so on.
    let label = |end: usize| {
        let start = host[..end].bytes().rposition(|b| b == b'.').map_or(0, |dot| dot + 1);
        (&host[start..end], start.checked_sub(1))
    };
    let letters = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic())
    };
    let (top, Some(end)) = label(host.len()) else { return false };
    if !letters(top, 2..=3) {
        return false;
    }
    let (second, before) = label(end);
    if second.eq_ignore_ascii_case("airbnb") {
        return true;
    }
    // A country's second level (`co.uk`, `com.au`) under a two-letter country code.
    let country = top.len() == 2 && ["co", "com"].iter().any(|s| second.eq_ignore_ascii_case(s));
    country && before.is_some_and(|end| label(end).0.eq_ignore_ascii_case("airbnb"))
}

/// VRBO's and HomeAway's sites: `vrbo.com`, `homeaway.com` and their subdomains.
fn is_vrbo_host(host: &str) -> bool {
    is_under(host, "vrbo.com") || is_under(host, "homeaway.com")
}

/// Booking.com's sites: `booking.com` and its subdomains (`admin.booking.com`).
fn is_booking_com_host(host: &str) -> bool {
    is_under(host, "booking.com")
}

/// Whether `host` is `domain` or one of its subdomains, case ignored.
fn is_under(host: &str, domain: &str) -> bool {
    let Some(head) = host.len().checked_sub(domain.len()) else { return false };
    host.get(head..).is_some_and(|tail| tail.eq_ignore_ascii_case(domain))
        && (head == 0 || host.as_bytes()[head - 1] == b'.')
}

/// Merges adjacent or overlapping all-day items of the same kind into one stay (Booking.com
/// exports a stay as one event per night). `items` must be sorted by start. The merged item keeps
/// the uid, recurrence id and summary of its first night, so its key is stable as long as that
/// night is in the feed, and the details of its first night that has any. Nights that name two
/// different reservation codes are two stays, however close.
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
            && !other_reservation(&out[i].details, &item.details)
            && let Span::AllDay { end: ref mut stay_end, .. } = out[i].span
            && start <= *stay_end
        {
            if end > *stay_end {
                *stay_end = end;
            }
            if out[i].details.is_empty() {
                out[i].details = item.details;
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

/// Whether two nights name different reservations.
fn other_reservation(stay: &ItemDetails, night: &ItemDetails) -> bool {
    matches!((stay.reservation_code(), night.reservation_code()), (Some(a), Some(b)) if a != b)
}
