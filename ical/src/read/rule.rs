//! Reading an RRULE value (RFC 5545 §3.3.10, RFC 7529's `RSCALE` and `SKIP`) into a
//! [`RuleSpec`] that `recur` expands.
//!
//! Unknown parts (also `X-` ones) make the rule unreadable; parts that make no sense for the
//! frequency (ordinal BYDAY in a WEEKLY rule, BYMONTHDAY in WEEKLY, BYYEARDAY outside YEARLY,
//! BYWEEKNO outside YEARLY) are dropped as most readers do.

use chrono::Weekday;
use rrule::{Frequency, NWeekday};

use super::values::{Written, parse_written};

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

/// RFC 7529's SKIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    /// The day is dropped (RFC 5545's behaviour, the default).
    Omit,
    /// The day becomes the first day of the next month.
    Forward,
    /// The day becomes the last day of its month.
    Backward,
}

/// A rule Kalends cannot read or expand: the part at fault as written (`BYDAY=...`, at most
/// 40 characters of its value), or what the expansion refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct BadRule(pub(super) String);

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

    /// The part `NAME=value` at fault.
    fn part(name: &str, value: &str) -> Self {
        BadRule(format!("{name}={}", short(value)))
    }
}

/// At most 40 characters of a value, for messages.
pub(super) fn short(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// Reads an RRULE value (`FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=...`); see the module's documentation.
pub(super) fn parse_rule(value: &str) -> Result<RuleSpec, BadRule> {
    let mut rule = RuleSpec::daily();
    let mut freq = None;
    let value = value.trim().strip_prefix("RRULE:").unwrap_or(value.trim());
    for part in value.split(';') {
        // An empty part (a trailing or doubled `;`) says nothing; any other part must be
        // `NAME=VALUE`.
        if part.trim().is_empty() {
            continue;
        }
        let unknown = || BadRule(format!("unknown part {}", short(part.trim())));
        let (key, v) = part.split_once('=').ok_or_else(unknown)?;
        let (key, v) = (key.trim().to_ascii_uppercase(), v.trim());
        if key == "FREQ" {
            freq = Some(parse_freq(v)?);
        } else if !read_scalar(&mut rule, &key, v)? && !read_list(&mut rule, &key, v)? {
            // RFC 5545 3.3.10 allows no other part, and its recur-rule-part has no x-name, so
            // `X-...` parts are unknown too. An unknown part is most often a misspelt one
            // (`UNTL=`): ignoring it would turn a series that ends into one that never does.
            return Err(unknown());
        }
    }
    rule.freq = freq.ok_or_else(|| BadRule("no FREQ".to_owned()))?;
    drop_misplaced(&mut rule);
    Ok(rule)
}

impl RuleSpec {
    /// A daily rule with no other part, filled in part by part.
    fn daily() -> Self {
        RuleSpec {
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
        }
    }
}

fn parse_freq(v: &str) -> Result<Frequency, BadRule> {
    Ok(match v.to_ascii_uppercase().as_str() {
        "YEARLY" => Frequency::Yearly,
        "MONTHLY" => Frequency::Monthly,
        "WEEKLY" => Frequency::Weekly,
        "DAILY" => Frequency::Daily,
        "HOURLY" => Frequency::Hourly,
        "MINUTELY" => Frequency::Minutely,
        "SECONDLY" => Frequency::Secondly,
        _ => return Err(BadRule::part("FREQ", v)),
    })
}

/// Reads a part that holds one value (`INTERVAL`, `COUNT`, `UNTIL`, `WKST`, `RSCALE`, `SKIP`);
/// false for any other part.
fn read_scalar(rule: &mut RuleSpec, key: &str, v: &str) -> Result<bool, BadRule> {
    let bad = || BadRule::part(key, v);
    match key {
        "INTERVAL" => {
            rule.interval = match v.parse::<u32>() {
                Ok(0) => 1,
                Ok(n) => u16::try_from(n).map_err(|_| bad())?,
                Err(_) => return Err(bad()),
            }
        }
        "COUNT" => rule.count = Some(v.parse::<u32>().map_err(|_| bad())?),
        "UNTIL" => rule.until = Some(parse_written(v, false).ok_or_else(bad)?),
        "WKST" => rule.week_start = weekday(v).ok_or_else(bad)?,
        // RFC 7529. Another calendar expanded as Gregorian would block the wrong days; the
        // Gregorian calendar is the one the rule is expanded in anyway.
        "RSCALE" if !v.eq_ignore_ascii_case("GREGORIAN") => {
            return Err(BadRule(format!("{OTHER_CALENDAR}{}", short(&v.to_ascii_uppercase()))));
        }
        "RSCALE" => {}
        "SKIP" => rule.skip = parse_skip(v).ok_or_else(bad)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Reads a `BYxxx` part, a list; false for any other part.
fn read_list(rule: &mut RuleSpec, key: &str, v: &str) -> Result<bool, BadRule> {
    let within = |lo: i64, hi: i64| move |n: i64| (lo..=hi).contains(&n);
    let not_zero = |lo: i64, hi: i64| move |n: i64| n != 0 && (lo..=hi).contains(&n);
    match key {
        "BYSETPOS" => rule.by_set_pos = list(v, key, not_zero(-366, 366), |n| n as i32)?,
        "BYMONTH" => rule.by_month = list(v, key, within(1, 12), |n| n as u8)?,
        "BYMONTHDAY" => rule.by_month_day = list(v, key, not_zero(-31, 31), |n| n as i8)?,
        "BYYEARDAY" => rule.by_year_day = list(v, key, not_zero(-366, 366), |n| n as i16)?,
        "BYWEEKNO" => rule.by_week_no = list(v, key, not_zero(-53, 53), |n| n as i8)?,
        "BYHOUR" => rule.by_hour = list(v, key, within(0, 23), |n| n as u8)?,
        "BYMINUTE" => rule.by_minute = list(v, key, within(0, 59), |n| n as u8)?,
        "BYSECOND" => rule.by_second = list(v, key, within(0, 60), |n| n.min(59) as u8)?,
        "BYDAY" => rule.by_weekday.extend(by_day(v)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The numbers of a list part that `ok` accepts, as `T`; the whole part is unreadable when one
/// is not.
fn list<T>(
    value: &str,
    part: &str,
    ok: impl Fn(i64) -> bool,
    to: impl Fn(i64) -> T,
) -> Result<Vec<T>, BadRule> {
    value
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .trim_start_matches('+')
                .parse::<i64>()
                .ok()
                .filter(|&n| ok(n))
                .map(&to)
                .ok_or_else(|| BadRule::part(part, value))
        })
        .collect()
}

/// The days of a BYDAY part: `MO`, or with an ordinal, `-1SU`, `+2TU`.
fn by_day(v: &str) -> Result<Vec<NWeekday>, BadRule> {
    let bad = || BadRule::part("BYDAY", v);
    let mut days = Vec::new();
    for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !d.is_ascii() || d.len() < 2 {
            return Err(bad());
        }
        let (n, day) = d.split_at(d.len() - 2);
        let day = weekday(day).ok_or_else(bad)?;
        let n = n.trim_start_matches('+');
        if n.is_empty() {
            days.push(NWeekday::Every(day));
            continue;
        }
        let n = n.parse::<i16>().ok().filter(|n| *n != 0 && (-53..=53).contains(n));
        days.push(NWeekday::Nth(n.ok_or_else(bad)?, day));
    }
    Ok(days)
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

/// Reads a SKIP value.
fn parse_skip(value: &str) -> Option<Skip> {
    Some(match value.trim().to_ascii_uppercase().as_str() {
        "OMIT" => Skip::Omit,
        "FORWARD" => Skip::Forward,
        "BACKWARD" => Skip::Backward,
        _ => return None,
    })
}

/// Drops what makes no sense for the rule's frequency (see the module's documentation), and
/// BYSETPOS positions beyond the most a period can hold.
fn drop_misplaced(rule: &mut RuleSpec) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misplaced_parts_and_empty_parts_are_tolerated() {
        let rule = parse_rule("FREQ=WEEKLY;BYDAY=1MO;BYMONTHDAY=3;").unwrap();
        assert_eq!(rule.by_weekday, vec![NWeekday::Every(Weekday::Mon)]);
        assert!(rule.by_month_day.is_empty());
        assert!(parse_rule("INTERVAL=2").is_err());
        assert!(parse_rule("FREQ=FORTNIGHTLY").is_err());
    }
}
