//! RRULE reading and bounded expansion with the `rrule` crate.
//!
//! Expansion works on local ("wall clock") times: the rule is handed to `rrule` with its DTSTART
//! as a UTC date-time standing for the local time, so every series (zoned, floating, all-day, or
//! in a zone only known from its VTIMEZONE rules) is expanded the same way and converted to
//! instants afterwards. That is what RFC 5545 asks: recurrences follow the local clock across DST.
//!
//! Bounds: without COUNT, iteration starts at a period boundary just before the window (a series
//! from 1970 is not walked day by day to today) and UNTIL is cut at the window's end; every
//! series stops after a fixed number of generated occurrences, and the whole file has a budget.

use chrono::{
    DateTime, Datelike, Duration, Month, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Weekday,
};
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Tz};

use super::rscale::{self, Skip};
use super::values::{Written, parse_written};
use super::work::Work;

/// An RRULE as written, checked and ready to expand from any DTSTART.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RuleSpec {
    pub freq: Frequency,
    pub interval: u16,
    pub count: Option<u32>,
    /// As written; the caller turns it into a local time.
    pub until: Option<Written>,
    pub week_start: Weekday,
    pub by_set_pos: Vec<i32>,
    pub by_month: Vec<u8>,
    pub by_month_day: Vec<i8>,
    pub by_year_day: Vec<i16>,
    pub by_week_no: Vec<i8>,
    pub by_weekday: Vec<NWeekday>,
    pub by_hour: Vec<u8>,
    pub by_minute: Vec<u8>,
    pub by_second: Vec<u8>,
    /// RFC 7529's SKIP: what becomes of a day the month does not have.
    pub skip: Skip,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn list<T>(value: &str, part: &str, ok: impl Fn(i64) -> Option<T>) -> Result<Vec<T>, BadRule> {
    value
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .trim_start_matches('+')
                .parse::<i64>()
                .ok()
                .and_then(&ok)
                .ok_or_else(|| BadRule(format!("{part}={}", short(value))))
        })
        .collect()
}

/// A rule Kalends cannot read or expand: the part at fault as written (`BYDAY=...`, at most
/// 40 characters of its value), or what the expansion refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct BadRule(String);

/// How [`BadRule`] says that a rule is in a calendar Kalends does not expand.
const OTHER_CALENDAR: &str = "RSCALE=";

impl BadRule {
    /// The reason an event with this rule is skipped.
    pub(super) fn reason(&self) -> String {
        match self.0.strip_prefix(OTHER_CALENDAR) {
            Some(calendar) => format!(
                "recurrence in the {calendar} calendar (RSCALE): only GREGORIAN is expanded"
            ),
            None => format!("unreadable RRULE ({})", self.0),
        }
    }
}

/// At most 40 characters of a value, for messages.
pub(super) fn short(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// Reads an RRULE value (`FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=...`). Unknown parts (also `X-` ones)
/// make the rule unreadable; parts
/// that make no sense for the frequency (ordinal BYDAY in a WEEKLY rule, BYMONTHDAY in WEEKLY,
/// BYYEARDAY outside YEARLY, BYWEEKNO outside YEARLY) are dropped as most readers do.
// Long on purpose: one short arm per RRULE part, all filling the same rule.
pub(super) fn parse_rule(value: &str) -> Result<RuleSpec, BadRule> {
    let mut rule = RuleSpec {
        freq: Frequency::Daily,
        interval: 1,
        count: None,
        until: None,
        week_start: Weekday::Mon,
        by_set_pos: Vec::new(),
        by_month: Vec::new(),
        by_month_day: Vec::new(),
        by_year_day: Vec::new(),
        by_week_no: Vec::new(),
        by_weekday: Vec::new(),
        by_hour: Vec::new(),
        by_minute: Vec::new(),
        by_second: Vec::new(),
        skip: Skip::Omit,
    };
    let mut freq = None;
    let value = value.trim().strip_prefix("RRULE:").unwrap_or(value.trim());
    for part in value.split(';') {
        // An empty part (a trailing or doubled `;`) says nothing; any other part must be
        // `NAME=VALUE`.
        if part.trim().is_empty() {
            continue;
        }
        let Some((key, v)) = part.split_once('=') else {
            return Err(BadRule(format!("unknown part {}", short(part.trim()))));
        };
        let key = key.trim().to_ascii_uppercase();
        let v = v.trim();
        match key.as_str() {
            "FREQ" => {
                freq = Some(match v.to_ascii_uppercase().as_str() {
                    "YEARLY" => Frequency::Yearly,
                    "MONTHLY" => Frequency::Monthly,
                    "WEEKLY" => Frequency::Weekly,
                    "DAILY" => Frequency::Daily,
                    "HOURLY" => Frequency::Hourly,
                    "MINUTELY" => Frequency::Minutely,
                    "SECONDLY" => Frequency::Secondly,
                    _ => return Err(BadRule(format!("FREQ={}", short(v)))),
                })
            }
            "INTERVAL" => {
                rule.interval = match v.parse::<u32>() {
                    Ok(0) => 1,
                    Ok(n) => {
                        u16::try_from(n).map_err(|_| BadRule(format!("INTERVAL={}", short(v))))?
                    }
                    Err(_) => return Err(BadRule(format!("INTERVAL={}", short(v)))),
                }
            }
            "COUNT" => {
                rule.count =
                    Some(v.parse::<u32>().map_err(|_| BadRule(format!("COUNT={}", short(v))))?)
            }
            "UNTIL" => {
                rule.until = Some(
                    parse_written(v, false)
                        .ok_or_else(|| BadRule(format!("UNTIL={}", short(v))))?,
                )
            }
            "WKST" => {
                rule.week_start =
                    weekday(v).ok_or_else(|| BadRule(format!("WKST={}", short(v))))?;
            }
            "BYSETPOS" => {
                rule.by_set_pos = list(v, "BYSETPOS", |n| {
                    (n != 0 && (-366..=366).contains(&n)).then_some(n as i32)
                })?
            }
            "BYMONTH" => {
                rule.by_month = list(v, "BYMONTH", |n| (1..=12).contains(&n).then_some(n as u8))?
            }
            "BYMONTHDAY" => {
                rule.by_month_day = list(v, "BYMONTHDAY", |n| {
                    (n != 0 && (-31..=31).contains(&n)).then_some(n as i8)
                })?
            }
            "BYYEARDAY" => {
                rule.by_year_day = list(v, "BYYEARDAY", |n| {
                    (n != 0 && (-366..=366).contains(&n)).then_some(n as i16)
                })?
            }
            "BYWEEKNO" => {
                rule.by_week_no =
                    list(v, "BYWEEKNO", |n| (n != 0 && (-53..=53).contains(&n)).then_some(n as i8))?
            }
            "BYHOUR" => {
                rule.by_hour = list(v, "BYHOUR", |n| (0..=23).contains(&n).then_some(n as u8))?
            }
            "BYMINUTE" => {
                rule.by_minute = list(v, "BYMINUTE", |n| (0..=59).contains(&n).then_some(n as u8))?
            }
            "BYSECOND" => {
                rule.by_second =
                    list(v, "BYSECOND", |n| (0..=60).contains(&n).then_some(n.min(59) as u8))?
            }
            // RFC 7529. Another calendar expanded as Gregorian would block the wrong days.
            "RSCALE" if !v.eq_ignore_ascii_case("GREGORIAN") => {
                return Err(BadRule(format!("{OTHER_CALENDAR}{}", short(&v.to_ascii_uppercase()))));
            }
            "SKIP" => {
                rule.skip =
                    rscale::parse_skip(v).ok_or_else(|| BadRule(format!("SKIP={}", short(v))))?;
            }
            "BYDAY" => {
                for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    if !d.is_ascii() || d.len() < 2 {
                        return Err(BadRule(format!("BYDAY={}", short(v))));
                    }
                    let split = d.len() - 2;
                    let (n, day) = d.split_at(split);
                    let day = weekday(day).ok_or_else(|| BadRule(format!("BYDAY={}", short(v))))?;
                    let n = n.trim_start_matches('+');
                    if n.is_empty() {
                        rule.by_weekday.push(NWeekday::Every(day));
                    } else {
                        let n = n
                            .parse::<i16>()
                            .ok()
                            .filter(|n| *n != 0 && (-53..=53).contains(n))
                            .ok_or_else(|| BadRule(format!("BYDAY={}", short(v))))?;
                        rule.by_weekday.push(NWeekday::Nth(n, day));
                    }
                }
            }
            // RFC 7529: the Gregorian calendar is the one the rule is expanded in anyway.
            "RSCALE" => {}
            // RFC 5545 3.3.10 allows no other part, and its recur-rule-part has no x-name, so
            // `X-...` parts are unknown too. An unknown part is most often a misspelt one
            // (`UNTL=`): ignoring it would turn a series that ends into one that never does.
            _ => return Err(BadRule(format!("unknown part {}", short(part.trim())))),
        }
    }
    rule.freq = freq.ok_or_else(|| BadRule("no FREQ".to_owned()))?;
    match rule.freq {
        Frequency::Yearly => {}
        Frequency::Monthly => {
            rule.by_year_day.clear();
            rule.by_week_no.clear();
            for d in &mut rule.by_weekday {
                if let NWeekday::Nth(n, day) = *d
                    && !(-5..=5).contains(&n)
                {
                    *d = NWeekday::Every(day);
                }
            }
        }
        _ => {
            rule.by_year_day.clear();
            rule.by_week_no.clear();
            if rule.freq == Frequency::Weekly {
                rule.by_month_day.clear();
            }
            for d in &mut rule.by_weekday {
                if let NWeekday::Nth(_, day) = *d {
                    *d = NWeekday::Every(day);
                }
            }
        }
    }
    let limit = match rule.freq {
        Frequency::Yearly | Frequency::Daily => 366,
        Frequency::Monthly => 31,
        Frequency::Weekly => 53,
        Frequency::Hourly => 24,
        Frequency::Minutely | Frequency::Secondly => 60,
    };
    rule.by_set_pos.retain(|p| p.abs() <= limit);
    Ok(rule)
}

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

/// Why an expansion stopped early.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The series generated `cap` occurrences.
    Capped,
    /// The file's budget ran out.
    Budget,
    /// The feed's work budget is spent.
    Work,
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
// Long on purpose: RFC 5545's table of BYxxx parts (each expands or limits, by frequency) is
// applied here step by step in the order the RFC gives; split, that order would be scattered.
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
    // The BYxxx parts `rrule` would take from DTSTART, taken from the real one before moving it.
    let mut by_month = rule.by_month.clone();
    let mut by_month_day = rule.by_month_day.clone();
    let mut by_weekday = rule.by_weekday.clone();
    let mut by_hour = rule.by_hour.clone();
    let mut by_minute = rule.by_minute.clone();
    let mut by_second = rule.by_second.clone();
    if rule.by_week_no.is_empty()
        && rule.by_year_day.is_empty()
        && by_month_day.is_empty()
        && by_weekday.is_empty()
    {
        match rule.freq {
            Frequency::Yearly => {
                if by_month.is_empty() {
                    by_month.push(dtstart.month() as u8);
                }
                by_month_day.push(dtstart.day() as i8);
            }
            Frequency::Monthly => by_month_day.push(dtstart.day() as i8),
            Frequency::Weekly => by_weekday.push(NWeekday::Every(dtstart.weekday())),
            _ => {}
        }
    }
    if rule.freq < Frequency::Hourly && by_hour.is_empty() {
        by_hour.push(dtstart.hour() as u8);
    }
    if rule.freq < Frequency::Minutely && by_minute.is_empty() {
        by_minute.push(dtstart.minute() as u8);
    }
    if rule.freq < Frequency::Secondly && by_second.is_empty() {
        by_second.push(dtstart.second().min(59) as u8);
    }

    // Move the start to a period boundary at least a day before `lo` (only without COUNT, which
    // counts from the real start).
    let mut start = dtstart;
    let target = lo - Duration::days(1);
    if rule.count.is_none() && target > dtstart {
        let interval = i64::from(rule.interval.max(1));
        let midnight = NaiveTime::MIN;
        let moved = match rule.freq {
            Frequency::Daily | Frequency::Weekly => {
                let period = if rule.freq == Frequency::Daily { interval } else { 7 * interval };
                let days = (target.date() - dtstart.date()).num_days();
                let k = floor_div(days, period);
                dtstart
                    .date()
                    .checked_add_signed(Duration::days(k * period))
                    .map(|d| d.and_time(midnight))
            }
            Frequency::Monthly => {
                let months = i64::from(target.year() - dtstart.year()) * 12
                    + i64::from(target.month0())
                    - i64::from(dtstart.month0());
                let k = floor_div(months, interval);
                NaiveDate::from_ymd_opt(dtstart.year(), dtstart.month(), 1)
                    .and_then(|d| {
                        d.checked_add_months(Months::new(u32::try_from(k * interval).ok()?))
                    })
                    .map(|d| d.and_time(midnight))
            }
            Frequency::Yearly => {
                let years = i64::from(target.year() - dtstart.year());
                let k = floor_div(years, interval);
                i32::try_from(k * interval)
                    .ok()
                    .and_then(|add| NaiveDate::from_ymd_opt(dtstart.year() + add, 1, 1))
                    .map(|d| d.and_time(midnight))
            }
            Frequency::Hourly | Frequency::Minutely | Frequency::Secondly => {
                let unit = match rule.freq {
                    Frequency::Hourly => 3600,
                    Frequency::Minutely => 60,
                    _ => 1,
                };
                let period = unit * interval;
                let secs = (target - dtstart).num_seconds();
                let k = floor_div(secs, period);
                dtstart.checked_add_signed(Duration::seconds(k * period))
            }
        };
        if let Some(moved) = moved
            && moved > start
        {
            start = moved;
        }
    }
    if until < start {
        return Ok(None);
    }

    if skipping {
        let times = rscale::Times { hours: &by_hour, minutes: &by_minute, seconds: &by_second };
        let by_month: Vec<u32> = by_month.iter().map(|&m| u32::from(m)).collect();
        let days =
            rscale::Days { months: &by_month, month_days: &by_month_day, weekdays: &by_weekday };
        let mut walk = rscale::Walk { dtstart, until, lo, hi, cap, budget, work, out };
        return Ok(rscale::expand(rule, start, &days, &times, &mut walk));
    }
    let utc = |t: NaiveDateTime| -> DateTime<Tz> { Tz::UTC.from_utc_datetime(&t) };
    let mut builder = RRule::new(rule.freq)
        .interval(rule.interval.max(1))
        .week_start(rule.week_start)
        .until(utc(until))
        .by_set_pos(rule.by_set_pos.clone())
        .by_month(&by_month.iter().filter_map(|m| Month::try_from(*m).ok()).collect::<Vec<_>>())
        .by_month_day(by_month_day)
        .by_year_day(rule.by_year_day.clone())
        .by_week_no(rule.by_week_no.clone())
        .by_weekday(by_weekday)
        .by_hour(by_hour)
        .by_minute(by_minute)
        .by_second(by_second);
    if let Some(count) = rule.count {
        builder = builder.count(count);
    }
    let validated = builder.validate(utc(start)).map_err(|e| BadRule(short(&e.to_string())))?;
    let set = RRuleSet::new(utc(start)).rrule(validated).limit();
    let mut generated = 0usize;
    let cost = step_cost(rule);
    // Paid before each step: the walk to the next occurrence is what costs.
    let mut iter = set.into_iter();
    while work.spend(cost) {
        let Some(t) = iter.next() else {
            return Ok(None);
        };
        let local = t.naive_utc();
        if local >= hi {
            return Ok(None);
        }
        if *budget == 0 {
            return Ok(Some(Stop::Budget));
        }
        *budget -= 1;
        generated += 1;
        if generated > cap {
            return Ok(Some(Stop::Capped));
        }
        if local >= lo {
            out.push(local);
        }
    }
    Ok(Some(Stop::Work))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn misplaced_parts_and_empty_parts_are_tolerated() {
        let rule = parse_rule("FREQ=WEEKLY;BYDAY=1MO;BYMONTHDAY=3;").unwrap();
        assert_eq!(rule.by_weekday, vec![NWeekday::Every(Weekday::Mon)]);
        assert!(rule.by_month_day.is_empty());
        assert!(parse_rule("INTERVAL=2").is_err());
        assert!(parse_rule("FREQ=FORTNIGHTLY").is_err());
    }
}
