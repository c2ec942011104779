//! A booking against its owners' rules: which busy items the judgement needs, and what the
//! rules say of the booking among them. Used where a booking is written (`?reject_conflicts`
//! refuses it) and after every write (a conflict of kind `rule` says which rule it breaks).

use chrono::{DateTime, Duration, Utc};

use super::{NightItem, Rule, Rules, Violation, check_appointment, check_stay, nights_reach};
use crate::conflicts::{Busy, Class, Kin, Source};
use crate::domain::{BookingSpan, BookingStatus, NewBooking, Owner, TimeZone, local_midnight};

/// Which ends of a booking a write moves: the rules that measure from today (the notice, the
/// booking window) judge only an end that moved, and what they found of an end that stayed
/// stands as today moves on. A stay extended after check-in keeps its start (in the past, which
/// no notice allows) and is judged only on how far ahead it now reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The start (check-in, or the appointment's start) moved.
    pub start: bool,
    /// The end (check-out, or the appointment's end) moved.
    pub end: bool,
}

impl Moved {
    /// A new booking: both ends are new.
    pub const NEW: Moved = Moved { start: true, end: true };
    /// A write that keeps both ends.
    pub const NONE: Moved = Moved { start: false, end: false };

    /// From the stored span to the written one (a change between whole days and times moves
    /// both ends).
    pub fn between(old: &BookingSpan, new: &BookingSpan) -> Self {
        match (old, new) {
            (
                BookingSpan::AllDay { start: s1, end: e1, .. },
                BookingSpan::AllDay { start: s2, end: e2, .. },
            ) => Moved { start: s1 != s2, end: e1 != e2 },
            (
                BookingSpan::Timed { start: s1, end: e1, .. },
                BookingSpan::Timed { start: s2, end: e2, .. },
            ) => Moved { start: s1 != s2, end: e1 != e2 },
            _ => Moved::NEW,
        }
    }

    /// The ends the write moves as one owner sees them: to an owner the booking is new to
    /// (another room, other staff) it is a new booking, judged on both ends, unless it had
    /// begun and the write keeps its start (a guest moved to another room mid-stay did not
    /// check in anew).
    pub fn for_owner(self, holds_it: bool, begun: bool) -> Moved {
        if holds_it || (begun && !self.start) { self } else { Moved::NEW }
    }

    /// Whether either end moved.
    pub fn any(self) -> bool {
        self.start || self.end
    }

    /// The rules whose verdict stands because what they measure did not move: the notice counts
    /// to the start; the window to a stay's last night, or to an appointment's start.
    pub fn standing(self, all_day: bool) -> Vec<Rule> {
        let mut kept = Vec::new();
        if !self.start {
            kept.extend([Rule::MinNoticeDays, Rule::MinNoticeMinutes]);
        }
        if !(if all_day { self.end } else { self.start }) {
            kept.push(Rule::BookingWindowDays);
        }
        kept
    }
}

/// A write of a booking as the notice and the window see it: the ends it moved, and the owners
/// that held the booking before it. To any other owner it is a new booking
/// ([`Moved::for_owner`]): a stay moved to another room is judged there on both ends. Where
/// it was tells the conflict pass after the write which neighbours it may have stopped
/// troubling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// The ends the write moved.
    pub moved: Moved,
    /// The booking's owners before the write (none for a new booking).
    pub held_by: Vec<Owner>,
    /// Where the booking was before the write, when it took time there (none for a new
    /// booking, or one that was cancelled).
    pub was: Option<BookingSpan>,
}

impl Rewrite {
    /// A new booking: both ends new to every owner.
    pub fn new_booking() -> Self {
        Self { moved: Moved::NEW, held_by: Vec::new(), was: None }
    }

    /// A write that moves nothing for `booking`'s owners (a cancellation, a change of rules).
    pub fn kept(booking: &NewBooking) -> Self {
        Self { moved: Moved::NONE, held_by: booking.owners(), was: Some(booking.span.clone()) }
    }

    /// From the stored booking to the written one. A cancelled booking is held by no owner:
    /// reinstated, it is judged as a new booking (unless it had begun and keeps its start).
    pub fn between(old: &NewBooking, new: &NewBooking) -> Self {
        let (held_by, was) = match old.status {
            BookingStatus::Cancelled => (Vec::new(), None),
            BookingStatus::Tentative | BookingStatus::Confirmed => {
                (old.owners(), Some(old.span.clone()))
            }
        };
        Self { moved: Moved::between(&old.span, &new.span), held_by, was }
    }

    /// The ends `owner` sees moved, for a booking that had `begun`.
    pub fn seen_by(&self, owner: Owner, begun: bool) -> Moved {
        self.moved.for_owner(self.held_by.contains(&owner), begun)
    }
}

/// The instants whose busy items [`judge`] needs for `booking` under `rules`: for a stay, the
/// nights a turnover, a stay length or a gap reaches ([`nights_reach`]); for an appointment, the
/// buffers around it and a day either side.
pub fn reach(rules: &Rules, days_zone: TimeZone, booking: &Busy) -> (DateTime<Utc>, DateTime<Utc>) {
    if booking.all_day {
        let night = NightItem::of(booking, days_zone);
        let (from, to) = nights_reach(rules, night.start, night.end);
        (local_midnight(from, days_zone), local_midnight(to, days_zone))
    } else {
        let gap = Duration::minutes(i64::from(
            rules.buffer_before_minutes() + rules.buffer_after_minutes(),
        ));
        (booking.start - gap - Duration::days(1), booking.end + gap + Duration::days(1))
    }
}

/// What `rules` say of `booking` among `items` (its owner's busy items within [`reach`]; its
/// own stored version, if listed, is left out), `now` being the time of the write. A stay is
/// judged in nights of `days_zone` (where its days are counted), an appointment against
/// opening hours in `owner_zone`. The notice and the window are judged only for the ends the
/// write `moved`: a booking that keeps its dates stays valid as today moves on.
pub fn judge(
    rules: &Rules,
    (days_zone, owner_zone): (TimeZone, TimeZone),
    now: DateTime<Utc>,
    booking: &Busy,
    items: &[Busy],
    moved: Moved,
) -> Vec<Violation> {
    if rules.is_empty() {
        return Vec::new();
    }
    let others = items.iter().filter(|item| item.item != booking.item);
    if booking.all_day {
        let stay = NightItem::of(booking, days_zone);
        let others: Vec<NightItem> = others.map(|item| NightItem::of(item, days_zone)).collect();
        let today = now.with_timezone(&days_zone.tz()).date_naive();
        check_stay(rules, today, (stay.start, stay.end), &others, moved)
    } else {
        let others: Vec<_> = others.map(|item| (item.start, item.end)).collect();
        check_appointment(rules, owner_zone, now, (booking.start, booking.end), &others, moved)
    }
}

/// The instants whose busy items [`judge_neighbours`] needs around `candidate`: the owner's
/// bookings its turnover or buffers could reach (within [`NEIGHBOUR_REACH_DAYS`] of it), each
/// with what their own rules reach, as far again around them. `read`: the busy items read so far
/// (none at first); a neighbour longer than that first reach asks for more around it.
pub fn neighbours_reach(candidate: &Busy, read: &[Busy]) -> (DateTime<Utc>, DateTime<Utc>) {
    let reach = Duration::days(NEIGHBOUR_REACH_DAYS);
    let first = (candidate.start - reach * 2, candidate.end + reach * 2);
    neighbours(candidate, read)
        .fold(first, |(from, to), n| (from.min(n.start - reach), to.max(n.end + reach)))
}

/// How far from a busy item (a booking, a block, an imported reservation) the rules of a
/// booking next to it may reach it, in days: a turnover of up to 30 nights, buffers of hours.
pub const NEIGHBOUR_REACH_DAYS: i64 = 31;

/// The owner's own bookings among `items` that `candidate` is near enough to make break a rule.
fn neighbours<'a>(candidate: &'a Busy, items: &'a [Busy]) -> impl Iterator<Item = &'a Busy> {
    let reach = Duration::days(NEIGHBOUR_REACH_DAYS);
    let (from, to) = (candidate.start - reach, candidate.end + reach);
    items.iter().filter(move |item| {
        item.item != candidate.item
            && item.kin == Kin::Own
            && item.item.source == Source::Booking
            && matches!(item.class, Class::Confirmed | Class::Tentative)
            && item.start < to
            && item.end > from
    })
}

/// What booking `candidate` would make the bookings of an owner break anew under that owner's
/// `rules` (counted in `zone`): a house's stay is each room's busy time and a room's its
/// house's, so a stay of the house booked into the turnover night after a room's stay makes the
/// room's stay break its turnover. Each of the owner's own bookings near it among `items` (its
/// busy items within [`neighbours_reach`]; the candidate's stored version, if listed, is left
/// out) is judged with the candidate and without it; what it breaks only with the candidate is
/// returned, its message naming that booking. Their notice and window stand (they do not move).
pub fn judge_neighbours(
    rules: &Rules,
    zone: TimeZone,
    now: DateTime<Utc>,
    candidate: &Busy,
    items: &[Busy],
) -> Vec<Violation> {
    if !rules.reach_neighbours() {
        return Vec::new();
    }
    let without: Vec<Busy> = items.iter().filter(|i| i.item != candidate.item).cloned().collect();
    let mut with = without.clone();
    with.push(candidate.clone());
    let mut found = Vec::new();
    for neighbour in neighbours(candidate, &without) {
        let before = judge(rules, (zone, zone), now, neighbour, &without, Moved::NONE);
        for broken in judge(rules, (zone, zone), now, neighbour, &with, Moved::NONE) {
            if before.iter().all(|v| v.rule != broken.rule) {
                let message = format!(
                    "{} (it would make \"{}\", a booking of its house or room next to it, \
                     break this rule)",
                    broken.message, neighbour.label
                );
                found.push(Violation { message, ..broken });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone as _};
    use uuid::Uuid;

    use super::*;
    use crate::availability::{Rule, RulesDraft};
    use crate::conflicts::{Class, ItemRef, Source};

    fn zone() -> TimeZone {
        "Europe/Paris".parse().unwrap()
    }

    fn rules(json: serde_json::Value) -> Rules {
        Rules::try_from(serde_json::from_value::<RulesDraft>(json).unwrap()).unwrap()
    }

    fn stay(id: Uuid, from: (u32, u32), to: (u32, u32)) -> Busy {
        let day = |(m, d)| local_midnight(NaiveDate::from_ymd_opt(2027, m, d).unwrap(), zone());
        Busy {
            item: ItemRef { source: Source::Booking, id },
            start: day(from),
            end: day(to),
            all_day: true,
            class: Class::Confirmed,
            group: None,
            label: "Stay".into(),
            kin: Default::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_one_night_stay_under_a_two_night_minimum_breaks_min_nights() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 11));
        let found = judge(
            &rules(serde_json::json!({"min_nights": 2})),
            (zone(), zone()),
            now(),
            &booking,
            &[],
            Moved::NEW,
        );
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::MinNights]);
        assert_eq!((found[0].limit.clone(), found[0].value.clone()), (2.into(), 1.into()));
    }

    #[test]
    fn a_stay_is_not_judged_against_its_own_stored_version() {
        let id = Uuid::now_v7();
        let booking = stay(id, (3, 10), (3, 12));
        let stored = stay(id, (3, 11), (3, 13));
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        assert!(
            judge(
                &rules,
                (zone(), zone()),
                now(),
                &booking,
                std::slice::from_ref(&stored),
                Moved::NEW
            )
            .is_empty()
        );
    }

    #[test]
    fn a_stay_extended_after_check_in_is_judged_on_its_new_end_only() {
        let id = Uuid::now_v7();
        // Checked in on 28 December (before `now`, 1 January), staying two nights more.
        let stored = Busy {
            start: local_midnight(NaiveDate::from_ymd_opt(2026, 12, 28).unwrap(), zone()),
            ..stay(id, (1, 2), (1, 3))
        };
        let extended = Busy { end: stored.end + Duration::days(2), ..stored.clone() };
        let moved = Moved { start: false, end: true };
        let notice = rules(serde_json::json!({"min_notice_days": 2, "booking_window_days": 30}));
        let found = judge(
            &notice,
            (zone(), zone()),
            now(),
            &extended,
            std::slice::from_ref(&stored),
            moved,
        );
        assert!(found.is_empty(), "{found:?}");
        // Beyond the window, the new end is refused; a new stay starting in the past is not
        // given notice.
        let far = Busy { end: stored.end + Duration::days(40), ..stored.clone() };
        let found =
            judge(&notice, (zone(), zone()), now(), &far, std::slice::from_ref(&stored), moved);
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::BookingWindowDays]);
        let found = judge(&notice, (zone(), zone()), now(), &extended, &[], Moved::NEW);
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::MinNoticeDays]);
        assert_eq!(
            Moved { start: false, end: true }.standing(true),
            [Rule::MinNoticeDays, Rule::MinNoticeMinutes]
        );
        assert_eq!(
            Moved { start: false, end: true }.standing(false),
            [Rule::MinNoticeDays, Rule::MinNoticeMinutes, Rule::BookingWindowDays]
        );
    }

    #[test]
    fn a_write_moves_only_the_ends_it_changes_and_a_change_of_kind_moves_both() {
        let day = |d| NaiveDate::from_ymd_opt(2030, 3, d).unwrap();
        let nights = |s, e| BookingSpan::AllDay { start: day(s), end: day(e) };
        assert_eq!(
            Moved::between(&nights(10, 12), &nights(10, 14)),
            Moved { start: false, end: true }
        );
        assert_eq!(Moved::between(&nights(10, 12), &nights(10, 12)), Moved::NONE);
        let at = |h| Utc.with_ymd_and_hms(2030, 3, 10, h, 0, 0).unwrap();
        let timed = |s, e, zone: &str| BookingSpan::Timed {
            start: at(s),
            end: at(e),
            zone: zone.parse().unwrap(),
        };
        let shown_elsewhere = Moved::between(&timed(9, 10, "UTC"), &timed(9, 10, "Europe/Paris"));
        assert_eq!(shown_elsewhere, Moved::NONE, "the same instants");
        assert!(Moved::between(&timed(9, 10, "UTC"), &timed(8, 10, "UTC")).start);
        assert_eq!(Moved::between(&nights(10, 12), &timed(9, 10, "UTC")), Moved::NEW);
    }

    #[test]
    fn an_owner_new_to_a_booking_sees_it_new_unless_it_had_begun_and_keeps_its_start() {
        let kept = Moved { start: false, end: true };
        assert_eq!(kept.for_owner(true, false), kept, "the owner holds it");
        assert_eq!(kept.for_owner(false, false), Moved::NEW, "moved to a room before check-in");
        assert_eq!(kept.for_owner(false, true), kept, "moved to a room mid-stay");
        assert_eq!(Moved::NEW.for_owner(false, true), Moved::NEW, "a new booking in the past");
    }

    #[test]
    fn a_rewrite_is_new_to_the_owners_that_did_not_hold_the_booking() {
        let (room, other) = (Owner::Resource(Uuid::now_v7()), Owner::Resource(Uuid::now_v7()));
        let kept = Rewrite { moved: Moved::NONE, held_by: vec![room], was: None };
        assert_eq!(kept.seen_by(room, false), Moved::NONE);
        assert_eq!(kept.seen_by(other, false), Moved::NEW, "moved to another room");
        assert_eq!(kept.seen_by(other, true), Moved::NONE, "moved there mid-stay");
        assert_eq!(Rewrite::new_booking().seen_by(room, false), Moved::NEW);
    }

    #[test]
    fn a_booking_reinstated_after_its_cancellation_is_new_to_its_owners() {
        let id = Uuid::now_v7();
        let cancelled = NewBooking {
            external_id: None,
            resource_id: Some(id),
            staff_ids: Vec::new(),
            status: BookingStatus::Cancelled,
            title: "Stay".into(),
            description: None,
            location: None,
            customer: None,
            span: BookingSpan::AllDay {
                start: NaiveDate::from_ymd_opt(2030, 3, 10).unwrap(),
                end: NaiveDate::from_ymd_opt(2030, 3, 12).unwrap(),
            },
        };
        let confirmed = NewBooking { status: BookingStatus::Confirmed, ..cancelled.clone() };
        let room = Owner::Resource(id);
        let back = Rewrite::between(&cancelled, &confirmed);
        assert_eq!(back.seen_by(room, false), Moved::NEW, "held by nobody while cancelled");
        let kept = Rewrite::between(&confirmed, &confirmed);
        assert_eq!(kept.seen_by(room, false), Moved::NONE);
    }

    #[test]
    fn a_stay_ending_the_day_before_the_next_one_breaks_the_turnover() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 12));
        let next = stay(Uuid::now_v7(), (3, 12), (3, 14));
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        let found = judge(&rules, (zone(), zone()), now(), &booking, &[next], Moved::NEW);
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::TurnoverDays]);
    }

    #[test]
    fn a_house_stay_in_a_rooms_turnover_night_is_what_the_rooms_stay_would_break() {
        let room_stay =
            Busy { label: "Smith family".into(), ..stay(Uuid::now_v7(), (3, 10), (3, 12)) };
        let house = Busy { kin: Kin::Parent, ..stay(Uuid::now_v7(), (3, 12), (3, 14)) };
        let turnover = rules(serde_json::json!({"turnover_days": 1, "min_nights": 3}));
        let found =
            judge_neighbours(&turnover, zone(), now(), &house, std::slice::from_ref(&room_stay));
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::TurnoverDays]);
        assert!(found[0].message.contains("\"Smith family\""), "{}", found[0].message);
        // The two-night stay's own minimum is broken with the house stay and without it.
        let later = Busy { kin: Kin::Parent, ..stay(house.item.id, (3, 13), (3, 15)) };
        assert!(
            judge_neighbours(&turnover, zone(), now(), &later, std::slice::from_ref(&room_stay))
                .is_empty()
        );
        // Already broken by a block on its turnover night: the house stay breaks nothing more.
        let block = Busy { class: Class::Block, ..stay(Uuid::now_v7(), (3, 12), (3, 13)) };
        let items = [room_stay.clone(), block, house.clone()];
        assert!(judge_neighbours(&turnover, zone(), now(), &house, &items).is_empty());
        // A month-long let already breaking its turnover (a block on its check-out day) is read
        // to its end, and the house stay before it breaks nothing more.
        let month_let = Busy { label: "Let".into(), ..stay(Uuid::now_v7(), (5, 1), (7, 30)) };
        let before = Busy { kin: Kin::Parent, ..stay(Uuid::now_v7(), (4, 28), (5, 1)) };
        let (_, to) = neighbours_reach(&before, std::slice::from_ref(&month_let));
        assert!(to >= month_let.end + Duration::days(NEIGHBOUR_REACH_DAYS), "read past its end");
        let closed = Busy { class: Class::Block, ..stay(Uuid::now_v7(), (7, 30), (7, 31)) };
        assert!(
            judge_neighbours(&turnover, zone(), now(), &before, &[month_let, closed]).is_empty()
        );
        // The house stay's stored version, where it is moved from, is not a neighbour.
        let moved = Busy { kin: Kin::Parent, ..stay(house.item.id, (3, 20), (3, 22)) };
        let items = [room_stay, Busy { kin: Kin::Own, ..house }];
        assert!(judge_neighbours(&turnover, zone(), now(), &moved, &items).is_empty());
    }

    #[test]
    fn no_rules_judge_nothing_and_read_only_the_booking_itself() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 11));
        assert!(
            judge(&Rules::default(), (zone(), zone()), now(), &booking, &[], Moved::NEW).is_empty()
        );
        let (from, to) = reach(&rules(serde_json::json!({"turnover_days": 2})), zone(), &booking);
        assert!(from < booking.start && to > booking.end);
    }
}
