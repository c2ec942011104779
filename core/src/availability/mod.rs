//! What is bookable: availability rules (turnover, shortest and longest stay, booking window,
//! notice, arrival and departure days, opening hours, buffers) applied to what is busy.
//!
//! Pure functions of the rules, the busy items and "now": the store reads the items, the use
//! cases call these, and the API, the feeds, the widget and the console show their answers.
//! Stays are counted in nights of the owner's zone ([`nights`]); appointments in instants, with
//! opening hours in the owner's zone ([`slots`]). A booking written against the rules is judged
//! by [`check_stay`] or [`check_appointment`], through [`judge`] where bookings are written.

mod closed;
mod judge;
mod nights;
mod rules;
mod slots;

pub use closed::{ClosedBy, ClosedRun, closed_runs};
pub use judge::{
    Moved, NEIGHBOUR_REACH_DAYS, Rewrite, judge, judge_neighbours, neighbours_reach,
    reach as judge_reach,
};
pub use nights::{
    Closure, ItemKind, Night, NightItem, NightState, check_stay, nights, reach as nights_reach,
};
pub use rules::{
    MAX_STAY_NIGHTS, Period, Rule, RuleError, Rules, RulesDraft, Weekdays, WeeklyHours, day_name,
};
pub use slots::{
    Mode, Slot, SlotOwner, SlotQuery, check_appointment, local_instant, opening_periods,
    reach as slots_reach, slots,
};

use crate::conflicts::Severity;

/// A rule a booking breaks: which, its limit, the booking's value, and why in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The rule's limit (`2` for `min_nights`, `["sun"]` for `no_arrival_days`).
    pub limit: serde_json::Value,
    /// What the booking has (`1` night, `"sun"`).
    pub value: serde_json::Value,
    /// The rule in words, for people.
    pub message: String,
}

impl Violation {
    /// A violation of `rule`.
    pub fn new(
        rule: Rule,
        limit: serde_json::Value,
        value: serde_json::Value,
        message: impl Into<String>,
    ) -> Self {
        Self { rule, limit, value, message: message.into() }
    }

    /// How bad it is as a conflict: medium when the booking takes time a rule keeps free
    /// (turnover, buffers, outside the opening hours), low when it only breaks a policy (stay
    /// length, weekdays, notice, window).
    pub fn severity(&self) -> Severity {
        match self.rule {
            Rule::TurnoverDays
            | Rule::BufferBeforeMinutes
            | Rule::BufferAfterMinutes
            | Rule::WeeklyHours => Severity::Medium,
            _ => Severity::Low,
        }
    }
}
