//! RFC 7529 in the Gregorian calendar: `RSCALE=GREGORIAN` with `SKIP=FORWARD` or `BACKWARD`.
//!
//! The `rrule` crate knows neither part (it always omits a day the month does not have), so a
//! MONTHLY or YEARLY rule whose days come from BYMONTHDAY is walked here, month by month: a day
//! past the month's end becomes the first of the next month (FORWARD) or the month's last day
//! (BACKWARD), after BYMONTH and before BYDAY, and duplicates count once, as RFC 7529 says.
//! Other calendars are refused by `rule::parse_rule` (see `BadRule::reason`).
//!
//! Not walked here, and left to `rrule` (which omits the missing day): rules with BYYEARDAY,
//! BYWEEKNO, BYSETPOS or an ordinal BYDAY (`2MO`). A negative BYMONTHDAY past the month's start
//! (`-31` in April) is omitted whatever SKIP says.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime};
use rrule::{Frequency, NWeekday};

use super::bounds::{Stop, Walk};
use super::rule::{RuleSpec, Skip};

/// Whether the rule is walked here rather than by `rrule` (see the module's documentation).
pub(super) fn applies(rule: &RuleSpec) -> bool {
    rule.skip != Skip::Omit
        && matches!(rule.freq, Frequency::Monthly | Frequency::Yearly)
        && rule.by_year_day.is_empty()
        && rule.by_week_no.is_empty()
        && rule.by_set_pos.is_empty()
        && (rule.by_weekday.is_empty()
            || (!rule.by_month_day.is_empty()
                && rule.by_weekday.iter().all(|d| matches!(d, NWeekday::Every(_)))))
}

/// The times of day a rule gives each of its days.
pub(super) struct Times<'a> {
    pub hours: &'a [u8],
    pub minutes: &'a [u8],
    pub seconds: &'a [u8],
}

/// The days a rule picks: months (empty: all), days of the month, weekdays (a filter).
pub(super) struct Days<'a> {
    pub months: &'a [u32],
    pub month_days: &'a [i8],
    pub weekdays: &'a [NWeekday],
}

/// The day `day` of the month starting on `first`, with SKIP applied.
fn day_of(first: NaiveDate, day: i8, skip: Skip) -> Option<NaiveDate> {
    let next = first.checked_add_months(Months::new(1))?;
    let length = (next - first).num_days();
    let n = if day > 0 { i64::from(day) } else { length + 1 + i64::from(day) };
    if (1..=length).contains(&n) {
        return first.with_day(u32::try_from(n).ok()?);
    }
    match skip {
        Skip::Forward if day > 0 => Some(next),
        Skip::Backward if day > 0 => next.pred_opt(),
        _ => None,
    }
}

/// The days of one period (a month, or a year) starting on `first`, sorted and distinct.
fn period_days(rule: &RuleSpec, first: NaiveDate, days: &Days<'_>) -> Vec<NaiveDate> {
    let months: Vec<NaiveDate> = match rule.freq {
        Frequency::Monthly => vec![first],
        _ => (1..=12).filter_map(|m| first.with_month(m)).collect(),
    };
    let mut out: Vec<NaiveDate> = months
        .into_iter()
        .filter(|m| days.months.is_empty() || days.months.contains(&m.month()))
        .flat_map(|m| days.month_days.iter().filter_map(move |&d| day_of(m, d, rule.skip)))
        .filter(|d| {
            days.weekdays.is_empty()
                || days
                    .weekdays
                    .iter()
                    .any(|w| matches!(w, NWeekday::Every(w) if *w == d.weekday()))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Appends to `walk.out` what the rule generates from `start` (DTSTART, or a period boundary
/// in phase with it), with the same caps as `recur::expand`.
pub(super) fn expand(
    rule: &RuleSpec,
    start: NaiveDateTime,
    days: &Days<'_>,
    times: &Times<'_>,
    walk: &mut Walk<'_>,
) -> Option<Stop> {
    let mut clock: Vec<NaiveTime> = Vec::new();
    for &h in times.hours {
        for &m in times.minutes {
            for &s in times.seconds {
                clock.extend(NaiveTime::from_hms_opt(h.into(), m.into(), s.into()));
            }
        }
    }
    clock.sort_unstable();
    clock.dedup();
    let interval = u32::from(rule.interval.max(1));
    let (month, step) = match rule.freq {
        Frequency::Monthly => (start.month(), interval),
        _ => (1, interval.saturating_mul(12)),
    };
    let mut first = NaiveDate::from_ymd_opt(start.year(), month, 1)?;
    let mut generated = 0usize;
    loop {
        if !walk.work.spend(1) {
            return Some(Stop::Work);
        }
        let boundary = first.and_time(NaiveTime::MIN);
        if boundary > walk.until || boundary >= walk.hi {
            return None;
        }
        for date in period_days(rule, first, days) {
            for &time in &clock {
                let t = date.and_time(time);
                if t < walk.dtstart {
                    continue;
                }
                if t > walk.until || t >= walk.hi {
                    return None;
                }
                if rule.count.is_some_and(|c| generated >= c as usize) {
                    return None;
                }
                if *walk.budget == 0 {
                    return Some(Stop::Budget);
                }
                *walk.budget -= 1;
                generated += 1;
                if generated > walk.cap {
                    return Some(Stop::Capped);
                }
                if !walk.work.spend(1) {
                    return Some(Stop::Work);
                }
                if t >= walk.lo {
                    walk.out.push(t);
                }
            }
        }
        first = first.checked_add_months(Months::new(step))?;
    }
}
