use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// When a calendar item takes place: whole days, or two instants. The one time type that crosses
/// every border: what a feed reader found, what a provider holds, what Kalends writes. The zone a
/// timed span is shown in travels beside it where it matters (a booking's [`super::BookingSpan`]
/// carries its own; a pushed or read event has a `zone` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Span {
    /// Whole days from `start` to `end`, exclusive (`end` is the check-out day).
    AllDay {
        /// First day.
        start: NaiveDate,
        /// The day after the last.
        end: NaiveDate,
    },
    /// From `start` to `end` (exclusive).
    Timed {
        /// Start instant.
        start: DateTime<Utc>,
        /// End instant, never before `start`.
        end: DateTime<Utc>,
    },
}
