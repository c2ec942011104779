//! Double-booking detection: which busy items of one resource or staff member collide.
//!
//! One sort and one sweep: items are ordered by start and each is compared only with the items
//! still running when it starts, so the cost grows with the number of items times the depth of
//! overlap, never with the square of the number of items.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{BookingStatus, NewBooking, Owner, Platform, TimeZone};

/// Where a busy item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A booking pushed by the host.
    Booking,
    /// A manual block.
    Block,
    /// An item of an imported .ics feed.
    Feed,
    /// A busy time of a connected calendar.
    Calendar,
}

impl Source {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Block => "block",
            Self::Feed => "feed",
            Self::Calendar => "calendar",
        }
    }
}

/// One item, by source and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    /// Its source.
    pub source: Source,
    /// Its id in that source.
    pub id: Uuid,
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source.as_str(), self.id)
    }
}

/// What a busy item means for a collision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A confirmed booking.
    Confirmed,
    /// A tentative booking.
    Tentative,
    /// A manual block.
    Block,
    /// A guest's reservation on a platform.
    Reservation(Platform),
    /// Dates closed on a platform, or any other imported busy event.
    PlatformBlock(Platform),
    /// A staff member's own busy time in a connected calendar (an appointment of theirs).
    CalendarBusy,
}

impl Class {
    fn is_booking(self) -> bool {
        matches!(self, Self::Confirmed | Self::Tentative)
    }

    fn is_sale(self) -> bool {
        matches!(self, Self::Confirmed | Self::Reservation(_))
    }
}

/// Whose an item is, seen from the resource whose calendar is read: a house rented whole or by
/// its rooms shares its busy time with each room, and each room with the house (a room's
/// siblings are not family).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kin {
    /// The resource's (or staff member's) own item.
    #[default]
    Own,
    /// An item of the whole property the resource is part of.
    Parent,
    /// An item of one of the resource's rooms, this one.
    Child(Uuid),
}

/// Whose calendar records a collision of items `a` and `b` found in `owner`'s calendar, so
/// that each collision of a family has one home: two items of the owner's own, or one of its
/// own and one of its parent's (a room records its collisions with its house), in the owner's;
/// one of its own and one of a room's, or two of one room's, in that room's. `None` for pairs
/// no pass of this calendar records: two of the parent's (the parent's own pass does), or items
/// of two rooms (siblings never collide).
pub fn recorded_by(owner: Owner, a: Kin, b: Kin) -> Option<Owner> {
    match (a, b) {
        (Kin::Own, Kin::Own | Kin::Parent) | (Kin::Parent, Kin::Own) => Some(owner),
        (Kin::Own, Kin::Child(room)) | (Kin::Child(room), Kin::Own) => Some(Owner::Resource(room)),
        (Kin::Child(x), Kin::Child(y)) if x == y => Some(Owner::Resource(x)),
        _ => None,
    }
}

/// A busy interval of one resource or staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// Which item.
    pub item: ItemRef,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant (exclusive).
    pub end: DateTime<Utc>,
    /// Whole days (a stay) rather than a timed appointment.
    pub all_day: bool,
    /// What it means.
    pub class: Class,
    /// Items of one group (one import) are never compared with each other: a feed that overlaps
    /// itself is the platform's business, and nothing Kalends can act on.
    pub group: Option<Uuid>,
    /// A human label ("Smith family", "Airbnb: Reserved").
    pub label: String,
    /// Whether it is the owner's own item or one of its family's.
    pub kin: Kin,
}

impl Busy {
    /// Booking `id` with content `new` as a busy item, its days counted in `home`.
    pub fn booking(id: Uuid, new: &NewBooking, home: TimeZone) -> Busy {
        let (start, end) = new.span.utc_range(home);
        Busy {
            item: ItemRef { source: Source::Booking, id },
            start,
            end,
            all_day: new.span.is_all_day(),
            class: match new.status {
                BookingStatus::Tentative => Class::Tentative,
                _ => Class::Confirmed,
            },
            group: None,
            label: new.title.clone(),
            kin: Kin::Own,
        }
    }
}

/// How bad a collision is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Ranges that only touch, with no time between them.
    Low,
    /// A booking against a block or against a staff member's own busy time in their calendar,
    /// or anything against a tentative booking: the time is taken, but nothing was sold twice.
    Medium,
    /// Two sales of the same time: two confirmed bookings, or a booking and a platform
    /// reservation, or reservations on two platforms.
    High,
}

impl Severity {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High].into_iter().find(|v| v.as_str() == s)
    }
}

/// Two items that collide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    /// Index of the earlier item in the slice given to [`find`].
    pub a: usize,
    /// Index of the later item.
    pub b: usize,
    /// Where they overlap (for touching ranges, the instant they touch: `start == end`).
    pub start: DateTime<Utc>,
    /// End of the overlap.
    pub end: DateTime<Utc>,
    /// How bad it is.
    pub severity: Severity,
    /// What a person could do about it.
    pub suggestion: String,
}

impl Collision {
    /// The stable name of the pair, whichever order the items come in.
    pub fn pair_key(a: ItemRef, b: ItemRef) -> String {
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        format!("{x}|{y}")
    }
}

/// Sorts `items` by start and returns every collision among them.
pub fn find(items: &mut [Busy]) -> Vec<Collision> {
    items.sort_unstable_by_key(|x| (x.start, x.end, x.item));
    let mut running: Vec<usize> = Vec::new();
    let mut found = Vec::new();
    for (i, item) in items.iter().enumerate() {
        // Keep items still running, and those ending exactly now (they touch this one).
        running.retain(|&j| items[j].end >= item.start);
        for &j in &running {
            if let Some(c) = judge(&items[j], item, j, i) {
                found.push(c);
            }
        }
        running.push(i);
    }
    found
}

/// The collisions of `item` with `others` (which need not be sorted), for checking one change.
pub fn find_with(item: &Busy, others: &[Busy]) -> Vec<(usize, Collision)> {
    others
        .iter()
        .enumerate()
        .filter(|(_, o)| o.item != item.item && o.start <= item.end && item.start <= o.end)
        .filter_map(|(k, o)| {
            let (first, second) =
                if (o.start, o.end) <= (item.start, item.end) { (o, item) } else { (item, o) };
            judge(first, second, 0, 0).map(|c| (k, c))
        })
        .collect()
}

/// Whether two items that start in this order collide, and how badly.
fn judge(first: &Busy, second: &Busy, a: usize, b: usize) -> Option<Collision> {
    if first.group.is_some() && first.group == second.group {
        return None;
    }
    let (x, y) = (first.class, second.class);
    if !(x.is_booking() || y.is_booking() || (x.is_sale() && y.is_sale())) {
        // Blocks and platform items among themselves: closed is closed.
        return None;
    }
    let (start, end) = (second.start, first.end.min(second.end));
    let severity = if end > start {
        overlap_severity(x, y)
    } else if !(first.all_day || second.all_day || x.is_booking() && y.is_booking()) {
        // Back-to-back timed items leave no gap (travel, cleaning); two bookings back to back
        // are ordinary scheduling. Whole days touching is a same-day turnover: fine.
        Severity::Low
    } else {
        return None;
    };
    let suggestion = suggest(first, second, severity);
    Some(Collision { a, b, start, end, severity, suggestion })
}

fn overlap_severity(x: Class, y: Class) -> Severity {
    let tentative = x == Class::Tentative || y == Class::Tentative;
    if x.is_sale() && y.is_sale() && !tentative { Severity::High } else { Severity::Medium }
}

fn suggest(first: &Busy, second: &Busy, severity: Severity) -> String {
    use Class::*;
    if severity == Severity::Low {
        return "The two follow each other with no time between: check that this is intended."
            .into();
    }
    let (x, y) = (first.class, second.class);
    match (x, y) {
        (Tentative, _) | (_, Tentative) => {
            "Do not confirm the tentative booking as it is, or move it to free dates.".into()
        }
        (Confirmed, Confirmed) => "Two confirmed bookings overlap: cancel one or move it.".into(),
        (Confirmed, Reservation(p)) | (Reservation(p), Confirmed) => format!(
            "{} already has a reservation on these dates: cancel the direct booking or move it, \
             and block the dates on {} for the future.",
            platform_name(p),
            platform_name(p)
        ),
        (Reservation(p), Reservation(q)) => format!(
            "{} and {} both sold these dates: rebook or cancel one guest, then block these dates \
             on the other platform.",
            platform_name(p),
            platform_name(q)
        ),
        (Block, _) | (_, Block) => {
            "The dates are blocked: move the booking, or remove the block if it is obsolete.".into()
        }
        (CalendarBusy, _) | (_, CalendarBusy) => {
            "The staff member is busy then in their own calendar: move the booking, assign someone \
             else, or ask them to free the time."
                .into()
        }
        (PlatformBlock(p), _) | (_, PlatformBlock(p)) => format!(
            "These dates are closed on {}: move the booking, or reopen the dates there.",
            platform_name(p)
        ),
    }
}

/// The label of an imported item: its summary, named after its platform unless it already is
/// ("Airbnb (Not available)" stays as it is, "Reserved" becomes "Airbnb: Reserved").
pub fn imported_label(platform: Platform, summary: Option<&str>) -> String {
    let name = platform_name(platform);
    match summary.map(str::trim) {
        Some("") | None => name.to_owned(),
        Some(s) if s.to_lowercase().contains(&name.to_lowercase()) => s.to_owned(),
        Some(s) => format!("{name}: {s}"),
    }
}

/// How a platform is called in messages.
pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Airbnb => "Airbnb",
        Platform::Vrbo => "VRBO",
        Platform::BookingCom => "Booking.com",
        Platform::Google => "Google Calendar",
        Platform::Outlook => "Outlook",
        Platform::Other => "the imported calendar",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, d, 0, 0, 0).unwrap()
    }

    fn item(source: Source, class: Class, from: u32, to: u32) -> Busy {
        Busy {
            item: ItemRef { source, id: Uuid::now_v7() },
            start: day(from),
            end: day(to),
            all_day: true,
            class,
            group: None,
            label: String::new(),
            kin: Kin::Own,
        }
    }

    #[test]
    fn a_collision_within_a_family_is_recorded_once_in_the_rooms_calendar() {
        let (house, room, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (in_house, in_room) = (Owner::Resource(house), Owner::Resource(room));
        let own = Kin::Own;
        assert_eq!(recorded_by(in_house, own, own), Some(in_house));
        assert_eq!(recorded_by(in_house, own, Kin::Child(room)), Some(in_room));
        assert_eq!(recorded_by(in_room, Kin::Parent, own), Some(in_room), "the same pair");
        assert_eq!(recorded_by(in_house, Kin::Child(room), Kin::Child(room)), Some(in_room));
        assert_eq!(recorded_by(in_house, Kin::Child(room), Kin::Child(other)), None, "siblings");
        assert_eq!(recorded_by(in_room, Kin::Parent, Kin::Parent), None, "the house's own");
    }

    #[test]
    fn a_booking_overlapping_an_airbnb_reservation_is_high() {
        let mut items = vec![
            item(Source::Booking, Class::Confirmed, 3, 6),
            item(Source::Feed, Class::Reservation(Platform::Airbnb), 5, 9),
        ];
        let found = find(&mut items);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::High);
        assert_eq!((found[0].start, found[0].end), (day(5), day(6)));
        assert!(found[0].suggestion.contains("Airbnb"));
    }

    #[test]
    fn checkout_day_equal_to_checkin_day_is_not_a_conflict() {
        let mut items = vec![
            item(Source::Booking, Class::Confirmed, 3, 6),
            item(Source::Booking, Class::Confirmed, 6, 9),
        ];
        assert!(find(&mut items).is_empty());
    }

    #[test]
    fn a_tentative_booking_or_a_block_makes_a_medium_conflict() {
        let mut items = vec![
            item(Source::Booking, Class::Tentative, 3, 6),
            item(Source::Booking, Class::Confirmed, 4, 5),
            item(Source::Block, Class::Block, 1, 5),
        ];
        let found = find(&mut items);
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|c| c.severity == Severity::Medium), "{found:?}");
    }

    #[test]
    fn blocks_overlapping_each_other_and_items_of_one_feed_are_not_conflicts() {
        let feed = Some(Uuid::now_v7());
        let mut a = item(Source::Feed, Class::Reservation(Platform::Airbnb), 1, 5);
        let mut b = item(Source::Feed, Class::PlatformBlock(Platform::Airbnb), 2, 8);
        (a.group, b.group) = (feed, feed);
        let mut items = vec![a, b, item(Source::Block, Class::Block, 3, 9)];
        assert!(find(&mut items).is_empty());
    }

    #[test]
    fn back_to_back_timed_items_touch_as_a_low_conflict() {
        let mut a = item(Source::Booking, Class::Confirmed, 3, 4);
        let mut b = item(Source::Calendar, Class::CalendarBusy, 4, 5);
        (a.all_day, b.all_day) = (false, false);
        let found = find(&mut [a, b]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Low);
    }

    #[test]
    fn a_booking_over_a_staff_members_own_busy_time_is_medium() {
        let mut items = vec![
            item(Source::Booking, Class::Confirmed, 3, 5),
            item(Source::Calendar, Class::CalendarBusy, 4, 6),
            item(Source::Calendar, Class::CalendarBusy, 4, 7),
            item(Source::Block, Class::Block, 5, 8),
        ];
        let found = find(&mut items);
        assert_eq!(found.len(), 2, "busy times among themselves and with blocks never collide");
        assert!(found.iter().all(|c| c.severity == Severity::Medium), "{found:?}");
        assert!(found[0].suggestion.contains("their own calendar"));
    }

    #[test]
    fn the_sweep_finds_the_same_pairs_as_comparing_every_pair() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let classes = [Class::Confirmed, Class::Tentative, Class::Block];
        let mut items: Vec<Busy> = (0..300)
            .map(|_| {
                let from = rng.random_range(1..25);
                let class = classes[rng.random_range(0..classes.len())];
                item(Source::Booking, class, from, from + rng.random_range(1..4))
            })
            .collect();
        let found = find(&mut items);
        let mut brute = 0;
        for i in 0..items.len() {
            for j in i + 1..items.len() {
                brute += usize::from(judge(&items[i], &items[j], i, j).is_some());
            }
        }
        assert_eq!(found.len(), brute);
        assert!(brute > 100, "the sample should collide a lot");
    }

    #[test]
    fn pair_keys_do_not_depend_on_order() {
        let (a, b) = (
            ItemRef { source: Source::Booking, id: Uuid::now_v7() },
            ItemRef { source: Source::Feed, id: Uuid::now_v7() },
        );
        assert_eq!(Collision::pair_key(a, b), Collision::pair_key(b, a));
    }
}
