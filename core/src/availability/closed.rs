//! The nights the rules close around a resource's stays, as runs that a feed exports to booking
//! platforms (`export_to_feeds`): a platform that reads the feed then closes them too, instead of
//! selling a night the rules would refuse.

use chrono::{Days, NaiveDate};

use super::nights::{Closure, Night, NightState};

/// Why a run of nights is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosedBy {
    /// Kept free after a stay, or before one (`turnover_days`).
    Turnover,
    /// Closed by a rule: the notice, the booking window or a gap too short to sell.
    Rule(Closure),
}

impl ClosedBy {
    /// A short name, for identifiers: `turnover`, or the rule's field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Turnover => "turnover",
            Self::Rule(closure) => closure.as_str(),
        }
    }

    /// What a calendar shows for it: nothing of any guest, only why the nights are closed.
    pub fn title(self) -> &'static str {
        match self {
            Self::Turnover => "Closed (turnover)",
            Self::Rule(Closure::Notice) => "Not available (notice)",
            Self::Rule(Closure::Window) => "Not available (booking window)",
            Self::Rule(Closure::ShortGap) => "Not available (short gap)",
            Self::Rule(Closure::Past) => "Not available",
        }
    }
}

/// Consecutive nights closed for one reason: `start` to `end` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClosedRun {
    /// Why.
    pub by: ClosedBy,
    /// The first night.
    pub start: NaiveDate,
    /// The day after the last night.
    pub end: NaiveDate,
}

/// Why `night` is closed, if the rules close it; past nights are nobody's to sell, and are
/// left out.
fn closed_by(night: &Night) -> Option<ClosedBy> {
    match (night.state, night.closed_by) {
        (NightState::Turnover, _) => Some(ClosedBy::Turnover),
        (NightState::ClosedByRule, Some(Closure::Past)) => None,
        (NightState::ClosedByRule, Some(closure)) => Some(ClosedBy::Rule(closure)),
        _ => None,
    }
}

/// The runs of closed nights among `nights` (consecutive, by date), each reason its own run.
pub fn closed_runs(nights: &[Night]) -> Vec<ClosedRun> {
    let mut runs: Vec<ClosedRun> = Vec::new();
    for night in nights {
        let Some(by) = closed_by(night) else { continue };
        let end = night.date + Days::new(1);
        match runs.last_mut() {
            Some(run) if run.by == by && run.end == night.date => run.end = end,
            _ => runs.push(ClosedRun { by, start: night.date, end }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{ItemKind, NightItem, Rules, RulesDraft, nights};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rules(json: serde_json::Value) -> Rules {
        Rules::try_from(serde_json::from_value::<RulesDraft>(json).unwrap()).unwrap()
    }

    #[test]
    fn turnover_notice_window_and_short_gaps_each_make_their_own_runs() {
        let rules = rules(serde_json::json!({
            "turnover_days": 1, "min_nights": 3, "min_notice_days": 2,
            "booking_window_days": 20, "block_short_gaps": true,
        }));
        let today = date("2030-03-01");
        let stay =
            |a: &str, b: &str| NightItem { start: date(a), end: date(b), kind: ItemKind::Stay };
        // A stay to the 8th (turnover the 8th), then free 9th-10th, then a stay from the 11th
        // (turnover the 10th, before it): the 9th is too short a gap for three nights, as is the
        // 3rd between the notice and the turnover before the first stay.
        let items = [stay("2030-03-05", "2030-03-08"), stay("2030-03-11", "2030-03-13")];
        let all = nights(&rules, today, &items, today, date("2030-03-25"));
        let runs: Vec<(&str, String, String)> = closed_runs(&all)
            .iter()
            .map(|r| (r.by.as_str(), r.start.to_string(), r.end.to_string()))
            .collect();
        let run = |by, a: &str, b: &str| (by, a.to_owned(), b.to_owned());
        assert_eq!(
            runs,
            vec![
                run("min_notice_days", "2030-03-01", "2030-03-03"),
                run("block_short_gaps", "2030-03-03", "2030-03-04"),
                run("turnover", "2030-03-04", "2030-03-05"),
                run("turnover", "2030-03-08", "2030-03-09"),
                run("block_short_gaps", "2030-03-09", "2030-03-10"),
                run("turnover", "2030-03-10", "2030-03-11"),
                run("turnover", "2030-03-13", "2030-03-14"),
                run("booking_window_days", "2030-03-21", "2030-03-25"),
            ]
        );
    }

    #[test]
    fn past_and_free_nights_are_never_closed_runs() {
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        let all = nights(&rules, date("2030-03-10"), &[], date("2030-03-01"), date("2030-03-20"));
        assert!(closed_runs(&all).is_empty());
    }
}
