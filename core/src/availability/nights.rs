//! Stays: which nights are free, and on which of them a stay may start and end.
//!
//! A night is the one that starts on its date (a stay from the 10th to the 12th takes the
//! nights of the 10th and the 11th; the 12th is its check-out day). Everything here is counted
//! in the owner's zone, on dates. The rules, as applied:
//!
//! - **booked**: a stay (a booking of whole days, an imported reservation) takes the night;
//!   **blocked**: anything else that is busy (a block, a platform's closed dates, a timed item
//!   touching the day);
//! - **turnover**: the `turnover_days` nights after each stay's check-out day, and those before
//!   each stay (no stay may end in them and keep its own turnover), while not busy;
//! - **closed by rule**: a night before today, within the `min_notice_days` from today, at or
//!   beyond `booking_window_days` from today, or (with `block_short_gaps`) in a free gap too
//!   short to sell: a gap whose usable nights (less the turnover a stay in it must leave before
//!   the next busy night) are fewer than `min_nights`;
//! - a stay from A to C may be sold when every night from A to C-1 is free, it lasts
//!   `min_nights` to `max_nights`, A is no `no_arrival_days` weekday, C no `no_departure_days`
//!   one, and the `turnover_days` nights from C on are not busy (they may be closed by a rule:
//!   nobody is sold there anyway).

use chrono::{DateTime, Datelike as _, Days, NaiveDate, Utc};

use super::Violation;
use super::judge::Moved;
use super::rules::{Rule, Rules, Weekdays, day_name};
use crate::conflicts::{Busy, Class};
use crate::domain::TimeZone;

/// What a busy item is to the nights it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A stay: its nights are booked, and turnover follows it.
    Stay,
    /// Anything else busy: its nights are blocked.
    Block,
}

/// A busy item as the nights it takes, `start` to `end` (exclusive), in the owner's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NightItem {
    /// Its first night.
    pub start: NaiveDate,
    /// The day after its last night (a stay's check-out day).
    pub end: NaiveDate,
    /// What it is.
    pub kind: ItemKind,
}

impl NightItem {
    /// The nights `item` takes in `zone`: a stay of whole days its own; a timed item every day
    /// it touches (a one-hour viewing takes that night: busy time is kept rather than dropped).
    pub fn of(item: &Busy, zone: TimeZone) -> NightItem {
        let kind = match item.class {
            Class::Confirmed | Class::Tentative if item.all_day => ItemKind::Stay,
            Class::Reservation(_) => ItemKind::Stay,
            _ => ItemKind::Block,
        };
        let local = |t: DateTime<Utc>| t.with_timezone(&zone.tz()).date_naive();
        let last = local(item.end - chrono::Duration::nanoseconds(1)).max(local(item.start));
        NightItem { start: local(item.start), end: last + Days::new(1), kind }
    }
}

/// What a night is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NightState {
    /// Nothing takes it and no rule closes it.
    Free,
    /// A stay takes it.
    Booked,
    /// Something else busy takes it.
    Blocked,
    /// It is kept free after a stay.
    Turnover,
    /// A rule closes it ([`Night::closed_by`] says which).
    ClosedByRule,
}

impl NightState {
    /// `free`, `booked`, `blocked`, `turnover` or `closed_by_rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Booked => "booked",
            Self::Blocked => "blocked",
            Self::Turnover => "turnover",
            Self::ClosedByRule => "closed_by_rule",
        }
    }
}

/// Why a night is closed by a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Closure {
    /// It is in the past.
    Past,
    /// It is within the notice period (`min_notice_days`).
    Notice,
    /// It is beyond the booking window (`booking_window_days`).
    Window,
    /// It is in a free gap too short to sell (`block_short_gaps`).
    ShortGap,
}

impl Closure {
    /// The rule that closes the night (none for a past one).
    pub fn rule(self) -> Option<Rule> {
        match self {
            Self::Past => None,
            Self::Notice => Some(Rule::MinNoticeDays),
            Self::Window => Some(Rule::BookingWindowDays),
            Self::ShortGap => Some(Rule::BlockShortGaps),
        }
    }

    /// The name shown for it: the rule's field, or `past`.
    pub fn as_str(self) -> &'static str {
        self.rule().map_or("past", Rule::as_str)
    }
}

/// One night and what a stay may do on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Night {
    /// The night's date.
    pub date: NaiveDate,
    /// What it is.
    pub state: NightState,
    /// The rule that closes it, for [`NightState::ClosedByRule`].
    pub closed_by: Option<Closure>,
    /// A stay may start on it.
    pub can_check_in: bool,
    /// A stay may end on this date (its last night the one before).
    pub can_check_out: bool,
    /// The shortest stay starting on it.
    pub min_nights: u32,
    /// The last check-out day a stay starting on it may have, if one may start.
    pub max_check_out: Option<NaiveDate>,
}

/// The nights whose busy items [`nights`] needs for the nights `from` to `to`: a stay starting
/// or ending in them reaches up to `max_nights` beyond, its turnover further, and a gap's length
/// is read from the nights around it.
pub fn reach(rules: &Rules, from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    let back = u64::from(rules.max_nights() + rules.min_nights() + rules.turnover_days() + 1);
    let ahead = u64::from(rules.max_nights() + rules.turnover_days() + rules.min_nights() + 1);
    (from - Days::new(back), to + Days::new(ahead))
}

/// The nights from `from` to `to` (exclusive) under `rules`, with `items` busy (at least those
/// within [`reach`]), `today` being the owner's date now.
pub fn nights(
    rules: &Rules,
    today: NaiveDate,
    items: &[NightItem],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Night> {
    let (lo, hi) = reach(rules, from, to);
    let grid = Grid::new(rules, today, items, lo, hi);
    let first = grid.index(from);
    (first..first + days_between(from, to)).map(|i| grid.night(i)).collect()
}

/// Whole days from `a` to `b` (0 when `b` is not after `a`).
fn days_between(a: NaiveDate, b: NaiveDate) -> usize {
    usize::try_from((b - a).num_days()).unwrap_or(0)
}

/// The nights `lo` to `hi` worked out in arrays, index 0 being `lo`.
struct Grid<'a> {
    rules: &'a Rules,
    lo: NaiveDate,
    state: Vec<NightState>,
    closed_by: Vec<Option<Closure>>,
    /// The first busy night at or after each night (`usize::MAX` when none within the grid).
    next_busy: Vec<usize>,
    /// The end (exclusive) of the free run each free night is in.
    run_end: Vec<usize>,
    /// The start of the free run each free night is in.
    run_start: Vec<usize>,
    /// How many nights before each index a stay may start on (prefix sums).
    arrivals: Vec<usize>,
}

impl<'a> Grid<'a> {
    fn new(
        rules: &'a Rules,
        today: NaiveDate,
        items: &[NightItem],
        lo: NaiveDate,
        hi: NaiveDate,
    ) -> Self {
        let len = days_between(lo, hi);
        let mut grid = Grid {
            rules,
            lo,
            state: vec![NightState::Free; len],
            closed_by: vec![None; len],
            next_busy: vec![usize::MAX; len + 1],
            run_end: vec![0; len],
            run_start: vec![0; len],
            arrivals: vec![0; len + 1],
        };
        grid.take(items);
        grid.close_by_date(today);
        grid.find_next_busy();
        grid.find_runs();
        if rules.block_short_gaps() {
            grid.close_short_gaps();
            grid.find_runs();
        }
        grid.count_arrivals();
        grid
    }

    fn index(&self, date: NaiveDate) -> usize {
        days_between(self.lo, date)
    }

    fn date(&self, index: usize) -> NaiveDate {
        self.lo + Days::new(index as u64)
    }

    /// Marks booked, blocked and turnover nights (a stay wins over a block, both over
    /// turnover), through difference arrays: linear in items plus nights.
    fn take(&mut self, items: &[NightItem]) {
        let len = self.state.len();
        let (mut stays, mut blocks, mut turnover) =
            (vec![0i32; len + 1], vec![0i32; len + 1], vec![0i32; len + 1]);
        let clip = |grid: &Self, a: NaiveDate, b: NaiveDate| {
            let a = if a < grid.lo { 0 } else { grid.index(a).min(len) };
            let b = if b < grid.lo { 0 } else { grid.index(b).min(len) };
            (a, b)
        };
        let t = u64::from(self.rules.turnover_days());
        for item in items.iter().filter(|i| i.start < i.end) {
            let (a, b) = clip(self, item.start, item.end);
            let marks = if item.kind == ItemKind::Stay { &mut stays } else { &mut blocks };
            marks[a] += 1;
            marks[b] -= 1;
            if t == 0 {
                continue;
            }
            // Kept free after a stay, and before it: a stay ending there would leave no
            // turnover before it (what `turnover_violation` refuses), so a platform reading
            // the feed must not sell those nights either. Not before a block: the platforms
            // send the nights a feed closes back as blocks, and each would close one more.
            if item.kind == ItemKind::Stay {
                for (from, to) in [
                    (item.end, item.end + Days::new(t)),
                    (item.start.checked_sub_days(Days::new(t)).unwrap_or(item.start), item.start),
                ] {
                    let (a, b) = clip(self, from, to);
                    turnover[a] += 1;
                    turnover[b] -= 1;
                }
            }
        }
        let (mut s, mut b, mut o) = (0, 0, 0);
        for i in 0..len {
            (s, b, o) = (s + stays[i], b + blocks[i], o + turnover[i]);
            self.state[i] = match (s > 0, b > 0, o > 0) {
                (true, _, _) => NightState::Booked,
                (false, true, _) => NightState::Blocked,
                (false, false, true) => NightState::Turnover,
                _ => NightState::Free,
            };
        }
    }

    /// Closes the free nights before today, within the notice, and beyond the window.
    fn close_by_date(&mut self, today: NaiveDate) {
        let notice_end = today + Days::new(u64::from(self.rules.min_notice_days().unwrap_or(0)));
        let window_end = self.rules.booking_window_days().map(|w| today + Days::new(u64::from(w)));
        for i in 0..self.state.len() {
            let date = self.date(i);
            let closure = if date < today {
                Some(Closure::Past)
            } else if date < notice_end {
                Some(Closure::Notice)
            } else if window_end.is_some_and(|end| date >= end) {
                Some(Closure::Window)
            } else {
                None
            };
            if self.state[i] == NightState::Free && closure.is_some() {
                self.state[i] = NightState::ClosedByRule;
                self.closed_by[i] = closure;
            }
        }
    }

    fn is_busy(&self, i: usize) -> bool {
        matches!(self.state[i], NightState::Booked | NightState::Blocked)
    }

    fn find_next_busy(&mut self) {
        for i in (0..self.state.len()).rev() {
            self.next_busy[i] = if self.is_busy(i) { i } else { self.next_busy[i + 1] };
        }
    }

    /// The runs of free nights, as (first night, end) index pairs, in order.
    fn free_runs(&self) -> Vec<(usize, usize)> {
        let free = |i: &usize| self.state[*i] == NightState::Free;
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in (0..self.state.len()).filter(free) {
            match runs.last_mut() {
                Some(run) if run.1 == i => run.1 = i + 1,
                _ => runs.push((i, i + 1)),
            }
        }
        runs
    }

    /// Records each free night's run start and end.
    fn find_runs(&mut self) {
        for (start, end) in self.free_runs() {
            for k in start..end {
                (self.run_start[k], self.run_end[k]) = (start, end);
            }
        }
    }

    /// The latest check-out day (index) a stay in the free run ending at `end` may have: the
    /// run's end, or earlier when the next busy night leaves no room for the turnover.
    fn last_check_out(&self, end: usize) -> usize {
        let turnover = self.rules.turnover_days() as usize;
        end.min(self.next_busy[end].saturating_sub(turnover))
    }

    /// Closes every free run too short for the shortest stay. A run touching the grid's edge
    /// continues beyond it and is never closed ([`reach`] keeps such runs away from the nights
    /// asked for).
    fn close_short_gaps(&mut self) {
        let min = self.rules.min_nights() as usize;
        let len = self.state.len();
        for (start, end) in self.free_runs() {
            let usable = self.last_check_out(end).saturating_sub(start);
            if start > 0 && end < len && usable < min {
                for k in start..end {
                    self.state[k] = NightState::ClosedByRule;
                    self.closed_by[k] = Some(Closure::ShortGap);
                }
            }
        }
    }

    fn may_arrive(&self, i: usize) -> bool {
        self.state[i] == NightState::Free && !self.rules.no_arrival_days().holds(self.date(i))
    }

    fn may_depart(&self, i: usize) -> bool {
        !self.rules.no_departure_days().holds(self.date(i))
    }

    fn count_arrivals(&mut self) {
        for i in 0..self.state.len() {
            self.arrivals[i + 1] = self.arrivals[i] + usize::from(self.may_arrive(i));
        }
    }

    /// The last check-out day (index) of a stay starting on night `i`, if one may start there.
    fn max_check_out(&self, i: usize) -> Option<usize> {
        if !self.may_arrive(i) {
            return None;
        }
        let (min, max) = (self.rules.min_nights() as usize, self.rules.max_nights() as usize);
        let upper = (i + max).min(self.last_check_out(self.run_end[i]));
        // No departure weekday repeats within a week: at most seven looks back.
        (i + min..=upper).rev().take(7).find(|&c| self.may_depart(c))
    }

    /// Whether a stay may end on day `c` (its last night `c - 1`).
    fn can_check_out(&self, c: usize) -> bool {
        let Some(last) = c.checked_sub(1) else { return false };
        if self.state[last] != NightState::Free || !self.may_depart(c) {
            return false;
        }
        if c > self.last_check_out(self.run_end[last]) {
            return false;
        }
        let (min, max) = (self.rules.min_nights() as usize, self.rules.max_nights() as usize);
        let Some(latest) = c.checked_sub(min) else { return false };
        let earliest = self.run_start[last].max(c.saturating_sub(max));
        earliest <= latest && self.arrivals[latest + 1] > self.arrivals[earliest]
    }

    fn night(&self, i: usize) -> Night {
        let max_check_out = self.max_check_out(i);
        Night {
            date: self.date(i),
            state: self.state[i],
            closed_by: self.closed_by[i],
            can_check_in: max_check_out.is_some(),
            can_check_out: self.can_check_out(i),
            min_nights: self.rules.min_nights(),
            max_check_out: max_check_out.map(|c| self.date(c)),
        }
    }
}

/// What the rules say of a stay from `start` to `end` (its check-out day) with `others` busy
/// (its own earlier version left out). The notice (to its start) and the window (to its last
/// night) are judged only for an end the write `moved`: a stay that keeps its dates keeps being
/// valid when today moves on.
pub fn check_stay(
    rules: &Rules,
    today: NaiveDate,
    (start, end): (NaiveDate, NaiveDate),
    others: &[NightItem],
    moved: Moved,
) -> Vec<Violation> {
    let nights = (end - start).num_days();
    let mut found = Vec::new();
    let (min, max) = (i64::from(rules.min_nights()), rules.max_nights_set().map(i64::from));
    if nights < min {
        found.push(Violation::new(
            Rule::MinNights,
            min.into(),
            nights.into(),
            format!("stays last at least {min} nights"),
        ));
    }
    if let Some(max) = max.filter(|max| nights > *max) {
        found.push(Violation::new(
            Rule::MaxNights,
            max.into(),
            nights.into(),
            format!("stays last at most {max} nights"),
        ));
    }
    found.extend(weekday_violation(Rule::NoArrivalDays, rules.no_arrival_days(), start, "arrive"));
    found.extend(weekday_violation(Rule::NoDepartureDays, rules.no_departure_days(), end, "leave"));
    found.extend(date_violations(rules, today, (start, end), moved));
    found.extend(turnover_violation(rules, (start, end), others));
    found
}

/// A stay starting or ending on a weekday the rule excludes.
fn weekday_violation(rule: Rule, days: Weekdays, date: NaiveDate, verb: &str) -> Option<Violation> {
    days.holds(date).then(|| {
        let day = day_name(date.weekday());
        Violation::new(
            rule,
            days.names().into(),
            day.into(),
            format!("guests may not {verb} on {day}"),
        )
    })
}

/// The notice (when the start `moved`) and the window (when the end did), counted from `today`.
fn date_violations(
    rules: &Rules,
    today: NaiveDate,
    (start, end): (NaiveDate, NaiveDate),
    moved: Moved,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let ahead = (start - today).num_days();
    if let Some(notice) =
        rules.min_notice_days().map(i64::from).filter(|n| moved.start && ahead < *n)
    {
        found.push(Violation::new(
            Rule::MinNoticeDays,
            notice.into(),
            ahead.into(),
            format!("stays are booked at least {notice} days ahead"),
        ));
    }
    if let Some(window) = rules.booking_window_days().map(i64::from).filter(|_| moved.end) {
        let last = (end - today).num_days() - 1;
        if last >= window {
            found.push(Violation::new(
                Rule::BookingWindowDays,
                window.into(),
                last.into(),
                format!("no night may be booked {window} days ahead or more"),
            ));
        }
    }
    found
}

/// A stay whose nights fall in another stay's turnover, or whose own turnover nights are busy.
fn turnover_violation(
    rules: &Rules,
    (start, end): (NaiveDate, NaiveDate),
    others: &[NightItem],
) -> Option<Violation> {
    let t = i64::from(rules.turnover_days());
    if t == 0 {
        return None;
    }
    let apart = |item: &NightItem| {
        if item.kind == ItemKind::Stay && item.end <= start {
            Some((start - item.end).num_days())
        } else if item.start >= end {
            Some((item.start - end).num_days())
        } else {
            None
        }
    };
    let nights = others.iter().filter_map(apart).filter(|n| *n < t).min()?;
    Some(Violation::new(
        Rule::TurnoverDays,
        t.into(),
        nights.into(),
        format!("{t} nights stay free between stays"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::RulesDraft;

    fn day(d: u32) -> NaiveDate {
        // 2030-07-01 is a Monday.
        NaiveDate::from_ymd_opt(2030, 7, d).unwrap()
    }

    fn rules(json: serde_json::Value) -> Rules {
        Rules::try_from(serde_json::from_value::<RulesDraft>(json).unwrap()).unwrap()
    }

    fn stay(a: u32, b: u32) -> NightItem {
        NightItem { start: day(a), end: day(b), kind: ItemKind::Stay }
    }

    fn states(nights: &[Night]) -> String {
        nights
            .iter()
            .map(|n| match n.state {
                NightState::Free => '.',
                NightState::Booked => 'B',
                NightState::Blocked => 'X',
                NightState::Turnover => 't',
                NightState::ClosedByRule => 'c',
            })
            .collect()
    }

    #[test]
    fn a_stay_books_its_nights_and_turnover_is_kept_free_on_both_sides() {
        let rules = rules(serde_json::json!({"turnover_days": 2}));
        let nights = nights(&rules, day(1), &[stay(3, 5)], day(1), day(9));
        // Before it, a stay must leave two nights before the 3rd: no night before it can be
        // sold, so none is free.
        assert_eq!(states(&nights), "ttBBtt..");
        assert_eq!(nights[0].max_check_out, None, "{:?}", nights[0]);
        assert!(nights[6].can_check_in && !nights[6].can_check_out);
    }

    #[test]
    fn the_nights_a_stay_could_not_end_in_before_a_booking_are_not_free() {
        // Free from the 6th to the 10th between two stays: with one turnover night, the 5th
        // and the 9th are kept free, and stays fit the 6th to the 9th.
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        let items = [stay(1, 5), stay(10, 12)];
        let nights = nights(&rules, day(1), &items, day(1), day(14));
        assert_eq!(states(&nights), "BBBBt...tBBt.");
        assert_eq!(nights[5].max_check_out, Some(day(9)));
        assert!(nights[8].can_check_out, "a stay may leave on the 9th");
        // Not before a block: a platform's echo of the closed nights would close one more
        // night at each import.
        let blocked = [NightItem { start: day(10), end: day(12), kind: ItemKind::Block }];
        let nights = super::nights(&rules, day(1), &blocked, day(1), day(14));
        assert_eq!(states(&nights), ".........XX..");
    }

    #[test]
    fn the_notice_and_the_window_close_nights_counted_from_today() {
        let rules = rules(serde_json::json!({"min_notice_days": 2, "booking_window_days": 5}));
        let nights = nights(&rules, day(3), &[], day(1), day(10));
        assert_eq!(states(&nights), "cccc...cc");
        let why: Vec<_> = nights.iter().map(|n| n.closed_by.map(Closure::as_str)).collect();
        assert_eq!(why[0], Some("past"));
        assert_eq!(why[3], Some("min_notice_days"));
        assert_eq!(why[7], Some("booking_window_days"));
        assert_eq!(nights[4].max_check_out, Some(day(8)), "the stay ends at the window");
    }

    #[test]
    fn a_gap_too_short_for_the_shortest_stay_is_closed_with_short_gaps_blocked() {
        let json = serde_json::json!({"min_nights": 3, "block_short_gaps": true});
        let items = [stay(3, 5), stay(7, 9)];
        let nights = nights(&rules(json), day(1), &items, day(1), day(12));
        // Before the 3rd, two nights between the past and a stay are too few as well.
        assert_eq!(states(&nights), "ccBBccBB...");
        assert_eq!(nights[4].closed_by, Some(Closure::ShortGap));
        assert_eq!(nights[8].max_check_out, Some(day(9) + Days::new(366)), "the run goes on");
    }

    #[test]
    fn arrival_and_departure_weekdays_shape_the_longest_stay() {
        // No arrivals on Tuesdays, no departures on Saturdays, 2 to 4 nights.
        let json = serde_json::json!({"min_nights": 2, "max_nights": 4,
            "no_arrival_days": ["tue"], "no_departure_days": ["sat"]});
        let nights = nights(&rules(json), day(1), &[], day(1), day(8));
        assert_eq!(nights[0].max_check_out, Some(day(5)), "Monday 1st to Friday 5th");
        assert!(!nights[1].can_check_in, "Tuesday");
        assert_eq!(nights[2].max_check_out, Some(day(7)), "Wednesday to Sunday, four nights");
        assert!(!nights[5].can_check_out && nights[4].can_check_out);
    }

    #[test]
    fn a_stay_is_judged_by_its_length_weekdays_notice_window_and_turnover() {
        let json = serde_json::json!({"min_nights": 2, "max_nights": 7, "turnover_days": 1,
            "no_arrival_days": ["sun"], "min_notice_days": 2, "booking_window_days": 60});
        let rules = rules(json);
        let names = |a: NaiveDate, b: NaiveDate, others: &[NightItem], new: bool| {
            let moved = if new { Moved::NEW } else { Moved::NONE };
            check_stay(&rules, day(1), (a, b), others, moved)
                .into_iter()
                .map(|v| v.rule.as_str())
                .collect::<Vec<_>>()
        };
        assert!(names(day(10), day(12), &[], true).is_empty());
        assert_eq!(names(day(10), day(11), &[], true), ["min_nights"]);
        assert_eq!(names(day(10), day(20), &[], true), ["max_nights"]);
        assert_eq!(names(day(7), day(9), &[], true), ["no_arrival_days"], "the 7th is a Sunday");
        assert_eq!(names(day(2), day(4), &[], true), ["min_notice_days"]);
        assert!(names(day(2), day(4), &[], false).is_empty(), "kept dates stay valid");
        let far = day(1) + Days::new(61);
        assert_eq!(names(far, far + Days::new(2), &[], true), ["booking_window_days"]);
        assert_eq!(names(day(12), day(14), &[stay(10, 12)], true), ["turnover_days"]);
        assert_eq!(names(day(10), day(12), &[stay(12, 14)], true), ["turnover_days"]);
        assert!(names(day(13), day(15), &[stay(10, 12)], true).is_empty());
        let block = NightItem { kind: ItemKind::Block, ..stay(8, 10) };
        assert!(names(day(10), day(12), &[block], true).is_empty(), "no turnover after a block");
    }

    #[test]
    fn a_stay_that_began_before_today_breaks_only_a_notice_the_owner_set() {
        let walk_in = |json| check_stay(&rules(json), day(3), (day(2), day(5)), &[], Moved::NEW);
        assert!(walk_in(serde_json::json!({"min_nights": 2})).is_empty(), "no notice rule");
        let refused = walk_in(serde_json::json!({"min_nights": 2, "min_notice_days": 0}));
        assert_eq!(
            refused.iter().map(|v| v.rule.as_str()).collect::<Vec<_>>(),
            ["min_notice_days"]
        );
    }
}
