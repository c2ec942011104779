//! The bounds and meters of one expansion of a recurrence rule, shared by the two ways a rule is
//! expanded (`recur`, with the `rrule` crate, and `rscale`, for RFC 7529's SKIP).

use chrono::NaiveDateTime;

use super::work::Work;

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

/// Where one expansion may go and what it may spend: local times from `dtstart` to `until`
/// (inclusive) are generated, those in `[lo, hi)` kept in `out`; at most `cap` occurrences, each
/// one taken from `budget` (the feed's) and paid for in `work`.
pub(super) struct Walk<'a> {
    pub dtstart: NaiveDateTime,
    pub until: NaiveDateTime,
    pub lo: NaiveDateTime,
    pub hi: NaiveDateTime,
    pub cap: usize,
    pub budget: &'a mut usize,
    pub work: &'a Work,
    pub out: &'a mut Vec<NaiveDateTime>,
}
