//! Bounded expansion of RRULEs with the `rrule` crate.
//!
//! Expansion works on local ("wall clock") times: the rule is handed to `rrule` with its DTSTART
//! as a UTC date-time standing for the local time, so every series (zoned, floating, all-day, or
//! in a zone only known from its VTIMEZONE rules) is expanded the same way and converted to
//! instants afterwards. That is what RFC 5545 asks: recurrences follow the local clock across DST.
//!
//! Bounds: without COUNT, iteration starts at a period boundary just before the window (a series
//! from 1970 is not walked day by day to today) and UNTIL is cut at the window's end; every
//! series stops after a fixed number of generated occurrences, and the whole file has a budget.
//! A rule with RFC 7529's SKIP is walked by `rscale` instead, within the same bounds.

use chrono::{
    DateTime, Datelike, Duration, Month, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike,
};
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Tz};

use super::bounds::{Stop, Walk};
use super::rscale;
use super::rule::{BadRule, RuleSpec, short};
use super::work::Work;

/// Whether a rule can never produce a date (BYMONTHDAY=30 with BYMONTH=2, ...), which `rrule`
/// would otherwise search for at length.
fn impossible(rule: &RuleSpec) -> bool {
    if rule.by_month_day.is_empty() || !rule.by_year_day.is_empty() || !rule.by_week_no.is_empty() {
        return false;
    }
    let months: Vec<u8> =
        if rule.by_month.is_empty() { (1..=12).collect() } else { rule.by_month.clone() };
    let max_days = |m: u8| match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    !months
        .iter()
        .any(|&m| rule.by_month_day.iter().any(|&d| i32::from(d.unsigned_abs()) <= max_days(m)))
}

/// The most steps one occurrence of a rule costs (see [`step_cost`]).
pub(super) const MAX_STEP: u64 = 1 + CLOCK_WALK;

/// The steps the `rrule` crate takes between two occurrences of a sub-daily rule restricted by
/// BYHOUR, BYMINUTE or BYSECOND: it walks the seconds of a minute, the minutes of an hour and
/// the hours of a day, one by one, to the next allowed time.
const CLOCK_WALK: u64 = 60 + 60 + 24;

/// What one generated occurrence of `rule` costs, in steps of the feed's work budget.
pub(super) fn step_cost(rule: &RuleSpec) -> u64 {
    let sub_daily = rule.freq > Frequency::Daily;
    let restricted =
        !rule.by_hour.is_empty() || !rule.by_minute.is_empty() || !rule.by_second.is_empty();
    if sub_daily && restricted { MAX_STEP } else { 1 }
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// Appends to `out` the local start times the rule generates from `dtstart` (a local time) that
/// fall in `[lo, hi)`; DTSTART itself is not added (the caller does, RFC 5545 counts it even when
/// the rule does not produce it). `until` is the rule's UNTIL as a local time. At most `cap`
/// occurrences are generated (from the real or the moved start), and each one spends `budget`
/// and its [`step_cost`] of `work`.
// The bounds and meters come apart, as each caller keeps them (a series, a VTIMEZONE).
#[allow(clippy::too_many_arguments)]
pub(super) fn expand(
    rule: &RuleSpec,
    dtstart: NaiveDateTime,
    until: Option<NaiveDateTime>,
    lo: NaiveDateTime,
    hi: NaiveDateTime,
    cap: usize,
    budget: &mut usize,
    work: &Work,
    out: &mut Vec<NaiveDateTime>,
) -> Result<Option<Stop>, BadRule> {
    // Even a rule that yields nothing was read and looked at.
    if !work.spend(1) {
        return Ok(Some(Stop::Work));
    }
    let skipping = rscale::applies(rule);
    if hi <= lo || (!skipping && impossible(rule)) {
        return Ok(None);
    }
    let until = match until {
        Some(u) if u < hi => u,
        _ => hi,
    };
    if until < dtstart || until < lo {
        return Ok(None);
    }
    let parts = Parts::implied(rule, dtstart);
    let start = near_window(rule, dtstart, lo);
    if until < start {
        return Ok(None);
    }
    let mut walk = Walk { dtstart, until, lo, hi, cap, budget, work, out };
    if skipping {
        return Ok(parts.skipping(rule, start, &mut walk));
    }
    let set = parts.rrule_set(rule, start, until)?;
    Ok(take(set, step_cost(rule), &mut walk))
}

/// The BYxxx parts a rule is expanded with: as written, and those `rrule` would take from
/// DTSTART taken from the real one (the expansion may start from a moved one).
struct Parts {
    by_month: Vec<u8>,
    by_month_day: Vec<i8>,
    by_weekday: Vec<NWeekday>,
    by_hour: Vec<u8>,
    by_minute: Vec<u8>,
    by_second: Vec<u8>,
}

impl Parts {
    fn implied(rule: &RuleSpec, dtstart: NaiveDateTime) -> Self {
        let mut parts = Parts {
            by_month: rule.by_month.clone(),
            by_month_day: rule.by_month_day.clone(),
            by_weekday: rule.by_weekday.clone(),
            by_hour: rule.by_hour.clone(),
            by_minute: rule.by_minute.clone(),
            by_second: rule.by_second.clone(),
        };
        let no_day = rule.by_week_no.is_empty()
            && rule.by_year_day.is_empty()
            && parts.by_month_day.is_empty()
            && parts.by_weekday.is_empty();
        if no_day {
            parts.day_of(rule.freq, dtstart);
        }
        if rule.freq < Frequency::Hourly && parts.by_hour.is_empty() {
            parts.by_hour.push(dtstart.hour() as u8);
        }
        if rule.freq < Frequency::Minutely && parts.by_minute.is_empty() {
            parts.by_minute.push(dtstart.minute() as u8);
        }
        if rule.freq < Frequency::Secondly && parts.by_second.is_empty() {
            parts.by_second.push(dtstart.second().min(59) as u8);
        }
        parts
    }

    /// The day of DTSTART, for a rule that names none: its month and day every year, its day
    /// every month, its weekday every week.
    fn day_of(&mut self, freq: Frequency, dtstart: NaiveDateTime) {
        match freq {
            Frequency::Yearly => {
                if self.by_month.is_empty() {
                    self.by_month.push(dtstart.month() as u8);
                }
                self.by_month_day.push(dtstart.day() as i8);
            }
            Frequency::Monthly => self.by_month_day.push(dtstart.day() as i8),
            Frequency::Weekly => self.by_weekday.push(NWeekday::Every(dtstart.weekday())),
            _ => {}
        }
    }

    /// Walks a rule with RFC 7529's SKIP (`rscale`).
    fn skipping(&self, rule: &RuleSpec, start: NaiveDateTime, walk: &mut Walk<'_>) -> Option<Stop> {
        let times = rscale::Times {
            hours: &self.by_hour,
            minutes: &self.by_minute,
            seconds: &self.by_second,
        };
        let by_month: Vec<u32> = self.by_month.iter().map(|&m| u32::from(m)).collect();
        let days = rscale::Days {
            months: &by_month,
            month_days: &self.by_month_day,
            weekdays: &self.by_weekday,
        };
        rscale::expand(rule, start, &days, &times, walk)
    }

    /// The rule as `rrule` expands it from `start`, to `until` at the latest.
    fn rrule_set(
        self,
        rule: &RuleSpec,
        start: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<RRuleSet, BadRule> {
        let utc = |t: NaiveDateTime| -> DateTime<Tz> { Tz::UTC.from_utc_datetime(&t) };
        let months: Vec<Month> =
            self.by_month.iter().filter_map(|m| Month::try_from(*m).ok()).collect();
        let mut builder = RRule::new(rule.freq)
            .interval(rule.interval.max(1))
            .week_start(rule.week_start)
            .until(utc(until))
            .by_set_pos(rule.by_set_pos.clone())
            .by_month(&months)
            .by_month_day(self.by_month_day)
            .by_year_day(rule.by_year_day.clone())
            .by_week_no(rule.by_week_no.clone())
            .by_weekday(self.by_weekday)
            .by_hour(self.by_hour)
            .by_minute(self.by_minute)
            .by_second(self.by_second);
        if let Some(count) = rule.count {
            builder = builder.count(count);
        }
        let validated = builder.validate(utc(start)).map_err(|e| BadRule(short(&e.to_string())))?;
        Ok(RRuleSet::new(utc(start)).rrule(validated).limit())
    }
}

/// Where a rule's expansion starts: without COUNT (which counts from the real start), the last
/// period boundary in phase with DTSTART at least a day before `lo`; else DTSTART.
fn near_window(rule: &RuleSpec, dtstart: NaiveDateTime, lo: NaiveDateTime) -> NaiveDateTime {
    let target = lo - Duration::days(1);
    if rule.count.is_some() || target <= dtstart {
        return dtstart;
    }
    let interval = i64::from(rule.interval.max(1));
    let moved = match rule.freq {
        Frequency::Daily => days_before(dtstart, target, interval),
        Frequency::Weekly => days_before(dtstart, target, 7 * interval),
        Frequency::Monthly => months_before(dtstart, target, interval),
        Frequency::Yearly => years_before(dtstart, target, interval),
        Frequency::Hourly => seconds_before(dtstart, target, 3600 * interval),
        Frequency::Minutely => seconds_before(dtstart, target, 60 * interval),
        Frequency::Secondly => seconds_before(dtstart, target, interval),
    };
    moved.filter(|&moved| moved > dtstart).unwrap_or(dtstart)
}

/// The last midnight before `target` a whole number of `period` days after DTSTART's date.
fn days_before(
    dtstart: NaiveDateTime,
    target: NaiveDateTime,
    period: i64,
) -> Option<NaiveDateTime> {
    let k = floor_div((target.date() - dtstart.date()).num_days(), period);
    let date = dtstart.date().checked_add_signed(Duration::days(k * period))?;
    Some(date.and_time(NaiveTime::MIN))
}

/// The first of the last month before `target` a whole number of `interval` months after
/// DTSTART's.
fn months_before(
    dtstart: NaiveDateTime,
    target: NaiveDateTime,
    interval: i64,
) -> Option<NaiveDateTime> {
    let months = i64::from(target.year() - dtstart.year()) * 12 + i64::from(target.month0())
        - i64::from(dtstart.month0());
    let k = floor_div(months, interval);
    let first = NaiveDate::from_ymd_opt(dtstart.year(), dtstart.month(), 1)?;
    let date = first.checked_add_months(Months::new(u32::try_from(k * interval).ok()?))?;
    Some(date.and_time(NaiveTime::MIN))
}

/// The first of January of the last year before `target` a whole number of `interval` years
/// after DTSTART's.
fn years_before(
    dtstart: NaiveDateTime,
    target: NaiveDateTime,
    interval: i64,
) -> Option<NaiveDateTime> {
    let k = floor_div(i64::from(target.year() - dtstart.year()), interval);
    let add = i32::try_from(k * interval).ok()?;
    Some(NaiveDate::from_ymd_opt(dtstart.year() + add, 1, 1)?.and_time(NaiveTime::MIN))
}

/// The last time before `target` a whole number of `period` seconds after DTSTART.
fn seconds_before(
    dtstart: NaiveDateTime,
    target: NaiveDateTime,
    period: i64,
) -> Option<NaiveDateTime> {
    let k = floor_div((target - dtstart).num_seconds(), period);
    dtstart.checked_add_signed(Duration::seconds(k * period))
}

/// Takes the occurrences `rrule` generates into `walk.out`, paying `cost` of work before each
/// step: the walk to the next occurrence is what costs.
fn take(set: RRuleSet, cost: u64, walk: &mut Walk<'_>) -> Option<Stop> {
    let mut generated = 0usize;
    let mut occurrences = set.into_iter();
    while walk.work.spend(cost) {
        let local = occurrences.next()?.naive_utc();
        if local >= walk.hi {
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
        if local >= walk.lo {
            walk.out.push(local);
        }
    }
    Some(Stop::Work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::rule::parse_rule;
    use crate::read::values::Written;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }

    fn run(
        rule: &str,
        start: NaiveDateTime,
        lo: NaiveDateTime,
        hi: NaiveDateTime,
    ) -> Vec<NaiveDateTime> {
        let rule = parse_rule(rule).unwrap();
        let until = rule.until.map(|u| match u {
            Written::Date(d) => d.and_hms_opt(23, 59, 59).unwrap(),
            Written::Local(t) | Written::Utc(t) => t,
        });
        let mut out = Vec::new();
        let mut budget = usize::MAX;
        let work = Work::new(u64::MAX);
        expand(&rule, start, until, lo, hi, 10_000, &mut budget, &work, &mut out).unwrap();
        out
    }

    #[test]
    fn a_daily_rule_from_1970_is_expanded_only_near_the_window() {
        let out =
            run("FREQ=DAILY", at(1970, 1, 1, 9, 0), at(2030, 1, 1, 0, 0), at(2030, 1, 11, 0, 0));
        assert_eq!(out.len(), 10);
        assert_eq!(out[0], at(2030, 1, 1, 9, 0));
    }

    #[test]
    fn moving_the_start_keeps_the_phase_of_biweekly_and_monthly_rules() {
        let start = at(2017, 2, 16, 9, 0);
        let out = run(
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU",
            start,
            at(2024, 1, 1, 0, 0),
            at(2024, 2, 1, 0, 0),
        );
        // The same series expanded from its real start.
        let mut full = Vec::new();
        let mut budget = usize::MAX;
        let rule = parse_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU;COUNT=5000").unwrap();
        expand(
            &rule,
            start,
            None,
            at(2024, 1, 1, 0, 0),
            at(2024, 2, 1, 0, 0),
            10_000,
            &mut budget,
            &Work::new(u64::MAX),
            &mut full,
        )
        .unwrap();
        assert_eq!(out, full);
        let out = run(
            "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=31",
            at(2001, 1, 31, 8, 0),
            at(2024, 1, 1, 0, 0),
            at(2025, 1, 1, 0, 0),
        );
        assert_eq!(out, vec![at(2024, 1, 31, 8, 0), at(2024, 7, 31, 8, 0), at(2024, 10, 31, 8, 0)]);
    }

    #[test]
    fn bysetpos_picks_the_last_weekday_of_the_month() {
        let out = run(
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            at(2024, 1, 1, 10, 0),
            at(2024, 1, 1, 0, 0),
            at(2024, 4, 1, 0, 0),
        );
        assert_eq!(
            out,
            vec![at(2024, 1, 31, 10, 0), at(2024, 2, 29, 10, 0), at(2024, 3, 29, 10, 0)]
        );
    }

    #[test]
    fn an_impossible_rule_yields_nothing_quickly() {
        let out = run(
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            at(2020, 1, 1, 0, 0),
            at(2020, 1, 1, 0, 0),
            at(2030, 1, 1, 0, 0),
        );
        assert!(out.is_empty());
    }
}
