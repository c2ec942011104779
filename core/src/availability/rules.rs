//! Availability rules of one resource or staff member, as the owner sets them: every rule is
//! optional, and an absent rule restricts nothing.
//!
//! A [`RulesDraft`] is what a request or a stored row holds; [`Rules`] is built from it through
//! [`Rules::try_from`], which names every field that is out of range, so a `Rules` value is
//! always one the engines can apply.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike as _, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The most nights a stay can have without a `max_nights` rule: as many as a booking may last
/// (so every stay a write accepts is offered).
pub const MAX_STAY_NIGHTS: u32 = crate::domain::MAX_BOOKING_DAYS as u32;

/// One rule, by the field that sets it: what a refused booking, a conflict and a closed night
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nights kept free after each stay.
    TurnoverDays,
    /// The shortest stay.
    MinNights,
    /// The longest stay.
    MaxNights,
    /// How far ahead anything may be booked.
    BookingWindowDays,
    /// How many days ahead a stay must be booked.
    MinNoticeDays,
    /// How many minutes ahead an appointment must be booked.
    MinNoticeMinutes,
    /// Weekdays no stay may start on.
    NoArrivalDays,
    /// Weekdays no stay may end on.
    NoDepartureDays,
    /// When appointments may be.
    WeeklyHours,
    /// Time kept free before each appointment.
    BufferBeforeMinutes,
    /// Time kept free after each appointment.
    BufferAfterMinutes,
    /// Free gaps too short to sell are closed.
    BlockShortGaps,
}

impl Rule {
    /// Every rule, in the order the API lists them.
    pub const ALL: [Rule; 12] = [
        Self::TurnoverDays,
        Self::MinNights,
        Self::MaxNights,
        Self::BookingWindowDays,
        Self::MinNoticeDays,
        Self::MinNoticeMinutes,
        Self::NoArrivalDays,
        Self::NoDepartureDays,
        Self::WeeklyHours,
        Self::BufferBeforeMinutes,
        Self::BufferAfterMinutes,
        Self::BlockShortGaps,
    ];

    /// The rule a field name names.
    pub fn parse(name: &str) -> Option<Rule> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == name)
    }

    /// The field name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TurnoverDays => "turnover_days",
            Self::MinNights => "min_nights",
            Self::MaxNights => "max_nights",
            Self::BookingWindowDays => "booking_window_days",
            Self::MinNoticeDays => "min_notice_days",
            Self::MinNoticeMinutes => "min_notice_minutes",
            Self::NoArrivalDays => "no_arrival_days",
            Self::NoDepartureDays => "no_departure_days",
            Self::WeeklyHours => "weekly_hours",
            Self::BufferBeforeMinutes => "buffer_before_minutes",
            Self::BufferAfterMinutes => "buffer_after_minutes",
            Self::BlockShortGaps => "block_short_gaps",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of weekdays, written as `["mon", "sun"]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

impl Weekdays {
    /// No day.
    pub const NONE: Weekdays = Weekdays(0);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether the weekday of `date` is in the set.
    pub fn holds(self, date: NaiveDate) -> bool {
        self.contains(date.weekday())
    }

    /// The set with `day` added.
    pub fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | (1 << day.num_days_from_monday()))
    }

    /// Whether no day is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days, Monday first, by their three-letter names.
    pub fn names(self) -> Vec<&'static str> {
        ALL_DAYS.iter().filter(|d| self.contains(**d)).map(|d| day_name(*d)).collect()
    }
}

/// Monday to Sunday.
const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// `mon` ... `sun`.
pub fn day_name(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

fn day_named(name: &str) -> Option<Weekday> {
    ALL_DAYS.iter().copied().find(|d| day_name(*d) == name)
}

/// Opening time of one day: from `start` to `end`, in minutes after the local midnight
/// (`end` may be 1440, the next midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    /// Minutes after midnight the period opens.
    pub start: u16,
    /// Minutes after midnight it closes (exclusive).
    pub end: u16,
}

/// When appointments may be, per weekday, in the owner's zone. A day without periods is
/// closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WeeklyHours([Vec<Period>; 7]);

impl WeeklyHours {
    /// The periods of `day`, in order, not overlapping.
    pub fn of(&self, day: Weekday) -> &[Period] {
        &self.0[day.num_days_from_monday() as usize]
    }

    /// Whether `[start, end)` minutes of `day` lie inside one period.
    pub fn covers(&self, day: Weekday, start: u32, end: u32) -> bool {
        self.of(day).iter().any(|p| u32::from(p.start) <= start && end <= u32::from(p.end))
    }
}

/// The rules as submitted or stored: numbers and names not yet checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesDraft {
    /// Nights kept free after each stay and before each stay, 0 to 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnover_days: Option<i64>,
    /// The shortest stay, 1 to 365 nights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_nights: Option<i64>,
    /// The longest stay, 1 to 365 nights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nights: Option<i64>,
    /// Nothing bookable further ahead than this many days, 1 to 1095.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_window_days: Option<i64>,
    /// Stays: no check-in sooner than this many days from today, 0 to 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notice_days: Option<i64>,
    /// Appointments: no start sooner than this many minutes from now, 0 to 100,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notice_minutes: Option<i64>,
    /// Weekdays no stay starts on (`mon` ... `sun`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_arrival_days: Option<Vec<String>>,
    /// Weekdays no stay ends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_departure_days: Option<Vec<String>>,
    /// Opening periods per weekday, `{"mon": [["09:00", "12:30"], ...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, example = json!({"mon": [["09:00", "12:30"], ["13:30", "18:00"]]})))]
    pub weekly_hours: Option<BTreeMap<String, Vec<[String; 2]>>>,
    /// Minutes kept free before each appointment, 0 to 240.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_before_minutes: Option<i64>,
    /// Minutes kept free after each appointment, 0 to 240.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_after_minutes: Option<i64>,
    /// Stays: free gaps too short for the shortest stay are closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_short_gaps: Option<bool>,
    /// Rule-closed nights appear in the busy feeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_to_feeds: Option<bool>,
}

/// A field of a draft that cannot be a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// The field (`weekly_hours.mon[1]`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Checked availability rules: every value in range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rules {
    turnover_days: Option<u32>,
    min_nights: Option<u32>,
    max_nights: Option<u32>,
    booking_window_days: Option<u32>,
    min_notice_days: Option<u32>,
    min_notice_minutes: Option<u32>,
    no_arrival_days: Option<Weekdays>,
    no_departure_days: Option<Weekdays>,
    weekly_hours: Option<WeeklyHours>,
    buffer_before_minutes: Option<u32>,
    buffer_after_minutes: Option<u32>,
    block_short_gaps: Option<bool>,
    export_to_feeds: Option<bool>,
}

impl TryFrom<RulesDraft> for Rules {
    type Error = Vec<RuleError>;

    fn try_from(draft: RulesDraft) -> Result<Self, Vec<RuleError>> {
        let mut c = Checks::default();
        let rules = Rules {
            turnover_days: c.number("turnover_days", draft.turnover_days, 0, 30),
            min_nights: c.number("min_nights", draft.min_nights, 1, 365),
            max_nights: c.number("max_nights", draft.max_nights, 1, 365),
            booking_window_days: c.number(
                "booking_window_days",
                draft.booking_window_days,
                1,
                1095,
            ),
            min_notice_days: c.number("min_notice_days", draft.min_notice_days, 0, 365),
            min_notice_minutes: c.number(
                "min_notice_minutes",
                draft.min_notice_minutes,
                0,
                100_000,
            ),
            no_arrival_days: c.weekdays("no_arrival_days", draft.no_arrival_days),
            no_departure_days: c.weekdays("no_departure_days", draft.no_departure_days),
            weekly_hours: c.weekly_hours(draft.weekly_hours),
            buffer_before_minutes: c.number(
                "buffer_before_minutes",
                draft.buffer_before_minutes,
                0,
                240,
            ),
            buffer_after_minutes: c.number(
                "buffer_after_minutes",
                draft.buffer_after_minutes,
                0,
                240,
            ),
            block_short_gaps: draft.block_short_gaps,
            export_to_feeds: draft.export_to_feeds,
        };
        if let (Some(min), Some(max)) = (rules.min_nights, rules.max_nights)
            && min > max
        {
            c.fail("max_nights", format!("must be at least min_nights ({min})"));
        }
        if c.0.is_empty() { Ok(rules) } else { Err(c.0) }
    }
}

impl From<&Rules> for RulesDraft {
    fn from(rules: &Rules) -> Self {
        let number = |n: Option<u32>| n.map(i64::from);
        let days =
            |d: Option<Weekdays>| d.map(|d| d.names().into_iter().map(String::from).collect());
        RulesDraft {
            turnover_days: number(rules.turnover_days),
            min_nights: number(rules.min_nights),
            max_nights: number(rules.max_nights),
            booking_window_days: number(rules.booking_window_days),
            min_notice_days: number(rules.min_notice_days),
            min_notice_minutes: number(rules.min_notice_minutes),
            no_arrival_days: days(rules.no_arrival_days),
            no_departure_days: days(rules.no_departure_days),
            weekly_hours: rules.weekly_hours.as_ref().map(written_hours),
            buffer_before_minutes: number(rules.buffer_before_minutes),
            buffer_after_minutes: number(rules.buffer_after_minutes),
            block_short_gaps: rules.block_short_gaps,
            export_to_feeds: rules.export_to_feeds,
        }
    }
}

/// The weekly hours as the API writes them: every weekday that has periods.
fn written_hours(hours: &WeeklyHours) -> BTreeMap<String, Vec<[String; 2]>> {
    ALL_DAYS
        .iter()
        .filter(|d| !hours.of(**d).is_empty())
        .map(|d| {
            let periods = hours.of(*d).iter().map(|p| [clock(p.start), clock(p.end)]).collect();
            (day_name(*d).to_owned(), periods)
        })
        .collect()
}

/// `HH:MM` of minutes after midnight (`24:00` for the next midnight).
fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The problems found while a draft is checked.
#[derive(Default)]
struct Checks(Vec<RuleError>);

impl Checks {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(RuleError { field: field.to_owned(), message: message.into() });
    }

    fn number(&mut self, field: &str, value: Option<i64>, min: u32, max: u32) -> Option<u32> {
        let value = value?;
        match u32::try_from(value) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.fail(field, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    fn weekdays(&mut self, field: &str, names: Option<Vec<String>>) -> Option<Weekdays> {
        let mut days = Weekdays::NONE;
        for (i, name) in names?.iter().enumerate() {
            match day_named(name) {
                Some(day) => days = days.with(day),
                None => self.fail(
                    &format!("{field}[{i}]"),
                    format!("{name:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"),
                ),
            }
        }
        Some(days)
    }

    fn weekly_hours(
        &mut self,
        days: Option<BTreeMap<String, Vec<[String; 2]>>>,
    ) -> Option<WeeklyHours> {
        let mut hours = WeeklyHours::default();
        for (name, periods) in days? {
            let field = format!("weekly_hours.{name}");
            let Some(day) = day_named(&name) else {
                self.fail(
                    &field,
                    format!("{name:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"),
                );
                continue;
            };
            hours.0[day.num_days_from_monday() as usize] = self.periods(&field, &periods);
        }
        Some(hours)
    }

    /// One day's periods: each `HH:MM` to a later `HH:MM` (`24:00` ends at midnight), in order
    /// and apart.
    fn periods(&mut self, field: &str, written: &[[String; 2]]) -> Vec<Period> {
        let mut periods: Vec<Period> = Vec::new();
        for (i, [start, end]) in written.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let (Some(start), Some(end)) = (minutes_of(start), minutes_of(end)) else {
                self.fail(&field, "times are written HH:MM, from 00:00 to 24:00");
                continue;
            };
            if start >= end {
                self.fail(&field, "must end after it starts");
            } else if periods.last().is_some_and(|p| p.end > start) {
                self.fail(&field, "must start after the period before it ends");
            } else {
                periods.push(Period { start, end });
            }
        }
        periods
    }
}

/// Minutes after midnight of `HH:MM` (up to `24:00`).
fn minutes_of(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minutes <= 1440).then_some(minutes)
}

impl Rules {
    /// Nights kept free after each stay (0 without the rule).
    pub fn turnover_days(&self) -> u32 {
        self.turnover_days.unwrap_or(0)
    }

    /// The shortest stay (1 without the rule).
    pub fn min_nights(&self) -> u32 {
        self.min_nights.unwrap_or(1)
    }

    /// The longest stay ([`MAX_STAY_NIGHTS`] without the rule).
    pub fn max_nights(&self) -> u32 {
        self.max_nights.unwrap_or(MAX_STAY_NIGHTS)
    }

    /// The longest stay, when the rule is set.
    pub fn max_nights_set(&self) -> Option<u32> {
        self.max_nights
    }

    /// Days ahead that may be booked, if limited.
    pub fn booking_window_days(&self) -> Option<u32> {
        self.booking_window_days
    }

    /// Days' notice a stay needs, if the owner set a notice. Without one, a stay that began
    /// before today (a walk-in recorded after check-in) is judged by the other rules only; with
    /// one, even of 0 days, it is too late.
    pub fn min_notice_days(&self) -> Option<u32> {
        self.min_notice_days
    }

    /// Minutes' notice an appointment needs, if the owner set a notice (see `min_notice_days`).
    pub fn min_notice_minutes(&self) -> Option<u32> {
        self.min_notice_minutes
    }

    /// Weekdays no stay starts on.
    pub fn no_arrival_days(&self) -> Weekdays {
        self.no_arrival_days.unwrap_or_default()
    }

    /// Weekdays no stay ends on.
    pub fn no_departure_days(&self) -> Weekdays {
        self.no_departure_days.unwrap_or_default()
    }

    /// Opening periods, if limited (without them, any time of any day).
    pub fn weekly_hours(&self) -> Option<&WeeklyHours> {
        self.weekly_hours.as_ref()
    }

    /// Minutes kept free before each appointment.
    pub fn buffer_before_minutes(&self) -> u32 {
        self.buffer_before_minutes.unwrap_or(0)
    }

    /// Minutes kept free after each appointment.
    pub fn buffer_after_minutes(&self) -> u32 {
        self.buffer_after_minutes.unwrap_or(0)
    }

    /// Whether free gaps shorter than the shortest stay are closed.
    pub fn block_short_gaps(&self) -> bool {
        self.block_short_gaps.unwrap_or(false)
    }

    /// Whether rule-closed nights appear in the busy feeds.
    pub fn export_to_feeds(&self) -> bool {
        self.export_to_feeds.unwrap_or(false)
    }

    /// Whether no rule is set at all.
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }

    /// Whether a booking is judged by what is next to it (a turnover, buffers): only then can
    /// another booking make it break these rules.
    pub fn reach_neighbours(&self) -> bool {
        self.turnover_days() > 0
            || self.buffer_before_minutes() > 0
            || self.buffer_after_minutes() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(json: serde_json::Value) -> RulesDraft {
        serde_json::from_value(json).unwrap()
    }

    fn fields(json: serde_json::Value) -> Vec<String> {
        Rules::try_from(draft(json)).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn every_rule_reads_back_as_it_was_written() {
        let written = serde_json::json!({
            "turnover_days": 1, "min_nights": 2, "max_nights": 14, "booking_window_days": 365,
            "min_notice_days": 1, "min_notice_minutes": 120, "no_arrival_days": ["mon", "sun"],
            "no_departure_days": [], "weekly_hours": {"mon": [["09:00", "12:30"], ["13:30", "24:00"]]},
            "buffer_before_minutes": 0, "buffer_after_minutes": 15, "block_short_gaps": true,
            "export_to_feeds": false
        });
        let rules = Rules::try_from(draft(written.clone())).unwrap();
        assert_eq!(serde_json::to_value(RulesDraft::from(&rules)).unwrap(), written);
        assert_eq!(
            rules.weekly_hours().unwrap().of(Weekday::Mon)[1],
            Period { start: 810, end: 1440 }
        );
        assert!(rules.no_arrival_days().contains(Weekday::Sun));
    }

    #[test]
    fn absent_rules_restrict_nothing() {
        let rules = Rules::try_from(RulesDraft::default()).unwrap();
        assert!(rules.is_empty());
        assert_eq!((rules.min_nights(), rules.max_nights(), rules.turnover_days()), (1, 366, 0));
        assert_eq!(rules.booking_window_days(), None);
        assert!(rules.no_arrival_days().is_empty() && rules.weekly_hours().is_none());
    }

    #[test]
    fn every_field_out_of_range_is_named() {
        let bad = serde_json::json!({
            "turnover_days": 31, "min_nights": 0, "max_nights": 366, "booking_window_days": 0,
            "min_notice_days": -1, "min_notice_minutes": 100001, "no_arrival_days": ["sunday"],
            "buffer_before_minutes": 241, "buffer_after_minutes": -5
        });
        assert_eq!(
            fields(bad),
            [
                "turnover_days",
                "min_nights",
                "max_nights",
                "booking_window_days",
                "min_notice_days",
                "min_notice_minutes",
                "no_arrival_days[0]",
                "buffer_before_minutes",
                "buffer_after_minutes"
            ]
        );
        assert_eq!(fields(serde_json::json!({"min_nights": 7, "max_nights": 3})), ["max_nights"]);
    }

    #[test]
    fn weekly_hours_must_be_times_in_order_on_named_days() {
        let bad = serde_json::json!({"weekly_hours": {
            "mon": [["9:00", "12:00"], ["13:00", "12:00"]],
            "tue": [["09:00", "12:00"], ["11:00", "14:00"]],
            "wed": [["09:00", "24:01"]],
            "funday": [["09:00", "10:00"]]
        }});
        assert_eq!(
            fields(bad),
            [
                "weekly_hours.funday",
                "weekly_hours.mon[0]",
                "weekly_hours.mon[1]",
                "weekly_hours.tue[1]",
                "weekly_hours.wed[0]"
            ]
        );
    }
}
