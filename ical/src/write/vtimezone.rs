//! `VTIMEZONE` components computed from chrono-tz.
//!
//! chrono-tz does not expose its transition table, so the transitions are found by probing: the
//! offset is read once a day over the years asked for (and the year before, so that the offset in
//! force when they begin is defined), and each change is pinned to the second by binary search.
//! Transitions with the same offsets and name form one `STANDARD` or `DAYLIGHT` sub-component
//! with a yearly `RRULE` while they fall in consecutive years on the same rule (the n-th or last
//! weekday of a month, or a fixed day, at the same wall-clock time); the rule ends with `UNTIL`
//! when the zone changes its rules within the range. A transition that follows no such run gets a
//! sub-component of its own. A zone without transitions in the range gets one `STANDARD`.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, Weekday};
use chrono_tz::{OffsetComponents, OffsetName, Tz, TzOffset};

use super::{Line, Stamp, prop_text};

const DAY: i64 = 86_400;

/// How long after a rule's last onset its `UNTIL` is. RFC 5545 wants `UNTIL` in UTC while the
/// onsets are local times, and some readers compare the two as they are (dateutil's `tzical`,
/// behind Python `icalendar`, drops a last onset at 02:00 local when `UNTIL` is 23:00Z the day
/// before). Any value before the next yearly onset ends the rule the same way; a day later is
/// beyond any offset.
const UNTIL_SLACK: i64 = DAY;

/// Writes the `VTIMEZONE` of `zone`, correct for every instant in `years` (inclusive).
///
/// The cost is a few hundred offset look-ups per year of the range.
pub fn write_vtimezone(out: &mut String, zone: Tz, years: RangeInclusive<i32>) {
    out.push_str("BEGIN:VTIMEZONE\r\n");
    prop_text(out, "TZID", zone.name());
    prop_text(out, "X-LIC-LOCATION", zone.name());
    for observance in observances(zone, years) {
        write_observance(out, &observance);
    }
    out.push_str("END:VTIMEZONE\r\n");
}

/// One change of offset.
#[derive(Clone, Copy, Debug)]
struct Transition {
    /// The first second of the new offset (Unix time).
    at: i64,
    /// The offset before, in seconds east of UTC.
    from: i32,
    /// The offset, DST part and name after.
    to: TzOffset,
    /// Whether the new offset is daylight time, see [`is_daylight`].
    daylight: bool,
}

impl Transition {
    /// The wall-clock time at which it happens, read in the offset before it (as `DTSTART` is).
    fn local(&self) -> NaiveDateTime {
        naive(self.at + i64::from(self.from))
    }
}

/// A yearly rule that a run of transitions follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// The `nth` `weekday` of `month`; negative counts from the end (-1 is the last).
    Weekday { month: u32, nth: i8, weekday: Weekday },
    /// A fixed day of `month`.
    MonthDay { month: u32, day: u32 },
}

impl Rule {
    /// The rules that `local` satisfies, preferred first: the last weekday of the month (tzdata's
    /// `lastSun`), else the n-th from the start (`Sun>=8`), else from the end, else a fixed day.
    fn all_for(local: NaiveDateTime) -> [Rule; 3] {
        let (month, day, weekday) = (local.month(), local.day(), local.weekday());
        let from_start = Rule::Weekday { month, nth: ((day - 1) / 7 + 1) as i8, weekday };
        let from_end = (days_in_month(local.date()) - day) / 7 + 1;
        let from_end = Rule::Weekday { month, nth: -(from_end as i8), weekday };
        let fixed = Rule::MonthDay { month, day };
        if from_end == (Rule::Weekday { month, nth: -1, weekday }) {
            [from_end, from_start, fixed]
        } else {
            [from_start, from_end, fixed]
        }
    }

    fn matches(&self, local: NaiveDateTime) -> bool {
        Rule::all_for(local).contains(self)
    }

    /// The `RRULE` value, without `UNTIL`.
    fn rrule(&self) -> String {
        match *self {
            Rule::Weekday { month, nth, weekday } => {
                format!("FREQ=YEARLY;BYMONTH={month};BYDAY={nth}{}", weekday_code(weekday))
            }
            Rule::MonthDay { month, day } => {
                format!("FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day}")
            }
        }
    }
}

/// One `STANDARD` or `DAYLIGHT` sub-component.
#[derive(Clone, Debug)]
pub(super) struct Observance {
    /// `TZOFFSETFROM`, seconds east of UTC.
    pub(super) from: i32,
    /// `TZOFFSETTO` and `TZNAME`.
    pub(super) to: TzOffset,
    /// `DAYLIGHT` rather than `STANDARD`.
    pub(super) daylight: bool,
    /// `DTSTART`: the first onset, in local time before it.
    pub(super) start: NaiveDateTime,
    /// The yearly rule of further onsets, if any.
    pub(super) rule: Option<Rule>,
    /// When the rule ends within the range: a day after its last onset (Unix time).
    pub(super) until: Option<i64>,
}

/// The sub-components that define `zone` over `years`.
pub(super) fn observances(zone: Tz, years: RangeInclusive<i32>) -> Vec<Observance> {
    let first = (*years.start()).clamp(2, 9998);
    let last = (*years.end()).clamp(first, 9998);
    let probe_from = year_start(first - 1) - DAY;
    let mut transitions = find_transitions(zone, probe_from, year_start(last + 1) + DAY);
    transitions.retain(|t| t.local().year() <= last);

    let mut observances = Vec::new();
    // Unless a transition in the year before sets it, state the offset in force at the start.
    if transitions.first().is_none_or(|t| t.at > year_start(first) - DAY) {
        observances.push(in_force_at(zone, probe_from));
    }
    for group in groups(&transitions) {
        let mut i = 0;
        while i < group.len() {
            let (observance, next) = run_from(&group, i, last);
            observances.push(observance);
            i = next;
        }
    }
    observances
}

/// The offset in force at `at`, as an observance starting then.
fn in_force_at(zone: Tz, at: i64) -> Observance {
    let to = offset_at(zone, at);
    let from = seconds(&to);
    Observance {
        from,
        to,
        daylight: to.dst_offset() > TimeDelta::zero(),
        start: naive(at + i64::from(from)),
        rule: None,
        until: None,
    }
}

/// The transitions grouped by offsets, name and kind, groups in order of first occurrence.
fn groups(transitions: &[Transition]) -> Vec<Vec<Transition>> {
    let key = |t: &Transition| (t.from, t.to, t.daylight);
    let mut groups: Vec<Vec<Transition>> = Vec::new();
    for t in transitions {
        match groups.iter_mut().find(|group| key(&group[0]) == key(t)) {
            Some(group) => group.push(*t),
            None => groups.push(vec![*t]),
        }
    }
    groups
}

/// The longest run of `group` from `i` that follows one yearly rule (consecutive years, the same
/// wall-clock time, one rule for all), as an observance, and the index after it. `last` is the
/// range's last year: a run that reaches it is left open-ended.
fn run_from(group: &[Transition], i: usize, last: i32) -> (Observance, usize) {
    let start = group[i].local();
    let mut rules = Rule::all_for(start).to_vec();
    let mut j = i + 1;
    while let Some(next) = group.get(j) {
        let local = next.local();
        let kept: Vec<Rule> = rules.iter().copied().filter(|r| r.matches(local)).collect();
        let consecutive = local.year() == group[j - 1].local().year() + 1;
        if !consecutive || local.time() != start.time() || kept.is_empty() {
            break;
        }
        rules = kept;
        j += 1;
    }
    let end = group[j - 1];
    let rule = (j - i > 1).then(|| rules[0]);
    let open = j == group.len() && end.local().year() >= last;
    let observance = Observance {
        from: group[i].from,
        to: group[i].to,
        daylight: group[i].daylight,
        start,
        rule,
        until: rule.filter(|_| !open).map(|_| end.at + UNTIL_SLACK),
    };
    (observance, j)
}

/// Every change of offset, DST part or name in `[from, to)`, probing once a day.
fn find_transitions(zone: Tz, from: i64, to: i64) -> Vec<Transition> {
    let mut transitions = Vec::new();
    let (mut t, mut state) = (from, offset_at(zone, from));
    while t < to {
        let next = (t + DAY).min(to);
        if offset_at(zone, next) == state {
            t = next;
            continue;
        }
        let at = first_change(zone, t, next, state);
        let after = offset_at(zone, at);
        let daylight = is_daylight(&state, &after);
        transitions.push(Transition { at, from: seconds(&state), to: after, daylight });
        (t, state) = (at, after);
    }
    transitions
}

/// Whether the offset after a transition is daylight time: it has a DST part, or it ends a
/// negative one (tzdata gives Europe/Dublin's winter GMT a DST of -1 h, and its summer none; as a
/// VTIMEZONE, summer is `DAYLIGHT`, as clients expect).
fn is_daylight(before: &TzOffset, after: &TzOffset) -> bool {
    let zero = TimeDelta::zero();
    after.dst_offset() > zero || (after.dst_offset() == zero && before.dst_offset() < zero)
}

/// The first second in `(lo, hi]` whose offset is not `state`, given that `lo`'s is and `hi`'s is
/// not.
fn first_change(zone: Tz, mut lo: i64, mut hi: i64, state: TzOffset) -> i64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at(zone, mid) == state {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

fn write_observance(out: &mut String, observance: &Observance) {
    let kind = if observance.daylight { "DAYLIGHT" } else { "STANDARD" };
    let to = seconds(&observance.to);
    prop_text(out, "BEGIN", kind);
    prop_offset(out, "TZOFFSETFROM", observance.from);
    prop_offset(out, "TZOFFSETTO", to);
    match observance.to.abbreviation() {
        Some(name) => prop_text(out, "TZNAME", name),
        None => prop_text(out, "TZNAME", &utc_offset(to)),
    }
    prop_text(out, "DTSTART", Stamp::local(observance.start).as_str());
    if let Some(rule) = observance.rule {
        let mut line = Line::new(out, "RRULE");
        line.colon();
        line.raw(&rule.rrule());
        if let Some(until) = observance.until {
            line.raw(";UNTIL=");
            line.raw(Stamp::utc(utc(until)).as_str());
        }
        line.end();
    }
    prop_text(out, "END", kind);
}

fn prop_offset(out: &mut String, name: &str, seconds: i32) {
    prop_text(out, name, &utc_offset(seconds));
}

/// A UTC-OFFSET value (RFC 5545 §3.3.14): `+HHMM`, or `+HHMMSS` when there are seconds.
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    match s % 60 {
        0 => format!("{sign}{:02}{:02}", s / 3600, s / 60 % 60),
        rest => format!("{sign}{:02}{:02}{rest:02}", s / 3600, s / 60 % 60),
    }
}

fn offset_at(zone: Tz, at: i64) -> TzOffset {
    use chrono::TimeZone as _;
    zone.offset_from_utc_datetime(&naive(at))
}

/// Total offset east of UTC, in seconds.
fn seconds(offset: &TzOffset) -> i32 {
    offset.fix().local_minus_utc()
}

fn utc(at: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(at, 0).unwrap_or_default()
}

fn naive(at: i64) -> NaiveDateTime {
    utc(at).naive_utc()
}

/// 1 January of `year`, 00:00 UTC, as Unix time.
fn year_start(year: i32) -> i64 {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .unwrap_or_default()
        .and_time(Default::default())
        .and_utc()
        .timestamp()
}

fn days_in_month(date: NaiveDate) -> u32 {
    let (year, month) =
        if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
    NaiveDate::from_ymd_opt(year, month, 1).and_then(|d| d.pred_opt()).map_or(31, |d| d.day())
}

fn weekday_code(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}
