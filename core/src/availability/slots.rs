//! Appointments: the slots a staff member, a resource or a team may be booked in.
//!
//! The rules, as applied to one owner:
//!
//! - **opening periods**: each weekday's `weekly_hours` in the owner's zone (without them, each
//!   whole day); a local time the clock skips (a spring-forward gap) is read with the offset in
//!   force before the change (02:30 becomes 03:30), one it passes twice the first time;
//! - **slots** start at the start of an opening period and every `step` after it, and end within
//!   the period (without hours, each day's steps start at its midnight, and a slot may run into
//!   the next day: time is open either side of it);
//! - **buffers**: every appointment, an offered slot as much as a busy item, keeps
//!   `buffer_before_minutes` free before it and `buffer_after_minutes` after it, and no two may
//!   overlap with them: a slot must keep `before + after` minutes from every busy item on either
//!   side (a buffer may reach outside the opening hours);
//! - **notice and window**: no slot starts sooner than `min_notice_minutes` from now, nor on a
//!   local day `booking_window_days` or more after today.

use std::collections::{BTreeMap, HashMap};

use chrono::Offset as _;
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike as _, Days, Duration, NaiveDate, TimeZone as _, Utc};
use uuid::Uuid;

use super::Violation;
use super::judge::Moved;
use super::rules::{Rule, Rules};
use crate::domain::TimeZone;

/// Whose slots: any of the owners (each slot lists who is free) or all of them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// At least one owner free; the slot lists the free ones, least booked that week first.
    Any,
    /// Every owner free (a team appointment).
    All,
}

/// One staff member or resource whose slots are asked for.
#[derive(Clone, Copy, Debug)]
pub struct SlotOwner<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its rules.
    pub rules: &'a Rules,
    /// Its zone: opening hours and days are counted there.
    pub zone: TimeZone,
    /// What is busy (bookings, blocks, imported items, calendar busy times), in any order.
    pub busy: &'a [(DateTime<Utc>, DateTime<Utc>)],
    /// When its bookings start: the round robin counts them per week.
    pub booked: &'a [DateTime<Utc>],
}

/// What slots are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotQuery {
    /// Slots start at or after this...
    pub from: DateTime<Utc>,
    /// ...and before this.
    pub to: DateTime<Utc>,
    /// How long each slot is.
    pub duration: Duration,
    /// The distance between slot starts within an opening period.
    pub step: Duration,
    /// Now: the notice and the window count from it.
    pub now: DateTime<Utc>,
}

/// A bookable slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end.
    pub end: DateTime<Utc>,
    /// The owners free for it: with [`Mode::Any`] the least booked that week first; with
    /// [`Mode::All`] every owner, in the order asked.
    pub owners: Vec<Uuid>,
}

/// The busy items [`slots`] and [`check_appointment`] need: those ending after `from` less the
/// buffers, and starting before `to` plus a slot and the buffers.
pub fn reach(rules: &Rules, query: &SlotQuery) -> (DateTime<Utc>, DateTime<Utc>) {
    let gap = buffer_gap(rules);
    (query.from - gap - Duration::days(1), query.to + query.duration + gap + Duration::days(1))
}

/// The time every appointment keeps from every other: `before + after` minutes.
fn buffer_gap(rules: &Rules) -> Duration {
    Duration::minutes(i64::from(rules.buffer_before_minutes() + rules.buffer_after_minutes()))
}

/// The slots of `owners` under `mode`, by start. With [`Mode::All`], a slot on any owner's
/// steps is offered when every owner could take it, on their own steps or not: owners whose
/// opening periods start at different times (13:30 and 14:00) still meet, as the write of such
/// a team appointment is accepted.
pub fn slots(owners: &[SlotOwner<'_>], mode: Mode, query: &SlotQuery) -> Vec<Slot> {
    let views: Vec<OwnerView> = owners.iter().map(|owner| OwnerView::new(owner, query)).collect();
    let mut free: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Vec<usize>> = BTreeMap::new();
    for (k, view) in views.iter().enumerate() {
        for slot in view.slots(query) {
            // Once per owner: on a day the clocks skip forward, two opening periods can
            // overlap (a period ending at a time that does not exist ends an hour later).
            let who = free.entry(slot).or_default();
            if who.last() != Some(&k) {
                who.push(k);
            }
        }
    }
    if mode == Mode::All {
        for (&(start, end), who) in &mut free {
            if who.len() < owners.len() && views.iter().all(|view| view.takes(start, end)) {
                *who = (0..owners.len()).collect();
            }
        }
    }
    let weeks: Vec<Weeks> = owners.iter().map(Weeks::of).collect();
    free.into_iter()
        .filter(|(_, who)| mode == Mode::Any || who.len() == owners.len())
        .map(|((start, end), mut who)| {
            if mode == Mode::Any {
                // Each owner's week of the slot is read once (a zone conversion), not per comparison.
                who.sort_by_cached_key(|&k| (weeks[k].count(start), k));
            }
            Slot { start, end, owners: who.into_iter().map(|k| owners[k].id).collect() }
        })
        .collect()
}

/// What one owner's slots are judged by over a query: its opening periods, busy time, notice
/// and window.
struct OwnerView {
    zone: TimeZone,
    periods: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Without opening hours: a period (a day) holds the slots that start in it, whenever they
    /// end.
    always_open: bool,
    busy: Busy,
    earliest: DateTime<Utc>,
    last_day: Option<NaiveDate>,
}

impl OwnerView {
    fn new(owner: &SlotOwner<'_>, query: &SlotQuery) -> Self {
        OwnerView {
            zone: owner.zone,
            // Periods opening up to a slot's length after `to` too: one that touches the last
            // period asked for (the next day's 00:00-02:00 after 20:00-24:00) joins it, and a
            // slot starting before `to` may run on into it.
            periods: opening_periods(
                owner.rules,
                owner.zone,
                query.from,
                query.to + query.duration,
            ),
            always_open: owner.rules.weekly_hours().is_none(),
            busy: Busy::new(owner.busy, buffer_gap(owner.rules)),
            earliest: query.from.max(notice_end(owner.rules, query.now)),
            last_day: window_end(owner.rules, owner.zone, query.now),
        }
    }

    /// The owner's free slots, on its steps from each opening period's start.
    fn slots(&self, query: &SlotQuery) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let step = query.step.max(Duration::minutes(1));
        let mut found = Vec::new();
        for &(open, close) in &self.periods {
            // The first step of the period at or after `earliest`.
            let skip = (self.earliest - open).num_seconds().max(0);
            let steps = (skip + step.num_seconds() - 1) / step.num_seconds();
            let mut start = open + step * i32::try_from(steps).unwrap_or(i32::MAX);
            let fits = |start| match self.always_open {
                true => start < close,
                false => start + query.duration <= close,
            };
            while start < query.to && fits(start) {
                let end = start + query.duration;
                if self.beyond_window(start) {
                    break;
                }
                if self.busy.is_free(start, end) {
                    found.push((start, end));
                }
                start += step;
            }
        }
        found
    }

    /// Whether the owner could take `start` to `end`, whatever its steps: inside an opening
    /// period, free, after the notice and within the window.
    fn takes(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        // Periods come in order of their opening; on a day the clocks skip forward two may
        // overlap, so the few opening before `start` are all looked at.
        let opened = self.periods.partition_point(|(open, _)| *open <= start);
        let open = self.always_open
            || self.periods[..opened].iter().rev().take(3).any(|(_, close)| end <= *close);
        open && start >= self.earliest
            && !self.beyond_window(start)
            && self.busy.is_free(start, end)
    }

    fn beyond_window(&self, start: DateTime<Utc>) -> bool {
        self.last_day.is_some_and(|last| local_day(start, self.zone) >= last)
    }
}

/// The first instant a slot may start at.
fn notice_end(rules: &Rules, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::minutes(i64::from(rules.min_notice_minutes().unwrap_or(0)))
}

/// The first local day beyond the booking window, if there is one.
fn window_end(rules: &Rules, zone: TimeZone, now: DateTime<Utc>) -> Option<NaiveDate> {
    let days = rules.booking_window_days()?;
    Some(local_day(now, zone) + Days::new(u64::from(days)))
}

fn local_day(at: DateTime<Utc>, zone: TimeZone) -> NaiveDate {
    at.with_timezone(&zone.tz()).date_naive()
}

/// The owner's opening periods that may hold a slot starting between `from` and `to`, as
/// instants, in order: each local day's weekly hours (or the whole day without them).
pub fn opening_periods(
    rules: &Rules,
    zone: TimeZone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (first, last) = (local_day(from, zone) - Days::new(1), local_day(to, zone));
    let mut periods: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let minutes: Vec<(u16, u16)> = match rules.weekly_hours() {
            Some(hours) => hours.of(day.weekday()).iter().map(|p| (p.start, p.end)).collect(),
            None => vec![(0, 1440)],
        };
        for (start, end) in minutes {
            let (open, close) = (local_instant(day, start, zone), local_instant(day, end, zone));
            if !(open < close && close > from && open < to) {
                continue;
            }
            // Hours that touch (09:00-12:00 and 12:00-18:00, or 18:00-24:00 and the next day's
            // 00:00-02:00) are one period: an appointment may run across where they meet. The
            // whole days of an owner without hours stay apart, each its own grid of slots.
            match periods.last_mut() {
                Some(last) if rules.weekly_hours().is_some() && open <= last.1 => {
                    last.1 = last.1.max(close);
                }
                _ => periods.push((open, close)),
            }
        }
    }
    periods
}

/// The instant `minutes` after the local midnight of `day` (1440: the next midnight) reads as
/// in `zone`: a time passed twice is the first, a skipped one is read with the offset before
/// the change.
pub fn local_instant(day: NaiveDate, minutes: u16, zone: TimeZone) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    match zone.tz().from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            // No gap lasts a day: the offset a day earlier is the one before the change.
            let before = zone.tz().from_local_datetime(&(naive - Duration::days(1))).earliest();
            let offset = before.map_or(0, |t| t.offset().fix().local_minus_utc());
            (naive - Duration::seconds(i64::from(offset))).and_utc()
        }
    }
}

/// Busy intervals widened by the buffer gap and merged, for quick "is this free" questions.
struct Busy(Vec<(DateTime<Utc>, DateTime<Utc>)>);

impl Busy {
    fn new(items: &[(DateTime<Utc>, DateTime<Utc>)], gap: Duration) -> Busy {
        let mut widened: Vec<_> =
            items.iter().filter(|(s, e)| s < e).map(|(s, e)| (*s - gap, *e + gap)).collect();
        widened.sort_unstable();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(widened.len());
        for (s, e) in widened {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        Busy(merged)
    }

    /// Whether `[start, end)` overlaps nothing.
    fn is_free(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let first = self.0.partition_point(|(_, e)| *e <= start);
        self.0.get(first).is_none_or(|(s, _)| *s >= end)
    }
}

/// How many bookings an owner has each ISO week, in its zone.
struct Weeks {
    zone: TimeZone,
    counts: HashMap<(i32, u32), usize>,
}

impl Weeks {
    fn of(owner: &SlotOwner<'_>) -> Weeks {
        let mut counts = HashMap::new();
        for start in owner.booked {
            *counts.entry(week(*start, owner.zone)).or_insert(0) += 1;
        }
        Weeks { zone: owner.zone, counts }
    }

    fn count(&self, at: DateTime<Utc>) -> usize {
        self.counts.get(&week(at, self.zone)).copied().unwrap_or(0)
    }
}

fn week(at: DateTime<Utc>, zone: TimeZone) -> (i32, u32) {
    let week = local_day(at, zone).iso_week();
    (week.year(), week.week())
}

/// What the rules say of an appointment from `start` to `end` with `others` busy (its own
/// earlier version left out). The notice and the window, both counted to its start, are judged
/// only when the write `moved` the start: an appointment that keeps its start (one that runs
/// over, say) keeps being valid when today moves on.
pub fn check_appointment(
    rules: &Rules,
    zone: TimeZone,
    now: DateTime<Utc>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    others: &[(DateTime<Utc>, DateTime<Utc>)],
    moved: Moved,
) -> Vec<Violation> {
    let mut found = Vec::new();
    if rules.weekly_hours().is_some()
        && !opening_periods(rules, zone, start, end).iter().any(|(o, c)| *o <= start && end <= *c)
    {
        found.push(Violation::new(
            Rule::WeeklyHours,
            serde_json::Value::Null,
            start.to_rfc3339().into(),
            "the appointment is outside the opening hours",
        ));
    }
    found.extend(buffer_violation(rules, (start, end), others));
    if moved.start {
        let ahead = (start - now).num_minutes();
        if let Some(notice) = rules.min_notice_minutes().map(i64::from).filter(|n| ahead < *n) {
            found.push(Violation::new(
                Rule::MinNoticeMinutes,
                notice.into(),
                ahead.into(),
                format!("appointments need {notice} minutes' notice"),
            ));
        }
        if let Some(last) = window_end(rules, zone, now)
            && local_day(start, zone) >= last
        {
            let days = rules.booking_window_days().unwrap_or(0);
            let ahead = (local_day(start, zone) - local_day(now, zone)).num_days();
            found.push(Violation::new(
                Rule::BookingWindowDays,
                days.into(),
                ahead.into(),
                format!("nothing may be booked {days} days ahead or more"),
            ));
        }
    }
    found
}

/// The first busy item closer than the buffers allow, as the buffer rule it breaks.
fn buffer_violation(
    rules: &Rules,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    others: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Option<Violation> {
    let gap = buffer_gap(rules);
    let (before, after) = (rules.buffer_before_minutes(), rules.buffer_after_minutes());
    // Overlaps themselves are the overlap check's business, not a buffer's.
    let close = others.iter().find(|(s, e)| {
        let apart = *e <= start || *s >= end;
        apart && *s - gap < end && start < *e + gap
    })?;
    let (minutes, earlier) = if close.1 <= start {
        ((start - close.1).num_minutes(), true)
    } else {
        ((close.0 - end).num_minutes(), false)
    };
    // The buffer of the appointment that comes first is its `after`, of the later its `before`.
    let rule = match (earlier, after > 0, before > 0) {
        (true, true, _) | (false, true, false) => Rule::BufferAfterMinutes,
        _ => Rule::BufferBeforeMinutes,
    };
    Some(Violation::new(
        rule,
        i64::from(before + after).into(),
        minutes.into(),
        format!("appointments keep {} minutes between them", before + after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::RulesDraft;

    fn rules(json: serde_json::Value) -> Rules {
        Rules::try_from(serde_json::from_value::<RulesDraft>(json).unwrap()).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn query(from: &str, to: &str, minutes: i64) -> SlotQuery {
        SlotQuery {
            from: at(from),
            to: at(to),
            duration: Duration::minutes(minutes),
            step: Duration::minutes(minutes),
            now: at("2030-01-01T00:00:00Z"),
        }
    }

    fn owner<'a>(
        id: u128,
        rules: &'a Rules,
        busy: &'a [(DateTime<Utc>, DateTime<Utc>)],
    ) -> SlotOwner<'a> {
        SlotOwner { id: Uuid::from_u128(id), rules, zone: TimeZone::UTC, busy, booked: &[] }
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots.iter().map(|s| s.start.format("%H:%M").to_string()).collect()
    }

    #[test]
    fn slots_fill_the_opening_hours_in_steps_from_each_period_start() {
        let rules = rules(
            serde_json::json!({"weekly_hours": {"mon": [["09:00", "11:00"], ["13:30", "15:00"]]}}),
        );
        // 2030-01-07 is a Monday.
        let q = query("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", 60);
        let found = slots(&[owner(1, &rules, &[])], Mode::Any, &q);
        assert_eq!(starts(&found), ["09:00", "10:00", "13:30"]);
    }

    #[test]
    fn buffers_keep_time_free_on_both_sides_of_every_appointment() {
        let rules = rules(
            serde_json::json!({"buffer_after_minutes": 15, "weekly_hours": {"mon": [["09:00", "13:00"]]}}),
        );
        let busy = [(at("2030-01-07T10:30:00Z"), at("2030-01-07T11:00:00Z"))];
        let mut q = query("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", 30);
        q.step = Duration::minutes(15);
        let found = slots(&[owner(1, &rules, &busy)], Mode::Any, &q);
        // 10:00 would end at 10:30 with no 15 minutes before the busy item; 11:00 starts
        // within 15 minutes after it.
        assert_eq!(
            starts(&found),
            [
                "09:00", "09:15", "09:30", "09:45", "11:15", "11:30", "11:45", "12:00", "12:15",
                "12:30"
            ]
        );
    }

    #[test]
    fn any_lists_the_free_staff_least_booked_that_week_first_and_all_needs_everyone() {
        let open = rules(serde_json::json!({"weekly_hours": {"mon": [["09:00", "11:00"]]}}));
        let busy_ann = [(at("2030-01-07T09:00:00Z"), at("2030-01-07T10:00:00Z"))];
        let booked_bo = [at("2030-01-08T09:00:00Z"), at("2030-01-09T09:00:00Z")];
        let ann = owner(1, &open, &busy_ann);
        let bo = SlotOwner { booked: &booked_bo, ..owner(2, &open, &[]) };
        let q = query("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", 60);
        let any = slots(&[ann, bo], Mode::Any, &q);
        let who: Vec<Vec<u128>> =
            any.iter().map(|s| s.owners.iter().map(|o| o.as_u128()).collect()).collect();
        assert_eq!(who, [vec![2], vec![1, 2]], "Ann has fewer bookings that week");
        assert_eq!(starts(&slots(&[ann, bo], Mode::All, &q)), ["10:00"]);
    }

    #[test]
    fn a_team_meets_where_their_opening_hours_overlap_whatever_each_ones_steps() {
        let ann_hours = rules(serde_json::json!({"weekly_hours": {"mon": [["13:30", "18:00"]]}}));
        let bo_hours = rules(serde_json::json!({"weekly_hours": {"mon": [["14:00", "18:00"]]}}));
        let busy_bo = [(at("2030-01-07T16:00:00Z"), at("2030-01-07T16:30:00Z"))];
        let (ann, bo) = (owner(1, &ann_hours, &[]), owner(2, &bo_hours, &busy_bo));
        let q = query("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", 60);
        let all = slots(&[ann, bo], Mode::All, &q);
        assert_eq!(starts(&all), ["14:00", "14:30", "15:00", "16:30", "17:00"]);
        assert!(all.iter().all(|slot| slot.owners.len() == 2), "{all:?}");
        let any = slots(&[ann, bo], Mode::Any, &q);
        assert_eq!(starts(&any)[..2], ["13:30", "14:00"], "each on their own steps");
    }

    #[test]
    fn opening_hours_that_touch_are_one_period_offered_and_accepted_across_where_they_meet() {
        let hours = rules(
            serde_json::json!({"weekly_hours": {"mon": [["09:00", "12:00"], ["12:00", "18:00"]]}}),
        );
        let mut q = query("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", 90);
        q.step = Duration::minutes(60);
        let found = slots(&[owner(1, &hours, &[])], Mode::Any, &q);
        assert!(starts(&found).contains(&"11:00".to_owned()), "{:?}", starts(&found));
        let across = (at("2030-01-07T11:30:00Z"), at("2030-01-07T12:30:00Z"));
        let now = at("2030-01-01T00:00:00Z");
        assert!(check_appointment(&hours, TimeZone::UTC, now, across, &[], Moved::NEW).is_empty());
    }

    #[test]
    fn a_late_slot_running_past_midnight_into_the_next_days_hours_is_offered_when_that_day_is_not_asked()
     {
        // Friday 20:00 to midnight, then Saturday to 02:00: a two-hour slot at 23:00 runs
        // across. Asked for Friday alone, it is offered, as the checked write accepts it.
        let hours = rules(
            serde_json::json!({"weekly_hours": {"fri": [["20:00", "24:00"]], "sat": [["00:00", "02:00"]]}}),
        );
        let mut q = query("2030-01-04T00:00:00Z", "2030-01-05T00:00:00Z", 120);
        q.step = Duration::minutes(60);
        let found = slots(&[owner(1, &hours, &[])], Mode::Any, &q);
        assert_eq!(starts(&found), ["20:00", "21:00", "22:00", "23:00"]);
        let late = (at("2030-01-04T23:00:00Z"), at("2030-01-05T01:00:00Z"));
        let now = at("2030-01-01T00:00:00Z");
        assert!(check_appointment(&hours, TimeZone::UTC, now, late, &[], Moved::NEW).is_empty());
    }

    /// Slots of `length` (as often) over the local day `day` of `zone`, asked years before.
    fn whole_day(day: &str, zone: TimeZone, length: Duration) -> SlotQuery {
        let day: NaiveDate = day.parse().unwrap();
        SlotQuery {
            from: local_instant(day, 0, zone),
            to: local_instant(day + Days::new(1), 0, zone),
            duration: length,
            step: length,
            now: at("2020-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn periods_overlapping_on_the_day_clocks_skip_forward_count_their_owner_once() {
        // 02:30 does not exist in Paris on 30 March 2025: the first period runs to 03:30, past
        // the start of the second.
        let split = rules(
            serde_json::json!({"weekly_hours": {"sun": [["01:00", "02:30"], ["03:00", "05:00"]]}}),
        );
        let zone: TimeZone = "Europe/Paris".parse().unwrap();
        let q = whole_day("2025-03-30", zone, Duration::minutes(30));
        let ann = SlotOwner { zone, ..owner(1, &split, &[]) };
        let any = slots(&[ann], Mode::Any, &q);
        assert!(any.iter().all(|slot| slot.owners.len() == 1), "{any:?}");
        // Bo is busy all day: no slot has both of them, however often Ann's periods list it.
        let (no_rules, all_day) = (Rules::default(), [(q.from, q.to)]);
        let bo = SlotOwner { zone, ..owner(2, &no_rules, &all_day) };
        assert!(slots(&[ann, bo], Mode::All, &q).is_empty());
    }

    #[test]
    fn without_opening_hours_an_appointment_across_midnight_is_offered() {
        let rules = Rules::default();
        let mut q = query("2030-01-07T22:00:00Z", "2030-01-08T01:00:00Z", 90);
        q.step = Duration::minutes(30);
        let found = slots(&[owner(1, &rules, &[])], Mode::Any, &q);
        assert_eq!(starts(&found), ["22:00", "22:30", "23:00", "23:30", "00:00", "00:30"]);
        let busy = [(at("2030-01-08T00:30:00Z"), at("2030-01-08T01:00:00Z"))];
        let found = slots(&[owner(1, &rules, &busy)], Mode::Any, &q);
        assert_eq!(starts(&found), ["22:00", "22:30", "23:00"], "still free to its end");
    }

    #[test]
    fn a_23_and_a_25_hour_day_hold_23_and_25_hourly_slots() {
        let rules = Rules::default();
        let zone: TimeZone = "Europe/Amsterdam".parse().unwrap();
        let count = |day: &str| {
            let q = whole_day(day, zone, Duration::hours(1));
            slots(&[SlotOwner { zone, ..owner(1, &rules, &[]) }], Mode::Any, &q).len()
        };
        assert_eq!((count("2030-03-31"), count("2030-10-27"), count("2030-06-01")), (23, 25, 24));
    }

    #[test]
    fn a_skipped_local_time_is_read_with_the_offset_before_the_change() {
        let zone: TimeZone = "Europe/Amsterdam".parse().unwrap();
        let day: NaiveDate = "2030-03-31".parse().unwrap();
        assert_eq!(
            local_instant(day, 150, zone),
            at("2030-03-31T01:30:00Z"),
            "02:30 is 03:30 CEST"
        );
        let autumn: NaiveDate = "2030-10-27".parse().unwrap();
        assert_eq!(local_instant(autumn, 150, zone), at("2030-10-27T00:30:00Z"), "the first 02:30");
    }

    #[test]
    fn an_appointment_is_judged_by_the_hours_the_buffers_the_notice_and_the_window() {
        let rules = rules(serde_json::json!({"weekly_hours": {"mon": [["09:00", "17:00"]]},
            "buffer_after_minutes": 15, "min_notice_minutes": 120, "booking_window_days": 30}));
        let now = at("2030-01-07T08:00:00Z");
        let names =
            |start: &str, end: &str, others: &[(DateTime<Utc>, DateTime<Utc>)], new: bool| {
                let moved = if new { Moved::NEW } else { Moved::NONE };
                check_appointment(&rules, TimeZone::UTC, now, (at(start), at(end)), others, moved)
                    .into_iter()
                    .map(|v| v.rule.as_str())
                    .collect::<Vec<_>>()
            };
        assert_eq!(
            names("2030-01-07T11:00:00Z", "2030-01-07T12:00:00Z", &[], true),
            Vec::<&str>::new()
        );
        assert_eq!(
            names("2030-01-07T16:30:00Z", "2030-01-07T17:30:00Z", &[], true),
            ["weekly_hours"]
        );
        assert_eq!(
            names("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z", &[], true),
            ["min_notice_minutes"]
        );
        assert_eq!(
            names("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z", &[], false),
            Vec::<&str>::new()
        );
        let next = [(at("2030-01-07T12:10:00Z"), at("2030-01-07T13:00:00Z"))];
        assert_eq!(
            names("2030-01-07T11:00:00Z", "2030-01-07T12:00:00Z", &next, true),
            ["buffer_after_minutes"]
        );
        assert_eq!(
            names("2030-02-11T11:00:00Z", "2030-02-11T12:00:00Z", &[], true),
            ["booking_window_days"]
        );
    }

    #[test]
    fn an_appointment_that_began_before_now_breaks_only_a_notice_the_owner_set() {
        let now = at("2030-01-07T10:30:00Z");
        let begun = (at("2030-01-07T10:00:00Z"), at("2030-01-07T11:00:00Z"));
        let judge =
            |json| check_appointment(&rules(json), TimeZone::UTC, now, begun, &[], Moved::NEW);
        assert!(
            judge(serde_json::json!({"buffer_after_minutes": 15})).is_empty(),
            "no notice rule"
        );
        let refused = judge(serde_json::json!({"min_notice_minutes": 0}));
        assert_eq!(
            refused.iter().map(|v| v.rule.as_str()).collect::<Vec<_>>(),
            ["min_notice_minutes"]
        );
    }
}
