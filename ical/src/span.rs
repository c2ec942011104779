use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// When an event takes place: whole days, or two instants. What the reader returns for each busy
/// occurrence and what the writer writes. A timed span holds no zone: the zone it is shown in
/// travels beside it where it matters (the writer's [`crate::write::EventOut::zone`]).
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
