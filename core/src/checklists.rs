//! Manual update checklists: what each platform without a calendar feed must be told by hand.
//!
//! Items describe the state a `manual` listing must reach, not every change: [`net`] compares the
//! nights the resource needs closed (every busy source) with what the platform is believed to
//! have (closes done minus opens done), keeps the pending items that still ask for the right
//! thing, supersedes the rest and names what is newly owed. Pure: the store reads the inputs
//! and writes the plan in the change's own transaction (`store/checklists.rs`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike as _, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Platform;

/// A platform a resource is listed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingPlatform {
    /// Booking.com (extranet calendar).
    BookingCom,
    /// MakeMyTrip (InGo-MMT extranet).
    Makemytrip,
    /// Goibibo (InGo-MMT extranet).
    Goibibo,
    /// Agoda (YCS).
    Agoda,
    /// Expedia (Partner Central).
    Expedia,
    /// Airbnb.
    Airbnb,
    /// VRBO.
    Vrbo,
    /// Anything else.
    Other,
}

impl ListingPlatform {
    /// Every platform, in the order the API documents them.
    pub const ALL: [ListingPlatform; 8] = [
        Self::BookingCom,
        Self::Makemytrip,
        Self::Goibibo,
        Self::Agoda,
        Self::Expedia,
        Self::Airbnb,
        Self::Vrbo,
        Self::Other,
    ];

    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingCom => "booking_com",
            Self::Makemytrip => "makemytrip",
            Self::Goibibo => "goibibo",
            Self::Agoda => "agoda",
            Self::Expedia => "expedia",
            Self::Airbnb => "airbnb",
            Self::Vrbo => "vrbo",
            Self::Other => "other",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::BookingCom => "Booking.com",
            Self::Makemytrip => "MakeMyTrip",
            Self::Goibibo => "Goibibo",
            Self::Agoda => "Agoda",
            Self::Expedia => "Expedia",
            Self::Airbnb => "Airbnb",
            Self::Vrbo => "VRBO",
            Self::Other => "Other platform",
        }
    }

    /// Whether a reservation read from a feed of `platform` was made on this platform (which
    /// then closed, and on cancellation reopens, the nights by itself).
    pub fn is_source_of(self, platform: Platform) -> bool {
        matches!(
            (self, platform),
            (Self::Airbnb, Platform::Airbnb)
                | (Self::Vrbo, Platform::Vrbo)
                | (Self::BookingCom, Platform::BookingCom)
        )
    }
}

/// How a listing is kept in step with Kalends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingMode {
    /// By hand, from checklists.
    Manual,
    /// By the platform's iCal import and export.
    Ical,
}

impl ListingMode {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Ical => "ical",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Ical].into_iter().find(|m| m.as_str() == s)
    }
}

/// What an item asks a person to do on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Close the nights (no more sales).
    Close,
    /// Open the nights again.
    Open,
    /// Check that the platform reopened the nights by itself.
    Verify,
}

impl Action {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Open => "open",
            Self::Verify => "verify",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Close, Self::Open, Self::Verify].into_iter().find(|a| a.as_str() == s)
    }
}

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Still to do.
    Pending,
    /// Done on the platform.
    Done,
    /// Deliberately not done (with a reason).
    Skipped,
    /// No longer needed: a later change asks for something else.
    Superseded,
}

impl ItemStatus {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Superseded => "superseded",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Skipped, Self::Superseded]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// Why one night of a resource is busy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NightCause {
    /// The platforms whose feeds hold a reservation or block on it.
    pub feeds: Vec<Platform>,
    /// Busy for a reason of Kalends' own (a booking or a block).
    pub own: bool,
    /// The booking that takes it, if one does (the earliest starting).
    pub booking_id: Option<Uuid>,
}

/// One item of a listing as the netting sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemView {
    /// Its id.
    pub id: Uuid,
    /// What it asks.
    pub action: Action,
    /// First night.
    pub start: NaiveDate,
    /// The check-out day (exclusive).
    pub end: NaiveDate,
    /// Where it stands.
    pub status: ItemStatus,
    /// When it was done (done items).
    pub done_at: Option<DateTime<Utc>>,
    /// The booking behind a close.
    pub booking_id: Option<Uuid>,
}

/// Nights a listing must be told about: an action over `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// What to do.
    pub action: Action,
    /// First night.
    pub start: NaiveDate,
    /// Check-out day (exclusive).
    pub end: NaiveDate,
    /// The booking behind a close.
    pub booking_id: Option<Uuid>,
}

/// What one refresh changes in a listing's checklist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pending items no longer asked for.
    pub supersede: Vec<Uuid>,
    /// New pending items.
    pub create: Vec<Need>,
    /// The nights the platform holds by itself now (remembered for the next refresh).
    pub held: BTreeSet<NaiveDate>,
}

/// One listing's inputs to [`net`].
#[derive(Clone, Copy, Debug)]
pub struct ListingInput<'a> {
    /// The listing's platform.
    pub platform: ListingPlatform,
    /// The first night that still matters (today in the resource's zone).
    pub today: NaiveDate,
    /// The resource's busy nights from `today` on.
    pub busy: &'a BTreeMap<NaiveDate, NightCause>,
    /// The listing's items (any status).
    pub items: &'a [ItemView],
    /// The nights the platform held by itself at the previous refresh.
    pub was_held: &'a BTreeSet<NaiveDate>,
}

/// The nights of `[start, end)` from `from` on.
fn nights(start: NaiveDate, end: NaiveDate, from: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    start.max(from).iter_days().take_while(move |d| *d < end)
}

/// Which nights the platform is believed to have closed: the last done item over each night wins.
fn believed_closed(input: &ListingInput<'_>) -> BTreeSet<NaiveDate> {
    let mut done: Vec<&ItemView> =
        input.items.iter().filter(|i| i.status == ItemStatus::Done).collect();
    done.sort_by_key(|i| (i.done_at, i.id));
    let mut closed = BTreeSet::new();
    for item in done {
        for night in nights(item.start, item.end, input.today) {
            if item.action == Action::Close {
                closed.insert(night);
            } else {
                closed.remove(&night);
            }
        }
    }
    closed
}

/// What each night needs, from today on.
fn needs_by_night(
    input: &ListingInput<'_>,
    held: &BTreeSet<NaiveDate>,
) -> BTreeMap<NaiveDate, Need> {
    let closed = believed_closed(input);
    let verifying: BTreeSet<NaiveDate> = input
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Pending && i.action == Action::Verify)
        .flat_map(|i| nights(i.start, i.end, input.today))
        .collect();
    let mut candidates: BTreeSet<NaiveDate> = input.busy.keys().copied().collect();
    candidates.extend(closed.iter().chain(&verifying).chain(input.was_held));
    let mut needs = BTreeMap::new();
    for night in candidates.into_iter().filter(|n| *n >= input.today) {
        let one = |action, booking_id| Need { action, start: night, end: night, booking_id };
        let need = match input.busy.get(&night) {
            Some(_) if held.contains(&night) || closed.contains(&night) => None,
            Some(cause) => Some(one(Action::Close, cause.booking_id)),
            None if closed.contains(&night) => Some(one(Action::Open, None)),
            None if input.was_held.contains(&night) || verifying.contains(&night) => {
                Some(one(Action::Verify, None))
            }
            None => None,
        };
        if let Some(need) = need {
            needs.insert(night, need);
        }
    }
    needs
}

/// Consecutive nights with the same need as ranges.
fn ranges(needs: BTreeMap<NaiveDate, Need>) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for (night, need) in needs {
        let next = night.succ_opt().unwrap_or(night);
        match out.last_mut() {
            Some(last)
                if last.end == night
                    && last.action == need.action
                    && last.booking_id == need.booking_id =>
            {
                last.end = next;
            }
            _ => out.push(Need { end: next, ..need }),
        }
    }
    out
}

/// Nets one listing: what to supersede, what to create. A pending or skipped item that asks for
/// exactly what is still needed (its nights from today on, for the same booking) stands; other
/// pending and skipped items are superseded: a skip answered one booking's need, and another
/// booking taking the same nights later must be asked for anew.
pub fn net(input: &ListingInput<'_>) -> Plan {
    let held: BTreeSet<NaiveDate> = input
        .busy
        .iter()
        .filter(|(_, c)| c.feeds.iter().any(|p| input.platform.is_source_of(*p)))
        .map(|(n, _)| *n)
        .collect();
    let mut create = ranges(needs_by_night(input, &held));
    let mut supersede = Vec::new();
    for item in input.items {
        if !matches!(item.status, ItemStatus::Pending | ItemStatus::Skipped) {
            continue;
        }
        let start = item.start.max(input.today);
        let wanted = create.iter().position(|n| {
            n.action == item.action
                && n.start == start
                && n.end == item.end
                && n.booking_id == item.booking_id
                && start < item.end
        });
        match wanted {
            Some(i) => {
                create.remove(i);
            }
            None => supersede.push(item.id),
        }
    }
    Plan { supersede, create, held }
}

/// When an item made at `now` for nights starting at `check_in` is due: soon after the change,
/// sooner when check-in is near (`[checklists]`).
pub fn due_at(
    config: &crate::config::ChecklistsConfig,
    now: DateTime<Utc>,
    check_in: DateTime<Utc>,
) -> DateTime<Utc> {
    let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    if check_in - now <= secs(config.urgent_within_secs) {
        now + secs(config.urgent_due_secs)
    } else {
        now + secs(config.due_after_secs)
    }
}

/// The reminder step an item is at, at `now`: 0 before its due time, 1 once overdue, and one
/// more for each of `steps_secs` (seconds before check-in) passed.
pub fn reminder_step(
    steps_secs: &[u64],
    now: DateTime<Utc>,
    due: DateTime<Utc>,
    check_in: DateTime<Utc>,
) -> (i64, Option<DateTime<Utc>>) {
    if now < due {
        return (0, Some(due));
    }
    let mut marks: Vec<DateTime<Utc>> = steps_secs
        .iter()
        .map(|s| check_in - chrono::Duration::seconds(i64::try_from(*s).unwrap_or(0)))
        .collect();
    marks.sort();
    let passed = marks.iter().filter(|m| **m <= now).count();
    let next = marks.into_iter().find(|m| *m > now);
    (1 + i64::try_from(passed).unwrap_or(0), next)
}

/// "the 12th", "1st", "22nd".
fn ordinal(day: u32) -> String {
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

/// "12 March", or "the 12th" when `short` (same month as the context).
fn day_name(day: NaiveDate, short: bool) -> String {
    if short { format!("the {}", ordinal(day.day())) } else { day.format("%-d %B").to_string() }
}

/// "a, b and c".
fn and_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The nights of `[start, end)` for a person, seen on `today` (the range as every page says it,
/// [`crate::words::nights`]; the nights one by one when there are a few, for extranets that
/// take them so): "close 3 nights, 12–15 Mar (the 12th, 13th and 14th); check-out on the 15th".
pub fn describe(action: Action, start: NaiveDate, end: NaiveDate, today: NaiveDate) -> String {
    let same_month = start.month() == end.month() && start.year() == end.year();
    let list: Vec<NaiveDate> = start.iter_days().take_while(|d| *d < end).collect();
    let each = match list.as_slice() {
        [_, _, ..] if list.len() <= 5 => {
            let names: Vec<String> = list
                .iter()
                .enumerate()
                .map(|(i, d)| match (same_month, i) {
                    (true, 0) => day_name(*d, true),
                    (true, _) => ordinal(d.day()),
                    (false, _) => day_name(*d, false),
                })
                .collect();
            format!(" ({})", and_list(&names))
        }
        _ => String::new(),
    };
    let verb = match action {
        Action::Close => "close",
        Action::Open => "open",
        Action::Verify => "check the platform reopened",
    };
    let nights = crate::words::nights(start, end, today);
    format!("{verb} {nights}{each}; check-out on {}", day_name(end, same_month))
}

/// A range for a bulk editor: `[start, end)` restricted to the days of `days`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkRange {
    /// What to do.
    pub action: Action,
    /// First night.
    pub start: NaiveDate,
    /// Last night (inclusive, as extranets ask).
    pub last: NaiveDate,
    /// The days of the week the change applies to.
    pub days: Vec<Weekday>,
}

impl BulkRange {
    /// "Mon Tue Wed" or "every day".
    pub fn days_label(&self) -> String {
        if self.days.len() == 7 {
            return "every day".into();
        }
        let names: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        names.join(" ")
    }
}

/// Whether the range `[start, last]` with the weekdays of `days` covers exactly `set` there.
fn exact(set: &BTreeSet<NaiveDate>, start: NaiveDate, last: NaiveDate, days: &[Weekday]) -> bool {
    start
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| days.contains(&d.weekday()))
        .all(|d| set.contains(&d))
}

fn weekdays_of(set: &BTreeSet<NaiveDate>, start: NaiveDate, last: NaiveDate) -> Vec<Weekday> {
    let mut days: Vec<Weekday> = set.range(start..=last).map(|d| d.weekday()).collect();
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    days
}

/// Merges nights of one action into few ranges with day-of-week masks: runs of consecutive
/// nights join while the joined range, with the weekdays its nights fall on, covers no other
/// night (every Friday and Saturday of a season is one range).
pub fn bulk_ranges(action: Action, set: &BTreeSet<NaiveDate>) -> Vec<BulkRange> {
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for night in set {
        match runs.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(*night) => *last = *night,
            _ => runs.push((*night, *night)),
        }
    }
    let mut out: Vec<BulkRange> = Vec::new();
    for (start, last) in runs {
        if let Some(prev) = out.last_mut() {
            let days = weekdays_of(set, prev.start, last);
            if exact(set, prev.start, last, &days) {
                prev.last = last;
                prev.days = days;
                continue;
            }
        }
        let days = weekdays_of(set, start, last);
        out.push(BulkRange { action, start, last, days });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2030, 3, day).unwrap()
    }

    fn busy(ranges: &[(u32, u32, Option<u128>)]) -> BTreeMap<NaiveDate, NightCause> {
        let mut map = BTreeMap::new();
        for &(s, e, booking) in ranges {
            for n in nights(d(s), d(e), d(1)) {
                map.entry(n).or_insert(NightCause {
                    feeds: Vec::new(),
                    own: true,
                    booking_id: booking.map(Uuid::from_u128),
                });
            }
        }
        map
    }

    fn item(id: u128, action: Action, s: u32, e: u32, status: ItemStatus) -> ItemView {
        let done_at = (status == ItemStatus::Done).then(|| {
            DateTime::from_timestamp(1_900_000_000 + i64::try_from(id).unwrap(), 0).unwrap()
        });
        let (id, start, end) = (Uuid::from_u128(id), d(s), d(e));
        ItemView { id, action, start, end, status, done_at, booking_id: None }
    }

    fn for_booking(item: ItemView, booking: u128) -> ItemView {
        ItemView { booking_id: Some(Uuid::from_u128(booking)), ..item }
    }

    fn plan(busy: &BTreeMap<NaiveDate, NightCause>, items: &[ItemView]) -> Plan {
        let held = BTreeSet::new();
        net(&ListingInput {
            platform: ListingPlatform::Agoda,
            today: d(1),
            busy,
            items,
            was_held: &held,
        })
    }

    fn need(action: Action, s: u32, e: u32, booking: Option<u128>) -> Need {
        Need { action, start: d(s), end: d(e), booking_id: booking.map(Uuid::from_u128) }
    }

    #[test]
    fn a_new_booking_asks_to_close_its_nights() {
        let p = plan(&busy(&[(12, 15, Some(7))]), &[]);
        assert_eq!(p.create, [need(Action::Close, 12, 15, Some(7))]);
        assert!(p.supersede.is_empty());
    }

    #[test]
    fn a_pending_close_for_the_same_nights_stands() {
        let items = [for_booking(item(1, Action::Close, 12, 15, ItemStatus::Pending), 7)];
        let p = plan(&busy(&[(12, 15, Some(7))]), &items);
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn a_booking_moved_before_anyone_acted_leaves_one_close_for_the_new_nights() {
        let items = [item(1, Action::Close, 12, 15, ItemStatus::Pending)];
        let p = plan(&busy(&[(20, 22, Some(7))]), &items);
        assert_eq!(p.supersede, [Uuid::from_u128(1)]);
        assert_eq!(p.create, [need(Action::Close, 20, 22, Some(7))]);
    }

    #[test]
    fn a_cancellation_before_the_close_was_done_leaves_nothing_to_do() {
        let items = [item(1, Action::Close, 12, 15, ItemStatus::Pending)];
        let p = plan(&BTreeMap::new(), &items);
        assert_eq!(p.supersede, [Uuid::from_u128(1)]);
        assert!(p.create.is_empty());
    }

    #[test]
    fn a_cancellation_after_the_close_was_done_asks_to_open() {
        let items = [item(1, Action::Close, 12, 15, ItemStatus::Done)];
        let p = plan(&BTreeMap::new(), &items);
        assert_eq!(p.create, [need(Action::Open, 12, 15, None)]);
    }

    #[test]
    fn nights_still_busy_for_another_reason_are_never_reopened() {
        let items = [item(1, Action::Close, 12, 15, ItemStatus::Done)];
        let p = plan(&busy(&[(14, 16, None)]), &items);
        assert_eq!(p.create, [need(Action::Open, 12, 14, None), need(Action::Close, 15, 16, None)]);
    }

    #[test]
    fn an_open_done_after_a_close_makes_the_nights_open_again() {
        let items = [
            item(1, Action::Close, 12, 15, ItemStatus::Done),
            item(2, Action::Open, 12, 15, ItemStatus::Done),
        ];
        assert_eq!(plan(&BTreeMap::new(), &items), Plan::default());
    }

    #[test]
    fn a_skipped_item_is_not_asked_again() {
        let items = [for_booking(item(1, Action::Close, 12, 15, ItemStatus::Skipped), 7)];
        assert_eq!(plan(&busy(&[(12, 15, Some(7))]), &items), Plan::default());
    }

    #[test]
    fn a_skip_answers_its_booking_only_and_goes_with_it() {
        let skipped = [for_booking(item(1, Action::Close, 12, 15, ItemStatus::Skipped), 7)];
        // Another booking takes the same nights: the platform must be asked to close them.
        let p = plan(&busy(&[(12, 15, Some(8))]), &skipped);
        assert_eq!(p.create, [need(Action::Close, 12, 15, Some(8))]);
        assert_eq!(p.supersede, [Uuid::from_u128(1)]);
        // Its booking cancelled, the skip goes, so that it never stands for a later one.
        let p = plan(&BTreeMap::new(), &skipped);
        assert_eq!((p.supersede, p.create), (vec![Uuid::from_u128(1)], vec![]));
    }

    #[test]
    fn overlapping_bookings_split_by_the_booking_that_took_each_night_first() {
        let p = plan(&busy(&[(10, 13, Some(1)), (12, 15, Some(2))]), &[]);
        assert_eq!(
            p.create,
            [need(Action::Close, 10, 13, Some(1)), need(Action::Close, 13, 15, Some(2))]
        );
    }

    #[test]
    fn a_cancellation_on_the_platform_that_sold_the_nights_asks_to_verify() {
        let mut map = BTreeMap::new();
        let cause = NightCause { feeds: vec![Platform::BookingCom], own: false, booking_id: None };
        map.insert(d(12), cause);
        let input = |busy, was_held| ListingInput {
            platform: ListingPlatform::BookingCom,
            today: d(1),
            busy,
            items: &[],
            was_held,
        };
        let none = BTreeSet::new();
        let first = net(&input(&map, &none));
        assert!(first.create.is_empty(), "the platform closed its own sale");
        assert_eq!(first.held, [d(12)].into_iter().collect());
        let empty = BTreeMap::new();
        let after = net(&input(&empty, &first.held));
        assert_eq!(after.create, [need(Action::Verify, 12, 13, None)]);
    }

    #[test]
    fn nights_before_today_are_not_asked_for() {
        let input = ListingInput {
            platform: ListingPlatform::Agoda,
            today: d(13),
            busy: &busy(&[(12, 15, Some(7))]),
            items: &[for_booking(item(1, Action::Close, 12, 15, ItemStatus::Pending), 7)],
            was_held: &BTreeSet::new(),
        };
        assert_eq!(net(&input), Plan::default());
    }

    #[test]
    fn the_nights_read_as_a_person_would_say_them() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 5).unwrap();
        assert_eq!(
            describe(Action::Close, d(12), d(15), today),
            "close 3 nights, 12–15 Mar (the 12th, 13th and 14th); check-out on the 15th"
        );
        let april = NaiveDate::from_ymd_opt(2030, 4, 2).unwrap();
        assert_eq!(
            describe(Action::Open, d(31), april, today),
            "open 2 nights, 31 Mar–2 Apr (31 March and 1 April); check-out on 2 April"
        );
        assert_eq!(
            describe(Action::Close, d(1), d(21), today),
            "close 20 nights, 1–21 Mar; check-out on the 21st"
        );
        assert_eq!(
            describe(Action::Close, d(12), d(13), today),
            "close the night of Tue 12 Mar; check-out on the 13th"
        );
        let last_year = NaiveDate::from_ymd_opt(2029, 12, 1).unwrap();
        assert!(describe(Action::Close, d(1), d(21), last_year).contains("1–21 Mar 2030"));
    }

    #[test]
    fn reminders_escalate_at_each_step_before_check_in() {
        let t = |h: i64| DateTime::from_timestamp(1_900_000_000 + h * 3600, 0).unwrap();
        let (due, check_in) = (t(0), t(48));
        assert_eq!(reminder_step(&[86_400, 7200], t(-1), due, check_in), (0, Some(due)));
        assert_eq!(reminder_step(&[86_400, 7200], t(1), due, check_in), (1, Some(t(24))));
        assert_eq!(reminder_step(&[86_400, 7200], t(25), due, check_in), (2, Some(t(46))));
        assert_eq!(reminder_step(&[86_400, 7200], t(47), due, check_in), (3, None));
    }

    #[test]
    fn an_item_is_due_sooner_when_check_in_is_near() {
        let config = crate::config::ChecklistsConfig::default();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let soon = now + chrono::Duration::hours(20);
        assert_eq!(due_at(&config, now, soon), now + chrono::Duration::minutes(15));
        let later = now + chrono::Duration::days(30);
        assert_eq!(due_at(&config, now, later), now + chrono::Duration::hours(2));
    }

    #[test]
    fn weekends_of_a_season_merge_into_one_range_with_a_day_mask() {
        // 2030-03-01 is a Friday.
        let set: BTreeSet<NaiveDate> = [1, 2, 8, 9, 15, 16].into_iter().map(d).collect();
        let ranges = bulk_ranges(Action::Close, &set);
        assert_eq!(ranges.len(), 1);
        assert_eq!((ranges[0].start, ranges[0].last), (d(1), d(16)));
        assert_eq!(ranges[0].days, [Weekday::Fri, Weekday::Sat]);
        assert_eq!(ranges[0].days_label(), "Fri Sat");
    }

    #[test]
    fn runs_that_cannot_share_a_mask_stay_apart() {
        let set: BTreeSet<NaiveDate> = [1, 2, 3, 9].into_iter().map(d).collect();
        let ranges = bulk_ranges(Action::Close, &set);
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[0].days_label(), "Fri Sat Sun");
    }
}
